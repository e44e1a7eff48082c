use atelier_core::three_d::{JobRequest, JobSource};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use base64::Engine;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::jobs::JobResponse;
use crate::api::auth::Caller;
use crate::api::error::{ApiError, ApiResult, ErrorBody};
use crate::api::extract::AppJson;
use crate::api::tasks::{idempotency_key, request_hash};
use crate::app::AppState;

/// Seed 002's `ImageTo3DRequest`: one of `image_url` (an http(s) URL, fetched by
/// the server through its address checks, or an upload id `upl_…` or output id
/// `img_…`) and `image_base64` (the file's bytes, or a `data:` URI).
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImageTo3dRequest {
    #[serde(default)]
    pub image_url: Option<String>,
    #[serde(default)]
    pub image_base64: Option<String>,
    /// Default `["glb", "obj"]`.
    #[serde(default = "default_formats")]
    pub output_formats: Vec<String>,
    /// `fast`, `balanced` (default) or `high`.
    #[serde(default = "default_quality")]
    pub quality: String,
}

/// Seed 002's `TextTo3DRequest`.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TextTo3dRequest {
    pub prompt: String,
    #[serde(default = "default_formats")]
    pub output_formats: Vec<String>,
    #[serde(default = "default_quality")]
    pub quality: String,
}

fn default_formats() -> Vec<String> {
    vec!["glb".into(), "obj".into()]
}

fn default_quality() -> String {
    "balanced".into()
}

/// The largest picture side accepted (what the engines decode).
const MAX_SIDE: u32 = 12_000;

/// Start an image-to-3D job (seed 002). 202 with the job; 503 with `Retry-After`
/// when no engine can take it (no GPU worker seen and no fallback allowed).
#[utoipa::path(post, path = "/generate/image-to-3d", tag = "3d", request_body = ImageTo3dRequest,
    responses((status = 202, body = JobResponse), (status = 400, description = "Malformed JSON", body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn image_to_3d(
    State(state): State<AppState>,
    Caller(caller): Caller,
    headers: HeaderMap,
    AppJson(request): AppJson<ImageTo3dRequest>,
) -> ApiResult<(StatusCode, Json<JobResponse>)> {
    let image = match (request.image_url.as_deref(), request.image_base64.as_deref()) {
        (Some(_), Some(_)) => {
            return Err(invalid("image_url", "give image_url or image_base64, not both"));
        }
        (None, None) => return Err(invalid("image_url", "give image_url or image_base64")),
        (Some(url), None) => url.trim().to_owned(),
        (None, Some(data)) => data_uri(data, state.config.media.limits()).await?,
    };
    start(
        &state,
        &caller,
        &headers,
        JobSource::Image(image),
        request.output_formats.clone(),
        request.quality.clone(),
        &request,
    )
    .await
}

/// Start a text-to-3D job (seed 002): the text to a picture, then the picture to 3D
/// (or a text-to-3D model, when `three_d.text_model` names one).
#[utoipa::path(post, path = "/generate/text-to-3d", tag = "3d", request_body = TextTo3dRequest,
    responses((status = 202, body = JobResponse), (status = 400, description = "Malformed JSON", body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn text_to_3d(
    State(state): State<AppState>,
    Caller(caller): Caller,
    headers: HeaderMap,
    AppJson(request): AppJson<TextTo3dRequest>,
) -> ApiResult<(StatusCode, Json<JobResponse>)> {
    let prompt = request.prompt.trim();
    if prompt.is_empty() || prompt.chars().count() > 2000 {
        return Err(invalid("prompt", "write 1 to 2000 characters"));
    }
    let source = JobSource::Prompt(prompt.to_owned());
    start(&state, &caller, &headers, source, request.output_formats.clone(), request.quality.clone(), &request).await
}

async fn start(
    state: &AppState,
    caller: &atelier_core::account::Principal,
    headers: &HeaderMap,
    source: JobSource,
    output_formats: Vec<String>,
    quality: String,
    body: &impl Serialize,
) -> ApiResult<(StatusCode, Json<JobResponse>)> {
    let job = JobRequest {
        source,
        output_formats,
        quality,
        idempotency_key: idempotency_key(headers)?,
        request_hash: Some(request_hash(body)),
    };
    let started = state.three_d.start(caller, job).await?;
    let response = JobResponse::new(state, &started.task, started.picture.as_ref(), started.degraded);
    Ok((StatusCode::ACCEPTED, Json(response)))
}

/// `image_base64` as a data URI: the bytes in base64 (a `data:` URI is taken as it
/// is), checked to be a picture of a size the engines decode, and vetted in full
/// on a blocking thread (`atelier_assets::vet_image`: the `[media]` budget from its
/// header, then a decode): a bomb or a file cut short is a 422 with its code.
async fn data_uri(data: &str, limits: atelier_assets::MediaLimits) -> ApiResult<String> {
    let data = data.trim();
    // A data URI's declared type is not trusted: the bytes say what they are.
    let encoded = data.strip_prefix("data:").and_then(|rest| rest.split_once(',')).map_or(data, |(_, encoded)| encoded);
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|error| invalid("image_base64", &format!("is not base64: {error}")))?;
    if bytes.is_empty() {
        return Err(invalid("image_base64", "is empty"));
    }
    if atelier_assets::sniff_image_mime(&bytes).is_none() {
        return Err(invalid("image_base64", "is not a picture (PNG, JPEG, WebP or GIF)"));
    }
    let header =
        crate::api::uploads::inspect_image(&bytes.clone().into(), limits.clone()).await.map_err(field_error)?;
    let (width, height) = (header.width, header.height);
    if width.max(height) > MAX_SIDE {
        return Err(invalid("image_base64", &format!("is {width}×{height}: at most {MAX_SIDE} pixels a side")));
    }
    let bytes = bytes::Bytes::from(bytes);
    let vetted = bytes.clone();
    tokio::task::spawn_blocking(move || atelier_assets::vet_image(vetted, &limits).map(|_| ()))
        .await
        .map_err(|_| ApiError::internal())?
        .map_err(field_error)?;
    Ok(format!("data:{};base64,{}", header.mime, base64::engine::general_purpose::STANDARD.encode(&bytes)))
}

/// A refused picture, naming the field.
fn field_error(refused: atelier_assets::VetError) -> ApiError {
    let mut error = ApiError::from(refused);
    if let Some(details) = error.details.as_mut().and_then(serde_json::Value::as_object_mut) {
        details.insert("field".into(), "image_base64".into());
    }
    error
}

fn invalid(field: &str, reason: &str) -> ApiError {
    ApiError::validation(format!("{field}: {reason}"), serde_json::json!({ "field": field, "reason": reason }))
}
