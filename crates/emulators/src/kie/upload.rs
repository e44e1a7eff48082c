//! Kie's file-upload API (docs/providers/kie.md 1.5), on the same listener as the rest
//! (the real one has its own host): `POST /api/file-stream-upload` (multipart),
//! `POST /api/file-url-upload`, `POST /api/file-base64-upload`, all answering
//! `{success, code, msg, data}`, and the uploaded files served back, public, at
//! their `downloadUrl` (`/uploads/<n>/<uploadPath>/<fileName>`) until they
//! expire 3 days after `uploadedAt`.
//!
//! `upload_age` makes every upload claim to be that old already, so that a
//! client's expiry handling can be tested without waiting days.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use bytes::Bytes;
use serde_json::{Map, Value, json};

use super::{KieState, now_ms};

/// The most an upload request may weigh.
const BODY_LIMIT: usize = 32 * 1024 * 1024;
/// Kie deletes uploads this long after `uploadedAt`.
const LIFETIME_MS: i64 = 3 * 24 * 3_600_000;

/// One uploaded file.
pub(super) struct Uploaded {
    bytes: Bytes,
    mime: String,
    uploaded_ms: i64,
}

/// Which upload endpoint was used, for the stats.
#[derive(Debug, Clone, Copy)]
pub(super) enum Method {
    Stream,
    Url,
    Base64,
}

/// `{"success":false,"code":…,"msg":…}` with the HTTP status equal to the code.
pub(super) fn upload_error(code: u16, msg: &str) -> Response {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, Json(json!({"success": false, "code": code, "msg": msg}))).into_response()
}

/// The upload API's own auth answer.
pub(super) async fn auth(State(state): State<Arc<KieState>>, request: Request, next: Next) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    if presented != Some(state.config.api_key.as_str()) {
        return upload_error(401, "Authentication failed: Invalid API Key");
    }
    next.run(request).await
}

/// `POST /api/file-stream-upload`: multipart `file`, `uploadPath`, `fileName`.
pub(super) async fn stream_upload(State(state): State<Arc<KieState>>, request: Request) -> Response {
    let base_url = state.base_url(request.headers());
    let content_type =
        request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let Ok(body) = axum::body::to_bytes(request.into_body(), BODY_LIMIT).await else {
        return upload_error(400, "File is too large or unreadable");
    };
    let parts = match parse_multipart(&content_type, &body) {
        Ok(parts) => parts,
        Err(msg) => return upload_error(400, &msg),
    };
    let text = |name: &str| {
        parts
            .iter()
            .find(|p| p.name == name && p.filename.is_none())
            .map(|p| String::from_utf8_lossy(&p.data).to_string())
    };
    let Some(file) = parts.iter().find(|p| p.name == "file") else {
        return upload_error(400, "Missing required parameter: file");
    };
    let name = text("fileName").or_else(|| file.filename.clone()).unwrap_or_else(|| "upload.bin".to_string());
    let mime = file.content_type.clone().unwrap_or_else(|| guess_mime(&name));
    store(&state, Method::Stream, &base_url, text("uploadPath").as_deref(), &name, file.data.clone(), mime)
}

/// `POST /api/file-url-upload`: `fileUrl`, `uploadPath`, `fileName`. Fetches the URL.
pub(super) async fn url_upload(State(state): State<Arc<KieState>>, request: Request) -> Response {
    let base_url = state.base_url(request.headers());
    let body = match json_body(request).await {
        Ok(body) => body,
        Err(response) => return response,
    };
    let Some(url) = body.get("fileUrl").and_then(Value::as_str).filter(|u| !u.is_empty()) else {
        return upload_error(400, "Missing required parameter: fileUrl");
    };
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return upload_error(400, "fileUrl must be an http(s) URL");
    }
    let upload_path = body.get("uploadPath").and_then(Value::as_str).map(str::to_string);
    if let Err(msg) = check_upload_path(upload_path.as_deref()) {
        return upload_error(400, msg);
    }
    let fetched = match state.http.get(url).timeout(std::time::Duration::from_secs(30)).send().await {
        Ok(response) if response.status().is_success() => {
            let mime = response
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(|v| v.split(';').next().unwrap_or(v).trim().to_string());
            response.bytes().await.ok().map(|bytes| (bytes, mime))
        }
        _ => None,
    };
    let Some((bytes, mime)) = fetched else {
        return upload_error(400, "Failed to download the file from fileUrl");
    };
    let from_url = url.split(['?', '#']).next().unwrap_or(url).rsplit('/').next().filter(|n| !n.is_empty());
    let name = body
        .get("fileName")
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| from_url.map(str::to_string))
        .unwrap_or_else(|| "download.bin".to_string());
    let mime = mime.filter(|m| m != "application/octet-stream").unwrap_or_else(|| guess_mime(&name));
    store(&state, Method::Url, &base_url, upload_path.as_deref(), &name, bytes, mime)
}

/// `POST /api/file-base64-upload`: `base64Data` (plain or a data URI), `uploadPath`, `fileName`.
pub(super) async fn base64_upload(State(state): State<Arc<KieState>>, request: Request) -> Response {
    let base_url = state.base_url(request.headers());
    let body = match json_body(request).await {
        Ok(body) => body,
        Err(response) => return response,
    };
    let Some(data) = body.get("base64Data").and_then(Value::as_str).filter(|d| !d.is_empty()) else {
        return upload_error(400, "Missing required parameter: base64Data");
    };
    let (mime, encoded) = match data.strip_prefix("data:").and_then(|rest| rest.split_once(',')) {
        Some((header, encoded)) => (header.strip_suffix(";base64").map(str::to_string), encoded),
        None => (None, data),
    };
    let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else {
        return upload_error(400, "Base64 decoding failed: Invalid Base64 format");
    };
    let name = body.get("fileName").and_then(Value::as_str).unwrap_or("upload.bin").to_string();
    let mime = mime.filter(|m| !m.is_empty()).unwrap_or_else(|| guess_mime(&name));
    let upload_path = body.get("uploadPath").and_then(Value::as_str);
    store(&state, Method::Base64, &base_url, upload_path, &name, Bytes::from(bytes), mime)
}

async fn json_body(request: Request) -> Result<Map<String, Value>, Response> {
    let body = axum::body::to_bytes(request.into_body(), BODY_LIMIT)
        .await
        .map_err(|_| upload_error(400, "Request body is too large or unreadable"))?;
    match serde_json::from_slice(&body) {
        Ok(Value::Object(object)) => Ok(object),
        _ => Err(upload_error(400, "Request body must be a JSON object")),
    }
}

fn check_upload_path(path: Option<&str>) -> Result<&str, &'static str> {
    match path {
        None | Some("") => Err("Missing required parameter: uploadPath"),
        Some(p) if p.starts_with('/') || p.ends_with('/') => Err("uploadPath must not start or end with /"),
        Some(p) if p.split('/').any(|s| s.is_empty() || s == "." || s == "..") => Err("uploadPath is not a valid path"),
        Some(p) => Ok(p),
    }
}

/// Stores an upload and answers its record.
fn store(
    state: &KieState,
    method: Method,
    base_url: &str,
    upload_path: Option<&str>,
    name: &str,
    bytes: Bytes,
    mime: String,
) -> Response {
    let upload_path = match check_upload_path(upload_path) {
        Ok(path) => path,
        Err(msg) => return upload_error(400, msg),
    };
    if name.is_empty() || name.contains('/') || name.contains("..") {
        return upload_error(400, "fileName is not a valid file name");
    }
    if bytes.is_empty() {
        return upload_error(400, "The file is empty");
    }
    let age = i64::try_from(state.config.upload_age.as_millis()).unwrap_or(i64::MAX);
    let uploaded_ms = now_ms().saturating_sub(age);
    let file_path = format!("{upload_path}/{name}");
    let key = format!("{}/{file_path}", state.next_sequence());
    let download_url = format!("{base_url}/uploads/{key}");
    let size = bytes.len();
    {
        let mut inner = state.inner();
        inner.stats.count_upload(method);
        inner.uploads.insert(key, Uploaded { bytes, mime: mime.clone(), uploaded_ms });
    }
    let data = json!({
        "fileName": name,
        "filePath": file_path,
        "downloadUrl": download_url,
        "fileSize": size,
        "mimeType": mime,
        "uploadedAt": iso_millis(uploaded_ms),
    });
    Json(json!({"success": true, "code": 200, "msg": "File uploaded successfully", "data": data})).into_response()
}

/// `GET /uploads/{*key}`: an uploaded file, until it expires.
pub(super) async fn serve_upload(State(state): State<Arc<KieState>>, Path(key): Path<String>) -> Response {
    let mut inner = state.inner();
    inner.stats.upload_downloads += 1;
    match inner.uploads.get(&key) {
        Some(file) if now_ms() < file.uploaded_ms + LIFETIME_MS => {
            ([(header::CONTENT_TYPE, file.mime.clone())], file.bytes.clone()).into_response()
        }
        _ => (StatusCode::NOT_FOUND, "Not Found").into_response(),
    }
}

/// `2025-01-01T12:00:00.000Z`.
fn iso_millis(ms: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

fn guess_mime(name: &str) -> String {
    let lower = name.to_ascii_lowercase();
    let mime = match lower.rsplit('.').next() {
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("webp") => "image/webp",
        Some("gif") => "image/gif",
        Some("mp4") => "video/mp4",
        _ => "application/octet-stream",
    };
    mime.to_string()
}

/// One part of a multipart body.
struct Part {
    name: String,
    filename: Option<String>,
    content_type: Option<String>,
    data: Bytes,
}

/// A small multipart/form-data reader: enough for what clients send (RFC 7578).
fn parse_multipart(content_type: &str, body: &Bytes) -> Result<Vec<Part>, String> {
    let boundary = content_type
        .split(';')
        .map(str::trim)
        .find_map(|p| p.strip_prefix("boundary="))
        .map(|b| b.trim_matches('"'))
        .filter(|_| content_type.trim_start().starts_with("multipart/form-data"))
        .ok_or("Content-Type must be multipart/form-data with a boundary")?;
    let delimiter = format!("--{boundary}");
    let mut parts = Vec::new();
    let mut rest = &body[..];
    let start = find(rest, delimiter.as_bytes()).ok_or("multipart body has no boundary")?;
    rest = &rest[start + delimiter.len()..];
    loop {
        if rest.starts_with(b"--") {
            break;
        }
        rest = rest.strip_prefix(b"\r\n").ok_or("malformed multipart body")?;
        let head_end = find(rest, b"\r\n\r\n").ok_or("malformed multipart part headers")?;
        let head = String::from_utf8_lossy(&rest[..head_end]).to_string();
        rest = &rest[head_end + 4..];
        let end = find(rest, format!("\r\n{delimiter}").as_bytes()).ok_or("unterminated multipart part")?;
        let data = Bytes::copy_from_slice(&rest[..end]);
        rest = &rest[end + 2 + delimiter.len()..];
        let mut name = None;
        let mut filename = None;
        let mut part_type = None;
        for line in head.split("\r\n") {
            let Some((key, value)) = line.split_once(':') else { continue };
            if key.trim().eq_ignore_ascii_case("content-disposition") {
                for param in value.split(';').map(str::trim) {
                    if let Some(v) = param.strip_prefix("name=") {
                        name = Some(v.trim_matches('"').to_string());
                    } else if let Some(v) = param.strip_prefix("filename=") {
                        filename = Some(v.trim_matches('"').to_string());
                    }
                }
            } else if key.trim().eq_ignore_ascii_case("content-type") {
                part_type = Some(value.trim().to_string());
            }
        }
        let name = name.ok_or("a multipart part has no name")?;
        parts.push(Part { name, filename, content_type: part_type, data });
    }
    Ok(parts)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|window| window == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart_bodies_parse() {
        let body = Bytes::from_static(
            b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\nContent-Type: image/png\r\n\r\n\x89PNG\r\n--XyZ\r\nContent-Disposition: form-data; name=\"uploadPath\"\r\n\r\natelier/inputs\r\n--XyZ--\r\n",
        );
        let parts = parse_multipart("multipart/form-data; boundary=XyZ", &body).expect("parses");
        assert_eq!(parts.len(), 2);
        assert_eq!((parts[0].name.as_str(), parts[0].filename.as_deref()), ("file", Some("a.png")));
        assert_eq!(parts[0].content_type.as_deref(), Some("image/png"));
        assert_eq!(&parts[0].data[..], b"\x89PNG");
        assert_eq!(&parts[1].data[..], b"atelier/inputs");
        assert!(parse_multipart("application/json", &body).is_err());
    }

    #[test]
    fn times_are_iso_with_milliseconds() {
        assert_eq!(iso_millis(1_735_732_800_000), "2025-01-01T12:00:00.000Z");
    }
}
