use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::api::auth::Caller;
use crate::api::error::{ApiError, ApiResult, ErrorBody};
use crate::api::extract::AppQuery;
use crate::api::views::ImageView;
use crate::app::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListAssetsQuery {
    /// Only assets with this tag.
    pub tag: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// 1 to 500, default 50.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AssetListView {
    pub images: Vec<ImageWithTask>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ImageWithTask {
    #[serde(flatten)]
    pub image: ImageView,
    pub task_id: String,
    pub created_at: String,
}

/// Every output, newest first (the gallery); seed 004's `GET /api/v1/history` too.
#[utoipa::path(get, path = "/api/v1/assets", tag = "assets", params(ListAssetsQuery),
    responses((status = 200, body = AssetListView), (status = 422, body = ErrorBody)))]
pub async fn list_assets(
    State(state): State<AppState>,
    Caller(caller): Caller,
    AppQuery(query): AppQuery<ListAssetsQuery>,
) -> ApiResult<Json<AssetListView>> {
    let limit = query.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::validation("limit must be between 1 and 500", serde_json::json!({ "field": "limit" })));
    }
    let cursor =
        match query.cursor.as_deref() {
            Some(text) => Some(atelier_core::AssetId::parse(text).ok_or_else(|| {
                ApiError::validation("cursor: not a cursor", serde_json::json!({ "field": "cursor" }))
            })?),
            None => None,
        };
    let assets = state.tasks.list_assets(&caller, cursor.as_ref(), query.tag.as_deref(), limit + 1).await?;
    let has_more = assets.len() > limit as usize;
    let images: Vec<ImageWithTask> = assets
        .iter()
        .take(limit as usize)
        .map(|asset| ImageWithTask {
            image: ImageView::from(asset),
            task_id: asset.task_id.to_string(),
            created_at: crate::api::views::timestamp(asset.created_at),
        })
        .collect();
    let next_cursor = has_more.then(|| images.last().map(|image| image.image.image_id.clone())).flatten();
    Ok(Json(AssetListView { images, next_cursor }))
}
