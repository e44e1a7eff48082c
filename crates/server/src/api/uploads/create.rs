use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequest, Multipart, Query, Request, State};
use axum::http::{StatusCode, header};
use serde::Deserialize;
use utoipa::IntoParams;

use super::UploadView;
use crate::api::auth::Caller;
use crate::api::error::{ApiError, ApiResult, ErrorBody};
use crate::app::AppState;

#[derive(Debug, Deserialize, IntoParams)]
pub struct UploadQuery {
    /// A file name, for raw-body uploads (multipart forms carry their own).
    pub name: Option<String>,
}

/// A multipart upload's parts, as the OpenAPI document shows them.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct UploadForm {
    /// The file, with its name and Content-Type.
    file: crate::openapi::FilePart,
}

/// Stores a file for use as a task input. Send a multipart form with a `file`
/// part, or the raw bytes with their `Content-Type` (`?name=` names the file).
/// Images (PNG, JPEG, WebP, GIF) and videos (MP4, WebM, QuickTime) are accepted;
/// an image must decode, within the `[media]` limits (pixels read from its header
/// before any decode, frames, nothing after its end); a video within its frame
/// size, duration and frame limits: past them a 422 with the refusal's code
/// (`image_too_large`, `image_undecodable`, `too_many_frames`, `trailing_data`,
/// `bad_metadata`, `video_too_large`, …). A photo's Exif GPS becomes a stored location (`location`),
/// and the file is kept without it (Exif, XMP and IPTC are removed from JPEG, PNG
/// and WebP files).
#[utoipa::path(post, path = "/uploads", tag = "uploads", params(UploadQuery),
    request_body(description = "The file: the raw bytes with their own Content-Type, or a multipart form",
        content((crate::openapi::FilePart = "application/octet-stream"), (UploadForm = "multipart/form-data"))),
    responses((status = 201, body = UploadView), (status = 400, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_upload(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Query(query): Query<UploadQuery>,
    request: Request,
) -> ApiResult<(StatusCode, Json<UploadView>)> {
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let (name, mime, bytes) = if content_type.starts_with("multipart/form-data") {
        let multipart = Multipart::from_request(request, &state)
            .await
            .map_err(|rejection| ApiError::bad_request(format!("not a multipart form: {}", rejection.body_text())))?;
        file_part(multipart).await?
    } else {
        let bytes = Bytes::from_request(request, &state).await.map_err(|rejection| {
            ApiError::new(rejection.status(), too_large_or_bad(rejection.status()), rejection.body_text())
        })?;
        (query.name.clone().unwrap_or_default(), content_type, bytes)
    };
    let mime = check_type(&mime, &bytes)?;
    let name = clean_name(&name, &mime);
    // An image's header is vetted here, off the async threads (a bomb is refused
    // before anything reads it further); the store vets the whole file (it decodes
    // it once, for the thumbnail too) and refuses what does not decode.
    let limits = state.config.media.limits();
    let (header, taken_at) = {
        let (bytes, mime) = (bytes.clone(), mime.clone());
        tokio::task::spawn_blocking(move || {
            if !mime.starts_with("image/") {
                return Ok((None, None));
            }
            let header = atelier_assets::inspect_image(&bytes, &limits)?;
            // Read before storing: the store strips the position from what it keeps.
            Ok::<_, atelier_assets::VetError>((Some(header), atelier_places::gps_from_exif(&bytes)))
        })
        .await
        .map_err(|_| ApiError::internal())??
    };
    let mime = header.map_or(mime, |header| header.mime.to_owned());
    let upload = state.tasks.create_upload(&caller, &name, &mime, bytes).await?;
    let location = match taken_at {
        Some(at) => Some(state.locations.record_photo(&caller.user_id, &upload.id, at).await?),
        None => None,
    };
    Ok((StatusCode::CREATED, Json(UploadView::from(&upload).with_location(location.as_ref()))))
}

fn too_large_or_bad(status: StatusCode) -> &'static str {
    if status == StatusCode::PAYLOAD_TOO_LARGE { "payload_too_large" } else { "bad_request" }
}

/// The first part named `file`.
async fn file_part(mut multipart: Multipart) -> ApiResult<(String, String, Bytes)> {
    loop {
        let field = multipart.next_field().await.map_err(|error| {
            ApiError::new(
                error.status(),
                too_large_or_bad(error.status()),
                format!("reading the form: {}", error.body_text()),
            )
        })?;
        let Some(field) = field else {
            return Err(ApiError::validation(
                "the form has no `file` part",
                serde_json::json!({ "field": "file", "reason": "is required" }),
            ));
        };
        if field.name() != Some("file") {
            continue;
        }
        let name = field.file_name().unwrap_or_default().to_owned();
        let mime = field.content_type().unwrap_or_default().to_ascii_lowercase();
        let bytes = field.bytes().await.map_err(|error| {
            ApiError::new(
                error.status(),
                too_large_or_bad(error.status()),
                format!("reading the file: {}", error.body_text()),
            )
        })?;
        return Ok((name, mime, bytes));
    }
}

const VIDEO_TYPES: [&str; 3] = ["video/mp4", "video/webm", "video/quicktime"];

/// The file's MIME type, checked against its bytes: images are sniffed (the
/// declared type may be missing or generic), videos must be declared.
fn check_type(declared: &str, bytes: &[u8]) -> ApiResult<String> {
    let declared = declared.split(';').next().unwrap_or_default().trim().to_owned();
    if bytes.is_empty() {
        return Err(ApiError::validation(
            "the file is empty",
            serde_json::json!({ "field": "file", "reason": "is empty" }),
        ));
    }
    if VIDEO_TYPES.contains(&declared.as_str()) {
        return Ok(declared);
    }
    let sniffed = match atelier_assets::sniff_image_mime(bytes) {
        Some(mime) => mime,
        None => {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                format!(
                    "upload a PNG, JPEG, WebP or GIF image, or an MP4, WebM or QuickTime video (got {})",
                    if declared.is_empty() { "no Content-Type" } else { declared.as_str() }
                ),
            ));
        }
    };
    Ok(sniffed.to_owned())
}

/// A display name: the client's, without any path, or one made from the type.
fn clean_name(name: &str, mime: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or_default().trim();
    let base: String = base.chars().filter(|c| !c.is_control()).take(200).collect();
    if base.is_empty() { format!("upload.{}", atelier_assets::extension_for(mime)) } else { base }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_lose_their_paths() {
        assert_eq!(clean_name("../../etc/passwd", "image/png"), "passwd");
        assert_eq!(clean_name("C:\\x\\fox.png", "image/png"), "fox.png");
        assert_eq!(clean_name("", "image/jpeg"), "upload.jpg");
    }

    #[test]
    fn types_are_sniffed_for_images_and_declared_for_videos() {
        assert!(check_type("image/png", b"hello").is_err());
        assert!(check_type("", b"").is_err());
        assert_eq!(check_type("video/mp4", b"....ftyp").ok().as_deref(), Some("video/mp4"));
    }
}
