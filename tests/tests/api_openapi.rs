//! The OpenAPI document and the Swagger UI page of the api-service: the document lists exactly
//! the routes of spec §4 (written out here independently of the handlers' annotations), every
//! documented operation is really routed, and the docs page works with no network.

use std::collections::BTreeSet;

use hbnb_tests::client;
use hbnb_tests::db::{Api, Engine};
use serde_json::{json, Value};

/// Spec §4.2–4.5, one line per operation.
const SPEC_OPERATIONS: &[(&str, &str)] = &[
    ("get", "/api/v1/status"),
    ("get", "/api/v1/stats"),
    ("get", "/api/v1/states"),
    ("post", "/api/v1/states"),
    ("get", "/api/v1/states/{id}"),
    ("put", "/api/v1/states/{id}"),
    ("delete", "/api/v1/states/{id}"),
    ("get", "/api/v1/states/{state_id}/cities"),
    ("post", "/api/v1/states/{state_id}/cities"),
    ("get", "/api/v1/cities/{id}"),
    ("put", "/api/v1/cities/{id}"),
    ("delete", "/api/v1/cities/{id}"),
    ("get", "/api/v1/amenities"),
    ("post", "/api/v1/amenities"),
    ("get", "/api/v1/amenities/{id}"),
    ("put", "/api/v1/amenities/{id}"),
    ("delete", "/api/v1/amenities/{id}"),
    ("get", "/api/v1/users"),
    ("post", "/api/v1/users"),
    ("get", "/api/v1/users/{id}"),
    ("put", "/api/v1/users/{id}"),
    ("delete", "/api/v1/users/{id}"),
    ("get", "/api/v1/cities/{city_id}/places"),
    ("post", "/api/v1/cities/{city_id}/places"),
    ("get", "/api/v1/places/{id}"),
    ("put", "/api/v1/places/{id}"),
    ("delete", "/api/v1/places/{id}"),
    ("post", "/api/v1/places_search"),
    ("get", "/api/v1/places/{place_id}/reviews"),
    ("post", "/api/v1/places/{place_id}/reviews"),
    ("get", "/api/v1/reviews/{id}"),
    ("put", "/api/v1/reviews/{id}"),
    ("delete", "/api/v1/reviews/{id}"),
    ("get", "/api/v1/places/{place_id}/amenities"),
    ("post", "/api/v1/places/{place_id}/amenities/{amenity_id}"),
    ("delete", "/api/v1/places/{place_id}/amenities/{amenity_id}"),
];

async fn document(api: &Api) -> Value {
    let response = client()
        .get(api.api("/openapi.json"))
        .header("Origin", "http://example.test")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/json",
        "the document's content type"
    );
    assert_eq!(
        response.headers()["access-control-allow-origin"],
        "http://example.test",
        "CORS like every /api/v1 route"
    );
    response.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_covers_every_route_and_every_documented_route_answers() {
    let api = Api::start(Engine::Sqlite).await;
    let doc = document(&api).await;
    assert!(
        doc["openapi"].as_str().unwrap_or("").starts_with("3."),
        "an OpenAPI 3 document: {}",
        doc["openapi"]
    );
    assert_eq!(doc["info"]["title"], "HBNB REST API");

    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("a path item") {
            assert!(
                operation["responses"]
                    .as_object()
                    .is_some_and(|r| !r.is_empty()),
                "{method} {path} documents its responses"
            );
            documented.insert((method.clone(), path.clone()));
        }
    }
    let spec: BTreeSet<(String, String)> = SPEC_OPERATIONS
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    let missing: Vec<_> = spec.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&spec).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "document vs spec §4: missing {missing:?}, not in the spec {extra:?}"
    );

    // Each documented operation is routed: with ids that name nothing it answers 404 "Not found"
    // or 400/200, never 405 (a route the server lacks) and never 5xx.
    let nobody = "00000000-0000-4000-8000-000000000000";
    let http = client();
    for (method, path) in &documented {
        let url = api.url(
            &path
                .replace("{id}", nobody)
                .replace("{state_id}", nobody)
                .replace("{city_id}", nobody)
                .replace("{place_id}", nobody)
                .replace("{amenity_id}", nobody),
        );
        let request = match method.as_str() {
            "get" => http.get(&url),
            "delete" => http.delete(&url),
            "post" => http.post(&url).json(&json!({})),
            "put" => http.put(&url).json(&json!({})),
            other => panic!("unexpected method {other} in the document"),
        };
        let status = request.send().await.unwrap().status().as_u16();
        assert!(
            matches!(status, 200 | 201 | 400 | 404),
            "{method} {url} answered {status}: the document names a route the server does not serve"
        );
    }
    // And a method the document does not list for a path is refused.
    let patch = http
        .patch(api.api(&format!("/states/{nobody}")))
        .send()
        .await
        .unwrap();
    assert_eq!(patch.status(), 405);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_docs_page_is_served_from_the_binary() {
    let api = Api::start(Engine::Sqlite).await;
    let http = client();
    for prefix in ["/api/docs", "/apidocs"] {
        let redirect = http.get(api.url(prefix)).send().await.unwrap();
        assert_eq!(redirect.status(), 308, "{prefix} redirects to the page");
        assert_eq!(redirect.headers()["location"], format!("{prefix}/"));

        let page = http
            .get(api.url(&format!("{prefix}/")))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 200, "{prefix}/");
        assert!(page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"));
        let html = page.text().await.unwrap();
        assert!(
            html.contains("swagger-ui"),
            "{prefix}/ is the Swagger UI page"
        );
        // Every script and style the page loads is served by the api-service itself (no CDN).
        for asset in [
            "swagger-ui-bundle.js",
            "swagger-ui.css",
            "swagger-initializer.js",
        ] {
            assert!(
                html.contains(&format!("./{asset}")),
                "{prefix}/ loads {asset} from beside it"
            );
            let response = http
                .get(api.url(&format!("{prefix}/{asset}")))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200, "{prefix}/{asset}");
            let body = response.text().await.unwrap();
            if asset == "swagger-initializer.js" {
                assert!(
                    body.contains("/api/v1/openapi.json"),
                    "the page reads our document: {body}"
                );
            } else {
                assert!(body.len() > 10_000, "{prefix}/{asset} is the real file");
            }
        }
        assert!(
            !html.contains("http://") && !html.contains("https://"),
            "{prefix}/ refers to no other host"
        );
    }
}

/// The methods each path answers, from spec §4 (`HEAD` wherever `GET` is, `OPTIONS` everywhere).
fn spec_methods(path: &str) -> String {
    let mut methods: BTreeSet<String> = SPEC_OPERATIONS
        .iter()
        .filter(|(_, p)| *p == path)
        .map(|(m, _)| m.to_uppercase())
        .collect();
    if methods.contains("GET") {
        methods.insert("HEAD".to_owned());
    }
    methods.insert("OPTIONS".to_owned());
    methods.into_iter().collect::<Vec<_>>().join(", ")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn options_and_405_list_exactly_the_methods_each_path_answers() {
    let api = Api::start(Engine::Sqlite).await;
    let doc = document(&api).await;
    let http = client();
    let nobody = "00000000-0000-4000-8000-000000000000";
    let paths: BTreeSet<&str> = SPEC_OPERATIONS.iter().map(|(_, p)| *p).collect();
    for path in paths {
        let expected = spec_methods(path);
        let mut documented: BTreeSet<String> = doc["paths"][path]
            .as_object()
            .unwrap_or_else(|| panic!("{path} is documented"))
            .keys()
            .map(|m| m.to_uppercase())
            .collect();
        if documented.contains("GET") {
            documented.insert("HEAD".to_owned());
        }
        documented.insert("OPTIONS".to_owned());
        assert_eq!(
            documented.into_iter().collect::<Vec<_>>().join(", "),
            expected,
            "{path}: the document's methods"
        );
        let concrete = path
            .split('/')
            .map(|s| if s.starts_with('{') { nobody } else { s })
            .collect::<Vec<_>>()
            .join("/");
        for url in [api.url(&concrete), api.url(&format!("{concrete}/"))] {
            let r = http
                .request(reqwest::Method::OPTIONS, &url)
                .header("Origin", "http://web.example:5003")
                .header("Access-Control-Request-Method", "GET")
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "OPTIONS {url}");
            for name in ["allow", "access-control-allow-methods"] {
                assert_eq!(
                    r.headers().get(name).and_then(|v| v.to_str().ok()),
                    Some(expected.as_str()),
                    "OPTIONS {url}: {name}"
                );
            }
            assert_eq!(
                r.headers()["access-control-allow-origin"],
                "http://web.example:5003",
                "OPTIONS {url}"
            );
            // A method the path does not answer: 405 with the same list.
            let r = http
                .request(reqwest::Method::PATCH, &url)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 405, "PATCH {url}");
            assert_eq!(
                r.headers()["allow"],
                expected.as_str(),
                "PATCH {url}: allow"
            );
        }
    }
    // A path that is no resource: OPTIONS answers 404 like every other method there.
    for path in ["/api/v1/nope", "/api/v1/states/x/y/z", "/api/v1/"] {
        let r = http
            .request(reqwest::Method::OPTIONS, api.url(path))
            .header("Access-Control-Request-Method", "GET")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "OPTIONS {path}");
        assert!(
            r.headers().get("allow").is_none(),
            "OPTIONS {path}: no Allow"
        );
        assert_eq!(r.headers()["access-control-allow-origin"], "*");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body, json!({"error": "Not found"}), "OPTIONS {path}");
    }
}

/// The schema `reference` points at (`#/components/schemas/<name>`), or the schema itself.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(reference) => {
            let name = reference
                .strip_prefix("#/components/schemas/")
                .unwrap_or_else(|| panic!("a component reference: {reference}"));
            let target = &doc["components"]["schemas"][name];
            assert!(target.is_object(), "{reference} resolves");
            resolve(doc, target)
        }
        None => schema,
    }
}

/// Whether a property's schema admits null (`type: [.., "null"]` or a `oneOf` with null).
fn nullable(doc: &Value, schema: &Value) -> bool {
    let schema = resolve(doc, schema);
    let by_type = schema["type"]
        .as_array()
        .is_some_and(|types| types.contains(&json!("null")));
    let by_one_of = schema["oneOf"]
        .as_array()
        .is_some_and(|options| options.iter().any(|o| nullable(doc, o)));
    by_type || by_one_of || schema["type"] == "null"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_says_what_each_body_takes_and_what_each_operation_answers() {
    let api = Api::start(Engine::Sqlite).await;
    let doc = document(&api).await;
    let text = doc.to_string();
    for reference in text.split("\"$ref\":\"").skip(1) {
        let reference = &reference[..reference.find('"').unwrap()];
        resolve(&doc, &json!({ "$ref": reference }));
    }
    let body = |method: &str, path: &str| -> Value {
        resolve(
            &doc,
            &doc["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"],
        )
        .clone()
    };
    // (operation, required keys, keys that refuse null, keys that take null, key: maxLength)
    let place_numbers = [
        "number_rooms",
        "number_bathrooms",
        "max_guest",
        "price_by_night",
    ];
    type Expect<'a> = (
        &'a str,
        &'a str,
        Vec<&'a str>,
        Vec<&'a str>,
        Vec<&'a str>,
        Vec<(&'a str, u64)>,
    );
    let expectations: Vec<Expect> = vec![
        (
            "post",
            "/api/v1/states",
            vec!["name"],
            vec!["name"],
            vec![],
            vec![("name", 128)],
        ),
        (
            "put",
            "/api/v1/states/{id}",
            vec![],
            vec!["name"],
            vec![],
            vec![("name", 128)],
        ),
        (
            "put",
            "/api/v1/cities/{id}",
            vec![],
            vec!["name"],
            vec![],
            vec![("name", 128)],
        ),
        (
            "put",
            "/api/v1/amenities/{id}",
            vec![],
            vec!["name"],
            vec![],
            vec![("name", 128)],
        ),
        (
            "post",
            "/api/v1/users",
            vec!["email", "password"],
            vec!["email", "password"],
            vec!["first_name", "last_name"],
            vec![("email", 128), ("password", 128)],
        ),
        (
            "put",
            "/api/v1/users/{id}",
            vec![],
            vec!["password"],
            vec!["first_name", "last_name"],
            vec![("password", 128), ("first_name", 128)],
        ),
        (
            "post",
            "/api/v1/cities/{city_id}/places",
            vec!["user_id", "name"],
            [vec!["user_id", "name"], place_numbers.to_vec()].concat(),
            vec!["description", "latitude", "longitude"],
            vec![("name", 128), ("description", 1024)],
        ),
        (
            "put",
            "/api/v1/places/{id}",
            vec![],
            [vec!["name"], place_numbers.to_vec()].concat(),
            vec!["description", "latitude", "longitude"],
            vec![("description", 1024)],
        ),
        (
            "post",
            "/api/v1/places/{place_id}/reviews",
            vec!["user_id", "text"],
            vec!["user_id", "text"],
            vec![],
            vec![("text", 1024)],
        ),
        (
            "put",
            "/api/v1/reviews/{id}",
            vec![],
            vec!["text"],
            vec![],
            vec![("text", 1024)],
        ),
        (
            "post",
            "/api/v1/places_search",
            vec![],
            vec![],
            vec!["states", "cities", "amenities"],
            vec![],
        ),
    ];
    for (method, path, required, not_null, null, lengths) in expectations {
        let schema = body(method, path);
        let what = format!("{method} {path}");
        let mut got: Vec<&str> = schema["required"]
            .as_array()
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        got.sort_unstable();
        let mut want = required.clone();
        want.sort_unstable();
        assert_eq!(got, want, "{what}: required");
        assert_ne!(
            schema["additionalProperties"],
            json!(false),
            "{what}: other keys are ignored, so allowed"
        );
        let properties = &schema["properties"];
        for key in not_null {
            assert!(
                !nullable(&doc, &properties[key]),
                "{what}: {key} refuses null"
            );
        }
        for key in null {
            assert!(nullable(&doc, &properties[key]), "{what}: {key} takes null");
        }
        for (key, max) in lengths {
            let text = resolve(&doc, &properties[key]);
            let text = text["oneOf"]
                .as_array()
                .and_then(|o| o.iter().find(|s| s.get("$ref").is_some()))
                .map_or(text, |s| resolve(&doc, s));
            assert_eq!(text["maxLength"], max, "{what}: {key} maxLength");
        }
        for number in place_numbers
            .iter()
            .filter(|n| properties.get(**n).is_some())
        {
            let int = resolve(&doc, &properties[*number]);
            assert_eq!(
                (int["minimum"].as_i64(), int["maximum"].as_i64()),
                (Some(i32::MIN.into()), Some(i32::MAX.into())),
                "{what}: {number}"
            );
        }
        let answers = doc["paths"][path][method]["responses"].as_object().unwrap();
        for status in ["400", "413", "503"] {
            assert!(answers.contains_key(status), "{what} documents {status}");
        }
    }
    // Every operation: its statuses, each answered in JSON; 503 wherever the database is used.
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let answers = operation["responses"].as_object().unwrap();
            for (status, answer) in answers {
                assert!(
                    answer["content"]["application/json"]["schema"].is_object(),
                    "{method} {path} {status}: JSON"
                );
            }
            let by_id = path.contains('{');
            assert_eq!(
                answers.contains_key("404"),
                by_id,
                "{method} {path}: 404 exactly when the URL names an object"
            );
            assert_eq!(
                answers.contains_key("503"),
                path != "/api/v1/status",
                "{method} {path}: 503"
            );
        }
    }
    // The answers' shape: __class__ and every column, always present, nothing else (no password).
    let user = &doc["components"]["schemas"]["User"];
    assert_eq!(user["additionalProperties"], json!(false));
    assert_eq!(user["properties"]["__class__"]["enum"], json!(["User"]));
    assert!(user["properties"].get("password").is_none());
    let mut keys: Vec<&str> = user["required"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "__class__",
            "created_at",
            "email",
            "first_name",
            "id",
            "last_name",
            "updated_at"
        ]
    );
}
