//! The videos a finished Veo operation points at:
//! `GET /v1beta/files/{id}:download?alt=media`, with the API key as every API
//! call (the protocol notes, 3.3: "download `video.uri` with the same
//! `x-goog-api-key` header"). The bytes are a real MP4, the fixture the OpenAI
//! emulator serves for its videos (`fixtures/sample.mp4`, or
//! `sample-portrait.mp4` for 9:16).
//!
//! With `redirect_downloads`, the download answers 302 to a keyless URL on the
//! emulator, `GET /__storage/{id}.mp4?sig=<signature>` (as the service may
//! redirect to storage), which serves the bytes to whoever holds the signed
//! URL and answers 403 to a wrong or missing `sig`.
//!
//! Unconfirmed, the emulator's choices: a download without a valid key answers
//! 403 `PERMISSION_DENIED` (not the API's 400 `API_KEY_INVALID`); one without
//! `alt=media` answers 400; an unknown id answers 404; the redirect itself.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::{GoogleState, errors, query_value};

/// Where the keyless download URLs live.
pub(super) const STORAGE_PREFIX: &str = "/__storage/";
const LANDSCAPE: &[u8] = include_bytes!("../../fixtures/sample.mp4");
const PORTRAIT: &[u8] = include_bytes!("../../fixtures/sample-portrait.mp4");

/// One finished video.
#[derive(Debug, Clone)]
pub(super) struct VideoFile {
    portrait: bool,
}

impl VideoFile {
    pub(super) fn new(portrait: bool) -> Self {
        Self { portrait }
    }

    fn answer(&self) -> Response {
        let bytes = Bytes::from_static(if self.portrait { PORTRAIT } else { LANDSCAPE });
        ([(header::CONTENT_TYPE, "video/mp4")], bytes).into_response()
    }
}

/// The `sig` of a file's keyless URL: a digest of the seed and the id.
fn signature(state: &GoogleState, id: &str) -> String {
    state.digest(&[b"storage", id.as_bytes()])[..16].iter().map(|b| format!("{b:02x}")).collect()
}

fn file(state: &GoogleState, id: &str) -> Option<VideoFile> {
    state.inner().files.get(id).cloned()
}

fn file_not_found(id: &str) -> Response {
    errors::not_found(&format!("File files/{id} was not found."))
}

/// `GET /v1beta/files/{id}:download?alt=media`.
pub(super) async fn download(
    State(state): State<Arc<GoogleState>>,
    Path(call): Path<String>,
    request: Request,
) -> Response {
    let Some(id) = call.strip_suffix(":download") else {
        return errors::not_found(&format!(
            "Method not found: GET /v1beta/files/{call} (the emulator serves :download)."
        ));
    };
    if query_value(request.uri().query(), "alt").as_deref() != Some("media") {
        return errors::invalid("files.download needs the query parameter alt=media.");
    }
    let Some(video) = file(&state, id) else { return file_not_found(id) };
    if state.config.redirect_downloads {
        let base = state.base_url(request.headers());
        let location = format!("{base}{STORAGE_PREFIX}{id}.mp4?sig={}", signature(&state, id));
        return match HeaderValue::from_str(&location) {
            Ok(location) => (StatusCode::FOUND, [(header::LOCATION, location)]).into_response(),
            Err(_) => errors::internal("the emulator made a redirect URL it cannot send"),
        };
    }
    state.inner().stats.videos_downloaded += 1;
    video.answer()
}

/// `GET /__storage/{id}.mp4?sig=…`: the keyless URL a download redirects to.
pub(super) async fn storage(
    State(state): State<Arc<GoogleState>>,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let Some(id) = name.strip_suffix(".mp4") else { return file_not_found(&name) };
    let Some(video) = file(&state, id) else { return file_not_found(id) };
    if query_value(query.as_deref(), "sig") != Some(signature(&state, id)) {
        return errors::rpc_error(403, "The signature of this URL is missing or wrong.", None);
    }
    state.inner().stats.videos_downloaded += 1;
    video.answer()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_videos_are_mp4() {
        assert_eq!(&LANDSCAPE[4..8], b"ftyp");
        assert_eq!(&PORTRAIT[4..8], b"ftyp");
    }
}
