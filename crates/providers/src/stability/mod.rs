//! Stability AI's REST v2beta Stable Image API (docs/providers/stability.md,
//! section 7): `POST /v2beta/stable-image/generate/{core|ultra|sd3}`, a multipart
//! form (even with no file), answered with the image's bytes and its
//! `finish-reason` and `seed` headers. Three models, `stability/core`,
//! `stability/ultra` and `stability/sd3`, each taking only its own fields.

mod config;

use std::sync::Arc;

use async_trait::async_trait;
use atelier_core::CoreError;
use atelier_core::catalog::{Modality, ModelSpec};
use atelier_core::ports::{ErrorClass, InputRef, Job, Polled, Provider, ProviderError, Submitted};
use reqwest::Method;
use reqwest::header::ACCEPT;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use self::config::Settings;
pub use self::config::StabilityConfig;
use crate::kit::fields::{max_chars, optional_max_chars, required_text};
use crate::kit::image::image_output;
use crate::kit::params::{parse_params, parse_stored, to_json};
use crate::kit::{ApiClient, Bearer, ConfigError, Phase, Reply};

pub const SERVICE: &str = "stability";
const CONFIG_KEY: &str = "providers.stability.api_key";
const MAX_PROMPT: usize = 10_000;
const RATIOS: [&str; 9] = ["16:9", "1:1", "21:9", "2:3", "3:2", "4:5", "5:4", "9:16", "9:21"];
const STYLES: [&str; 17] = [
    "3d-model",
    "analog-film",
    "anime",
    "cinematic",
    "comic-book",
    "digital-art",
    "enhance",
    "fantasy-art",
    "isometric",
    "line-art",
    "low-poly",
    "modeling-compound",
    "neon-punk",
    "origami",
    "photographic",
    "pixel-art",
    "tile-texture",
];
const SD3_MODELS: [&str; 6] =
    ["sd3.5-large", "sd3.5-large-turbo", "sd3.5-medium", "sd3-large", "sd3-large-turbo", "sd3-medium"];
const MODELS: [&str; 3] = ["core", "ultra", "sd3"];

/// Every field of the three models; each model refuses the ones it lacks.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StabilityParams {
    pub prompt: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub negative_prompt: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aspect_ratio: Option<String>,
    /// 0 to 4294967294; absent: random.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub style_preset: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_format: Option<String>,
    /// Ultra and SD3: an input image (an image to image).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// With `image`: how much of it changes, 0 to 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strength: Option<f64>,
    /// SD3 only: which SD3 model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// SD3 only, 1 to 10.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cfg_scale: Option<f64>,
}

pub struct StabilityProvider {
    settings: Settings,
    client: Option<ApiClient>,
}

impl StabilityProvider {
    pub fn new(config: &StabilityConfig) -> Result<Self, ConfigError> {
        let settings = config.settings()?;
        let client = match &settings.api_key {
            Some(key) => {
                let auth = Bearer::new(key).map_err(|error| ConfigError::new(CONFIG_KEY, error.message))?;
                Some(
                    ApiClient::new("Stability AI", Arc::new(auth), settings.request_timeout)
                        .map_err(|error| ConfigError::new(CONFIG_KEY, error.message))?,
                )
            }
            None => None,
        };
        Ok(Self { settings, client })
    }
}

fn validate(model: &str, input: &Value) -> Result<Value, CoreError> {
    let mut params: StabilityParams = parse_params(input)?;
    params.prompt = required_text("prompt", &params.prompt)?;
    max_chars("prompt", &params.prompt, MAX_PROMPT)?;
    optional_max_chars("negative_prompt", params.negative_prompt.as_deref(), MAX_PROMPT)?;
    let refuse = |field: &str| Err(CoreError::invalid(field, format!("stability/{model} does not take {field}")));
    if model != "sd3" {
        if params.model.is_some() {
            return refuse("model");
        }
        if params.cfg_scale.is_some() {
            return refuse("cfg_scale");
        }
    }
    if model == "sd3" && params.style_preset.is_some() {
        return refuse("style_preset");
    }
    if model == "core" && (params.image.is_some() || params.strength.is_some()) {
        return refuse(if params.image.is_some() { "image" } else { "strength" });
    }
    if let Some(ratio) = &params.aspect_ratio
        && !RATIOS.contains(&ratio.as_str())
    {
        return Err(CoreError::invalid("aspect_ratio", format!("must be one of {}", RATIOS.join(", "))));
    }
    if params.seed.is_some_and(|seed| seed > 4_294_967_294) {
        return Err(CoreError::invalid("seed", "must be between 0 and 4294967294"));
    }
    if let Some(style) = &params.style_preset
        && !STYLES.contains(&style.as_str())
    {
        return Err(CoreError::invalid("style_preset", format!("must be one of {}", STYLES.join(", "))));
    }
    let formats: &[&str] = if model == "sd3" { &["png", "jpeg"] } else { &["png", "jpeg", "webp"] };
    if let Some(format) = &params.output_format
        && !formats.contains(&format.as_str())
    {
        return Err(CoreError::invalid("output_format", format!("must be one of {}", formats.join(", "))));
    }
    if let Some(sd3) = &params.model
        && !SD3_MODELS.contains(&sd3.as_str())
    {
        return Err(CoreError::invalid("model", format!("must be one of {}", SD3_MODELS.join(", "))));
    }
    if let Some(cfg) = params.cfg_scale
        && !(1.0..=10.0).contains(&cfg)
    {
        return Err(CoreError::invalid("cfg_scale", "must be between 1 and 10"));
    }
    if let Some(strength) = params.strength
        && !(0.0..=1.0).contains(&strength)
    {
        return Err(CoreError::invalid("strength", "must be between 0 and 1"));
    }
    match (&params.image, params.strength) {
        (Some(image), Some(_)) => {
            InputRef::parse(image).map_err(|reason| CoreError::invalid("image", reason))?;
        }
        (Some(_), None) => return Err(CoreError::invalid("strength", "is needed with image (how much of it changes)")),
        (None, Some(_)) => return Err(CoreError::invalid("image", "is needed with strength")),
        (None, None) => {}
    }
    to_json(&params)
}

fn spec(model: &str, requires_config: Option<String>) -> ModelSpec {
    let mut properties = Map::new();
    properties.insert("prompt".into(), json!({ "type": "string", "minLength": 1, "maxLength": MAX_PROMPT }));
    properties.insert("negative_prompt".into(), json!({ "type": ["string", "null"], "maxLength": MAX_PROMPT }));
    properties.insert("aspect_ratio".into(), json!({ "type": "string", "enum": RATIOS }));
    properties.insert(
        "seed".into(),
        json!({ "type": "integer", "minimum": 0, "maximum": 4_294_967_294_u64,
        "description": "Random when absent." }),
    );
    let formats: &[&str] = if model == "sd3" { &["png", "jpeg"] } else { &["png", "jpeg", "webp"] };
    properties.insert("output_format".into(), json!({ "type": "string", "enum": formats }));
    if model != "sd3" {
        properties.insert("style_preset".into(), json!({ "type": "string", "enum": STYLES }));
    }
    if model != "core" {
        properties.insert(
            "image".into(),
            json!({ "type": "string",
            "description": "An image to start from (upl_…, img_…, a data URI or a URL), with strength." }),
        );
        properties.insert(
            "strength".into(),
            json!({ "type": "number", "minimum": 0, "maximum": 1,
            "description": "With image: how much of it changes." }),
        );
    }
    if model == "sd3" {
        properties.insert("model".into(), json!({ "type": "string", "enum": SD3_MODELS }));
        properties.insert("cfg_scale".into(), json!({ "type": "number", "minimum": 1, "maximum": 10 }));
    }
    let (title, description) = match model {
        "ultra" => ("Stable Image Ultra", "Stability AI's best-quality model; image to image with strength."),
        "sd3" => (
            "Stable Diffusion 3.5",
            "Stability AI's SD3 models (3.5 large, turbo, medium); image to image with strength.",
        ),
        _ => ("Stable Image Core", "Stability AI's fast model, with style presets."),
    };
    ModelSpec {
        service: SERVICE.into(),
        model: model.into(),
        aliases: Vec::new(),
        modality: Modality::Image,
        title: format!("{title} (Stability AI)"),
        description: description.into(),
        input_schema: json!({ "type": "object", "additionalProperties": false, "required": ["prompt"], "properties": properties }),
        estimated_seconds: 10,
        poll_timeout_secs: None,
        requires_config,
    }
}

/// A refusal in Stability's `{"id", "name", "errors"}`, classed.
fn error_for(reply: &Reply) -> ProviderError {
    let body: Value = serde_json::from_slice(&reply.body).unwrap_or(Value::Null);
    let name = body["name"].as_str().unwrap_or_default();
    let errors: Vec<&str> = body["errors"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    let said = if errors.is_empty() {
        String::from_utf8_lossy(&reply.body).chars().take(200).collect()
    } else {
        errors.join("; ")
    };
    let status = reply.status.as_u16();
    let class = match status {
        401 => ErrorClass::Unauthorized,
        402 => ErrorClass::InsufficientCredits,
        403 if name == "content_moderation" => ErrorClass::ContentFiltered,
        403 => ErrorClass::Unauthorized,
        429 => ErrorClass::RateLimited,
        500.. => ErrorClass::ServerError,
        _ => ErrorClass::ClientError,
    };
    let id = body["id"].as_str().map(|id| format!(", request {id}")).unwrap_or_default();
    let mut error = ProviderError::new(class, format!("Stability AI answered HTTP {status} {name}: {said}{id}"));
    error.retry_after = reply.retry_after();
    error
}

#[async_trait]
impl Provider for StabilityProvider {
    fn service(&self) -> &str {
        SERVICE
    }

    fn models(&self) -> Vec<ModelSpec> {
        let requires = self.client.is_none().then(|| CONFIG_KEY.to_owned());
        MODELS.iter().map(|model| spec(model, requires.clone())).collect()
    }

    fn validate(&self, model: &str, input: &Value) -> Result<Value, CoreError> {
        let model = MODELS
            .iter()
            .find(|known| known.eq_ignore_ascii_case(model.trim()))
            .ok_or_else(|| CoreError::invalid("model", format!("unknown model {model:?} for service {SERVICE}")))?;
        validate(model, input)
    }

    fn input_files(&self, _model: &str, input: &Value) -> Vec<String> {
        input.get("image").and_then(Value::as_str).map(str::to_owned).into_iter().collect()
    }

    fn submit_is_costly(&self) -> bool {
        true
    }

    async fn submit(&self, job: &Job<'_>) -> Result<Submitted, ProviderError> {
        let client = self.client.as_ref().ok_or_else(|| {
            ProviderError::new(ErrorClass::Unauthorized, format!("Stability AI is not configured: set {CONFIG_KEY}"))
        })?;
        let model = job.model.to_ascii_lowercase();
        let params: StabilityParams = parse_stored(job.input)?;
        let mut form = reqwest::multipart::Form::new().text("prompt", params.prompt.clone());
        let texts = [
            ("negative_prompt", params.negative_prompt.clone()),
            ("aspect_ratio", params.aspect_ratio.clone()),
            ("seed", params.seed.map(|seed| seed.to_string())),
            ("style_preset", params.style_preset.clone()),
            ("output_format", params.output_format.clone()),
            ("strength", params.strength.map(|strength| strength.to_string())),
            ("model", params.model.clone()),
            ("cfg_scale", params.cfg_scale.map(|cfg| cfg.to_string())),
        ];
        for (name, value) in texts {
            if let Some(value) = value.filter(|value| !value.is_empty()) {
                form = form.text(name, value);
            }
        }
        if let Some(image) = &params.image {
            let file = crate::kit::inputs::open_input(job.files, image, "image").await?;
            let part = reqwest::multipart::Part::bytes(file.bytes.to_vec())
                .file_name(file.name.clone())
                .mime_str(&file.mime)
                .map_err(|error| ProviderError::new(ErrorClass::ClientError, format!("image: {error}")))?;
            form = form.part("image", part);
            if model == "sd3" {
                form = form.text("mode", "image-to-image");
            }
        }
        let url = reqwest::Url::parse(&format!("{}/v2beta/stable-image/generate/{model}", self.settings.base_url))
            .map_err(|error| ProviderError::new(ErrorClass::ClientError, format!("a Stability AI URL: {error}")))?;
        let request = client.request(Method::POST, url).header(ACCEPT, "image/*").multipart(form);
        let reply = client.send(request, Phase::Submit).await?;
        if !reply.status.is_success() {
            return Err(error_for(&reply));
        }
        let header = |name: &str| reply.headers.get(name).and_then(|value| value.to_str().ok()).map(str::to_owned);
        if header("finish-reason").as_deref() == Some("CONTENT_FILTERED") {
            return Err(ProviderError::new(
                ErrorClass::ContentFiltered,
                "Stability AI's content filter blurred the image (finish-reason CONTENT_FILTERED): it was not kept",
            ));
        }
        let parameters = header("seed").map(|seed| json!({ "seed": seed }).to_string());
        Ok(Submitted::Finished(vec![image_output(reply.body, "Stability AI")?.with_parameters(parameters)]))
    }

    async fn poll(&self, _job: &Job<'_>, external_id: &str) -> Result<Polled, ProviderError> {
        Err(ProviderError::new(ErrorClass::ClientError, format!("{external_id}: Stability AI answers at once")))
    }

    async fn cancel(&self, _external_id: &str) -> Result<(), ProviderError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use reqwest::StatusCode;
    use reqwest::header::HeaderMap;

    use super::*;

    #[test]
    fn each_model_takes_its_own_fields() {
        let field = |model: &str, input: Value| match validate(model, &input) {
            Err(CoreError::InvalidInput { details, .. }) => details["field"].as_str().unwrap_or_default().to_owned(),
            other => panic!("{other:?}"),
        };
        assert_eq!(field("core", json!({ "prompt": "x", "image": "https://e.com/a.png", "strength": 0.5 })), "image");
        assert_eq!(field("ultra", json!({ "prompt": "x", "image": "https://e.com/a.png" })), "strength");
        assert_eq!(field("sd3", json!({ "prompt": "x", "style_preset": "anime" })), "style_preset");
        assert_eq!(field("sd3", json!({ "prompt": "x", "output_format": "webp" })), "output_format");
        assert_eq!(field("core", json!({ "prompt": "x", "model": "sd3.5-large" })), "model");
        assert!(validate("sd3", &json!({ "prompt": "x", "model": "sd3.5-medium", "cfg_scale": 4.5 })).is_ok());
    }

    #[test]
    fn refusals_are_classed() {
        let reply = |status: u16, body: &str| Reply {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
            headers: HeaderMap::new(),
            body: body.to_owned().into(),
        };
        let moderation = r#"{"id":"a1","name":"content_moderation","errors":["Your request was flagged"]}"#;
        assert_eq!(error_for(&reply(403, moderation)).class, ErrorClass::ContentFiltered);
        let invalid = r#"{"id":"a2","name":"bad_request","errors":["prompt: is required"]}"#;
        let error = error_for(&reply(400, invalid));
        assert_eq!(error.class, ErrorClass::ClientError);
        assert!(error.message.contains("prompt: is required") && error.message.contains("a2"), "{}", error.message);
        assert_eq!(error_for(&reply(402, "{}")).class, ErrorClass::InsufficientCredits);
        assert_eq!(error_for(&reply(429, "{}")).class, ErrorClass::RateLimited);
        assert_eq!(error_for(&reply(500, "{}")).class, ErrorClass::ServerError);
    }
}
