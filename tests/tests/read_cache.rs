//! The answers cached per data version stay correct with several instances over one database: a
//! read after a write acknowledged by *another* instance sees that write, every time. Two
//! api-services and a web-dynamic share each engine's database; writes go through one instance,
//! reads through the other, back to back, many times (a cache that answered from a stale entry,
//! or a version check that ran before the write, would fail here).

use hbnb_tests::all_engines;
use hbnb_tests::api::{delete, get, id_of, post, put};
use hbnb_tests::db::{Api, Engine};
use hbnb_tests::{client, Service};
use serde_json::{json, Value};

const ROUNDS: usize = 40;

async fn second_api(first: &Api) -> Service {
    Service::start(
        "api-service",
        &[
            ("DATABASE_URL", first.db.url.as_str()),
            ("ARGON2_MEMORY_KIB", "1024"),
            ("ARGON2_ITERATIONS", "1"),
        ],
    )
    .await
}

fn names(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|item| item["name"].as_str().unwrap_or_default().to_owned())
        .collect()
}

async fn a_write_through_one_instance_is_read_through_another(engine: Engine) {
    let a = Api::start(engine).await;
    let b = second_api(&a).await;
    let b_api = |path: &str| b.url(&format!("/api/v1{path}"));
    let c = client();
    // Warm B's cache so that every later read could be answered from a stale entry.
    assert_eq!(get(&c, &b_api("/states")).await.0, 200);
    let (status, state) = post(&c, &a.api("/states"), &json!({"name": "Seed"})).await;
    assert_eq!(status, 201);
    let state_id = id_of(&state);
    let (status, city) = post(
        &c,
        &a.api(&format!("/states/{state_id}/cities")),
        &json!({"name": "Town"}),
    )
    .await;
    assert_eq!(status, 201);
    let city_id = id_of(&city);
    let (_, user) = post(
        &c,
        &a.api("/users"),
        &json!({"email": "cache@example.com", "password": "pw"}),
    )
    .await;
    let user_id = id_of(&user);
    for round in 0..ROUNDS {
        // Create through A, read through B: the list, the object and a search.
        let name = format!("state {round}");
        let (status, created) = post(&c, &a.api("/states"), &json!({ "name": name })).await;
        assert_eq!(status, 201, "{created}");
        let id = id_of(&created);
        let (status, list) = get(&c, &b_api("/states")).await;
        assert_eq!(status, 200);
        assert!(
            names(&list).contains(&name),
            "round {round}: B's list lacks {name}"
        );
        let (status, one) = get(&c, &b_api(&format!("/states/{id}"))).await;
        assert_eq!(
            (status.as_u16(), one["name"].as_str()),
            (200, Some(name.as_str()))
        );

        // Update through B, read through A.
        let renamed = format!("renamed {round}");
        let (status, _) = put(
            &c,
            &b_api(&format!("/states/{id}")),
            &json!({"name": renamed}),
        )
        .await;
        assert_eq!(status, 200);
        let (_, one) = get(&c, &a.api(&format!("/states/{id}"))).await;
        assert_eq!(
            one["name"],
            renamed.as_str(),
            "round {round}: A read the old name"
        );
        let (_, list) = get(&c, &a.api("/states")).await;
        assert!(
            names(&list).contains(&renamed),
            "round {round}: A's list lacks {renamed}"
        );

        // A place through A shows up in B's search and city listing.
        let place = format!("place {round}");
        let (status, _) = post(
            &c,
            &a.api(&format!("/cities/{city_id}/places")),
            &json!({"name": place, "user_id": user_id}),
        )
        .await;
        assert_eq!(status, 201);
        let (_, found) = post(&c, &b_api("/places_search"), &json!({})).await;
        assert!(
            names(&found).contains(&place),
            "round {round}: B's search lacks {place}"
        );
        let (_, found) = post(&c, &b_api("/places_search"), &json!({"cities": [city_id]})).await;
        assert!(
            names(&found).contains(&place),
            "round {round}: B's city search lacks it"
        );

        // Delete through A: gone through B at once.
        let (status, _) = delete(&c, &a.api(&format!("/states/{id}"))).await;
        assert_eq!(status, 200);
        assert_eq!(get(&c, &b_api(&format!("/states/{id}"))).await.0, 404);
        let (_, list) = get(&c, &b_api("/states")).await;
        assert!(
            !names(&list).contains(&renamed),
            "round {round}: B still lists {renamed}"
        );
    }
    // The city's places through B: all of them, counted.
    let (_, places) = get(&c, &b_api(&format!("/cities/{city_id}/places"))).await;
    assert_eq!(names(&places).len(), ROUNDS);
}

/// The pages are cached too: a change through the API shows on the next page view.
async fn a_write_through_the_api_shows_on_the_next_page(engine: Engine) {
    let api = Api::start(engine).await;
    let web = Service::start("web-dynamic", &[("DATABASE_URL", api.db.url.as_str())]).await;
    let c = client();
    let page = |path: &str| {
        let url = web.url(path);
        let c = c.clone();
        async move { c.get(url).send().await.unwrap().text().await.unwrap() }
    };
    let first = page("/states_list").await;
    for round in 0..ROUNDS / 4 {
        let name = format!("Paged {round}");
        let (status, state) = post(&c, &api.api("/states"), &json!({ "name": name })).await;
        assert_eq!(status, 201);
        assert!(page("/states_list").await.contains(&name), "round {round}");
        assert!(
            page("/hbnb/").await.contains(&name),
            "round {round}: /hbnb/"
        );
        let id = id_of(&state);
        assert_eq!(delete(&c, &api.api(&format!("/states/{id}"))).await.0, 200);
        assert!(
            !page("/states_list").await.contains(&name),
            "round {round}: deleted"
        );
    }
    assert_eq!(page("/states_list").await, first, "back to the first page");
}

all_engines!(
    a_write_through_one_instance_is_read_through_another,
    a_write_through_the_api_shows_on_the_next_page
);
