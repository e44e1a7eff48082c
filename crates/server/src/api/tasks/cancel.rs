use axum::Json;
use axum::extract::State;

use super::parse_task_id;
use crate::api::auth::Caller;
use crate::api::error::{ApiResult, ErrorBody};
use crate::api::extract::AppPath;
use crate::api::views::TaskView;
use crate::app::AppState;

/// Cancel a task that has not ended. A running task's result is discarded.
#[utoipa::path(post, path = "/tasks/{id}/cancel", tag = "tasks",
    params(("id" = String, Path, description = "Task id")),
    responses((status = 200, body = TaskView), (status = 404, body = ErrorBody), (status = 409, description = "Already ended", body = ErrorBody)))]
pub async fn cancel_task(
    State(state): State<AppState>,
    Caller(caller): Caller,
    AppPath(id): AppPath<String>,
) -> ApiResult<Json<TaskView>> {
    let task = state.tasks.cancel(&caller, parse_task_id(&id)?).await?;
    Ok(Json(TaskView::from(&task)))
}
