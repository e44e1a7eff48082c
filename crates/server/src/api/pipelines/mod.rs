//! `/api/v1/pipelines`: durable multi-phase runs (seed 001's manga pipeline): start
//! a run, watch its phases (SSE), read its version tree, change a phase's result
//! (`feedback`, or a change in words through `proposals`), continue, stop, resume,
//! cancel, or branch from an earlier version. `/api/v1/manga` is the seed's own
//! request and answer over the same runs.

mod control;
mod create;
mod events;
mod feedback;
mod get;
mod manga;
mod socket;
mod versions;

use atelier_core::pipeline::preview_url;
use atelier_core::pipeline::{Run, RunStatus, Version};
use atelier_core::{RunId, TaskId, VersionId};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::error::ApiError;
use crate::api::views::timestamp;
use crate::app::AppState;

pub use create::CreateRunRequest;
pub use feedback::{ChangeRequest, ProposalRequest};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create::create_run, get::list_runs))
        .routes(routes!(get::get_run))
        .routes(routes!(get::pipeline_schemas))
        .routes(routes!(versions::version_tree))
        .routes(routes!(versions::get_version))
        .routes(routes!(versions::version_preview))
        .routes(routes!(versions::phase_history))
        .routes(routes!(feedback::give_feedback))
        .routes(routes!(feedback::propose))
        .routes(routes!(feedback::get_proposal))
        .routes(routes!(feedback::apply_proposal))
        .routes(routes!(control::continue_run))
        .routes(routes!(control::stop_run))
        .routes(routes!(control::resume_run))
        .routes(routes!(control::cancel_run))
        .routes(routes!(control::branch_run))
        .routes(routes!(events::run_events))
        .routes(routes!(socket::run_socket))
        .routes(routes!(manga::create_manga))
        .routes(routes!(manga::get_manga))
}

pub(crate) fn parse_run_id(id: &str) -> Result<RunId, ApiError> {
    RunId::parse(id).ok_or_else(|| ApiError::not_found("run"))
}

pub(crate) fn parse_version_id(id: &str) -> Result<VersionId, ApiError> {
    VersionId::parse(id).ok_or_else(|| ApiError::not_found("version"))
}

pub(crate) fn parse_proposal_id(id: &str) -> Result<TaskId, ApiError> {
    id.parse::<TaskId>().map_err(|_| ApiError::not_found("proposal"))
}

/// A phase of the run's pipeline, and where the run is with it.
#[derive(Debug, Serialize, ToSchema)]
pub struct PhaseView {
    pub number: u32,
    /// `concept`, `characters`, `plot`, `name`.
    pub name: String,
    pub title: String,
    /// `done`, `current` (at work, or its result awaiting feedback), `pending`.
    pub state: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RunErrorView {
    /// A stable code: `deadline_exceeded`, `provider_error`, `invalid_request`, …
    pub code: String,
    pub message: String,
    pub phase: u32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FeedbackModeView {
    pub enabled: bool,
    pub timeout_seconds: u32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RunSettingsView {
    pub feedback_mode: FeedbackModeView,
    pub text_model: String,
    pub image_model: String,
    pub deadline_seconds: u32,
    pub quality: u8,
    pub ai_auto_settings: bool,
    pub options: Value,
    pub last_phase: Option<u32>,
}

/// A pipeline run.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunView {
    /// `run_…`
    pub id: String,
    pub pipeline: String,
    /// The client's own id (the seed's `request_id`).
    pub request_id: Option<String>,
    /// `running`, `waiting_input`, `paused`, `parked`, `completed`, `failed`, `cancelled`.
    pub status: String,
    /// The phase at work, or whose result waits for feedback.
    pub phase: u32,
    pub phases: Vec<PhaseView>,
    /// Progress within the current phase, 0 to 100.
    pub progress: u8,
    /// The version the run continues from.
    pub head_version_id: Option<String>,
    /// While `waiting_input`: when the run goes on by itself (ISO 8601).
    pub waiting_until: Option<String>,
    /// While `parked` or retrying: when it goes on.
    pub resumes_at: Option<String>,
    /// The run fails past this time (ISO 8601).
    pub deadline_at: String,
    pub error: Option<RunErrorView>,
    /// What the run waits on, or why, in words.
    pub note: Option<String>,
    pub settings: RunSettingsView,
    /// The story's length in characters.
    pub text_chars: usize,
    /// The story's first words (a name for the run in lists).
    pub excerpt: String,
    /// Bumped on every change: of two views of a run, the higher is the newer.
    pub revision: i64,
    pub created_at: String,
    pub updated_at: String,
    pub completed_at: Option<String>,
    /// Seconds from the start to the end (or to now).
    pub processing_time: f64,
    /// Where its preview is (the head version's), when it has one.
    pub preview_url: Option<String>,
}

impl RunView {
    pub fn new(run: &Run, state: &AppState) -> Self {
        let phases = state
            .pipelines
            .engine()
            .pipeline(&run.pipeline)
            .map(|pipeline| {
                pipeline
                    .phases
                    .iter()
                    .map(|phase| {
                        let number = phase.number();
                        let state = match number.cmp(&run.phase) {
                            std::cmp::Ordering::Less => "done",
                            std::cmp::Ordering::Equal if run.status == RunStatus::Completed => "done",
                            std::cmp::Ordering::Equal => "current",
                            std::cmp::Ordering::Greater => "pending",
                        };
                        PhaseView {
                            number,
                            name: phase.name().to_owned(),
                            title: phase.title().to_owned(),
                            state: state.to_owned(),
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        let later = |status: RunStatus| (run.status == status).then_some(()).and(run.wake_at).map(timestamp);
        Self {
            id: run.id.to_string(),
            pipeline: run.pipeline.clone(),
            request_id: run.request_id.clone(),
            status: run.status.as_str().to_owned(),
            phase: run.phase,
            phases,
            progress: run.progress,
            head_version_id: run.head.as_ref().map(ToString::to_string),
            waiting_until: later(RunStatus::WaitingInput),
            resumes_at: later(RunStatus::Parked).or_else(|| run.note.as_ref().and(later(RunStatus::Running))),
            deadline_at: timestamp(run.deadline_at),
            error: run.error.as_ref().map(|error| RunErrorView {
                code: error.code.clone(),
                message: error.message.clone(),
                phase: error.phase,
            }),
            note: run.note.clone(),
            settings: RunSettingsView {
                feedback_mode: FeedbackModeView {
                    enabled: run.settings.feedback.enabled,
                    timeout_seconds: run.settings.feedback.timeout_seconds,
                },
                text_model: run.settings.text_model.clone(),
                image_model: run.settings.image_model.clone(),
                deadline_seconds: run.settings.deadline_seconds,
                quality: run.settings.quality,
                ai_auto_settings: run.settings.ai_auto_settings,
                options: run.settings.options.clone(),
                last_phase: run.settings.last_phase,
            },
            text_chars: run.text.chars().count(),
            excerpt: excerpt(&run.text),
            revision: run.revision,
            created_at: timestamp(run.created_at),
            updated_at: timestamp(run.updated_at),
            completed_at: run.completed_at.map(timestamp),
            processing_time: atelier_core::pipeline::service::processing_seconds(run),
            preview_url: run.head.as_ref().map(|head| preview_url(&run.id, head)),
        }
    }
}

/// The first line of a story with text, cut to 80 characters.
fn excerpt(text: &str) -> String {
    let line = text.lines().map(str::trim).find(|line| !line.is_empty()).unwrap_or_default();
    let mut excerpt: String = line.chars().take(80).collect();
    if line.chars().count() > 80 {
        excerpt.push('…');
    }
    excerpt
}

/// One applied change (the seed's `feedback_applied`).
#[derive(Debug, Serialize, ToSchema)]
pub struct AppliedChangeView {
    /// `text_edit`, `selection`, `drag_drop`, `style_adjust`, `natural_language`.
    pub change_type: String,
    /// The change as it was sent.
    pub request: Value,
    /// What it changed: an RFC 6902 patch from the parent version's document.
    pub patch: Value,
    pub summary: String,
}

/// A version of a run's document.
#[derive(Debug, Serialize, ToSchema)]
pub struct VersionView {
    /// `ver_…`
    pub id: String,
    pub run_id: String,
    pub parent_id: Option<String>,
    pub phase: u32,
    /// `phase` (a phase's result) or `feedback` (a person's change).
    pub kind: String,
    pub description: String,
    pub changes: Vec<AppliedChangeView>,
    /// How long the phase took (ms), for a phase's result.
    pub elapsed_ms: Option<i64>,
    pub created_at: String,
    pub preview_url: String,
    /// The whole document so far: `concept`, `characters`, `plot`, `pages`, `style`
    /// (see `GET /api/v1/pipelines/schemas`).
    pub document: Value,
}

impl From<&Version> for VersionView {
    fn from(version: &Version) -> Self {
        Self {
            id: version.id.to_string(),
            run_id: version.run_id.to_string(),
            parent_id: version.parent.as_ref().map(ToString::to_string),
            phase: version.phase,
            kind: version.kind.as_str().to_owned(),
            description: version.description.clone(),
            changes: version
                .changes
                .iter()
                .map(|change| AppliedChangeView {
                    change_type: change.change_type.clone(),
                    request: change.request.clone(),
                    patch: change.patch.clone(),
                    summary: change.summary.clone(),
                })
                .collect(),
            elapsed_ms: version.elapsed_ms,
            created_at: timestamp(version.created_at),
            preview_url: preview_url(&version.run_id, &version.id),
            document: version.document.clone(),
        }
    }
}

/// A run together with a version it just made.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunAndVersionView {
    pub run: RunView,
    pub version: VersionView,
}
