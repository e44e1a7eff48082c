//! The errors the core hands to its callers, named for what a caller can act on.
//! Adapters convert their own errors into these; the server maps each variant to
//! an HTTP answer in one place (`server/src/api/error.rs`).

use std::time::Duration;

use serde_json::Value;

pub type Result<T, E = CoreError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// The input breaks a rule; `details` names the field and the rule.
    #[error("{message}")]
    InvalidInput { message: String, details: Value },

    /// The thing asked for does not exist (or is not visible to the caller).
    #[error("{what} not found")]
    NotFound { what: &'static str },

    /// The request conflicts with the current state (cancel a completed task, reuse an
    /// idempotency key with another body).
    #[error("{message}")]
    Conflict { code: &'static str, message: String },

    /// A model exists in the catalog but its provider is not configured.
    #[error("model {model} is not available: set {config_key} to enable it")]
    ModelUnavailable { model: String, config_key: String },

    /// Too much work is queued; try again after the given time.
    #[error("{message}")]
    Overloaded { message: String, retry_after: Duration },

    /// The queue (`scope` overall, or the caller's part of it) holds `limit` tasks
    /// or more; `retry_after` is how long it takes to drain enough at the rate it
    /// drains now.
    #[error("the queue is full: {queued} tasks wait ({scope} limit {limit}); try again later", scope = scope.as_str())]
    QueueFull {
        scope: crate::task::QueueScope,
        queued: u64,
        limit: u64,
        drain_per_second: Option<f64>,
        retry_after: Duration,
    },

    /// A daily quota (seed 001) is spent until `retry_after` from now.
    #[error("the daily quota of {limit} tasks for {scope} is spent; it renews at midnight UTC")]
    QuotaExceeded { scope: String, limit: u64, retry_after: Duration },

    /// No valid credential: 401. `code` is `unauthorized`, or `totp_required` when a
    /// sign-in needs its second factor.
    #[error("{message}")]
    Unauthenticated { code: &'static str, message: String },

    /// No engine can run the model now (seed 002's 503: no GPU worker seen lately
    /// and no fallback allowed); the details say why and when to try again.
    #[error("{message}")]
    EngineUnavailable { message: String, details: Value, retry_after: Duration },

    /// The caller is known but may not do this: 403.
    #[error("{message}")]
    Forbidden { message: String },

    /// The store (database) failed.
    #[error("storage failed: {0}")]
    Storage(String),

    /// The blob store failed.
    #[error("blob storage failed: {0}")]
    Blob(String),

    /// A disk Atelier writes to is full (the database's, or the file store's):
    /// storage is unavailable until space returns.
    #[error("{} is full: {detail}", part.disk())]
    StorageFull { part: crate::storage::StoragePart, detail: String },

    /// A source Atelier reads from broke off (a provider's download ended half-way):
    /// not a fault of Atelier's storage.
    #[error("reading from the source failed: {0}")]
    Upstream(String),
}

impl CoreError {
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        Self::InvalidInput {
            details: serde_json::json!({ "field": field, "reason": message }),
            message: format!("{field}: {message}"),
        }
    }
}
