//! The one error shape every route answers with, seed 004's:
//! `{"error": "<stable_code>", "message": "...", "details": {...}}`, plus
//! `retry_after` (and a `Retry-After` header) on 429 and 503. Core errors map here,
//! exhaustively; 5xx bodies say nothing of internals, which are logged instead.

use std::time::Duration;

use atelier_core::CoreError;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

/// How soon to ask again when a disk is full: freeing space takes a person minutes.
const DISK_FULL_RETRY: Duration = Duration::from_secs(30);

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub details: Option<Value>,
    pub retry_after: Option<Duration>,
}

/// The body of every error answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// A stable code: `validation_error`, `not_found`, `rate_limit_exceeded`, …
    pub error: &'static str,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<Value>,
    /// Seconds to wait before trying again (429 and 503).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), details: None, retry_after: None }
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", format!("{what} not found"))
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub fn validation(message: impl Into<String>, details: Value) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "validation_error", message).with_details(details)
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "something went wrong on our side; it has been logged",
        )
    }
}

/// A file refused by `atelier_assets::vet` (a bomb, a file cut short, a polyglot):
/// 422 with the refusal's code (`image_too_large`, `image_undecodable`, …).
impl From<atelier_assets::VetError> for ApiError {
    fn from(refused: atelier_assets::VetError) -> Self {
        let mut details = refused.details();
        if let Some(map) = details.as_object_mut() {
            map.insert("field".into(), "file".into());
        }
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, refused.code(), refused.to_string()).with_details(details)
    }
}

impl From<CoreError> for ApiError {
    fn from(error: CoreError) -> Self {
        match error {
            CoreError::InvalidInput { message, details } => {
                // A file the asset store refused keeps the refusal's own code.
                match details.get("code").and_then(Value::as_str).and_then(atelier_assets::vet::known_code) {
                    Some(code) => Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, message).with_details(details),
                    None => Self::validation(message, details),
                }
            }
            CoreError::NotFound { what } => Self::not_found(what),
            CoreError::Conflict { code, message } => Self::new(StatusCode::CONFLICT, code, message),
            CoreError::ModelUnavailable { model, config_key } => {
                let env_var = format!("ATELIER__{}", config_key.replace('.', "__").to_ascii_uppercase());
                Self::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "model_unavailable",
                    format!("model {model} is not configured: set {config_key} in the config file, or {env_var}"),
                )
                .with_details(serde_json::json!({ "field": "model", "model": model, "config_key": config_key, "env_var": env_var }))
            }
            CoreError::Overloaded { message, retry_after } => Self {
                retry_after: Some(retry_after),
                ..Self::new(StatusCode::TOO_MANY_REQUESTS, "rate_limit_exceeded", message)
            },
            // Seed 004's clients know a full queue as `rate_limit_exceeded`; the
            // details say which limit it is and how fast the queue drains.
            CoreError::QueueFull { scope, queued, limit, drain_per_second, retry_after } => Self {
                retry_after: Some(retry_after),
                ..Self::new(StatusCode::TOO_MANY_REQUESTS, "rate_limit_exceeded", error.to_string()).with_details(
                    serde_json::json!({
                        "reason": "queue_full",
                        "scope": scope.as_str(),
                        "queued": queued,
                        "limit": limit,
                        "drain_per_second": drain_per_second.map(|rate| (rate * 10.0).round() / 10.0),
                    }),
                )
            },
            CoreError::QuotaExceeded { ref scope, limit, retry_after } => Self {
                retry_after: Some(retry_after),
                ..Self::new(StatusCode::TOO_MANY_REQUESTS, "quota_exceeded", error.to_string())
                    .with_details(serde_json::json!({ "scope": scope, "limit": limit }))
            },
            CoreError::Unauthenticated { code, message } => Self::new(StatusCode::UNAUTHORIZED, code, message),
            CoreError::EngineUnavailable { message, details, retry_after } => Self {
                retry_after: Some(retry_after),
                ..Self::new(StatusCode::SERVICE_UNAVAILABLE, "engine_unavailable", message).with_details(details)
            },
            CoreError::Forbidden { message } => Self::new(StatusCode::FORBIDDEN, "forbidden", message),
            CoreError::Storage(detail) => {
                tracing::error!(error = %detail, "storage error");
                Self {
                    retry_after: Some(Duration::from_secs(1)),
                    ..Self::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "storage_unavailable",
                        "the database is not answering; try again shortly",
                    )
                }
            }
            CoreError::StorageFull { part, ref detail } => {
                tracing::error!(error = %detail, part = part.as_str(), "disk full");
                Self {
                    retry_after: Some(DISK_FULL_RETRY),
                    ..Self::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "storage_unavailable",
                        format!("{} is full; nothing was written, try again once space is freed", part.disk()),
                    )
                    .with_details(serde_json::json!({ "reason": "disk_full", "part": part.as_str() }))
                }
            }
            CoreError::Upstream(detail) => Self::new(
                StatusCode::BAD_GATEWAY,
                "upstream_failed",
                format!("reading from the source failed: {detail}"),
            ),
            CoreError::Blob(detail) => {
                tracing::error!(error = %detail, "blob storage error");
                Self {
                    retry_after: Some(Duration::from_secs(1)),
                    ..Self::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "storage_unavailable",
                        "file storage is not answering; try again shortly",
                    )
                }
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let retry_after = self.retry_after.map(|delay| delay.as_secs().max(1));
        let body = ErrorBody { error: self.code, message: self.message, details: self.details, retry_after };
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(seconds) = retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}
