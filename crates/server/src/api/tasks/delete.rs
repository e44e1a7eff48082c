use axum::extract::State;
use axum::http::StatusCode;

use super::parse_task_id;
use crate::api::auth::Caller;
use crate::api::error::{ApiResult, ErrorBody};
use crate::api::extract::AppPath;
use crate::app::AppState;

/// Delete a task and its outputs (also seed 004's `DELETE /api/v1/task/{task_id}`).
#[utoipa::path(delete, path = "/tasks/{id}", tag = "tasks",
    params(("id" = String, Path, description = "Task id")),
    responses((status = 204, description = "Deleted"), (status = 404, body = ErrorBody)))]
pub async fn delete_task(
    State(state): State<AppState>,
    Caller(caller): Caller,
    AppPath(id): AppPath<String>,
) -> ApiResult<StatusCode> {
    state.tasks.delete(&caller, parse_task_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}
