//! `POST …/images/generations` (JSON) and `POST …/images/edits` (multipart), as
//! docs/providers/openai.md 2.2 and 2.3 describe them, with each model's rules
//! and the API's 400 `invalid_request_error` naming the `param`; and
//! `GET /files/{name}`, the files DALL·E's `url` answers point at.
//!
//! Images are real, of the size and format asked for: a seeded gradient with a few
//! shapes; with `background: transparent` the gradient is fully transparent (PNG
//! or WebP with alpha).

use std::io::Cursor;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use image::{ImageFormat, Rgba, RgbaImage};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::multipart::{self, Part};
use super::{OpenAiState, Refusal, invalid, now_secs, present, unknown_model};

const BODY_LIMIT: usize = 128 * 1024 * 1024;
const MB: usize = 1024 * 1024;

pub(super) const GPT_MODELS: [&str; 3] = ["gpt-image-1", "gpt-image-1-mini", "gpt-image-1.5"];
const GPT_ONLY: [&str; 7] =
    ["output_format", "output_compression", "background", "moderation", "input_fidelity", "stream", "partial_images"];
const GENERATION_FIELDS: [&str; 14] = [
    "prompt",
    "model",
    "n",
    "size",
    "quality",
    "response_format",
    "output_format",
    "output_compression",
    "background",
    "moderation",
    "style",
    "user",
    "stream",
    "partial_images",
];
const EDIT_FIELDS: [&str; 13] = [
    "prompt",
    "model",
    "n",
    "size",
    "quality",
    "response_format",
    "output_format",
    "output_compression",
    "background",
    "input_fidelity",
    "user",
    "stream",
    "partial_images",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Png,
    Jpeg,
    Webp,
}

impl Format {
    fn name(self) -> &'static str {
        match self {
            Format::Png => "png",
            Format::Jpeg => "jpeg",
            Format::Webp => "webp",
        }
    }

    fn mime(self) -> &'static str {
        match self {
            Format::Png => "image/png",
            Format::Jpeg => "image/jpeg",
            Format::Webp => "image/webp",
        }
    }
}

/// A checked request: what to draw and how to answer.
#[derive(Debug, Clone)]
struct ImageJob {
    model: String,
    gpt: bool,
    prompt: String,
    n: u32,
    width: u32,
    height: u32,
    size: String,
    quality: String,
    format: Format,
    compression: u8,
    transparent: bool,
    url: bool,
    /// Hash of the prompt, the model and any input images.
    digest: [u8; 32],
}

fn is_gpt(model: &str) -> bool {
    GPT_MODELS.contains(&model)
}

fn sizes(model: &str) -> &'static [&'static str] {
    match model {
        "dall-e-2" => &["256x256", "512x512", "1024x1024"],
        "dall-e-3" => &["1024x1024", "1792x1024", "1024x1792"],
        _ => &["auto", "1024x1024", "1536x1024", "1024x1536"],
    }
}

fn qualities(model: &str) -> &'static [&'static str] {
    match model {
        "dall-e-2" => &["auto", "standard"],
        "dall-e-3" => &["auto", "standard", "hd"],
        _ => &["auto", "low", "medium", "high"],
    }
}

fn max_prompt(model: &str) -> usize {
    match model {
        "dall-e-2" => 1000,
        "dall-e-3" => 4000,
        _ => 32000,
    }
}

fn invalid_value<R: From<Response>>(param: &str, value: &str, allowed: &[&str]) -> R {
    let allowed: Vec<String> = allowed.iter().map(|v| format!("'{v}'")).collect();
    invalid(
        &format!("Invalid value: '{value}'. Supported values are: {}.", allowed.join(", ")),
        Some(param),
        Some("invalid_value"),
    )
}

fn unknown_parameter<R: From<Response>>(param: &str) -> R {
    invalid(&format!("Unknown parameter: '{param}'."), Some(param), Some("unknown_parameter"))
}

/// A string field (forms carry only strings).
fn string_field<'a>(fields: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>, Refusal> {
    match present(fields, name) {
        None => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(_) => Err(invalid(
            &format!("Invalid type for '{name}': expected a string, but got another type instead."),
            Some(name),
            Some("invalid_type"),
        )),
    }
}

/// An integer field; a form's text is parsed.
fn int_field(fields: &Map<String, Value>, name: &str, form: bool) -> Result<Option<i64>, Refusal> {
    let wrong = || {
        invalid(
            &format!("Invalid type for '{name}': expected an integer, but got another type instead."),
            Some(name),
            Some("invalid_type"),
        )
    };
    match present(fields, name) {
        None => Ok(None),
        Some(Value::Number(number)) => number.as_i64().map(Some).ok_or_else(wrong),
        Some(Value::String(text)) if form => text.trim().parse().map(Some).map_err(|_| wrong()),
        Some(_) => Err(wrong()),
    }
}

/// Checks a request's fields against its model's rules (docs/providers/openai.md 2.2, 2.3).
fn check(model: &str, fields: &Map<String, Value>, edit: bool, form: bool) -> Result<ImageJob, Refusal> {
    let known: &[&str] = if edit { &EDIT_FIELDS } else { &GENERATION_FIELDS };
    if let Some(unknown) = fields.keys().find(|k| !known.contains(&k.as_str())) {
        return Err(unknown_parameter(unknown));
    }
    let gpt = is_gpt(model);
    if !gpt && !matches!(model, "dall-e-2" | "dall-e-3") {
        return Err(invalid(&format!("Invalid value for 'model' = {model}."), Some("model"), Some("invalid_value")));
    }
    if edit && model == "dall-e-3" {
        return Err(invalid(
            "Invalid value for 'model': dall-e-3 does not support edits.",
            Some("model"),
            Some("invalid_value"),
        ));
    }
    if !gpt {
        if let Some(field) = GPT_ONLY.iter().find(|f| present(fields, f).is_some()) {
            return Err(unknown_parameter(field));
        }
    } else if present(fields, "response_format").is_some() {
        return Err(unknown_parameter("response_format"));
    }
    if model != "dall-e-3" && present(fields, "style").is_some() {
        return Err(unknown_parameter("style"));
    }
    let prompt = string_field(fields, "prompt")?.ok_or_else(|| {
        invalid::<Refusal>("Missing required parameter: 'prompt'.", Some("prompt"), Some("missing_required_parameter"))
    })?;
    if prompt.trim().is_empty() {
        return Err(invalid("Invalid 'prompt': empty string.", Some("prompt"), Some("empty_string")));
    }
    if prompt.chars().count() > max_prompt(model) {
        return Err(invalid(
            &format!("Invalid 'prompt': string too long. Expected a string with maximum length {}.", max_prompt(model)),
            Some("prompt"),
            Some("string_above_max_length"),
        ));
    }
    let n = int_field(fields, "n", form)?.unwrap_or(1);
    let max_n = if model == "dall-e-3" { 1 } else { 10 };
    if !(1..=max_n).contains(&n) {
        return Err(invalid(
            &format!("Invalid 'n': integer out of range. Expected a value between 1 and {max_n}."),
            Some("n"),
            Some("integer_out_of_range"),
        ));
    }
    let default_size = if gpt { "auto" } else { "1024x1024" };
    let size = string_field(fields, "size")?.unwrap_or(default_size);
    if !sizes(model).contains(&size) {
        return Err(invalid_value("size", size, sizes(model)));
    }
    let quality = string_field(fields, "quality")?.unwrap_or("auto");
    if !qualities(model).contains(&quality) {
        return Err(invalid_value("quality", quality, qualities(model)));
    }
    let format = match string_field(fields, "output_format")?.unwrap_or("png") {
        "png" => Format::Png,
        "jpeg" => Format::Jpeg,
        "webp" => Format::Webp,
        other => return Err(invalid_value("output_format", other, &["png", "jpeg", "webp"])),
    };
    let compression = int_field(fields, "output_compression", form)?.unwrap_or(100);
    if !(0..=100).contains(&compression) {
        return Err(invalid(
            "Invalid 'output_compression': integer out of range. Expected a value between 0 and 100.",
            Some("output_compression"),
            Some("integer_out_of_range"),
        ));
    }
    let background = string_field(fields, "background")?.unwrap_or("auto");
    if !["transparent", "opaque", "auto"].contains(&background) {
        return Err(invalid_value("background", background, &["transparent", "opaque", "auto"]));
    }
    if background == "transparent" && format == Format::Jpeg {
        return Err(invalid(
            "Transparent background is not supported for output format jpeg. Use png or webp.",
            Some("background"),
            Some("invalid_value"),
        ));
    }
    check_choice(fields, "moderation", &["low", "auto"])?;
    check_choice(fields, "style", &["vivid", "natural"])?;
    check_choice(fields, "input_fidelity", &["high", "low"])?;
    if model == "gpt-image-1-mini" && present(fields, "input_fidelity").is_some() {
        return Err(unknown_parameter("input_fidelity"));
    }
    let response_format = string_field(fields, "response_format")?.unwrap_or("url");
    if !["url", "b64_json"].contains(&response_format) {
        return Err(invalid_value("response_format", response_format, &["url", "b64_json"]));
    }
    if present(fields, "stream").is_some_and(|stream| stream == &json!(true) || stream == &json!("true")) {
        return Err(invalid("Streaming is not available in this emulator.", Some("stream"), Some("unsupported_value")));
    }
    let (width, height) = dimensions(size);
    let mut hasher = Sha256::new();
    for part in [model, prompt, size, quality, format.name(), background] {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part.as_bytes());
    }
    Ok(ImageJob {
        model: model.to_owned(),
        gpt,
        prompt: prompt.to_owned(),
        n: n as u32,
        width,
        height,
        size: size.to_owned(),
        quality: quality.to_owned(),
        format: if gpt { format } else { Format::Png },
        compression: compression as u8,
        transparent: gpt && background == "transparent",
        url: !gpt && response_format == "url",
        digest: hasher.finalize().into(),
    })
}

fn check_choice(fields: &Map<String, Value>, name: &str, allowed: &[&str]) -> Result<(), Refusal> {
    match string_field(fields, name)? {
        Some(value) if !allowed.contains(&value) => Err(invalid_value(name, value, allowed)),
        _ => Ok(()),
    }
}

/// `auto` is 1024x1024.
fn dimensions(size: &str) -> (u32, u32) {
    size.split_once('x').and_then(|(w, h)| Some((w.parse().ok()?, h.parse().ok()?))).unwrap_or((1024, 1024))
}

/// `POST …/images/generations`.
pub(super) async fn generations(
    State(state): State<Arc<OpenAiState>>,
    deployment: Option<String>,
    request: Request,
) -> Response {
    let base_url = state.base_url(request.headers());
    let Ok(body) = axum::body::to_bytes(request.into_body(), BODY_LIMIT).await else {
        return invalid("The request body is too large.", None, None);
    };
    let Ok(Value::Object(fields)) = serde_json::from_slice::<Value>(&body) else {
        return invalid(
            "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP \
             library correctly. The OpenAI API expects a JSON payload.)",
            None,
            None,
        );
    };
    let body_model = match string_field(&fields, "model") {
        Ok(model) => model,
        Err(refusal) => return refusal.into_response(),
    };
    // Without a model, DALL·E 2 answers, unless a GPT-only parameter is present.
    let default = if GPT_ONLY.iter().any(|f| present(&fields, f).is_some()) { "gpt-image-1" } else { "dall-e-2" };
    let model = state.model_for(deployment.as_deref(), body_model, default);
    if !is_gpt(&model) && !matches!(model.as_str(), "dall-e-2" | "dall-e-3") {
        return unknown_model(&state, &model);
    }
    match check(&model, &fields, false, false) {
        Ok(job) => answer(&state, job, &base_url).await,
        Err(refusal) => refusal.into_response(),
    }
}

/// `POST …/images/edits` (multipart: `image` or `image[]`, `mask`, fields).
pub(super) async fn edits(
    State(state): State<Arc<OpenAiState>>,
    deployment: Option<String>,
    request: Request,
) -> Response {
    let base_url = state.base_url(request.headers());
    let content_type = request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let Some(boundary) = multipart::boundary(content_type) else {
        return invalid("The edits endpoint takes multipart/form-data.", None, None);
    };
    let Ok(body) = axum::body::to_bytes(request.into_body(), BODY_LIMIT).await else {
        return invalid("The request body is too large.", None, None);
    };
    let parts = match multipart::parse(&body, &boundary) {
        Ok(parts) => parts,
        Err(error) => return invalid(&format!("Invalid multipart body: {error}."), None, None),
    };
    let mut fields = Map::new();
    let mut images: Vec<&Part> = Vec::new();
    let mut mask = None;
    for part in &parts {
        match part.name.as_str() {
            "image" | "image[]" => images.push(part),
            "mask" => mask = Some(part),
            name => match part.text() {
                Some(text) if !part.is_file() => {
                    fields.insert(name.to_owned(), Value::String(text.to_owned()));
                }
                _ => return invalid(&format!("Invalid value for '{name}': expected text."), Some(name), None),
            },
        }
    }
    let body_model = fields.get("model").and_then(Value::as_str).map(str::to_owned);
    let model = state.model_for(deployment.as_deref(), body_model.as_deref(), "gpt-image-1.5");
    if !is_gpt(&model) && !matches!(model.as_str(), "dall-e-2" | "dall-e-3") {
        return unknown_model(&state, &model);
    }
    let mut job = match check(&model, &fields, true, true) {
        Ok(job) => job,
        Err(refusal) => return refusal.into_response(),
    };
    let first = match check_inputs(&model, &images, mask) {
        Ok(first) => first,
        Err(refusal) => return refusal.into_response(),
    };
    if job.size == "auto" && sizes(&model).contains(&format!("{}x{}", first.0, first.1).as_str()) {
        (job.width, job.height) = first;
    }
    let mut hasher = Sha256::new();
    hasher.update(job.digest);
    for image in &images {
        hasher.update(&image.data);
    }
    job.digest = hasher.finalize().into();
    answer(&state, job, &base_url).await
}

/// Checks the input images and the mask; returns the first image's size.
fn check_inputs(model: &str, images: &[&Part], mask: Option<&Part>) -> Result<(u32, u32), Refusal> {
    let Some(first) = images.first() else {
        return Err(invalid("Missing required parameter: 'image'.", Some("image"), Some("missing_required_parameter")));
    };
    let max = if model == "dall-e-2" { 1 } else { 16 };
    if images.len() > max {
        return Err(invalid(&format!("Too many images: {model} takes at most {max}."), Some("image"), None));
    }
    for image in images {
        let (format, (width, height)) = read_image(image)
            .ok_or_else(|| invalid::<Refusal>("Invalid image file or mode for image.", Some("image"), None))?;
        if model == "dall-e-2" {
            if format != ImageFormat::Png || image.data.len() >= 4 * MB {
                return Err(invalid("Invalid input image - format must be a PNG under 4 MB.", Some("image"), None));
            }
            if width != height {
                return Err(invalid("Invalid input image - image must be square.", Some("image"), None));
            }
        } else if !matches!(format, ImageFormat::Png | ImageFormat::WebP | ImageFormat::Jpeg)
            || image.data.len() >= 50 * MB
        {
            return Err(invalid(
                "Invalid image file or mode for image: supported formats are 'image/jpeg', 'image/png', 'image/webp' \
                 under 50 MB.",
                Some("image"),
                None,
            ));
        }
    }
    let first_size = read_image(first).map(|(_, size)| size).unwrap_or_default();
    if let Some(mask) = mask {
        let Some((format, size)) = read_image(mask) else {
            return Err(invalid("Invalid mask image format.", Some("mask"), None));
        };
        if format != ImageFormat::Png || mask.data.len() >= 4 * MB {
            return Err(invalid("Invalid mask image format - mask must be a PNG under 4 MB.", Some("mask"), None));
        }
        if size != first_size {
            return Err(invalid(
                "Invalid mask image format - mask size does not match image size.",
                Some("mask"),
                Some("invalid_image_format"),
            ));
        }
    }
    Ok(first_size)
}

fn read_image(part: &Part) -> Option<(ImageFormat, (u32, u32))> {
    let reader = image::ImageReader::new(Cursor::new(&part.data[..])).with_guessed_format().ok()?;
    let format = reader.format()?;
    Some((format, reader.into_dimensions().ok()?))
}

/// Draws the images and answers an `ImagesResponse`.
async fn answer(state: &Arc<OpenAiState>, job: ImageJob, base_url: &str) -> Response {
    let seed = state.config.seed;
    let rendering = job.clone();
    let rendered = tokio::task::spawn_blocking(move || {
        (0..rendering.n).map(|index| render(&rendering, seed, index)).collect::<Result<Vec<_>, _>>()
    })
    .await;
    let images = match rendered {
        Ok(Ok(images)) => images,
        _ => {
            return super::api_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "The server had an error while processing your request.",
                None,
                None,
            );
        }
    };
    let mut data = Vec::with_capacity(images.len());
    for bytes in images {
        let mut item = if job.url {
            let name = format!("img_{:08x}.{}", state.next_sequence(), job.format.name());
            state.inner().files.insert(name.clone(), (Bytes::from(bytes), job.format.mime()));
            json!({ "url": format!("{base_url}/files/{name}") })
        } else {
            json!({ "b64_json": base64::engine::general_purpose::STANDARD.encode(&bytes) })
        };
        if job.model == "dall-e-3" {
            item["revised_prompt"] = json!(format!("A detailed, vivid rendering of: {}", job.prompt));
        }
        data.push(item);
    }
    let mut body = json!({ "created": now_secs(), "data": data });
    if job.gpt {
        let input_tokens = (job.prompt.chars().count() / 4 + 1) as u64;
        let per_image: u64 = match job.quality.as_str() {
            "low" => 272,
            "medium" => 1056,
            _ => 4160,
        };
        let output_tokens = per_image * u64::from(job.n);
        body["background"] = json!(if job.transparent { "transparent" } else { "opaque" });
        body["output_format"] = json!(job.format.name());
        body["quality"] = json!(if job.quality == "auto" { "high" } else { job.quality.as_str() });
        body["size"] = json!(format!("{}x{}", job.width, job.height));
        body["usage"] = json!({
            "input_tokens": input_tokens,
            "input_tokens_details": { "text_tokens": input_tokens, "image_tokens": 0 },
            "output_tokens": output_tokens,
            "output_tokens_details": { "image_tokens": output_tokens, "text_tokens": 0 },
            "total_tokens": input_tokens + output_tokens,
        });
    }
    (StatusCode::OK, Json(body)).into_response()
}

/// One image, encoded as the job asks.
fn render(job: &ImageJob, seed: u64, index: u32) -> Result<Vec<u8>, image::ImageError> {
    let mut hasher = Sha256::new();
    hasher.update(seed.to_le_bytes());
    hasher.update(job.digest);
    hasher.update(index.to_le_bytes());
    let d: [u8; 32] = hasher.finalize().into();
    let (width, height) = (job.width, job.height);
    let alpha = if job.transparent { 0 } else { 255 };
    let (from, to) = ([d[0], d[1], d[2]], [d[3], d[4], d[5]]);
    let span = (width + height).max(1) as f32;
    let mut img = RgbaImage::from_fn(width, height, |x, y| {
        let t = (x + y) as f32 / span;
        let [r, g, b] = std::array::from_fn(|c| (f32::from(from[c]) * (1.0 - t) + f32::from(to[c]) * t) as u8);
        Rgba([r, g, b, alpha])
    });
    for shape in d[6..30].chunks_exact(6) {
        let cx = u32::from(shape[1]) * width / 255;
        let cy = u32::from(shape[2]) * height / 255;
        let size = width.min(height) / 10 + u32::from(shape[3]) * width.min(height) / 1020;
        let color = Rgba([shape[4], shape[5], shape[0] ^ shape[4], 255]);
        for y in cy.saturating_sub(size)..(cy + size).min(height) {
            for x in cx.saturating_sub(size)..(cx + size).min(width) {
                let inside = if shape[0] % 2 == 0 {
                    let (dx, dy) = (i64::from(x) - i64::from(cx), i64::from(y) - i64::from(cy));
                    dx * dx + dy * dy <= i64::from(size) * i64::from(size)
                } else {
                    y.abs_diff(cy) <= size / 3
                };
                if inside {
                    img.put_pixel(x, y, color);
                }
            }
        }
    }
    let mut out = Cursor::new(Vec::new());
    let image = if job.transparent {
        image::DynamicImage::ImageRgba8(img)
    } else {
        image::DynamicImage::ImageRgb8(image::DynamicImage::ImageRgba8(img).to_rgb8())
    };
    match job.format {
        Format::Png => image.write_to(&mut out, ImageFormat::Png)?,
        Format::Webp => image.write_to(&mut out, ImageFormat::WebP)?,
        Format::Jpeg => {
            let quality = job.compression.clamp(1, 100);
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality).encode_image(&image.to_rgb8())?;
        }
    }
    Ok(out.into_inner())
}

/// `GET /files/{name}`: a DALL·E `url` result.
pub(super) async fn serve_file(State(state): State<Arc<OpenAiState>>, Path(name): Path<String>) -> Response {
    match state.inner().files.get(&name) {
        Some((bytes, mime)) => ([(header::CONTENT_TYPE, *mime)], bytes.clone()).into_response(),
        None => (StatusCode::NOT_FOUND, "Not Found").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(value: Value) -> Map<String, Value> {
        value.as_object().cloned().expect("object")
    }

    #[test]
    fn each_model_keeps_its_rules() {
        let refused = [
            ("dall-e-3", json!({ "prompt": "x", "n": 2 })),
            ("dall-e-2", json!({ "prompt": "x", "size": "1792x1024" })),
            ("gpt-image-1", json!({ "prompt": "x", "response_format": "url" })),
            ("dall-e-3", json!({ "prompt": "x", "output_format": "png" })),
            ("gpt-image-1", json!({ "prompt": "x", "output_format": "jpeg", "background": "transparent" })),
            ("gpt-image-1", json!({ "prompt": "x", "quality": "hd" })),
            ("gpt-image-1", json!({ "prompt": "x", "n": "2" })),
            ("gpt-image-1", json!({ "prompt": "x", "colour": "red" })),
            ("dall-e-2", json!({ "prompt": "x", "style": "vivid" })),
        ];
        for (model, input) in refused {
            let response = check(model, &fields(input.clone()), false, false).expect_err("refused");
            assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{model} {input}");
        }
        let job = check("gpt-image-1", &fields(json!({ "prompt": "x", "n": "3" })), true, true).expect("form ints");
        assert_eq!((job.n, job.width, job.height), (3, 1024, 1024));
        let job = check("dall-e-3", &fields(json!({ "prompt": "x", "size": "1792x1024" })), false, false).expect("ok");
        assert!(job.url, "DALL·E answers with URLs by default");
    }

    #[test]
    fn transparent_images_have_alpha_and_formats_are_real() {
        let mut job = check(
            "gpt-image-1",
            &fields(
                json!({ "prompt": "x", "size": "1024x1536", "background": "transparent", "output_format": "webp" }),
            ),
            false,
            false,
        )
        .expect("ok");
        job.width = 64;
        job.height = 96;
        let webp = render(&job, 1, 0).expect("webp");
        let decoded = image::load_from_memory_with_format(&webp, ImageFormat::WebP).expect("decodes");
        assert_eq!((decoded.width(), decoded.height()), (64, 96));
        assert!(decoded.color().has_alpha());
        assert!(decoded.to_rgba8().pixels().any(|p| p.0[3] == 0));
        job.transparent = false;
        job.format = Format::Jpeg;
        let jpeg = render(&job, 1, 0).expect("jpeg");
        assert_eq!(image::guess_format(&jpeg).expect("format"), ImageFormat::Jpeg);
    }
}
