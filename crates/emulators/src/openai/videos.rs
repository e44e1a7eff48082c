//! The videos API (docs/providers/openai.md 2.5): `POST /videos` (multipart, or JSON),
//! `GET /videos` (list), `GET /videos/{id}`, `DELETE /videos/{id}`,
//! `GET /videos/{id}/content?variant=video|thumbnail|spritesheet`.
//!
//! A video goes `queued` → `in_progress` (growing `progress`) → `completed` over
//! `steps_to_finish` polls; answers carry `openai-poll-after-ms`. The content is a
//! fixture MP4 (portrait or landscape, as the size asks). The `generation_failed`
//! fault makes it end `failed`, `never_finish` keeps it `in_progress`.

use std::io::Cursor;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Map, Value, json};

use super::multipart;
use super::{OpenAiState, Refusal, api_error, invalid, now_secs, present, unknown_model};
use crate::faults::{Fault, TaskFault};

pub(super) const MODELS: [&str; 5] =
    ["sora-2", "sora-2-pro", "sora-2-2025-10-06", "sora-2-pro-2025-10-06", "sora-2-2025-12-08"];
const SIZES: [&str; 4] = ["720x1280", "1280x720", "1024x1792", "1792x1024"];
const FIELDS: [&str; 5] = ["prompt", "model", "seconds", "size", "input_reference"];
const LANDSCAPE: &[u8] = include_bytes!("../../fixtures/sample.mp4");
const PORTRAIT: &[u8] = include_bytes!("../../fixtures/sample-portrait.mp4");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Status {
    Queued,
    InProgress,
    Completed,
    Failed,
}

impl Status {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Status::Queued => "queued",
            Status::InProgress => "in_progress",
            Status::Completed => "completed",
            Status::Failed => "failed",
        }
    }

    fn is_terminal(self) -> bool {
        matches!(self, Status::Completed | Status::Failed)
    }
}

pub(super) struct Video {
    id: String,
    sequence: u64,
    model: String,
    pub(super) status: Status,
    progress: u8,
    created_at: i64,
    completed_at: Option<i64>,
    prompt: String,
    seconds: String,
    size: String,
    polls: u32,
    fault: Option<Fault>,
}

impl Video {
    fn object(&self) -> Value {
        let failed = self.status == Status::Failed;
        json!({
            "id": self.id,
            "object": "video",
            "model": self.model,
            "status": self.status.as_str(),
            "progress": self.progress,
            "created_at": self.created_at,
            "completed_at": self.completed_at,
            "expires_at": self.completed_at.filter(|_| !failed).map(|at| at + 86_400),
            "prompt": self.prompt,
            "remixed_from_video_id": null,
            "seconds": self.seconds,
            "size": self.size,
            "error": if failed {
                json!({ "code": "video_generation_failed", "message": "Video generation failed (emulated)." })
            } else {
                Value::Null
            },
        })
    }

    /// One poll: the video moves on.
    fn advance(&mut self, steps_to_finish: u32) {
        self.polls = self.polls.saturating_add(1);
        if self.status.is_terminal() {
            return;
        }
        if self.polls <= steps_to_finish || self.fault == Some(Fault::NeverFinish) {
            self.status = Status::InProgress;
            let share = self.polls.min(steps_to_finish.max(1)) * 100 / (steps_to_finish + 1);
            self.progress = u8::try_from(share.min(99)).unwrap_or(99);
            return;
        }
        if self.fault == Some(Fault::GenerationFailed) {
            self.status = Status::Failed;
        } else {
            self.status = Status::Completed;
            self.progress = 100;
        }
        self.completed_at = Some(now_secs());
    }

    fn is_portrait(&self) -> bool {
        matches!(self.size.as_str(), "720x1280" | "1024x1792")
    }
}

pub(super) fn routes() -> Router<Arc<OpenAiState>> {
    Router::new()
        .route("/", post(create).get(list))
        .route("/{id}", get(retrieve).delete(delete))
        .route("/{id}/content", get(content))
}

fn not_found<R: From<Response>>(id: &str) -> R {
    api_error(
        StatusCode::NOT_FOUND,
        "invalid_request_error",
        &format!("Video with id '{id}' not found."),
        None,
        Some("video_not_found"),
    )
}

fn with_poll_after(state: &OpenAiState, mut response: Response) -> Response {
    response.headers_mut().insert("openai-poll-after-ms", HeaderValue::from(state.config.poll_after_ms));
    response
}

/// The request's fields (text) and its `input_reference` file, from a form or JSON.
async fn read_fields(request: Request) -> Result<(Map<String, Value>, Option<multipart::Part>), Refusal> {
    let content_type = request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let boundary = multipart::boundary(content_type);
    let Ok(body) = axum::body::to_bytes(request.into_body(), 64 * 1024 * 1024).await else {
        return Err(invalid("The request body is too large.", None, None));
    };
    let Some(boundary) = boundary else {
        return match serde_json::from_slice::<Value>(&body) {
            Ok(Value::Object(fields)) => Ok((fields, None)),
            _ => Err(invalid("We could not parse the body of your request (multipart/form-data or JSON).", None, None)),
        };
    };
    let parts = multipart::parse(&body, &boundary)
        .map_err(|e| invalid::<Refusal>(&format!("Invalid multipart body: {e}."), None, None))?;
    let mut fields = Map::new();
    let mut reference = None;
    for part in parts {
        if part.name == "input_reference" && part.is_file() {
            reference = Some(part);
        } else if let Some(text) = part.text() {
            fields.insert(part.name.clone(), Value::String(text.to_owned()));
        }
    }
    Ok((fields, reference))
}

fn text<'a>(fields: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>, Refusal> {
    match present(fields, name) {
        None => Ok(None),
        Some(Value::String(value)) => Ok(Some(value)),
        Some(_) => {
            Err(invalid(&format!("Invalid type for '{name}': expected a string."), Some(name), Some("invalid_type")))
        }
    }
}

/// `POST /videos`.
async fn create(State(state): State<Arc<OpenAiState>>, request: Request) -> Response {
    let fault = TaskFault::of(&request);
    let (fields, reference) = match read_fields(request).await {
        Ok(read) => read,
        Err(refusal) => return refusal.into_response(),
    };
    match new_video(&state, &fields, reference.as_ref(), fault) {
        Ok(video) => {
            let body = video.object();
            state.inner().videos.insert(video.id.clone(), video);
            with_poll_after(&state, (StatusCode::OK, Json(body)).into_response())
        }
        Err(refusal) => refusal.into_response(),
    }
}

fn new_video(
    state: &OpenAiState,
    fields: &Map<String, Value>,
    reference: Option<&multipart::Part>,
    fault: Option<Fault>,
) -> Result<Video, Refusal> {
    if let Some(unknown) = fields.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(invalid(&format!("Unknown parameter: '{unknown}'."), Some(unknown), Some("unknown_parameter")));
    }
    let prompt = text(fields, "prompt")?.filter(|p| !p.trim().is_empty()).ok_or_else(|| {
        invalid::<Refusal>("Missing required parameter: 'prompt'.", Some("prompt"), Some("missing_required_parameter"))
    })?;
    let model = state.model_from_body(text(fields, "model")?, "sora-2");
    if !MODELS.contains(&model.as_str()) {
        return Err(unknown_model(state, &model));
    }
    let seconds = text(fields, "seconds")?.unwrap_or("4");
    if !["4", "8", "12"].contains(&seconds) {
        return Err(invalid(
            &format!("Invalid value: '{seconds}'. Supported values are: '4', '8', and '12'."),
            Some("seconds"),
            Some("invalid_value"),
        ));
    }
    let size = text(fields, "size")?.unwrap_or("720x1280");
    if !SIZES.contains(&size) {
        return Err(invalid(
            &format!(
                "Invalid value: '{size}'. Supported values are: '720x1280', '1280x720', '1024x1792', and '1792x1024'."
            ),
            Some("size"),
            Some("invalid_value"),
        ));
    }
    // Unconfirmed (docs/providers/openai.md 2.5): the tall and wide 1792 sizes are the pro model's.
    if size.contains("1792") && !model.starts_with("sora-2-pro") {
        return Err(invalid(
            &format!("Size {size} is only available with sora-2-pro."),
            Some("size"),
            Some("invalid_value"),
        ));
    }
    if let Some(part) = reference {
        let is_image = image::guess_format(&part.data)
            .is_ok_and(|f| matches!(f, image::ImageFormat::Png | image::ImageFormat::Jpeg | image::ImageFormat::WebP));
        if !is_image {
            return Err(invalid("input_reference must be a JPEG, PNG or WebP image.", Some("input_reference"), None));
        }
    }
    let sequence = state.next_sequence();
    Ok(Video {
        id: format!("video_{:016x}{sequence:08x}", state.config.seed),
        sequence,
        model,
        status: Status::Queued,
        progress: 0,
        created_at: now_secs(),
        completed_at: None,
        prompt: prompt.to_owned(),
        seconds: seconds.to_owned(),
        size: size.to_owned(),
        polls: 0,
        fault,
    })
}

/// `GET /videos/{id}`: each call moves the video on.
async fn retrieve(State(state): State<Arc<OpenAiState>>, Path(id): Path<String>, request: Request) -> Response {
    let fault = TaskFault::of(&request);
    let steps = state.config.steps_to_finish;
    let mut inner = state.inner();
    let Some(video) = inner.videos.get_mut(&id) else { return not_found(&id) };
    if fault.is_some() && !video.status.is_terminal() {
        video.fault = fault;
    }
    video.advance(steps);
    let body = video.object();
    let running = !video.status.is_terminal();
    drop(inner);
    let response = (StatusCode::OK, Json(body)).into_response();
    if running { with_poll_after(&state, response) } else { response }
}

/// A query parameter's value (ids and names need no decoding).
fn query_param<'a>(query: Option<&'a str>, key: &str) -> Option<&'a str> {
    query?.split('&').find_map(|pair| pair.split_once('=').filter(|(k, _)| *k == key).map(|(_, v)| v))
}

/// `GET /videos`.
async fn list(State(state): State<Arc<OpenAiState>>, RawQuery(query): RawQuery) -> Response {
    let query = query.as_deref();
    let limit = match query_param(query, "limit").map(str::parse::<usize>) {
        None => 20,
        Some(Ok(limit)) if (1..=100).contains(&limit) => limit,
        Some(_) => return invalid("Invalid 'limit': expected an integer between 1 and 100.", Some("limit"), None),
    };
    let descending = match query_param(query, "order") {
        None | Some("desc") => true,
        Some("asc") => false,
        Some(_) => return invalid("Invalid value for 'order': expected 'asc' or 'desc'.", Some("order"), None),
    };
    let inner = state.inner();
    let mut videos: Vec<&Video> = inner.videos.values().collect();
    videos.sort_by_key(|video| video.sequence);
    if descending {
        videos.reverse();
    }
    if let Some(after) = query_param(query, "after") {
        match videos.iter().position(|video| video.id == after) {
            Some(index) => videos.drain(..=index).for_each(drop),
            None => return not_found(after),
        }
    }
    let has_more = videos.len() > limit;
    videos.truncate(limit);
    let data: Vec<Value> = videos.iter().map(|video| video.object()).collect();
    Json(json!({
        "object": "list",
        "data": data,
        "first_id": videos.first().map(|video| video.id.clone()),
        "last_id": videos.last().map(|video| video.id.clone()),
        "has_more": has_more,
    }))
    .into_response()
}

/// `DELETE /videos/{id}`.
async fn delete(State(state): State<Arc<OpenAiState>>, Path(id): Path<String>) -> Response {
    match state.inner().videos.remove(&id) {
        Some(_) => Json(json!({ "id": id, "deleted": true, "object": "video.deleted" })).into_response(),
        None => not_found(&id),
    }
}

/// `GET /videos/{id}/content`.
async fn content(State(state): State<Arc<OpenAiState>>, Path(id): Path<String>, RawQuery(query): RawQuery) -> Response {
    let portrait = {
        let inner = state.inner();
        let Some(video) = inner.videos.get(&id) else { return not_found(&id) };
        if video.status != Status::Completed {
            return invalid(
                &format!("Video '{id}' is not completed (status {}).", video.status.as_str()),
                None,
                Some("video_not_ready"),
            );
        }
        video.is_portrait()
    };
    match query_param(query.as_deref(), "variant").unwrap_or("video") {
        "video" => {
            let bytes = Bytes::from_static(if portrait { PORTRAIT } else { LANDSCAPE });
            ([(header::CONTENT_TYPE, "video/mp4")], bytes).into_response()
        }
        variant @ ("thumbnail" | "spritesheet") => {
            let (width, height) = if portrait { (90, 160) } else { (160, 90) };
            let (format, mime) = if variant == "thumbnail" {
                (image::ImageFormat::WebP, "image/webp")
            } else {
                (image::ImageFormat::Jpeg, "image/jpeg")
            };
            let still = image::RgbImage::from_fn(width, height, |x, y| {
                image::Rgb([(x * 255 / width) as u8, (y * 255 / height) as u8, 128])
            });
            let mut out = Cursor::new(Vec::new());
            if still.write_to(&mut out, format).is_err() {
                return api_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "server_error",
                    "Could not encode the image.",
                    None,
                    None,
                );
            }
            ([(header::CONTENT_TYPE, mime)], out.into_inner()).into_response()
        }
        other => invalid(
            &format!("Invalid value: '{other}'. Supported values are: 'video', 'thumbnail', and 'spritesheet'."),
            Some("variant"),
            Some("invalid_value"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn video(fault: Option<Fault>) -> Video {
        Video {
            id: "video_1".into(),
            sequence: 1,
            model: "sora-2".into(),
            status: Status::Queued,
            progress: 0,
            created_at: 0,
            completed_at: None,
            prompt: "waves".into(),
            seconds: "4".into(),
            size: "1280x720".into(),
            polls: 0,
            fault,
        }
    }

    #[test]
    fn videos_move_on_with_polls() {
        let mut ok = video(None);
        let seen: Vec<(Status, u8)> = (0..4)
            .map(|_| {
                ok.advance(2);
                (ok.status, ok.progress)
            })
            .collect();
        assert_eq!(
            seen,
            [(Status::InProgress, 33), (Status::InProgress, 66), (Status::Completed, 100), (Status::Completed, 100)]
        );
        let mut failing = video(Some(Fault::GenerationFailed));
        (0..3).for_each(|_| failing.advance(2));
        assert_eq!(failing.status, Status::Failed);
        assert_eq!(failing.object()["error"]["code"], "video_generation_failed");
        let mut stuck = video(Some(Fault::NeverFinish));
        (0..50).for_each(|_| stuck.advance(2));
        assert_eq!(stuck.status, Status::InProgress);
    }

    #[test]
    fn the_content_is_mp4() {
        assert_eq!(&LANDSCAPE[4..8], b"ftyp");
        assert_eq!(&PORTRAIT[4..8], b"ftyp");
    }
}
