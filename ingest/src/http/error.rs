//! Errors as HTTP responses: a status and `{"error": "..."}`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use fluxkv_store::StoreError;

/// A failed request: its status and a message a user can act on.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) message: String,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
        }
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, message)
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        let status = match &err {
            StoreError::ValueTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            StoreError::NotAnInteger | StoreError::NotAFloat => StatusCode::CONFLICT,
            StoreError::Overflow | StoreError::NanOrInfinity => StatusCode::UNPROCESSABLE_ENTITY,
            StoreError::NoSuchKey => StatusCode::NOT_FOUND,
            StoreError::SeqUnavailable { .. } => StatusCode::GONE,
            StoreError::AofPoisoned { .. } | StoreError::ShuttingDown => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, err.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": self.message });
        (self.status, Json(body)).into_response()
    }
}

/// The fallback for paths no route matches.
pub(crate) async fn no_route() -> ApiError {
    ApiError::not_found("no such endpoint (see /v1/kv/{key}, /v1/watch, /healthz)")
}

/// The fallback for a known path with a method it does not take.
pub(crate) async fn wrong_method() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method not allowed on this endpoint",
    )
}
