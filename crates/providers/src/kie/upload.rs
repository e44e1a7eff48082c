//! Input images through Kie's file-upload API (docs/providers/kie.md 1.5, requirement 3.4).
//!
//! Kie's generate calls take image URLs it can fetch. Every reference in a task
//! input is first uploaded to Kie's upload host, and the generate body carries
//! the `downloadUrl` Kie answers:
//! - an http(s) URL: `POST /api/file-url-upload` (Kie fetches it);
//! - a `data:` URI: decoded here, then `POST /api/file-base64-upload` when it is
//!   at most 10 MB, else as a stream (Kie's advice for larger files);
//! - an Atelier upload or output id: opened through [`InputFiles`], then
//!   `POST /api/file-stream-upload` (multipart).
//!
//! Kie keeps uploads for 3 days. Each upload is remembered (key: the URL, else
//! the file's SHA-256) and reused by later tasks while it is fresh enough.

use atelier_core::CoreError;
use atelier_core::ports::{ErrorClass, InputFiles, InputRef, ProviderError, ProviderUpload};
use atelier_core::time::now_millis;
use base64::Engine;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::SERVICE;
use super::client::KieClient;

/// Where Atelier's inputs go in Kie's upload space (no leading or trailing `/`).
pub const UPLOAD_PATH: &str = "atelier/inputs";
/// Kie deletes uploads 3 days after `uploadedAt`.
const LIFETIME_MS: i64 = 3 * DAY_MS;
/// A remembered upload is reused only while it has this much life left: two days
/// and an hour. Kie's pages say "3 days", but some banners say "24 h"; with this
/// margin a reused file is less than 23 hours old, so it is still there when Kie
/// fetches it under either statement (a task starts within the hour).
pub const REUSE_MARGIN_MS: i64 = 2 * DAY_MS + HOUR_MS;
/// Life an upload made by this task's own `prepare` needs left for its submit.
pub const FETCH_MARGIN_MS: i64 = HOUR_MS;
// A reused file is never a day old, whichever of Kie's statements holds.
const _: () = assert!(LIFETIME_MS - REUSE_MARGIN_MS < DAY_MS);
/// Kie advises stream uploads above 10 MB.
const BASE64_LIMIT: usize = 10 * 1024 * 1024;
const DAY_MS: i64 = 24 * HOUR_MS;
const HOUR_MS: i64 = 3_600_000;

/// Checks every reference of an input field (no network): the error names the
/// entry, as `images[1]`.
pub fn check_references(field: &str, references: &[String]) -> Result<(), CoreError> {
    for (index, reference) in references.iter().enumerate() {
        let name = format!("{field}[{index}]");
        match InputRef::parse(reference).map_err(|reason| CoreError::invalid(&name, reason))? {
            InputRef::DataUri(uri) => {
                decode_data_uri(&uri).map_err(|error| CoreError::invalid(&name, error.message))?;
            }
            InputRef::Url(_) | InputRef::Upload(_) | InputRef::Output(_) | InputRef::Task(_) => {}
        }
    }
    Ok(())
}

/// Uploads each reference (or reuses a fresh earlier upload) and returns the copies
/// Kie holds (the URLs it should fetch, with their expiry), in order.
///
/// `margin_ms`: how much life a cached upload must have left to be used:
/// [`REUSE_MARGIN_MS`] when preparing a task (reuse across tasks), [`FETCH_MARGIN_MS`]
/// in the submit right after (Kie fetches the file as the generate arrives).
pub async fn upload_all(
    client: &KieClient,
    files: &dyn InputFiles,
    references: &[String],
    margin_ms: i64,
) -> Result<Vec<ProviderUpload>, ProviderError> {
    let mut copies = Vec::with_capacity(references.len());
    for reference in references {
        copies.push(upload_one(client, files, reference, margin_ms).await?);
    }
    Ok(copies)
}

async fn upload_one(
    client: &KieClient,
    files: &dyn InputFiles,
    reference: &str,
    margin_ms: i64,
) -> Result<ProviderUpload, ProviderError> {
    let parsed = InputRef::parse(reference)
        .map_err(|reason| ProviderError::new(ErrorClass::ClientError, format!("input file: {reason}")))?;
    match &parsed {
        InputRef::Url(url) => {
            if let Some(upload) = files.cached_upload(SERVICE, url, margin_ms).await {
                return Ok(upload);
            }
            let body = json!({ "fileUrl": url, "uploadPath": UPLOAD_PATH });
            let data = client.post_upload("/api/file-url-upload", &body).await?;
            remember(files, url, &data).await
        }
        InputRef::DataUri(uri) => {
            let (mime, bytes) = decode_data_uri(uri)?;
            let key = sha256_hex(&bytes);
            if let Some(upload) = files.cached_upload(SERVICE, &key, margin_ms).await {
                return Ok(upload);
            }
            let name = file_name(&key, &mime);
            let data = if bytes.len() <= BASE64_LIMIT {
                let body = json!({ "base64Data": uri, "uploadPath": UPLOAD_PATH, "fileName": name });
                client.post_upload("/api/file-base64-upload", &body).await?
            } else {
                stream(client, bytes, &mime, &name).await?
            };
            remember(files, &key, &data).await
        }
        InputRef::Upload(_) | InputRef::Output(_) | InputRef::Task(_) => {
            let file = files.open(&parsed).await?;
            if let Some(upload) = files.cached_upload(SERVICE, &file.sha256, margin_ms).await {
                return Ok(upload);
            }
            let name = file_name(&file.sha256, &file.mime);
            let data = stream(client, file.bytes.to_vec(), &file.mime, &name).await?;
            remember(files, &file.sha256, &data).await
        }
    }
}

async fn stream(client: &KieClient, bytes: Vec<u8>, mime: &str, name: &str) -> Result<Value, ProviderError> {
    let part = reqwest::multipart::Part::bytes(bytes)
        .file_name(name.to_owned())
        .mime_str(mime)
        .map_err(|error| ProviderError::new(ErrorClass::ClientError, format!("building the upload: {error}")))?;
    let form = reqwest::multipart::Form::new()
        .part("file", part)
        .text("uploadPath", UPLOAD_PATH)
        .text("fileName", name.to_owned());
    client.post_upload_multipart("/api/file-stream-upload", form).await
}

/// Records Kie's answer and returns the copy (its `downloadUrl` and expiry).
async fn remember(files: &dyn InputFiles, key: &str, data: &Value) -> Result<ProviderUpload, ProviderError> {
    let url = data
        .get("downloadUrl")
        .and_then(Value::as_str)
        .filter(|url| url.starts_with("http://") || url.starts_with("https://"))
        .ok_or_else(|| ProviderError::new(ErrorClass::MalformedResponse, "Kie's upload answer has no downloadUrl"))?
        .to_owned();
    let upload = ProviderUpload { url, expires_at: expires_at(data) };
    files.remember_upload(SERVICE, key, &upload).await;
    Ok(upload)
}

/// `uploadedAt` (ISO 8601) plus 3 days; now plus 3 days when Kie gives no time.
fn expires_at(data: &Value) -> i64 {
    let uploaded = data
        .get("uploadedAt")
        .and_then(Value::as_str)
        .and_then(|text| chrono::DateTime::parse_from_rfc3339(text).ok())
        .map_or_else(now_millis, |time| time.timestamp_millis());
    uploaded + LIFETIME_MS
}

/// A name from the content hash, so that Kie's "same name overwrites" can only
/// ever overwrite a file with itself.
fn file_name(sha256: &str, mime: &str) -> String {
    let extension = match mime {
        "image/png" => "png",
        "image/jpeg" => "jpg",
        "image/webp" => "webp",
        "image/gif" => "gif",
        "video/mp4" => "mp4",
        _ => "bin",
    };
    format!("{}.{extension}", &sha256[..sha256.len().min(32)])
}

/// `data:<mime>;base64,<data>` → (mime, bytes).
fn decode_data_uri(uri: &str) -> Result<(String, Vec<u8>), ProviderError> {
    let invalid = |why: &str| ProviderError::new(ErrorClass::ClientError, format!("data URI {why}"));
    let rest = uri.trim().strip_prefix("data:").ok_or_else(|| invalid("must start with data:"))?;
    let (header, data) = rest.split_once(',').ok_or_else(|| invalid("must be data:<mime>;base64,<data>"))?;
    let mime = header.strip_suffix(";base64").ok_or_else(|| invalid("must be base64"))?;
    let mime = if mime.is_empty() { "application/octet-stream" } else { mime };
    let compact: String = data.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let engines = [
        &base64::engine::general_purpose::STANDARD,
        &base64::engine::general_purpose::STANDARD_NO_PAD,
        &base64::engine::general_purpose::URL_SAFE,
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
    ];
    let bytes =
        engines.iter().find_map(|engine| engine.decode(&compact).ok()).ok_or_else(|| invalid("is not valid base64"))?;
    if bytes.is_empty() {
        return Err(invalid("is empty"));
    }
    Ok((mime.to_ascii_lowercase(), bytes))
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_uris_decode_and_bad_ones_name_the_entry() {
        let (mime, bytes) = decode_data_uri("data:image/png;base64,aGVsbG8=").expect("decodes");
        assert_eq!((mime.as_str(), bytes.as_slice()), ("image/png", b"hello".as_slice()));
        assert!(decode_data_uri("data:image/png;base64,@@@").is_err());
        let refs = vec!["https://example.com/a.png".to_owned(), "data:image/png;base64,@@@".to_owned()];
        match check_references("images", &refs) {
            Err(CoreError::InvalidInput { details, .. }) => assert_eq!(details["field"], "images[1]"),
            other => panic!("{other:?}"),
        }
        let refs = vec!["ftp://x/y".to_owned()];
        assert!(check_references("images", &refs).is_err());
    }

    #[test]
    fn expiry_is_three_days_after_the_upload() {
        let data = json!({ "uploadedAt": "2025-01-01T12:00:00.000Z" });
        assert_eq!(expires_at(&data), 1_735_732_800_000 + LIFETIME_MS);
        let fallback = expires_at(&json!({}));
        assert!((fallback - now_millis() - LIFETIME_MS).abs() < 60_000);
    }

    #[test]
    fn file_names_come_from_the_hash() {
        let hash = sha256_hex(b"x");
        assert_eq!(file_name(&hash, "image/png"), format!("{}.png", &hash[..32]));
    }
}
