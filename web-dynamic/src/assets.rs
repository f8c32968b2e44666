//! The static folder: where it is, the content fingerprint of every file in it (computed once at
//! start), and the `/static/` service (actix-files) with our caching rules and traversal guard.
//!
//! Asset URLs in the pages are `/static/<path>?cache_id=<fingerprint>`. A request whose `cache_id`
//! is the file's current fingerprint may be cached for a year (`immutable`); any other request for
//! a static file must revalidate (`no-cache`, answered 304 through ETag / Last-Modified).

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::web;
use hbnb_common::pages::html_error;
use sha2::{Digest, Sha256};

/// `Cache-Control` for a fingerprinted URL whose fingerprint is current.
pub const LONG_CACHE: &str = "public, max-age=31536000, immutable";
/// `Cache-Control` for everything else under `/static/`.
pub const REVALIDATE: &str = "no-cache";

#[derive(Debug)]
pub struct Assets {
    dir: PathBuf,
    /// Path relative to the static folder, with `/` separators → fingerprint.
    fingerprints: HashMap<String, String>,
}

impl Assets {
    /// Reads every file below `dir` and fingerprints it (first 16 hex digits of its SHA-256).
    pub fn load(dir: &Path) -> io::Result<Assets> {
        let mut fingerprints = HashMap::new();
        let mut pending = vec![dir.to_path_buf()];
        while let Some(current) = pending.pop() {
            for entry in std::fs::read_dir(&current)? {
                let entry = entry?;
                let path = entry.path();
                if entry.file_type()?.is_dir() {
                    pending.push(path);
                    continue;
                }
                let Ok(relative) = path.strip_prefix(dir) else {
                    continue;
                };
                let key = relative
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join("/");
                let digest = Sha256::digest(std::fs::read(&path)?);
                let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
                fingerprints.insert(key, hex);
            }
        }
        Ok(Assets {
            dir: dir.to_path_buf(),
            fingerprints,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn fingerprint(&self, path: &str) -> Option<&str> {
        self.fingerprints.get(path).map(String::as_str)
    }

    /// `/static/<path>?cache_id=<fingerprint>`, or None when the file does not exist.
    pub fn url(&self, path: &str) -> Option<String> {
        self.fingerprint(path)
            .map(|id| format!("/static/{path}?cache_id={id}"))
    }

    /// Every file and its fingerprint, sorted (for logs).
    pub fn listing(&self) -> BTreeMap<&str, &str> {
        self.fingerprints
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }
}

/// The static folder: `STATIC_DIR` when given, else the first of the crate's own `static/`
/// (where the build put it), `web-dynamic/static` and `static` that exists.
pub fn find_static_dir(configured: Option<&Path>) -> io::Result<PathBuf> {
    if let Some(dir) = configured {
        return if dir.is_dir() {
            Ok(dir.to_path_buf())
        } else {
            Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("STATIC_DIR {} is not a directory", dir.display()),
            ))
        };
    }
    let candidates = [
        PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/static")),
        PathBuf::from("web-dynamic/static"),
        PathBuf::from("static"),
    ];
    candidates
        .iter()
        .find(|dir| dir.join("styles").is_dir())
        .cloned()
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                "no static folder found: set STATIC_DIR to web-dynamic/static",
            )
        })
}

/// The tera function `asset(path="styles/4-common.css")`: the fingerprinted URL. Its output is
/// ours (a path that exists and hex digits), so it is marked safe; an unknown path fails the
/// render instead of producing a broken link.
pub struct AssetFunction(pub Arc<Assets>);

impl tera::Function for AssetFunction {
    fn call(&self, args: &HashMap<String, serde_json::Value>) -> tera::Result<serde_json::Value> {
        let path = args
            .get("path")
            .and_then(serde_json::Value::as_str)
            .ok_or_else(|| tera::Error::msg("asset() needs path=\"...\""))?;
        self.0
            .url(path)
            .map(serde_json::Value::String)
            .ok_or_else(|| tera::Error::msg(format!("no static file {path:?}")))
    }

    fn is_safe(&self) -> bool {
        true
    }
}

/// Refuses what could name something outside the folder before actix-files sees the path:
/// `..` or hidden segments (also percent-encoded), encoded slashes or backslashes, NUL.
fn suspicious(raw_path: &str) -> Option<StatusCode> {
    let lowered = raw_path.to_ascii_lowercase();
    if ["%2f", "%5c", "%00", "\\"]
        .iter()
        .any(|bad| lowered.contains(bad))
    {
        return Some(StatusCode::BAD_REQUEST);
    }
    let decoded = lowered.replace("%2e", ".");
    if decoded
        .split('/')
        .any(|segment| segment.starts_with('.') || segment.contains("%2e"))
    {
        return Some(StatusCode::NOT_FOUND);
    }
    None
}

fn cache_id(query: &str) -> Option<&str> {
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix("cache_id="))
}

/// Wraps the `/static` scope: traversal guard, `Cache-Control`, and the course's JavaScript
/// content type.
pub async fn static_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let raw_path = req.uri().path().to_owned();
    if let Some(status) = suspicious(&raw_path) {
        let response = html_error(status);
        return Ok(req.into_response(response).map_into_right_body());
    }
    let relative = raw_path.strip_prefix("/static/").unwrap_or("").to_owned();
    let fresh = match req.app_data::<web::Data<Assets>>() {
        Some(assets) => {
            let current = assets.fingerprint(&relative);
            current.is_some() && current == cache_id(req.query_string())
        }
        None => false,
    };
    let mut response = next.call(req).await?;
    let status = response.status();
    if status.is_success() || status == StatusCode::NOT_MODIFIED {
        let headers = response.headers_mut();
        let cache = if fresh { LONG_CACHE } else { REVALIDATE };
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
        if relative.ends_with(".js") && headers.contains_key(header::CONTENT_TYPE) {
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/javascript; charset=utf-8"),
            );
        }
    }
    Ok(response.map_into_left_body())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traversal_is_suspicious() {
        for path in [
            "/static/../Cargo.toml",
            "/static/%2e%2e/Cargo.toml",
            "/static/%2E%2E/Cargo.toml",
            "/static/.%2e/x",
            "/static/styles%2f..%2fx",
            "/static/styles/.hidden",
            "/static/a\\b",
            "/static/a%00",
        ] {
            assert!(suspicious(path).is_some(), "{path}");
        }
        assert_eq!(suspicious("/static/styles/4-common.css"), None);
    }

    #[test]
    fn reads_the_cache_id() {
        assert_eq!(cache_id("cache_id=abc"), Some("abc"));
        assert_eq!(cache_id("x=1&cache_id=abc"), Some("abc"));
        assert_eq!(cache_id("x=1"), None);
    }
}
