use atelier_core::time::now_millis;
use axum::Json;
use axum::extract::State;

use super::parse_task_id;
use crate::api::auth::Caller;
use crate::api::error::{ApiResult, ErrorBody};
use crate::api::extract::AppPath;
use crate::api::views::TaskView;
use crate::app::AppState;

/// A task with its status, progress and outputs (also served as seed 004's
/// `GET /api/v1/task/{task_id}`).
#[utoipa::path(get, path = "/tasks/{id}", tag = "tasks",
    params(("id" = String, Path, description = "Task id")),
    responses((status = 200, body = TaskView), (status = 404, body = ErrorBody)))]
pub async fn get_task(
    State(state): State<AppState>,
    Caller(caller): Caller,
    AppPath(id): AppPath<String>,
) -> ApiResult<Json<TaskView>> {
    let (task, copies) = state.tasks.get_with_copies(&caller, parse_task_id(&id)?).await?;
    Ok(Json(TaskView::with_input_copies(&task, &copies, now_millis())))
}
