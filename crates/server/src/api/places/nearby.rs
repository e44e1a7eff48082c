use atelier_core::location::Near;
use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{LocationView, PlaceView, round_km};
use crate::api::auth::Caller;
use crate::api::error::{ApiResult, ErrorBody};
use crate::api::extract::AppQuery;
use crate::api::filters::{coordinates, number};
use crate::app::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct NearbyQuery {
    /// Degrees north (negative south), -90 to 90.
    #[param(value_type = f64, minimum = -90, maximum = 90)]
    pub latitude: Option<String>,
    /// Degrees east (negative west), -180 to 180.
    #[param(value_type = f64, minimum = -180, maximum = 180)]
    pub longitude: Option<String>,
    /// Kilometres (great-circle), zero or more.
    #[param(value_type = f64, minimum = 0)]
    pub radius_km: Option<String>,
    /// 1 to 200, default 20: at most this many places, and as many locations.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NearbyView {
    /// Gazetteer places within the radius, nearest first, each with `distance_km`.
    pub places: Vec<PlaceView>,
    /// Your stored locations within the radius, nearest first, each with
    /// `distance_km`.
    pub locations: Vec<LocationView>,
}

/// Populated places and your stored locations within a radius of a point.
#[utoipa::path(get, path = "/places/nearby", tag = "places", params(NearbyQuery),
    responses((status = 200, body = NearbyView),
        (status = 422, description = "A value missing, not a number or out of range; `details.field` names it", body = ErrorBody)))]
pub async fn nearby_places(
    State(state): State<AppState>,
    Caller(caller): Caller,
    AppQuery(query): AppQuery<NearbyQuery>,
) -> ApiResult<Json<NearbyView>> {
    let center = coordinates(query.latitude.as_deref(), query.longitude.as_deref())?;
    let radius_km = number("radius_km", query.radius_km.as_deref())?;
    let near = Near::new(center, radius_km).map_err(atelier_core::CoreError::from)?;
    let nearby = state.locations.nearby(&caller, &near, query.limit.unwrap_or(20)).await?;
    Ok(Json(NearbyView {
        places: nearby.places.iter().map(PlaceView::from).collect(),
        locations: nearby
            .locations
            .iter()
            .map(|(location, distance)| LocationView {
                distance_km: Some(round_km(*distance)),
                ..LocationView::from(location)
            })
            .collect(),
    }))
}
