//! Veo through the Gemini API (docs/providers/google.md 3.3):
//! `POST models/{id}:predictLongRunning` answers an operation's name, which the
//! worker records before it polls `GET {name}` until `done`; the video is then
//! downloaded with the key. One Atelier model, `google/veo3`, whose variants are
//! Google's Veo models.

use async_trait::async_trait;
use atelier_core::CoreError;
use atelier_core::catalog::{Modality, ModelSpec};
use atelier_core::ports::{ErrorClass, Job, Output, Polled, ProviderError, Submitted};
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Google, GoogleModel};
use crate::kit::fields::{max_chars, optional_max_chars, required_text};
use crate::kit::params::{parse_params, parse_stored, to_json};
use crate::kit::{Named, Phase};

pub const MODEL: &str = "veo-3";
/// The name it had before the names were made one across services.
pub const FORMER_NAME: &str = "veo3";
const MAX_PROMPT: usize = 5000;
const MAX_REFERENCES: usize = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Variant {
    #[serde(rename = "veo-3.0-fast")]
    Veo30Fast,
    #[serde(rename = "veo-3.0")]
    Veo30,
    #[serde(rename = "veo-3.1-fast")]
    Veo31Fast,
    #[serde(rename = "veo-3.1")]
    Veo31,
    #[serde(rename = "veo-2.0")]
    Veo20,
}

impl Variant {
    const NAMES: [&'static str; 5] = ["veo-3.0-fast", "veo-3.0", "veo-3.1-fast", "veo-3.1", "veo-2.0"];

    pub fn model_id(self) -> &'static str {
        match self {
            Self::Veo30Fast => "veo-3.0-fast-generate-001",
            Self::Veo30 => "veo-3.0-generate-001",
            Self::Veo31Fast => "veo-3.1-fast-generate-preview",
            Self::Veo31 => "veo-3.1-generate-preview",
            Self::Veo20 => "veo-2.0-generate-001",
        }
    }

    fn is_31(self) -> bool {
        matches!(self, Self::Veo31 | Self::Veo31Fast)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VeoParams {
    pub prompt: String,
    #[serde(default = "default_variant")]
    pub variant: Variant,
    /// The first frame (an upload, an output, a data URI or a URL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// The last frame, with `image`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_frame: Option<String>,
    /// Up to 3 images of things the video must show (Veo 3.1).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reference_images: Vec<String>,
    /// `16:9` or `9:16`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aspect_ratio: Option<String>,
    /// `720p`, `1080p`, or `4k` (Veo 3.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution: Option<String>,
    /// 4, 6 or 8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_seconds: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub negative_prompt: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person_generation: Option<super::imagen::PersonGeneration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enhance_prompt: Option<bool>,
}

fn default_variant() -> Variant {
    Variant::Veo30Fast
}

pub struct Veo;

impl Named for Veo {
    fn name(&self) -> &str {
        MODEL
    }
}

fn validate(input: &Value) -> Result<Value, CoreError> {
    let mut params: VeoParams = parse_params(input)?;
    params.prompt = required_text("prompt", &params.prompt)?;
    max_chars("prompt", &params.prompt, MAX_PROMPT)?;
    optional_max_chars("negative_prompt", params.negative_prompt.as_deref(), MAX_PROMPT)?;
    if let Some(ratio) = &params.aspect_ratio
        && ratio != "16:9"
        && ratio != "9:16"
    {
        return Err(CoreError::invalid("aspect_ratio", "must be 16:9 or 9:16"));
    }
    if let Some(resolution) = &params.resolution {
        let allowed: &[&str] = if params.variant.is_31() { &["720p", "1080p", "4k"] } else { &["720p", "1080p"] };
        if !allowed.contains(&resolution.as_str()) {
            return Err(CoreError::invalid("resolution", format!("must be one of {}", allowed.join(", "))));
        }
    }
    if let Some(seconds) = params.duration_seconds
        && ![4, 6, 8].contains(&seconds)
    {
        return Err(CoreError::invalid("duration_seconds", "must be 4, 6 or 8"));
    }
    if params.last_frame.is_some() && params.image.is_none() {
        return Err(CoreError::invalid("last_frame", "needs image (the first frame)"));
    }
    if !params.reference_images.is_empty() && !params.variant.is_31() {
        return Err(CoreError::invalid("reference_images", "Veo 3.1 only (variant veo-3.1 or veo-3.1-fast)"));
    }
    if params.reference_images.len() > MAX_REFERENCES {
        return Err(CoreError::invalid("reference_images", format!("at most {MAX_REFERENCES}")));
    }
    for (field, reference) in files(&params) {
        atelier_core::ports::InputRef::parse(&reference).map_err(|reason| CoreError::invalid(&field, reason))?;
    }
    to_json(&params)
}

/// Every input file with the field it came from.
fn files(params: &VeoParams) -> Vec<(String, String)> {
    let mut files = Vec::new();
    if let Some(image) = &params.image {
        files.push(("image".to_owned(), image.clone()));
    }
    if let Some(last) = &params.last_frame {
        files.push(("last_frame".to_owned(), last.clone()));
    }
    for (index, reference) in params.reference_images.iter().enumerate() {
        files.push((format!("reference_images[{index}]"), reference.clone()));
    }
    files
}

/// The `:predictLongRunning` body; input images are read and sent inline.
async fn request(google: &Google<'_>, job: &Job<'_>, params: &VeoParams) -> Result<Value, ProviderError> {
    let mut instance = json!({ "prompt": params.prompt });
    if let Some(image) = &params.image {
        instance["image"] = google.image_json(job, image, "image").await?;
    }
    if let Some(last) = &params.last_frame {
        instance["lastFrame"] = google.image_json(job, last, "last_frame").await?;
    }
    let mut references = Vec::new();
    for (index, reference) in params.reference_images.iter().enumerate() {
        let image = google.image_json(job, reference, &format!("reference_images[{index}]")).await?;
        references.push(json!({ "image": image, "referenceType": "ASSET" }));
    }
    if !references.is_empty() {
        instance["referenceImages"] = json!(references);
    }
    let mut parameters = json!({ "sampleCount": 1 });
    let mut put = |key: &str, value: Option<Value>| {
        if let Some(value) = value {
            parameters[key] = value;
        }
    };
    put("aspectRatio", params.aspect_ratio.clone().map(Value::from));
    put("resolution", params.resolution.clone().map(Value::from));
    put("durationSeconds", params.duration_seconds.map(Value::from));
    put("negativePrompt", params.negative_prompt.clone().filter(|text| !text.trim().is_empty()).map(Value::from));
    put("enhancePrompt", params.enhance_prompt.map(Value::from));
    put(
        "personGeneration",
        params.person_generation.map(|person| {
            json!(match person {
                super::imagen::PersonGeneration::DontAllow => "dont_allow",
                super::imagen::PersonGeneration::AllowAdult => "allow_adult",
                super::imagen::PersonGeneration::AllowAll => "allow_all",
            })
        }),
    );
    Ok(json!({ "instances": [instance], "parameters": parameters }))
}

/// Where an operation stands.
#[derive(Debug)]
pub enum OperationState {
    Running,
    /// The videos: URIs to download, or bytes inline (Vertex's shape).
    Done {
        uris: Vec<String>,
        inline: Vec<String>,
    },
    Failed(ProviderError),
}

/// Reads an operation: running until `done`; then its error, its videos, or the
/// safety filters' reasons when there are none.
pub fn read_operation(operation: &Value) -> Result<OperationState, ProviderError> {
    if !operation.is_object() {
        return Err(ProviderError::new(
            ErrorClass::MalformedResponse,
            format!("Google's operation is not an object: {operation}"),
        ));
    }
    if !operation["done"].as_bool().unwrap_or(false) {
        return Ok(OperationState::Running);
    }
    if operation["error"].is_object() {
        let error = &operation["error"];
        let message = error["message"].as_str().unwrap_or("no message");
        let code = error["code"].as_i64().map(|code| code.to_string()).unwrap_or_else(|| "no code".into());
        return Ok(OperationState::Failed(ProviderError::new(
            ErrorClass::GenerationFailed,
            format!("Veo failed the video (code {code}): {message}"),
        )));
    }
    let response = &operation["response"];
    let generated = &response["generateVideoResponse"];
    let samples = generated["generatedSamples"].as_array().cloned().unwrap_or_default();
    let uris: Vec<String> =
        samples.iter().filter_map(|sample| sample["video"]["uri"].as_str().map(str::to_owned)).collect();
    // Vertex's shape: `response.videos[]` with the bytes inline.
    let inline: Vec<String> = response["videos"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|video| video["bytesBase64Encoded"].as_str().map(str::to_owned))
        .collect();
    if uris.is_empty() && inline.is_empty() {
        let filtered = generated["raiMediaFilteredCount"].as_u64().unwrap_or(0);
        let reasons: Vec<&str> =
            generated["raiMediaFilteredReasons"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
        let error = if filtered > 0 || !reasons.is_empty() {
            ProviderError::new(
                ErrorClass::ContentFiltered,
                format!(
                    "Veo's safety filters refused the video: {}",
                    if reasons.is_empty() { "no reason given".to_owned() } else { reasons.join("; ") }
                ),
            )
        } else {
            ProviderError::new(ErrorClass::GenerationFailed, "Veo finished without a video")
        };
        return Ok(OperationState::Failed(error));
    }
    Ok(OperationState::Done { uris, inline })
}

fn video(bytes: bytes::Bytes) -> Result<Output, ProviderError> {
    if bytes.len() < 12 || &bytes[4..8] != b"ftyp" {
        return Err(ProviderError::new(ErrorClass::MalformedResponse, "Google's video is not an MP4 file"));
    }
    Ok(Output::new(bytes, "video/mp4"))
}

#[async_trait]
impl GoogleModel for Veo {
    fn spec(&self, requires_config: Option<String>) -> ModelSpec {
        ModelSpec {
            service: super::SERVICE.into(),
            model: MODEL.into(),
            aliases: vec![FORMER_NAME.into()],
            modality: Modality::Video,
            title: "Veo (Google)".into(),
            description: "Google Veo 3.0, 3.1 and 2.0 through the Gemini API: text or a first (and last) frame to \
                          video; reference images with 3.1."
                .into(),
            input_schema: json!({
                "type": "object",
                "additionalProperties": false,
                "required": ["prompt"],
                "properties": {
                    "prompt": { "type": "string", "minLength": 1, "maxLength": MAX_PROMPT },
                    "variant": { "type": "string", "enum": Variant::NAMES, "default": "veo-3.0-fast" },
                    "image": { "type": "string",
                        "description": "The first frame: an upload (upl_…), an output (img_…), a data URI or a URL." },
                    "last_frame": { "type": "string",
                        "description": "The last frame, with image: an upload (upl_…), an output, a data URI or a URL." },
                    "reference_images": { "type": "array", "maxItems": MAX_REFERENCES,
                        "items": { "type": "string", "description": "An upload (upl_…), an output, a data URI or a URL." },
                        "description": "Veo 3.1 only." },
                    "aspect_ratio": { "type": "string", "enum": ["16:9", "9:16"] },
                    "resolution": { "type": "string", "enum": ["720p", "1080p", "4k"], "description": "4k with Veo 3.1 only." },
                    "duration_seconds": { "type": "integer", "enum": [4, 6, 8] },
                    "negative_prompt": { "type": ["string", "null"], "maxLength": MAX_PROMPT },
                    "person_generation": { "type": "string", "enum": ["dont_allow", "allow_adult", "allow_all"] },
                    "enhance_prompt": { "type": "boolean" },
                }
            }),
            estimated_seconds: 90,
            poll_timeout_secs: Some(1800),
            requires_config,
        }
    }

    fn validate(&self, input: &Value) -> Result<Value, CoreError> {
        validate(input)
    }

    fn input_files(&self, input: &Value) -> Vec<String> {
        serde_json::from_value::<VeoParams>(input.clone())
            .map(|params| files(&params).into_iter().map(|(_, reference)| reference).collect())
            .unwrap_or_default()
    }

    async fn submit(&self, google: &Google<'_>, job: &Job<'_>) -> Result<Submitted, ProviderError> {
        let params: VeoParams = parse_stored(job.input)?;
        let body = request(google, job, &params).await?;
        let path = format!("models/{}:predictLongRunning", params.variant.model_id());
        let operation = google.client.post(&path, &body, Phase::Submit).await?;
        let name = operation["name"].as_str().filter(|name| !name.trim().is_empty()).ok_or_else(|| {
            ProviderError::new(ErrorClass::MalformedResponse, format!("Google started no operation: {operation}"))
        })?;
        Ok(Submitted::Accepted { external_id: name.trim().to_owned(), poll_after: google.polls.first })
    }

    async fn poll(&self, google: &Google<'_>, job: &Job<'_>, external_id: &str) -> Result<Polled, ProviderError> {
        let operation = google.client.get(external_id).await?;
        Ok(match read_operation(&operation)? {
            OperationState::Running => {
                Polled::Running { progress: None, poll_after: google.polls.after(job.running_for) }
            }
            OperationState::Failed(error) => Polled::Failed(error),
            OperationState::Done { uris, inline } => {
                let mut outputs = Vec::new();
                for uri in uris {
                    outputs.push(video(google.client.download(&uri).await?.0)?);
                }
                for data in inline {
                    let bytes = base64::engine::general_purpose::STANDARD.decode(data.trim()).map_err(|error| {
                        ProviderError::new(
                            ErrorClass::MalformedResponse,
                            format!("Google sent a video that is not base64: {error}"),
                        )
                    })?;
                    outputs.push(video(bytes.into())?);
                }
                Polled::Finished(outputs)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_are_read_in_every_documented_shape() {
        let running = |operation: Value| matches!(read_operation(&operation), Ok(OperationState::Running));
        assert!(running(json!({ "name": "models/veo/operations/1" })));
        assert!(running(json!({ "name": "x", "done": false, "metadata": {} })));
        let done = json!({ "name": "x", "done": true, "response": { "@type": "t", "generateVideoResponse": {
            "generatedSamples": [{ "video": { "uri": "https://generativelanguage.googleapis.com/v1beta/files/a:download?alt=media" } }] } } });
        assert!(matches!(read_operation(&done), Ok(OperationState::Done { uris, .. }) if uris.len() == 1));
        let vertex = json!({ "done": true, "response": { "videos": [{ "bytesBase64Encoded": "AAAA", "mimeType": "video/mp4" }] } });
        assert!(matches!(read_operation(&vertex), Ok(OperationState::Done { inline, .. }) if inline.len() == 1));
        let failed = json!({ "done": true, "error": { "code": 13, "message": "internal" } });
        assert!(
            matches!(read_operation(&failed), Ok(OperationState::Failed(e)) if e.class == ErrorClass::GenerationFailed)
        );
        let filtered = json!({ "done": true, "response": { "generateVideoResponse": { "raiMediaFilteredCount": 1,
            "raiMediaFilteredReasons": ["celebrity"] } } });
        assert!(
            matches!(read_operation(&filtered), Ok(OperationState::Failed(e)) if e.class == ErrorClass::ContentFiltered && e.message.contains("celebrity"))
        );
    }

    #[test]
    fn variants_bound_their_options() {
        let field = |input: Value| match validate(&input) {
            Err(CoreError::InvalidInput { details, .. }) => details["field"].as_str().unwrap_or_default().to_owned(),
            other => panic!("{other:?}"),
        };
        assert_eq!(field(json!({ "prompt": "x", "resolution": "4k" })), "resolution");
        assert!(validate(&json!({ "prompt": "x", "variant": "veo-3.1", "resolution": "4k" })).is_ok());
        assert_eq!(field(json!({ "prompt": "x", "reference_images": ["https://e.com/a.png"] })), "reference_images");
        assert_eq!(field(json!({ "prompt": "x", "last_frame": "https://e.com/a.png" })), "last_frame");
        assert_eq!(field(json!({ "prompt": "x", "duration_seconds": 5 })), "duration_seconds");
    }
}
