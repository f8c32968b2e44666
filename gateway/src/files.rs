//! Static files for a `static_dir` route (Nginx's `alias`): conditional requests (ETag,
//! Last-Modified, 304), ranges and content types come from actix-files' `NamedFile`. The path is
//! checked here first, so nothing outside the directory can ever be named.

use std::path::{Path, PathBuf};

use actix_web::{HttpRequest, HttpResponse};

use crate::error::ProxyError;

/// The file below `dir` that the (still percent-encoded) `rest` of the path names, if it is a safe
/// name: no `..`, no hidden segments, no encoded slashes or backslashes, no NUL.
pub fn safe_path(dir: &Path, rest: &str) -> Result<PathBuf, ProxyError> {
    let lowered = rest.to_ascii_lowercase();
    if lowered.contains("%2f") || lowered.contains("%5c") || lowered.contains("%00") {
        return Err(ProxyError::BadRequest("encoded separator in path"));
    }
    let decoded = percent_decode(rest).ok_or(ProxyError::BadRequest("bad percent-encoding"))?;
    let mut path = dir.to_path_buf();
    for segment in decoded.split('/') {
        if segment.is_empty() {
            continue;
        }
        if segment.starts_with('.') || segment.contains('\\') || segment.contains('\0') {
            return Err(ProxyError::NotFound);
        }
        path.push(segment);
    }
    Ok(path)
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

pub async fn serve(req: &HttpRequest, dir: &Path, rest: &str) -> Result<HttpResponse, ProxyError> {
    use actix_web::http::Method;
    if !matches!(*req.method(), Method::GET | Method::HEAD) {
        return Err(ProxyError::Status(
            actix_web::http::StatusCode::METHOD_NOT_ALLOWED,
        ));
    }
    let path = safe_path(dir, rest)?;
    let file = match actix_files::NamedFile::open_async(&path).await {
        Ok(file) => file,
        Err(_) => return Err(ProxyError::NotFound),
    };
    if file.metadata().is_dir() {
        return Err(ProxyError::NotFound);
    }
    Ok(file.into_response(req))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traversal_is_refused() {
        let dir = Path::new("/srv/static");
        assert_eq!(
            safe_path(dir, "styles/4-common.css").unwrap(),
            Path::new("/srv/static/styles/4-common.css")
        );
        assert!(matches!(
            safe_path(dir, "../Cargo.toml"),
            Err(ProxyError::NotFound)
        ));
        assert!(matches!(
            safe_path(dir, "%2e%2e/Cargo.toml"),
            Err(ProxyError::NotFound)
        ));
        assert!(matches!(
            safe_path(dir, "a/%2E%2E/%2e%2e/x"),
            Err(ProxyError::NotFound)
        ));
        assert!(matches!(
            safe_path(dir, "..%2fCargo.toml"),
            Err(ProxyError::BadRequest(_))
        ));
        assert!(matches!(
            safe_path(dir, "a%5c..%5cx"),
            Err(ProxyError::BadRequest(_))
        ));
        assert!(matches!(
            safe_path(dir, ".git/config"),
            Err(ProxyError::NotFound)
        ));
        assert!(matches!(
            safe_path(dir, "%zz"),
            Err(ProxyError::BadRequest(_))
        ));
    }
}
