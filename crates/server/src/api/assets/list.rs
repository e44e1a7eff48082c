use atelier_core::catalog::Catalog;
use atelier_core::task::AssetFilter;
use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::api::auth::Caller;
use crate::api::error::{ApiResult, ErrorBody};
use crate::api::extract::AppQuery;
use crate::api::filters::{invalid, model_filter, near_filter, page_limit, time_filter};
use crate::api::views::ImageView;
use crate::app::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListAssetsQuery {
    /// Only assets with this tag.
    pub tag: Option<String>,
    /// Only assets of tasks of this model: `service/model`, or a model name (of any service).
    pub model: Option<String>,
    /// RFC 3339 time: assets created at or after it.
    pub created_after: Option<String>,
    /// RFC 3339 time: assets created before it.
    pub created_before: Option<String>,
    /// Only assets of this kind, by MIME type: `image`, `audio`, `video` or `model` (3D).
    pub kind: Option<String>,
    /// Only assets of tasks whose place lies within `radius_km` of this point: `<latitude>,<longitude>`.
    #[param(example = "48.8566,2.3522")]
    pub near: Option<String>,
    /// Kilometres (great-circle), zero or more; with `near`.
    #[param(value_type = Option<f64>, minimum = 0)]
    pub radius_km: Option<String>,
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

/// Every output, newest first, with filters and cursor pagination (the gallery);
/// seed 004's `GET /api/v1/history` too.
#[utoipa::path(get, path = "/assets", tag = "assets", params(ListAssetsQuery),
    responses((status = 200, body = AssetListView), (status = 422, body = ErrorBody)))]
pub async fn list_assets(
    State(state): State<AppState>,
    Caller(caller): Caller,
    AppQuery(query): AppQuery<ListAssetsQuery>,
) -> ApiResult<Json<AssetListView>> {
    let filter = to_filter(state.tasks.catalog(), query)?;
    let page = state.tasks.list_assets(&caller, &filter).await?;
    let images = page
        .assets
        .iter()
        .map(|asset| ImageWithTask {
            image: ImageView::from(asset),
            task_id: asset.task_id.to_string(),
            created_at: crate::api::views::timestamp(asset.created_at),
        })
        .collect();
    Ok(Json(AssetListView { images, next_cursor: page.next_cursor.map(|id| id.to_string()) }))
}

fn to_filter(catalog: &Catalog, query: ListAssetsQuery) -> ApiResult<AssetFilter> {
    let (service, model) = model_filter(catalog, query.model.as_deref());
    let limit = page_limit(query.limit)?;
    Ok(AssetFilter {
        tag: query.tag,
        service,
        model,
        created_after: time_filter("created_after", query.created_after.as_deref())?,
        created_before: time_filter("created_before", query.created_before.as_deref())?,
        before_id: query
            .cursor
            .as_deref()
            .map(|c| atelier_core::AssetId::parse(c).ok_or_else(|| invalid("cursor", "not a cursor")))
            .transpose()?,
        limit,
        // Non-admins see only their own; the service enforces it.
        owner: None,
        near: near_filter(query.near.as_deref(), query.radius_km.as_deref())?,
        kind: query
            .kind
            .as_deref()
            .map(|kind| {
                atelier_core::task::AssetKind::parse(kind).ok_or_else(|| {
                    invalid("kind", &format!("must be one of {}", atelier_core::task::AssetKind::NAMES.join(", ")))
                })
            })
            .transpose()?,
    })
}
