//! Veo 3 through Kie's dedicated API (docs/providers/kie.md 1.3): `POST /api/v1/veo/generate`,
//! `GET /api/v1/veo/record-info`, and `GET /api/v1/veo/get-1080p-video` for the
//! 1080p file. One Atelier model, `kie/veo3`, whose variants are a parameter:
//! `fast` (`veo3_fast`), `quality` (`veo3`), `lite` (`veo3_lite`).
//!
//! Modes: text to video (no image); one image to animate or two as first and
//! last frames; one to three reference images (fast only). A `mode` the user
//! names is sent as `generationType`; without one Kie infers it from the images.

use atelier_core::CoreError;
use atelier_core::catalog::{Modality, ModelSpec};
use atelier_core::ports::{ErrorClass, ProviderError};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::client::{KieClient, Phase};
use super::wire::{self, FlagRecord};
use super::{Kie, KieModel, parse_job};
use crate::kit::Named;
use crate::kit::fields::required_text;
use crate::kit::params::{check_range, parse_params, to_json};
use async_trait::async_trait;
use atelier_core::ports::{Job, Polled};
use std::time::Duration;

pub const MODEL: &str = "veo-3";
/// The name it had before the names were made one across services.
pub const FORMER_NAME: &str = "veo3";
const MAX_IMAGES: usize = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Variant {
    Fast,
    Quality,
    Lite,
}

impl Variant {
    pub fn kie_model(self) -> &'static str {
        match self {
            Self::Fast => "veo3_fast",
            Self::Quality => "veo3",
            Self::Lite => "veo3_lite",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    TextToVideo,
    /// One image (animated around it) or two (first and last frames).
    FirstAndLastFrames,
    /// One to three reference images; the fast variant only.
    Reference,
}

impl Mode {
    pub fn generation_type(self) -> &'static str {
        match self {
            Self::TextToVideo => "TEXT_2_VIDEO",
            Self::FirstAndLastFrames => "FIRST_AND_LAST_FRAMES_2_VIDEO",
            Self::Reference => "REFERENCE_2_VIDEO",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Resolution {
    #[serde(rename = "720p")]
    P720,
    #[serde(rename = "1080p")]
    P1080,
    #[serde(rename = "4k")]
    K4,
}

impl Resolution {
    fn as_str(self) -> &'static str {
        match self {
            Self::P720 => "720p",
            Self::P1080 => "1080p",
            Self::K4 => "4k",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Veo3Params {
    pub prompt: String,
    /// Input images: URLs, data URIs, upload ids or output ids (uploaded to Kie first).
    /// Kie's `imageUrls` is taken too (as are its other camelCase names below).
    #[serde(default, alias = "imageUrls")]
    pub images: Vec<String>,
    #[serde(default = "default_variant")]
    pub variant: Variant,
    /// `None`: Kie infers it from the number of images.
    #[serde(default)]
    pub mode: Option<Mode>,
    /// `16:9`, `9:16` or `Auto`; `None`: Kie's default (16:9).
    #[serde(default, alias = "aspectRatio")]
    pub aspect_ratio: Option<String>,
    /// 10000 to 99999.
    #[serde(default)]
    pub seeds: Option<u32>,
    /// Watermark text.
    #[serde(default)]
    pub watermark: Option<String>,
    #[serde(default, alias = "enableTranslation")]
    pub enable_translation: Option<bool>,
    #[serde(default = "default_resolution")]
    pub resolution: Resolution,
}

fn default_variant() -> Variant {
    Variant::Fast
}

fn default_resolution() -> Resolution {
    Resolution::P720
}

pub fn validate(input: &Value) -> Result<Value, CoreError> {
    let mut params: Veo3Params = parse_params(input)?;
    params.prompt = required_text("prompt", &params.prompt)?;
    if params.images.len() > MAX_IMAGES {
        return Err(CoreError::invalid("images", format!("at most {MAX_IMAGES} images")));
    }
    super::upload::check_references("images", &params.images)?;
    let count = params.images.len();
    match params.mode {
        Some(Mode::TextToVideo) if count > 0 => {
            return Err(CoreError::invalid("images", "text_to_video takes no images"));
        }
        Some(Mode::FirstAndLastFrames) if !(1..=2).contains(&count) => {
            return Err(CoreError::invalid("images", "first_and_last_frames takes 1 or 2 images"));
        }
        Some(Mode::Reference) if count == 0 => {
            return Err(CoreError::invalid("images", "reference takes 1 to 3 images"));
        }
        Some(Mode::Reference) if params.variant != Variant::Fast => {
            return Err(CoreError::invalid("mode", "reference mode is offered by the fast variant only"));
        }
        // Kie infers reference mode from three images.
        None if count == MAX_IMAGES && params.variant != Variant::Fast => {
            return Err(CoreError::invalid(
                "images",
                "three images mean reference mode, which the fast variant only offers",
            ));
        }
        _ => {}
    }
    if let Some(ratio) = params.aspect_ratio.as_mut() {
        if ratio.eq_ignore_ascii_case("auto") {
            "Auto".clone_into(ratio);
        }
        if !["16:9", "9:16", "Auto"].contains(&ratio.as_str()) {
            return Err(CoreError::invalid("aspect_ratio", "must be 16:9, 9:16 or Auto"));
        }
    }
    if let Some(seeds) = params.seeds {
        check_range("seeds", i64::from(seeds), 10_000, 99_999)?;
    }
    to_json(&params)
}

/// The body of `POST /api/v1/veo/generate`, with Kie's names; `image_urls` are the
/// uploaded images, in the input's order.
pub fn kie_body(params: &Veo3Params, image_urls: &[String], callback_url: Option<&str>) -> Value {
    let mut body = json!({
        "prompt": params.prompt,
        "model": params.variant.kie_model(),
        "resolution": params.resolution.as_str(),
    });
    if !image_urls.is_empty() {
        body["imageUrls"] = json!(image_urls);
    }
    if let Some(mode) = params.mode {
        body["generationType"] = json!(mode.generation_type());
    }
    if let Some(ratio) = &params.aspect_ratio {
        body["aspect_ratio"] = json!(ratio);
    }
    if let Some(seeds) = params.seeds {
        body["seeds"] = json!(seeds);
    }
    if let Some(watermark) = params.watermark.as_ref().filter(|text| !text.is_empty()) {
        body["watermark"] = json!(watermark);
    }
    if let Some(translate) = params.enable_translation {
        body["enableTranslation"] = json!(translate);
    }
    if let Some(url) = callback_url {
        body["callBackUrl"] = json!(url);
    }
    body
}

pub async fn generate(client: &KieClient, body: &Value) -> Result<String, ProviderError> {
    let data = client.post("/api/v1/veo/generate", body, Phase::Submit).await?;
    super::market::task_id_of(&data)
}

/// Where a Veo task stands.
#[derive(Debug, PartialEq)]
pub enum VeoState {
    Running,
    /// The video is made; its 1080p file is still being prepared.
    Preparing1080p,
    Finished {
        result_urls: Vec<String>,
    },
    Failed {
        code: Option<i64>,
        message: String,
    },
}

/// Reads the task; when 1080p was asked and the record does not already say
/// 1080p, fetches the 1080p file instead (Kie answers a non-200 code until it is
/// ready, 1 to 3 minutes: the task keeps running, never resubmitted).
pub async fn poll(client: &KieClient, params: &Veo3Params, task_id: &str) -> Result<VeoState, ProviderError> {
    let data = client.get("/api/v1/veo/record-info", &[("taskId", task_id)], Phase::Query).await?;
    let state = parse_record(&data)?;
    let VeoState::Finished { .. } = &state else { return Ok(state) };
    let given = data.pointer("/response/resolution").and_then(Value::as_str).unwrap_or_default();
    if params.resolution != Resolution::P1080 || given.eq_ignore_ascii_case("1080p") {
        return Ok(state);
    }
    let query = [("taskId", task_id), ("index", "0")];
    match client.get("/api/v1/veo/get-1080p-video", &query, Phase::Query).await {
        Ok(data) => match data.get("resultUrl").and_then(Value::as_str).filter(|url| !url.is_empty()) {
            Some(url) => Ok(VeoState::Finished { result_urls: vec![url.to_owned()] }),
            None => Ok(VeoState::Preparing1080p),
        },
        Err(error) if error.class == ErrorClass::Unauthorized || error.class == ErrorClass::InsufficientCredits => {
            Err(error)
        }
        Err(error) => {
            tracing::debug!(task.external_id = task_id, %error, "Kie's 1080p video is not ready yet");
            Ok(VeoState::Preparing1080p)
        }
    }
}

/// A `record-info` `data`: `successFlag` 0 generating, 1 success, 2/3 failed;
/// results in `response.resultUrls` (an array, or a string like `"[http://…]"`).
pub fn parse_record(data: &Value) -> Result<VeoState, ProviderError> {
    Ok(match wire::flag_record(data, "response", "Veo")? {
        FlagRecord::Running => VeoState::Running,
        FlagRecord::Finished { result_urls } => VeoState::Finished { result_urls },
        FlagRecord::Failed { code, message } => VeoState::Failed { code, message },
    })
}

pub fn spec(requires_config: Option<String>) -> ModelSpec {
    ModelSpec {
        service: super::SERVICE.into(),
        model: MODEL.into(),
        aliases: vec![FORMER_NAME.into()],
        modality: Modality::Video,
        title: "Veo 3 (via Kie.ai)".into(),
        description: "Google Veo 3 through Kie.ai: text to video, an image to animate, first and last frames, \
                      or reference images (fast); variants fast, quality and lite; 720p or 1080p."
            .into(),
        input_schema: json!({
            "type": "object",
            "additionalProperties": false,
            "required": ["prompt"],
            "properties": {
                "prompt": { "type": "string", "minLength": 1 },
                "images": { "type": "array", "default": [], "maxItems": MAX_IMAGES, "items": { "type": "string" },
                    "description": "http(s) URLs, data: URIs, upload ids (upl_…) or output ids (img_…)." },
                "variant": { "type": "string", "enum": ["fast", "quality", "lite"], "default": "fast" },
                "mode": { "type": ["string", "null"],
                    "enum": ["text_to_video", "first_and_last_frames", "reference", null],
                    "description": "Inferred from the images when absent; reference needs the fast variant." },
                "aspect_ratio": { "type": ["string", "null"], "enum": ["16:9", "9:16", "Auto", null] },
                "seeds": { "type": ["integer", "null"], "minimum": 10000, "maximum": 99999 },
                "watermark": { "type": ["string", "null"] },
                "enable_translation": { "type": ["boolean", "null"] },
                "resolution": { "type": "string", "enum": ["720p", "1080p", "4k"], "default": "720p" },
            }
        }),
        estimated_seconds: 120,
        poll_timeout_secs: Some(1800),
        requires_config,
    }
}

/// `kie/veo3`, through Kie's Veo API.
pub struct Veo3;

impl Named for Veo3 {
    fn name(&self) -> &str {
        MODEL
    }
}

#[async_trait]
impl KieModel for Veo3 {
    fn spec(&self, requires_config: Option<String>) -> ModelSpec {
        spec(requires_config)
    }

    fn validate(&self, input: &Value) -> Result<Value, CoreError> {
        validate(input)
    }

    async fn submit(&self, kie: &Kie<'_>, job: &Job<'_>) -> Result<String, ProviderError> {
        let params: Veo3Params = parse_job(job)?;
        let urls = kie.upload(job, &params.images).await?;
        generate(kie.client, &kie_body(&params, &urls, kie.callback_url.as_deref())).await
    }

    async fn poll(&self, kie: &Kie<'_>, job: &Job<'_>, task_id: &str) -> Result<Polled, ProviderError> {
        let params: Veo3Params = parse_job(job)?;
        match poll(kie.client, &params, task_id).await? {
            VeoState::Running => Ok(kie.running(job)),
            // Kie's advice: ask again every 20 to 30 s.
            VeoState::Preparing1080p => {
                Ok(Polled::Running { progress: None, poll_after: (kie.polls.first * 10).min(Duration::from_secs(30)) })
            }
            VeoState::Finished { result_urls } => kie.settle(job, FlagRecord::Finished { result_urls }).await,
            VeoState::Failed { code, message } => kie.settle(job, FlagRecord::Failed { code, message }).await,
        }
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
            (json!({ "prompt": " " }), "prompt"),
            (json!({ "prompt": "x", "images": [url, url, url, url] }), "images"),
            (json!({ "prompt": "x", "images": ["nope"] }), "images[0]"),
            (json!({ "prompt": "x", "mode": "text_to_video", "images": [url] }), "images"),
            (json!({ "prompt": "x", "mode": "first_and_last_frames" }), "images"),
            (json!({ "prompt": "x", "mode": "first_and_last_frames", "images": [url, url, url] }), "images"),
            (json!({ "prompt": "x", "mode": "reference" }), "images"),
            (json!({ "prompt": "x", "mode": "reference", "variant": "quality", "images": [url] }), "mode"),
            (json!({ "prompt": "x", "variant": "lite", "images": [url, url, url] }), "images"),
            (json!({ "prompt": "x", "aspect_ratio": "1:1" }), "aspect_ratio"),
            (json!({ "prompt": "x", "seeds": 9999 }), "seeds"),
            (json!({ "prompt": "x", "seeds": 100_000 }), "seeds"),
            (json!({ "prompt": "x", "resolution": "8k" }), "resolution"),
            (json!({ "prompt": "x", "variant": "ultra" }), "variant"),
        ];
        for (input, field) in cases {
            assert_eq!(error_field(&validate(&input).expect_err("invalid")), field, "{input}");
        }
        // Kie's own names (seed 003 writes them) are taken, and stored under Atelier's.
        let kie = validate(&json!({ "prompt": "x", "aspectRatio": "9:16", "imageUrls": [url] })).expect("Kie's names");
        assert_eq!((kie["aspect_ratio"].as_str(), kie["images"][0].as_str()), (Some("9:16"), Some(url)));
        let ok = validate(&json!({ "prompt": "x", "aspect_ratio": "auto", "images": [url, url, url] })).expect("ok");
        assert_eq!((ok["aspect_ratio"].as_str(), ok["variant"].as_str()), (Some("Auto"), Some("fast")));
        assert_eq!(ok["resolution"], "720p");
    }

    #[test]
    fn bodies_use_kies_names_and_types() {
        let params: Veo3Params = serde_json::from_value(json!({
            "prompt": "p", "images": ["upl_0123456789abcdef0123456789abcdef", "upl_fedcba9876543210fedcba9876543210"], "variant": "quality", "mode": "first_and_last_frames",
            "aspect_ratio": "9:16", "seeds": 12345, "watermark": "atelier", "enable_translation": false,
            "resolution": "1080p"
        }))
        .expect("params");
        let urls = vec!["https://t/1.png".to_owned(), "https://t/2.png".to_owned()];
        assert_eq!(
            kie_body(&params, &urls, Some("https://cb")),
            json!({
                "prompt": "p", "model": "veo3", "resolution": "1080p", "imageUrls": urls,
                "generationType": "FIRST_AND_LAST_FRAMES_2_VIDEO", "aspect_ratio": "9:16", "seeds": 12345,
                "watermark": "atelier", "enableTranslation": false, "callBackUrl": "https://cb"
            })
        );
        let plain: Veo3Params = serde_json::from_value(json!({ "prompt": "p" })).expect("params");
        assert_eq!(kie_body(&plain, &[], None), json!({ "prompt": "p", "model": "veo3_fast", "resolution": "720p" }));
        let lite: Veo3Params =
            serde_json::from_value(json!({ "prompt": "p", "variant": "lite", "mode": "text_to_video" })).expect("p");
        assert_eq!(kie_body(&lite, &[], None)["model"], "veo3_lite");
        assert_eq!(kie_body(&lite, &[], None)["generationType"], "TEXT_2_VIDEO");
    }

    #[test]
    fn records_in_every_documented_form() {
        assert_eq!(parse_record(&json!({ "successFlag": 0, "response": null })).ok(), Some(VeoState::Running));
        let array = json!({ "successFlag": 1, "response": { "resultUrls": ["http://v/1.mp4"] } });
        let string = json!({ "successFlag": "1", "response": { "resultUrls": "[http://v/1.mp4]" } });
        let done = Some(VeoState::Finished { result_urls: vec!["http://v/1.mp4".into()] });
        assert_eq!(parse_record(&array).ok(), done);
        assert_eq!(parse_record(&string).ok(), done);
        let failed = json!({ "successFlag": 3, "errorCode": 400, "errorMessage": "Only English prompts are supported at this time." });
        assert_eq!(
            parse_record(&failed).ok(),
            Some(VeoState::Failed {
                code: Some(400),
                message: "Only English prompts are supported at this time.".into()
            })
        );
        let failed = json!({ "successFlag": 2, "errorCode": null, "errorMessage": "x" });
        assert!(matches!(parse_record(&failed), Ok(VeoState::Failed { code: None, .. })));
        assert!(parse_record(&json!({ "successFlag": 1, "response": {} })).is_err());
    }
}
