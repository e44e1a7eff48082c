//! Gemini's image generation and editing (docs/providers/google.md 3.4, 3.5):
//! `POST models/{id}:generateContent` with `responseModalities` asking for images,
//! the prompt and any input images as parts; the images come back as `inlineData`
//! parts (`inline_data` accepted too). Seed 003's `GEMINI_2_0`. One Atelier model,
//! `google/gemini-image`, whose variants are Google's image-output models.

use async_trait::async_trait;
use atelier_core::CoreError;
use atelier_core::catalog::{Modality, ModelSpec};
use atelier_core::ports::{ErrorClass, Job, Output, ProviderError, Submitted};
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Google, GoogleModel};
use crate::kit::fields::{max_chars, required_text};
use crate::kit::image::image_output;
use crate::kit::params::{parse_params, parse_stored, to_json};
use crate::kit::{Named, Phase};

pub const MODEL: &str = "gemini-image";
const MAX_PROMPT: usize = 10_000;
const MAX_IMAGES: usize = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Variant {
    #[serde(rename = "gemini-2.5-flash-image")]
    Flash25,
    #[serde(rename = "gemini-2.0-flash-preview-image-generation")]
    Flash20,
}

impl Variant {
    const NAMES: [&'static str; 2] = ["gemini-2.5-flash-image", "gemini-2.0-flash-preview-image-generation"];

    fn model_id(self) -> &'static str {
        match self {
            Self::Flash25 => "gemini-2.5-flash-image",
            Self::Flash20 => "gemini-2.0-flash-preview-image-generation",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeminiImageParams {
    pub prompt: String,
    #[serde(default = "default_variant")]
    pub variant: Variant,
    /// Images to edit or to draw from (uploads, outputs, data URIs, URLs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<String>,
}

fn default_variant() -> Variant {
    Variant::Flash25
}

pub struct GeminiImage;

impl Named for GeminiImage {
    fn name(&self) -> &str {
        MODEL
    }
}

fn validate(input: &Value) -> Result<Value, CoreError> {
    let mut params: GeminiImageParams = parse_params(input)?;
    params.prompt = required_text("prompt", &params.prompt)?;
    max_chars("prompt", &params.prompt, MAX_PROMPT)?;
    if params.images.len() > MAX_IMAGES {
        return Err(CoreError::invalid("images", format!("at most {MAX_IMAGES} images")));
    }
    for (index, reference) in params.images.iter().enumerate() {
        atelier_core::ports::InputRef::parse(reference)
            .map_err(|reason| CoreError::invalid(&format!("images[{index}]"), reason))?;
    }
    to_json(&params)
}

/// The finish reasons that mean the content checks stopped the answer.
const REFUSALS: [&str; 8] = [
    "SAFETY",
    "IMAGE_SAFETY",
    "PROHIBITED_CONTENT",
    "IMAGE_PROHIBITED_CONTENT",
    "BLOCKLIST",
    "SPII",
    "RECITATION",
    "IMAGE_RECITATION",
];

/// The images of a `generateContent` answer, or why there are none.
pub fn outputs(answer: &Value) -> Result<Vec<Output>, ProviderError> {
    let candidates = answer["candidates"].as_array().cloned().unwrap_or_default();
    let mut outputs = Vec::new();
    let mut texts = Vec::new();
    for candidate in &candidates {
        for part in candidate["content"]["parts"].as_array().into_iter().flatten() {
            let inline = if part["inlineData"].is_object() { &part["inlineData"] } else { &part["inline_data"] };
            if let Some(data) = inline["data"].as_str() {
                let bytes = base64::engine::general_purpose::STANDARD.decode(data.trim()).map_err(|error| {
                    ProviderError::new(
                        ErrorClass::MalformedResponse,
                        format!("Gemini sent an image that is not base64: {error}"),
                    )
                })?;
                outputs.push(image_output(bytes.into(), "Gemini")?);
            } else if let Some(text) = part["text"].as_str() {
                texts.push(text.trim().to_owned());
            }
        }
    }
    if !outputs.is_empty() {
        let said = texts.join(" ");
        let parameters = (!said.is_empty()).then(|| json!({ "model_text": said }).to_string());
        return Ok(outputs.into_iter().map(|output| output.with_parameters(parameters.clone())).collect());
    }
    let block = answer["promptFeedback"]["blockReason"].as_str();
    let finish: Vec<&str> = candidates.iter().filter_map(|candidate| candidate["finishReason"].as_str()).collect();
    if let Some(reason) = block {
        return Err(ProviderError::new(ErrorClass::ContentFiltered, format!("Gemini refused the prompt ({reason})")));
    }
    if let Some(reason) = finish.iter().find(|reason| REFUSALS.contains(reason)) {
        return Err(ProviderError::new(
            ErrorClass::ContentFiltered,
            format!("Gemini's safety checks stopped the image ({reason})"),
        ));
    }
    let said = if texts.is_empty() { String::new() } else { format!(": it said {:?}", texts.join(" ")) };
    let reason = finish.first().map(|reason| format!(" (finish reason {reason})")).unwrap_or_default();
    Err(ProviderError::new(ErrorClass::GenerationFailed, format!("Gemini answered without an image{reason}{said}")))
}

#[async_trait]
impl GoogleModel for GeminiImage {
    fn spec(&self, requires_config: Option<String>) -> ModelSpec {
        ModelSpec {
            service: super::SERVICE.into(),
            model: MODEL.into(),
            aliases: Vec::new(),
            modality: Modality::Image,
            title: "Gemini image (Google)".into(),
            description: "Gemini's image generation and editing (seed 003's GEMINI_2_0): a prompt, and up to three \
                          images to edit or draw from."
                .into(),
            input_schema: json!({
                "type": "object",
                "additionalProperties": false,
                "required": ["prompt"],
                "properties": {
                    "prompt": { "type": "string", "minLength": 1, "maxLength": MAX_PROMPT },
                    "variant": { "type": "string", "enum": Variant::NAMES, "default": "gemini-2.5-flash-image" },
                    "images": { "type": "array", "maxItems": MAX_IMAGES, "items": { "type": "string" },
                        "description": "Images to edit or draw from: uploads, outputs, data URIs or URLs." },
                }
            }),
            estimated_seconds: 15,
            poll_timeout_secs: None,
            requires_config,
        }
    }

    fn validate(&self, input: &Value) -> Result<Value, CoreError> {
        validate(input)
    }

    fn input_files(&self, input: &Value) -> Vec<String> {
        crate::kit::inputs::references(input.get("images"))
    }

    async fn submit(&self, google: &Google<'_>, job: &Job<'_>) -> Result<Submitted, ProviderError> {
        let params: GeminiImageParams = parse_stored(job.input)?;
        let mut parts = vec![json!({ "text": params.prompt })];
        for (index, reference) in params.images.iter().enumerate() {
            let (data, mime) = google.inline_image(job, reference, &format!("images[{index}]")).await?;
            parts.push(json!({ "inlineData": { "mimeType": mime, "data": data } }));
        }
        let body = json!({
            "contents": [{ "role": "user", "parts": parts }],
            "generationConfig": { "responseModalities": ["TEXT", "IMAGE"] },
        });
        let path = format!("models/{}:generateContent", params.variant.model_id());
        let answer = google.client.post(&path, &body, Phase::Submit).await?;
        Ok(Submitted::Finished(outputs(&answer)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_and_empty_answers_are_told_apart() {
        let blocked = json!({ "promptFeedback": { "blockReason": "SAFETY" } });
        assert_eq!(outputs(&blocked).expect_err("blocked").class, ErrorClass::ContentFiltered);
        let stopped = json!({ "candidates": [{ "finishReason": "IMAGE_SAFETY", "content": { "parts": [] } }] });
        assert_eq!(outputs(&stopped).expect_err("stopped").class, ErrorClass::ContentFiltered);
        let chatty =
            json!({ "candidates": [{ "finishReason": "STOP", "content": { "parts": [{ "text": "I can't draw" }] } }] });
        let error = outputs(&chatty).expect_err("no image");
        assert_eq!(error.class, ErrorClass::GenerationFailed);
        assert!(error.message.contains("I can't draw"), "{}", error.message);
    }
}
