//! Veo on the Gemini API (the providers' protocol notes, 3.3):
//! `POST /v1beta/models/{model}:predictLongRunning` answers a long-running
//! operation `{"name":"models/{model}/operations/{id}"}`; `GET /v1beta/{name}`
//! (or `GET /v1beta/operations/{id}`) polls it.
//!
//! Request: `instances[0]` with `prompt` (required unless an `image` is given),
//! `image` `{bytesBase64Encoded, mimeType}` (first frame), `lastFrame` (needs
//! `image`), `referenceImages` (≤ 3 of `{image, referenceType: ASSET|STYLE}`),
//! `video` `{uri}` (extension); `parameters`: `sampleCount` 1–4 (1),
//! `durationSeconds` 4|6|8 (8; Veo 2: 5–8), `aspectRatio` `16:9|9:16` (16:9),
//! `resolution` `720p|1080p` (`4k` on Veo 3.1 too, only `720p` on Veo 2),
//! `personGeneration` `allow_all|allow_adult|dont_allow` (any case),
//! `negativePrompt`, `enhancePrompt`; a top-level `webhookConfig` is accepted
//! and ignored. What the SDK refuses for the Gemini API (`seed`, `fps`,
//! `storageUri`, `pubsubTopic`, `generateAudio`, `compressionQuality`,
//! `labels`, `resizeMode`, an instance `mask`, an image's `gcsUri`), and any
//! other name, answers 400 `INVALID_ARGUMENT`.
//!
//! An operation answers `{"name","done":false,"metadata":{"@type":…}}` for
//! `steps_to_finish` polls, then `{"name","done":true,"response":{"@type":
//! "type.googleapis.com/google.ai.generativelanguage.v1beta.PredictLongRunningResponse",
//! "generateVideoResponse":{"generatedSamples":[{"video":{"uri":"<base>/v1beta/files/<id>:download?alt=media"}}]}}}`,
//! one sample per `sampleCount`; each file is a fixture MP4 (landscape, or
//! portrait for 9:16; its pixel size does not follow `resolution`).
//!
//! Faults, on the create or a poll of a running operation: `generation_failed`
//! ends it `done` with `error: {code: operation_error_code (13), message}`;
//! `never_finish` keeps it running; `safety` ends it `done` with a
//! `generateVideoResponse` of `raiMediaFilteredCount` (the sample count),
//! `raiMediaFilteredReasons` and no samples.
//!
//! Unconfirmed, the emulator's choices: the value ranges above, the messages,
//! the `metadata` (only an `@type`), `done: false` written out (the service
//! may omit it), `error.code` as a `google.rpc.Code` (13) rather than an HTTP
//! status, and a poll through another model's path answering 404.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::files::VideoFile;
use super::input::{self, IMAGE_MIME_TYPES, decode_base64, whole_number};
use super::{GoogleState, errors};
use crate::faults::{Fault, TaskFault};

/// The Veo models served.
pub(super) const MODELS: [&str; 5] = [
    "veo-3.0-generate-001",
    "veo-3.0-fast-generate-001",
    "veo-3.1-generate-preview",
    "veo-3.1-fast-generate-preview",
    "veo-2.0-generate-001",
];
const INSTANCE_FIELDS: [&str; 5] = ["prompt", "image", "lastFrame", "referenceImages", "video"];
const PARAMETERS: [&str; 7] = [
    "sampleCount",
    "durationSeconds",
    "aspectRatio",
    "resolution",
    "personGeneration",
    "negativePrompt",
    "enhancePrompt",
];
const PERSON_GENERATION: [&str; 3] = ["allow_all", "allow_adult", "dont_allow"];
const RESPONSE_TYPE: &str = "type.googleapis.com/google.ai.generativelanguage.v1beta.PredictLongRunningResponse";
const METADATA_TYPE: &str = "type.googleapis.com/google.ai.generativelanguage.v1beta.PredictLongRunningMetadata";
const FAILED_MESSAGE: &str = "Video generation failed due to an internal error. (emulated)";
const FILTERED_REASON: &str = "Sorry, we can't create videos from input images containing photorealistic people \
     or prompts that violate our usage guidelines. Please try again with a different prompt or image. (emulated)";

/// A checked request: what its operation will make.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Job {
    samples: u32,
    portrait: bool,
}

/// An operation's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum OpState {
    Running,
    Succeeded,
    Failed,
    Filtered,
}

/// One Veo operation.
pub(super) struct Operation {
    model: String,
    job: Job,
    polls: u32,
    state: OpState,
    fault: Option<Fault>,
    /// Its videos' file ids, once it has succeeded.
    files: Vec<String>,
}

impl Operation {
    fn new(model: String, job: Job, fault: Option<Fault>) -> Self {
        Self {
            model,
            job,
            polls: 0,
            state: OpState::Running,
            fault: fault.filter(Fault::is_task_fault),
            files: Vec::new(),
        }
    }

    /// Its state in `/__emulator/stats`.
    pub(super) fn state_name(&self) -> &'static str {
        match self.state {
            OpState::Running => "running",
            OpState::Succeeded => "succeeded",
            OpState::Failed => "failed",
            OpState::Filtered => "filtered",
        }
    }

    /// Marks a running operation with a fault handed by the middleware.
    fn mark(&mut self, fault: Fault) {
        if self.state == OpState::Running && fault.is_task_fault() {
            self.fault = Some(fault);
        }
    }

    /// A poll: the operation moves on. True when it has just succeeded (its
    /// files are to be made).
    fn poll(&mut self, steps_to_finish: u32) -> bool {
        self.polls = self.polls.saturating_add(1);
        if self.state != OpState::Running || self.polls <= steps_to_finish {
            return false;
        }
        self.state = match self.fault {
            Some(Fault::NeverFinish) => OpState::Running,
            Some(Fault::GenerationFailed) => OpState::Failed,
            Some(Fault::Safety(_)) => OpState::Filtered,
            _ => OpState::Succeeded,
        };
        self.state == OpState::Succeeded
    }

    /// The operation as the API answers it.
    fn resource(&self, id: &str, base_url: &str, error_code: i32) -> Value {
        let name = format!("models/{}/operations/{id}", self.model);
        match self.state {
            OpState::Running => json!({ "name": name, "done": false, "metadata": { "@type": METADATA_TYPE } }),
            OpState::Succeeded => {
                let samples: Vec<Value> = self
                    .files
                    .iter()
                    .map(|file| format!("{base_url}/v1beta/files/{file}:download?alt=media"))
                    .map(|uri| json!({ "video": { "uri": uri } }))
                    .collect();
                json!({
                    "name": name,
                    "done": true,
                    "response": { "@type": RESPONSE_TYPE, "generateVideoResponse": { "generatedSamples": samples } },
                })
            }
            OpState::Failed => json!({
                "name": name,
                "done": true,
                "error": { "code": error_code, "message": FAILED_MESSAGE },
            }),
            OpState::Filtered => json!({
                "name": name,
                "done": true,
                "response": {
                    "@type": RESPONSE_TYPE,
                    "generateVideoResponse": {
                        "raiMediaFilteredCount": self.job.samples,
                        "raiMediaFilteredReasons": [FILTERED_REASON],
                    },
                },
            }),
        }
    }
}

fn unsupported(name: &str, at: &str) -> String {
    format!(
        "`{name}`{at} isn't supported by this model. Please remove it or refer to the Gemini API documentation for \
         supported usage."
    )
}

/// Checks an image object (`{bytesBase64Encoded, mimeType}`) at `at`.
fn check_image(value: &Value, at: &str) -> Result<(), String> {
    let Some(image) = value.as_object() else { return Err(format!("{at} must be an object.")) };
    if image.contains_key("gcsUri") {
        return Err(format!("{at}.gcsUri isn't supported by the Gemini API; send bytesBase64Encoded."));
    }
    if let Some(unknown) = image.keys().find(|k| !["bytesBase64Encoded", "mimeType"].contains(&k.as_str())) {
        return Err(unsupported(unknown, &format!(" in {at}")));
    }
    let Some(data) = image.get("bytesBase64Encoded").and_then(Value::as_str) else {
        return Err(format!("{at}.bytesBase64Encoded is required."));
    };
    let bytes = decode_base64(data).ok_or_else(|| format!("{at}.bytesBase64Encoded: Base64 decoding failed."))?;
    if let Some(mime) = image.get("mimeType").filter(|v| !v.is_null())
        && !mime.as_str().is_some_and(|m| IMAGE_MIME_TYPES.contains(&m))
    {
        return Err(format!("{at}.mimeType {mime} is not supported; use image/png, image/jpeg or image/webp."));
    }
    input::image_size(&bytes).map(|_| ()).map_err(|e| format!("Unable to process input image at {at}: {e}."))
}

/// Checks a `:predictLongRunning` body for `model`.
pub(super) fn check(model: &str, body: &Map<String, Value>) -> Result<Job, String> {
    if let Some(unknown) = body.keys().find(|k| !["instances", "parameters", "webhookConfig"].contains(&k.as_str())) {
        return Err(format!("Invalid JSON payload received. Unknown name \"{unknown}\": Cannot find field."));
    }
    if let Some(hook) = body.get("webhookConfig").filter(|v| !v.is_null())
        && !hook.is_object()
    {
        return Err("webhookConfig must be an object.".into());
    }
    let instances = match body.get("instances") {
        Some(Value::Array(instances)) if !instances.is_empty() => instances,
        _ => return Err("instances must be a non-empty list.".into()),
    };
    if instances.len() > 1 {
        return Err("Only one instance is supported per request.".into());
    }
    let Some(instance) = instances[0].as_object() else { return Err("instances[0] must be an object.".into()) };
    if let Some(unknown) = instance.keys().find(|k| !INSTANCE_FIELDS.contains(&k.as_str())) {
        return Err(unsupported(unknown, " in instances[0]"));
    }
    let has_image = instance.get("image").is_some_and(|v| !v.is_null());
    match instance.get("prompt") {
        Some(Value::String(p)) if !p.trim().is_empty() => {}
        None | Some(Value::Null) | Some(Value::String(_)) if has_image => {}
        _ => return Err("instances[0].prompt is required (a non-empty string) unless an image is given.".into()),
    }
    if has_image {
        check_image(&instance["image"], "instances[0].image")?;
    }
    if let Some(last) = instance.get("lastFrame").filter(|v| !v.is_null()) {
        if !has_image {
            return Err("instances[0].lastFrame needs instances[0].image (the first frame).".into());
        }
        check_image(last, "instances[0].lastFrame")?;
    }
    if let Some(references) = instance.get("referenceImages").filter(|v| !v.is_null()) {
        let Some(references) = references.as_array().filter(|r| (1..=3).contains(&r.len())) else {
            return Err("instances[0].referenceImages must be a list of 1 to 3 reference images.".into());
        };
        for (i, reference) in references.iter().enumerate() {
            let at = format!("instances[0].referenceImages[{i}]");
            let Some(reference) = reference.as_object() else { return Err(format!("{at} must be an object.")) };
            if let Some(unknown) = reference.keys().find(|k| !["image", "referenceType"].contains(&k.as_str())) {
                return Err(unsupported(unknown, &format!(" in {at}")));
            }
            check_image(reference.get("image").unwrap_or(&Value::Null), &format!("{at}.image"))?;
            let kind = reference.get("referenceType").and_then(Value::as_str).unwrap_or_default();
            if !["ASSET", "STYLE"].iter().any(|k| k.eq_ignore_ascii_case(kind)) {
                return Err(format!("{at}.referenceType must be ASSET or STYLE."));
            }
        }
    }
    if let Some(video) = instance.get("video").filter(|v| !v.is_null()) {
        let Some(video) = video.as_object() else { return Err("instances[0].video must be an object.".into()) };
        if let Some(unknown) = video.keys().find(|k| !["uri", "encodedVideo", "encoding"].contains(&k.as_str())) {
            return Err(unsupported(unknown, " in instances[0].video"));
        }
        let has_uri = video.get("uri").and_then(Value::as_str).is_some_and(|u| !u.trim().is_empty());
        let has_bytes = video.get("encodedVideo").and_then(Value::as_str).is_some_and(|v| decode_base64(v).is_some());
        if !has_uri && !has_bytes {
            return Err("instances[0].video needs a uri (a video generated earlier).".into());
        }
    }

    let empty = Map::new();
    let parameters = match body.get("parameters") {
        None | Some(Value::Null) => &empty,
        Some(Value::Object(parameters)) => parameters,
        Some(_) => return Err("parameters must be an object.".into()),
    };
    if let Some(name) = parameters.keys().find(|k| !PARAMETERS.contains(&k.as_str())) {
        return Err(unsupported(name, ""));
    }
    let param = |name: &str| parameters.get(name).filter(|v| !v.is_null());
    let samples = match param("sampleCount") {
        None => 1,
        Some(value) => match whole_number(value) {
            Some(n @ 1..=4) => n as u32,
            _ => return Err(format!("sampleCount must be an integer from 1 to 4, got {value}.")),
        },
    };
    let veo2 = model.starts_with("veo-2.");
    if let Some(value) = param("durationSeconds") {
        let valid = match whole_number(value) {
            Some(d) if veo2 => (5..=8).contains(&d),
            Some(d) => [4, 6, 8].contains(&d),
            None => false,
        };
        if !valid {
            let allowed = if veo2 { "5 to 8" } else { "4, 6 or 8" };
            return Err(format!("durationSeconds must be {allowed} for {model}, got {value}."));
        }
    }
    let text = |name: &str| -> Result<Option<&str>, String> {
        match param(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(format!("Invalid value for parameter `{name}`: expected a string, got {other}.")),
        }
    };
    let aspect = text("aspectRatio")?.unwrap_or("16:9");
    if !["16:9", "9:16"].contains(&aspect) {
        return Err(format!("Invalid value for parameter `aspectRatio`: `{aspect}`. Supported values: 16:9, 9:16."));
    }
    if let Some(resolution) = text("resolution")? {
        let allowed: &[&str] = if veo2 {
            &["720p"]
        } else if model.starts_with("veo-3.1") {
            &["720p", "1080p", "4k"]
        } else {
            &["720p", "1080p"]
        };
        if !allowed.iter().any(|a| a.eq_ignore_ascii_case(resolution)) {
            return Err(format!(
                "Invalid value for parameter `resolution`: `{resolution}`. Supported values for {model}: {}.",
                allowed.join(", ")
            ));
        }
    }
    if let Some(person) = text("personGeneration")?
        && !PERSON_GENERATION.iter().any(|p| p.eq_ignore_ascii_case(person))
    {
        return Err(format!(
            "Invalid value for parameter `personGeneration`: `{person}`. Supported values: allow_all, allow_adult, \
             dont_allow."
        ));
    }
    text("negativePrompt")?;
    if let Some(enhance) = param("enhancePrompt")
        && !enhance.is_boolean()
    {
        return Err(format!("Invalid value for parameter `enhancePrompt`: expected a boolean, got {enhance}."));
    }
    Ok(Job { samples, portrait: aspect == "9:16" })
}

/// `POST /v1beta/models/{model}:predictLongRunning`.
pub(super) async fn create(state: Arc<GoogleState>, model: String, body: Body, fault: Option<Fault>) -> Response {
    if !MODELS.contains(&model.as_str()) {
        return errors::unknown_model(&model, "predictLongRunning");
    }
    let fields = match input::json_object(body).await {
        Ok(fields) => fields,
        Err(refusal) => return refusal.into_response(),
    };
    // Decoding the input images is CPU work.
    let checked = tokio::task::spawn_blocking({
        let model = model.clone();
        move || check(&model, &fields)
    })
    .await;
    let job = match checked {
        Ok(Ok(job)) => job,
        Ok(Err(message)) => return errors::invalid(&message),
        Err(e) => return errors::internal(&format!("the request checker stopped: {e}")),
    };
    state.count_model(&model);
    let id = state.next_id("operation", 12);
    let name = format!("models/{model}/operations/{id}");
    let operation = Operation::new(model, job, fault);
    {
        let mut inner = state.inner();
        inner.operations.insert(id.clone(), operation);
        inner.stats.operations_created += 1;
    }
    tracing::debug!(operation = %name, "google emulator: video operation created");
    Json(json!({ "name": name })).into_response()
}

/// `GET /v1beta/models/{model}/operations/{id}`: each poll moves the operation on.
pub(super) async fn get_operation(
    State(state): State<Arc<GoogleState>>,
    Path((model, id)): Path<(String, String)>,
    request: Request,
) -> Response {
    poll(&state, Some(&model), &id, request)
}

/// `GET /v1beta/operations/{id}`.
pub(super) async fn get_bare_operation(
    State(state): State<Arc<GoogleState>>,
    Path(id): Path<String>,
    request: Request,
) -> Response {
    poll(&state, None, &id, request)
}

fn poll(state: &GoogleState, model: Option<&str>, id: &str, request: Request) -> Response {
    let fault = TaskFault::of(&request);
    let base_url = state.base_url(request.headers());
    let steps = state.config.steps_to_finish;
    let mut guard = state.inner();
    let inner = &mut *guard;
    let Some(operation) = inner.operations.get_mut(id).filter(|op| model.is_none_or(|m| m == op.model)) else {
        let name = model.map_or_else(|| format!("operations/{id}"), |m| format!("models/{m}/operations/{id}"));
        return errors::not_found(&format!("Operation {name} was not found."));
    };
    if let Some(fault) = fault {
        operation.mark(fault);
    }
    if operation.poll(steps) {
        operation.files = (0..operation.job.samples).map(|_| state.next_id("file", 12)).collect();
        for file in &operation.files {
            inner.files.insert(file.clone(), VideoFile::new(operation.job.portrait));
        }
    }
    Json(operation.resource(id, &base_url, state.config.operation_error_code)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(value: Value) -> Map<String, Value> {
        value.as_object().cloned().expect("object")
    }

    fn png_b64() -> String {
        use base64::Engine;
        let png = crate::render::render_png(8, 8, 0, "x", &[0; 32], 0).expect("png");
        base64::engine::general_purpose::STANDARD.encode(png)
    }

    fn states(operation: &mut Operation, polls: usize) -> Vec<&'static str> {
        (0..polls)
            .map(|_| {
                operation.poll(2);
                operation.state_name()
            })
            .collect()
    }

    #[test]
    fn operations_move_on_with_polls() {
        let job = Job { samples: 1, portrait: false };
        let mut ok = Operation::new("veo-3.0-generate-001".into(), job.clone(), None);
        assert_eq!(states(&mut ok, 4), ["running", "running", "succeeded", "succeeded"]);
        let mut failing = Operation::new("m".into(), job.clone(), Some(Fault::GenerationFailed));
        assert_eq!(states(&mut failing, 3)[2], "failed");
        assert_eq!(failing.resource("x", "http://h", 13)["error"]["code"], 13);
        let mut stuck = Operation::new("m".into(), job.clone(), None);
        stuck.mark(Fault::NeverFinish);
        assert_eq!(states(&mut stuck, 9)[8], "running");
        let mut filtered = Operation::new("m".into(), job, Some(Fault::Safety(crate::faults::SafetyStage::Prompt)));
        assert_eq!(states(&mut filtered, 3)[2], "filtered");
        let response = filtered.resource("x", "http://h", 13);
        assert_eq!(response["response"]["generateVideoResponse"]["raiMediaFilteredCount"], 1);
        filtered.mark(Fault::GenerationFailed);
        assert_eq!(states(&mut filtered, 1), ["filtered"], "a finished operation keeps its end");
    }

    #[test]
    fn requests_are_checked() {
        let model = "veo-3.0-generate-001";
        let image = json!({ "bytesBase64Encoded": png_b64(), "mimeType": "image/png" });
        let ok = check(model, &fields(json!({ "instances": [{ "prompt": "waves" }] }))).expect("job");
        assert_eq!(ok, Job { samples: 1, portrait: false });
        let job = check(
            "veo-3.1-generate-preview",
            &fields(json!({
                "instances": [{ "prompt": "waves", "image": image, "lastFrame": image,
                                 "referenceImages": [{ "image": image, "referenceType": "asset" }] }],
                "parameters": { "sampleCount": 2, "durationSeconds": 6, "aspectRatio": "9:16", "resolution": "4k",
                                "personGeneration": "ALLOW_ADULT", "negativePrompt": "rain", "enhancePrompt": true },
                "webhookConfig": { "uris": ["https://example.com/hook"] },
            })),
        )
        .expect("job");
        assert_eq!(job, Job { samples: 2, portrait: true });
        assert!(check(model, &fields(json!({ "instances": [{ "image": image }] }))).is_ok(), "image only");

        for (model, body) in [
            (model, json!({ "instances": [{ "prompt": "x" }], "parameters": { "seed": 1 } })),
            (model, json!({ "instances": [{ "prompt": "x" }], "parameters": { "fps": 24 } })),
            (model, json!({ "instances": [{ "prompt": "x" }], "parameters": { "generateAudio": true } })),
            (model, json!({ "instances": [{ "prompt": "x" }], "parameters": { "durationSeconds": 5 } })),
            (model, json!({ "instances": [{ "prompt": "x" }], "parameters": { "resolution": "4k" } })),
            (model, json!({ "instances": [{ "prompt": "x" }], "parameters": { "aspectRatio": "1:1" } })),
            (model, json!({ "instances": [{ "prompt": "x" }], "parameters": { "sampleCount": 5 } })),
            (model, json!({ "instances": [{ "prompt": "x", "mask": {} }] })),
            (model, json!({ "instances": [{ "prompt": "x", "lastFrame": image }] })),
            (model, json!({ "instances": [{ "prompt": "x", "image": { "gcsUri": "gs://b/o.png" } }] })),
            (model, json!({ "instances": [{ "prompt": "x", "image": { "bytesBase64Encoded": "aGVsbG8=" } }] })),
            (model, json!({ "instances": [{ "prompt": "x", "referenceImages": [{ "image": image }] }] })),
            (model, json!({ "instances": [{ "prompt": "" }] })),
            (model, json!({ "instances": [] })),
            (model, json!({ "instances": [{ "prompt": "x" }], "extra": 1 })),
            (
                "veo-2.0-generate-001",
                json!({ "instances": [{ "prompt": "x" }], "parameters": { "resolution": "1080p" } }),
            ),
        ] {
            assert!(check(model, &fields(body.clone())).is_err(), "{model}: {body}");
        }
        let veo2 = fields(json!({ "instances": [{ "prompt": "x" }], "parameters": { "durationSeconds": 5 } }));
        assert!(check("veo-2.0-generate-001", &veo2).is_ok());
    }
}
