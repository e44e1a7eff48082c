use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::claim::InputFileView;
use super::{Lease, WorkerCaller};
use crate::api::error::{ApiError, ApiResult, ErrorBody};
use crate::api::extract::AppPath;
use crate::api::tasks::parse_task_id;
use crate::app::AppState;

/// List a task's input files (worker key).
#[utoipa::path(get, path = "/worker/tasks/{id}/inputs", tag = "workers",
    params(("id" = String, Path, description = "Task id")),
    responses((status = 200, body = Vec<InputFileView>), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list_inputs(
    State(state): State<AppState>,
    WorkerCaller(key): WorkerCaller,
    AppPath(id): AppPath<String>,
) -> ApiResult<Json<Vec<InputFileView>>> {
    let id = parse_task_id(&id)?;
    let task = state.pull.task(&key, id).await?;
    let files = state.pull.inputs(&task)?;
    Ok(Json(
        files
            .into_iter()
            .map(|file| InputFileView {
                url: format!("/api/v1/worker/tasks/{id}/inputs/{}", file.position),
                position: file.position,
                reference: file.reference,
            })
            .collect(),
    ))
}

/// Download one of the input files of a task the worker holds (worker key and
/// lease): uploads, earlier outputs and chained tasks' outputs from the store, URLs
/// fetched by the server (through its address checks), data URIs decoded.
#[utoipa::path(get, path = "/worker/tasks/{id}/inputs/{position}", tag = "workers",
    params(("id" = String, Path, description = "Task id"), ("position" = usize, Path, description = "The file's place among the input's files")),
    responses((status = 200, description = "The file's bytes", content_type = "application/octet-stream"),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody), (status = 502, body = ErrorBody)))]
pub async fn download_input(
    State(state): State<AppState>,
    WorkerCaller(key): WorkerCaller,
    Lease(lease): Lease,
    AppPath((id, position)): AppPath<(String, String)>,
) -> ApiResult<Response> {
    let position: usize = position.parse().map_err(|_| ApiError::not_found("input file"))?;
    let file = state.pull.open_input(&key, parse_task_id(&id)?, &lease, position).await?;
    let disposition = format!("attachment; filename=\"{}\"", file.name.replace(['"', '\\', '\r', '\n'], "_"));
    let mime = if file.mime.is_empty() { "application/octet-stream".to_owned() } else { file.mime };
    Ok((
        [
            (header::CONTENT_TYPE, mime),
            (header::CONTENT_DISPOSITION, disposition),
            (header::CACHE_CONTROL, "no-store".into()),
        ],
        Body::from(file.bytes),
    )
        .into_response())
}
