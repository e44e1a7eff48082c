//! Seed 004's spellings of native routes (`/task/{id}`, `/images/{id}`), each
//! documented in the OpenAPI document under its own path and served by the native
//! handler.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use crate::api::auth::Caller;
use crate::api::error::{ApiResult, ErrorBody};
use crate::api::extract::AppPath;
use crate::api::views::TaskView;
use crate::app::AppState;

/// Seed 004's task status: the task with its progress and `images[]`.
#[utoipa::path(get, path = "/task/{id}", tag = "seed 004", operation_id = "seed004_get_task",
    params(("id" = String, Path, description = "Task id")),
    responses((status = 200, body = TaskView), (status = 404, body = ErrorBody)))]
pub async fn get_task(state: State<AppState>, caller: Caller, id: AppPath<String>) -> ApiResult<Json<TaskView>> {
    crate::api::tasks::get_task(state, caller, id).await
}

/// Seed 004's task deletion (its images too).
#[utoipa::path(delete, path = "/task/{id}", tag = "seed 004", operation_id = "seed004_delete_task",
    params(("id" = String, Path, description = "Task id")),
    responses((status = 204, description = "Deleted"), (status = 404, body = ErrorBody)))]
pub async fn delete_task(state: State<AppState>, caller: Caller, id: AppPath<String>) -> ApiResult<StatusCode> {
    crate::api::tasks::delete_task(state, caller, id).await
}

/// Seed 004's image download (`ETag`, `Range` as the native route).
#[utoipa::path(get, path = "/images/{id}", tag = "seed 004", operation_id = "seed004_get_image",
    params(("id" = String, Path, description = "Image id (img_…)")),
    responses((status = 200, description = "The file"), (status = 206, description = "Part of the file"),
        (status = 304, description = "Not modified"), (status = 404, body = ErrorBody), (status = 416, description = "Range not satisfiable")))]
pub async fn get_image(
    state: State<AppState>,
    caller: Caller,
    id: AppPath<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    crate::api::assets::download_asset(state, caller, id, headers).await
}

/// Seed 004's thumbnail: WebP within 256×256.
#[utoipa::path(get, path = "/images/{id}/thumbnail", tag = "seed 004",
    params(("id" = String, Path, description = "Image id (img_…)")),
    responses((status = 200, description = "WebP thumbnail", content_type = "image/webp"), (status = 404, body = ErrorBody)))]
pub async fn get_image_thumbnail(
    state: State<AppState>,
    caller: Caller,
    id: AppPath<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    crate::api::assets::download_thumbnail(state, caller, id, headers).await
}
