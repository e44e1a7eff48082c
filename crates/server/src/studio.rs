//! The web studio: plain HTML, CSS and JavaScript modules from `crates/server/studio/`,
//! embedded in the binary at compile time (also in debug builds, so what the tests
//! drive is what ships) and served at `/` and `/studio/…`. No build step, no
//! front-end server. The studio talks to the same `/api/v1` as every other client,
//! signed in with a session cookie.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use rust_embed::RustEmbed;

use crate::api::error::ApiError;
use crate::app::AppState;

#[derive(RustEmbed)]
#[folder = "studio/"]
struct Files;

/// The studio's pages may load only the studio's own files and talk only to this
/// server; images may also be `blob:`/`data:` (upload previews, the enrolment QR).
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; \
     style-src 'self'; script-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

/// Every embedded file's path (under `/studio/`) and size in bytes: what a first
/// visit downloads, since `index.html` loads every module at once.
pub fn files() -> Vec<(String, usize)> {
    Files::iter().filter_map(|path| Files::get(&path).map(|file| (path.into_owned(), file.data.len()))).collect()
}

pub fn routes() -> Router<AppState> {
    Router::new().route("/", get(index)).route("/studio/{*path}", get(file))
}

async fn index(headers: HeaderMap) -> Response {
    serve("index.html", &headers)
}

async fn file(Path(path): Path<String>, headers: HeaderMap) -> Response {
    serve(&path, &headers)
}

fn serve(path: &str, request: &HeaderMap) -> Response {
    let Some(file) = Files::get(path) else {
        return ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("no studio file {path}")).into_response();
    };
    let etag = format!("\"{}\"", hex::encode(&file.metadata.sha256_hash()[..16]));
    let fresh = request.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()).is_some_and(|v| v == etag);
    let mut response =
        if fresh { StatusCode::NOT_MODIFIED.into_response() } else { file.data.into_owned().into_response() };
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(file.metadata.mimetype()) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    if let Ok(value) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, value);
    }
    // Revalidated on every load (cheap: a 304), so a new binary's studio is seen at once.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_the_index_names_is_embedded() {
        let index = Files::get("index.html").expect("index.html is embedded");
        let html = String::from_utf8_lossy(&index.data).into_owned();
        let mut named = 0;
        for piece in html.split("\"/studio/").skip(1) {
            let path = piece.split('"').next().unwrap_or_default();
            assert!(Files::get(path).is_some(), "index.html names /studio/{path}, which is not embedded");
            named += 1;
        }
        assert!(named >= 2, "index.html should name its stylesheet and script");
    }

    #[test]
    fn modules_import_only_embedded_files() {
        let mut imports = 0;
        for path in Files::iter().filter(|p| p.ends_with(".js")) {
            let source = String::from_utf8_lossy(&Files::get(&path).expect("listed").data).into_owned();
            let dir = path.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
            for piece in source.split(" from '").skip(1) {
                let target = piece.split('\'').next().unwrap_or_default();
                let resolved = resolve(dir, target);
                assert!(Files::get(&resolved).is_some(), "{path} imports {target} ({resolved}), not embedded");
                imports += 1;
            }
        }
        assert!(imports > 10, "the views' imports were found ({imports})");
    }

    fn resolve(dir: &str, target: &str) -> String {
        let mut parts: Vec<&str> = if dir.is_empty() { vec![] } else { dir.split('/').collect() };
        for segment in target.split('/') {
            match segment {
                "." => {}
                ".." => {
                    parts.pop();
                }
                other => parts.push(other),
            }
        }
        parts.join("/")
    }
}
