//! `POST /v1/images/edits`: OpenAI's multipart edit (`image` or `image[]` files, a
//! `mask`, the prompt and options as text parts). Each file becomes an upload, as
//! `POST /api/v1/uploads` makes them, and goes to the model's image field.

use atelier_core::catalog::Modality;
use axum::Json;
use axum::extract::{Multipart, State};
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Map, Value};

use super::error::OpenAiError;
use super::images::{ImagesRequest, ResponseFormat, answer};
use super::run;
use crate::api::auth::Caller;
use crate::app::AppState;

/// The most images one edit takes (GPT Image's limit).
const MAX_IMAGES: usize = 16;

/// Text parts that are numbers in OpenAI's request.
const NUMERIC: [&str; 3] = ["n", "output_compression", "partial_images"];

pub async fn edit(
    State(state): State<AppState>,
    Caller(caller): Caller,
    headers: HeaderMap,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<Json<Value>, OpenAiError> {
    let mut multipart = multipart.map_err(|rejection| {
        OpenAiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            format!("send the edit as multipart/form-data: {}", rejection.body_text()),
        )
    })?;
    let mut fields = Map::new();
    let mut images = Vec::new();
    let mut mask = None;
    while let Some(field) = multipart.next_field().await.map_err(|error| {
        OpenAiError::new(error.status(), "invalid_request_error", format!("reading the form: {}", error.body_text()))
    })? {
        let name = field.name().unwrap_or_default().to_owned();
        let is_image = matches!(name.as_str(), "image" | "image[]");
        if is_image || name == "mask" {
            if is_image && images.len() == MAX_IMAGES {
                return Err(OpenAiError::invalid("image", format!("at most {MAX_IMAGES} images")));
            }
            let file_name = field.file_name().unwrap_or_default().to_owned();
            let declared = field.content_type().unwrap_or_default().to_owned();
            let bytes = field.bytes().await.map_err(|error| {
                OpenAiError::new(
                    error.status(),
                    "invalid_request_error",
                    format!("reading {name}: {}", error.body_text()),
                )
            })?;
            let param = if is_image { "image" } else { "mask" };
            let mime = image_type(&bytes, &declared, param)?;
            // A bomb is refused from its header; the store decodes the rest.
            crate::api::uploads::inspect_image(&bytes, state.config.media.limits())
                .await
                .map_err(|refused| OpenAiError::invalid(param, format!("{param}: {refused}")).code(refused.code()))?;
            let upload = state.tasks.create_upload(&caller, &file_name, &mime, bytes).await?;
            if is_image {
                images.push(upload.id.to_string());
            } else {
                mask = Some(upload.id.to_string());
            }
            continue;
        }
        let text = field.text().await.map_err(|error| {
            OpenAiError::new(error.status(), "invalid_request_error", format!("reading {name}: {}", error.body_text()))
        })?;
        let value = if NUMERIC.contains(&name.as_str()) {
            text.trim()
                .parse::<u64>()
                .map(Value::from)
                .map_err(|_| OpenAiError::invalid(&name, format!("{name} must be a whole number (got {text:?})")))?
        } else {
            Value::String(text)
        };
        fields.insert(name, value);
    }
    if images.is_empty() {
        return Err(OpenAiError::invalid("image", "image is required: one or more image files"));
    }
    let request: ImagesRequest = serde_json::from_value(Value::Object(fields))
        .map_err(|error| OpenAiError::invalid("body", format!("the form does not fit: {error}")))?;
    let spec = run::resolve(&state, request.model.as_deref(), Modality::Image)?;
    let format = ResponseFormat::choose(request.response_format.as_deref(), &spec)?;
    let input = request.fit(&spec, images, mask)?;
    let task = run::create(&state, &caller, &headers, &spec, input).await?;
    let task = run::finish(&state, &caller, task).await?;
    answer(&state, &headers, &task, format).await.map(Json)
}

/// An image part's type, read from its bytes (the SDKs may send any declared type).
fn image_type(bytes: &[u8], declared: &str, param: &str) -> Result<String, OpenAiError> {
    if bytes.is_empty() {
        return Err(OpenAiError::invalid(param, format!("{param} is empty")));
    }
    let mime = atelier_assets::sniff_image_mime(bytes).ok_or_else(|| {
        OpenAiError::invalid(
            param,
            format!(
                "{param} must be a PNG, JPEG, WebP or GIF image (sent as {})",
                if declared.is_empty() { "no type" } else { declared }
            ),
        )
        .code("invalid_image_format")
    })?;
    Ok(mime.to_owned())
}
