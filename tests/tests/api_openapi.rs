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
