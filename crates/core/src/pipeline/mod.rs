//! Durable pipelines: multi-step jobs beside tasks (seed 001's seven phases with a
//! person in the loop).
//!
//! A **run** is an ordered list of phases ([`phase::Phase`]); each phase is one or
//! more tasks that the workers run under their leases. Every phase's result is a
//! **version** whose parent is the version it was made from; a person's change is
//! a child version; nothing is overwritten, and a run can continue from any earlier
//! version (a branch). Between phases a run waits for feedback until a stored
//! deadline. The [`driver::Engine`] moves runs on task events and a periodic sweep;
//! [`service::PipelineService`] is what clients call.
//!
//! **Invariants:** a run is written only under the revision it was read at; a
//! phase's version and the run's move are one transaction; a phase's tasks are made
//! under idempotency keys naming the run, phase, basis version, try and step, so a
//! task whose result was stored is never made (or paid for) again.

pub mod driver;
pub mod events;
pub mod feedback;
pub mod image_fit;
pub mod manga;
pub mod model;
pub mod phase;
pub mod retention;
pub mod scene_cache;
pub mod service;

pub use driver::Engine;
pub use events::{RunEvent, RunEvents};
pub use feedback::{Change, ChangeType};
pub use model::{AppliedChange, FeedbackMode, Run, RunError, RunSettings, RunStatus, RunTask, Version, VersionKind};
pub use phase::{
    ImageFit, Phase, PhaseContext, PhaseError, Pipeline, RetryPolicy, Reuse, Reused, Step, StepOutcome, StepRequest,
};
pub use service::{Control, NewRun, PipelineRules, PipelineService, Proposal};

use crate::ids::{RunId, VersionId};

/// Where a version's preview is served.
pub fn preview_url(run: &RunId, version: &VersionId) -> String {
    format!("/api/v1/pipelines/{run}/versions/{version}/preview")
}
