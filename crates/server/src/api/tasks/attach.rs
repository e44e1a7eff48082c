//! `POST /api/v1/tasks/{id}/external-id`: an admin attaches the provider's job id to
//! a task whose submit lost its answer, and the task fetches its result by it.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use utoipa::ToSchema;

use super::parse_task_id;
use crate::api::auth::Caller;
use crate::api::error::{ApiResult, ErrorBody};
use crate::api::extract::{AppJson, AppPath};
use crate::api::views::TaskView;
use crate::app::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AttachExternalId {
    /// The provider's id of the job, as its console or API shows it.
    pub external_id: String,
}

/// Attach the provider's job id to a task whose submit lost its answer (failed
/// `submit_unknown`, or waiting for the provider to name the job): the task is
/// polled by that id for its result. Nothing is submitted again. Admins only.
#[utoipa::path(post, path = "/tasks/{id}/external-id", tag = "tasks",
    params(("id" = String, Path, description = "Task id")),
    request_body = AttachExternalId,
    responses((status = 200, body = TaskView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "The task's submit did not lose its answer", body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn attach_external_id(
    State(state): State<AppState>,
    Caller(caller): Caller,
    AppPath(id): AppPath<String>,
    AppJson(body): AppJson<AttachExternalId>,
) -> ApiResult<Json<TaskView>> {
    let task = state.tasks.attach_external_id(&caller, parse_task_id(&id)?, &body.external_id).await?;
    Ok(Json(TaskView::from(&task)))
}
