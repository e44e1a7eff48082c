//! Runs and versions as the store keeps them.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ids::{RunId, UserId, VersionId};
use crate::time::Millis;

/// Where a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// A phase is at work (its tasks run, or it waits for a retry).
    Running,
    /// A phase finished; its preview waits for feedback until `wake_at`.
    WaitingInput,
    /// Stopped by its owner ("stop here"): waits with no deadline until resumed.
    Paused,
    /// A provider's daily quota is spent: the run waits until it renews (`wake_at`).
    Parked,
    Completed,
    Failed,
    Cancelled,
}

impl RunStatus {
    pub const ALL: [Self; 7] =
        [Self::Running, Self::WaitingInput, Self::Paused, Self::Parked, Self::Completed, Self::Failed, Self::Cancelled];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::WaitingInput => "waiting_input",
            Self::Paused => "paused",
            Self::Parked => "parked",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == text)
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Cancelled)
    }
}

/// The seed's `feedback_mode`: whether the run waits for a person between phases,
/// and how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedbackMode {
    pub enabled: bool,
    pub timeout_seconds: u32,
}

impl Default for FeedbackMode {
    fn default() -> Self {
        // Seed 001's `wait_for_feedback(..., timeout=30)`.
        Self { enabled: true, timeout_seconds: 30 }
    }
}

/// How a run is made: fixed when it is created.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSettings {
    pub feedback: FeedbackMode,
    /// The text model of the phases' analysis (`local/planner` offline).
    pub text_model: String,
    /// The image model of the character sheets (and, later, the panels).
    pub image_model: String,
    /// The whole run's time limit, in seconds (seed 001: 600).
    pub deadline_seconds: u32,
    /// Preview quality, 1 to 5 (seed 001 `AdaptiveQualityManager`).
    pub quality: u8,
    /// The seed's `ai_auto_settings`: let the analysis choose genre, page count and
    /// the like (false: the request's `options` are kept as given).
    pub ai_auto_settings: bool,
    /// Choices given with the request (page count, reading direction, genre, ...),
    /// passed to every phase.
    pub options: Value,
    /// The phase to stop after (all when `None`).
    pub last_phase: Option<u32>,
}

/// Why a run failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunError {
    pub code: String,
    pub message: String,
    /// The phase it failed in.
    pub phase: u32,
}

/// A pipeline run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Run {
    pub id: RunId,
    pub owner: UserId,
    /// Which pipeline (`manga`).
    pub pipeline: String,
    /// The client's own id for it (the seed's `request_id`).
    pub request_id: Option<String>,
    pub status: RunStatus,
    /// The phase at work, or the last one finished while waiting (1-based).
    pub phase: u32,
    /// The version the run continues from (the head of its current branch).
    pub head: Option<VersionId>,
    /// Which try of the current phase this is (0 first).
    pub phase_try: u32,
    /// When the run next needs attention: the end of a wait, a retry's time, a
    /// quota's renewal, or a re-check of a phase's tasks.
    pub wake_at: Option<Millis>,
    /// The run fails past this time (keeping every finished phase).
    pub deadline_at: Millis,
    /// The input: the story text.
    pub text: String,
    pub settings: RunSettings,
    pub error: Option<RunError>,
    /// What the run is waiting on or why, in words (shown while parked or retrying).
    pub note: Option<String>,
    /// Progress within the current phase, 0 to 100.
    pub progress: u8,
    pub created_at: Millis,
    pub updated_at: Millis,
    pub completed_at: Option<Millis>,
    /// When it was paused or parked: the time until it resumes does not count
    /// against its deadline.
    pub paused_at: Option<Millis>,
    /// Bumped on every write: a write names the revision it read.
    pub revision: i64,
}

/// What made a version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VersionKind {
    /// A phase's result.
    Phase,
    /// A person's change to a phase's result.
    Feedback,
}

impl VersionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Phase => "phase",
            Self::Feedback => "feedback",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "phase" => Some(Self::Phase),
            "feedback" => Some(Self::Feedback),
            _ => None,
        }
    }
}

/// One applied change, as the seed's `feedback_applied` lists them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppliedChange {
    /// `text_edit`, `selection`, `drag_drop`, `style_adjust` or `natural_language`.
    pub change_type: String,
    /// What was asked, as sent.
    pub request: Value,
    /// What changed: an RFC 6902 patch from the parent's document to this one.
    pub patch: Value,
    /// What was done, in words (and what was not understood).
    pub summary: String,
}

/// A version of a run's document: a node of the run's version tree. Never changed
/// once stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Version {
    pub id: VersionId,
    pub run_id: RunId,
    pub parent: Option<VersionId>,
    /// The phase whose result this is (or whose result a change was made to).
    pub phase: u32,
    pub kind: VersionKind,
    /// The whole document so far (every finished phase's part).
    pub document: Value,
    pub description: String,
    /// The changes this version applied to its parent (empty for a phase result).
    pub changes: Vec<AppliedChange>,
    /// How long the phase took, for a phase result (ms).
    pub elapsed_ms: Option<i64>,
    pub created_at: Millis,
}

/// A task a run made (or reused), and for which step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunTask {
    pub run_id: RunId,
    /// `phase:basis:try:step` (see the driver).
    pub key: String,
    pub task_id: crate::ids::TaskId,
    /// Set when the task is an earlier one whose image the scene cache reused.
    pub reused: Option<super::phase::Reused>,
}
