//! One error type for the proxy, in the spirit of Pingora's: it knows which side failed
//! (upstream, downstream = the client, or us) and whether trying another instance is safe.

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Upstream,
    Downstream,
    Internal,
}

#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// Nothing was sent: connection refused, unreachable, or the handshake failed.
    #[error("cannot connect to {upstream}: {reason}")]
    Connect { upstream: String, reason: String },
    /// The connection failed before the request left (hyper handed the request back).
    #[error("upstream {upstream} closed the connection before the request was sent: {source}")]
    Unsent {
        upstream: String,
        #[source]
        source: hyper::Error,
    },
    /// The request was (at least partly) sent, and the upstream failed before answering.
    #[error("upstream {upstream} failed: {source}")]
    Upstream {
        upstream: String,
        #[source]
        source: hyper::Error,
    },
    #[error("upstream {upstream} did not answer within {timeout:?}")]
    UpstreamTimeout { upstream: String, timeout: Duration },
    /// Every connection a worker may open to the instance stayed in use for the connect
    /// timeout (`UPSTREAM_MAX_CONNECTIONS`): nothing was sent.
    #[error("every connection to {upstream} is busy")]
    UpstreamBusy { upstream: String },
    #[error("request body larger than {limit} bytes")]
    BodyTooLarge { limit: u64 },
    #[error("client sent its body too slowly")]
    ClientTimeout,
    #[error("client body could not be read: {0}")]
    ClientBody(String),
    #[error("bad request: {0}")]
    BadRequest(&'static str),
    #[error("request target longer than {limit} bytes")]
    UriTooLong { limit: usize },
    #[error("request headers too large: {0}")]
    HeadersTooLarge(&'static str),
    #[error("not found")]
    NotFound,
    /// The client's rate limit on this route is spent (Nginx's `limit_req`).
    #[error("rate limit reached; retry after {retry_after} s")]
    RateLimited { retry_after: u64 },
    /// The client has too many connections open (Nginx's `limit_conn`).
    #[error("too many connections from this client")]
    TooManyConnections,
    #[error("route answers {0}")]
    Status(StatusCode),
    #[error("internal error: {0}")]
    Internal(String),
}

impl ProxyError {
    pub fn side(&self) -> Side {
        match self {
            Self::Connect { .. }
            | Self::Unsent { .. }
            | Self::Upstream { .. }
            | Self::UpstreamTimeout { .. }
            | Self::UpstreamBusy { .. } => Side::Upstream,
            Self::BodyTooLarge { .. }
            | Self::ClientTimeout
            | Self::ClientBody(_)
            | Self::BadRequest(_)
            | Self::UriTooLong { .. }
            | Self::HeadersTooLarge(_)
            | Self::NotFound
            | Self::RateLimited { .. }
            | Self::TooManyConnections
            | Self::Status(_) => Side::Downstream,
            Self::Internal(_) => Side::Internal,
        }
    }

    /// Whether the request may be sent again, to another instance: always when nothing reached
    /// the upstream; when it may have been seen, only if repeating it is harmless, i.e. the
    /// request is `replayable` (an idempotent method, RFC 9110 §9.2.2, whose whole body we kept).
    /// A timeout is never retried: the upstream may still be working on it.
    pub fn retryable(&self, replayable: bool) -> bool {
        match self {
            Self::Connect { .. } | Self::Unsent { .. } | Self::UpstreamBusy { .. } => true,
            Self::Upstream { .. } => replayable,
            _ => false,
        }
    }
}

impl ResponseError for ProxyError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Connect { .. } | Self::Unsent { .. } | Self::Upstream { .. } => {
                StatusCode::BAD_GATEWAY
            }
            Self::UpstreamTimeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            Self::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::ClientTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::ClientBody(_) | Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::UriTooLong { .. } => StatusCode::URI_TOO_LONG,
            Self::HeadersTooLarge(_) => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::TooManyConnections | Self::UpstreamBusy { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Status(status) => *status,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Short, and never the internal detail (that goes to the log); a client's own mistake is
    /// named, so it can be fixed.
    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let reason = status.canonical_reason().unwrap_or("Error");
        let body = match self {
            Self::BadRequest(what) => format!("{} {reason}: {what}\n", status.as_u16()),
            Self::HeadersTooLarge(what) => format!("{} {reason}: {what}\n", status.as_u16()),
            Self::UriTooLong { limit } => {
                format!("{} {reason}: longer than {limit} bytes\n", status.as_u16())
            }
            _ => format!("{} {reason}\n", status.as_u16()),
        };
        let mut response = HttpResponse::build(status);
        match self {
            Self::RateLimited { retry_after } => {
                response.insert_header((actix_web::http::header::RETRY_AFTER, *retry_after));
            }
            Self::UpstreamBusy { .. } => {
                response.insert_header((actix_web::http::header::RETRY_AFTER, 1));
            }
            // This connection was not counted: it must not stay open.
            Self::TooManyConnections => {
                response.force_close();
            }
            _ => {}
        }
        response
            .content_type("text/plain; charset=utf-8")
            .body(body)
    }
}
