//! api-service on SQLite and PostgreSQL against malformed and hostile requests: hundreds of them
//! across every endpoint, none answered with a 5xx, and the database unchanged afterwards.
//! Then 200 concurrent POSTs and 200 concurrent DELETEs through HTTP: no 5xx, exact counts.

use hbnb_tests::api::{delete, get, id_of, post};
use hbnb_tests::db::{Api, Engine};
use reqwest::Method;
use serde_json::{json, Value};

struct Ids {
    state: String,
    city: String,
    user: String,
    place: String,
    amenity: String,
    review: String,
}

async fn seed(api: &Api, c: &reqwest::Client) -> Ids {
    let state = id_of(&post(c, &api.api("/states"), &json!({"name": "CA"})).await.1);
    let city = id_of(
        &post(
            c,
            &api.api(&format!("/states/{state}/cities")),
            &json!({"name": "SF"}),
        )
        .await
        .1,
    );
    let user = id_of(
        &post(
            c,
            &api.api("/users"),
            &json!({"email": "u@x", "password": "p"}),
        )
        .await
        .1,
    );
    let place = id_of(
        &post(
            c,
            &api.api(&format!("/cities/{city}/places")),
            &json!({"user_id": user, "name": "P"}),
        )
        .await
        .1,
    );
    let amenity = id_of(
        &post(c, &api.api("/amenities"), &json!({"name": "Wifi"}))
            .await
            .1,
    );
    let review = id_of(
        &post(
            c,
            &api.api(&format!("/places/{place}/reviews")),
            &json!({"user_id": user, "text": "t"}),
        )
        .await
        .1,
    );
    let link = api.api(&format!("/places/{place}/amenities/{amenity}"));
    assert_eq!(c.post(link).send().await.unwrap().status(), 201);
    Ids {
        state,
        city,
        user,
        place,
        amenity,
        review,
    }
}

/// Everything the API can show, to compare before and after.
async fn snapshot(api: &Api, c: &reqwest::Client, ids: &Ids) -> Value {
    let mut all = serde_json::Map::new();
    for path in [
        "/stats".to_owned(),
        "/states".to_owned(),
        "/amenities".to_owned(),
        "/users".to_owned(),
        format!("/states/{}/cities", ids.state),
        format!("/cities/{}/places", ids.city),
        format!("/places/{}/reviews", ids.place),
        format!("/places/{}/amenities", ids.place),
        format!("/users/{}", ids.user),
        format!("/reviews/{}", ids.review),
    ] {
        let (status, body) = get(c, &api.api(&path)).await;
        assert_eq!(status, 200, "{path}");
        all.insert(path, body);
    }
    Value::Object(all)
}

/// One request: method, path under /api/v1, content type, body.
type Case = (Method, String, Option<&'static str>, Vec<u8>);

fn json_bytes(value: &Value) -> Vec<u8> {
    value.to_string().into_bytes()
}

fn cases(ids: &Ids) -> Vec<Case> {
    let long_name = "n".repeat(129);
    let long_text = "t".repeat(1025);
    let deep = format!("{}{}", "[".repeat(50_000), "]".repeat(50_000));
    // Bodies no endpoint accepts.
    let raw_bodies: Vec<(Option<&'static str>, Vec<u8>)> = vec![
        (Some("application/json"), b"".to_vec()),
        (Some("application/json"), b"{".to_vec()),
        (Some("application/json"), b"{\"name\": }".to_vec()),
        (Some("application/json"), b"nul".to_vec()),
        (Some("application/json"), b"null".to_vec()),
        (Some("application/json"), b"[]".to_vec()),
        (Some("application/json"), b"[{\"name\": \"x\"}]".to_vec()),
        (Some("application/json"), b"42".to_vec()),
        (Some("application/json"), b"\"name\"".to_vec()),
        (Some("application/json"), b"true".to_vec()),
        (
            Some("application/json"),
            b"{\"name\": \"\xff\xfe\"}".to_vec(),
        ),
        (
            Some("application/json"),
            b"{\"name\": \"\\ud800\"}".to_vec(),
        ),
        (Some("application/json"), b"{\"name\": 1e400}".to_vec()),
        (Some("application/json"), b"\x00\x00\x00".to_vec()),
        (Some("application/json"), deep.clone().into_bytes()),
        (Some("text/plain"), b"{\"name\": \"x\"}".to_vec()),
        (
            Some("application/x-www-form-urlencoded"),
            b"name=x".to_vec(),
        ),
        (
            Some("multipart/form-data; boundary=x"),
            b"--x\r\n\r\nname\r\n--x--".to_vec(),
        ),
        (Some("application/xml"), b"<name>x</name>".to_vec()),
        (None, b"{\"name\": \"x\"}".to_vec()),
        (Some("application/json"), vec![b' '; 1024 * 1024 + 1]),
    ];
    // JSON objects with a bad value for a column of this resource (or a good one next to a bad
    // one: the request must fail as a whole).
    let bad_names = vec![
        json!({"name": 5}),
        json!({"name": null}),
        json!({"name": ["x"]}),
        json!({"name": {"a": 1}}),
        json!({"name": true}),
        json!({"name": long_name}),
        json!({"name": "nul\u{0}byte"}),
    ];
    let mut cases: Vec<Case> = Vec::new();
    let post_paths = [
        "/states".to_owned(),
        format!("/states/{}/cities", ids.state),
        "/amenities".to_owned(),
        "/users".to_owned(),
        format!("/cities/{}/places", ids.city),
        format!("/places/{}/reviews", ids.place),
        "/places_search".to_owned(),
    ];
    let put_paths = [
        format!("/states/{}", ids.state),
        format!("/cities/{}", ids.city),
        format!("/amenities/{}", ids.amenity),
        format!("/users/{}", ids.user),
        format!("/places/{}", ids.place),
        format!("/reviews/{}", ids.review),
    ];
    for path in &post_paths {
        for (content_type, body) in &raw_bodies {
            cases.push((Method::POST, path.clone(), *content_type, body.clone()));
        }
    }
    for path in &put_paths {
        for (content_type, body) in &raw_bodies {
            cases.push((Method::PUT, path.clone(), *content_type, body.clone()));
        }
    }
    // Bad names for the resources that have a name.
    for path in [
        "/states".to_owned(),
        format!("/states/{}/cities", ids.state),
        "/amenities".to_owned(),
    ] {
        for body in &bad_names {
            cases.push((
                Method::POST,
                path.clone(),
                Some("application/json"),
                json_bytes(body),
            ));
        }
    }
    for path in [
        format!("/states/{}", ids.state),
        format!("/cities/{}", ids.city),
        format!("/amenities/{}", ids.amenity),
        format!("/places/{}", ids.place),
    ] {
        for body in bad_names.iter().filter(|b| !b["name"].is_null()) {
            cases.push((
                Method::PUT,
                path.clone(),
                Some("application/json"),
                json_bytes(body),
            ));
        }
    }
    let user = ids.user.clone();
    let typed: Vec<(String, Method, Value)> = vec![
        (
            "/users".into(),
            Method::POST,
            json!({"email": 5, "password": "p"}),
        ),
        (
            "/users".into(),
            Method::POST,
            json!({"email": "e", "password": 5}),
        ),
        (
            "/users".into(),
            Method::POST,
            json!({"email": "e", "password": null}),
        ),
        (
            "/users".into(),
            Method::POST,
            json!({"email": long_name, "password": "p"}),
        ),
        (
            "/users".into(),
            Method::POST,
            json!({"email": "e", "password": long_name}),
        ),
        (
            "/users".into(),
            Method::POST,
            json!({"email": "e", "password": "p", "first_name": 5}),
        ),
        (
            "/users".into(),
            Method::POST,
            json!({"email": "e\u{0}", "password": "p"}),
        ),
        (
            format!("/users/{user}"),
            Method::PUT,
            json!({"first_name": "ok", "last_name": 5}),
        ),
        (
            format!("/users/{user}"),
            Method::PUT,
            json!({"password": ["p"]}),
        ),
        (
            format!("/users/{user}"),
            Method::PUT,
            json!({"password": long_name}),
        ),
        (
            format!("/cities/{}/places", ids.city),
            Method::POST,
            json!({"user_id": 5, "name": "x"}),
        ),
        (
            format!("/cities/{}/places", ids.city),
            Method::POST,
            json!({"user_id": [user], "name": "x"}),
        ),
        (
            format!("/cities/{}/places", ids.city),
            Method::POST,
            json!({"user_id": "'; DROP TABLE users; --", "name": "x"}),
        ),
        (
            format!("/cities/{}/places", ids.city),
            Method::POST,
            json!({"user_id": user, "name": "x", "number_rooms": "three"}),
        ),
        (
            format!("/cities/{}/places", ids.city),
            Method::POST,
            json!({"user_id": user, "name": "x", "max_guest": 2.5}),
        ),
        (
            format!("/cities/{}/places", ids.city),
            Method::POST,
            json!({"user_id": user, "name": "x", "price_by_night": 99_999_999_999i64}),
        ),
        (
            format!("/cities/{}/places", ids.city),
            Method::POST,
            json!({"user_id": user, "name": "x", "number_bathrooms": null}),
        ),
        (
            format!("/cities/{}/places", ids.city),
            Method::POST,
            json!({"user_id": user, "name": "x", "latitude": "north"}),
        ),
        (
            format!("/cities/{}/places", ids.city),
            Method::POST,
            json!({"user_id": user, "name": "x", "description": long_text}),
        ),
        (
            format!("/places/{}", ids.place),
            Method::PUT,
            json!({"name": "changed", "number_rooms": "three"}),
        ),
        (
            format!("/places/{}", ids.place),
            Method::PUT,
            json!({"longitude": [1]}),
        ),
        (
            format!("/places/{}", ids.place),
            Method::PUT,
            json!({"description": 7}),
        ),
        (
            format!("/places/{}/reviews", ids.place),
            Method::POST,
            json!({"user_id": user, "text": 5}),
        ),
        (
            format!("/places/{}/reviews", ids.place),
            Method::POST,
            json!({"user_id": user, "text": long_text}),
        ),
        (
            format!("/places/{}/reviews", ids.place),
            Method::POST,
            json!({"user_id": user, "text": "a\u{0}b"}),
        ),
        (
            format!("/reviews/{}", ids.review),
            Method::PUT,
            json!({"text": null}),
        ),
        (
            format!("/reviews/{}", ids.review),
            Method::PUT,
            json!({"text": long_text}),
        ),
        (
            "/places_search".into(),
            Method::POST,
            json!({"states": "x"}),
        ),
        (
            "/places_search".into(),
            Method::POST,
            json!({"cities": [1, 2]}),
        ),
        (
            "/places_search".into(),
            Method::POST,
            json!({"amenities": {"a": 1}}),
        ),
        (
            "/places_search".into(),
            Method::POST,
            json!({"states": ["' OR 1=1 --"], "cities": ["\u{0}"]}),
        ),
        (
            "/places_search".into(),
            Method::POST,
            json!({"amenities": ["x\u{0}y", "'); DELETE FROM places; --"]}),
        ),
    ];
    for (path, method, body) in typed {
        cases.push((method, path, Some("application/json"), json_bytes(&body)));
    }
    // Ids that are not UUIDs (SQL metacharacters, NUL, traversal, very long) on every id route.
    let bad_ids = [
        "1".to_owned(),
        "'%20OR%201=1--".to_owned(),
        "%00".to_owned(),
        "a%00b".to_owned(),
        "..%2F..%2Fetc%2Fpasswd".to_owned(),
        "%F0%9F%98%80".to_owned(),
        "x".repeat(5000),
        "00000000-0000-4000-8000-00000000000g".to_owned(),
    ];
    for bad in &bad_ids {
        for (method, path) in [
            (Method::GET, format!("/states/{bad}")),
            (Method::DELETE, format!("/states/{bad}")),
            (Method::GET, format!("/states/{bad}/cities")),
            (Method::POST, format!("/states/{bad}/cities")),
            (Method::DELETE, format!("/cities/{bad}")),
            (Method::PUT, format!("/amenities/{bad}")),
            (Method::DELETE, format!("/users/{bad}")),
            (Method::GET, format!("/cities/{bad}/places")),
            (Method::DELETE, format!("/places/{bad}")),
            (Method::GET, format!("/places/{bad}/reviews")),
            (Method::DELETE, format!("/reviews/{bad}")),
            (
                Method::POST,
                format!("/places/{}/amenities/{bad}", ids.place),
            ),
            (
                Method::DELETE,
                format!("/places/{bad}/amenities/{}", ids.amenity),
            ),
        ] {
            cases.push((
                method,
                path,
                Some("application/json"),
                json_bytes(&json!({"name": "x", "user_id": user, "text": "t"})),
            ));
        }
    }
    // Odd methods and paths.
    for (method, path) in [
        (Method::PATCH, format!("/states/{}", ids.state)),
        (Method::from_bytes(b"PURGE").unwrap(), "/states".to_owned()),
        (Method::TRACE, "/status".to_owned()),
        (Method::DELETE, "/stats".to_owned()),
        (Method::DELETE, "/places_search".to_owned()),
        (Method::PUT, "/states".to_owned()),
        (Method::GET, "/../../etc/passwd".to_owned()),
        (Method::GET, "/states?id=1;DROP%20TABLE%20states".to_owned()),
    ] {
        cases.push((method, path, None, vec![]));
    }
    cases
}

async fn malformed_requests(engine: Engine) {
    let api = Api::start(engine).await;
    let c = hbnb_tests::client();
    let ids = seed(&api, &c).await;
    let before = snapshot(&api, &c, &ids).await;
    let cases = cases(&ids);
    assert!(cases.len() >= 200, "only {} cases", cases.len());
    let mut statuses = std::collections::BTreeMap::new();
    for (method, path, content_type, body) in cases {
        let mut request = c.request(method.clone(), api.api(&path)).body(body);
        if let Some(content_type) = content_type {
            request = request.header("Content-Type", content_type);
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(error) => panic!("{method} {path}: no answer: {error}"),
        };
        let status = response.status();
        let is_json = response
            .headers()
            .get("content-type")
            .is_some_and(|v| v.to_str().unwrap_or("").starts_with("application/json"));
        let text = response.text().await.unwrap_or_default();
        assert!(
            status.is_client_error()
                || (status == 200 && (path.starts_with("/places_search") || method == Method::GET)),
            "{method} {path}: {status} {text}"
        );
        assert!(is_json, "{method} {path}: {status} not JSON: {text}");
        *statuses.entry(status.as_u16()).or_insert(0usize) += 1;
    }
    eprintln!("statuses: {statuses:?}");
    assert!(statuses.contains_key(&413) && statuses.contains_key(&405));
    let after = snapshot(&api, &c, &ids).await;
    assert_eq!(before, after, "the database changed");
    // Still serving.
    assert_eq!(get(&c, &api.url("/readyz")).await.0, 200);
}

async fn concurrent_writes(engine: Engine) {
    const N: usize = 200;
    let api = Api::start(engine).await;
    let c = hbnb_tests::client();
    let state = id_of(
        &post(&c, &api.api("/states"), &json!({"name": "Parent"}))
            .await
            .1,
    );
    // 200 concurrent POSTs: half states, half cities of one state.
    let creates = (0..N).map(|i| {
        let c = c.clone();
        let url = if i % 2 == 0 {
            api.api("/states")
        } else {
            api.api(&format!("/states/{state}/cities"))
        };
        tokio::spawn(async move { post(&c, &url, &json!({"name": format!("n{i}")})).await })
    });
    let mut created = Vec::new();
    for handle in futures_util::future::join_all(creates).await {
        let (status, body) = handle.unwrap();
        assert_eq!(status, 201, "{body}");
        created.push(body);
    }
    let stats = get(&c, &api.api("/stats")).await.1;
    assert_eq!(stats["states"], N / 2 + 1, "{stats}");
    assert_eq!(stats["cities"], N / 2, "{stats}");
    assert_eq!(
        get(&c, &api.api("/states"))
            .await
            .1
            .as_array()
            .unwrap()
            .len(),
        N / 2 + 1
    );
    let mut unique: Vec<String> = created.iter().map(id_of).collect();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), N);
    // 200 concurrent DELETEs of what was created.
    let deletes = created.iter().map(|object| {
        let c = c.clone();
        let kind = if object["__class__"] == "State" {
            "states"
        } else {
            "cities"
        };
        let url = api.api(&format!("/{kind}/{}", id_of(object)));
        tokio::spawn(async move { delete(&c, &url).await })
    });
    for handle in futures_util::future::join_all(deletes).await {
        let (status, body) = handle.unwrap();
        assert_eq!(status, 200, "{body}");
        assert_eq!(body, json!({}));
    }
    let stats = get(&c, &api.api("/stats")).await.1;
    assert_eq!(stats["states"], 1, "{stats}");
    assert_eq!(stats["cities"], 0, "{stats}");
}

hbnb_tests::all_engines!(malformed_requests, concurrent_writes);

/// Each body is checked field after field in a fixed order, each field completely, so the answer
/// names the first problem in that order, whatever order the keys were sent in; keys a body does
/// not declare are ignored; and null is refused or taken exactly where the document says.
async fn body_checks_answer_the_first_problem_in_field_order(engine: Engine) {
    use hbnb_tests::api::{assert_error, put};
    let api = Api::start(engine).await;
    let c = hbnb_tests::client();
    let ids = seed(&api, &c).await;
    let (user, city, place) = (&ids.user, &ids.city, &ids.place);
    let long = "n".repeat(129);
    let cases: Vec<(&str, String, Value, u16, &str)> = vec![
        // A missing required field comes before a later field's bad type or size.
        (
            "POST",
            "/users".into(),
            json!({"password": 5}),
            400,
            "Missing email",
        ),
        (
            "POST",
            "/users".into(),
            json!({"email": "e", "first_name": 5}),
            400,
            "Missing password",
        ),
        (
            "POST",
            "/users".into(),
            json!({"last_name": 5, "email": long, "password": "p"}),
            400,
            "email is too long (at most 128 characters)",
        ),
        (
            "POST",
            "/users".into(),
            json!({"email": "e", "password": "p", "last_name": 5, "first_name": [1]}),
            400,
            "first_name must be a string or null",
        ),
        // user_id, then the unknown user, then the place's name, then the other columns.
        (
            "POST",
            format!("/cities/{city}/places"),
            json!({"name": 5, "user_id": 7}),
            400,
            "user_id must be a string",
        ),
        (
            "POST",
            format!("/cities/{city}/places"),
            json!({"name": 5, "user_id": "00000000-0000-4000-8000-000000000000"}),
            404,
            "Not found",
        ),
        (
            "POST",
            format!("/cities/{city}/places"),
            json!({"user_id": user, "description": 5}),
            400,
            "Missing name",
        ),
        (
            "POST",
            format!("/cities/{city}/places"),
            json!({"user_id": user, "name": "x", "longitude": "w", "number_rooms": 1.5}),
            400,
            "number_rooms must be an integer between -2147483648 and 2147483647",
        ),
        (
            "POST",
            format!("/places/{place}/reviews"),
            json!({"text": 5, "user_id": user}),
            400,
            "text must be a string",
        ),
        // PUT: a column that is not nullable refuses null; one left out is fine.
        (
            "PUT",
            format!("/states/{}", ids.state),
            json!({"name": null}),
            400,
            "name must be a string",
        ),
        (
            "PUT",
            format!("/places/{place}"),
            json!({"price_by_night": null}),
            400,
            "price_by_night must be an integer between -2147483648 and 2147483647",
        ),
        (
            "PUT",
            format!("/users/{user}"),
            json!({"password": null}),
            400,
            "password must be a string",
        ),
        (
            "PUT",
            format!("/places/{place}"),
            json!({"max_guest": 3, "description": 5}),
            400,
            "description must be a string or null",
        ),
        (
            "POST",
            "/places_search".into(),
            json!({"amenities": 1, "states": [2]}),
            400,
            "states must be a list of ids",
        ),
    ];
    for (method, path, body, status, message) in cases {
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let got = hbnb_tests::api::call(&c, method.clone(), &api.api(&path), Some(&body)).await;
        assert_eq!(got.0.as_u16(), status, "{method} {path} {body}: {}", got.1);
        assert_eq!(got.1, json!({ "error": message }), "{method} {path} {body}");
    }
    // Nullable columns take null; ignored keys are ignored; a number without a fractional part
    // is that integer.
    let url = api.api(&format!("/places/{place}"));
    let (status, body) = put(
        &c,
        &url,
        &json!({"description": null, "latitude": null, "number_rooms": 3.0, "max_guest": 4e1,
                "id": "x", "user_id": "y", "city_id": 5, "colour": [1]}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["description"], Value::Null);
    assert_eq!(body["latitude"], Value::Null);
    assert_eq!(body["number_rooms"], 3);
    assert_eq!(body["max_guest"], 40);
    assert_eq!(body["id"], place.as_str());
    assert_eq!(body["user_id"], user.as_str());
    assert!(body.get("colour").is_none(), "{body}");
    let (status, body) = put(
        &c,
        &api.api(&format!("/users/{user}")),
        &json!({"first_name": "Ann", "last_name": null}),
    )
    .await;
    assert_eq!(
        (status.as_u16(), &body["first_name"], &body["last_name"]),
        (200, &json!("Ann"), &Value::Null)
    );
    let (status, all) = post(
        &c,
        &api.api("/places_search"),
        &json!({"states": null, "cities": null}),
    )
    .await;
    assert_eq!(
        (status.as_u16(), all.as_array().map(Vec::len)),
        (200, Some(1)),
        "{all}"
    );
    assert_error(
        &post(
            &c,
            &api.api(&format!("/cities/{city}/places")),
            &json!({"user_id": user, "name": "x", "max_guest": 3.5}),
        )
        .await,
        400,
        "max_guest must be an integer between -2147483648 and 2147483647",
    );
}

hbnb_tests::all_engines!(body_checks_answer_the_first_problem_in_field_order);
