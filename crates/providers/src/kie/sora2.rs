//! Sora 2 through Kie's market API (docs/providers/kie.md 1.2, the [D] table): one Atelier
//! model, `kie/sora2`. The variant (`standard`, `pro`) and whether an image is
//! given choose Kie's model: `sora-2-text-to-video`, `sora-2-image-to-video`,
//! `sora-2-pro-text-to-video`, `sora-2-pro-image-to-video`.

use atelier_core::CoreError;
use atelier_core::catalog::{Modality, ModelSpec};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::wire;
use super::{Kie, KieModel, market, parse_job};
use crate::kit::Named;
use crate::kit::fields::{max_chars, required_text};
use crate::kit::params::{parse_params, to_json};
use async_trait::async_trait;
use atelier_core::ports::{Job, Polled, ProviderError};

pub const MODEL: &str = "sora-2";
/// The name it had before the names were made one across services.
pub const FORMER_NAME: &str = "sora2";
const MAX_PROMPT: usize = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Variant {
    Standard,
    Pro,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AspectRatio {
    Portrait,
    Landscape,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Size {
    Standard,
    High,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sora2Params {
    pub prompt: String,
    /// At most one image (then Kie's image-to-video model is used).
    #[serde(default)]
    pub images: Vec<String>,
    #[serde(default = "default_variant")]
    pub variant: Variant,
    #[serde(default = "default_aspect")]
    pub aspect_ratio: AspectRatio,
    /// Seconds: `10` or `15` (a number or a string; Kie takes a string).
    #[serde(default, deserialize_with = "wire::string_or_number")]
    pub n_frames: Option<String>,
    #[serde(default)]
    pub remove_watermark: Option<bool>,
    /// `pro` only.
    #[serde(default)]
    pub size: Option<Size>,
}

fn default_variant() -> Variant {
    Variant::Standard
}

fn default_aspect() -> AspectRatio {
    AspectRatio::Landscape
}

impl Sora2Params {
    /// Kie's market model for this variant and input.
    pub fn kie_model(&self) -> &'static str {
        match (self.variant, self.images.is_empty()) {
            (Variant::Standard, true) => "sora-2-text-to-video",
            (Variant::Standard, false) => "sora-2-image-to-video",
            (Variant::Pro, true) => "sora-2-pro-text-to-video",
            (Variant::Pro, false) => "sora-2-pro-image-to-video",
        }
    }
}

pub fn validate(input: &Value) -> Result<Value, CoreError> {
    let mut params: Sora2Params = parse_params(input)?;
    params.prompt = required_text("prompt", &params.prompt)?;
    max_chars("prompt", &params.prompt, MAX_PROMPT)?;
    if params.images.len() > 1 {
        return Err(CoreError::invalid("images", "Sora 2 takes exactly one image (or none)"));
    }
    super::upload::check_references("images", &params.images)?;
    let frames = params.n_frames.get_or_insert_with(|| "10".to_owned());
    if frames != "10" && frames != "15" {
        return Err(CoreError::invalid("n_frames", "must be 10 or 15 (seconds)"));
    }
    if params.size.is_some() && params.variant != Variant::Pro {
        return Err(CoreError::invalid("size", "is for the pro variant only"));
    }
    to_json(&params)
}

/// The createTask `input`, with Kie's names and types; `image_urls` are the
/// uploaded images.
pub fn kie_input(params: &Sora2Params, image_urls: &[String]) -> Value {
    let mut input = json!({
        "prompt": params.prompt,
        "aspect_ratio": params.aspect_ratio,
        "n_frames": params.n_frames.as_deref().unwrap_or("10"),
    });
    if !image_urls.is_empty() {
        input["image_urls"] = json!(image_urls);
    }
    if let Some(remove) = params.remove_watermark {
        input["remove_watermark"] = json!(remove);
    }
    if let Some(size) = params.size.filter(|_| params.variant == Variant::Pro) {
        input["size"] = json!(size);
    }
    input
}

pub fn spec(requires_config: Option<String>) -> ModelSpec {
    ModelSpec {
        service: super::SERVICE.into(),
        model: MODEL.into(),
        aliases: vec![FORMER_NAME.into()],
        modality: Modality::Video,
        title: "Sora 2 (via Kie.ai)".into(),
        description: "OpenAI Sora 2 through Kie.ai's market API: text to video, or one image to video; \
                      variants standard and pro."
            .into(),
        input_schema: json!({
            "type": "object",
            "additionalProperties": false,
            "required": ["prompt"],
            "properties": {
                "prompt": { "type": "string", "minLength": 1, "maxLength": MAX_PROMPT },
                "images": { "type": "array", "default": [], "maxItems": 1, "items": { "type": "string" },
                    "description": "One image for image to video: an http(s) URL, a data: URI, an upload id \
                                    (upl_…) or an output id (img_…)." },
                "variant": { "type": "string", "enum": ["standard", "pro"], "default": "standard" },
                "aspect_ratio": { "type": "string", "enum": ["portrait", "landscape"], "default": "landscape" },
                "n_frames": { "type": ["string", "integer"], "enum": ["10", "15", 10, 15], "default": "10",
                    "description": "Length in seconds." },
                "remove_watermark": { "type": ["boolean", "null"] },
                "size": { "type": ["string", "null"], "enum": ["standard", "high", null], "description": "pro only." },
            }
        }),
        estimated_seconds: 180,
        poll_timeout_secs: Some(1800),
        requires_config,
    }
}

/// `kie/sora2`, through the market API.
pub struct Sora2;

impl Named for Sora2 {
    fn name(&self) -> &str {
        MODEL
    }
}

#[async_trait]
impl KieModel for Sora2 {
    fn spec(&self, requires_config: Option<String>) -> ModelSpec {
        spec(requires_config)
    }

    fn validate(&self, input: &Value) -> Result<Value, CoreError> {
        validate(input)
    }

    async fn submit(&self, kie: &Kie<'_>, job: &Job<'_>) -> Result<String, ProviderError> {
        let params: Sora2Params = parse_job(job)?;
        let urls = kie.upload(job, &params.images).await?;
        market::create_task(kie.client, params.kie_model(), kie_input(&params, &urls), kie.callback_url.as_deref())
            .await
    }

    async fn poll(&self, kie: &Kie<'_>, job: &Job<'_>, task_id: &str) -> Result<Polled, ProviderError> {
        market::poll(kie, job, task_id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kit::schema::error_field;

    #[test]
    fn validation_names_the_field() {
        let url = "https://example.com/a.png";
        let cases = [
            (json!({ "prompt": "  " }), "prompt"),
            (json!({ "prompt": "x".repeat(10_001) }), "prompt"),
            (json!({ "prompt": "x", "images": [url, url] }), "images"),
            (json!({ "prompt": "x", "images": ["nope"] }), "images[0]"),
            (json!({ "prompt": "x", "n_frames": 25 }), "n_frames"),
            (json!({ "prompt": "x", "n_frames": "12" }), "n_frames"),
            (json!({ "prompt": "x", "size": "high" }), "size"),
            (json!({ "prompt": "x", "variant": "pro", "size": "huge" }), "size"),
            (json!({ "prompt": "x", "aspect_ratio": "square" }), "aspect_ratio"),
            (json!({ "prompt": "x", "variant": "max" }), "variant"),
            (json!({ "prompt": "x", "upload_method": "s3" }), "upload_method"),
        ];
        for (input, field) in cases {
            assert_eq!(error_field(&validate(&input).expect_err("invalid")), field, "{input}");
        }
        let ok = validate(&json!({ "prompt": "x", "n_frames": 15 })).expect("valid");
        assert_eq!((ok["n_frames"].as_str(), ok["aspect_ratio"].as_str()), (Some("15"), Some("landscape")));
    }

    #[test]
    fn the_model_follows_variant_and_image() {
        let params = |input: Value| -> Sora2Params { serde_json::from_value(input).expect("params") };
        assert_eq!(params(json!({ "prompt": "p" })).kie_model(), "sora-2-text-to-video");
        assert_eq!(
            params(json!({ "prompt": "p", "images": ["upl_0123456789abcdef0123456789abcdef"] })).kie_model(),
            "sora-2-image-to-video"
        );
        assert_eq!(params(json!({ "prompt": "p", "variant": "pro" })).kie_model(), "sora-2-pro-text-to-video");
        assert_eq!(
            params(json!({ "prompt": "p", "variant": "pro", "images": ["upl_0123456789abcdef0123456789abcdef"] }))
                .kie_model(),
            "sora-2-pro-image-to-video"
        );
    }

    #[test]
    fn inputs_use_kies_names_and_types() {
        let pro: Sora2Params = serde_json::from_value(
            validate(&json!({ "prompt": "p", "variant": "pro", "images": ["upl_0123456789abcdef0123456789abcdef"], "aspect_ratio": "portrait",
                "n_frames": 15, "remove_watermark": true, "size": "high" }))
            .expect("valid"),
        )
        .expect("params");
        let urls = vec!["https://t/1.png".to_owned()];
        assert_eq!(
            kie_input(&pro, &urls),
            json!({ "prompt": "p", "aspect_ratio": "portrait", "n_frames": "15", "image_urls": urls,
                "remove_watermark": true, "size": "high" })
        );
        let plain: Sora2Params =
            serde_json::from_value(validate(&json!({ "prompt": "p" })).expect("valid")).expect("params");
        assert_eq!(kie_input(&plain, &[]), json!({ "prompt": "p", "aspect_ratio": "landscape", "n_frames": "10" }));
    }
}
