//! `/api/v1/tasks`: the native task API.

mod cancel;
mod create;
mod delete;
mod events;
mod get;
mod list;
mod retry;

use axum::Router;
use axum::routing::{get, post};

use crate::app::AppState;

pub use cancel::__path_cancel_task;
pub use create::{__path_create_task, CreateTaskRequest, idempotency_key, request_hash, wait_preference};
pub use delete::__path_delete_task;
pub use events::__path_task_events;
pub use get::__path_get_task;
pub use list::__path_list_tasks;
pub use retry::__path_retry_task;

pub(crate) use delete::delete_task;
pub(crate) use get::get_task;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/tasks", post(create::create_task).get(list::list_tasks))
        .route("/tasks/{id}", get(get::get_task).delete(delete::delete_task))
        .route("/tasks/{id}/cancel", post(cancel::cancel_task))
        .route("/tasks/{id}/retry", post(retry::retry_task))
        .route("/tasks/{id}/events", get(events::task_events))
}

/// Parses a task id from a path; a malformed id is simply not found.
pub(crate) fn parse_task_id(id: &str) -> Result<atelier_core::TaskId, crate::api::error::ApiError> {
    id.parse().map_err(|_| crate::api::error::ApiError::not_found("task"))
}
