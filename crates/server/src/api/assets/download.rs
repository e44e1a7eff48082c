use std::ops::Range;

use atelier_core::task::Asset;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::parse_asset_id;
use crate::api::auth::Caller;
use crate::api::error::{ApiError, ApiResult, ErrorBody};
use crate::api::extract::AppPath;
use crate::app::AppState;

/// An output file. Content-addressed, so cached for good; honours `Range` and
/// `If-None-Match`.
#[utoipa::path(get, path = "/assets/{id}", tag = "assets",
    params(("id" = String, Path, description = "Image id (img_…)")),
    responses((status = 200, description = "The file"), (status = 206, description = "Part of the file"),
        (status = 304, description = "Not modified"), (status = 404, body = ErrorBody), (status = 416, description = "Range not satisfiable")))]
pub async fn download_asset(
    State(state): State<AppState>,
    Caller(caller): Caller,
    AppPath(id): AppPath<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let asset = find(&state, &caller, &id).await?;
    serve_asset(&state, Reader::Owner, &asset, &headers).await
}

/// An asset's file, named `<id>.<ext>`, its hash the `ETag`.
pub(crate) async fn serve_asset(
    state: &AppState,
    reader: Reader,
    asset: &Asset,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    let filename = format!("{}.{}", asset.id, atelier_assets::extension_for(&asset.mime));
    serve_blob(state, reader, &asset.blob_key, &asset.mime, &format!("\"{}\"", asset.sha256), &filename, headers).await
}

/// The asset's thumbnail: WebP, fitting in 256×256.
#[utoipa::path(get, path = "/assets/{id}/thumbnail", tag = "assets",
    params(("id" = String, Path, description = "Image id (img_…)")),
    responses((status = 200, description = "WebP thumbnail", content_type = "image/webp"), (status = 404, body = ErrorBody)))]
pub async fn download_thumbnail(
    State(state): State<AppState>,
    Caller(caller): Caller,
    AppPath(id): AppPath<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let asset = find(&state, &caller, &id).await?;
    let key = asset.thumbnail_key.as_deref().ok_or_else(|| no_thumbnail(&asset.mime))?;
    let filename = format!("{}-thumbnail.webp", asset.id);
    serve_blob(&state, Reader::Owner, key, "image/webp", &format!("\"{}-thumb\"", asset.sha256), &filename, &headers)
        .await
}

/// Why an asset has no thumbnail, said plainly.
fn no_thumbnail(mime: &str) -> ApiError {
    let why = if atelier_assets::poster::is_video(mime) {
        "this video has no poster thumbnail: the server had no ffmpeg when it stored it".to_owned()
    } else {
        format!("{mime} files have no thumbnail")
    };
    ApiError::new(StatusCode::NOT_FOUND, "no_thumbnail", why)
}

async fn find(state: &AppState, caller: &atelier_core::account::Principal, id: &str) -> ApiResult<Asset> {
    let id = parse_asset_id(id)?;
    Ok(state.tasks.get_asset(caller, &id).await?)
}

/// Who may read a file served by [`serve_blob`], which decides how caches may keep it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reader {
    /// Its owner, by key or session: the answer depends on the credentials.
    Owner,
    /// Anyone holding a signed link: the answer depends on the URL alone.
    Link,
}

impl Reader {
    /// Private files stay out of shared caches (RFC 9111 §3.5: `public` would let
    /// a CDN keep an answer to a request with credentials and hand it to anyone
    /// with the URL, after the owner deleted the file or a link expired).
    /// Immutable still: a blob's bytes never change under its name.
    fn headers(self, headers: &mut HeaderMap) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, max-age=31536000, immutable"));
        if self == Reader::Owner {
            headers.insert(header::VARY, HeaderValue::from_static("Authorization, Cookie"));
        }
    }
}

pub(crate) async fn serve_blob(
    state: &AppState,
    reader: Reader,
    key: &str,
    mime: &str,
    etag: &str,
    filename: &str,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    let mut common = HeaderMap::new();
    common.insert(header::ETAG, header_value(etag));
    reader.headers(&mut common);
    common.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    common.insert(header::CONTENT_DISPOSITION, header_value(&format!("inline; filename=\"{filename}\"")));
    if let Some(tags) = headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok())
        && tags.split(',').any(|tag| tag.trim() == etag || tag.trim() == "*")
    {
        return Ok((StatusCode::NOT_MODIFIED, common).into_response());
    }
    let range_header = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    let if_range_ok = headers.get(header::IF_RANGE).and_then(|v| v.to_str().ok()).is_none_or(|tag| tag.trim() == etag);
    let Some(whole) = state.tasks.open_blob(key, Some(0..0)).await? else {
        return Err(ApiError::not_found("file"));
    };
    let size = whole.total_bytes;
    let range = match range_header.filter(|_| if_range_ok) {
        Some(text) => match parse_range(text, size) {
            RangeAnswer::Satisfiable(range) => Some(range),
            RangeAnswer::Ignore => None,
            RangeAnswer::Unsatisfiable => {
                common.insert(header::CONTENT_RANGE, header_value(&format!("bytes */{size}")));
                let error = ApiError::new(
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    "range_not_satisfiable",
                    format!("the file has {size} bytes"),
                );
                return Ok((common, error).into_response());
            }
        },
        None => None,
    };
    let (status, part) = match &range {
        Some(range) => (StatusCode::PARTIAL_CONTENT, range.clone()),
        None => (StatusCode::OK, 0..size),
    };
    let Some(read) = state.tasks.open_blob(key, Some(part.clone())).await? else {
        return Err(ApiError::not_found("file"));
    };
    common.insert(header::CONTENT_TYPE, header_value(mime));
    common.insert(header::CONTENT_LENGTH, HeaderValue::from(part.end - part.start));
    if range.is_some() {
        common.insert(
            header::CONTENT_RANGE,
            header_value(&format!("bytes {}-{}/{size}", part.start, part.end.saturating_sub(1))),
        );
    }
    Ok((status, common, Body::from_stream(read.stream)).into_response())
}

fn header_value(text: &str) -> HeaderValue {
    HeaderValue::from_str(text).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
}

enum RangeAnswer {
    Satisfiable(Range<u64>),
    /// Malformed, or several ranges: serve the whole file (RFC 9110 allows it).
    Ignore,
    Unsatisfiable,
}

fn parse_range(text: &str, size: u64) -> RangeAnswer {
    let Ok(parsed) = http_range_header::parse_range_header(text) else { return RangeAnswer::Ignore };
    match parsed.validate(size) {
        Ok(ranges) if ranges.len() == 1 => {
            let range = &ranges[0];
            RangeAnswer::Satisfiable(*range.start()..range.end() + 1)
        }
        Ok(_) => RangeAnswer::Ignore,
        Err(_) => RangeAnswer::Unsatisfiable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert!(matches!(parse_range("bytes=0-9", 100), RangeAnswer::Satisfiable(r) if r == (0..10)));
        assert!(matches!(parse_range("bytes=-10", 100), RangeAnswer::Satisfiable(r) if r == (90..100)));
        assert!(matches!(parse_range("bytes=90-", 100), RangeAnswer::Satisfiable(r) if r == (90..100)));
        assert!(matches!(parse_range("bytes=200-300", 100), RangeAnswer::Unsatisfiable));
        assert!(matches!(parse_range("pages=1", 100), RangeAnswer::Ignore));
    }
}
