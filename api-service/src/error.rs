//! The one error type of the API: every failure becomes `{"error": "<message>"}` ([`ErrorBody`])
//! with its status. Internal errors are logged with their cause and answered without it.

use actix_web::error::PayloadError;
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use hbnb_storage::StorageError;
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("Not found")]
    NotFound,
    #[error("Not a JSON")]
    NotAJson,
    /// A 400 with this exact message ("Missing name", "name must be a string", ...).
    #[error("{0}")]
    BadRequest(String),
    #[error("Request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("Method not allowed")]
    MethodNotAllowed { allow: &'static str },
    #[error("Service unavailable")]
    Unavailable(#[source] StorageError),
    /// Too much work of one kind queued (password hashing): answered at once, with when to retry.
    #[error("Too many requests of this kind at once; retry in {retry_after} s")]
    Busy { retry_after: u32 },
    #[error("Internal server error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Every error answer: 400 (with the spec's exact message), 404 `Not found`, 405, 413, 503.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"error": "Not found"}))]
pub struct ErrorBody {
    pub error: String,
}

/// Seconds a client is told to wait after a 503 for a database that is down or cannot be
/// reached: a restart or a short network cut is over in seconds, and the pool tries again on
/// the next request (there is nothing to reset by hand).
pub const UNAVAILABLE_RETRY_AFTER: u32 = 2;

impl ApiError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::BadRequest(message.into())
    }
}

impl From<StorageError> for ApiError {
    fn from(error: StorageError) -> Self {
        match error {
            StorageError::MissingReference => ApiError::NotFound,
            error if error.is_unavailable() => ApiError::Unavailable(error),
            error => ApiError::Internal(Box::new(error)),
        }
    }
}

/// The client's body stream failed (reset, bad chunked encoding).
impl From<PayloadError> for ApiError {
    fn from(error: PayloadError) -> Self {
        ApiError::bad_request(format!("Cannot read the body: {error}"))
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::NotAJson | ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Unavailable(_) | ApiError::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            ApiError::Internal(cause) => tracing::error!(error = %cause, "internal error"),
            ApiError::Unavailable(cause) => tracing::warn!(error = %cause, "database unavailable"),
            _ => {}
        }
        let mut response = HttpResponse::build(self.status_code()).json(ErrorBody {
            error: self.to_string(),
        });
        match self {
            ApiError::MethodNotAllowed { allow } => {
                response
                    .headers_mut()
                    .insert(header::ALLOW, HeaderValue::from_static(allow));
            }
            ApiError::Busy { retry_after } => {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after));
            }
            ApiError::Unavailable(_) => {
                response.headers_mut().insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(UNAVAILABLE_RETRY_AFTER),
                );
            }
            _ => {}
        }
        response
    }
}
