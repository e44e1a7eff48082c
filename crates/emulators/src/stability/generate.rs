//! `POST /v2beta/stable-image/generate/{ultra|core|sd3}`: the headers, the
//! multipart body, the fields (`params.rs`), then the image, answered as raw
//! bytes (`accept: image/*`, the default) or as JSON
//! (`accept: application/json`).
//!
//! Unconfirmed, the emulator's choices: `accept: */*` (what most HTTP clients
//! send by default) counts as `image/*`, and any other value than these three
//! is refused 400 (`image/png` too); the JSON answer carries the
//! `finish-reason` and `seed` headers as the bytes answer does; bodies over 10
//! MiB answer 413; a random seed (field `seed` absent or 0) is drawn from the
//! run's seed and a sequence, so a run replays; the image is drawn from the
//! request's seed, the endpoint (and SD3's model), the prompts, the style and
//! the input image, so the same request with the same seed answers the same
//! bytes.

use std::io::Cursor;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::StabilityState;
use super::errors::{self, Refusal};
use super::faults::Endpoint;
use super::params::{self, Generate};
use crate::faults::{Fault, TaskFault};
use crate::openai::multipart;
use crate::render;

/// The largest body taken (unconfirmed: the service's limit).
pub(super) const MAX_BODY_BYTES: usize = 10 * 1024 * 1024;

/// How the client asked to be answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Accept {
    Image,
    Json,
}

/// What the generation ended with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FinishReason {
    Success,
    ContentFiltered,
}

impl FinishReason {
    fn as_str(self) -> &'static str {
        match self {
            FinishReason::Success => "SUCCESS",
            FinishReason::ContentFiltered => "CONTENT_FILTERED",
        }
    }
}

/// The handler of the three generate endpoints.
pub(super) async fn generate(
    State(state): State<Arc<StabilityState>>,
    Path(engine): Path<String>,
    request: Request,
) -> Response {
    let id = state.request_id();
    run(&state, &engine, &id, request).await.unwrap_or_else(IntoResponse::into_response)
}

async fn run(state: &StabilityState, engine: &str, id: &str, request: Request) -> Result<Response, Refusal> {
    let endpoint = match engine {
        "ultra" => Endpoint::Ultra,
        "core" => Endpoint::Core,
        "sd3" => Endpoint::Sd3,
        other => {
            return Err(errors::error(404, id, &[format!("path: no generate endpoint named `{other}`")]));
        }
    };
    let fault = TaskFault::of(&request);
    let (parts, body) = request.into_parts();
    let accept = accept_of(&parts.headers).map_err(|e| errors::bad_request::<Refusal>(id, &[e]))?;
    let Some(boundary) = content_type_boundary(&parts.headers) else {
        return Err(errors::bad_request(id, &["content-type: must be multipart/form-data (with a boundary)".into()]));
    };
    let body: Bytes = axum::body::to_bytes(body, MAX_BODY_BYTES).await.map_err(|_| {
        errors::error::<Refusal>(413, id, &["body: payloads cannot be larger than 10MiB in size".into()])
    })?;
    let form =
        multipart::parse(&body, &boundary).map_err(|e| errors::bad_request::<Refusal>(id, &[format!("body: {e}")]))?;
    let request = params::check(endpoint, &form).map_err(|errors| errors::bad_request::<Refusal>(id, &errors))?;
    if let Some(model) = request.model {
        state.count_model(model);
    }

    let finish = match fault {
        Some(Fault::Safety(_)) => {
            return Err(errors::error(403, id, &[errors::MODERATION_MESSAGE.to_owned()]));
        }
        Some(Fault::GenerationFailed) => FinishReason::ContentFiltered,
        _ => FinishReason::Success,
    };
    let seed = if request.seed == 0 { state.random_seed() } else { request.seed };
    let image = draw(endpoint, &request, seed, finish)
        .await
        .map_err(|e| errors::error::<Refusal>(500, id, &[format!("An unexpected server error has occurred: {e}")]))?;
    state.count_image(finish == FinishReason::ContentFiltered);
    Ok(answer(accept, &request, &image, seed, finish, id))
}

/// The `accept` header: `image/*` (also absent or `*/*`) or `application/json`.
fn accept_of(headers: &HeaderMap) -> Result<Accept, String> {
    let Some(value) = headers.get(header::ACCEPT) else { return Ok(Accept::Image) };
    let value = value.to_str().map_err(|_| "accept: must be image/* or application/json".to_owned())?;
    let essence = value.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    match essence.as_str() {
        "" | "*/*" | "image/*" => Ok(Accept::Image),
        "application/json" => Ok(Accept::Json),
        other => Err(format!("accept: must be image/* or application/json, got `{other}`")),
    }
}

/// The multipart boundary of the `content-type`, if the body is multipart.
fn content_type_boundary(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    multipart::boundary(value).filter(|boundary| !boundary.is_empty())
}

/// Draws the image off the async workers: the seeded drawing, or a plain grey
/// one for a filtered result.
async fn draw(endpoint: Endpoint, request: &Generate, seed: u64, finish: FinishReason) -> Result<Vec<u8>, String> {
    let (width, height, encoding) = (request.width, request.height, request.format.encoding());
    let salt = match request.model {
        Some(model) => format!("stability/{}/{model}", endpoint.stats_key()),
        None => format!("stability/{}", endpoint.stats_key()),
    };
    let digest = request_digest(request);
    let drawing = tokio::task::spawn_blocking(move || match finish {
        FinishReason::Success => render::render(width, height, seed, &salt, &digest, 0, encoding),
        FinishReason::ContentFiltered => grey(width, height, encoding),
    });
    match drawing.await {
        Ok(result) => result.map_err(|e| e.to_string()),
        Err(e) => Err(format!("the image renderer stopped: {e}")),
    }
}

/// What, besides the seed, makes two images differ.
fn request_digest(request: &Generate) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for text in [request.prompt.as_str(), &request.negative_prompt, request.style_preset.as_deref().unwrap_or("")] {
        hasher.update((text.len() as u64).to_le_bytes());
        hasher.update(text.as_bytes());
    }
    if let Some((input, strength)) = &request.image {
        hasher.update(input.digest);
        hasher.update(strength.to_le_bytes());
    }
    if let Some(scale) = request.cfg_scale {
        hasher.update(scale.to_le_bytes());
    }
    hasher.finalize().into()
}

/// A plain grey image: what a filtered result looks like here.
fn grey(width: u32, height: u32, encoding: render::Encoding) -> Result<Vec<u8>, image::ImageError> {
    let img = image::RgbImage::from_pixel(width, height, image::Rgb([128, 128, 128]));
    let mut out = Cursor::new(Vec::new());
    match encoding {
        render::Encoding::Png => img.write_to(&mut out, image::ImageFormat::Png)?,
        render::Encoding::Jpeg(quality) => {
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality).encode_image(&img)?;
        }
        render::Encoding::Webp => img.write_to(&mut out, image::ImageFormat::WebP)?,
    }
    Ok(out.into_inner())
}

/// The 200: the bytes with their type, or `{"image","finish_reason","seed"}`.
fn answer(accept: Accept, request: &Generate, image: &[u8], seed: u64, finish: FinishReason, id: &str) -> Response {
    let mime = request.format.mime();
    let mut response = match accept {
        Accept::Image => {
            let mut response = (StatusCode::OK, Body::from(image.to_vec())).into_response();
            response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
            response
        }
        Accept::Json => {
            let body = json!({ "image": STANDARD.encode(image), "finish_reason": finish.as_str(), "seed": seed });
            let mut response = (StatusCode::OK, Body::from(body.to_string())).into_response();
            if let Ok(value) = HeaderValue::from_str(&format!("application/json; type={mime}")) {
                response.headers_mut().insert(header::CONTENT_TYPE, value);
            }
            response
        }
    };
    let headers = response.headers_mut();
    headers.insert("finish-reason", HeaderValue::from_static(finish.as_str()));
    headers.insert("seed", HeaderValue::from(seed));
    if let Ok(value) = HeaderValue::from_str(id) {
        headers.insert("x-request-id", value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_values() {
        let mut headers = HeaderMap::new();
        assert_eq!(accept_of(&headers), Ok(Accept::Image));
        for (value, expected) in [
            ("image/*", Ok(Accept::Image)),
            ("*/*", Ok(Accept::Image)),
            ("application/json", Ok(Accept::Json)),
            ("Application/JSON; charset=utf-8", Ok(Accept::Json)),
        ] {
            headers.insert(header::ACCEPT, HeaderValue::from_static(value));
            assert_eq!(accept_of(&headers), expected, "{value}");
        }
        headers.insert(header::ACCEPT, HeaderValue::from_static("text/html"));
        assert!(accept_of(&headers).is_err_and(|e| e.starts_with("accept:")));
    }
}
