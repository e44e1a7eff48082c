use axum::Json;
use axum::extract::State;

use super::{LocationView, parse_location_id};
use crate::api::auth::Caller;
use crate::api::error::{ApiResult, ErrorBody};
use crate::api::extract::AppPath;
use crate::app::AppState;

/// One of your locations.
#[utoipa::path(get, path = "/locations/{id}", tag = "places",
    params(("id" = String, Path, description = "Location id (loc_…)")),
    responses((status = 200, body = LocationView), (status = 404, body = ErrorBody)))]
pub async fn get_location(
    State(state): State<AppState>,
    Caller(caller): Caller,
    AppPath(id): AppPath<String>,
) -> ApiResult<Json<LocationView>> {
    let location = state.locations.get(&caller, &parse_location_id(&id)?).await?;
    Ok(Json(LocationView::from(&location)))
}
