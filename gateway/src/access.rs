//! The access-log line: one per request, written when its response is done (for a streamed
//! answer, when the last byte has gone or the client left). The callers record the request's
//! metrics at the same moment (`crate::metrics::record`).
//!
//! Two formats (`ACCESS_LOG_FORMAT`): `json` (default), a structured line through the log like
//! every other; `combined`, Nginx's `combined` format as a plain line on stdout, for the tools
//! that read Nginx logs (goaccess, fail2ban, ...).

use std::net::IpAddr;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use actix_web::http::header;
use actix_web::HttpRequest;
use hbnb_common::telemetry::JsonLine;

/// Characters of a request's path written in its log line.
const MAX_LOGGED_PATH: usize = 1024;
/// Characters of a header (referer, user agent) written in a `combined` line.
const MAX_LOGGED_HEADER: usize = 512;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AccessLogFormat {
    Json,
    Combined,
}

static FORMAT: OnceLock<AccessLogFormat> = OnceLock::new();

/// Chooses the format once, at start (the first call wins).
pub fn set_format(format: AccessLogFormat) {
    let _ = FORMAT.set(format);
}

fn format() -> AccessLogFormat {
    *FORMAT.get().unwrap_or(&AccessLogFormat::Json)
}

/// What only a `combined` line needs, taken from the request when that format is on.
pub struct CombinedFields {
    remote: Option<IpAddr>,
    /// Method, target (path and query) and version: `GET /x?y HTTP/1.1`.
    request_line: String,
    referer: String,
    user_agent: String,
    time: chrono::DateTime<chrono::Local>,
}

/// What the access-log line says about one request.
pub struct AccessRecord {
    pub method: actix_web::http::Method,
    pub path: String,
    pub status: u16,
    /// The route's metrics label (`None`: no route matched, or refused at the edge).
    pub route: Option<Arc<str>>,
    /// The request body's announced length (`Content-Length`), for the byte counters.
    pub request_bytes: u64,
    pub upstream: Option<Arc<str>>,
    pub upstream_time: Option<Duration>,
    /// Attempts beyond the first (another instance, or a fresh connection).
    pub retries: u32,
    pub started: Instant,
    pub request_id: String,
    combined: Option<Box<CombinedFields>>,
}

fn truncated(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text.to_owned(),
    }
}

impl AccessRecord {
    /// `client`: the request's client (`headers::client_ip`), the line's remote address.
    pub fn new(req: &HttpRequest, client: Option<IpAddr>, request_id: String) -> Self {
        // A client chooses its path's length (up to the edge's limit): keep log lines short.
        let path = truncated(req.path(), MAX_LOGGED_PATH);
        let request_bytes = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let combined = (format() == AccessLogFormat::Combined).then(|| {
            let header = |name| {
                req.headers()
                    .get(name)
                    .map(|v| truncated(&String::from_utf8_lossy(v.as_bytes()), MAX_LOGGED_HEADER))
                    .unwrap_or_else(|| "-".to_owned())
            };
            Box::new(CombinedFields {
                remote: client,
                request_line: format!(
                    "{} {} {:?}",
                    req.method(),
                    truncated(
                        req.uri()
                            .path_and_query()
                            .map_or(req.path(), |p| p.as_str()),
                        MAX_LOGGED_PATH
                    ),
                    req.version()
                ),
                referer: header(header::REFERER),
                user_agent: header(header::USER_AGENT),
                time: chrono::Local::now(),
            })
        });
        Self {
            method: req.method().clone(),
            path,
            status: 0,
            route: None,
            request_bytes,
            upstream: None,
            upstream_time: None,
            retries: 0,
            started: Instant::now(),
            request_id,
            combined,
        }
    }

    pub fn log(&self, bytes: u64, complete: bool) {
        let elapsed = self.started.elapsed();
        if let Some(combined) = &self.combined {
            hbnb_common::telemetry::write_line(&combined_line(combined, self.status, bytes));
            return;
        }
        let upstream_ms = self.upstream_time.map(|t| t.as_secs_f64() * 1000.0);
        let total_ms = elapsed.as_secs_f64() * 1000.0;
        if !tracing::enabled!(target: "access", tracing::Level::INFO) {
            return;
        }
        if let Some(mut line) = JsonLine::start(tracing::Level::INFO, "request") {
            line.field("method", self.method.as_str())
                .field("path", &self.path)
                .field("status", &self.status)
                .field("bytes", &bytes)
                .field("upstream", self.upstream.as_deref().unwrap_or("-"));
            if let Some(upstream_ms) = upstream_ms {
                line.field("upstream_ms", &upstream_ms);
            }
            line.field("total_ms", &total_ms)
                .field("retries", &self.retries)
                .field("request_id", &self.request_id)
                .field("complete", &complete)
                .write("access");
            return;
        }
        tracing::info!(
            target: "access",
            method = %self.method,
            path = %self.path,
            status = self.status,
            bytes,
            upstream = self.upstream.as_deref().unwrap_or("-"),
            upstream_ms,
            total_ms,
            retries = self.retries,
            request_id = %self.request_id,
            complete,
            "request"
        );
    }
}

/// Nginx's `combined`: `$remote_addr - $remote_user [$time_local] "$request" $status
/// $body_bytes_sent "$http_referer" "$http_user_agent"`, with `"` and `\` and control bytes
/// escaped as Nginx does (`\xHH`).
fn combined_line(fields: &CombinedFields, status: u16, bytes: u64) -> String {
    let remote = fields
        .remote
        .map_or_else(|| "-".to_owned(), |ip| ip.to_string());
    format!(
        "{remote} - - [{}] \"{}\" {status} {bytes} \"{}\" \"{}\"\n",
        fields.time.format("%d/%b/%Y:%H:%M:%S %z"),
        escape(&fields.request_line),
        escape(&fields.referer),
        escape(&fields.user_agent),
    )
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'"' | b'\\' | 0..=0x1f | 0x7f.. => out.push_str(&format!("\\x{byte:02X}")),
            _ => out.push(char::from(byte)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn combined_line_is_nginx_combined_with_escapes() {
        let fields = CombinedFields {
            remote: Some("127.0.0.1".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))),
            request_line: "GET /a?b=\"c\" HTTP/1.1".to_owned(),
            referer: "-".to_owned(),
            user_agent: "curl/8.0".to_owned(),
            time: chrono::DateTime::from_timestamp(0, 0)
                .unwrap_or_default()
                .with_timezone(&chrono::Local),
        };
        let line = combined_line(&fields, 200, 12);
        let time = fields.time.format("%d/%b/%Y:%H:%M:%S %z").to_string();
        assert_eq!(
            line,
            format!("127.0.0.1 - - [{time}] \"GET /a?b=\\x22c\\x22 HTTP/1.1\" 200 12 \"-\" \"curl/8.0\"\n")
        );
    }
}
