//! Byte for byte the same answers on the three engines: one script of requests (creates,
//! updates, links, lists, searches, the spec's errors, a cascading delete) runs against an
//! api-service on SQLite, one on PostgreSQL and one on MariaDB; every status, content type and
//! body must be identical once the ids (random) and timestamps (the clock) are replaced by their
//! order of first appearance. Timestamps' format is checked on the raw bytes first.

use hbnb_tests::client;
use hbnb_tests::db::{Api, Engine};
use regex::Regex;
use serde_json::{json, Value};

/// One exchange as text: method, path (normalized), status, content type, body (normalized).
type Transcript = Vec<String>;

struct Normalizer {
    ids: Vec<String>,
    timestamps: Vec<String>,
    uuid: Regex,
    timestamp: Regex,
    /// The one format every timestamp has: `%Y-%m-%dT%H:%M:%S.%f`.
    exact: Regex,
}

impl Normalizer {
    fn new() -> Normalizer {
        Normalizer {
            ids: Vec::new(),
            timestamps: Vec::new(),
            uuid: Regex::new(
                r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}",
            )
            .unwrap(),
            exact: Regex::new(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}$")
                .unwrap(),
            timestamp: Regex::new(
                r#""([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[^"]*)""#,
            )
            .unwrap(),
        }
    }

    fn apply(&mut self, text: &str) -> String {
        let mut out = String::new();
        let mut last = 0;
        for found in self.uuid.find_iter(text) {
            let n = match self.ids.iter().position(|id| id == found.as_str()) {
                Some(n) => n,
                None => {
                    self.ids.push(found.as_str().to_owned());
                    self.ids.len() - 1
                }
            };
            out += &text[last..found.start()];
            out += &format!("<id{n}>");
            last = found.end();
        }
        out += &text[last..];
        let text = out;
        let mut out = String::new();
        let mut last = 0;
        for found in self.timestamp.captures_iter(&text) {
            let whole = found.get(0).unwrap();
            let value = &found[1];
            assert!(self.exact.is_match(value), "timestamp {value:?} in {text}");
            let n = match self.timestamps.iter().position(|t| t == value) {
                Some(n) => n,
                None => {
                    self.timestamps.push(value.to_owned());
                    self.timestamps.len() - 1
                }
            };
            out += &text[last..whole.start()];
            out += &format!("\"<t{n}>\"");
            last = whole.end();
        }
        out += &text[last..];
        out
    }
}

async fn script(engine: Engine) -> Transcript {
    let api = Api::start(engine).await;
    let c = client();
    let mut norm = Normalizer::new();
    let mut transcript = Vec::new();
    let mut ids: Vec<String> = Vec::new();
    // `{n}` in a path or body is the id created by the n-th create (0-based).
    let mut call = async |method: &str, path: &str, body: Option<Value>| -> Value {
        let fill = |text: &str, ids: &[String]| {
            let mut text = text.to_owned();
            for (n, id) in ids.iter().enumerate().rev() {
                text = text.replace(&format!("{{{n}}}"), id);
            }
            text
        };
        let url = api.api(&fill(path, &ids));
        let request = match method {
            "GET" => c.get(&url),
            "POST" => c.post(&url),
            "PUT" => c.put(&url),
            "DELETE" => c.delete(&url),
            _ => unreachable!(),
        };
        let request = match &body {
            Some(Value::String(raw)) => request
                .header("content-type", "application/json")
                .body(raw.clone()),
            Some(body) => request
                .json(&serde_json::from_str::<Value>(&fill(&body.to_string(), &ids)).unwrap()),
            None => request,
        };
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let text = response.text().await.unwrap();
        if method == "POST" && status == 201 {
            let value: Value = serde_json::from_str(&text).unwrap();
            if let Some(id) = value["id"].as_str() {
                ids.push(id.to_owned());
            }
        }
        let line = format!(
            "{method} {path} -> {status} {content_type} {}",
            norm.apply(&text)
        );
        transcript.push(line);
        serde_json::from_str(&text).unwrap_or(Value::Null)
    };
    // ids: 0 California, 1 Nevada, 2 San Francisco, 3 Los Angeles, 4 user, 5 place, 6 Wifi,
    // 7 Pool, 8 review, 9 second place
    call("POST", "/states", Some(json!({"name": "California"}))).await;
    call("POST", "/states", Some(json!({"name": "Nevada"}))).await;
    call(
        "POST",
        "/states/{0}/cities",
        Some(json!({"name": "San Francisco"})),
    )
    .await;
    call(
        "POST",
        "/states/{0}/cities",
        Some(json!({"name": "Los Angeles"})),
    )
    .await;
    call(
        "POST",
        "/users",
        Some(json!({"email": "ada@example.com", "password": "pw", "first_name": "Ada"})),
    )
    .await;
    call(
        "POST",
        "/cities/{2}/places",
        Some(
            json!({"user_id": "{4}", "name": "Loft ünïcødé 🏠", "description": "a\nb \"c\" <d>",
                    "number_rooms": 2, "latitude": 37.7749, "longitude": -122.4194}),
        ),
    )
    .await;
    call("POST", "/amenities", Some(json!({"name": "Wifi"}))).await;
    call("POST", "/amenities", Some(json!({"name": "Pool"}))).await;
    call(
        "POST",
        "/places/{5}/reviews",
        Some(json!({"user_id": "{4}", "text": "Great"})),
    )
    .await;
    call(
        "POST",
        "/cities/{3}/places",
        Some(json!({"user_id": "{4}", "name": &"é".repeat(128), "price_by_night": 90})),
    )
    .await;
    call("POST", "/places/{5}/amenities/{6}", None).await;
    call("POST", "/places/{5}/amenities/{6}", None).await;
    call("POST", "/places/{9}/amenities/{7}", None).await;
    call(
        "PUT",
        "/states/{0}",
        Some(json!({"name": "CA", "id": "ignored"})),
    )
    .await;
    call(
        "PUT",
        "/places/{5}",
        Some(json!({"price_by_night": 100, "latitude": null})),
    )
    .await;
    call("PUT", "/users/{4}", Some(json!({"last_name": "Lovelace"}))).await;
    call("PUT", "/reviews/{8}", Some(json!({"text": "Great!"}))).await;
    for path in [
        "/states",
        "/states/{0}",
        "/states/{0}/cities",
        "/cities/{2}/places",
        "/places/{5}",
        "/places/{5}/reviews",
        "/places/{5}/amenities",
        "/users",
        "/amenities",
        "/stats",
    ] {
        call("GET", path, None).await;
    }
    for filters in [
        json!({}),
        json!({"states": ["{0}"]}),
        json!({"cities": ["{3}"]}),
        json!({"states": ["{1}"], "cities": ["{2}"]}),
        json!({"amenities": ["{6}"]}),
        json!({"amenities": ["{6}", "{7}"]}),
        json!({"states": ["{0}"], "amenities": ["{7}"]}),
        json!({"cities": ["00000000-0000-4000-8000-000000000000"]}),
    ] {
        call("POST", "/places_search", Some(filters)).await;
    }
    // The spec's errors.
    call("GET", "/states/no-such-id", None).await;
    call("GET", "/states/00000000-0000-4000-8000-000000000000", None).await;
    call("POST", "/states", Some(json!({}))).await;
    call(
        "POST",
        "/states",
        Some(Value::String("not json".to_owned())),
    )
    .await;
    call(
        "POST",
        "/states/00000000-0000-4000-8000-000000000000/cities",
        Some(json!({"name": "x"})),
    )
    .await;
    call(
        "POST",
        "/cities/{2}/places",
        Some(json!({"user_id": "00000000-0000-4000-8000-000000000000", "name": "x"})),
    )
    .await;
    call(
        "POST",
        "/places/{5}/amenities/00000000-0000-4000-8000-000000000000",
        None,
    )
    .await;
    call("DELETE", "/places/{5}/amenities/{7}", None).await;
    call("DELETE", "/places/{5}/amenities/{6}", None).await;
    // A cascade: California takes its cities, their places, reviews and links.
    call("DELETE", "/states/{0}", None).await;
    call("DELETE", "/states/{0}", None).await;
    for path in [
        "/stats",
        "/places/{5}",
        "/reviews/{8}",
        "/states",
        "/amenities",
        "/users/{4}",
    ] {
        call("GET", path, None).await;
    }
    call("DELETE", "/users/{4}", None).await;
    call("GET", "/stats", None).await;
    transcript
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_three_engines_answer_byte_for_byte_alike() {
    let (sqlite, postgres, mariadb) = tokio::join!(
        script(Engine::Sqlite),
        script(Engine::Postgres),
        script(Engine::Mysql)
    );
    if std::env::var_os("PRINT_TRANSCRIPT").is_some() {
        eprintln!("{}", mariadb.join("\n"));
    }
    assert!(sqlite.len() > 50);
    for (n, line) in sqlite.iter().enumerate() {
        assert_eq!(
            &postgres[n], line,
            "PostgreSQL differs from SQLite at exchange {n}"
        );
        assert_eq!(
            &mariadb[n], line,
            "MariaDB differs from SQLite at exchange {n}"
        );
    }
    assert_eq!(sqlite.len(), postgres.len());
    assert_eq!(sqlite.len(), mariadb.len());
}
