//! The web studio: plain HTML, CSS and JavaScript modules from `crates/server/studio/`,
//! embedded in the binary at compile time (also in debug builds, so what the tests
//! drive is what ships) and served at `/` and `/studio/…`. No build step, no
//! front-end server. The studio talks to the same `/api/v1` as every other client,
//! signed in with a session cookie.

use std::collections::HashMap;
use std::io::Write;
use std::sync::LazyLock;

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

/// An embedded file's path (under `/studio/`) and what it weighs on the wire.
#[derive(Debug, Clone)]
pub struct StudioFile {
    pub path: String,
    pub bytes: usize,
    /// What a browser that accepts gzip receives (`bytes` when it is not compressed).
    pub gzipped_bytes: usize,
}

/// Every embedded file: what a first visit downloads, since `index.html` loads
/// every module at once, but the dictionaries of the languages not chosen and
/// `vendor/` (three.js, imported only when a 3D model is shown).
pub fn files() -> Vec<StudioFile> {
    Files::iter()
        .filter_map(|path| {
            let bytes = Files::get(&path)?.data.len();
            let gzipped_bytes = GZIPPED.get(path.as_ref()).map_or(bytes, Vec::len);
            Some(StudioFile { path: path.into_owned(), bytes, gzipped_bytes })
        })
        .collect()
}

/// Each text file gzipped once, on first use, kept when it is smaller: the files
/// never change while the binary runs, so no request pays for compressing.
static GZIPPED: LazyLock<HashMap<String, Vec<u8>>> = LazyLock::new(|| {
    Files::iter()
        .filter_map(|path| {
            let file = Files::get(&path)?;
            let mime = file.metadata.mimetype();
            let text = mime.starts_with("text/") || mime.ends_with("javascript") || mime.ends_with("+xml");
            if !text {
                return None;
            }
            let gzipped = gzip(&file.data).filter(|gzipped| gzipped.len() < file.data.len())?;
            Some((path.into_owned(), gzipped))
        })
        .collect()
});

fn gzip(data: &[u8]) -> Option<Vec<u8>> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(data).ok()?;
    encoder.finish().ok()
}

/// Whether `Accept-Encoding` allows gzip: named with a non-zero weight, or not
/// named and allowed by `*`.
fn accepts_gzip(request: &HeaderMap) -> bool {
    let (mut gzip, mut any) = (None, None);
    for value in request.get_all(header::ACCEPT_ENCODING).iter().filter_map(|v| v.to_str().ok()) {
        for item in value.split(',') {
            let mut parts = item.split(';');
            let coding = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
            let weight = parts
                .filter_map(|p| p.trim().strip_prefix("q=").or_else(|| p.trim().strip_prefix("Q=")))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            match coding.as_str() {
                "gzip" | "x-gzip" => gzip = Some(weight > 0.0),
                "*" => any = Some(weight > 0.0),
                _ => {}
            }
        }
    }
    gzip.or(any).unwrap_or(false)
}

/// Whether `If-None-Match` names `etag` (a list, weak or strong, or `*`).
fn matches(request: &HeaderMap, etag: &str) -> bool {
    request.get_all(header::IF_NONE_MATCH).iter().filter_map(|v| v.to_str().ok()).any(|value| {
        value.split(',').map(str::trim).any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag)
    })
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
    let gzipped = GZIPPED.get(path).filter(|_| accepts_gzip(request));
    // Each encoding is its own representation, with its own strong ETag.
    let hash = hex::encode(&file.metadata.sha256_hash()[..16]);
    let etag = if gzipped.is_some() { format!("\"{hash}-gz\"") } else { format!("\"{hash}\"") };
    let mut response = match (matches(request, &etag), gzipped) {
        (true, _) => StatusCode::NOT_MODIFIED.into_response(),
        (false, Some(gzipped)) => gzipped.clone().into_response(),
        (false, None) => file.data.into_owned().into_response(),
    };
    let headers = response.headers_mut();
    if gzipped.is_some() {
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    if GZIPPED.contains_key(path) {
        headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    }
    if let Ok(value) = HeaderValue::from_str(file.metadata.mimetype()) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    if let Ok(value) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, value);
    }
    // Revalidated on every load (cheap: a 304), so a new binary's studio is seen at
    // once. The studio's files are the same for everyone: shared caches may keep them.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, no-cache"));
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

    fn with(name: header::HeaderName, value: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(name, HeaderValue::from_static(value));
        headers
    }

    #[test]
    fn gzip_is_sent_only_when_accepted() {
        let accepts = |value| accepts_gzip(&with(header::ACCEPT_ENCODING, value));
        assert!(accepts("gzip, deflate, br, zstd"));
        assert!(accepts("br;q=1.0, GZIP;q=0.5"));
        assert!(accepts("*"));
        assert!(!accepts("gzip;q=0, *"), "refused by name, whatever `*` says");
        assert!(!accepts("*;q=0"));
        assert!(!accepts("br, identity"));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }

    #[test]
    fn etags_match_in_lists_weak_or_strong() {
        let tag = "\"abc\"";
        assert!(matches(&with(header::IF_NONE_MATCH, "\"abc\""), tag));
        assert!(matches(&with(header::IF_NONE_MATCH, "\"x\", W/\"abc\""), tag));
        assert!(matches(&with(header::IF_NONE_MATCH, "*"), tag));
        assert!(!matches(&with(header::IF_NONE_MATCH, "\"abc-gz\""), tag));
        assert!(!matches(&HeaderMap::new(), tag));
    }

    #[test]
    fn every_text_file_is_gzipped_to_its_own_bytes() {
        let mut checked = 0;
        for path in Files::iter().filter(|path| path.ends_with(".js") || path.ends_with(".css")) {
            let gzipped = GZIPPED.get(path.as_ref()).unwrap_or_else(|| panic!("{path} is not gzipped"));
            let mut decoded = Vec::new();
            std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gzipped[..]), &mut decoded)
                .expect("valid gzip");
            assert_eq!(decoded, Files::get(&path).expect("embedded").data.as_ref(), "{path}");
            checked += 1;
        }
        assert!(checked > 10, "the studio's scripts and styles were found ({checked})");
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
