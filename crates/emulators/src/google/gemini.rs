//! Gemini's `POST /v1beta/models/{model}:generateContent` (the providers'
//! protocol notes, 3.4), for image output and for text.
//!
//! Request (a proto message: every field in lowerCamelCase or snake_case, an
//! unknown one answers 400 "Invalid JSON payload received. Unknown name …"):
//! `contents[{role, parts[{text}|{inlineData{mimeType,data}}|{fileData{fileUri}}…]}]`,
//! `systemInstruction`, `safetySettings`, `tools`, `toolConfig`,
//! `generationConfig{responseModalities (any case), temperature 0–2, topP 0–1,
//! candidateCount 1–8, maxOutputTokens, responseMimeType, responseSchema |
//! responseJsonSchema, imageConfig{aspectRatio}, thinkingConfig…}`.
//!
//! Image models (`gemini-2.0-flash-preview-image-generation`, which needs
//! `responseModalities` TEXT and IMAGE; `gemini-2.5-flash-image` and its
//! `-preview`, which answer TEXT and IMAGE by default and take IMAGE alone, or
//! TEXT alone for a text answer) answer per candidate
//! `{"content":{"role":"model","parts":[{"text":"Here is your image"},{"inlineData":{"mimeType":"image/png","data":"…"}}]},"finishReason":"STOP","index":0}`
//! (the text part only when TEXT is asked for). The image is a PNG of
//! `imageConfig.aspectRatio`'s size (1:1 1024×1024, 2:3 832×1248, 3:2 1248×832,
//! 3:4 864×1184, 4:3 1184×864, 4:5 896×1152, 5:4 1152×896, 9:16 768×1344,
//! 16:9 1344×768, 21:9 1536×672), else of the last input image's size (an
//! edit: `inlineData` images are decoded), else 1024×1024.
//!
//! Text models (`gemini-2.0-flash`, `-2.0-flash-lite`, `-2.5-flash`,
//! `-2.5-flash-lite`, `-2.5-pro`) answer a text derived from the prompt (the
//! last content's text), deterministic under the seed; with `responseMimeType`
//! `application/json` and a schema, the JSON of `crate::schema`'s minimal valid
//! instance (without a schema, `{"response": "<text>"}`); with `text/x.enum`,
//! the schema's first enum value. A text longer than `maxOutputTokens` (four
//! characters a token) is cut, with `finishReason: "MAX_TOKENS"`.
//!
//! Every answer carries `usageMetadata` (prompt tokens: a quarter of the text's
//! characters plus 258 per input image; 1290 per output image), `modelVersion`
//! and `responseId`.
//!
//! Faults: `safety` (prompt) answers `{"promptFeedback":{"blockReason":"SAFETY",…},"usageMetadata":…}`
//! and no candidates; `safety=output` a candidate with `finishReason`
//! `IMAGE_SAFETY` (`SAFETY` for text output) and no content;
//! `generation_failed` a candidate with `finishReason: "OTHER"` and no content;
//! `never_finish` is held as `timeout` (see `faults.rs`).
//!
//! Unconfirmed, the emulator's choices: the image sizes, the answer's `inlineData`
//! part name (proto JSON's usual spelling), the modality rules and their
//! messages, the range checks, that a schema needs a JSON or enum
//! `responseMimeType` and that `responseSchema` and `responseJsonSchema`
//! exclude each other, the blocked answers' exact shapes (no `content` at all).

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{Map, Value, json};

use super::input::{self, IMAGE_MIME_TYPES, decode_base64, field, unknown_field, whole_number};
use super::{GoogleState, errors};
use crate::faults::{Fault, SafetyStage};
use crate::render::render_png;
use crate::schema;

/// The models that draw images.
pub(super) const IMAGE_MODELS: [&str; 3] =
    ["gemini-2.0-flash-preview-image-generation", "gemini-2.5-flash-image", "gemini-2.5-flash-image-preview"];
/// The text-only models.
pub(super) const TEXT_MODELS: [&str; 5] =
    ["gemini-2.0-flash", "gemini-2.0-flash-lite", "gemini-2.5-flash", "gemini-2.5-flash-lite", "gemini-2.5-pro"];
const REQUEST_FIELDS: [&str; 8] = [
    "contents",
    "systemInstruction",
    "generationConfig",
    "safetySettings",
    "tools",
    "toolConfig",
    "cachedContent",
    "model",
];
const PART_FIELDS: [&str; 10] = [
    "text",
    "inlineData",
    "fileData",
    "thought",
    "thoughtSignature",
    "functionCall",
    "functionResponse",
    "executableCode",
    "codeExecutionResult",
    "videoMetadata",
];
/// The fields that carry a part's data (one is required).
const PART_DATA: [&str; 7] =
    ["text", "inlineData", "fileData", "functionCall", "functionResponse", "executableCode", "codeExecutionResult"];
const CONFIG_FIELDS: [&str; 20] = [
    "stopSequences",
    "responseMimeType",
    "responseSchema",
    "responseJsonSchema",
    "responseModalities",
    "candidateCount",
    "maxOutputTokens",
    "temperature",
    "topP",
    "topK",
    "seed",
    "presencePenalty",
    "frequencyPenalty",
    "responseLogprobs",
    "logprobs",
    "enableEnhancedCivicAnswers",
    "speechConfig",
    "thinkingConfig",
    "imageConfig",
    "mediaResolution",
];
const MIME_TYPES: [&str; 6] =
    ["text/plain", "application/json", "text/x.enum", "application/xml", "application/yaml", "text/yaml"];
/// `imageConfig.aspectRatio` → the image's size (unconfirmed).
const ASPECT_SIZES: [(&str, u32, u32); 10] = [
    ("1:1", 1024, 1024),
    ("2:3", 832, 1248),
    ("3:2", 1248, 832),
    ("3:4", 864, 1184),
    ("4:3", 1184, 864),
    ("4:5", 896, 1152),
    ("5:4", 1152, 896),
    ("9:16", 768, 1344),
    ("16:9", 1344, 768),
    ("21:9", 1536, 672),
];
/// Tokens an input image counts for.
const INPUT_IMAGE_TOKENS: u64 = 258;
/// Tokens an output image counts for.
const OUTPUT_IMAGE_TOKENS: u64 = 1290;
const IMAGE_TEXT: &str = "Here is your image";

/// What a text answer holds.
#[derive(Debug, Clone, PartialEq)]
enum TextMode {
    Plain,
    /// JSON: the schema's instance, written out.
    Json(String),
    /// `text/x.enum`: the value.
    Enum(String),
}

/// A checked request.
#[derive(Debug, Clone)]
pub(super) struct Job {
    model: String,
    image_output: bool,
    text_output: bool,
    candidates: u32,
    /// The last content's text.
    prompt: String,
    prompt_text_tokens: u64,
    prompt_images: u64,
    pub(super) size: (u32, u32),
    text: TextMode,
    max_output_tokens: Option<u64>,
    digest: [u8; 32],
}

/// Tokens of a text: a quarter of its characters, rounded up.
fn tokens(text: &str) -> u64 {
    (text.chars().count() as u64).div_ceil(4)
}

fn unknown_name(name: &str, at: Option<&str>) -> String {
    match at {
        Some(at) => format!("Invalid JSON payload received. Unknown name \"{name}\" at '{at}': Cannot find field."),
        None => format!("Invalid JSON payload received. Unknown name \"{name}\": Cannot find field."),
    }
}

/// What the content list holds: the last content's text, all text's tokens,
/// and the input images (the last one's size).
#[derive(Default)]
struct Contents {
    prompt: String,
    text_tokens: u64,
    images: u64,
    last_image: Option<(u32, u32)>,
}

fn check_parts(content: &Map<String, Value>, at: &str, contents: &mut Contents) -> Result<Vec<String>, String> {
    let parts = match field(content, "parts") {
        Some(Value::Array(parts)) if !parts.is_empty() => parts,
        _ => return Err(format!("* GenerateContentRequest.{at}.parts: contents.parts must not be empty.\n")),
    };
    let mut texts = Vec::new();
    for (j, part) in parts.iter().enumerate() {
        let at = format!("{at}.parts[{j}]");
        let Some(part) = part.as_object() else { return Err(format!("{at} must be an object.")) };
        if let Some(name) = unknown_field(part, &PART_FIELDS) {
            return Err(unknown_name(name, Some(&at)));
        }
        if !PART_DATA.iter().any(|name| field(part, name).is_some()) {
            return Err(format!(
                "* GenerateContentRequest.{at}.data: required oneof field 'data' must have one initialized field\n"
            ));
        }
        if let Some(text) = field(part, "text") {
            let text = text.as_str().ok_or_else(|| format!("{at}.text must be a string."))?;
            contents.text_tokens += tokens(text);
            texts.push(text.to_owned());
        }
        if let Some(inline) = field(part, "inlineData") {
            let inline = inline.as_object().ok_or_else(|| format!("{at}.inlineData must be an object."))?;
            if let Some(name) = unknown_field(inline, &["mimeType", "data", "displayName"]) {
                return Err(unknown_name(name, Some(&format!("{at}.inline_data"))));
            }
            let mime = field(inline, "mimeType").and_then(Value::as_str).unwrap_or_default();
            if mime.is_empty() {
                return Err(format!("* GenerateContentRequest.{at}.inline_data.mime_type: a mime type is required.\n"));
            }
            let data = field(inline, "data").and_then(Value::as_str).unwrap_or_default();
            let bytes = decode_base64(data).filter(|b| !b.is_empty()).ok_or_else(|| {
                format!("Invalid value at '{at}.inline_data.data' (TYPE_BYTES), Base64 decoding failed.")
            })?;
            if mime.starts_with("image/") {
                if !IMAGE_MIME_TYPES.contains(&mime) {
                    return Err(format!("Unsupported MIME type: {mime}"));
                }
                let size = input::image_size(&bytes).map_err(|_| {
                    "Unable to process input image. Please retry or report in \
                     https://developers.generativeai.google/guide/troubleshooting"
                        .to_owned()
                })?;
                contents.images += 1;
                contents.last_image = Some(size);
            }
        }
        if let Some(file) = field(part, "fileData") {
            let uri = file.as_object().and_then(|f| field(f, "fileUri")).and_then(Value::as_str);
            if uri.is_none_or(|u| u.trim().is_empty()) {
                return Err(format!("* GenerateContentRequest.{at}.file_data.file_uri: a file URI is required.\n"));
            }
        }
    }
    Ok(texts)
}

fn check_contents(body: &Map<String, Value>) -> Result<Contents, String> {
    let items = match field(body, "contents") {
        Some(Value::Array(items)) if !items.is_empty() => items,
        _ => return Err("* GenerateContentRequest.contents: contents is not specified\n".into()),
    };
    let mut contents = Contents::default();
    for (i, content) in items.iter().enumerate() {
        let at = format!("contents[{i}]");
        let Some(content) = content.as_object() else { return Err(format!("{at} must be an object.")) };
        if let Some(name) = unknown_field(content, &["role", "parts"]) {
            return Err(unknown_name(name, Some(&at)));
        }
        match field(content, "role") {
            None => {}
            Some(Value::String(role)) if ["user", "model", "function"].contains(&role.as_str()) => {}
            Some(_) => return Err("Please use a valid role: user, model.".into()),
        }
        let texts = check_parts(content, &at, &mut contents)?;
        contents.prompt = texts.join("\n");
    }
    if let Some(system) = field(body, "systemInstruction") {
        let system = system.as_object().ok_or("systemInstruction must be a Content object.")?;
        if let Some(name) = unknown_field(system, &["role", "parts"]) {
            return Err(unknown_name(name, Some("system_instruction")));
        }
        let mut ignored = Contents::default();
        check_parts(system, "system_instruction", &mut ignored)?;
        contents.text_tokens += ignored.text_tokens;
    }
    Ok(contents)
}

fn range(config: &Map<String, Value>, name: &str, low: f64, high: f64) -> Result<(), String> {
    match field(config, name) {
        None => Ok(()),
        Some(value) => match value.as_f64() {
            Some(v) if (low..=high).contains(&v) => Ok(()),
            _ => Err(format!(
                "* GenerateContentRequest.generation_config.{}: must be in the range [{low:.1}, {high:.1}], got \
                 {value}.\n",
                snake(name)
            )),
        },
    }
}

/// `responseMimeType` → `response_mime_type`, as the service's messages name fields.
fn snake(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for c in name.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Which combinations of output modalities a model takes, and its default.
fn modalities_of(model: &str) -> (&'static [&'static [&'static str]], Option<&'static [&'static str]>) {
    match model {
        "gemini-2.0-flash-preview-image-generation" => (&[&["IMAGE", "TEXT"]], None),
        m if IMAGE_MODELS.contains(&m) => (&[&["IMAGE", "TEXT"], &["IMAGE"], &["TEXT"]], Some(&["IMAGE", "TEXT"])),
        _ => (&[&["TEXT"]], Some(&["TEXT"])),
    }
}

fn check_modalities(model: &str, config: &Map<String, Value>) -> Result<Vec<String>, String> {
    let (allowed, default) = modalities_of(model);
    let mut requested: Vec<String> = match field(config, "responseModalities") {
        None => match default {
            Some(default) => default.iter().map(|m| (*m).to_owned()).collect(),
            None => return Err("Model does not support the requested response modalities: text".into()),
        },
        Some(Value::Array(items)) => {
            let mut modalities = Vec::new();
            for (i, item) in items.iter().enumerate() {
                let modality = item.as_str().map(str::to_ascii_uppercase).unwrap_or_default();
                if !["TEXT", "IMAGE", "AUDIO"].contains(&modality.as_str()) {
                    return Err(format!(
                        "Invalid value at 'generation_config.response_modalities[{i}]' \
                         (type.googleapis.com/google.ai.generativelanguage.v1beta.GenerationConfig.Modality), {item}"
                    ));
                }
                modalities.push(modality);
            }
            modalities
        }
        Some(other) => return Err(format!("generation_config.response_modalities must be a list, got {other}.")),
    };
    requested.sort();
    requested.dedup();
    if requested.is_empty() {
        requested = default.unwrap_or(&["TEXT"]).iter().map(|m| (*m).to_owned()).collect();
    }
    if allowed.iter().any(|combination| combination.iter().eq(requested.iter())) {
        return Ok(requested);
    }
    let accepted: String = allowed.iter().map(|c| format!("* {}\n", c.join(", "))).collect();
    Err(format!(
        "The requested combination of response modalities ({}) is not supported by the model. models/{model} \
         accepts the following combination of response modalities:\n{accepted}",
        requested.join(", ")
    ))
}

fn check_text_mode(config: &Map<String, Value>, answer: &str) -> Result<TextMode, String> {
    let mime = match field(config, "responseMimeType") {
        None => "text/plain",
        Some(Value::String(mime)) if MIME_TYPES.contains(&mime.as_str()) => mime.as_str(),
        Some(_) => {
            return Err("* GenerateContentRequest.generation_config.response_mime_type: allowed mimetypes are \
                        `text/plain`, `application/json`, `application/xml`, `application/yaml` and `text/x.enum`.\n"
                .into());
        }
    };
    let schema = match (field(config, "responseSchema"), field(config, "responseJsonSchema")) {
        (Some(_), Some(_)) => {
            return Err("* GenerateContentRequest.generation_config: response_schema and response_json_schema \
                        cannot both be set.\n"
                .into());
        }
        (Some(schema), None) | (None, Some(schema)) => Some(schema),
        (None, None) => None,
    };
    let instance = |schema: &Value| {
        schema::instance(schema).map_err(|e| {
            format!("* GenerateContentRequest.generation_config.response_schema: the emulator cannot answer it: {e}.\n")
        })
    };
    match (mime, schema) {
        ("application/json", Some(schema)) => Ok(TextMode::Json(instance(schema)?.to_string())),
        ("application/json", None) => Ok(TextMode::Json(json!({ "response": answer }).to_string())),
        ("text/x.enum", Some(schema)) => match instance(schema)? {
            Value::String(value) => Ok(TextMode::Enum(value)),
            _ => Err("* GenerateContentRequest.generation_config.response_schema: text/x.enum needs a STRING schema \
                      with an enum.\n"
                .into()),
        },
        ("text/x.enum", None) => Err("* GenerateContentRequest.generation_config.response_schema: text/x.enum \
                                      needs a response_schema with an enum.\n"
            .into()),
        (_, Some(_)) => Err(format!(
            "* GenerateContentRequest.generation_config.response_mime_type: {mime} cannot be used with a response \
             schema; use application/json or text/x.enum.\n"
        )),
        (_, None) => Ok(TextMode::Plain),
    }
}

/// The plain text a text model answers: derived from the prompt, deterministic under the seed.
fn plain_answer(model: &str, prompt: &str, digest: &[u8; 32]) -> String {
    let snippet: String = prompt.chars().take(500).collect();
    let tag: String = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
    format!("Emulated answer from {model} ({tag}) to: {snippet}")
}

/// Checks a `:generateContent` body for `model`.
pub(super) fn check(state: &GoogleState, model: &str, body: &Map<String, Value>) -> Result<Job, String> {
    if let Some(name) = unknown_field(body, &REQUEST_FIELDS) {
        return Err(unknown_name(name, None));
    }
    let contents = check_contents(body)?;
    if let Some(settings) = field(body, "safetySettings")
        && !settings.is_array()
    {
        return Err("safety_settings must be a list.".into());
    }
    let empty = Map::new();
    let config = match field(body, "generationConfig") {
        None => &empty,
        Some(Value::Object(config)) => config,
        Some(_) => return Err("generation_config must be an object.".into()),
    };
    if let Some(name) = unknown_field(config, &CONFIG_FIELDS) {
        return Err(unknown_name(name, Some("generation_config")));
    }
    range(config, "temperature", 0.0, 2.0)?;
    range(config, "topP", 0.0, 1.0)?;
    let candidates = match field(config, "candidateCount") {
        None => 1,
        Some(value) => match whole_number(value) {
            Some(n @ 1..=8) => n as u32,
            _ => {
                return Err(format!(
                    "* GenerateContentRequest.generation_config.candidate_count: must be from 1 to 8, got {value}.\n"
                ));
            }
        },
    };
    let max_output_tokens = match field(config, "maxOutputTokens") {
        None => None,
        Some(value) => match whole_number(value) {
            Some(n) if n >= 1 => Some(n as u64),
            _ => {
                return Err(format!(
                    "* GenerateContentRequest.generation_config.max_output_tokens: must be positive, got {value}.\n"
                ));
            }
        },
    };
    let modalities = check_modalities(model, config)?;
    let image_output = modalities.iter().any(|m| m == "IMAGE");
    let text_output = modalities.iter().any(|m| m == "TEXT");

    let aspect = match field(config, "imageConfig") {
        None => None,
        Some(Value::Object(image_config)) => {
            if let Some(name) = unknown_field(image_config, &["aspectRatio", "imageSize"]) {
                return Err(unknown_name(name, Some("generation_config.image_config")));
            }
            match field(image_config, "aspectRatio") {
                None => None,
                Some(Value::String(ratio)) => match ASPECT_SIZES.iter().find(|(r, _, _)| r == ratio) {
                    Some((_, w, h)) => Some((*w, *h)),
                    None => {
                        let known: Vec<&str> = ASPECT_SIZES.iter().map(|(r, _, _)| *r).collect();
                        return Err(format!(
                            "* GenerateContentRequest.generation_config.image_config.aspect_ratio: unsupported \
                             aspect ratio `{ratio}` (supported: {}).\n",
                            known.join(", ")
                        ));
                    }
                },
                Some(other) => return Err(format!("image_config.aspect_ratio must be a string, got {other}.")),
            }
        }
        Some(_) => return Err("generation_config.image_config must be an object.".into()),
    };
    let size = aspect.or(contents.last_image).unwrap_or((1024, 1024));

    let canonical = serde_json::to_vec(body).unwrap_or_default();
    let digest = state.digest(&[model.as_bytes(), &canonical]);
    let text = if image_output {
        TextMode::Plain
    } else {
        check_text_mode(config, &plain_answer(model, &contents.prompt, &digest))?
    };
    Ok(Job {
        model: model.to_owned(),
        image_output,
        text_output,
        candidates,
        prompt: contents.prompt,
        prompt_text_tokens: contents.text_tokens,
        prompt_images: contents.images,
        size,
        text,
        max_output_tokens,
        digest,
    })
}

fn prompt_usage(job: &Job) -> (u64, Vec<Value>) {
    let image_tokens = job.prompt_images * INPUT_IMAGE_TOKENS;
    let mut details = vec![json!({ "modality": "TEXT", "tokenCount": job.prompt_text_tokens })];
    if image_tokens > 0 {
        details.push(json!({ "modality": "IMAGE", "tokenCount": image_tokens }));
    }
    (job.prompt_text_tokens + image_tokens, details)
}

fn usage(job: &Job, text_tokens: u64, images: u64) -> Value {
    let (prompt, prompt_details) = prompt_usage(job);
    let candidates = text_tokens + images * OUTPUT_IMAGE_TOKENS;
    let mut usage = json!({
        "promptTokenCount": prompt,
        "candidatesTokenCount": candidates,
        "totalTokenCount": prompt + candidates,
        "promptTokensDetails": prompt_details,
    });
    if images > 0 {
        let mut details = vec![json!({ "modality": "IMAGE", "tokenCount": images * OUTPUT_IMAGE_TOKENS })];
        if text_tokens > 0 {
            details.insert(0, json!({ "modality": "TEXT", "tokenCount": text_tokens }));
        }
        usage["candidatesTokensDetails"] = json!(details);
    }
    usage
}

fn blocked_ratings() -> Value {
    json!([
        { "category": "HARM_CATEGORY_SEXUALLY_EXPLICIT", "probability": "NEGLIGIBLE" },
        { "category": "HARM_CATEGORY_HATE_SPEECH", "probability": "NEGLIGIBLE" },
        { "category": "HARM_CATEGORY_HARASSMENT", "probability": "NEGLIGIBLE" },
        { "category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH", "blocked": true },
    ])
}

/// The answer to a checked job, under a task fault if any.
fn answer(state: &GoogleState, job: &Job, fault: Option<&Fault>) -> Result<Value, String> {
    let response_id = state.next_id("response", 22);
    let envelope = |mut body: Value, usage: Value| {
        body["usageMetadata"] = usage;
        body["modelVersion"] = json!(job.model);
        body["responseId"] = json!(response_id);
        body
    };
    match fault {
        Some(Fault::Safety(SafetyStage::Prompt)) => {
            let (prompt, details) = prompt_usage(job);
            let usage =
                json!({ "promptTokenCount": prompt, "totalTokenCount": prompt, "promptTokensDetails": details });
            return Ok(envelope(
                json!({ "promptFeedback": { "blockReason": "SAFETY", "safetyRatings": blocked_ratings() } }),
                usage,
            ));
        }
        Some(Fault::Safety(SafetyStage::Output)) => {
            let reason = if job.image_output { "IMAGE_SAFETY" } else { "SAFETY" };
            let candidates: Vec<Value> = (0..job.candidates)
                .map(|i| json!({ "finishReason": reason, "index": i, "safetyRatings": blocked_ratings() }))
                .collect();
            return Ok(envelope(json!({ "candidates": candidates }), usage(job, 0, 0)));
        }
        Some(Fault::GenerationFailed) => {
            let candidates: Vec<Value> =
                (0..job.candidates).map(|i| json!({ "finishReason": "OTHER", "index": i })).collect();
            return Ok(envelope(json!({ "candidates": candidates }), usage(job, 0, 0)));
        }
        _ => {}
    }

    let mut candidates = Vec::with_capacity(job.candidates as usize);
    let (mut text_tokens, mut images) = (0, 0);
    for index in 0..job.candidates {
        let mut parts = Vec::new();
        let mut finish = "STOP";
        if job.image_output {
            if job.text_output {
                parts.push(json!({ "text": IMAGE_TEXT }));
                text_tokens += tokens(IMAGE_TEXT);
            }
            let (width, height) = job.size;
            let png = render_png(width, height, state.config.seed, &job.model, &job.digest, index)
                .map_err(|e| format!("could not encode an image: {e}"))?;
            parts.push(json!({
                "inlineData": { "mimeType": "image/png", "data": base64::engine::general_purpose::STANDARD.encode(png) }
            }));
            images += 1;
        } else {
            let mut text = match &job.text {
                TextMode::Plain => plain_answer(&job.model, &job.prompt, &job.digest),
                TextMode::Json(json) => json.clone(),
                TextMode::Enum(value) => value.clone(),
            };
            if let Some(max) = job.max_output_tokens
                && tokens(&text) > max
            {
                text = text.chars().take(usize::try_from(max.saturating_mul(4)).unwrap_or(usize::MAX)).collect();
                finish = "MAX_TOKENS";
            }
            text_tokens += tokens(&text);
            parts.push(json!({ "text": text }));
        }
        candidates.push(json!({
            "content": { "role": "model", "parts": parts },
            "finishReason": finish,
            "index": index,
        }));
    }
    state.inner().stats.images_generated += images;
    Ok(envelope(json!({ "candidates": candidates }), usage(job, text_tokens, images)))
}

/// `POST /v1beta/models/{model}:generateContent`.
pub(super) async fn generate(state: Arc<GoogleState>, model: String, body: Body, fault: Option<Fault>) -> Response {
    if !IMAGE_MODELS.contains(&model.as_str()) && !TEXT_MODELS.contains(&model.as_str()) {
        return errors::unknown_model(&model, "generateContent");
    }
    let fields = match input::json_object(body).await {
        Ok(fields) => fields,
        Err(refusal) => return refusal.into_response(),
    };
    // Decoding input images and drawing output ones is CPU work.
    let answered = tokio::task::spawn_blocking(move || {
        let job = check(&state, &model, &fields).map_err(|e| (400, e))?;
        state.count_model(&model);
        answer(&state, &job, fault.as_ref()).map_err(|e| (500, e))
    })
    .await;
    match answered {
        Ok(Ok(body)) => Json(body).into_response(),
        Ok(Err((code, message))) => errors::rpc_error(code, &message, None),
        Err(e) => errors::internal(&format!("the generator stopped: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::google::{GoogleEmulator, GoogleEmulatorConfig};

    fn fields(value: Value) -> Map<String, Value> {
        value.as_object().cloned().expect("object")
    }

    fn check_with(model: &str, body: Value) -> Result<Job, String> {
        let emulator = GoogleEmulator::new(GoogleEmulatorConfig::default());
        check(&emulator.state, model, &fields(body))
    }

    fn text_request(text: &str) -> Value {
        json!({ "contents": [{ "role": "user", "parts": [{ "text": text }] }] })
    }

    fn configured(config: Value) -> Value {
        json!({ "contents": [{ "parts": [{ "text": "x" }] }], "generationConfig": config })
    }

    #[test]
    fn modalities_follow_the_model() {
        let image = "gemini-2.5-flash-image";
        let job = check_with(image, text_request("a cat")).expect("job");
        assert!(job.image_output && job.text_output);
        let mut only_image = text_request("a cat");
        only_image["generationConfig"] = json!({ "responseModalities": ["image"] });
        let job = check_with(image, only_image.clone()).expect("job");
        assert!(job.image_output && !job.text_output);
        assert!(check_with("gemini-2.0-flash-preview-image-generation", only_image.clone()).is_err());
        assert!(check_with("gemini-2.0-flash-preview-image-generation", text_request("x")).is_err());
        assert!(check_with("gemini-2.5-flash", only_image).is_err());
        let mut audio = text_request("x");
        audio["generation_config"] = json!({ "response_modalities": ["AUDIO"] });
        assert!(check_with("gemini-2.5-flash", audio).is_err());
        let mut both = text_request("x");
        both["generationConfig"] = json!({ "responseModalities": ["TEXT", "IMAGE"] });
        assert!(check_with("gemini-2.0-flash-preview-image-generation", both).is_ok());
    }

    #[test]
    fn requests_are_checked() {
        let model = "gemini-2.5-flash";
        for body in [
            json!({}),
            json!({ "contents": [] }),
            json!({ "contents": [{ "parts": [] }] }),
            json!({ "contents": [{ "parts": [{}] }] }),
            json!({ "contents": [{ "role": "system", "parts": [{ "text": "x" }] }] }),
            json!({ "contents": [{ "parts": [{ "text": "x", "colour": 1 }] }] }),
            json!({ "contents": [{ "parts": [{ "inlineData": { "mimeType": "image/png", "data": "%%%" } }] }] }),
            json!({ "contents": [{ "parts": [{ "inlineData": { "mimeType": "image/png", "data": "aGVsbG8=" } }] }] }),
            json!({ "contents": [{ "parts": [{ "text": "x" }] }], "prompt": "x" }),
            configured(json!({ "temperature": 3 })),
            configured(json!({ "candidateCount": 9 })),
            configured(json!({ "responseMimeType": "image/png" })),
            configured(json!({ "responseSchema": { "type": "STRING" } })),
            configured(
                json!({ "responseMimeType": "application/json", "responseSchema": {}, "responseJsonSchema": {} }),
            ),
            configured(json!({ "maxTokens": 5 })),
        ] {
            assert!(check_with(model, body.clone()).is_err(), "{body}");
        }
        let mut json_mode = text_request("a story");
        json_mode["generationConfig"] = json!({
            "responseMimeType": "application/json",
            "responseSchema": {
                "type": "OBJECT", "properties": { "title": { "type": "STRING" } }, "required": ["title"],
            },
        });
        let job = check_with(model, json_mode).expect("job");
        assert_eq!(job.text, TextMode::Json(r#"{"title":"text"}"#.into()));
        let mut enum_mode = text_request("pick");
        enum_mode["generationConfig"] =
            json!({ "responseMimeType": "text/x.enum", "responseSchema": { "type": "STRING", "enum": ["a", "b"] } });
        assert_eq!(check_with(model, enum_mode).expect("job").text, TextMode::Enum("a".into()));
    }

    #[test]
    fn image_sizes_come_from_the_ratio_or_the_input() {
        let png = crate::render::render_png(300, 200, 0, "x", &[0; 32], 0).expect("png");
        let data = base64::engine::general_purpose::STANDARD.encode(png);
        let edit = json!({ "contents": [{ "parts": [
            { "text": "make it blue" }, { "inline_data": { "mime_type": "image/png", "data": data } }
        ] }] });
        assert_eq!(check_with("gemini-2.5-flash-image", edit.clone()).expect("job").size, (300, 200));
        let mut wide = edit;
        wide["generationConfig"] = json!({ "imageConfig": { "aspectRatio": "16:9" } });
        assert_eq!(check_with("gemini-2.5-flash-image", wide).expect("job").size, (1344, 768));
        assert_eq!(check_with("gemini-2.5-flash-image", text_request("x")).expect("job").size, (1024, 1024));
    }
}
