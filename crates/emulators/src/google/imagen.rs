//! Imagen on the Gemini API (the providers' protocol notes, 3.2):
//! `POST /v1beta/models/{model}:predict` with
//! `{"instances":[{"prompt":"…"}],"parameters":{…}}`, answered at once with
//! `{"predictions":[{"bytesBase64Encoded":"…","mimeType":"image/png"},…]}`.
//!
//! Parameters: `sampleCount` 1–4 (4 when absent, as the service's docs say),
//! `aspectRatio` `1:1|3:4|4:3|9:16|16:9` (1:1), `personGeneration`
//! `dont_allow|allow_adult|allow_all` (any case), `sampleImageSize` (or
//! `imageSize`) `1K|2K` (2K only on the standard and ultra Imagen 4 models),
//! `outputOptions{mimeType image/png|image/jpeg, compressionQuality 0–100}`
//! (JPEG quality 75 when absent), `includeRaiReason`, `includeSafetyAttributes`
//! (each prediction then carries empty `safetyAttributes`, and the answer a
//! `positivePromptSafetyAttributes`), `safetySetting`
//! (`block_low_and_above|block_medium_and_above|block_only_high|block_none`),
//! `language`, `guidanceScale`, `negativePrompt` (accepted, though the SDK does
//! not send it to the Gemini API). The Vertex-only `seed`, `addWatermark`,
//! `enhancePrompt`, `storageUri`, `labels`, and any other name, answer 400.
//!
//! Unconfirmed, the emulator's choices: the pixel sizes (the long side is 1024
//! for 1K and 2048 for 2K, the short side follows the ratio: 1:1 1K is
//! 1024×1024, 16:9 1K 1024×576, 3:4 2K 1536×2048; the real service's sizes may
//! differ, e.g. 1408×768 for 16:9), the value ranges above, the messages, one
//! instance per request.
//!
//! Faults: `safety` answers each prediction as `{"raiFilteredReason":"…"}`;
//! `generation_failed` answers `{}`, the shape of a request whose every image
//! was filtered when `includeRaiReason` is off.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::GoogleState;
use super::errors;
use super::input::{self, whole_number};
use crate::faults::Fault;
use crate::render::{Encoding, render};

/// The Imagen models served.
pub(super) const MODELS: [&str; 4] = [
    "imagen-4.0-generate-001",
    "imagen-4.0-ultra-generate-001",
    "imagen-4.0-fast-generate-001",
    "imagen-3.0-generate-002",
];
/// The models that draw 2K images.
const MODELS_2K: [&str; 2] = ["imagen-4.0-generate-001", "imagen-4.0-ultra-generate-001"];
const PARAMETERS: [&str; 12] = [
    "sampleCount",
    "aspectRatio",
    "personGeneration",
    "sampleImageSize",
    "imageSize",
    "outputOptions",
    "includeRaiReason",
    "includeSafetyAttributes",
    "safetySetting",
    "language",
    "guidanceScale",
    "negativePrompt",
];
/// Vertex AI's parameters, which the Gemini API refuses.
const VERTEX_ONLY: [&str; 6] = ["seed", "addWatermark", "enhancePrompt", "storageUri", "labels", "outputGcsUri"];
const ASPECT_RATIOS: [&str; 5] = ["1:1", "3:4", "4:3", "9:16", "16:9"];
const PERSON_GENERATION: [&str; 3] = ["dont_allow", "allow_adult", "allow_all"];
const SAFETY_SETTINGS: [&str; 4] = ["block_low_and_above", "block_medium_and_above", "block_only_high", "block_none"];
/// What a filtered image says.
pub(super) const RAI_FILTERED_REASON: &str = "Unable to show generated images. All images were filtered out because \
     they violated Google's Responsible AI practices. You will not be charged for blocked images. Try rephrasing \
     the prompt. If you think this was an error, send feedback. Support codes: 39322892 (emulated)";

/// One checked request.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Job {
    count: u32,
    pub(super) width: u32,
    pub(super) height: u32,
    encoding: Encoding,
    include_safety_attributes: bool,
    digest: [u8; 32],
}

impl Job {
    fn mime_type(&self) -> &'static str {
        match self.encoding {
            Encoding::Png => "image/png",
            Encoding::Jpeg(_) => "image/jpeg",
            Encoding::Webp => "image/webp",
        }
    }
}

/// The pixel size of `aspect` (`W:H`) with the long side `long` (unconfirmed).
pub(super) fn size_for(aspect: &str, long: u32) -> Option<(u32, u32)> {
    let (w, h) = aspect.split_once(':')?;
    let (w, h): (u32, u32) = (w.parse().ok()?, h.parse().ok()?);
    if w == 0 || h == 0 {
        return None;
    }
    Some(if w >= h { (long, long * h / w) } else { (long * w / h, long) })
}

fn bool_param(parameters: &Map<String, Value>, name: &str) -> Result<bool, String> {
    match parameters.get(name) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(other) => Err(format!("Invalid value for parameter `{name}`: expected a boolean, got {other}.")),
    }
}

fn string_param<'a>(parameters: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>, String> {
    match parameters.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(format!("Invalid value for parameter `{name}`: expected a string, got {other}.")),
    }
}

fn one_of(name: &str, value: &str, allowed: &[&str], any_case: bool) -> Result<(), String> {
    let found = allowed.iter().any(|a| if any_case { a.eq_ignore_ascii_case(value) } else { *a == value });
    if found {
        Ok(())
    } else {
        Err(format!("Invalid value for parameter `{name}`: `{value}`. Supported values: {}.", allowed.join(", ")))
    }
}

/// Checks a `:predict` body for `model`.
pub(super) fn check(model: &str, body: &Map<String, Value>) -> Result<Job, String> {
    if let Some(unknown) = body.keys().find(|k| !["instances", "parameters"].contains(&k.as_str())) {
        return Err(format!("Invalid JSON payload received. Unknown name \"{unknown}\": Cannot find field."));
    }
    let instances = match body.get("instances") {
        Some(Value::Array(instances)) if !instances.is_empty() => instances,
        _ => return Err("instances must be a non-empty list.".into()),
    };
    if instances.len() > 1 {
        return Err("Only one instance is supported per request.".into());
    }
    let Some(instance) = instances[0].as_object() else {
        return Err("instances[0] must be an object.".into());
    };
    if let Some(unknown) = instance.keys().find(|k| k.as_str() != "prompt") {
        return Err(format!("`{unknown}` isn't supported by this model in instances[0] (only `prompt` is)."));
    }
    let prompt = match instance.get("prompt") {
        Some(Value::String(p)) if !p.trim().is_empty() => p,
        _ => return Err("instances[0].prompt is required and must be a non-empty string.".into()),
    };

    let empty = Map::new();
    let parameters = match body.get("parameters") {
        None | Some(Value::Null) => &empty,
        Some(Value::Object(parameters)) => parameters,
        Some(_) => return Err("parameters must be an object.".into()),
    };
    if let Some(name) = parameters.keys().find(|k| !PARAMETERS.contains(&k.as_str())) {
        let why = if VERTEX_ONLY.contains(&name.as_str()) { " in the Gemini API (Vertex AI only)" } else { "" };
        return Err(format!(
            "`{name}` isn't supported{why} by this model. Please remove it or refer to the Gemini API documentation \
             for supported usage."
        ));
    }
    let count = match parameters.get("sampleCount").filter(|v| !v.is_null()) {
        None => 4,
        Some(value) => match whole_number(value) {
            Some(n @ 1..=4) => n as u32,
            _ => return Err(format!("sampleCount must be an integer from 1 to 4, got {value}.")),
        },
    };
    let aspect = string_param(parameters, "aspectRatio")?.unwrap_or("1:1");
    one_of("aspectRatio", aspect, &ASPECT_RATIOS, false)?;
    if let Some(person) = string_param(parameters, "personGeneration")? {
        one_of("personGeneration", person, &PERSON_GENERATION, true)?;
    }
    if let Some(setting) = string_param(parameters, "safetySetting")? {
        one_of("safetySetting", setting, &SAFETY_SETTINGS, true)?;
    }
    for name in ["language", "negativePrompt"] {
        string_param(parameters, name)?;
    }
    if let Some(scale) = parameters.get("guidanceScale").filter(|v| !v.is_null())
        && !scale.is_number()
    {
        return Err(format!("Invalid value for parameter `guidanceScale`: expected a number, got {scale}."));
    }
    bool_param(parameters, "includeRaiReason")?;
    let include_safety_attributes = bool_param(parameters, "includeSafetyAttributes")?;

    let size = match (string_param(parameters, "sampleImageSize")?, string_param(parameters, "imageSize")?) {
        (Some(a), Some(b)) if !a.eq_ignore_ascii_case(b) => {
            return Err("sampleImageSize and imageSize disagree; send one.".into());
        }
        (Some(size), _) | (None, Some(size)) => size.to_ascii_uppercase(),
        (None, None) => "1K".into(),
    };
    let long = match size.as_str() {
        "1K" => 1024,
        "2K" if MODELS_2K.contains(&model) => 2048,
        "2K" => return Err(format!("sampleImageSize 2K is not supported by {model}; use 1K.")),
        other => {
            return Err(format!("Invalid value for parameter `sampleImageSize`: `{other}`. Supported values: 1K, 2K."));
        }
    };
    let Some((width, height)) = size_for(aspect, long) else {
        return Err(format!("Invalid value for parameter `aspectRatio`: `{aspect}`."));
    };

    let encoding = match parameters.get("outputOptions").filter(|v| !v.is_null()) {
        None => Encoding::Png,
        Some(Value::Object(options)) => {
            if let Some(unknown) = options.keys().find(|k| !["mimeType", "compressionQuality"].contains(&k.as_str())) {
                return Err(format!("`outputOptions.{unknown}` isn't supported by this model."));
            }
            let quality = match options.get("compressionQuality").filter(|v| !v.is_null()) {
                None => 75,
                Some(value) => match whole_number(value) {
                    Some(q @ 0..=100) => q as u8,
                    _ => return Err(format!("outputOptions.compressionQuality must be from 0 to 100, got {value}.")),
                },
            };
            match options.get("mimeType").and_then(Value::as_str).unwrap_or("image/png") {
                "image/png" => Encoding::Png,
                "image/jpeg" => Encoding::Jpeg(quality),
                other => {
                    return Err(format!(
                        "Invalid value for outputOptions.mimeType: `{other}`. Supported values: image/png, image/jpeg."
                    ));
                }
            }
        }
        Some(_) => return Err("outputOptions must be an object.".into()),
    };

    // What makes two requests' images differ: the prompt and every parameter.
    let mut digest_input = serde_json::to_vec(parameters).unwrap_or_default();
    digest_input.extend_from_slice(prompt.as_bytes());
    let digest: [u8; 32] = Sha256::digest(&digest_input).into();
    Ok(Job { count, width, height, encoding, include_safety_attributes, digest })
}

fn empty_safety_attributes() -> Value {
    json!({ "categories": [], "scores": [] })
}

/// Draws and answers a checked job.
fn answer(state: &GoogleState, model: &str, job: &Job) -> Result<Value, String> {
    let seed = state.config.seed;
    let mut predictions = Vec::with_capacity(job.count as usize);
    for index in 0..job.count {
        let bytes = render(job.width, job.height, seed, model, &job.digest, index, job.encoding)
            .map_err(|e| format!("could not encode an image: {e}"))?;
        let mut prediction = json!({
            "bytesBase64Encoded": base64::engine::general_purpose::STANDARD.encode(bytes),
            "mimeType": job.mime_type(),
        });
        if job.include_safety_attributes {
            prediction["safetyAttributes"] = empty_safety_attributes();
        }
        predictions.push(prediction);
    }
    state.inner().stats.images_generated += u64::from(job.count);
    let mut body = json!({ "predictions": predictions });
    if job.include_safety_attributes {
        let mut attributes = empty_safety_attributes();
        attributes["contentType"] = json!("Positive Prompt");
        body["positivePromptSafetyAttributes"] = attributes;
    }
    Ok(body)
}

/// `POST /v1beta/models/{model}:predict`.
pub(super) async fn predict(state: Arc<GoogleState>, model: String, body: Body, fault: Option<Fault>) -> Response {
    if !MODELS.contains(&model.as_str()) {
        return errors::unknown_model(&model, "predict");
    }
    let fields = match input::json_object(body).await {
        Ok(fields) => fields,
        Err(refusal) => return refusal.into_response(),
    };
    let job = match check(&model, &fields) {
        Ok(job) => job,
        Err(message) => return errors::invalid(&message),
    };
    state.count_model(&model);
    match fault {
        Some(Fault::Safety(_)) => {
            let filtered = vec![json!({ "raiFilteredReason": RAI_FILTERED_REASON }); job.count as usize];
            return Json(json!({ "predictions": filtered })).into_response();
        }
        Some(Fault::GenerationFailed) => return Json(json!({})).into_response(),
        _ => {}
    }
    let drawn = tokio::task::spawn_blocking(move || answer(&state, &model, &job)).await;
    match drawn {
        Ok(Ok(body)) => Json(body).into_response(),
        Ok(Err(e)) => errors::internal(&e),
        Err(e) => errors::internal(&format!("the image renderer stopped: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(value: Value) -> Map<String, Value> {
        value.as_object().cloned().expect("object")
    }

    #[test]
    fn sizes_follow_the_ratio_and_the_size() {
        assert_eq!(size_for("1:1", 1024), Some((1024, 1024)));
        assert_eq!(size_for("16:9", 1024), Some((1024, 576)));
        assert_eq!(size_for("9:16", 1024), Some((576, 1024)));
        assert_eq!(size_for("3:4", 2048), Some((1536, 2048)));
        assert_eq!(size_for("4:3", 1024), Some((1024, 768)));
        assert_eq!(size_for("0:1", 1024), None);
    }

    #[test]
    fn parameters_are_checked() {
        let model = "imagen-4.0-generate-001";
        let job = check(model, &fields(json!({ "instances": [{ "prompt": "fox" }] }))).expect("job");
        assert_eq!((job.count, job.width, job.height, job.encoding), (4, 1024, 1024, Encoding::Png));
        let job = check(
            model,
            &fields(json!({ "instances": [{ "prompt": "fox" }], "parameters": {
                "sampleCount": 2, "aspectRatio": "16:9", "imageSize": "2k", "personGeneration": "ALLOW_ADULT",
                "outputOptions": { "mimeType": "image/jpeg", "compressionQuality": 60 }, "negativePrompt": "blur",
            } })),
        )
        .expect("job");
        assert_eq!((job.count, job.width, job.height, job.encoding), (2, 2048, 1152, Encoding::Jpeg(60)));

        for parameters in [
            json!({ "sampleCount": 5 }),
            json!({ "sampleCount": 0 }),
            json!({ "aspectRatio": "2:1" }),
            json!({ "personGeneration": "everyone" }),
            json!({ "sampleImageSize": "4K" }),
            json!({ "outputOptions": { "mimeType": "image/webp" } }),
            json!({ "outputOptions": { "compressionQuality": 101 } }),
            json!({ "seed": 1 }),
            json!({ "addWatermark": false }),
            json!({ "numberOfImages": 1 }),
            json!({ "includeRaiReason": "yes" }),
        ] {
            let body = fields(json!({ "instances": [{ "prompt": "fox" }], "parameters": parameters }));
            assert!(check(model, &body).is_err(), "{parameters}");
        }
        let two_k = fields(json!({ "instances": [{ "prompt": "fox" }], "parameters": { "sampleImageSize": "2K" } }));
        assert!(check("imagen-4.0-fast-generate-001", &two_k).is_err());
        for body in [json!({ "instances": [] }), json!({ "instances": [{ "prompt": " " }] }), json!({ "prompt": "x" })]
        {
            assert!(check(model, &fields(body.clone())).is_err(), "{body}");
        }
    }
}
