//! Imagen 4 through the Gemini API (docs/providers/google.md 3.2):
//! `POST models/{id}:predict`, answered at once with the images inline. One
//! Atelier model, `google/imagen4`, whose variants are Google's three models.
//! The Gemini API takes no negative prompt and no seed for Imagen (Google's own
//! SDK refuses to send them): both are refused by name.

use async_trait::async_trait;
use atelier_core::CoreError;
use atelier_core::catalog::{Modality, ModelSpec};
use atelier_core::ports::{ErrorClass, Job, Output, ProviderError, Submitted};
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Google, GoogleModel};
use crate::kit::Named;
use crate::kit::Phase;
use crate::kit::fields::{max_chars, required_text};
use crate::kit::image::image_output;
use crate::kit::params::{parse_params, parse_stored, to_json};

pub const MODEL: &str = "imagen-4";
/// The name it had before the names were made one across services.
pub const FORMER_NAME: &str = "imagen4";
const MAX_PROMPT: usize = 5000;
const RATIOS: [&str; 5] = ["1:1", "3:4", "4:3", "9:16", "16:9"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Variant {
    Fast,
    Standard,
    Ultra,
}

impl Variant {
    pub fn model_id(self) -> &'static str {
        match self {
            Self::Fast => "imagen-4.0-fast-generate-001",
            Self::Standard => "imagen-4.0-generate-001",
            Self::Ultra => "imagen-4.0-ultra-generate-001",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PersonGeneration {
    DontAllow,
    AllowAdult,
    AllowAll,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImagenParams {
    pub prompt: String,
    #[serde(default = "default_variant")]
    pub variant: Variant,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aspect_ratio: Option<String>,
    /// 1 to 4 (`sampleCount`).
    #[serde(default = "one")]
    pub num_images: u8,
    /// `1K` or `2K`, standard and ultra only (`sampleImageSize`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_size: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person_generation: Option<PersonGeneration>,
    /// Accepted only to be refused by name (Kie's Imagen takes one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub negative_prompt: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u32>,
}

fn default_variant() -> Variant {
    Variant::Fast
}

fn one() -> u8 {
    1
}

pub struct Imagen4;

impl Named for Imagen4 {
    fn name(&self) -> &str {
        MODEL
    }
}

fn validate(input: &Value) -> Result<Value, CoreError> {
    let mut params: ImagenParams = parse_params(input)?;
    params.prompt = required_text("prompt", &params.prompt)?;
    max_chars("prompt", &params.prompt, MAX_PROMPT)?;
    if params.negative_prompt.as_deref().is_some_and(|text| !text.trim().is_empty()) {
        return Err(CoreError::invalid(
            "negative_prompt",
            "Imagen through the Gemini API takes no negative prompt (kie/imagen-4 does)",
        ));
    }
    params.negative_prompt = None;
    if params.seed.is_some() {
        return Err(CoreError::invalid("seed", "Imagen through the Gemini API takes no seed (kie/imagen4 does)"));
    }
    if let Some(ratio) = &params.aspect_ratio
        && !RATIOS.contains(&ratio.as_str())
    {
        return Err(CoreError::invalid("aspect_ratio", format!("must be one of {}", RATIOS.join(", "))));
    }
    if !(1..=4).contains(&params.num_images) {
        return Err(CoreError::invalid("num_images", "must be between 1 and 4"));
    }
    if let Some(size) = &params.image_size {
        if size != "1K" && size != "2K" {
            return Err(CoreError::invalid("image_size", "must be 1K or 2K"));
        }
        if params.variant == Variant::Fast {
            return Err(CoreError::invalid("image_size", "the fast variant makes 1K images only"));
        }
    }
    to_json(&params)
}

/// The `:predict` body for validated params.
pub fn request(params: &ImagenParams) -> Value {
    let mut parameters = json!({ "sampleCount": params.num_images });
    if let Some(ratio) = &params.aspect_ratio {
        parameters["aspectRatio"] = json!(ratio);
    }
    if let Some(size) = &params.image_size {
        parameters["sampleImageSize"] = json!(size);
    }
    if let Some(person) = params.person_generation {
        let value = match person {
            PersonGeneration::DontAllow => "dont_allow",
            PersonGeneration::AllowAdult => "allow_adult",
            PersonGeneration::AllowAll => "allow_all",
        };
        parameters["personGeneration"] = json!(value);
    }
    // Ask why an image was filtered, so that a refusal can say so.
    parameters["includeRaiReason"] = json!(true);
    json!({ "instances": [{ "prompt": params.prompt }], "parameters": parameters })
}

/// The images of a `:predict` answer; filtered ones are left out, and an answer
/// with none says why (`raiFilteredReason`).
pub fn outputs(answer: &Value) -> Result<Vec<Output>, ProviderError> {
    let predictions = answer["predictions"].as_array().cloned().unwrap_or_default();
    let mut outputs = Vec::new();
    let mut reasons = Vec::new();
    for prediction in &predictions {
        if let Some(data) = prediction["bytesBase64Encoded"].as_str() {
            let bytes = base64::engine::general_purpose::STANDARD.decode(data.trim()).map_err(|error| {
                ProviderError::new(
                    ErrorClass::MalformedResponse,
                    format!("Google sent an image that is not base64: {error}"),
                )
            })?;
            outputs.push(image_output(bytes.into(), "Google")?);
        } else if let Some(reason) = prediction["raiFilteredReason"].as_str() {
            reasons.push(reason.to_owned());
        }
    }
    if !outputs.is_empty() {
        return Ok(outputs);
    }
    if reasons.is_empty() {
        // No prediction at all: Imagen answers so when every image was filtered.
        return Err(ProviderError::new(
            ErrorClass::ContentFiltered,
            "Imagen returned no image: its safety filters removed them all",
        ));
    }
    Err(ProviderError::new(
        ErrorClass::ContentFiltered,
        format!("Imagen's safety filters refused the images: {}", reasons.join("; ")),
    ))
}

#[async_trait]
impl GoogleModel for Imagen4 {
    fn spec(&self, requires_config: Option<String>) -> ModelSpec {
        ModelSpec {
            service: super::SERVICE.into(),
            model: MODEL.into(),
            aliases: vec![FORMER_NAME.into()],
            modality: Modality::Image,
            title: "Imagen 4 (Google)".into(),
            description: "Google Imagen 4 through the Gemini API; variants fast, standard and ultra.".into(),
            input_schema: json!({
                "type": "object",
                "additionalProperties": false,
                "required": ["prompt"],
                "properties": {
                    "prompt": { "type": "string", "minLength": 1, "maxLength": MAX_PROMPT },
                    "variant": { "type": "string", "enum": ["fast", "standard", "ultra"], "default": "fast" },
                    "aspect_ratio": { "type": "string", "enum": RATIOS },
                    "num_images": { "type": "integer", "minimum": 1, "maximum": 4, "default": 1 },
                    "image_size": { "type": "string", "enum": ["1K", "2K"],
                        "description": "Standard and ultra only." },
                    "person_generation": { "type": "string", "enum": ["dont_allow", "allow_adult", "allow_all"] },
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

    async fn submit(&self, google: &Google<'_>, job: &Job<'_>) -> Result<Submitted, ProviderError> {
        let params: ImagenParams = parse_stored(job.input)?;
        let path = format!("models/{}:predict", params.variant.model_id());
        let answer = google.client.post(&path, &request(&params), Phase::Submit).await?;
        Ok(Submitted::Finished(outputs(&answer)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_become_imagens_fields_and_google_refusals_are_named() {
        let valid = validate(&json!({ "prompt": "fox", "variant": "ultra", "aspect_ratio": "16:9", "num_images": 2,
                                      "image_size": "2K", "person_generation": "allow_adult" }))
        .unwrap_or_else(|e| panic!("{e}"));
        let params: ImagenParams = serde_json::from_value(valid).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            request(&params),
            json!({ "instances": [{ "prompt": "fox" }], "parameters": { "sampleCount": 2, "aspectRatio": "16:9",
                    "sampleImageSize": "2K", "personGeneration": "allow_adult", "includeRaiReason": true } })
        );
        let field = |input: Value| match validate(&input) {
            Err(CoreError::InvalidInput { details, .. }) => details["field"].as_str().unwrap_or_default().to_owned(),
            other => panic!("{other:?}"),
        };
        assert_eq!(field(json!({ "prompt": "x", "negative_prompt": "blur" })), "negative_prompt");
        assert_eq!(field(json!({ "prompt": "x", "seed": 3 })), "seed");
        assert_eq!(field(json!({ "prompt": "x", "image_size": "2K" })), "image_size", "fast is 1K only");
    }

    #[test]
    fn filtered_answers_say_why() {
        let error =
            outputs(&json!({ "predictions": [{ "raiFilteredReason": "Unsafe person." }] })).expect_err("filtered");
        assert_eq!(error.class, ErrorClass::ContentFiltered);
        assert!(error.message.contains("Unsafe person."), "{}", error.message);
        assert_eq!(outputs(&json!({})).expect_err("none").class, ErrorClass::ContentFiltered);
    }
}
