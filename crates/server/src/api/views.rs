//! What the API answers with. One task view serves the native routes and seed
//! 004's (`task_id`, `status`, `progress`, `images[]` with `image_id`, `url`,
//! `thumbnail_url`, `width`, `height`, `file_size`), extended with the rest.

use std::collections::HashMap;

use atelier_core::TaskId;
use atelier_core::ports::{CopyState, InputCopy};
use atelier_core::task::{Asset, Task, TaskError};
use chrono::SecondsFormat;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

/// RFC 3339 in UTC with a `Z`, to the second, as seed 004 writes times.
pub fn timestamp(millis: i64) -> String {
    atelier_core::time::to_datetime(millis).to_rfc3339_opts(SecondsFormat::Secs, true)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TaskView {
    pub task_id: String,
    /// `pending`, `processing`, `retrying`, `completed`, `failed`, `cancelled`, `expired`, `waiting_input`.
    pub status: String,
    /// 0 to 100.
    pub progress: u8,
    pub service: String,
    pub model: String,
    /// The whole validated input.
    #[schema(value_type = Object)]
    pub input: Value,
    pub images: Vec<ImageView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<TaskErrorView>,
    /// Seed 004's `error_message`: the error's message, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    pub attempts: u32,
    pub retry_count: u32,
    pub priority: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_of: Option<String>,
    /// The prompt (`prm_…`) the task was made from, when it names one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt_id: Option<String>,
    /// How the service was chosen, when the request named the model alone and
    /// `[routing]` lists services for it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub route: Option<RouteView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_task_id: Option<String>,
    pub version: i64,
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    pub events_url: String,
    /// The provider-side copies the task's input files went to the provider as
    /// (Kie's uploads, which it deletes after 3 days), by the file's place among the
    /// input's file references. On task views, lists and events, once the task was
    /// sent; absent when none was made.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub input_copies: Vec<InputCopyView>,
    /// Where the task is set, when its request gave a `location`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<TaskPlaceView>,
}

/// A task's place.
#[derive(Debug, Serialize, ToSchema)]
pub struct TaskPlaceView {
    pub latitude: f64,
    pub longitude: f64,
    /// The stored location (`loc_…`) it was taken from, when the request named one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location_id: Option<String>,
}

impl From<&atelier_core::task::TaskPlace> for TaskPlaceView {
    fn from(place: &atelier_core::task::TaskPlace) -> Self {
        Self {
            latitude: place.coordinates.latitude(),
            longitude: place.coordinates.longitude(),
            location_id: place.location.as_ref().map(ToString::to_string),
        }
    }
}

/// A copy a provider holds of an input file, and whether it is still there.
#[derive(Debug, Serialize, ToSchema)]
pub struct InputCopyView {
    /// The file's place among the input's file references (0 first).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<u32>,
    /// The reference as the input wrote it (a `data:` URI shortened).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    pub service: String,
    /// The URL the provider fetches the file from.
    pub url: String,
    pub expires_at: String,
    /// `fresh`, `expiring` (within a day) or `expired`.
    pub state: String,
    /// What Atelier does about an expiring or expired copy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

impl InputCopyView {
    /// A copy held for `service`, as it stands at `now`.
    pub fn new(service: &str, url: &str, expires_at: i64, now: i64) -> Self {
        let state = CopyState::of(expires_at, now);
        Self {
            position: None,
            reference: None,
            service: service.to_owned(),
            url: url.to_owned(),
            expires_at: timestamp(expires_at),
            state: state.as_str().to_owned(),
            warning: state.warning(service),
        }
    }
}

impl TaskView {
    /// The task's view with its input copies (found in `copies`, as
    /// `TaskService::input_copies` answers), as they stand at `now`.
    pub fn with_input_copies(task: &Task, copies: &HashMap<TaskId, Vec<InputCopy>>, now: i64) -> Self {
        let mut view = Self::from(task);
        view.input_copies = copies
            .get(&task.id)
            .into_iter()
            .flatten()
            .map(|copy| InputCopyView {
                position: Some(copy.position),
                reference: Some(copy.reference.clone()),
                ..InputCopyView::new(&copy.service, &copy.url, copy.expires_at, now)
            })
            .collect();
        view
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RouteView {
    /// The model the request named, by its canonical name.
    pub model: String,
    /// The service chosen.
    pub service: String,
    /// The services passed over first, in order.
    pub skipped: Vec<RouteSkipView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RouteSkipView {
    pub service: String,
    /// `not_configured`, `not_offered`, `circuit_open` or `quota_exceeded`.
    pub reason: String,
}

impl From<&atelier_core::task::Route> for RouteView {
    fn from(route: &atelier_core::task::Route) -> Self {
        Self {
            model: route.model.clone(),
            service: route.service.clone(),
            skipped: route
                .skipped
                .iter()
                .map(|skip| RouteSkipView { service: skip.service.clone(), reason: skip.reason.clone() })
                .collect(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TaskErrorView {
    pub code: String,
    pub message: String,
    pub retryable: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ImageView {
    pub image_id: String,
    pub url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thumbnail_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    pub file_size: u64,
    pub mime_type: String,
    pub sha256: String,
    pub tags: Vec<String>,
    /// What it is among the task's outputs: `primary` (the result), `preview` (a
    /// rendered still or a short cut of it) or `extra` (a file that goes with it).
    pub role: String,
    /// Audio and video: what a probe found when the file was stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub media: Option<MediaView>,
}

/// Seed 000's `audio_data` and `video_data`: an audio or video file's details, as
/// ffprobe read them when it was stored (a field a file does not say is left out).
#[derive(Debug, Serialize, ToSchema)]
pub struct MediaView {
    /// Seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_secs: Option<f64>,
    /// `h264`, `mp3`, `pcm_s16le`, `opus`, `vorbis`, `flac`...
    #[serde(skip_serializing_if = "Option::is_none")]
    pub codec: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sample_rate: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channels: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fps: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frames: Option<u64>,
    /// Bits a second.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bit_rate: Option<u64>,
    /// Video: whether it has a sound track.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub has_audio: Option<bool>,
}

impl From<&atelier_core::task::MediaInfo> for MediaView {
    fn from(media: &atelier_core::task::MediaInfo) -> Self {
        Self {
            duration_secs: media.duration_secs,
            codec: media.codec.clone(),
            sample_rate: media.sample_rate,
            channels: media.channels,
            fps: media.fps,
            frames: media.frames,
            bit_rate: media.bit_rate,
            has_audio: media.has_audio,
        }
    }
}

impl From<&Asset> for ImageView {
    fn from(asset: &Asset) -> Self {
        let url = format!("/api/v1/images/{}", asset.id);
        Self {
            image_id: asset.id.to_string(),
            thumbnail_url: asset.thumbnail_key.as_ref().map(|_| format!("{url}/thumbnail")),
            url,
            width: asset.width,
            height: asset.height,
            file_size: asset.bytes,
            mime_type: asset.mime.clone(),
            sha256: asset.sha256.clone(),
            tags: asset.tags.clone(),
            role: asset.role.as_str().to_owned(),
            media: asset.media.as_ref().map(MediaView::from),
        }
    }
}

impl From<&TaskError> for TaskErrorView {
    fn from(error: &TaskError) -> Self {
        Self { code: error.code.clone(), message: error.message.clone(), retryable: error.retryable }
    }
}

impl From<&Task> for TaskView {
    fn from(task: &Task) -> Self {
        Self {
            task_id: task.id.to_string(),
            status: task.status.as_str().to_owned(),
            progress: task.progress,
            service: task.service.clone(),
            model: task.model.clone(),
            input: task.input.clone(),
            images: task.outputs.iter().map(ImageView::from).collect(),
            error: task.error.as_ref().map(TaskErrorView::from),
            error_message: task.error.as_ref().map(|error| error.message.clone()),
            attempts: task.attempts,
            retry_count: task.attempts.saturating_sub(1),
            priority: task.priority,
            retry_of: task.retry_of.map(|id| id.to_string()),
            prompt_id: task.prompt_id.as_ref().map(ToString::to_string),
            route: task.route.as_ref().map(RouteView::from),
            external_task_id: task.external_id.clone(),
            version: task.version,
            created_at: timestamp(task.created_at),
            started_at: task.started_at.map(timestamp),
            completed_at: task.completed_at.map(timestamp),
            // Only a task still waiting can expire.
            expires_at: if task.status.is_terminal() { None } else { task.expires_at.map(timestamp) },
            events_url: format!("/api/v1/tasks/{}/events", task.id),
            input_copies: Vec::new(),
            location: task.place.as_ref().map(TaskPlaceView::from),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TaskListView {
    pub tasks: Vec<TaskView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}
