use axum::extract::State;
use axum::http::StatusCode;

use super::parse_location_id;
use crate::api::auth::Caller;
use crate::api::error::{ApiResult, ErrorBody};
use crate::api::extract::AppPath;
use crate::app::AppState;

/// Deletes one of your locations. Tasks that named it keep their coordinates.
#[utoipa::path(delete, path = "/locations/{id}", tag = "places",
    params(("id" = String, Path, description = "Location id (loc_…)")),
    responses((status = 204, description = "Deleted"), (status = 404, body = ErrorBody)))]
pub async fn delete_location(
    State(state): State<AppState>,
    Caller(caller): Caller,
    AppPath(id): AppPath<String>,
) -> ApiResult<StatusCode> {
    state.locations.delete(&caller, &parse_location_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}
