use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use utoipa::IntoParams;

use super::PlaceView;
use crate::api::auth::Caller;
use crate::api::error::{ApiResult, ErrorBody};
use crate::api::extract::AppQuery;
use crate::api::filters::coordinates;
use crate::app::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ReverseQuery {
    /// Degrees north (negative south), -90 to 90.
    #[param(value_type = f64, minimum = -90, maximum = 90)]
    pub latitude: Option<String>,
    /// Degrees east (negative west), -180 to 180.
    #[param(value_type = f64, minimum = -180, maximum = 180)]
    pub longitude: Option<String>,
}

/// The populated place nearest to a point (a town or a city's district, not an
/// address), with its admin areas, country and distance. Every valid point has
/// one, however far: the distance says how near it is.
#[utoipa::path(get, path = "/places/reverse", tag = "places", params(ReverseQuery),
    responses((status = 200, body = PlaceView),
        (status = 422, description = "A coordinate missing, not a number or out of range; `details.field` names it", body = ErrorBody)))]
pub async fn reverse_place(
    State(state): State<AppState>,
    Caller(_caller): Caller,
    AppQuery(query): AppQuery<ReverseQuery>,
) -> ApiResult<Json<PlaceView>> {
    let at = coordinates(query.latitude.as_deref(), query.longitude.as_deref())?;
    Ok(Json(PlaceView::from(&state.locations.reverse(at))))
}
