use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Deserializer};
use utoipa::ToSchema;

use super::{LocationView, parse_location_id};
use crate::api::auth::Caller;
use crate::api::error::{ApiResult, ErrorBody};
use crate::api::extract::{AppJson, AppPath};
use crate::app::AppState;

/// The label to set: absent leaves it, `null` (or blank) clears it. A location's
/// coordinates never change (store a new one).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateLocationRequest {
    /// At most 200 characters.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, max_length = 200)]
    pub label: Option<Option<String>>,
}

/// `Some(None)` for `null`, `Some(Some(v))` for a value; absent stays `None`.
fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(deserializer).map(Some)
}

/// Sets or clears a location's label.
#[utoipa::path(patch, path = "/locations/{id}", tag = "places", request_body = UpdateLocationRequest,
    params(("id" = String, Path, description = "Location id (loc_…)")),
    responses((status = 200, body = LocationView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_location(
    State(state): State<AppState>,
    Caller(caller): Caller,
    AppPath(id): AppPath<String>,
    AppJson(request): AppJson<UpdateLocationRequest>,
) -> ApiResult<Json<LocationView>> {
    let id = parse_location_id(&id)?;
    let location = match request.label {
        Some(label) => state.locations.update_label(&caller, &id, label).await?,
        None => state.locations.get(&caller, &id).await?,
    };
    Ok(Json(LocationView::from(&location)))
}
