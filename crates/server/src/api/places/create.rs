use atelier_core::location::{LocationAt, NewLocation};
use atelier_places::Coordinates;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;

use super::LocationView;
use crate::api::auth::Caller;
use crate::api::error::{ApiResult, ErrorBody};
use crate::api::extract::AppJson;
use crate::api::filters::invalid;
use crate::app::AppState;

/// Coordinates (`latitude` and `longitude`), or a place name (`query`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateLocationRequest {
    /// Degrees north (negative south), -90 to 90; with `longitude`.
    #[schema(minimum = -90, maximum = 90)]
    pub latitude: Option<f64>,
    /// Degrees east (negative west), -180 to 180; with `latitude`.
    #[schema(minimum = -180, maximum = 180)]
    pub longitude: Option<f64>,
    /// A place name instead of coordinates (`Paris, FR`, `Springfield, Illinois`):
    /// the best candidate's coordinates are stored.
    #[schema(max_length = 200)]
    pub query: Option<String>,
    /// Your name for it: at most 200 characters.
    #[schema(max_length = 200)]
    pub label: Option<String>,
}

/// Stores a location, with the populated place nearest to it (`place`).
#[utoipa::path(post, path = "/locations", tag = "places", request_body = CreateLocationRequest,
    responses((status = 201, body = LocationView), (status = 400, body = ErrorBody),
        (status = 415, body = ErrorBody),
        (status = 422, description = "A value out of range, missing, or a place name that matches nothing; `details.field` names it", body = ErrorBody)))]
pub async fn create_location(
    State(state): State<AppState>,
    Caller(caller): Caller,
    AppJson(request): AppJson<CreateLocationRequest>,
) -> ApiResult<(StatusCode, Json<LocationView>)> {
    let at = match (request.latitude, request.longitude, request.query) {
        (None, None, Some(query)) => LocationAt::Query(query),
        (_, _, Some(_)) => return Err(invalid("query", "give coordinates or a query, not both")),
        (Some(latitude), Some(longitude), None) => {
            LocationAt::Coordinates(Coordinates::new(latitude, longitude).map_err(atelier_core::CoreError::from)?)
        }
        (_, None, None) => return Err(invalid(missing(request.latitude.is_none()), "is required (or a query)")),
        (None, Some(_), None) => return Err(invalid("latitude", "is required (or a query)")),
    };
    let location = state.locations.create(&caller, NewLocation { at, label: request.label }).await?;
    Ok((StatusCode::CREATED, Json(LocationView::from(&location))))
}

/// The first coordinate missing: the latitude, or else the longitude.
fn missing(no_latitude: bool) -> &'static str {
    if no_latitude { "latitude" } else { "longitude" }
}
