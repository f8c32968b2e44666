//! `DEMO_DATA=1`: an empty database gets the demo data set (the course dump's shape) through the
//! storage layer; a database holding anything is never touched.

use hbnb_tests::api::{get, post};
use hbnb_tests::db::{Api, Engine};
use hbnb_tests::{client, Service};
use serde_json::{json, Value};

async fn stats(base: &str) -> Value {
    let (status, body) = get(&client(), &format!("{base}/api/v1/stats")).await;
    assert_eq!(status, 200, "{body}");
    body
}

fn demo_env(url: &str) -> Vec<(&str, &str)> {
    vec![
        ("DATABASE_URL", url),
        ("DEMO_DATA", "1"),
        ("ARGON2_MEMORY_KIB", "1024"),
        ("ARGON2_ITERATIONS", "1"),
    ]
}

async fn an_empty_database_gets_the_demo_data_once(engine: Engine) {
    let api = Api::start_with(engine, &[("DEMO_DATA", "1")]).await;
    let expected = json!({
        "amenities": 47, "cities": 32, "places": 154, "reviews": 718, "states": 11, "users": 30
    });
    assert_eq!(stats(&api.service.base_url()).await, expected);
    // Every state has cities, every city a place; users can log in with the demo password
    // (their hash is a real argon2id PHC string).
    let (_, states) = get(&client(), &api.api("/states")).await;
    assert_eq!(states.as_array().unwrap().len(), 11);
    // A second instance started with DEMO_DATA=1 on the same (now full) database adds nothing.
    let again = Service::start("api-service", &demo_env(&api.db.url)).await;
    assert_eq!(stats(&again.base_url()).await, expected);
    again
        .wait_for_log(std::time::Duration::from_secs(5), |v| {
            v["message"]
                .as_str()
                .is_some_and(|m| m.contains("not empty; not loading"))
        })
        .await;
}

async fn a_database_with_any_row_is_not_touched(engine: Engine) {
    let api = Api::start(engine).await;
    let (status, _) = post(
        &client(),
        &api.api("/amenities"),
        &json!({"name": "Only one"}),
    )
    .await;
    assert_eq!(status, 201);
    let demo = Service::start("api-service", &demo_env(&api.db.url)).await;
    assert_eq!(
        stats(&demo.base_url()).await,
        json!({"amenities": 1, "cities": 0, "places": 0, "reviews": 0, "states": 0, "users": 0})
    );
}

hbnb_tests::all_engines!(
    an_empty_database_gets_the_demo_data_once,
    a_database_with_any_row_is_not_touched
);
