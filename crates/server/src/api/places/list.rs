use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use utoipa::IntoParams;

use super::{LocationListView, LocationView};
use crate::api::auth::Caller;
use crate::api::error::{ApiResult, ErrorBody};
use crate::api::extract::AppQuery;
use crate::api::filters::{invalid, near_filter, page_limit};
use crate::app::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListLocationsQuery {
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// 1 to 500, default 50.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// Only locations within `radius_km` of this point: `<latitude>,<longitude>`.
    #[param(example = "48.8566,2.3522")]
    pub near: Option<String>,
    /// Kilometres (great-circle), zero or more; with `near`.
    #[param(value_type = Option<f64>, minimum = 0)]
    pub radius_km: Option<String>,
}

/// Your locations, newest first; with `near` and `radius_km`, those within the
/// circle.
#[utoipa::path(get, path = "/locations", tag = "places", params(ListLocationsQuery),
    responses((status = 200, body = LocationListView), (status = 422, body = ErrorBody)))]
pub async fn list_locations(
    State(state): State<AppState>,
    Caller(caller): Caller,
    AppQuery(query): AppQuery<ListLocationsQuery>,
) -> ApiResult<Json<LocationListView>> {
    let limit = page_limit(query.limit)?;
    let near = near_filter(query.near.as_deref(), query.radius_km.as_deref())?;
    let cursor = query
        .cursor
        .as_deref()
        .map(|c| atelier_core::LocationId::parse(c).ok_or_else(|| invalid("cursor", "not a cursor")))
        .transpose()?;
    let page = state.locations.list(&caller, near.as_ref(), cursor.as_ref(), limit).await?;
    Ok(Json(LocationListView {
        locations: page.locations.iter().map(LocationView::from).collect(),
        next_cursor: page.next_cursor.map(|id| id.to_string()),
    }))
}
