//! A static folder served from memory: what web-dynamic serves under `/static/` and what the
//! gateway serves itself for a `static_dir` route (Nginx's `alias`), with one set of rules.
//!
//! Every file is read once, when the folder is loaded (at start; the gateway reloads on SIGHUP),
//! fingerprinted (the `cache_id` of asset URLs) and, when it is text, compressed once with gzip
//! and brotli. A request is then answered from memory: no file is opened and no worker waits on
//! the disk. The answers are those of actix-files (`ETag` = inode:size:mtime, `Last-Modified`,
//! 304 on `If-None-Match`/`If-Modified-Since`, 412 on `If-Match`/`If-Unmodified-Since`, one
//! `Range`, `Content-Disposition: inline`), plus our caching rule: a request whose `cache_id` is
//! the file's current fingerprint may be cached for a year (`immutable`); any other must
//! revalidate (`no-cache`). Files larger than `MAX_IN_MEMORY` are streamed from disk by
//! actix-files under the same rules.
//!
//! The path guard refuses what could name something outside the folder: encoded slashes or
//! backslashes and NUL (400), `..` and hidden segments, also percent-encoded (404).

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use actix_web::http::header::{
    self, ContentDisposition, DispositionParam, DispositionType, EntityTag, HeaderMap, HeaderValue,
    HttpDate,
};
use actix_web::http::{Method, StatusCode};
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse};
use sha2::{Digest, Sha256};

use crate::pages::html_error;

/// `Cache-Control` for a fingerprinted URL whose fingerprint is current.
pub const LONG_CACHE: &str = "public, max-age=31536000, immutable";
/// `Cache-Control` for everything else.
pub const REVALIDATE: &str = "no-cache";
/// Larger files are streamed from disk instead of kept in memory.
pub const MAX_IN_MEMORY: u64 = 1024 * 1024;
/// Past this much of a folder in memory, the remaining files are streamed from disk too.
pub const MAX_FOLDER_IN_MEMORY: u64 = 64 * 1024 * 1024;

/// The files of one folder, keyed by their path relative to it (`/` separators).
#[derive(Debug)]
pub struct StaticFiles {
    dir: PathBuf,
    files: HashMap<String, StaticFile>,
}

#[derive(Debug)]
struct StaticFile {
    /// The first 16 hex digits of the content's SHA-256.
    fingerprint: String,
    content_type: HeaderValue,
    disposition: HeaderValue,
    etag: EntityTag,
    modified: SystemTime,
    last_modified: HeaderValue,
    /// None: too large to keep, streamed from `path`.
    body: Option<Bytes>,
    gzip: Option<Bytes>,
    brotli: Option<Bytes>,
    path: PathBuf,
}

impl StaticFiles {
    /// Reads every file below `dir` (blocking: call it before serving, or on a blocking thread).
    /// Only regular files (symbolic links followed) are served; directories are walked, but
    /// not through links, so a link cannot make the walk loop.
    pub fn load(dir: &Path) -> io::Result<StaticFiles> {
        let mut files = HashMap::new();
        let mut in_memory = 0;
        let mut pending = vec![dir.to_path_buf()];
        while let Some(current) = pending.pop() {
            for entry in std::fs::read_dir(&current)? {
                let entry = entry?;
                let path = entry.path();
                if entry.file_type()?.is_dir() {
                    pending.push(path);
                    continue;
                }
                if !std::fs::metadata(&path).is_ok_and(|m| m.is_file()) {
                    continue; // a socket, a FIFO, a dangling link: nothing to serve
                }
                let Ok(relative) = path.strip_prefix(dir) else {
                    continue;
                };
                let key = relative
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join("/");
                let keep = in_memory < MAX_FOLDER_IN_MEMORY;
                let file = StaticFile::read(path, keep)?;
                in_memory += file.body.as_ref().map_or(0, |b| b.len() as u64);
                files.insert(key, file);
            }
        }
        Ok(StaticFiles {
            dir: dir.to_path_buf(),
            files,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn fingerprint(&self, path: &str) -> Option<&str> {
        self.files.get(path).map(|f| f.fingerprint.as_str())
    }

    /// `/static/<path>?cache_id=<fingerprint>`, or None when the file does not exist.
    pub fn url(&self, path: &str) -> Option<String> {
        self.fingerprint(path)
            .map(|id| format!("/static/{path}?cache_id={id}"))
    }

    /// Every file and its fingerprint, sorted (for logs).
    pub fn listing(&self) -> BTreeMap<&str, &str> {
        self.files
            .iter()
            .map(|(k, v)| (k.as_str(), v.fingerprint.as_str()))
            .collect()
    }

    /// Answers a request for `raw` (the path below the folder's URL prefix, still
    /// percent-encoded).
    pub async fn serve(&self, req: &HttpRequest, raw: &str) -> HttpResponse {
        if !matches!(*req.method(), Method::GET | Method::HEAD) {
            let mut response = html_error(StatusCode::METHOD_NOT_ALLOWED);
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            return response;
        }
        let relative = match safe_relative_path(raw) {
            Ok(relative) => relative,
            Err(status) => return html_error(status),
        };
        let Some(file) = self.files.get(&relative) else {
            return html_error(StatusCode::NOT_FOUND);
        };
        let fresh = cache_id(req.query_string()) == Some(file.fingerprint.as_str());
        let mut response = match &file.body {
            Some(body) => file.respond(req, body),
            None => match actix_files::NamedFile::open_async(&file.path).await {
                Ok(named) => named.prefer_utf8(true).into_response(req),
                Err(_) => return html_error(StatusCode::NOT_FOUND),
            },
        };
        let status = response.status();
        if status.is_success() || status == StatusCode::NOT_MODIFIED {
            let cache = if fresh { LONG_CACHE } else { REVALIDATE };
            let headers = response.headers_mut();
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
            if relative.ends_with(".js") {
                // What browsers and the course's Flask send for scripts.
                headers.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/javascript; charset=utf-8"),
                );
            }
        }
        response
    }
}

impl StaticFile {
    fn read(path: PathBuf, keep: bool) -> io::Result<StaticFile> {
        use std::os::unix::fs::MetadataExt as _;
        let metadata = std::fs::metadata(&path)?;
        let modified = metadata.modified().unwrap_or(UNIX_EPOCH);
        let since_epoch = modified.duration_since(UNIX_EPOCH).unwrap_or_default();
        let etag = EntityTag::new_strong(format!(
            "{:x}:{:x}:{:x}:{:x}",
            metadata.ino(),
            metadata.len(),
            since_epoch.as_secs(),
            since_epoch.subsec_nanos()
        ));
        let content = std::fs::read(&path)?;
        let fingerprint = hex::encode(&Sha256::digest(&content)[..8]);
        let mime = mime_guess::from_path(&path).first_or_octet_stream();
        let compressible = is_compressible(&mime);
        let content_type = header_value(utf8_text(mime).as_ref());
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let disposition = header_value(
            &ContentDisposition {
                disposition: DispositionType::Inline,
                parameters: vec![DispositionParam::Filename(name)],
            }
            .to_string(),
        );
        let (body, gzip, brotli) = if !keep || metadata.len() > MAX_IN_MEMORY {
            (None, None, None)
        } else if compressible {
            let gzip = smaller(gzip(&content)?, content.len());
            let brotli = smaller(brotli(&content)?, content.len());
            (Some(Bytes::from(content)), gzip, brotli)
        } else {
            (Some(Bytes::from(content)), None, None)
        };
        Ok(StaticFile {
            fingerprint,
            content_type,
            disposition,
            etag,
            modified,
            last_modified: header_value(&HttpDate::from(modified).to_string()),
            body,
            gzip,
            brotli,
            path,
        })
    }

    /// The answer for a file kept in memory, as actix-files' `NamedFile::into_response` gives it.
    fn respond(&self, req: &HttpRequest, body: &Bytes) -> HttpResponse {
        let request = req.headers();
        let mut response = HttpResponse::Ok();
        response
            .insert_header((header::CONTENT_TYPE, self.content_type.clone()))
            .insert_header((header::CONTENT_DISPOSITION, self.disposition.clone()))
            .insert_header((header::LAST_MODIFIED, self.last_modified.clone()))
            .insert_header((header::ETAG, header_value(&self.etag.to_string())))
            .insert_header((header::ACCEPT_RANGES, HeaderValue::from_static("bytes")));
        let compressible = self.gzip.is_some() || self.brotli.is_some();
        if compressible {
            response.insert_header((header::VARY, HeaderValue::from_static("accept-encoding")));
        }
        if let Some(range) = request.get(header::RANGE) {
            let length = body.len() as u64;
            let Some(range) = range
                .to_str()
                .ok()
                .and_then(|value| first_range(value, length))
            else {
                return response
                    .status(StatusCode::RANGE_NOT_SATISFIABLE)
                    .insert_header((header::CONTENT_RANGE, format!("bytes */{length}")))
                    .finish();
            };
            if request.contains_key(header::ACCEPT_ENCODING) {
                // A part of the identity bytes; nothing downstream may compress it.
                response.insert_header((header::CONTENT_ENCODING, "identity"));
            }
            if let Some(refused) = self.precondition(request) {
                return response.status(refused).finish();
            }
            return response
                .status(StatusCode::PARTIAL_CONTENT)
                .insert_header((
                    header::CONTENT_RANGE,
                    format!("bytes {}-{}/{length}", range.0, range.1 - 1),
                ))
                .body(body.slice(range.0 as usize..range.1 as usize));
        }
        if let Some(refused) = self.precondition(request) {
            return response.status(refused).finish();
        }
        match self.encoding(request) {
            Some((name, bytes)) => response
                .insert_header((header::CONTENT_ENCODING, name))
                .body(bytes.clone()),
            None => response.body(body.clone()),
        }
    }

    /// 412 or 304 when the request's conditions say so (RFC 9110 §13.2.2 order).
    fn precondition(&self, request: &HeaderMap) -> Option<StatusCode> {
        let etag_listed = |name: header::HeaderName, weak: bool| {
            request.get(name).and_then(|v| v.to_str().ok()).map(|list| {
                list.split(',').map(str::trim).any(|tag| {
                    tag == "*"
                        || tag.parse::<EntityTag>().is_ok_and(|tag| {
                            if weak {
                                tag.weak_eq(&self.etag)
                            } else {
                                tag.strong_eq(&self.etag)
                            }
                        })
                })
            })
        };
        let date = |name: header::HeaderName| {
            request
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<HttpDate>().ok())
                .map(|d| seconds(SystemTime::from(d)))
        };
        let modified = seconds(self.modified);
        if etag_listed(header::IF_MATCH, false) == Some(false)
            || date(header::IF_UNMODIFIED_SINCE).is_some_and(|since| modified > since)
        {
            return Some(StatusCode::PRECONDITION_FAILED);
        }
        let not_modified = match etag_listed(header::IF_NONE_MATCH, true) {
            Some(matched) => matched,
            None => date(header::IF_MODIFIED_SINCE).is_some_and(|since| modified <= since),
        };
        not_modified.then_some(StatusCode::NOT_MODIFIED)
    }

    /// The encoding to send: the client's preferred of brotli and gzip that we have.
    fn encoding(&self, request: &HeaderMap) -> Option<(&'static str, &Bytes)> {
        let accepted = request.get(header::ACCEPT_ENCODING)?.to_str().ok()?;
        let mut best: Option<(f32, &'static str, &Bytes)> = None;
        for item in accepted.split(',') {
            let mut parts = item.split(';');
            let name = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let quality = parts
                .find_map(|p| p.trim().strip_prefix("q=").map(str::trim))
                .map_or(1.0, |q| q.parse::<f32>().unwrap_or(0.0));
            let candidates: &[(&'static str, &Option<Bytes>)] = match name.as_str() {
                "br" => &[("br", &self.brotli)],
                "gzip" | "x-gzip" => &[("gzip", &self.gzip)],
                "*" => &[("br", &self.brotli), ("gzip", &self.gzip)],
                _ => &[],
            };
            for (encoding, bytes) in candidates {
                if let Some(bytes) = bytes {
                    // Ties go to the first listed (brotli before gzip for `*`).
                    if quality > 0.0 && best.as_ref().is_none_or(|(q, _, _)| quality > *q) {
                        best = Some((quality, encoding, bytes));
                    }
                }
            }
        }
        best.map(|(_, name, bytes)| (name, bytes))
    }
}

/// The one range of a `Range: bytes=...` header as `[start, end)`, None when it is not one
/// satisfiable range (the first of several is served, as actix-files does).
fn first_range(value: &str, length: u64) -> Option<(u64, u64)> {
    let spec = value
        .trim()
        .strip_prefix("bytes=")?
        .split(',')
        .next()?
        .trim();
    let (start, end) = spec.split_once('-')?;
    let (start, end) = (start.trim(), end.trim());
    let range = if start.is_empty() {
        let suffix: u64 = end.parse().ok()?;
        if suffix == 0 {
            return None;
        }
        (length.saturating_sub(suffix), length)
    } else {
        let start: u64 = start.parse().ok()?;
        let end = if end.is_empty() {
            length
        } else {
            end.parse::<u64>().ok()?.saturating_add(1).min(length)
        };
        (start, end)
    };
    (range.0 < range.1).then_some(range)
}

fn seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn header_value(text: &str) -> HeaderValue {
    HeaderValue::from_str(text)
        .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"))
}

/// Text types are sent with `charset=utf-8`, as actix-files' `prefer_utf8` does.
fn utf8_text(mime: mime_guess::Mime) -> mime_guess::Mime {
    match (mime.type_(), mime.subtype()) {
        (mime_guess::mime::TEXT, _) | (_, mime_guess::mime::JAVASCRIPT)
            if mime.get_param(mime_guess::mime::CHARSET).is_none() =>
        {
            format!("{mime}; charset=utf-8").parse().unwrap_or(mime)
        }
        _ => mime,
    }
}

fn is_compressible(mime: &mime_guess::Mime) -> bool {
    mime.type_() == mime_guess::mime::TEXT
        || matches!(
            mime.subtype().as_str(),
            "javascript" | "json" | "xml" | "svg" | "wasm"
        )
        || mime.suffix().is_some_and(|s| s == "xml" || s == "json")
}

/// Keeps a compressed copy only when it saves at least a tenth.
fn smaller(compressed: Vec<u8>, original: usize) -> Option<Bytes> {
    (compressed.len() * 10 < original * 9).then(|| Bytes::from(compressed))
}

fn gzip(content: &[u8]) -> io::Result<Vec<u8>> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(content)?;
    encoder.finish()
}

fn brotli(content: &[u8]) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    {
        let mut writer = brotli::CompressorWriter::new(&mut out, 4096, 9, 22);
        writer.write_all(content)?;
    }
    Ok(out)
}

/// The relative path `raw` names, decoded, when it is a safe name below the folder.
pub fn safe_relative_path(raw: &str) -> Result<String, StatusCode> {
    let lowered = raw.to_ascii_lowercase();
    if ["%2f", "%5c", "%00", "\\"]
        .iter()
        .any(|bad| lowered.contains(bad))
    {
        return Err(StatusCode::BAD_REQUEST);
    }
    let decoded = percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| StatusCode::BAD_REQUEST)?;
    if raw
        .split('%')
        .skip(1)
        .any(|rest| rest.len() < 2 || !rest.as_bytes()[..2].iter().all(u8::is_ascii_hexdigit))
    {
        return Err(StatusCode::BAD_REQUEST);
    }
    let mut segments = Vec::new();
    for segment in decoded.split('/') {
        if segment.is_empty() {
            continue;
        }
        if segment.starts_with('.') || segment.contains('\0') {
            return Err(StatusCode::NOT_FOUND);
        }
        segments.push(segment);
    }
    if segments.is_empty() {
        return Err(StatusCode::NOT_FOUND);
    }
    Ok(segments.join("/"))
}

/// The `cache_id` of a query string.
pub fn cache_id(query: &str) -> Option<&str> {
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix("cache_id="))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traversal_is_refused() {
        assert_eq!(
            safe_relative_path("styles/4-common.css").unwrap(),
            "styles/4-common.css"
        );
        assert_eq!(
            safe_relative_path("styles/a%20b.css").unwrap(),
            "styles/a b.css"
        );
        for (path, status) in [
            ("../Cargo.toml", StatusCode::NOT_FOUND),
            ("%2e%2e/Cargo.toml", StatusCode::NOT_FOUND),
            ("a/%2E%2E/%2e%2e/x", StatusCode::NOT_FOUND),
            (".%2e/x", StatusCode::NOT_FOUND),
            (".git/config", StatusCode::NOT_FOUND),
            ("styles/.hidden", StatusCode::NOT_FOUND),
            ("", StatusCode::NOT_FOUND),
            ("..%2fCargo.toml", StatusCode::BAD_REQUEST),
            ("styles%2f..%2fx", StatusCode::BAD_REQUEST),
            ("a%5c..%5cx", StatusCode::BAD_REQUEST),
            ("a\\b", StatusCode::BAD_REQUEST),
            ("a%00", StatusCode::BAD_REQUEST),
            ("%zz", StatusCode::BAD_REQUEST),
            ("%e", StatusCode::BAD_REQUEST),
            ("%ff", StatusCode::BAD_REQUEST),
        ] {
            assert_eq!(safe_relative_path(path), Err(status), "{path}");
        }
    }

    #[test]
    fn reads_the_cache_id() {
        assert_eq!(cache_id("cache_id=abc"), Some("abc"));
        assert_eq!(cache_id("x=1&cache_id=abc"), Some("abc"));
        assert_eq!(cache_id("x=1"), None);
    }

    #[test]
    fn ranges_are_read_like_actix_files() {
        assert_eq!(first_range("bytes=0-9", 100), Some((0, 10)));
        assert_eq!(first_range("bytes=90-", 100), Some((90, 100)));
        assert_eq!(first_range("bytes=-5", 100), Some((95, 100)));
        assert_eq!(first_range("bytes=0-999", 100), Some((0, 100)));
        assert_eq!(first_range("bytes=0-1, 5-6", 100), Some((0, 2)));
        assert_eq!(first_range("bytes=100-", 100), None);
        assert_eq!(first_range("bytes=5-2", 100), None);
        assert_eq!(first_range("items=0-1", 100), None);
        assert_eq!(first_range("bytes=-0", 100), None);
    }
}
