use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use crate::api::assets::AssetListView;
use crate::api::auth::Caller;
use crate::api::error::{ApiError, ApiResult, ErrorBody};
use crate::api::extract::{AppPath, AppQuery};
use crate::app::AppState;

/// Seed 004's history: every generated image, newest first; the same filters and
/// pages as `GET /api/v1/assets`.
#[utoipa::path(get, path = "/history", tag = "seed 004", params(crate::api::assets::ListAssetsQueryAlias),
    responses((status = 200, body = AssetListView), (status = 422, body = ErrorBody)))]
pub async fn history(
    state: State<AppState>,
    caller: Caller,
    query: AppQuery<crate::api::assets::ListAssetsQueryAlias>,
) -> ApiResult<Json<AssetListView>> {
    crate::api::assets::list_assets_handler(state, caller, query).await
}

/// Deletes a history entry: an image (`img_…`), or a task and its images (a task id).
#[utoipa::path(delete, path = "/history/{id}", tag = "seed 004",
    params(("id" = String, Path, description = "Image id or task id")),
    responses((status = 204, description = "Deleted"), (status = 404, body = ErrorBody)))]
pub async fn delete_history_item(
    State(state): State<AppState>,
    Caller(caller): Caller,
    AppPath(id): AppPath<String>,
) -> ApiResult<StatusCode> {
    if let Some(asset_id) = atelier_core::AssetId::parse(&id) {
        state.tasks.delete_asset(&caller, &asset_id).await?;
    } else if let Ok(task_id) = id.parse() {
        state.tasks.delete(&caller, task_id).await?;
    } else {
        return Err(ApiError::not_found("history entry"));
    }
    Ok(StatusCode::NO_CONTENT)
}
