//! Request bodies: read with a size limit, parsed as a JSON object, and typed field by field so
//! that bad input is a clear 400 (or 413), never a 500.

use actix_web::http::header;
use actix_web::{web, HttpRequest};
use futures_util::StreamExt;
use serde_json::{Map, Value};

use crate::error::ApiError;

/// Bodies larger than this answer 413.
pub const MAX_BODY: usize = 1024 * 1024;

pub type Object = Map<String, Value>;

/// An over-long body is still read (and dropped) up to this size before the 413 goes out, so a
/// client still sending it gets the answer rather than a reset connection.
const DRAIN_LIMIT: usize = 8 * MAX_BODY;

/// Reads the whole body, refusing more than `MAX_BODY` bytes with 413.
pub async fn read(req: &HttpRequest, mut payload: web::Payload) -> Result<Vec<u8>, ApiError> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let mut too_large = declared.is_some_and(|n| n > MAX_BODY as u64);
    let mut body = Vec::new();
    let mut seen = 0usize;
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|e| ApiError::bad_request(format!("Cannot read the body: {e}")))?;
        seen = seen.saturating_add(chunk.len());
        if seen > MAX_BODY {
            too_large = true;
        }
        if too_large {
            if seen > DRAIN_LIMIT {
                break;
            }
            continue;
        }
        body.extend_from_slice(&chunk);
    }
    if too_large {
        return Err(ApiError::PayloadTooLarge { limit: MAX_BODY });
    }
    Ok(body)
}

/// True for `application/json` and `application/<anything>+json`, any parameters.
fn is_json_content_type(req: &HttpRequest) -> bool {
    let Some(value) = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// The body as a JSON object: "Not a JSON" for another content type, a body that does not parse,
/// or JSON that is not an object.
pub async fn object(req: &HttpRequest, payload: web::Payload) -> Result<Object, ApiError> {
    let bytes = read(req, payload).await?;
    if !is_json_content_type(req) {
        return Err(ApiError::NotAJson);
    }
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(ApiError::NotAJson),
    }
}

fn check_text(key: &str, text: &str, max: usize) -> Result<(), ApiError> {
    if text.contains('\0') {
        return Err(ApiError::bad_request(format!(
            "{key} must not contain NUL characters"
        )));
    }
    if text.chars().count() > max {
        return Err(ApiError::bad_request(format!(
            "{key} is too long (at most {max} characters)"
        )));
    }
    Ok(())
}

/// A required-by-type string field: None when absent, 400 when not a string or invalid.
pub fn string(body: &Object, key: &str, max: usize) -> Result<Option<String>, ApiError> {
    match body.get(key) {
        None => Ok(None),
        Some(Value::String(text)) => {
            check_text(key, text, max)?;
            Ok(Some(text.clone()))
        }
        Some(_) => Err(ApiError::bad_request(format!("{key} must be a string"))),
    }
}

/// A nullable string column: None when absent, Some(None) for null.
pub fn nullable_string(
    body: &Object,
    key: &str,
    max: usize,
) -> Result<Option<Option<String>>, ApiError> {
    match body.get(key) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::String(text)) => {
            check_text(key, text, max)?;
            Ok(Some(Some(text.clone())))
        }
        Some(_) => Err(ApiError::bad_request(format!(
            "{key} must be a string or null"
        ))),
    }
}

/// An INT column (NOT NULL).
pub fn integer(body: &Object, key: &str) -> Result<Option<i32>, ApiError> {
    match body.get(key) {
        None => Ok(None),
        Some(value) => value
            .as_i64()
            .and_then(|n| i32::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "{key} must be an integer between {} and {}",
                    i32::MIN,
                    i32::MAX
                ))
            }),
    }
}

/// A nullable FLOAT column.
pub fn nullable_number(body: &Object, key: &str) -> Result<Option<Option<f64>>, ApiError> {
    match body.get(key) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::Number(n)) => n
            .as_f64()
            .filter(|f| f.is_finite())
            .map(|f| Some(Some(f)))
            .ok_or_else(|| ApiError::bad_request(format!("{key} must be a number or null"))),
        Some(_) => Err(ApiError::bad_request(format!(
            "{key} must be a number or null"
        ))),
    }
}

/// An id in a URL or a body, normalised (lower-case, hyphenated). None when it is not a UUID:
/// such an id names nothing.
pub fn parse_id(text: &str) -> Option<String> {
    uuid::Uuid::try_parse(text)
        .ok()
        .map(|id| id.hyphenated().to_string())
}
