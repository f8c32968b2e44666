//! Small helpers for the API tests: send JSON, get (status, JSON body) back.

use reqwest::{Method, StatusCode};
use serde_json::Value;

/// Sends `method url` with an optional JSON body; returns the status and the body parsed as JSON
/// (`Value::Null` when it is empty or not JSON).
pub async fn call(
    client: &reqwest::Client,
    method: Method,
    url: &str,
    body: Option<&Value>,
) -> (StatusCode, Value) {
    let mut request = client.request(method.clone(), url);
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request
        .send()
        .await
        .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

pub async fn get(client: &reqwest::Client, url: &str) -> (StatusCode, Value) {
    call(client, Method::GET, url, None).await
}

pub async fn post(client: &reqwest::Client, url: &str, body: &Value) -> (StatusCode, Value) {
    call(client, Method::POST, url, Some(body)).await
}

pub async fn put(client: &reqwest::Client, url: &str, body: &Value) -> (StatusCode, Value) {
    call(client, Method::PUT, url, Some(body)).await
}

pub async fn delete(client: &reqwest::Client, url: &str) -> (StatusCode, Value) {
    call(client, Method::DELETE, url, None).await
}

/// Sends raw bytes with the given content type (None: no Content-Type header).
pub async fn raw(
    client: &reqwest::Client,
    method: Method,
    url: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> (StatusCode, Value) {
    let mut request = client.request(method.clone(), url).body(body);
    if let Some(content_type) = content_type {
        request = request.header("Content-Type", content_type);
    }
    let response = request
        .send()
        .await
        .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Asserts the status and the `{"error": message}` body.
#[track_caller]
pub fn assert_error(got: &(StatusCode, Value), status: u16, message: &str) {
    assert_eq!(got.0.as_u16(), status, "status; body {}", got.1);
    assert_eq!(got.1, serde_json::json!({ "error": message }), "body");
}

/// The `id` of a created object.
#[track_caller]
pub fn id_of(value: &Value) -> String {
    value["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {value}"))
        .to_owned()
}
