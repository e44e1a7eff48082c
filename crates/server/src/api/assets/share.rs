//! Signed links (seed 001 1.8): a link to one output file that works without an
//! API key until it expires, and not at all once any part of it is changed.

use std::time::Duration;

use atelier_core::time::now_millis;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{Reader, parse_asset_id, serve_asset};
use crate::api::auth::Caller;
use crate::api::error::{ApiError, ApiResult, ErrorBody};
use crate::api::extract::{AppJson, AppPath, AppQuery};
use crate::api::views::timestamp;
use crate::app::AppState;
use crate::links::LinkError;

/// The longest a link may last: a year.
const MAX_TTL_SECS: u64 = 365 * 24 * 3600;

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShareRequest {
    /// How long the link works, in seconds (default: `pipelines.link_ttl_secs`, 7 days).
    #[serde(default)]
    pub ttl_secs: Option<u64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SharedLinkView {
    /// The link, from the server's root: `/api/v1/shared/{id}?expires=…&signature=…`.
    pub url: String,
    pub expires_at: String,
}

/// A signed link to `asset`, valid for `ttl`.
pub fn shared_link(state: &AppState, asset: &atelier_core::AssetId, ttl: Option<Duration>) -> SharedLinkView {
    let ttl = ttl.unwrap_or(Duration::from_secs(state.config.pipelines.link_ttl_secs));
    let (url, expires) = state.links.path(asset, ttl, now_millis());
    SharedLinkView { url, expires_at: timestamp(expires * 1000) }
}

/// A signed link to one of your files, to share without an API key.
#[utoipa::path(post, path = "/assets/{id}/share", tag = "assets", request_body = ShareRequest,
    params(("id" = String, Path, description = "Image id (img_…)")),
    responses((status = 200, body = SharedLinkView), (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn share_asset(
    State(state): State<AppState>,
    Caller(caller): Caller,
    AppPath(id): AppPath<String>,
    AppJson(request): AppJson<ShareRequest>,
) -> ApiResult<Json<SharedLinkView>> {
    let id = parse_asset_id(&id)?;
    let asset = state.tasks.get_asset(&caller, &id).await?;
    if let Some(ttl) = request.ttl_secs
        && !(1..=MAX_TTL_SECS).contains(&ttl)
    {
        return Err(ApiError::validation(
            format!("ttl_secs must be 1 to {MAX_TTL_SECS}"),
            serde_json::json!({ "field": "ttl_secs", "reason": "out of range" }),
        ));
    }
    Ok(Json(shared_link(&state, &asset.id, request.ttl_secs.map(Duration::from_secs))))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SharedQuery {
    /// When the link stops working (Unix seconds).
    pub expires: i64,
    /// The link's signature (hex).
    pub signature: String,
}

/// A file through a signed link: no API key; refused (403) once expired or when
/// the link was changed.
#[utoipa::path(get, path = "/shared/{id}", tag = "assets", security(()),
    params(("id" = String, Path, description = "Image id (img_…)"), SharedQuery),
    responses((status = 200, description = "The file"), (status = 206, description = "Part of the file"),
        (status = 304, description = "Not modified"), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 416, description = "Range not satisfiable"), (status = 422, body = ErrorBody)))]
pub async fn shared_asset(
    State(state): State<AppState>,
    AppPath(id): AppPath<String>,
    AppQuery(query): AppQuery<SharedQuery>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    state.links.verify(&id, query.expires, &query.signature, now_millis()).map_err(|error| {
        let code = match error {
            LinkError::Expired => "link_expired",
            LinkError::BadSignature => "bad_signature",
        };
        ApiError::new(StatusCode::FORBIDDEN, code, error.to_string())
    })?;
    let asset = state.tasks.shared_asset(&parse_asset_id(&id)?).await?;
    serve_asset(&state, Reader::Link, &asset, &headers).await
}
