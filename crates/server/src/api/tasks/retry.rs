use axum::extract::State;
use axum::response::Response;

use super::create::task_created_response;
use super::parse_task_id;
use crate::api::auth::Caller;
use crate::api::error::{ApiResult, ErrorBody};
use crate::api::extract::AppPath;
use crate::api::views::TaskView;
use crate::app::AppState;

/// Run an ended task again: a new task with the same input, linked by `retry_of`.
#[utoipa::path(post, path = "/tasks/{id}/retry", tag = "tasks",
    params(("id" = String, Path, description = "Task id")),
    responses((status = 202, body = TaskView), (status = 404, body = ErrorBody), (status = 409, description = "Still running", body = ErrorBody)))]
pub async fn retry_task(
    State(state): State<AppState>,
    Caller(caller): Caller,
    AppPath(id): AppPath<String>,
) -> ApiResult<Response> {
    let task = state.tasks.retry(&caller, parse_task_id(&id)?).await?;
    Ok(task_created_response(&task, true, None))
}
