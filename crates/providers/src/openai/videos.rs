//! The videos API (docs/providers/openai.md 2.5), kept because compatible services still
//! serve it: `POST /videos` (multipart) creates a video, `GET /videos/{id}` tells
//! its `status` (`queued`, `in_progress`, `completed`, `failed`) and `progress`,
//! `GET /videos/{id}/content` gives the MP4, `DELETE /videos/{id}` removes it.
//! Models `sora-2` and `sora-2-pro`.
//!
//! OpenAI has announced the Sora API's shutdown: a video that answers 404 or 410
//! later on is reported as gone, a client error, never retried.

use atelier_core::CoreError;
use atelier_core::catalog::{Modality, ModelSpec};
use atelier_core::ports::{ErrorClass, InputFiles, InputRef, LostSubmit, Output, ProviderError};
use reqwest::multipart::{Form, Part};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Value, json};

use super::client::{Answer, Api, Failure, OpenAiClient, Phase};
use super::{OpenAi, OpenAiModel};
use crate::kit::Named;
use crate::kit::fields::required_text;
use crate::kit::params::{parse_params, to_json};
use async_trait::async_trait;
use atelier_core::ports::{Job, Polled, Submitted};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoModel {
    Sora2,
    Sora2Pro,
}

impl VideoModel {
    pub const ALL: [Self; 2] = [Self::Sora2, Self::Sora2Pro];

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|model| model.name().eq_ignore_ascii_case(name))
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Sora2 => "sora-2",
            Self::Sora2Pro => "sora-2-pro",
        }
    }
}

pub const SECONDS: [&str; 3] = ["4", "8", "12"];
pub const SIZES: [&str; 4] = ["720x1280", "1280x720", "1024x1792", "1792x1024"];
/// Videos take minutes: a task may wait this long on one.
pub const POLL_TIMEOUT_SECS: u64 = 1800;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VideoParams {
    pub prompt: String,
    /// `"4"`, `"8"` or `"12"` (a number is accepted and stored as a string).
    #[serde(default = "default_seconds", deserialize_with = "string_or_number")]
    pub seconds: String,
    #[serde(default = "default_size")]
    pub size: String,
    /// A first frame to start from (URL, data URI, `upl_…`, `img_…`), sent as a file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_reference: Option<String>,
}

fn default_seconds() -> String {
    "4".into()
}

fn default_size() -> String {
    "720x1280".into()
}

fn string_or_number<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    match Value::deserialize(deserializer)? {
        Value::String(text) => Ok(text),
        Value::Number(number) => Ok(number.to_string()),
        other => Err(serde::de::Error::custom(format!("expected \"4\", \"8\" or \"12\", got {other}"))),
    }
}

pub fn validate(_model: VideoModel, input: &Value) -> Result<Value, CoreError> {
    let mut params: VideoParams = parse_params(input)?;
    params.prompt = required_text("prompt", &params.prompt)?;
    params.seconds = params.seconds.trim().to_owned();
    if !SECONDS.contains(&params.seconds.as_str()) {
        return Err(CoreError::invalid("seconds", "must be \"4\", \"8\" or \"12\""));
    }
    if !SIZES.contains(&params.size.as_str()) {
        return Err(CoreError::invalid("size", format!("must be one of {}", SIZES.join(", "))));
    }
    if let Some(reference) = &params.input_reference {
        InputRef::parse(reference).map_err(|reason| CoreError::invalid("input_reference", reason))?;
    }
    to_json(&params)
}

/// The text fields of `POST /videos`.
pub fn text_fields(wire_model: &str, params: &VideoParams) -> Vec<(&'static str, String)> {
    vec![
        ("prompt", params.prompt.clone()),
        ("model", wire_model.to_owned()),
        ("seconds", params.seconds.clone()),
        ("size", params.size.clone()),
    ]
}

/// Creates a video; returns its id and the wait the provider asked for.
pub async fn create(
    client: &OpenAiClient,
    model: VideoModel,
    params: &VideoParams,
    files: &dyn InputFiles,
) -> Result<(String, Answer), ProviderError> {
    let mut form = Form::new();
    for (name, value) in text_fields(&client.target().deployment(model.name()), params) {
        form = form.text(name, value);
    }
    if let Some(reference) = &params.input_reference {
        let parsed = InputRef::parse(reference)
            .map_err(|reason| ProviderError::new(ErrorClass::ClientError, format!("input_reference: {reason}")))?;
        let file = files.open(&parsed).await?;
        let part = Part::stream_with_length(file.bytes.clone(), file.bytes.len() as u64)
            .file_name(file.name)
            .mime_str(&file.mime)
            .map_err(|_| ProviderError::new(ErrorClass::ClientError, "input_reference has an invalid type"))?;
        form = form.part("input_reference", part);
    }
    let answer = client.post_multipart(&Api::Videos, model.name(), form, Phase::Submit).await?;
    // The video exists once the provider answered: without its id it cannot be
    // found again, and it must not be created twice.
    let id = answer
        .json()
        .ok()
        .and_then(|video| video.get("id").and_then(Value::as_str).map(str::to_owned))
        .filter(|id| !id.is_empty())
        .ok_or_else(|| ProviderError::new(ErrorClass::SubmitUnknown, "the provider created a video but sent no id"))?;
    Ok((id, answer))
}

/// How far back a lost create is looked for, before the time it was sent (clocks
/// differ).
const CLOCK_SLACK_SECS: i64 = 60;
/// At most this many pages of the newest videos are read looking for a lost create.
const LOOKUP_PAGES: usize = 10;

/// Finds the video that a create whose answer was lost made: among the newest
/// videos (`GET /videos`, newest first) created since the create was sent, the
/// one with its prompt, model, seconds and size. Two alike are not told apart.
pub async fn find_created(
    client: &OpenAiClient,
    model: VideoModel,
    params: &VideoParams,
    sent_after_ms: i64,
) -> Result<LostSubmit, ProviderError> {
    let since = sent_after_ms.div_euclid(1000) - CLOCK_SLACK_SECS;
    let wire_model = client.target().deployment(model.name());
    let mut matches = Vec::new();
    let mut after: Option<String> = None;
    for _ in 0..LOOKUP_PAGES {
        let mut query = vec![("order", "desc"), ("limit", "100")];
        if let Some(after) = &after {
            query.push(("after", after.as_str()));
        }
        let list = client.get(&Api::Videos, &query).await.map_err(|failure| failure.error)?.json()?;
        let videos = list.get("data").and_then(Value::as_array).cloned().unwrap_or_default();
        let mut reached_older = false;
        for video in &videos {
            if video.get("created_at").and_then(Value::as_i64).is_some_and(|created| created < since) {
                reached_older = true;
                continue;
            }
            if is_this_create(video, model, &wire_model, params)
                && let Some(id) = video.get("id").and_then(Value::as_str)
            {
                matches.push(id.to_owned());
            }
        }
        let has_more = list.get("has_more").and_then(Value::as_bool).unwrap_or(false);
        after = list.get("last_id").and_then(Value::as_str).map(str::to_owned);
        if reached_older || !has_more || after.is_none() {
            break;
        }
    }
    Ok(match matches.as_slice() {
        [id] => LostSubmit::Found(id.clone()),
        [] => LostSubmit::NoWay(
            "no video created since the submit was sent has its prompt, model, seconds and size".into(),
        ),
        several => LostSubmit::NoWay(format!(
            "{} videos created since the submit was sent match it ({}); which one is this task's cannot be told",
            several.len(),
            several.join(", ")
        )),
    })
}

/// Whether a listed video is what this create asked for.
fn is_this_create(video: &Value, model: VideoModel, wire_model: &str, params: &VideoParams) -> bool {
    let text = |key: &str| match video.get(key) {
        Some(Value::String(text)) => Some(text.clone()),
        Some(Value::Number(number)) => Some(number.to_string()),
        _ => None,
    };
    let model_matches = text("model").is_none_or(|listed| listed == wire_model || listed.starts_with(model.name()));
    text("prompt").as_deref() == Some(params.prompt.as_str())
        && model_matches
        && text("seconds").is_none_or(|seconds| seconds == params.seconds)
        && text("size").is_none_or(|size| size == params.size)
}

/// Where a video stands.
#[derive(Debug, PartialEq)]
pub enum VideoState {
    Running { progress: Option<u8> },
    Completed { size: Option<(u32, u32)> },
    Failed { code: String, message: String },
}

pub fn parse_video(video: &Value) -> Result<VideoState, ProviderError> {
    let progress = video.get("progress").and_then(Value::as_f64).map(|p| p.clamp(0.0, 100.0) as u8);
    match video.get("status").and_then(Value::as_str).unwrap_or_default() {
        "queued" | "in_progress" => Ok(VideoState::Running { progress }),
        "completed" => {
            let size = video.get("size").and_then(Value::as_str).and_then(|size| {
                let (width, height) = size.split_once('x')?;
                Some((width.trim().parse().ok()?, height.trim().parse().ok()?))
            });
            Ok(VideoState::Completed { size })
        }
        "failed" => {
            let error = video.get("error");
            let text = |key: &str| {
                error.and_then(|error| error.get(key)).and_then(Value::as_str).unwrap_or_default().to_owned()
            };
            Ok(VideoState::Failed { code: text("code"), message: text("message") })
        }
        other => Err(ProviderError::new(ErrorClass::MalformedResponse, format!("unknown video status {other:?}"))),
    }
}

/// Reads a video's state, and the wait the provider asked for.
pub async fn retrieve(client: &OpenAiClient, id: &str) -> Result<(VideoState, Answer), ProviderError> {
    let answer = client.get(&Api::Video(id.to_owned()), &[]).await.map_err(|failure| gone(failure, id))?;
    Ok((parse_video(&answer.json()?)?, answer))
}

/// Downloads a completed video's MP4.
pub async fn download(client: &OpenAiClient, id: &str, size: Option<(u32, u32)>) -> Result<Output, ProviderError> {
    let answer = client
        .get(&Api::VideoContent(id.to_owned()), &[("variant", "video")])
        .await
        .map_err(|failure| gone(failure, id))?;
    if answer.body.get(4..8) != Some(b"ftyp") {
        return Err(ProviderError::new(ErrorClass::MalformedResponse, "the video content is not an MP4 file"));
    }
    let output = Output::new(answer.body, "video/mp4");
    Ok(match size {
        Some((width, height)) => output.with_size(width, height),
        None => output,
    })
}

/// Deletes a video; one that is already gone is fine.
pub async fn delete(client: &OpenAiClient, id: &str) -> Result<(), ProviderError> {
    match client.delete(&Api::Video(id.to_owned())).await {
        Ok(_) => Ok(()),
        Err(Failure { status: Some(404 | 410), .. }) => Ok(()),
        Err(failure) => Err(failure.error),
    }
}

/// A video that is not found any more: deleted, expired, or the API retired.
fn gone(failure: Failure, id: &str) -> ProviderError {
    match failure.status {
        Some(status @ (404 | 410)) => ProviderError::new(
            ErrorClass::ClientError,
            format!(
                "video {id} is gone (HTTP {status}): it was deleted or expired, or the videos API was retired \
                 ({})",
                failure.error.message
            ),
        ),
        _ => failure.error,
    }
}

pub fn spec(service: &str, provider_title: &str, model: VideoModel, requires_config: Option<String>) -> ModelSpec {
    let title = match model {
        VideoModel::Sora2 => "Sora 2",
        VideoModel::Sora2Pro => "Sora 2 Pro",
    };
    ModelSpec {
        service: service.to_owned(),
        model: model.name().to_owned(),
        aliases: Vec::new(),
        modality: Modality::Video,
        title: format!("{title} ({provider_title})"),
        description: format!(
            "{title} video through {provider_title}'s videos API (create, poll, download). OpenAI has announced \
             the Sora API's shutdown; compatible services keep the API."
        ),
        input_schema: json!({
            "type": "object",
            "additionalProperties": false,
            "required": ["prompt"],
            "properties": {
                "prompt": { "type": "string", "minLength": 1 },
                "seconds": { "type": ["string", "integer"], "enum": ["4", "8", "12", 4, 8, 12], "default": "4" },
                "size": { "type": "string", "enum": SIZES, "default": "720x1280" },
                "input_reference": { "type": ["string", "null"],
                    "description": "A first frame (URL, data URI, upl_… or img_…) of the video's size." },
            }
        }),
        estimated_seconds: 120,
        poll_timeout_secs: Some(POLL_TIMEOUT_SECS),
        requires_config,
    }
}

impl Named for VideoModel {
    fn name(&self) -> &str {
        VideoModel::name(*self)
    }
}

#[async_trait]
impl OpenAiModel for VideoModel {
    fn spec(&self, service: &str, provider_title: &str, requires_config: Option<String>) -> ModelSpec {
        spec(service, provider_title, *self, requires_config)
    }

    fn validate(&self, input: &Value) -> Result<Value, CoreError> {
        validate(*self, input)
    }

    /// The image the video starts from.
    fn input_files(&self, input: &Value) -> Vec<String> {
        crate::kit::inputs::references(input.get("input_reference"))
    }

    /// Creates the video; it is polled by its id.
    async fn submit(&self, openai: &OpenAi<'_>, job: &Job<'_>) -> Result<Submitted, ProviderError> {
        let params: VideoParams = parse_params(job.input).map_err(super::invalid)?;
        let (external_id, answer) = create(openai.client, *self, &params, job.files).await?;
        let poll_after = answer.poll_after().unwrap_or_else(|| openai.polls.after(Duration::ZERO));
        Ok(Submitted::Accepted { external_id, poll_after })
    }

    /// A create whose answer was lost is looked for among the newest videos.
    async fn find_lost_submit(
        &self,
        openai: &OpenAi<'_>,
        job: &Job<'_>,
        sent_after: i64,
    ) -> Result<LostSubmit, ProviderError> {
        let params: VideoParams = parse_params(job.input).map_err(super::invalid)?;
        find_created(openai.client, *self, &params, sent_after).await
    }

    async fn poll(&self, openai: &OpenAi<'_>, job: &Job<'_>, external_id: &str) -> Result<Polled, ProviderError> {
        let (state, answer) = retrieve(openai.client, external_id).await?;
        match state {
            VideoState::Running { progress } => {
                let poll_after = answer.poll_after().unwrap_or_else(|| openai.polls.after(job.running_for));
                Ok(Polled::Running { progress, poll_after })
            }
            VideoState::Completed { size } => {
                Ok(Polled::Finished(vec![download(openai.client, external_id, size).await?]))
            }
            VideoState::Failed { code, message } => {
                let code = if code.is_empty() { "no code".to_owned() } else { code };
                let message = if message.is_empty() { "no message".to_owned() } else { message };
                let class = if code == "moderation_blocked" {
                    ErrorClass::ContentFiltered
                } else {
                    ErrorClass::GenerationFailed
                };
                Ok(Polled::Failed(ProviderError::new(
                    class,
                    format!("{} failed the video ({code}): {message}", openai.title),
                )))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(input: Value) -> String {
        crate::kit::schema::error_field(&validate(VideoModel::Sora2, &input).expect_err("invalid"))
    }

    #[test]
    fn validation_names_the_field() {
        assert_eq!(field_of(json!({ "prompt": "" })), "prompt");
        assert_eq!(field_of(json!({ "prompt": "x", "seconds": "5" })), "seconds");
        assert_eq!(field_of(json!({ "prompt": "x", "seconds": 16 })), "seconds");
        assert_eq!(field_of(json!({ "prompt": "x", "seconds": [] })), "seconds");
        assert_eq!(field_of(json!({ "prompt": "x", "size": "1024x1024" })), "size");
        assert_eq!(field_of(json!({ "prompt": "x", "input_reference": "/etc/passwd" })), "input_reference");
        assert_eq!(field_of(json!({ "prompt": "x", "duration": 4 })), "duration");
        let ok = validate(VideoModel::Sora2Pro, &json!({ "prompt": "waves", "seconds": 8 })).expect("valid");
        assert_eq!(ok, json!({ "prompt": "waves", "seconds": "8", "size": "720x1280" }));
        let params: VideoParams = serde_json::from_value(ok).expect("params");
        assert_eq!(
            text_fields("sora-2-pro", &params),
            [("prompt", "waves"), ("model", "sora-2-pro"), ("seconds", "8"), ("size", "720x1280")]
                .map(|(k, v)| (k, v.to_owned()))
        );
    }

    #[test]
    fn statuses_parse() {
        assert_eq!(
            parse_video(&json!({ "status": "queued", "progress": 0 })).ok(),
            Some(VideoState::Running { progress: Some(0) })
        );
        assert_eq!(
            parse_video(&json!({ "status": "in_progress", "progress": 42.5 })).ok(),
            Some(VideoState::Running { progress: Some(42) })
        );
        assert_eq!(
            parse_video(&json!({ "status": "completed", "size": "1280x720" })).ok(),
            Some(VideoState::Completed { size: Some((1280, 720)) })
        );
        assert_eq!(
            parse_video(&json!({ "status": "failed", "error": { "code": "moderation_blocked", "message": "no" } }))
                .ok(),
            Some(VideoState::Failed { code: "moderation_blocked".into(), message: "no".into() })
        );
        assert_eq!(
            parse_video(&json!({ "status": "failed", "error": null })).ok(),
            Some(VideoState::Failed { code: String::new(), message: String::new() })
        );
        assert!(parse_video(&json!({ "status": "exploded" })).is_err());
    }
}
