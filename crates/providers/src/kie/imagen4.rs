//! Imagen 4 through Kie's market API (docs/providers/kie.md 1.2). One Atelier model,
//! `kie/imagen4`, whose variants are a parameter: `fast` (`google/imagen4-fast`),
//! `standard` (`google/imagen4`), `ultra` (`google/imagen4-ultra`).

use atelier_core::CoreError;
use atelier_core::catalog::{Modality, ModelSpec};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Kie, KieModel, market, parse_job};
use crate::kit::Named;
use crate::kit::fields::{max_chars, optional_max_chars, required_text};
use crate::kit::params::{parse_params, to_json};
use async_trait::async_trait;
use atelier_core::ports::{Job, Polled, ProviderError};

pub const MODEL: &str = "imagen-4";
/// The name it had before the names were made one across services.
pub const FORMER_NAME: &str = "imagen4";
const MAX_PROMPT: usize = 5000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Variant {
    Fast,
    Standard,
    Ultra,
}

impl Variant {
    pub fn kie_model(self) -> &'static str {
        match self {
            Self::Fast => "google/imagen4-fast",
            Self::Standard => "google/imagen4",
            Self::Ultra => "google/imagen4-ultra",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Imagen4Params {
    pub prompt: String,
    #[serde(default)]
    pub negative_prompt: Option<String>,
    #[serde(default = "default_variant")]
    pub variant: Variant,
    /// `1:1`, `16:9`, `9:16`, `3:4`, `4:3`; `auto` with `standard` only.
    #[serde(default)]
    pub aspect_ratio: Option<String>,
    /// 1 to 4, `fast` only.
    #[serde(default = "one")]
    pub num_images: u8,
    #[serde(default)]
    pub seed: Option<u32>,
}

fn default_variant() -> Variant {
    Variant::Fast
}

fn one() -> u8 {
    1
}

const RATIOS: [&str; 5] = ["1:1", "16:9", "9:16", "3:4", "4:3"];

pub fn validate(input: &Value) -> Result<Value, CoreError> {
    let mut params: Imagen4Params = parse_params(input)?;
    params.prompt = required_text("prompt", &params.prompt)?;
    max_chars("prompt", &params.prompt, MAX_PROMPT)?;
    optional_max_chars("negative_prompt", params.negative_prompt.as_deref(), MAX_PROMPT)?;
    if let Some(ratio) = &params.aspect_ratio {
        let auto_ok = params.variant == Variant::Standard && ratio == "auto";
        if !RATIOS.contains(&ratio.as_str()) && !auto_ok {
            return Err(CoreError::invalid(
                "aspect_ratio",
                "must be one of 1:1, 16:9, 9:16, 3:4, 4:3 (and auto with the standard variant)",
            ));
        }
    }
    if !(1..=4).contains(&params.num_images) {
        return Err(CoreError::invalid("num_images", "must be between 1 and 4"));
    }
    if params.num_images > 1 && params.variant != Variant::Fast {
        return Err(CoreError::invalid("num_images", "only the fast variant makes several images"));
    }
    to_json(&params)
}

/// The `input` of Kie's createTask for this variant, with Kie's own types: the fast
/// model takes `num_images` as a string and `seed` as an integer; the others take
/// `seed` as a string and no `num_images`.
pub fn kie_input(params: &Imagen4Params) -> Value {
    let mut input = json!({ "prompt": params.prompt });
    if let Some(negative) = params.negative_prompt.as_ref().filter(|text| !text.is_empty()) {
        input["negative_prompt"] = json!(negative);
    }
    if let Some(ratio) = &params.aspect_ratio {
        input["aspect_ratio"] = json!(ratio);
    }
    match params.variant {
        Variant::Fast => {
            input["num_images"] = json!(params.num_images.to_string());
            if let Some(seed) = params.seed {
                input["seed"] = json!(seed);
            }
        }
        Variant::Standard | Variant::Ultra => {
            if let Some(seed) = params.seed {
                input["seed"] = json!(seed.to_string());
            }
        }
    }
    input
}

pub fn spec(requires_config: Option<String>) -> ModelSpec {
    ModelSpec {
        service: super::SERVICE.into(),
        model: MODEL.into(),
        aliases: vec![FORMER_NAME.into()],
        modality: Modality::Image,
        title: "Imagen 4 (via Kie.ai)".into(),
        description: "Google Imagen 4 through Kie.ai's market API; variants fast, standard and ultra.".into(),
        input_schema: json!({
            "type": "object",
            "additionalProperties": false,
            "required": ["prompt"],
            "properties": {
                "prompt": { "type": "string", "minLength": 1, "maxLength": MAX_PROMPT },
                "negative_prompt": { "type": ["string", "null"], "maxLength": MAX_PROMPT },
                "variant": { "type": "string", "enum": ["fast", "standard", "ultra"], "default": "fast" },
                "aspect_ratio": { "type": ["string", "null"], "enum": ["1:1", "16:9", "9:16", "3:4", "4:3", "auto", null] },
                "num_images": { "type": "integer", "minimum": 1, "maximum": 4, "default": 1,
                    "description": "Several images with the fast variant only." },
                "seed": { "type": ["integer", "null"], "minimum": 0, "maximum": u32::MAX },
            }
        }),
        estimated_seconds: 20,
        poll_timeout_secs: None,
        requires_config,
    }
}

/// `kie/imagen4`, through the market API.
pub struct Imagen4;

impl Named for Imagen4 {
    fn name(&self) -> &str {
        MODEL
    }
}

#[async_trait]
impl KieModel for Imagen4 {
    fn spec(&self, requires_config: Option<String>) -> ModelSpec {
        spec(requires_config)
    }

    fn validate(&self, input: &Value) -> Result<Value, CoreError> {
        validate(input)
    }

    async fn submit(&self, kie: &Kie<'_>, job: &Job<'_>) -> Result<String, ProviderError> {
        let params: Imagen4Params = parse_job(job)?;
        market::create_task(kie.client, params.variant.kie_model(), kie_input(&params), kie.callback_url.as_deref())
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
        let cases = [
            (json!({ "prompt": " " }), "prompt"),
            (json!({ "prompt": "x", "aspect_ratio": "2:1" }), "aspect_ratio"),
            (json!({ "prompt": "x", "aspect_ratio": "auto" }), "aspect_ratio"),
            (json!({ "prompt": "x", "num_images": 5 }), "num_images"),
            (json!({ "prompt": "x", "variant": "ultra", "num_images": 2 }), "num_images"),
            (json!({ "prompt": "x", "variant": "mega" }), "variant"),
            (json!({ "prompt": "x", "style": "y" }), "style"),
        ];
        for (input, field) in cases {
            assert_eq!(error_field(&validate(&input).expect_err("invalid")), field, "{input}");
        }
        let ok = validate(&json!({ "prompt": "a fox", "variant": "standard", "aspect_ratio": "auto" })).expect("valid");
        assert_eq!(ok["num_images"], 1);
    }

    #[test]
    fn kie_input_uses_each_models_types() {
        let fast: Imagen4Params =
            serde_json::from_value(json!({ "prompt": "p", "num_images": 3, "seed": 7 })).expect("params");
        assert_eq!(kie_input(&fast), json!({ "prompt": "p", "num_images": "3", "seed": 7 }));
        let ultra: Imagen4Params =
            serde_json::from_value(json!({ "prompt": "p", "variant": "ultra", "seed": 7, "aspect_ratio": "1:1" }))
                .expect("params");
        assert_eq!(kie_input(&ultra), json!({ "prompt": "p", "seed": "7", "aspect_ratio": "1:1" }));
    }
}
