use atelier_core::pipeline::manga;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::create::quality_from_hints;
use super::{VersionView, parse_run_id, parse_version_id, preview_url};
use crate::api::auth::Caller;
use crate::api::error::{ApiError, ApiResult, ErrorBody};
use crate::api::extract::{AppPath, AppQuery};
use crate::api::views::timestamp;
use crate::app::AppState;

/// A node of a run's version tree (its document is read with the version).
#[derive(Debug, Serialize, ToSchema)]
pub struct VersionNodeView {
    pub id: String,
    pub parent_id: Option<String>,
    pub phase: u32,
    /// `phase` or `feedback`.
    pub kind: String,
    pub description: String,
    /// What each applied change did, in words.
    pub changes: Vec<String>,
    pub created_at: String,
    pub preview_url: String,
    /// Whether the run continues from this version.
    pub is_head: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VersionTreeView {
    pub run_id: String,
    pub head_version_id: Option<String>,
    /// Every version, oldest first; `parent_id` makes the tree.
    pub versions: Vec<VersionNodeView>,
}

/// A run's version tree: every phase result and every change, none overwritten.
#[utoipa::path(get, path = "/pipelines/{id}/versions", tag = "pipelines",
    params(("id" = String, Path, description = "Run id")),
    responses((status = 200, body = VersionTreeView), (status = 404, body = ErrorBody)))]
pub async fn version_tree(
    State(state): State<AppState>,
    Caller(caller): Caller,
    AppPath(id): AppPath<String>,
) -> ApiResult<Json<VersionTreeView>> {
    let id = parse_run_id(&id)?;
    let run = state.pipelines.get(&caller, &id).await?;
    let versions = state.pipelines.versions(&caller, &id).await?;
    let versions = versions
        .iter()
        .map(|version| VersionNodeView {
            id: version.id.to_string(),
            parent_id: version.parent.as_ref().map(ToString::to_string),
            phase: version.phase,
            kind: version.kind.as_str().to_owned(),
            description: version.description.clone(),
            changes: version.changes.iter().map(|change| change.summary.clone()).collect(),
            created_at: timestamp(version.created_at),
            preview_url: preview_url(&version.run_id, &version.id),
            is_head: run.head.as_ref() == Some(&version.id),
        })
        .collect();
    Ok(Json(VersionTreeView {
        run_id: id.to_string(),
        head_version_id: run.head.as_ref().map(ToString::to_string),
        versions,
    }))
}

/// One version, with its whole document and the changes it applied.
#[utoipa::path(get, path = "/pipelines/{id}/versions/{version}", tag = "pipelines",
    params(("id" = String, Path, description = "Run id"), ("version" = String, Path, description = "Version id (ver_…)")),
    responses((status = 200, body = VersionView), (status = 404, body = ErrorBody)))]
pub async fn get_version(
    State(state): State<AppState>,
    Caller(caller): Caller,
    AppPath((id, version)): AppPath<(String, String)>,
) -> ApiResult<Json<VersionView>> {
    let version = state.pipelines.version(&caller, &parse_run_id(&id)?, &parse_version_id(&version)?).await?;
    Ok(Json(VersionView::from(&version)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PreviewQuery {
    /// 1 to 5: the drawing's size and detail (the data is the same at every level).
    /// From `Save-Data`, `Device-Memory` and `Viewport-Width` when absent.
    #[param(minimum = 1, maximum = 5)]
    pub quality: Option<u8>,
    /// `svg` or `png`; by default SVG, or PNG when the client accepts PNG and not
    /// SVG, or asked to save data (`Save-Data: on`).
    pub format: Option<String>,
    /// One page of the storyboard (1-based); all pages when absent.
    #[param(minimum = 1)]
    pub page: Option<usize>,
}

/// The format a preview is drawn in.
fn preview_format(query: Option<&str>, headers: &HeaderMap) -> Result<&'static str, ApiError> {
    match query {
        Some("svg") => Ok("svg"),
        Some("png") => Ok("png"),
        Some(other) => Err(ApiError::validation(
            format!("format: {other:?} is not svg or png"),
            serde_json::json!({ "field": "format", "reason": "svg or png" }),
        )),
        None => {
            let accept = headers.get(header::ACCEPT).and_then(|value| value.to_str().ok()).unwrap_or_default();
            let save_data = headers
                .get("save-data")
                .and_then(|value| value.to_str().ok())
                .is_some_and(|v| v.trim().eq_ignore_ascii_case("on"));
            let png_only = accept.contains("image/png") && !accept.contains("image/svg+xml") && !accept.contains("*/*");
            Ok(if png_only || save_data { "png" } else { "svg" })
        }
    }
}

/// A version's preview, drawn as SVG or PNG: the concept card, the characters with
/// their sheets, the scenes, or the storyboard (numbered panel frames, direction
/// notes, balloons with their text), all its pages or one.
#[utoipa::path(get, path = "/pipelines/{id}/versions/{version}/preview", tag = "pipelines",
    params(("id" = String, Path, description = "Run id"), ("version" = String, Path, description = "Version id"), PreviewQuery),
    responses((status = 200, description = "An SVG document or a PNG image", content(("image/svg+xml"), ("image/png"))), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, description = "A quality, format or page out of range, or a PNG too large to draw", body = ErrorBody)))]
pub async fn version_preview(
    State(state): State<AppState>,
    Caller(caller): Caller,
    headers: HeaderMap,
    AppPath((id, version)): AppPath<(String, String)>,
    AppQuery(query): AppQuery<PreviewQuery>,
) -> ApiResult<Response> {
    let quality = match query.quality {
        Some(quality @ 1..=5) => quality,
        Some(other) => {
            return Err(ApiError::validation(
                format!("quality: {other} is not 1 to 5"),
                serde_json::json!({ "field": "quality", "reason": "1 to 5" }),
            ));
        }
        None => quality_from_hints(&headers),
    };
    let format = preview_format(query.format.as_deref(), &headers)?;
    let version = state.pipelines.version(&caller, &parse_run_id(&id)?, &parse_version_id(&version)?).await?;
    let pages = manga::preview::page_count(&version.document);
    if let Some(page) = query.page
        && (page == 0 || page > pages.max(1))
    {
        return Err(ApiError::validation(
            format!("page: {page} is not a page of this version (1 to {})", pages.max(1)),
            serde_json::json!({ "field": "page", "pages": pages }),
        ));
    }
    let svg = manga::preview::svg(&version.document, version.phase, quality, query.page);
    let (mut response, mime) = if format == "png" {
        let png = tokio::task::spawn_blocking(move || crate::raster::png(&svg))
            .await
            .map_err(|_| ApiError::internal())?
            .map_err(|error| match error {
                crate::raster::RasterError::TooLarge { .. } => ApiError::validation(
                    error.to_string(),
                    serde_json::json!({ "field": "format", "reason": "too large" }),
                ),
                crate::raster::RasterError::Failed(_) => {
                    tracing::error!(%error, "a preview could not be drawn");
                    ApiError::internal()
                }
            })?;
        (png.into_response(), "image/png")
    } else {
        (svg.into_response(), "image/svg+xml")
    };
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
    // A version never changes: its preview at a quality level neither.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, max-age=86400, immutable"));
    headers.insert(header::VARY, HeaderValue::from_static("Accept, Save-Data, Device-Memory, Viewport-Width"));
    headers.insert("x-preview-quality", HeaderValue::from(u16::from(quality)));
    Ok(response)
}

/// The versions of one phase, newest first (the seed's `get_version_history`).
#[utoipa::path(get, path = "/pipelines/{id}/phases/{phase}/history", tag = "pipelines",
    params(("id" = String, Path, description = "Run id"), ("phase" = u32, Path, description = "Phase number")),
    responses((status = 200, body = [VersionView]), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn phase_history(
    State(state): State<AppState>,
    Caller(caller): Caller,
    AppPath((id, phase)): AppPath<(String, u32)>,
) -> ApiResult<Json<Vec<VersionView>>> {
    let versions = state.pipelines.versions(&caller, &parse_run_id(&id)?).await?;
    Ok(Json(versions.iter().rev().filter(|version| version.phase == phase).map(VersionView::from).collect()))
}
