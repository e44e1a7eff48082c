//! The pipeline store: runs, their version trees and the tasks they made.

use async_trait::async_trait;

use crate::error::Result;
use crate::ids::{RunId, TaskId, UserId, VersionId};
use crate::pipeline::scene_cache::SceneEntry;
use crate::pipeline::{Run, RunTask, Version};
use crate::time::Millis;

#[async_trait]
pub trait PipelineStore: Send + Sync + 'static {
    async fn create_run(&self, run: &Run) -> Result<()>;
    async fn get_run(&self, id: &RunId) -> Result<Option<Run>>;
    /// Runs newest first (one owner's, or everyone's), older than `before`, at most
    /// `limit`; and the cursor of the next page.
    async fn list_runs(
        &self,
        owner: Option<&UserId>,
        before: Option<&RunId>,
        limit: u32,
    ) -> Result<(Vec<Run>, Option<RunId>)>;
    /// An owner's run by the client's own request id (the newest, if several).
    async fn find_run_by_request(&self, owner: &UserId, request_id: &str) -> Result<Option<Run>>;
    /// Writes the run if the stored revision is still `run.revision` (and stores it
    /// as `run.revision + 1`); false, writing nothing, when another write came first.
    async fn update_run(&self, run: &Run) -> Result<bool>;
    /// Stores a version and writes the run (revision-checked, as `update_run`) in
    /// one transaction; false, storing nothing, when the revision moved.
    async fn add_version(&self, run: &Run, version: &Version) -> Result<bool>;
    async fn get_version(&self, id: &VersionId) -> Result<Option<Version>>;
    /// A run's versions, oldest first.
    async fn list_versions(&self, run: &RunId) -> Result<Vec<Version>>;
    /// Records that a run made a task for a step (nothing when already recorded).
    async fn link_task(&self, link: &RunTask) -> Result<()>;
    /// A run's tasks whose key starts with `key_prefix`.
    async fn run_tasks(&self, run: &RunId, key_prefix: &str) -> Result<Vec<RunTask>>;
    /// The run that made a task.
    async fn run_for_task(&self, task: TaskId) -> Result<Option<RunId>>;
    /// Runs that need attention now: not ended, not paused, `wake_at` passed; the
    /// longest waiting first, at most `limit`.
    async fn due_runs(&self, now: Millis, limit: u32) -> Result<Vec<RunId>>;
    /// Whether any run is at work (has a phase whose tasks may end).
    async fn any_running_run(&self) -> Result<bool>;
    /// An owner's runs that have not ended.
    async fn count_active_runs(&self, owner: &UserId) -> Result<u64>;
    /// An owner's runs created since a time.
    async fn count_runs_since(&self, owner: &UserId, since: Millis) -> Result<u64>;
    /// Remembers the scene an image task draws (nothing when already remembered).
    async fn remember_scene(&self, entry: &SceneEntry) -> Result<()>;
    /// An owner's remembered scenes for one model since a time whose task
    /// completed, newest first, at most `limit`.
    async fn scene_candidates(&self, owner: &UserId, model: &str, since: Millis, limit: u32)
    -> Result<Vec<SceneEntry>>;
    /// Ended runs (completed, failed, cancelled) that ended at or before
    /// `ended_before` and whose data is let go less far than `stage`, oldest first:
    /// each with how far it is.
    async fn runs_to_retain(&self, ended_before: Millis, stage: u8, limit: u32) -> Result<Vec<(Run, u8)>>;
    /// Deletes a run's versions but `keep`, and records `stage`, if the run is still
    /// at `run.revision` (a run that moved since is left alone): whether it was.
    async fn retain_run(&self, run: &Run, keep: Option<&[VersionId]>, stage: u8) -> Result<bool>;
    /// Whether a run other than `run` links this task (an image the scene cache
    /// reused).
    async fn task_linked_elsewhere(&self, task: TaskId, run: &RunId) -> Result<bool>;
}
