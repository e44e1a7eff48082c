use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::{UploadView, parse_upload_id};
use crate::api::assets::{Reader, serve_blob};
use crate::api::auth::Caller;
use crate::api::error::{ApiResult, ErrorBody};
use crate::api::extract::AppPath;
use crate::app::AppState;

/// An upload's description.
#[utoipa::path(get, path = "/uploads/{id}", tag = "uploads",
    params(("id" = String, Path, description = "Upload id (upl_…)")),
    responses((status = 200, body = UploadView), (status = 404, body = ErrorBody)))]
pub async fn get_upload(
    State(state): State<AppState>,
    Caller(caller): Caller,
    AppPath(id): AppPath<String>,
) -> ApiResult<Json<UploadView>> {
    let upload = state.tasks.get_upload(&caller, &parse_upload_id(&id)?).await?;
    let copies = state.tasks.upload_copies(&upload).await?;
    let location = state.locations.of_upload(&upload.id).await?;
    Ok(Json(
        UploadView::from(&upload)
            .with_copies(&copies, atelier_core::time::now_millis())
            .with_location(location.as_ref()),
    ))
}

/// The uploaded file itself (honours `Range` and `If-None-Match`).
#[utoipa::path(get, path = "/uploads/{id}/content", tag = "uploads",
    params(("id" = String, Path, description = "Upload id (upl_…)")),
    responses((status = 200, description = "The file"), (status = 206, description = "Part of the file"),
        (status = 304, description = "Not modified"), (status = 404, body = ErrorBody), (status = 416, description = "Range not satisfiable")))]
pub async fn download_upload(
    State(state): State<AppState>,
    Caller(caller): Caller,
    AppPath(id): AppPath<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let upload = state.tasks.get_upload(&caller, &parse_upload_id(&id)?).await?;
    let etag = format!("\"{}\"", upload.sha256);
    serve_blob(&state, Reader::Owner, &upload.blob_key, &upload.mime, &etag, &upload.name, &headers).await
}

/// Deletes an upload (tasks that named it keep their outputs; new tasks cannot
/// name it any more).
#[utoipa::path(delete, path = "/uploads/{id}", tag = "uploads",
    params(("id" = String, Path, description = "Upload id (upl_…)")),
    responses((status = 204, description = "Deleted"), (status = 404, body = ErrorBody)))]
pub async fn delete_upload(
    State(state): State<AppState>,
    Caller(caller): Caller,
    AppPath(id): AppPath<String>,
) -> ApiResult<StatusCode> {
    state.tasks.delete_upload(&caller, &parse_upload_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}
