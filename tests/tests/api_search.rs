//! api-service, black box, on SQLite and PostgreSQL: places_search (spec §4.5 with our rewrite)
//! and CORS (spec §4.1).

use hbnb_tests::api::{assert_error, id_of, post, raw};
use hbnb_tests::db::{Api, Engine};
use reqwest::Method;
use serde_json::{json, Value};

const MISSING: &str = "00000000-0000-4000-8000-000000000000";

struct World {
    state_a: String,
    state_b: String,
    city_a1: String,
    city_b2: String,
    wifi: String,
    pool: String,
    /// Place ids p1..p6 by number (index 0 unused).
    p: Vec<String>,
}

/// A: A1 {p1, p2}, A2 {p3}; B: B1 {p4}, B2 {p5, p6}.
/// Amenities: p1 wifi+pool, p3 wifi, p5 wifi+pool, p6 pool.
async fn world(api: &Api, c: &reqwest::Client) -> World {
    let state = |name: &str| {
        let url = api.api("/states");
        let body = json!({ "name": name });
        async move { id_of(&post(c, &url, &body).await.1) }
    };
    let state_a = state("A").await;
    let state_b = state("B").await;
    let city = |state: &str, name: &str| {
        let url = api.api(&format!("/states/{state}/cities"));
        let body = json!({ "name": name });
        async move { id_of(&post(c, &url, &body).await.1) }
    };
    let city_a1 = city(&state_a, "A1").await;
    let city_a2 = city(&state_a, "A2").await;
    let city_b1 = city(&state_b, "B1").await;
    let city_b2 = city(&state_b, "B2").await;
    let user = id_of(
        &post(
            c,
            &api.api("/users"),
            &json!({"email": "u@x", "password": "p"}),
        )
        .await
        .1,
    );
    let mut p = vec![String::new()];
    for (i, city) in [&city_a1, &city_a1, &city_a2, &city_b1, &city_b2, &city_b2]
        .into_iter()
        .enumerate()
    {
        let body = json!({"user_id": user, "name": format!("p{}", i + 1)});
        let (status, place) = post(c, &api.api(&format!("/cities/{city}/places")), &body).await;
        assert_eq!(status, 201, "{place}");
        p.push(id_of(&place));
    }
    let wifi = id_of(
        &post(c, &api.api("/amenities"), &json!({"name": "Wifi"}))
            .await
            .1,
    );
    let pool = id_of(
        &post(c, &api.api("/amenities"), &json!({"name": "Pool"}))
            .await
            .1,
    );
    for (place, amenity) in [
        (1, &wifi),
        (1, &pool),
        (3, &wifi),
        (5, &wifi),
        (5, &pool),
        (6, &pool),
    ] {
        let url = api.api(&format!("/places/{}/amenities/{amenity}", p[place]));
        assert_eq!(raw(c, Method::POST, &url, None, vec![]).await.0, 201);
    }
    World {
        state_a,
        state_b,
        city_a1,
        city_b2,
        wifi,
        pool,
        p,
    }
}

/// Runs a search and returns the place numbers found (sorted), checking the shape.
async fn search(api: &Api, c: &reqwest::Client, w: &World, body: Value) -> Vec<usize> {
    let (status, places) = post(c, &api.api("/places_search"), &body).await;
    assert_eq!(status, 200, "{body} -> {places}");
    let places = places
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {places}"));
    let mut found: Vec<usize> = places
        .iter()
        .map(|place| {
            assert_eq!(place["__class__"], "Place");
            assert!(place.get("amenities").is_none(), "{place}");
            let id = id_of(place);
            w.p.iter()
                .position(|p| *p == id)
                .unwrap_or_else(|| panic!("unknown place {id}"))
        })
        .collect();
    let n = found.len();
    found.sort_unstable();
    found.dedup();
    assert_eq!(found.len(), n, "duplicates for {body}");
    found
}

async fn places_search(engine: Engine) {
    let api = Api::start(engine).await;
    let c = hbnb_tests::client();
    let w = world(&api, &c).await;
    let all = vec![1, 2, 3, 4, 5, 6];
    // Bodies that are not a JSON object.
    let url = api.api("/places_search");
    assert_error(
        &raw(&c, Method::POST, &url, Some("application/json"), vec![]).await,
        400,
        "Not a JSON",
    );
    assert_error(
        &raw(&c, Method::POST, &url, None, vec![]).await,
        400,
        "Not a JSON",
    );
    assert_error(
        &raw(&c, Method::POST, &url, Some("text/plain"), b"{}".to_vec()).await,
        400,
        "Not a JSON",
    );
    assert_error(
        &raw(
            &c,
            Method::POST,
            &url,
            Some("application/json"),
            b"[]".to_vec(),
        )
        .await,
        400,
        "Not a JSON",
    );
    // Everything.
    assert_eq!(search(&api, &c, &w, json!({})).await, all);
    assert_eq!(
        search(
            &api,
            &c,
            &w,
            json!({"states": [], "cities": [], "amenities": []})
        )
        .await,
        all
    );
    assert_eq!(
        search(&api, &c, &w, json!({"states": null, "other": 1})).await,
        all
    );
    let (status, body) = post(&c, &api.api("/places_search/"), &json!({})).await;
    assert_eq!(
        (status.as_u16(), body.as_array().map(Vec::len)),
        (200, Some(6))
    );
    // States only, cities only, both (inclusive, no duplicates).
    assert_eq!(
        search(&api, &c, &w, json!({"states": [w.state_a]})).await,
        vec![1, 2, 3]
    );
    assert_eq!(
        search(&api, &c, &w, json!({"states": [w.state_a, w.state_b]})).await,
        all
    );
    assert_eq!(
        search(&api, &c, &w, json!({"cities": [w.city_b2]})).await,
        vec![5, 6]
    );
    assert_eq!(
        search(
            &api,
            &c,
            &w,
            json!({"states": [w.state_a], "cities": [w.city_b2]})
        )
        .await,
        vec![1, 2, 3, 5, 6]
    );
    assert_eq!(
        search(
            &api,
            &c,
            &w,
            json!({"states": [w.state_a], "cities": [w.city_a1, w.city_a1]})
        )
        .await,
        vec![1, 2, 3]
    );
    // Amenities: places having all of them.
    assert_eq!(
        search(&api, &c, &w, json!({"amenities": [w.wifi]})).await,
        vec![1, 3, 5]
    );
    assert_eq!(
        search(&api, &c, &w, json!({"amenities": [w.wifi, w.pool]})).await,
        vec![1, 5]
    );
    assert_eq!(
        search(&api, &c, &w, json!({"amenities": [w.pool, w.pool]})).await,
        vec![1, 5, 6]
    );
    assert_eq!(
        search(
            &api,
            &c,
            &w,
            json!({"states": [w.state_a], "amenities": [w.wifi, w.pool]})
        )
        .await,
        vec![1]
    );
    assert_eq!(
        search(
            &api,
            &c,
            &w,
            json!({"cities": [w.city_b2], "amenities": [w.pool]})
        )
        .await,
        vec![5, 6]
    );
    // Unknown ids match nothing; states/cities given but matching nothing -> [] even with amenities.
    assert!(search(&api, &c, &w, json!({"states": [MISSING]}))
        .await
        .is_empty());
    assert!(search(&api, &c, &w, json!({"cities": ["not-a-uuid"]}))
        .await
        .is_empty());
    assert!(search(
        &api,
        &c,
        &w,
        json!({"states": [MISSING], "amenities": [w.wifi]})
    )
    .await
    .is_empty());
    assert!(search(&api, &c, &w, json!({"amenities": [MISSING]}))
        .await
        .is_empty());
    assert!(
        search(&api, &c, &w, json!({"amenities": [w.wifi, "bad\u{0}id"]}))
            .await
            .is_empty()
    );
    assert_eq!(
        search(&api, &c, &w, json!({"states": [w.state_a, MISSING]})).await,
        vec![1, 2, 3]
    );
    assert_eq!(
        search(
            &api,
            &c,
            &w,
            json!({"cities": [w.city_b2, w.city_b2.to_uppercase()]})
        )
        .await,
        vec![5, 6]
    );
    // Wrong shapes are 400s.
    for body in [
        json!({"states": "x"}),
        json!({"cities": [1]}),
        json!({"amenities": {"a": 1}}),
    ] {
        let (status, error) = post(&c, &url, &body).await;
        assert_eq!(status, 400, "{body}");
        assert!(error["error"].is_string());
    }
}

async fn cors(engine: Engine) {
    let api = Api::start(engine).await;
    let c = hbnb_tests::client();
    let header = |r: &reqwest::Response, name: &str| {
        r.headers()
            .get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect::<Vec<_>>()
            .join(", ")
    };
    // Without Origin: *.
    let r = c.get(api.api("/states")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "access-control-allow-origin"), "*");
    // With Origin: echoed, Vary: Origin.
    let origin = "http://web.example:5003";
    let r = c
        .get(api.api("/status/"))
        .header("Origin", origin)
        .send()
        .await
        .unwrap();
    assert_eq!(header(&r, "access-control-allow-origin"), origin);
    assert!(
        header(&r, "vary").contains("Origin"),
        "{}",
        header(&r, "vary")
    );
    // Preflight.
    let r = c
        .request(Method::OPTIONS, api.api("/places_search/"))
        .header("Origin", origin)
        .header("Access-Control-Request-Method", "POST")
        .header("Access-Control-Request-Headers", "content-type, x-custom")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "access-control-allow-origin"), origin);
    assert_eq!(
        header(&r, "access-control-allow-methods"),
        "OPTIONS, POST",
        "the methods /places_search answers"
    );
    assert_eq!(
        header(&r, "access-control-allow-headers"),
        "content-type, x-custom"
    );
    let r = c
        .request(Method::OPTIONS, api.api(&format!("/states/{MISSING}")))
        .header("Access-Control-Request-Method", "DELETE")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "access-control-allow-origin"), "*");
    // On errors too: 404, 400, 405, 413.
    let r = c
        .get(api.api(&format!("/states/{MISSING}")))
        .header("Origin", origin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(header(&r, "access-control-allow-origin"), origin);
    let r = c
        .post(api.api("/states"))
        .header("Origin", origin)
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(header(&r, "access-control-allow-origin"), origin);
    let r = c.delete(api.api("/states")).send().await.unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(header(&r, "access-control-allow-origin"), "*");
    let r = c
        .post(api.api("/states"))
        .header("Content-Type", "application/json")
        .body(vec![b' '; 2 * 1024 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    assert_eq!(header(&r, "access-control-allow-origin"), "*");
    let r = c.get(api.api("/nop")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(header(&r, "access-control-allow-origin"), "*");
}

/// An answer larger than a cache entry is sent as it is read (chunked, in several chunks of the
/// storage's 64 KiB), and is the same list, in the same order, as the objects one by one; a
/// small one is sent whole, with its length.
async fn large_answers_are_streamed(engine: Engine) {
    // A quarter of 64 KiB: any answer over 16 KiB is not kept.
    let api = Api::start_with(engine, &[("RESPONSE_CACHE_BYTES", "65536")]).await;
    let c = hbnb_tests::client();
    let state = id_of(&post(&c, &api.api("/states"), &json!({"name": "S"})).await.1);
    let city = id_of(
        &post(
            &c,
            &api.api(&format!("/states/{state}/cities")),
            &json!({"name": "C"}),
        )
        .await
        .1,
    );
    let user = id_of(
        &post(
            &c,
            &api.api("/users"),
            &json!({"email": "u@x", "password": "p"}),
        )
        .await
        .1,
    );
    let mut places = Vec::new();
    for n in 0..150 {
        let body = json!({
            "user_id": user,
            "name": format!("place {n}"),
            // Quotes, a backslash, a newline and non-ASCII text, escaped as JSON.
            "description": format!("\"{n}\" \\ caf\u{e9}\n{}", "x".repeat(1000)),
            "latitude": 37.7749 + f64::from(n),
        });
        let (status, place) = post(&c, &api.api(&format!("/cities/{city}/places")), &body).await;
        assert_eq!(status, 201, "{place}");
        places.push(place);
    }
    let search = |body: Value| {
        let request = c.post(api.api("/places_search")).json(&body);
        async move {
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 200);
            let chunked = response.headers().get("transfer-encoding").is_some();
            let length = response.content_length();
            let text = response.text().await.unwrap();
            (chunked, length, text)
        }
    };
    for round in 0..2 {
        let (chunked, length, text) = search(json!({})).await;
        assert!(
            chunked,
            "round {round}: a {} B answer is streamed",
            text.len()
        );
        assert!(text.len() > 3 * 64 * 1024, "{}", text.len());
        let found: Vec<Value> = serde_json::from_str(&text).unwrap();
        assert_eq!(
            found, places,
            "round {round}: every place, in creation order"
        );
        assert_eq!(length, None);
    }
    let one = places[7]["city_id"].clone();
    assert_eq!(one, json!(city));
    // An amenity on one place: a small answer, sent whole.
    let wifi = id_of(
        &post(&c, &api.api("/amenities"), &json!({"name": "wifi"}))
            .await
            .1,
    );
    let place = id_of(&places[7]);
    let linked = c
        .post(api.api(&format!("/places/{place}/amenities/{wifi}")))
        .send()
        .await
        .unwrap();
    assert_eq!(linked.status(), 201);
    let (chunked, length, text) = search(json!({"amenities": [wifi]})).await;
    assert!(!chunked);
    assert_eq!(length, Some(text.len() as u64));
    let found: Vec<Value> = serde_json::from_str(&text).unwrap();
    assert_eq!(found, vec![places[7].clone()]);
}

hbnb_tests::all_engines!(places_search, cors, large_answers_are_streamed);
