use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::PlaceView;
use crate::api::auth::Caller;
use crate::api::error::{ApiError, ApiResult, ErrorBody};
use crate::api::extract::AppQuery;
use crate::api::filters::invalid;
use crate::app::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SearchQuery {
    /// A place name, optionally with qualifiers after commas: a country code or
    /// name, or a first-level region (`Paris, FR`, `Springfield, Illinois`).
    #[param(value_type = String, min_length = 1, max_length = 200)]
    pub q: Option<String>,
    /// 1 to 50, default 10.
    #[param(minimum = 1, maximum = 50)]
    pub limit: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PlaceSearchView {
    /// Best first: whole-name matches before prefixes, then capitals and larger
    /// places (no population figures: see the docs' accuracy notes).
    pub places: Vec<PlaceView>,
}

/// Places whose name matches, with their coordinates.
#[utoipa::path(get, path = "/places/search", tag = "places", params(SearchQuery),
    responses((status = 200, body = PlaceSearchView),
        (status = 422, description = "`q` missing, blank or too long, or `limit` out of range", body = ErrorBody)))]
pub async fn search_places(
    State(state): State<AppState>,
    Caller(_caller): Caller,
    AppQuery(query): AppQuery<SearchQuery>,
) -> ApiResult<Json<PlaceSearchView>> {
    let q = query.q.ok_or_else(|| invalid("q", "is required"))?;
    let places = state.locations.search(&q, query.limit.unwrap_or(10)).map_err(|error| {
        let mut error = ApiError::from(error);
        // The query travels as `q`.
        if let Some(details) = error.details.as_mut().filter(|details| details["field"] == "query") {
            details["field"] = "q".into();
        }
        error
    })?;
    Ok(Json(PlaceSearchView { places: places.iter().map(PlaceView::from).collect() }))
}
