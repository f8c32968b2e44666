//! One error type for the proxy, in the spirit of Pingora's: it knows which side failed
//! (upstream, downstream = the client, or us) and whether trying another instance is safe.

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
    #[error("upstream {upstream} did not answer within {timeout:?}")]
    UpstreamTimeout {
        upstream: String,
        timeout: std::time::Duration,
    },
    /// The request was (at least partly) sent and then the upstream failed.
    #[error("upstream {upstream} failed: {source}")]
    Upstream {
        upstream: String,
        #[source]
        source: hyper::Error,
    },
    #[error("request body larger than {limit} bytes")]
    BodyTooLarge { limit: u64 },
    #[error("client sent its body too slowly")]
    ClientTimeout,
    #[error("client body could not be read: {0}")]
    ClientBody(String),
    #[error("bad request: {0}")]
    BadRequest(&'static str),
    #[error("not found")]
    NotFound,
    #[error("route answers {0}")]
    Status(StatusCode),
    #[error("internal error: {0}")]
    Internal(String),
}

impl ProxyError {
    pub fn side(&self) -> Side {
        match self {
            Self::Connect { .. } | Self::UpstreamTimeout { .. } | Self::Upstream { .. } => {
                Side::Upstream
            }
            Self::BodyTooLarge { .. }
            | Self::ClientTimeout
            | Self::ClientBody(_)
            | Self::BadRequest(_)
            | Self::NotFound
            | Self::Status(_) => Side::Downstream,
            Self::Internal(_) => Side::Internal,
        }
    }

    /// Safe to try another instance: only when nothing reached the upstream.
    pub fn retryable(&self) -> bool {
        matches!(self, Self::Connect { .. })
    }
}

impl ResponseError for ProxyError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Connect { .. } | Self::Upstream { .. } => StatusCode::BAD_GATEWAY,
            Self::UpstreamTimeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            Self::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::ClientTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::ClientBody(_) | Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Status(status) => *status,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Short, and never the internal detail (that goes to the log).
    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        HttpResponse::build(status)
            .content_type("text/plain; charset=utf-8")
            .body(format!(
                "{} {}\n",
                status.as_u16(),
                status.canonical_reason().unwrap_or("Error")
            ))
    }
}
