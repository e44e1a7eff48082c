//! Midjourney through Kie's API (docs/providers/kie.md 1.4): `POST /api/v1/mj/generate`,
//! `GET /api/v1/mj/record-info`. One Atelier model, `kie/midjourney`, whose
//! `task_type` is Kie's own: `mj_txt2img` (default, 4 images), `mj_img2img`,
//! `mj_style_reference`, `mj_omni_reference`, `mj_video`, `mj_video_hd`.
//!
//! The field rules: input images for every type but txt2img (exactly one for
//! video); `speed` not for video or omni reference; `motion` and
//! `video_batch_size` for video only; `ow` for omni reference only.

use atelier_core::CoreError;
use atelier_core::catalog::{Modality, ModelSpec};
use atelier_core::ports::ProviderError;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::client::{KieClient, Phase};
use super::wire;
use super::{Kie, KieModel, parse_job};
use crate::kit::Named;
use crate::kit::fields::{max_chars, required_text};
use crate::kit::params::{check_range, parse_params, to_json};
use async_trait::async_trait;
use atelier_core::ports::{Job, Polled};

pub const MODEL: &str = "midjourney";
const MAX_PROMPT: usize = 2000;
const RATIOS: [&str; 11] = ["1:2", "9:16", "2:3", "3:4", "5:6", "6:5", "4:3", "3:2", "1:1", "16:9", "2:1"];
const VERSIONS: [&str; 6] = ["7", "6.1", "6", "5.2", "5.1", "niji6"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskType {
    MjTxt2img,
    MjImg2img,
    MjStyleReference,
    MjOmniReference,
    MjVideo,
    MjVideoHd,
}

impl TaskType {
    fn as_str(self) -> &'static str {
        match self {
            Self::MjTxt2img => "mj_txt2img",
            Self::MjImg2img => "mj_img2img",
            Self::MjStyleReference => "mj_style_reference",
            Self::MjOmniReference => "mj_omni_reference",
            Self::MjVideo => "mj_video",
            Self::MjVideoHd => "mj_video_hd",
        }
    }

    fn is_video(self) -> bool {
        matches!(self, Self::MjVideo | Self::MjVideoHd)
    }

    /// Kie asks for a speed on every type but video and omni reference.
    fn takes_speed(self) -> bool {
        !self.is_video() && self != Self::MjOmniReference
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Speed {
    Relaxed,
    Fast,
    Turbo,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Motion {
    High,
    Low,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MidjourneyParams {
    pub prompt: String,
    /// Kie's `taskType` is taken too (as are its other camelCase names below).
    #[serde(default = "default_task_type", alias = "taskType")]
    pub task_type: TaskType,
    /// Input images: URLs, data URIs, upload ids or output ids (uploaded to Kie first).
    #[serde(default, alias = "fileUrls", alias = "fileUrl", deserialize_with = "crate::kit::params::one_or_many")]
    pub images: Vec<String>,
    /// Filled in as `fast` for the types that take one.
    #[serde(default)]
    pub speed: Option<Speed>,
    #[serde(default, alias = "aspectRatio")]
    pub aspect_ratio: Option<String>,
    #[serde(default, deserialize_with = "wire::string_or_number")]
    pub version: Option<String>,
    /// 0 to 100, in steps of 5.
    #[serde(default)]
    pub variety: Option<u32>,
    /// 0 to 1000.
    #[serde(default)]
    pub stylization: Option<u32>,
    /// 0 to 3000.
    #[serde(default)]
    pub weirdness: Option<u32>,
    /// Omni reference weight, 1 to 1000.
    #[serde(default)]
    pub ow: Option<u32>,
    #[serde(default)]
    pub watermark: Option<String>,
    #[serde(default, alias = "enableTranslation")]
    pub enable_translation: Option<bool>,
    /// Videos per task: 1, 2 or 4 (video only; filled in as 1).
    #[serde(default, alias = "videoBatchSize")]
    pub video_batch_size: Option<u8>,
    /// Video only; filled in as `high`.
    #[serde(default)]
    pub motion: Option<Motion>,
}

fn default_task_type() -> TaskType {
    TaskType::MjTxt2img
}

pub fn validate(input: &Value) -> Result<Value, CoreError> {
    let mut params: MidjourneyParams = parse_params(input)?;
    params.prompt = required_text("prompt", &params.prompt)?;
    max_chars("prompt", &params.prompt, MAX_PROMPT)?;
    check_images(&params)?;
    let task_type = params.task_type;
    if task_type.takes_speed() {
        params.speed.get_or_insert(Speed::Fast);
    } else if params.speed.is_some() {
        return Err(CoreError::invalid("speed", format!("{} takes no speed", task_type.as_str())));
    }
    if task_type.is_video() {
        params.motion.get_or_insert(Motion::High);
        let batch = *params.video_batch_size.get_or_insert(1);
        if ![1, 2, 4].contains(&batch) {
            return Err(CoreError::invalid("video_batch_size", "must be 1, 2 or 4"));
        }
    } else {
        if params.motion.is_some() {
            return Err(CoreError::invalid("motion", "is for mj_video and mj_video_hd only"));
        }
        if params.video_batch_size.is_some() {
            return Err(CoreError::invalid("video_batch_size", "is for mj_video and mj_video_hd only"));
        }
    }
    match params.ow {
        Some(_) if task_type != TaskType::MjOmniReference => {
            return Err(CoreError::invalid("ow", "is for mj_omni_reference only"));
        }
        Some(ow) => check_range("ow", i64::from(ow), 1, 1000)?,
        None => {}
    }
    if params.aspect_ratio.as_ref().is_some_and(|ratio| !RATIOS.contains(&ratio.as_str())) {
        return Err(CoreError::invalid("aspect_ratio", format!("must be one of {}", RATIOS.join(", "))));
    }
    if params.version.as_ref().is_some_and(|version| !VERSIONS.contains(&version.as_str())) {
        return Err(CoreError::invalid("version", format!("must be one of {}", VERSIONS.join(", "))));
    }
    if let Some(variety) = params.variety {
        check_range("variety", i64::from(variety), 0, 100)?;
        if variety % 5 != 0 {
            return Err(CoreError::invalid("variety", "must be a multiple of 5"));
        }
    }
    if let Some(stylization) = params.stylization {
        check_range("stylization", i64::from(stylization), 0, 1000)?;
    }
    if let Some(weirdness) = params.weirdness {
        check_range("weirdness", i64::from(weirdness), 0, 3000)?;
    }
    to_json(&params)
}

fn check_images(params: &MidjourneyParams) -> Result<(), CoreError> {
    let task_type = params.task_type.as_str();
    match (params.task_type, params.images.len()) {
        (TaskType::MjTxt2img, 0) => {}
        (TaskType::MjTxt2img, _) => {
            return Err(CoreError::invalid("images", "mj_txt2img takes no images (use mj_img2img)"));
        }
        (_, 0) => return Err(CoreError::invalid("images", format!("{task_type} needs an input image"))),
        (TaskType::MjVideo | TaskType::MjVideoHd, n) if n != 1 => {
            return Err(CoreError::invalid("images", format!("{task_type} takes exactly 1 image")));
        }
        _ => {}
    }
    super::upload::check_references("images", &params.images)
}

/// The body of `POST /api/v1/mj/generate`, with Kie's names; `image_urls` are the
/// uploaded images, in the input's order.
pub fn kie_body(params: &MidjourneyParams, image_urls: &[String], callback_url: Option<&str>) -> Value {
    let mut body = json!({ "taskType": params.task_type.as_str(), "prompt": params.prompt });
    if !image_urls.is_empty() {
        body["fileUrls"] = json!(image_urls);
    }
    let fields = [
        ("speed", params.speed.map(|speed| json!(speed))),
        ("aspectRatio", params.aspect_ratio.as_ref().map(|ratio| json!(ratio))),
        ("version", params.version.as_ref().map(|version| json!(version))),
        ("variety", params.variety.map(|n| json!(n))),
        ("stylization", params.stylization.map(|n| json!(n))),
        ("weirdness", params.weirdness.map(|n| json!(n))),
        ("ow", params.ow.map(|n| json!(n))),
        ("waterMark", params.watermark.as_ref().filter(|text| !text.is_empty()).map(|text| json!(text))),
        ("enableTranslation", params.enable_translation.map(|on| json!(on))),
        ("videoBatchSize", params.video_batch_size.map(|n| json!(n))),
        ("motion", params.motion.map(|motion| json!(motion))),
        ("callBackUrl", callback_url.map(|url| json!(url))),
    ];
    for (name, value) in fields {
        if let Some(value) = value {
            body[name] = value;
        }
    }
    body
}

pub async fn generate(client: &KieClient, body: &Value) -> Result<String, ProviderError> {
    let data = client.post("/api/v1/mj/generate", body, Phase::Submit).await?;
    super::market::task_id_of(&data)
}

/// Where a Midjourney task stands.
/// Where a Midjourney task stands.
pub type MjState = wire::FlagRecord;

pub async fn record_info(client: &KieClient, task_id: &str) -> Result<MjState, ProviderError> {
    let data = client.get("/api/v1/mj/record-info", &[("taskId", task_id)], Phase::Query).await?;
    parse_record(&data)
}

/// A `record-info` `data`: `successFlag` as for Veo; results in
/// `resultInfoJson.resultUrls[].resultUrl` (an object or a JSON string).
pub fn parse_record(data: &Value) -> Result<MjState, ProviderError> {
    wire::flag_record(data, "resultInfoJson", "Midjourney")
}

pub fn spec(requires_config: Option<String>) -> ModelSpec {
    ModelSpec {
        service: super::SERVICE.into(),
        model: MODEL.into(),
        aliases: Vec::new(),
        modality: Modality::Image,
        title: "Midjourney (via Kie.ai)".into(),
        description: "Midjourney through Kie.ai: text to image (4 images), image to image, style and omni \
                      reference, and image to video (mj_video, mj_video_hd)."
            .into(),
        input_schema: json!({
            "type": "object",
            "additionalProperties": false,
            "required": ["prompt"],
            "properties": {
                "prompt": { "type": "string", "minLength": 1, "maxLength": MAX_PROMPT },
                "task_type": { "type": "string", "default": "mj_txt2img", "enum": [
                    "mj_txt2img", "mj_img2img", "mj_style_reference", "mj_omni_reference", "mj_video", "mj_video_hd"] },
                "images": { "type": "array", "default": [], "items": { "type": "string" },
                    "description": "Needed by every type but mj_txt2img (exactly 1 for video): http(s) URLs, \
                                    data: URIs, upload ids (upl_…) or output ids (img_…)." },
                "speed": { "type": ["string", "null"], "enum": ["relaxed", "fast", "turbo", null], "default": null,
                    "description": "Not for video or omni reference; fast when absent." },
                "aspect_ratio": { "type": ["string", "null"], "enum": RATIOS.iter().map(|r| json!(r)).chain([Value::Null]).collect::<Vec<_>>() },
                "version": { "type": ["string", "number", "null"], "enum": ["7", "6.1", "6", "5.2", "5.1", "niji6", 7, 6.1, 6, 5.2, 5.1, null] },
                "variety": { "type": ["integer", "null"], "minimum": 0, "maximum": 100, "multipleOf": 5 },
                "stylization": { "type": ["integer", "null"], "minimum": 0, "maximum": 1000 },
                "weirdness": { "type": ["integer", "null"], "minimum": 0, "maximum": 3000 },
                "ow": { "type": ["integer", "null"], "minimum": 1, "maximum": 1000, "description": "mj_omni_reference only." },
                "watermark": { "type": ["string", "null"] },
                "enable_translation": { "type": ["boolean", "null"] },
                "video_batch_size": { "type": ["integer", "null"], "enum": [1, 2, 4, null], "description": "Video only." },
                "motion": { "type": ["string", "null"], "enum": ["high", "low", null], "default": null,
                    "description": "Video only; high when absent." },
            }
        }),
        estimated_seconds: 60,
        poll_timeout_secs: Some(1200),
        requires_config,
    }
}

/// `kie/midjourney`, through Kie's Midjourney API.
pub struct Midjourney;

impl Named for Midjourney {
    fn name(&self) -> &str {
        MODEL
    }
}

#[async_trait]
impl KieModel for Midjourney {
    fn spec(&self, requires_config: Option<String>) -> ModelSpec {
        spec(requires_config)
    }

    fn validate(&self, input: &Value) -> Result<Value, CoreError> {
        validate(input)
    }

    async fn submit(&self, kie: &Kie<'_>, job: &Job<'_>) -> Result<String, ProviderError> {
        let params: MidjourneyParams = parse_job(job)?;
        let urls = kie.upload(job, &params.images).await?;
        generate(kie.client, &kie_body(&params, &urls, kie.callback_url.as_deref())).await
    }

    async fn poll(&self, kie: &Kie<'_>, job: &Job<'_>, task_id: &str) -> Result<Polled, ProviderError> {
        let state = record_info(kie.client, task_id).await?;
        kie.settle(job, state).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kit::schema::error_field;

    #[test]
    fn kies_own_field_names_are_taken_as_seed_003_writes_them() {
        let url = "https://example.com/a.png";
        let seed_003 = json!({ "prompt": "x", "taskType": "mj_img2img", "fileUrls": [url], "aspectRatio": "16:9" });
        let valid = validate(&seed_003).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (&valid["task_type"], &valid["images"], &valid["aspect_ratio"]),
            (&json!("mj_img2img"), &json!([url]), &json!("16:9"))
        );
        assert!(valid.get("taskType").is_none(), "stored under the canonical names: {valid}");
        let one = validate(&json!({ "prompt": "x", "taskType": "mj_video", "fileUrl": url }))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(one["images"], json!([url]));
        let both = validate(&json!({ "prompt": "x", "images": [url], "fileUrls": [url] }));
        assert!(both.is_err(), "one name per field");
    }

    #[test]
    fn validation_names_the_field() {
        let url = "https://example.com/a.png";
        let cases = [
            (json!({ "prompt": "" }), "prompt"),
            (json!({ "prompt": "x".repeat(2001) }), "prompt"),
            (json!({ "prompt": "x", "task_type": "mj_upscale" }), "task_type"),
            (json!({ "prompt": "x", "images": [url] }), "images"),
            (json!({ "prompt": "x", "task_type": "mj_img2img" }), "images"),
            (json!({ "prompt": "x", "task_type": "mj_style_reference" }), "images"),
            (json!({ "prompt": "x", "task_type": "mj_omni_reference" }), "images"),
            (json!({ "prompt": "x", "task_type": "mj_video", "images": [url, url] }), "images"),
            (json!({ "prompt": "x", "task_type": "mj_video_hd" }), "images"),
            (json!({ "prompt": "x", "task_type": "mj_img2img", "images": ["file.png"] }), "images[0]"),
            (json!({ "prompt": "x", "task_type": "mj_video", "images": [url], "speed": "fast" }), "speed"),
            (json!({ "prompt": "x", "task_type": "mj_omni_reference", "images": [url], "speed": "turbo" }), "speed"),
            (json!({ "prompt": "x", "speed": "warp" }), "speed"),
            (json!({ "prompt": "x", "motion": "low" }), "motion"),
            (json!({ "prompt": "x", "task_type": "mj_video", "images": [url], "motion": "mid" }), "motion"),
            (json!({ "prompt": "x", "video_batch_size": 2 }), "video_batch_size"),
            (
                json!({ "prompt": "x", "task_type": "mj_video", "images": [url], "video_batch_size": 3 }),
                "video_batch_size",
            ),
            (json!({ "prompt": "x", "ow": 100 }), "ow"),
            (json!({ "prompt": "x", "task_type": "mj_omni_reference", "images": [url], "ow": 0 }), "ow"),
            (json!({ "prompt": "x", "task_type": "mj_omni_reference", "images": [url], "ow": 1001 }), "ow"),
            (json!({ "prompt": "x", "aspect_ratio": "7:3" }), "aspect_ratio"),
            (json!({ "prompt": "x", "version": "8" }), "version"),
            (json!({ "prompt": "x", "version": true }), "version"),
            (json!({ "prompt": "x", "variety": 7 }), "variety"),
            (json!({ "prompt": "x", "variety": 105 }), "variety"),
            (json!({ "prompt": "x", "stylization": 1001 }), "stylization"),
            (json!({ "prompt": "x", "weirdness": 3001 }), "weirdness"),
        ];
        for (input, field) in cases {
            assert_eq!(error_field(&validate(&input).expect_err("invalid")), field, "{input}");
        }
    }

    #[test]
    fn defaults_fill_in_per_task_type() {
        let txt = validate(&json!({ "prompt": "x", "version": 6.1 })).expect("valid");
        assert_eq!((txt["task_type"].as_str(), txt["speed"].as_str()), (Some("mj_txt2img"), Some("fast")));
        assert_eq!(txt["version"], "6.1");
        assert!(txt["motion"].is_null());
        let video =
            validate(&json!({ "prompt": "x", "task_type": "mj_video", "images": ["https://e/a.png"] })).expect("valid");
        assert_eq!((video["motion"].as_str(), video["video_batch_size"].as_u64()), (Some("high"), Some(1)));
        assert!(video["speed"].is_null());
        let omni = validate(
            &json!({ "prompt": "x", "task_type": "mj_omni_reference", "images": ["https://e/a.png"], "ow": 500 }),
        )
        .expect("valid");
        assert!(omni["speed"].is_null());
    }

    #[test]
    fn bodies_use_kies_names_and_types() {
        let input = json!({
            "prompt": "p", "task_type": "mj_video_hd", "images": ["upl_0123456789abcdef0123456789abcdef"], "aspect_ratio": "16:9",
            "version": "7", "variety": 10, "stylization": 100, "weirdness": 5, "watermark": "w",
            "enable_translation": true, "video_batch_size": 2, "motion": "low"
        });
        let params: MidjourneyParams = serde_json::from_value(validate(&input).expect("valid")).expect("params");
        let urls = vec!["https://t/1.png".to_owned()];
        assert_eq!(
            kie_body(&params, &urls, Some("https://cb")),
            json!({
                "taskType": "mj_video_hd", "prompt": "p", "fileUrls": urls, "aspectRatio": "16:9", "version": "7",
                "variety": 10, "stylization": 100, "weirdness": 5, "waterMark": "w", "enableTranslation": true,
                "videoBatchSize": 2, "motion": "low", "callBackUrl": "https://cb"
            })
        );
        let txt: MidjourneyParams =
            serde_json::from_value(validate(&json!({ "prompt": "p", "speed": "relaxed" })).expect("valid")).expect("p");
        assert_eq!(kie_body(&txt, &[], None), json!({ "taskType": "mj_txt2img", "prompt": "p", "speed": "relaxed" }));
        let omni: MidjourneyParams = serde_json::from_value(
            validate(&json!({ "prompt": "p", "task_type": "mj_omni_reference", "images": ["upl_0123456789abcdef0123456789abcdef"], "ow": 250 }))
                .expect("valid"),
        )
        .expect("params");
        assert_eq!(kie_body(&omni, &urls, None)["ow"], 250);
    }

    #[test]
    fn records_in_every_documented_form() {
        assert_eq!(parse_record(&json!({ "successFlag": 0 })).ok(), Some(MjState::Running));
        let urls: Vec<String> = (0..4).map(|n| format!("https://r/x_0_{n}.jpeg")).collect();
        let objects: Vec<Value> = urls.iter().map(|url| json!({ "resultUrl": url })).collect();
        let object = json!({ "successFlag": 1, "resultInfoJson": { "resultUrls": objects } });
        let string = json!({ "successFlag": 1, "resultInfoJson": json!({ "resultUrls": objects }).to_string() });
        let plain = json!({ "successFlag": "1", "resultInfoJson": { "resultUrls": urls } });
        for record in [object, string, plain] {
            assert_eq!(parse_record(&record).ok(), Some(MjState::Finished { result_urls: urls.clone() }), "{record}");
        }
        let failed = json!({ "successFlag": 3, "errorCode": 500, "errorMessage": "Image generation failed" });
        assert_eq!(
            parse_record(&failed).ok(),
            Some(MjState::Failed { code: Some(500), message: "Image generation failed".into() })
        );
        assert!(parse_record(&json!({ "successFlag": 1, "resultInfoJson": null })).is_err());
    }
}
