use atelier_core::pipeline::Control;
use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use utoipa::ToSchema;

use super::{RunView, parse_run_id, parse_version_id};
use crate::api::auth::Caller;
use crate::api::error::{ApiResult, ErrorBody};
use crate::api::extract::{AppJson, AppPath};
use crate::app::AppState;

async fn control(state: AppState, caller: Caller, id: String, control: Control) -> ApiResult<Json<RunView>> {
    let run = state.pipelines.control(&caller.0, &parse_run_id(&id)?, control).await?;
    Ok(Json(RunView::new(&run, &state)))
}

/// Goes on to the next phase now, without waiting out the feedback time.
#[utoipa::path(post, path = "/pipelines/{id}/continue", tag = "pipelines",
    params(("id" = String, Path, description = "Run id")),
    responses((status = 200, body = RunView), (status = 404, body = ErrorBody), (status = 409, description = "The run is not waiting for feedback", body = ErrorBody)))]
pub async fn continue_run(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<String>,
) -> ApiResult<Json<RunView>> {
    control(state, caller, id, Control::Continue).await
}

/// Stops here: the run waits, with no deadline, until resumed.
#[utoipa::path(post, path = "/pipelines/{id}/stop", tag = "pipelines",
    params(("id" = String, Path, description = "Run id")),
    responses((status = 200, body = RunView), (status = 404, body = ErrorBody), (status = 409, description = "The run is not waiting for feedback", body = ErrorBody)))]
pub async fn stop_run(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<String>,
) -> ApiResult<Json<RunView>> {
    control(state, caller, id, Control::Stop).await
}

/// Goes on after a stop (the next phase starts).
#[utoipa::path(post, path = "/pipelines/{id}/resume", tag = "pipelines",
    params(("id" = String, Path, description = "Run id")),
    responses((status = 200, body = RunView), (status = 404, body = ErrorBody), (status = 409, description = "The run is not stopped", body = ErrorBody)))]
pub async fn resume_run(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<String>,
) -> ApiResult<Json<RunView>> {
    control(state, caller, id, Control::Resume).await
}

/// Cancels the run (and the tasks of the phase at work); its versions stay.
#[utoipa::path(post, path = "/pipelines/{id}/cancel", tag = "pipelines",
    params(("id" = String, Path, description = "Run id")),
    responses((status = 200, body = RunView), (status = 404, body = ErrorBody), (status = 409, description = "The run has ended", body = ErrorBody)))]
pub async fn cancel_run(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<String>,
) -> ApiResult<Json<RunView>> {
    control(state, caller, id, Control::Cancel).await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BranchRequest {
    /// The version to continue from (`ver_…`, one of this run's).
    pub version_id: String,
}

/// Goes back to an earlier version: the run waits for feedback on it, then goes on
/// from it; the old branch stays readable in the version tree.
#[utoipa::path(post, path = "/pipelines/{id}/branch", tag = "pipelines", request_body = BranchRequest,
    params(("id" = String, Path, description = "Run id")),
    responses((status = 200, body = RunView), (status = 400, body = ErrorBody), (status = 404, description = "No such run or version", body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn branch_run(
    State(state): State<AppState>,
    Caller(caller): Caller,
    AppPath(id): AppPath<String>,
    AppJson(request): AppJson<BranchRequest>,
) -> ApiResult<Json<RunView>> {
    let run = state.pipelines.branch(&caller, &parse_run_id(&id)?, &parse_version_id(&request.version_id)?).await?;
    Ok(Json(RunView::new(&run, &state)))
}
