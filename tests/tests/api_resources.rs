//! api-service, black box, on SQLite and on PostgreSQL: every endpoint's success path, every
//! error of spec §4.3 in its order, ignored keys on PUT, passwords.

use hbnb_tests::api::{assert_error, delete, get, id_of, post, put, raw};
use hbnb_tests::db::{Api, Engine};
use reqwest::Method;
use serde_json::{json, Value};

const MISSING: &str = "00000000-0000-4000-8000-000000000000";

/// `%Y-%m-%dT%H:%M:%S.%f`: exactly 26 characters, 6 fractional digits, no zone.
#[track_caller]
fn assert_timestamp(value: &Value) {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("not a string: {value}"));
    let bytes = text.as_bytes();
    assert_eq!(bytes.len(), 26, "{text}");
    for (i, b) in bytes.iter().enumerate() {
        let expected_sep = match i {
            4 | 7 => Some(b'-'),
            10 => Some(b'T'),
            13 | 16 => Some(b':'),
            19 => Some(b'.'),
            _ => None,
        };
        match expected_sep {
            Some(sep) => assert_eq!(*b, sep, "{text}"),
            None => assert!(b.is_ascii_digit(), "{text}"),
        }
    }
}

#[track_caller]
fn assert_object(value: &Value, class: &str) {
    assert_eq!(value["__class__"], class, "{value}");
    let id = value["id"].as_str().expect("id");
    assert_eq!(id.len(), 36, "uuid {id}");
    assert_eq!(&id[14..15], "4", "uuid v4 {id}");
    assert_timestamp(&value["created_at"]);
    assert_timestamp(&value["updated_at"]);
}

async fn status_and_routing(engine: Engine) {
    let api = Api::start(engine).await;
    let c = hbnb_tests::client();
    for path in ["/status", "/status/"] {
        let (status, body) = get(&c, &api.api(path)).await;
        assert_eq!(status, 200);
        assert_eq!(body, json!({"status": "OK"}));
    }
    // Unknown routes, the prefix itself and `/`: JSON 404.
    for url in [
        api.api("/nop"),
        api.api(""),
        api.api("/"),
        api.url("/"),
        api.url("/api"),
        api.api("/states/x/y/z"),
    ] {
        let got = get(&c, &url).await;
        assert_error(&got, 404, "Not found");
    }
    // Wrong methods: 405 with Allow.
    let response = c.delete(api.api("/states")).send().await.unwrap();
    assert_eq!(response.status(), 405);
    let allow = response.headers()["allow"].to_str().unwrap().to_owned();
    assert!(allow.contains("GET") && allow.contains("POST"), "{allow}");
    for (method, path) in [
        (Method::PUT, "/status"),
        (Method::POST, "/stats"),
        (Method::GET, "/places_search"),
        (Method::PATCH, "/states/"),
        (Method::POST, &format!("/states/{MISSING}")),
        (
            Method::GET,
            &format!("/places/{MISSING}/amenities/{MISSING}"),
        ),
    ] {
        let got = raw(&c, method.clone(), &api.api(path), None, vec![]).await;
        assert_eq!(got.0, 405, "{method} {path}");
        assert!(got.1["error"].is_string(), "{method} {path}: {}", got.1);
    }
    // HEAD works on GET routes, no redirect for trailing slashes anywhere.
    let response = c.head(api.api("/states/")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    // Health endpoints are there too.
    assert_eq!(get(&c, &api.url("/healthz")).await.0, 200);
    assert_eq!(get(&c, &api.url("/readyz")).await.0, 200);
}

async fn stats_deltas(engine: Engine) {
    let api = Api::start(engine).await;
    let c = hbnb_tests::client();
    let zero =
        json!({"amenities": 0, "cities": 0, "places": 0, "reviews": 0, "states": 0, "users": 0});
    assert_eq!(
        get(&c, &api.api("/stats")).await,
        (reqwest::StatusCode::OK, zero)
    );
    let state = post(&c, &api.api("/states"), &json!({"name": "CA"}))
        .await
        .1;
    let city = post(
        &c,
        &api.api(&format!("/states/{}/cities", id_of(&state))),
        &json!({"name": "SF"}),
    )
    .await
    .1;
    post(
        &c,
        &api.api(&format!("/states/{}/cities", id_of(&state))),
        &json!({"name": "LA"}),
    )
    .await;
    post(&c, &api.api("/amenities"), &json!({"name": "Wifi"})).await;
    let user = post(
        &c,
        &api.api("/users"),
        &json!({"email": "a@b", "password": "pw"}),
    )
    .await
    .1;
    let place = post(
        &c,
        &api.api(&format!("/cities/{}/places", id_of(&city))),
        &json!({"user_id": id_of(&user), "name": "Loft"}),
    )
    .await
    .1;
    post(
        &c,
        &api.api(&format!("/places/{}/reviews", id_of(&place))),
        &json!({"user_id": id_of(&user), "text": "Nice"}),
    )
    .await;
    let (status, stats) = get(&c, &api.api("/stats/")).await;
    assert_eq!(status, 200);
    assert_eq!(
        stats,
        json!({"amenities": 1, "cities": 2, "places": 1, "reviews": 1, "states": 1, "users": 1})
    );
    delete(&c, &api.api(&format!("/states/{}", id_of(&state)))).await;
    let stats = get(&c, &api.api("/stats")).await.1;
    assert_eq!(
        stats,
        json!({"amenities": 1, "cities": 0, "places": 0, "reviews": 0, "states": 0, "users": 1})
    );
}

async fn states(engine: Engine) {
    let api = Api::start(engine).await;
    let c = hbnb_tests::client();
    assert_eq!(get(&c, &api.api("/states")).await.1, json!([]));
    // POST ignores id and timestamps in the body.
    let (status, state) = post(
        &c,
        &api.api("/states/"),
        &json!({"name": "California", "id": "client-id", "created_at": "2000-01-01T00:00:00.000000",
                "updated_at": "2000-01-01T00:00:00.000000", "__class__": "Nope"}),
    )
    .await;
    assert_eq!(status, 201, "{state}");
    assert_object(&state, "State");
    assert_eq!(state["name"], "California");
    assert_ne!(state["id"], "client-id");
    assert_ne!(state["created_at"], "2000-01-01T00:00:00.000000");
    assert_eq!(state["created_at"], state["updated_at"]);
    let id = id_of(&state);
    // GET one and the list answer exactly what POST answered.
    for path in [format!("/states/{id}"), format!("/states/{id}/")] {
        assert_eq!(
            get(&c, &api.api(&path)).await,
            (reqwest::StatusCode::OK, state.clone())
        );
    }
    assert_eq!(
        get(&c, &api.api("/states/")).await.1,
        json!([state.clone()])
    );
    // PUT: ignored keys, unknown keys, updated_at bumped.
    let (status, updated) = put(
        &c,
        &api.api(&format!("/states/{id}/")),
        &json!({"name": "Nevada", "id": "x", "created_at": "2000-01-01T00:00:00.000000",
                "updated_at": "2000-01-01T00:00:00.000000", "colour": "red"}),
    )
    .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["name"], "Nevada");
    assert_eq!(updated["id"], state["id"]);
    assert_eq!(updated["created_at"], state["created_at"]);
    assert!(
        updated["updated_at"].as_str() > state["updated_at"].as_str(),
        "{updated}"
    );
    assert!(updated.get("colour").is_none());
    assert_eq!(get(&c, &api.api(&format!("/states/{id}"))).await.1, updated);
    // PUT {} changes nothing.
    assert_eq!(
        put(&c, &api.api(&format!("/states/{id}")), &json!({}))
            .await
            .1,
        updated
    );
    // Errors, in order.
    assert_error(
        &get(&c, &api.api(&format!("/states/{MISSING}"))).await,
        404,
        "Not found",
    );
    assert_error(
        &get(&c, &api.api("/states/not-a-uuid")).await,
        404,
        "Not found",
    );
    assert_error(
        &post(&c, &api.api("/states"), &json!({})).await,
        400,
        "Missing name",
    );
    assert_error(
        &post(&c, &api.api("/states"), &json!({"nom": "x"})).await,
        400,
        "Missing name",
    );
    assert_error(
        &raw(
            &c,
            Method::POST,
            &api.api("/states"),
            Some("text/plain"),
            b"{\"name\":\"x\"}".to_vec(),
        )
        .await,
        400,
        "Not a JSON",
    );
    assert_error(
        &raw(
            &c,
            Method::POST,
            &api.api("/states"),
            Some("application/json"),
            b"{nope".to_vec(),
        )
        .await,
        400,
        "Not a JSON",
    );
    assert_error(
        &put(
            &c,
            &api.api(&format!("/states/{MISSING}")),
            &json!({"name": "x"}),
        )
        .await,
        404,
        "Not found",
    );
    // PUT on a missing state: 404 before the body is looked at.
    assert_error(
        &raw(
            &c,
            Method::PUT,
            &api.api(&format!("/states/{MISSING}")),
            Some("text/plain"),
            b"x".to_vec(),
        )
        .await,
        404,
        "Not found",
    );
    assert_error(
        &raw(
            &c,
            Method::PUT,
            &api.api(&format!("/states/{id}")),
            Some("text/plain"),
            b"x".to_vec(),
        )
        .await,
        400,
        "Not a JSON",
    );
    // DELETE.
    assert_eq!(
        delete(&c, &api.api(&format!("/states/{id}/"))).await,
        (reqwest::StatusCode::OK, json!({}))
    );
    assert_error(
        &delete(&c, &api.api(&format!("/states/{id}"))).await,
        404,
        "Not found",
    );
    assert_error(
        &get(&c, &api.api(&format!("/states/{id}"))).await,
        404,
        "Not found",
    );
    assert_eq!(get(&c, &api.api("/states")).await.1, json!([]));
}

async fn cities(engine: Engine) {
    let api = Api::start(engine).await;
    let c = hbnb_tests::client();
    let state = id_of(
        &post(&c, &api.api("/states"), &json!({"name": "CA"}))
            .await
            .1,
    );
    let other = id_of(
        &post(&c, &api.api("/states"), &json!({"name": "NV"}))
            .await
            .1,
    );
    assert_eq!(
        get(&c, &api.api(&format!("/states/{state}/cities")))
            .await
            .1,
        json!([])
    );
    // state_id comes from the URL, not the body.
    let (status, city) = post(
        &c,
        &api.api(&format!("/states/{state}/cities/")),
        &json!({"name": "San Francisco", "state_id": other, "id": "x"}),
    )
    .await;
    assert_eq!(status, 201, "{city}");
    assert_object(&city, "City");
    assert_eq!(city["state_id"], state.as_str());
    assert_eq!(city["name"], "San Francisco");
    let id = id_of(&city);
    assert_eq!(get(&c, &api.api(&format!("/cities/{id}/"))).await.1, city);
    assert_eq!(
        get(&c, &api.api(&format!("/states/{state}/cities/")))
            .await
            .1,
        json!([city.clone()])
    );
    assert_eq!(
        get(&c, &api.api(&format!("/states/{other}/cities")))
            .await
            .1,
        json!([])
    );
    // PUT ignores state_id.
    let (status, updated) = put(
        &c,
        &api.api(&format!("/cities/{id}")),
        &json!({"name": "Oakland", "state_id": other, "created_at": "x"}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(updated["name"], "Oakland");
    assert_eq!(updated["state_id"], state.as_str());
    assert_eq!(updated["created_at"], city["created_at"]);
    // Errors in order: state 404, Not a JSON, Missing name.
    let url = api.api(&format!("/states/{MISSING}/cities"));
    assert_error(&get(&c, &url).await, 404, "Not found");
    assert_error(
        &raw(&c, Method::POST, &url, Some("text/plain"), b"x".to_vec()).await,
        404,
        "Not found",
    );
    let url = api.api(&format!("/states/{state}/cities"));
    assert_error(
        &raw(&c, Method::POST, &url, Some("text/plain"), b"x".to_vec()).await,
        400,
        "Not a JSON",
    );
    assert_error(&post(&c, &url, &json!({})).await, 400, "Missing name");
    assert_error(
        &put(&c, &api.api(&format!("/cities/{MISSING}")), &json!({})).await,
        404,
        "Not found",
    );
    assert_error(
        &raw(
            &c,
            Method::PUT,
            &api.api(&format!("/cities/{id}")),
            None,
            b"{}".to_vec(),
        )
        .await,
        400,
        "Not a JSON",
    );
    assert_eq!(
        delete(&c, &api.api(&format!("/cities/{id}"))).await.1,
        json!({})
    );
    assert_error(
        &delete(&c, &api.api(&format!("/cities/{id}"))).await,
        404,
        "Not found",
    );
    assert_error(
        &get(&c, &api.api(&format!("/cities/{id}"))).await,
        404,
        "Not found",
    );
}

async fn amenities(engine: Engine) {
    let api = Api::start(engine).await;
    let c = hbnb_tests::client();
    let (status, amenity) = post(&c, &api.api("/amenities/"), &json!({"name": "Wifi"})).await;
    assert_eq!(status, 201);
    assert_object(&amenity, "Amenity");
    let id = id_of(&amenity);
    assert_eq!(
        get(&c, &api.api("/amenities")).await.1,
        json!([amenity.clone()])
    );
    assert_eq!(
        get(&c, &api.api(&format!("/amenities/{id}/"))).await.1,
        amenity
    );
    let updated = put(
        &c,
        &api.api(&format!("/amenities/{id}/")),
        &json!({"name": "Pool", "id": "x"}),
    )
    .await;
    assert_eq!(updated.0, 200);
    assert_eq!(updated.1["name"], "Pool");
    assert_eq!(updated.1["id"], id.as_str());
    assert_error(
        &post(&c, &api.api("/amenities"), &json!({"x": 1})).await,
        400,
        "Missing name",
    );
    assert_error(
        &raw(
            &c,
            Method::POST,
            &api.api("/amenities"),
            Some("application/json"),
            b"[1]".to_vec(),
        )
        .await,
        400,
        "Not a JSON",
    );
    // Our order: 404 before the body for every PUT, amenities included.
    assert_error(
        &raw(
            &c,
            Method::PUT,
            &api.api(&format!("/amenities/{MISSING}")),
            Some("text/plain"),
            b"x".to_vec(),
        )
        .await,
        404,
        "Not found",
    );
    assert_error(
        &raw(
            &c,
            Method::PUT,
            &api.api(&format!("/amenities/{id}")),
            Some("text/plain"),
            b"x".to_vec(),
        )
        .await,
        400,
        "Not a JSON",
    );
    assert_eq!(
        delete(&c, &api.api(&format!("/amenities/{id}"))).await.1,
        json!({})
    );
    assert_error(
        &get(&c, &api.api(&format!("/amenities/{id}"))).await,
        404,
        "Not found",
    );
}

async fn users(engine: Engine) {
    let api = Api::start(engine).await;
    let c = hbnb_tests::client();
    let (status, user) = post(
        &c,
        &api.api("/users"),
        &json!({"email": "a@example.com", "password": "secret", "first_name": "Ann"}),
    )
    .await;
    assert_eq!(status, 201, "{user}");
    assert_object(&user, "User");
    assert!(user.get("password").is_none(), "{user}");
    assert_eq!(user["email"], "a@example.com");
    assert_eq!(user["first_name"], "Ann");
    assert_eq!(user["last_name"], Value::Null);
    let id = id_of(&user);
    let list = get(&c, &api.api("/users/")).await.1;
    assert_eq!(list, json!([user.clone()]));
    assert_eq!(get(&c, &api.api(&format!("/users/{id}"))).await.1, user);

    let storage = hbnb_storage::Database::connect(&api.db.url).await.unwrap();
    let stored: hbnb_storage::User = storage.get(&id).await.unwrap().unwrap();
    assert!(
        stored.password.starts_with("$argon2id$"),
        "{}",
        stored.password
    );

    // PUT: email ignored, password re-hashed once, names changed.
    let (status, updated) = put(
        &c,
        &api.api(&format!("/users/{id}/")),
        &json!({"email": "new@example.com", "password": "other", "last_name": "Lee", "first_name": null}),
    )
    .await;
    assert_eq!(status, 200, "{updated}");
    assert!(updated.get("password").is_none());
    assert_eq!(updated["email"], "a@example.com");
    assert_eq!(updated["last_name"], "Lee");
    assert_eq!(updated["first_name"], Value::Null);
    let after: hbnb_storage::User = storage.get(&id).await.unwrap().unwrap();
    assert!(after.password.starts_with("$argon2id$"));
    assert_ne!(after.password, stored.password);
    // A PUT without a password keeps the stored hash as it is (never hashed twice).
    put(
        &c,
        &api.api(&format!("/users/{id}")),
        &json!({"first_name": "Bo"}),
    )
    .await;
    let again: hbnb_storage::User = storage.get(&id).await.unwrap().unwrap();
    assert_eq!(again.password, after.password);

    // Errors in order: Not a JSON, Missing email, Missing password.
    let url = api.api("/users");
    assert_error(
        &raw(&c, Method::POST, &url, None, b"x".to_vec()).await,
        400,
        "Not a JSON",
    );
    assert_error(&post(&c, &url, &json!({})).await, 400, "Missing email");
    assert_error(
        &post(&c, &url, &json!({"password": "x"})).await,
        400,
        "Missing email",
    );
    assert_error(
        &post(&c, &url, &json!({"email": "x"})).await,
        400,
        "Missing password",
    );
    assert_error(
        &put(&c, &api.api(&format!("/users/{MISSING}")), &json!({})).await,
        404,
        "Not found",
    );
    assert_error(
        &raw(
            &c,
            Method::PUT,
            &api.api(&format!("/users/{id}")),
            None,
            b"x".to_vec(),
        )
        .await,
        400,
        "Not a JSON",
    );
    assert_eq!(
        delete(&c, &api.api(&format!("/users/{id}"))).await.1,
        json!({})
    );
    assert_error(
        &get(&c, &api.api(&format!("/users/{id}"))).await,
        404,
        "Not found",
    );
    storage.close().await;
}

/// State, city, user: the ids a place needs.
async fn place_parents(api: &Api, c: &reqwest::Client) -> (String, String, String) {
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
            &json!({"email": "o@x", "password": "p"}),
        )
        .await
        .1,
    );
    (state, city, user)
}

async fn places(engine: Engine) {
    let api = Api::start(engine).await;
    let c = hbnb_tests::client();
    let (_state, city, user) = place_parents(&api, &c).await;
    let other_city = {
        let state = id_of(
            &post(&c, &api.api("/states"), &json!({"name": "NV"}))
                .await
                .1,
        );
        id_of(
            &post(
                &c,
                &api.api(&format!("/states/{state}/cities")),
                &json!({"name": "Reno"}),
            )
            .await
            .1,
        )
    };
    let url = api.api(&format!("/cities/{city}/places"));
    assert_eq!(get(&c, &url).await.1, json!([]));
    // Minimal place: defaults and nulls present.
    let (status, place) = post(
        &c,
        &url,
        &json!({"user_id": user, "name": "Loft", "city_id": other_city}),
    )
    .await;
    assert_eq!(status, 201, "{place}");
    assert_object(&place, "Place");
    assert_eq!(place["city_id"], city.as_str());
    assert_eq!(place["user_id"], user.as_str());
    for key in [
        "number_rooms",
        "number_bathrooms",
        "max_guest",
        "price_by_night",
    ] {
        assert_eq!(place[key], 0, "{key}");
    }
    for key in ["description", "latitude", "longitude"] {
        assert_eq!(place[key], Value::Null, "{key}");
    }
    // Full place.
    let (status, full) = post(
        &c,
        &format!("{url}/"),
        &json!({"user_id": user, "name": "House", "description": "<b>big</b>", "number_rooms": 4,
                "number_bathrooms": 2, "max_guest": 8, "price_by_night": 120, "latitude": 37.77,
                "longitude": -122.41, "amenities": ["x"]}),
    )
    .await;
    assert_eq!(status, 201, "{full}");
    assert_eq!(full["description"], "<b>big</b>");
    assert_eq!(full["number_rooms"], 4);
    assert_eq!(full["price_by_night"], 120);
    assert_eq!(full["latitude"], 37.77);
    assert_eq!(full["longitude"], -122.41);
    assert!(full.get("amenities").is_none());
    let id = id_of(&full);
    assert_eq!(get(&c, &api.api(&format!("/places/{id}/"))).await.1, full);
    assert_eq!(get(&c, &url).await.1, json!([place.clone(), full.clone()]));
    // PUT ignores user_id and city_id.
    let (status, updated) = put(
        &c,
        &api.api(&format!("/places/{id}")),
        &json!({"name": "Villa", "user_id": MISSING, "city_id": other_city, "number_rooms": 5,
                "latitude": null, "description": null}),
    )
    .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["name"], "Villa");
    assert_eq!(updated["user_id"], user.as_str());
    assert_eq!(updated["city_id"], city.as_str());
    assert_eq!(updated["number_rooms"], 5);
    assert_eq!(updated["number_bathrooms"], 2);
    assert_eq!(updated["latitude"], Value::Null);
    assert_eq!(updated["longitude"], -122.41);
    assert_eq!(updated["description"], Value::Null);
    // Errors in order: city 404; Not a JSON; Missing user_id; unknown user 404; Missing name.
    let missing_city = api.api(&format!("/cities/{MISSING}/places"));
    assert_error(&get(&c, &missing_city).await, 404, "Not found");
    assert_error(
        &raw(&c, Method::POST, &missing_city, None, b"x".to_vec()).await,
        404,
        "Not found",
    );
    assert_error(
        &raw(&c, Method::POST, &url, None, b"{}".to_vec()).await,
        400,
        "Not a JSON",
    );
    assert_error(
        &post(&c, &url, &json!({"name": "x"})).await,
        400,
        "Missing user_id",
    );
    assert_error(
        &post(&c, &url, &json!({"user_id": MISSING, "x": 1})).await,
        404,
        "Not found",
    );
    assert_error(
        &post(&c, &url, &json!({"user_id": "nope"})).await,
        404,
        "Not found",
    );
    assert_error(
        &post(&c, &url, &json!({"user_id": user})).await,
        400,
        "Missing name",
    );
    assert_error(
        &put(&c, &api.api(&format!("/places/{MISSING}")), &json!({})).await,
        404,
        "Not found",
    );
    assert_error(
        &raw(
            &c,
            Method::PUT,
            &api.api(&format!("/places/{id}")),
            None,
            b"{}".to_vec(),
        )
        .await,
        400,
        "Not a JSON",
    );
    // Wrong types are 400s.
    let got = post(
        &c,
        &url,
        &json!({"user_id": user, "name": "x", "number_rooms": "three"}),
    )
    .await;
    assert_eq!(got.0, 400, "{}", got.1);
    let got = put(
        &c,
        &api.api(&format!("/places/{id}")),
        &json!({"latitude": "north"}),
    )
    .await;
    assert_eq!(got.0, 400, "{}", got.1);
    assert_eq!(
        delete(&c, &api.api(&format!("/places/{id}"))).await.1,
        json!({})
    );
    assert_error(
        &get(&c, &api.api(&format!("/places/{id}"))).await,
        404,
        "Not found",
    );
    assert_eq!(get(&c, &url).await.1, json!([place]));
}

async fn reviews(engine: Engine) {
    let api = Api::start(engine).await;
    let c = hbnb_tests::client();
    let (_state, city, user) = place_parents(&api, &c).await;
    let place = id_of(
        &post(
            &c,
            &api.api(&format!("/cities/{city}/places")),
            &json!({"user_id": user, "name": "P"}),
        )
        .await
        .1,
    );
    let other_place = id_of(
        &post(
            &c,
            &api.api(&format!("/cities/{city}/places")),
            &json!({"user_id": user, "name": "Q"}),
        )
        .await
        .1,
    );
    let url = api.api(&format!("/places/{place}/reviews"));
    assert_eq!(get(&c, &url).await.1, json!([]));
    let (status, review) = post(
        &c,
        &format!("{url}/"),
        &json!({"user_id": user, "text": "Great", "place_id": other_place}),
    )
    .await;
    assert_eq!(status, 201, "{review}");
    assert_object(&review, "Review");
    assert_eq!(review["place_id"], place.as_str());
    assert_eq!(review["user_id"], user.as_str());
    assert_eq!(review["text"], "Great");
    let id = id_of(&review);
    assert_eq!(get(&c, &url).await.1, json!([review.clone()]));
    assert_eq!(
        get(&c, &api.api(&format!("/reviews/{id}/"))).await.1,
        review
    );
    let (status, updated) = put(
        &c,
        &api.api(&format!("/reviews/{id}")),
        &json!({"text": "Meh", "user_id": MISSING, "place_id": other_place}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(updated["text"], "Meh");
    assert_eq!(updated["place_id"], place.as_str());
    assert_eq!(updated["user_id"], user.as_str());
    // Errors in order: place 404; Not a JSON; Missing user_id; unknown user; Missing text.
    let missing = api.api(&format!("/places/{MISSING}/reviews"));
    assert_error(&get(&c, &missing).await, 404, "Not found");
    assert_error(
        &raw(&c, Method::POST, &missing, None, b"x".to_vec()).await,
        404,
        "Not found",
    );
    assert_error(
        &raw(&c, Method::POST, &url, Some("text/html"), b"x".to_vec()).await,
        400,
        "Not a JSON",
    );
    assert_error(
        &post(&c, &url, &json!({"text": "x"})).await,
        400,
        "Missing user_id",
    );
    assert_error(
        &post(&c, &url, &json!({"user_id": MISSING})).await,
        404,
        "Not found",
    );
    assert_error(
        &post(&c, &url, &json!({"user_id": user})).await,
        400,
        "Missing text",
    );
    assert_error(
        &put(&c, &api.api(&format!("/reviews/{MISSING}")), &json!({})).await,
        404,
        "Not found",
    );
    assert_error(
        &raw(
            &c,
            Method::PUT,
            &api.api(&format!("/reviews/{id}")),
            None,
            b"x".to_vec(),
        )
        .await,
        400,
        "Not a JSON",
    );
    assert_eq!(
        delete(&c, &api.api(&format!("/reviews/{id}"))).await.1,
        json!({})
    );
    assert_error(
        &get(&c, &api.api(&format!("/reviews/{id}"))).await,
        404,
        "Not found",
    );
}

async fn place_amenities(engine: Engine) {
    let api = Api::start(engine).await;
    let c = hbnb_tests::client();
    let (_state, city, user) = place_parents(&api, &c).await;
    let place = id_of(
        &post(
            &c,
            &api.api(&format!("/cities/{city}/places")),
            &json!({"user_id": user, "name": "P"}),
        )
        .await
        .1,
    );
    let wifi = post(&c, &api.api("/amenities"), &json!({"name": "Wifi"}))
        .await
        .1;
    let pool = post(&c, &api.api("/amenities"), &json!({"name": "Pool"}))
        .await
        .1;
    let list = api.api(&format!("/places/{place}/amenities"));
    assert_eq!(get(&c, &list).await.1, json!([]));
    let link = |a: &Value| api.api(&format!("/places/{place}/amenities/{}", id_of(a)));
    // New link: 201; existing: 200; both answer the amenity.
    assert_eq!(
        post(&c, &link(&wifi), &json!(null)).await,
        (reqwest::StatusCode::CREATED, wifi.clone())
    );
    let again = raw(&c, Method::POST, &format!("{}/", link(&wifi)), None, vec![]).await;
    assert_eq!(again, (reqwest::StatusCode::OK, wifi.clone()));
    assert_eq!(
        raw(&c, Method::POST, &link(&pool), None, vec![]).await.0,
        201
    );
    assert_eq!(
        get(&c, &format!("{list}/")).await.1,
        json!([wifi.clone(), pool.clone()])
    );
    // Place dicts never embed amenities.
    assert!(get(&c, &api.api(&format!("/places/{place}")))
        .await
        .1
        .get("amenities")
        .is_none());
    // Unlink: 200 {}, then 404 (not linked).
    assert_eq!(
        delete(&c, &link(&wifi)).await,
        (reqwest::StatusCode::OK, json!({}))
    );
    assert_error(&delete(&c, &link(&wifi)).await, 404, "Not found");
    assert_eq!(get(&c, &list).await.1, json!([pool.clone()]));
    // Unknown place, unknown amenity.
    let wifi_id = id_of(&wifi);
    for url in [
        api.api(&format!("/places/{MISSING}/amenities/{wifi_id}")),
        api.api(&format!("/places/{place}/amenities/{MISSING}")),
        api.api(&format!("/places/{place}/amenities/nope")),
    ] {
        assert_error(
            &raw(&c, Method::POST, &url, None, vec![]).await,
            404,
            "Not found",
        );
        assert_error(&delete(&c, &url).await, 404, "Not found");
    }
    assert_error(
        &get(&c, &api.api(&format!("/places/{MISSING}/amenities"))).await,
        404,
        "Not found",
    );
    // Deleting the amenity removes the link.
    delete(&c, &api.api(&format!("/amenities/{}", id_of(&pool)))).await;
    assert_eq!(get(&c, &list).await.1, json!([]));
}

async fn cascades(engine: Engine) {
    let api = Api::start(engine).await;
    let c = hbnb_tests::client();
    let (state, city, user) = place_parents(&api, &c).await;
    let guest = id_of(
        &post(
            &c,
            &api.api("/users"),
            &json!({"email": "g@x", "password": "p"}),
        )
        .await
        .1,
    );
    let place = id_of(
        &post(
            &c,
            &api.api(&format!("/cities/{city}/places")),
            &json!({"user_id": user, "name": "P"}),
        )
        .await
        .1,
    );
    let review = id_of(
        &post(
            &c,
            &api.api(&format!("/places/{place}/reviews")),
            &json!({"user_id": guest, "text": "t"}),
        )
        .await
        .1,
    );
    let amenity = id_of(
        &post(&c, &api.api("/amenities"), &json!({"name": "Wifi"}))
            .await
            .1,
    );
    assert_eq!(
        raw(
            &c,
            Method::POST,
            &api.api(&format!("/places/{place}/amenities/{amenity}")),
            None,
            vec![]
        )
        .await
        .0,
        201
    );

    // Deleting the guest takes their review only.
    assert_eq!(
        delete(&c, &api.api(&format!("/users/{guest}"))).await.0,
        200
    );
    assert_error(
        &get(&c, &api.api(&format!("/reviews/{review}"))).await,
        404,
        "Not found",
    );
    assert_eq!(get(&c, &api.api(&format!("/places/{place}"))).await.0, 200);

    // Deleting the owner takes their places (and those places' reviews and links).
    let review2 = id_of(
        &post(
            &c,
            &api.api(&format!("/places/{place}/reviews")),
            &json!({"user_id": user, "text": "t"}),
        )
        .await
        .1,
    );
    assert_eq!(
        delete(&c, &api.api(&format!("/users/{user}"))).await,
        (reqwest::StatusCode::OK, json!({}))
    );
    assert_error(
        &get(&c, &api.api(&format!("/places/{place}"))).await,
        404,
        "Not found",
    );
    assert_error(
        &get(&c, &api.api(&format!("/reviews/{review2}"))).await,
        404,
        "Not found",
    );
    assert_eq!(get(&c, &api.api(&format!("/cities/{city}"))).await.0, 200);
    assert_eq!(
        get(&c, &api.api(&format!("/amenities/{amenity}"))).await.0,
        200
    );

    // State -> cities -> places -> reviews and links.
    let owner = id_of(
        &post(
            &c,
            &api.api("/users"),
            &json!({"email": "o2@x", "password": "p"}),
        )
        .await
        .1,
    );
    let place = id_of(
        &post(
            &c,
            &api.api(&format!("/cities/{city}/places")),
            &json!({"user_id": owner, "name": "P2"}),
        )
        .await
        .1,
    );
    let review = id_of(
        &post(
            &c,
            &api.api(&format!("/places/{place}/reviews")),
            &json!({"user_id": owner, "text": "t"}),
        )
        .await
        .1,
    );
    raw(
        &c,
        Method::POST,
        &api.api(&format!("/places/{place}/amenities/{amenity}")),
        None,
        vec![],
    )
    .await;
    let stats = get(&c, &api.api("/stats")).await.1;
    assert_eq!(
        stats,
        json!({"amenities": 1, "cities": 1, "places": 1, "reviews": 1, "states": 1, "users": 1})
    );
    assert_eq!(
        delete(&c, &api.api(&format!("/states/{state}"))).await.0,
        200
    );
    for path in [
        format!("/cities/{city}"),
        format!("/places/{place}"),
        format!("/reviews/{review}"),
    ] {
        assert_error(&get(&c, &api.api(&path)).await, 404, "Not found");
    }
    let stats = get(&c, &api.api("/stats")).await.1;
    assert_eq!(
        stats,
        json!({"amenities": 1, "cities": 0, "places": 0, "reviews": 0, "states": 0, "users": 1})
    );
    // The link went with the place: the amenity can be deleted and nothing is left dangling.
    let storage = hbnb_storage::Database::connect(&api.db.url).await.unwrap();
    assert!(storage.amenities_of_place(&place).await.unwrap().is_empty());
    storage.close().await;
}

hbnb_tests::all_engines!(
    status_and_routing,
    stats_deltas,
    states,
    cities,
    amenities,
    users,
    places,
    reviews,
    place_amenities,
    cascades,
);
