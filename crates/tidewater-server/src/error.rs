//! Errors of the HTTP API: every failure becomes a status and an [`ErrorBody`] saying what was
//! wrong, and whether sending the request again may succeed.
//!
//! Status mapping: InvalidArgument 400, Unauthenticated 401, PermissionDenied 403, NotFound 404,
//! AlreadyExists and Conflict 409, TooLarge 413, ResourceExhausted 429 and Unavailable 503 (both
//! with `Retry-After`), Corrupted and Internal 500.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tidewater_format::ErrorKind;
use tidewater_format::api::{ErrorBody, ErrorDetail};

/// A failed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub kind: &'static str,
    pub message: String,
    pub retry_after_secs: Option<u64>,
}

impl ApiError {
    fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            kind,
            message: message.into(),
            retry_after_secs: None,
        }
    }

    pub fn unauthenticated(message: impl Into<String>) -> ApiError {
        Self::new(StatusCode::UNAUTHORIZED, "Unauthenticated", message)
    }

    pub fn forbidden(message: impl Into<String>) -> ApiError {
        Self::new(StatusCode::FORBIDDEN, "PermissionDenied", message)
    }

    pub fn invalid(message: impl Into<String>) -> ApiError {
        Self::new(StatusCode::BAD_REQUEST, "InvalidArgument", message)
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        Self::new(StatusCode::NOT_FOUND, "NotFound", message)
    }

    pub fn too_large(message: impl Into<String>) -> ApiError {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "InvalidArgument", message)
    }

    /// 429 with a retry hint.
    pub fn busy(message: impl Into<String>, retry_after_secs: u64) -> ApiError {
        ApiError {
            retry_after_secs: Some(retry_after_secs),
            ..Self::new(StatusCode::TOO_MANY_REQUESTS, "ResourceExhausted", message)
        }
    }

    pub fn internal(message: impl Into<String>) -> ApiError {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal", message)
    }

    pub fn from_kind(kind: ErrorKind, message: String) -> ApiError {
        let (status, name) = match kind {
            ErrorKind::NotFound => (StatusCode::NOT_FOUND, "NotFound"),
            ErrorKind::AlreadyExists => (StatusCode::CONFLICT, "AlreadyExists"),
            ErrorKind::InvalidArgument => (StatusCode::BAD_REQUEST, "InvalidArgument"),
            ErrorKind::Conflict => (StatusCode::CONFLICT, "Conflict"),
            ErrorKind::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "Unavailable"),
            ErrorKind::ResourceExhausted => (StatusCode::TOO_MANY_REQUESTS, "ResourceExhausted"),
            ErrorKind::Corrupted => (StatusCode::INTERNAL_SERVER_ERROR, "Corrupted"),
            ErrorKind::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "Internal"),
            ErrorKind::PermissionDenied => (StatusCode::FORBIDDEN, "PermissionDenied"),
        };
        let retry =
            matches!(kind, ErrorKind::Unavailable | ErrorKind::ResourceExhausted).then_some(1);
        ApiError {
            retry_after_secs: retry,
            ..Self::new(status, name, message)
        }
    }

    pub fn retryable(&self) -> bool {
        matches!(
            self.status,
            StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
        ) || self.kind == "Internal"
    }
}

impl From<tidewater_engine::Error> for ApiError {
    fn from(e: tidewater_engine::Error) -> Self {
        ApiError::from_kind(e.kind(), e.to_string())
    }
}

impl From<tidewater_sql::Error> for ApiError {
    fn from(e: tidewater_sql::Error) -> Self {
        ApiError::from_kind(e.kind(), e.to_string())
    }
}

impl From<tidewater_format::Error> for ApiError {
    fn from(e: tidewater_format::Error) -> Self {
        ApiError::from_kind(e.kind(), e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::warn!(status = %self.status, message = %self.message, "request failed");
        } else {
            tracing::debug!(status = %self.status, message = %self.message, "request rejected");
        }
        let retryable = self.retryable();
        let body = ErrorBody {
            error: ErrorDetail {
                kind: self.kind.to_string(),
                message: self.message,
                retryable,
            },
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(secs) = self.retry_after_secs {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

pub type ApiResult<T> = std::result::Result<T, ApiError>;
