//! The parameters of a generation on a Stable Diffusion server, in the names of
//! AUTOMATIC1111's API (docs/providers/sdapi.md 5.1) that stable-diffusion.cpp's
//! compatible API takes too (5.2), plus Atelier's `images` (an init image: the task
//! becomes an img2img) and `num_images` (A1111's `batch_size`).

use atelier_core::CoreError;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::kit::fields::{max_chars, optional_max_chars, required_text};
use crate::kit::params::{parse_params, to_json};

const MAX_PROMPT: usize = 10_000;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SdParams {
    pub prompt: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub negative_prompt: Option<String>,
    /// 64 to 2048, a multiple of 8 (the server's default when absent: 512).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steps: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cfg_scale: Option<f64>,
    /// -1: random.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    /// One of the server's samplers (`GET /sdapi/v1/samplers`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sampler_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduler: Option<String>,
    /// Images in one batch (A1111's `batch_size`), 1 to 8.
    #[serde(default = "one")]
    pub num_images: u8,
    /// An init image (an upload, an output, a data URI or a URL): an img2img.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<String>,
    /// With `images`: white where the image is to be repainted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mask: Option<String>,
    /// With `images`: how much of it changes, 0 to 1 (the server's default 0.75).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub denoising_strength: Option<f64>,
    /// Hires fix (text to image): upscale by `hr_scale` with `hr_upscaler`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_hr: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hr_scale: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hr_upscaler: Option<String>,
}

fn one() -> u8 {
    1
}

pub fn validate(input: &Value, samplers: &[String]) -> Result<Value, CoreError> {
    let mut params: SdParams = parse_params(input)?;
    params.prompt = required_text("prompt", &params.prompt)?;
    max_chars("prompt", &params.prompt, MAX_PROMPT)?;
    optional_max_chars("negative_prompt", params.negative_prompt.as_deref(), MAX_PROMPT)?;
    for (field, side) in [("width", params.width), ("height", params.height)] {
        if let Some(side) = side
            && (!(64..=2048).contains(&side) || side % 8 != 0)
        {
            return Err(CoreError::invalid(field, format!("must be a multiple of 8 from 64 to 2048, got {side}")));
        }
    }
    if let Some(steps) = params.steps
        && !(1..=150).contains(&steps)
    {
        return Err(CoreError::invalid("steps", format!("must be between 1 and 150, got {steps}")));
    }
    if let Some(cfg) = params.cfg_scale
        && !(1.0..=30.0).contains(&cfg)
    {
        return Err(CoreError::invalid("cfg_scale", format!("must be between 1 and 30, got {cfg}")));
    }
    if let Some(seed) = params.seed
        && !(-1..=i64::from(u32::MAX)).contains(&seed)
    {
        return Err(CoreError::invalid("seed", "must be -1 (random) or between 0 and 4294967295"));
    }
    if let Some(sampler) = &params.sampler_name
        && !samplers.is_empty()
        && !samplers.iter().any(|known| known.eq_ignore_ascii_case(sampler))
    {
        return Err(CoreError::invalid(
            "sampler_name",
            format!("must be one of the server's samplers: {}", samplers.join(", ")),
        ));
    }
    if !(1..=8).contains(&params.num_images) {
        return Err(CoreError::invalid("num_images", "must be between 1 and 8"));
    }
    if params.images.len() > 1 {
        return Err(CoreError::invalid("images", "takes one init image"));
    }
    for (index, reference) in params.images.iter().chain(params.mask.iter()).enumerate() {
        let field = if index < params.images.len() { "images[0]".to_owned() } else { "mask".to_owned() };
        atelier_core::ports::InputRef::parse(reference).map_err(|reason| CoreError::invalid(&field, reason))?;
    }
    if params.images.is_empty() && params.mask.is_some() {
        return Err(CoreError::invalid("mask", "needs images (the image to repaint)"));
    }
    if let Some(strength) = params.denoising_strength
        && !(0.0..=1.0).contains(&strength)
    {
        return Err(CoreError::invalid("denoising_strength", "must be between 0 and 1"));
    }
    if let Some(scale) = params.hr_scale
        && !(1.0..=4.0).contains(&scale)
    {
        return Err(CoreError::invalid("hr_scale", "must be between 1 and 4"));
    }
    to_json(&params)
}

/// The `txt2img` or `img2img` body, without the init image and mask (added by the
/// caller once read), asking for the images in the answer and none saved.
pub fn body(params: &SdParams, checkpoint: Option<&str>) -> Value {
    let mut body = Map::new();
    body.insert("prompt".into(), json!(params.prompt));
    let mut put = |key: &str, value: Option<Value>| {
        if let Some(value) = value {
            body.insert(key.to_owned(), value);
        }
    };
    put("negative_prompt", params.negative_prompt.clone().map(Value::from));
    put("width", params.width.map(Value::from));
    put("height", params.height.map(Value::from));
    put("steps", params.steps.map(Value::from));
    put("cfg_scale", params.cfg_scale.map(Value::from));
    put("seed", params.seed.map(Value::from));
    put("sampler_name", params.sampler_name.clone().map(Value::from));
    put("scheduler", params.scheduler.clone().map(Value::from));
    put("denoising_strength", params.denoising_strength.map(Value::from));
    put("enable_hr", params.enable_hr.map(Value::from));
    put("hr_scale", params.hr_scale.map(Value::from));
    put("hr_upscaler", params.hr_upscaler.clone().map(Value::from));
    body.insert("batch_size".into(), json!(params.num_images));
    body.insert("n_iter".into(), json!(1));
    body.insert("send_images".into(), json!(true));
    body.insert("save_images".into(), json!(false));
    if let Some(checkpoint) = checkpoint {
        body.insert("override_settings".into(), json!({ "sd_model_checkpoint": checkpoint }));
        body.insert("override_settings_restore_afterwards".into(), json!(true));
    }
    Value::Object(body)
}

/// The input schema, with the server's samplers when known.
pub fn schema(samplers: &[String]) -> Value {
    let mut sampler = json!({ "type": "string", "description": "One of the server's samplers." });
    if !samplers.is_empty() {
        sampler["enum"] = json!(samplers);
    }
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["prompt"],
        "properties": {
            "prompt": { "type": "string", "minLength": 1, "maxLength": MAX_PROMPT },
            "negative_prompt": { "type": ["string", "null"], "maxLength": MAX_PROMPT },
            "width": { "type": "integer", "minimum": 64, "maximum": 2048, "multipleOf": 8 },
            "height": { "type": "integer", "minimum": 64, "maximum": 2048, "multipleOf": 8 },
            "steps": { "type": "integer", "minimum": 1, "maximum": 150 },
            "cfg_scale": { "type": "number", "minimum": 1, "maximum": 30 },
            "seed": { "type": "integer", "minimum": -1, "maximum": u32::MAX, "description": "-1 for a random seed." },
            "sampler_name": sampler,
            "scheduler": { "type": "string" },
            "num_images": { "type": "integer", "minimum": 1, "maximum": 8, "default": 1 },
            "images": { "type": "array", "maxItems": 1, "items": { "type": "string" },
                "description": "An init image: the task becomes an image-to-image." },
            "mask": { "type": "string", "description": "With images: white where the image is repainted." },
            "denoising_strength": { "type": "number", "minimum": 0, "maximum": 1 },
            "enable_hr": { "type": "boolean", "description": "Hires fix." },
            "hr_scale": { "type": "number", "minimum": 1, "maximum": 4 },
            "hr_upscaler": { "type": "string" },
        }
    })
}
