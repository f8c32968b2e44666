//! The access-log line: one per request, written when its response is done (for a streamed
//! answer, when the last byte has gone or the client left).

use std::sync::Arc;
use std::time::{Duration, Instant};

/// Characters of a request's path written in its log line.
const MAX_LOGGED_PATH: usize = 1024;

/// What the access-log line says about one request.
pub struct AccessRecord {
    pub method: actix_web::http::Method,
    pub path: String,
    pub status: u16,
    pub upstream: Option<Arc<str>>,
    pub upstream_time: Option<Duration>,
    /// Attempts beyond the first (another instance, or a fresh connection).
    pub retries: u32,
    pub started: Instant,
    pub request_id: String,
}

impl AccessRecord {
    pub fn new(method: actix_web::http::Method, path: &str, request_id: String) -> Self {
        // A client chooses its path's length (up to the edge's limit): keep log lines short.
        let path = match path.char_indices().nth(MAX_LOGGED_PATH) {
            Some((end, _)) => format!("{}...", &path[..end]),
            None => path.to_owned(),
        };
        Self {
            method,
            path,
            status: 0,
            upstream: None,
            upstream_time: None,
            retries: 0,
            started: Instant::now(),
            request_id,
        }
    }

    pub fn log(&self, bytes: u64, complete: bool) {
        let upstream_ms = self.upstream_time.map(|t| t.as_secs_f64() * 1000.0);
        let total_ms = self.started.elapsed().as_secs_f64() * 1000.0;
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
