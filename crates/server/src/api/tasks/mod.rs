//! `/api/v1/tasks`: the native task API.

mod attach;
mod cancel;
mod create;
mod delete;
mod events;
mod get;
mod list;
mod retry;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;

pub use create::{CreateTaskRequest, idempotency_key, named_model, request_hash, wait_preference};

pub(crate) use delete::delete_task;
pub(crate) use get::get_task;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create::create_task, list::list_tasks))
        .routes(routes!(get::get_task, delete::delete_task))
        .routes(routes!(cancel::cancel_task))
        .routes(routes!(retry::retry_task))
        .routes(routes!(attach::attach_external_id))
        .routes(routes!(events::task_events))
}

/// Parses a task id from a path; a malformed id is simply not found.
pub(crate) fn parse_task_id(id: &str) -> Result<atelier_core::TaskId, crate::api::error::ApiError> {
    id.parse().map_err(|_| crate::api::error::ApiError::not_found("task"))
}
