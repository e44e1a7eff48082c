use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::TaskStatus;
use crate::ids::{AssetId, PromptId, TaskId, UserId};
use crate::time::Millis;

/// A task as the store keeps it. Outputs are loaded with it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Task {
    pub id: TaskId,
    pub service: String,
    pub model: String,
    /// The whole validated input, kept for retry and audit.
    pub input: Value,
    pub status: TaskStatus,
    pub progress: u8,
    /// How many times a worker has started this task.
    pub attempts: u32,
    pub max_attempts: u32,
    /// How many times a worker died holding this task's lease.
    pub crashes: u32,
    pub external_id: Option<String>,
    pub error: Option<TaskError>,
    pub priority: i32,
    /// Bumped on every change: optimistic locking and change detection.
    pub version: i64,
    pub idempotency_key: Option<String>,
    pub retry_of: Option<TaskId>,
    pub created_at: Millis,
    pub updated_at: Millis,
    pub started_at: Option<Millis>,
    pub completed_at: Option<Millis>,
    /// A task still pending at this time expires.
    pub expires_at: Option<Millis>,
    /// Not claimable before this time (retry backoff, next poll of a remote task).
    pub run_after: Millis,
    /// Who created it (`None`: made before accounts existed; admins see those).
    pub owner: Option<UserId>,
    /// The prompt it was made from (seed 003's prompt tree); unlinked when the
    /// prompt is deleted.
    pub prompt_id: Option<PromptId>,
    /// How its service was chosen, when the request named a model without one and
    /// the configuration routes that model (`[routing]`).
    pub route: Option<Route>,
    /// Who runs it: empty for this server's own workers, or the `service/model` a
    /// remote worker serves (the pull protocol; see `crate::pull`).
    #[serde(default)]
    pub pool: String,
    /// A task whose output this one takes as input: it waits until that one
    /// completes, and fails when that one does not (a chain, text → image → 3D).
    #[serde(default)]
    pub after: Option<TaskId>,
    /// Where it is set (the place a picture is of, or where a photo was taken),
    /// when its request gave one: lists filter by radius on it.
    #[serde(default)]
    pub place: Option<TaskPlace>,
    /// The trace context of the request that created it (a W3C `traceparent`), so
    /// that the worker that runs it continues the same trace (see [`super::trace`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_context: Option<String>,
    pub outputs: Vec<Asset>,
}

/// A task's place: coordinates, and the stored location they were taken from when
/// the request named one (the coordinates stay when that location is deleted).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskPlace {
    pub coordinates: atelier_places::Coordinates,
    pub location: Option<crate::ids::LocationId>,
}

/// The `run_after` of a task that waits for the task it comes after: never due
/// until that task completes and releases it.
pub const WAITING_FOR_PARENT: Millis = i64::MAX / 4;

/// The choice of a service for a model named without one: the preference list
/// walked in order, and why each service before the chosen one was passed over.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    /// The model the request named, by its canonical name (`imagen-4`).
    pub model: String,
    /// The service chosen.
    pub service: String,
    /// The services passed over, in order, each with why.
    pub skipped: Vec<RouteSkip>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteSkip {
    pub service: String,
    /// `not_configured`, `not_offered`, `circuit_open` or `quota_exceeded`.
    pub reason: String,
}

impl Task {
    pub fn model_ref(&self) -> String {
        format!("{}/{}", self.service, self.model)
    }
}

/// Why a task failed (or why its last attempt failed, while it retries).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskError {
    /// A stable code: `timeout`, `provider_error`, `worker_crashed`, …
    pub code: String,
    pub message: String,
    pub retryable: bool,
}

/// What the store needs to insert a task.
#[derive(Debug, Clone)]
pub struct NewTask {
    pub id: TaskId,
    pub service: String,
    pub model: String,
    pub input: Value,
    pub priority: i32,
    pub max_attempts: u32,
    pub idempotency_key: Option<String>,
    /// A hash of the request that carried the idempotency key, to detect its reuse
    /// with another body.
    pub request_hash: Option<String>,
    pub retry_of: Option<TaskId>,
    pub created_at: Millis,
    pub expires_at: Option<Millis>,
    pub owner: Option<UserId>,
    pub prompt_id: Option<PromptId>,
    pub route: Option<Route>,
    /// Empty for this server's workers, or the pull pool (`service/model`).
    pub pool: String,
    /// The task it waits for (see [`Task::after`]).
    pub after: Option<TaskId>,
    /// Where it is set (see [`Task::place`]).
    pub place: Option<TaskPlace>,
    /// The creating request's trace context (see [`Task::trace_context`]).
    pub trace_context: Option<String>,
    /// The limits the insert keeps (daily quotas, the owner's limits): the store
    /// refuses the task, with the limit's refusal, when one is reached.
    pub limits: Vec<crate::quota::CreateLimit>,
}

impl NewTask {
    /// A task for `service`/`model` with `input`, made at `created_at`, with the
    /// defaults: a fresh id, priority 0, one attempt, no owner, key, route, place or
    /// dependency; set the rest with struct update syntax.
    pub fn new(service: &str, model: &str, input: Value, created_at: Millis) -> Self {
        Self {
            id: TaskId::new(),
            service: service.to_owned(),
            model: model.to_owned(),
            input,
            priority: 0,
            max_attempts: 1,
            idempotency_key: None,
            request_hash: None,
            retry_of: None,
            created_at,
            expires_at: None,
            owner: None,
            prompt_id: None,
            route: None,
            pool: String::new(),
            after: None,
            place: None,
            trace_context: None,
            limits: Vec::new(),
        }
    }

    /// The task as the store keeps it right after the insert.
    pub fn into_pending_task(self) -> Task {
        Task {
            id: self.id,
            service: self.service,
            model: self.model,
            input: self.input,
            status: TaskStatus::Pending,
            progress: 0,
            attempts: 0,
            max_attempts: self.max_attempts,
            crashes: 0,
            external_id: None,
            error: None,
            priority: self.priority,
            version: 1,
            idempotency_key: self.idempotency_key,
            retry_of: self.retry_of,
            created_at: self.created_at,
            updated_at: self.created_at,
            started_at: None,
            completed_at: None,
            expires_at: self.expires_at,
            run_after: if self.after.is_some() { WAITING_FOR_PARENT } else { self.created_at },
            owner: self.owner,
            prompt_id: self.prompt_id,
            route: self.route,
            pool: self.pool,
            after: self.after,
            place: self.place,
            trace_context: self.trace_context,
            outputs: Vec::new(),
        }
    }
}

/// A stored output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Asset {
    pub id: AssetId,
    pub task_id: TaskId,
    /// Position among the task's outputs.
    pub index: u32,
    pub mime: String,
    pub bytes: u64,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub sha256: String,
    pub blob_key: String,
    pub thumbnail_key: Option<String>,
    pub created_at: Millis,
    pub tags: Vec<String>,
    /// The owner of its task.
    pub owner: Option<UserId>,
    /// What it is among its task's outputs.
    pub role: OutputRole,
    /// Audio and video: duration, codec, rate (read when stored).
    #[serde(default)]
    pub media: Option<MediaInfo>,
}

/// What a probe of an audio or video file found (seed 000's `audio_data` and
/// `video_data`): every field optional, since not every file says everything.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MediaInfo {
    /// Seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_secs: Option<f64>,
    /// The first audio or video stream's codec as ffprobe names it (`h264`, `mp3`,
    /// `pcm_s16le`, `opus`...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub codec: Option<String>,
    /// Audio: samples a second, and channels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample_rate: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channels: Option<u32>,
    /// Video: frames a second, and frames in all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fps: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frames: Option<u64>,
    /// Bits a second over the whole file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bit_rate: Option<u64>,
    /// Video with a sound track.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub has_audio: Option<bool>,
}

/// What an output is among its task's outputs: the result itself, a preview of it
/// (a rendered still of a 3D model, a low-resolution cut of a video), or an extra
/// file that goes with it (a texture, a material file).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputRole {
    #[default]
    Primary,
    Preview,
    Extra,
}

impl OutputRole {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Primary => "primary",
            Self::Preview => "preview",
            Self::Extra => "extra",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Primary, Self::Preview, Self::Extra].into_iter().find(|role| role.as_str() == text)
    }
}

/// An output written to the blob store, ready to be recorded with its task.
pub type NewAsset = Asset;

/// A file a client uploaded to use as a task input (an image to edit or animate).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Upload {
    pub id: crate::ids::UploadId,
    /// The client's file name, for display.
    pub name: String,
    pub mime: String,
    pub bytes: u64,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub sha256: String,
    pub blob_key: String,
    pub thumbnail_key: Option<String>,
    pub created_at: Millis,
    pub owner: Option<UserId>,
}

impl Upload {
    /// The upload of a blob just stored, named `name` by the client.
    pub fn from_blob(blob: StoredBlob, name: &str, owner: Option<UserId>, created_at: Millis) -> Self {
        Self {
            id: crate::ids::UploadId::new(),
            name: name.to_owned(),
            mime: blob.mime,
            bytes: blob.bytes,
            width: blob.width,
            height: blob.height,
            sha256: blob.sha256,
            blob_key: blob.blob_key,
            thumbnail_key: blob.thumbnail_key,
            created_at,
            owner,
        }
    }
}

/// A blob written to the asset store, described.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredBlob {
    pub mime: String,
    pub bytes: u64,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub sha256: String,
    pub blob_key: String,
    pub thumbnail_key: Option<String>,
    /// Audio and video: what a probe found.
    pub media: Option<MediaInfo>,
}

/// Filters for listing tasks, newest first, with a cursor.
#[derive(Debug, Clone, Default)]
pub struct TaskFilter {
    pub statuses: Vec<TaskStatus>,
    pub service: Option<String>,
    pub model: Option<String>,
    pub created_after: Option<Millis>,
    pub created_before: Option<Millis>,
    /// Only tasks older than this one (the cursor of the previous page).
    pub before_id: Option<TaskId>,
    pub limit: u32,
    /// Only this user's tasks (`None`: everyone's, for admins).
    pub owner: Option<UserId>,
    /// Only tasks made from this prompt.
    pub prompt_id: Option<PromptId>,
    /// Only tasks with an output carrying this tag.
    pub tag: Option<String>,
    /// Only tasks whose place lies within this circle. A page is read in the
    /// circle's box and cut to those within, so it may hold fewer than `limit`
    /// while more follow.
    pub near: Option<crate::location::Near>,
}

#[derive(Debug, Clone)]
pub struct TaskPage {
    pub tasks: Vec<Task>,
    /// The cursor for the next page, when there may be one.
    pub next_cursor: Option<TaskId>,
}

/// Filters for listing outputs, newest first, with a cursor (the gallery; seed
/// 004's history). The same names and meanings as [`TaskFilter`].
#[derive(Debug, Clone, Default)]
pub struct AssetFilter {
    /// Only outputs with this tag.
    pub tag: Option<String>,
    /// Only outputs of tasks of this service.
    pub service: Option<String>,
    /// Only outputs of tasks of this model.
    pub model: Option<String>,
    /// Only outputs created at or after this time.
    pub created_after: Option<Millis>,
    /// Only outputs created before this time.
    pub created_before: Option<Millis>,
    /// Only outputs older than this one (the cursor of the previous page).
    pub before_id: Option<AssetId>,
    pub limit: u32,
    /// Only this user's outputs (`None`: everyone's, for admins).
    pub owner: Option<UserId>,
    /// Only outputs of tasks whose place lies within this circle (pages as with
    /// [`TaskFilter::near`]).
    pub near: Option<crate::location::Near>,
    /// Only outputs of this kind (images, audio, video, 3D models).
    pub kind: Option<AssetKind>,
}

/// What kind of file an output is, told by its MIME type: the gallery's filter
/// (seed 000's images, audio and video as records of their own).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssetKind {
    Image,
    Audio,
    Video,
    /// 3D models (`model/gltf-binary`, `model/stl`).
    Model,
}

impl AssetKind {
    pub const NAMES: [&'static str; 4] = ["image", "audio", "video", "model"];

    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "image" => Self::Image,
            "audio" => Self::Audio,
            "video" => Self::Video,
            "model" => Self::Model,
            _ => return None,
        })
    }

    /// The MIME types of this kind start with this.
    pub fn mime_prefix(self) -> &'static str {
        match self {
            Self::Image => "image/",
            Self::Audio => "audio/",
            Self::Video => "video/",
            Self::Model => "model/",
        }
    }

    pub fn matches(self, mime: &str) -> bool {
        mime.trim().to_ascii_lowercase().starts_with(self.mime_prefix())
    }
}

#[derive(Debug, Clone)]
pub struct AssetPage {
    pub assets: Vec<Asset>,
    /// The cursor for the next page, when there may be one.
    pub next_cursor: Option<AssetId>,
}
