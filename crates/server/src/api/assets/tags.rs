use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;

use super::parse_asset_id;
use crate::api::auth::Caller;
use crate::api::error::{ApiError, ApiResult, ErrorBody};
use crate::api::extract::{AppJson, AppPath};
use crate::app::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TagRequest {
    /// 1 to 50 characters, no commas or control characters.
    pub tag: String,
}

fn valid_tag(tag: &str) -> ApiResult<String> {
    let tag = tag.trim();
    let ok = !tag.is_empty() && tag.chars().count() <= 50 && !tag.chars().any(|c| c == ',' || c.is_control());
    ok.then(|| tag.to_owned()).ok_or_else(|| {
        ApiError::validation(
            "tag must be 1 to 50 characters without commas or control characters",
            serde_json::json!({ "field": "tag", "reason": "invalid tag" }),
        )
    })
}

/// Tag an image (seed 004's user_tags).
#[utoipa::path(post, path = "/assets/{id}/tags", tag = "assets", request_body = TagRequest,
    params(("id" = String, Path, description = "Image id")),
    responses((status = 204, description = "Tagged"), (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn add_tag(
    State(state): State<AppState>,
    Caller(caller): Caller,
    AppPath(id): AppPath<String>,
    AppJson(request): AppJson<TagRequest>,
) -> ApiResult<StatusCode> {
    let id = parse_asset_id(&id)?;
    let tag = valid_tag(&request.tag)?;
    if !state.tasks.add_tag(&caller, &id, &tag).await? {
        return Err(ApiError::not_found("image"));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Remove a tag from an image.
#[utoipa::path(delete, path = "/assets/{id}/tags/{tag}", tag = "assets",
    params(("id" = String, Path, description = "Image id"), ("tag" = String, Path, description = "The tag")),
    responses((status = 204, description = "Removed"), (status = 404, body = ErrorBody)))]
pub async fn remove_tag(
    State(state): State<AppState>,
    Caller(caller): Caller,
    AppPath((id, tag)): AppPath<(String, String)>,
) -> ApiResult<StatusCode> {
    let id = parse_asset_id(&id)?;
    if !state.tasks.remove_tag(&caller, &id, &tag).await? {
        return Err(ApiError::not_found("tag"));
    }
    Ok(StatusCode::NO_CONTENT)
}
