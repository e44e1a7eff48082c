//! What the retention cleanup reads and deletes (`crate::retention`): pages of
//! what is past its time, what live tasks name, and a lease so that one instance
//! at a time runs it. Every read is a bounded page by an index; deleting a task or
//! an upload goes through [`super::TaskStore::delete_task`] and
//! [`super::UploadStore::delete_upload`], as a user's delete does.

use async_trait::async_trait;

use crate::error::Result;
use crate::ids::{AssetId, TaskId, UploadId};
use crate::task::{TaskStatus, Upload};
use crate::time::Millis;

/// An ended task past its time, with what decides whether it is still in use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndedCandidate {
    pub id: TaskId,
    /// When it ended (`completed_at`): the page's cursor with the id.
    pub ended_at: Millis,
    /// Its outputs' ids (an input may name one, `img_…`).
    pub outputs: Vec<AssetId>,
    /// Whether a pipeline run that has not ended links it.
    pub in_live_run: bool,
}

#[async_trait]
pub trait RetentionStore: Send + Sync + 'static {
    /// Takes (or renews) the lease `name` for `holder` until `until` when it is free,
    /// expired at `now`, or held by `holder` already; false when another holds it.
    async fn take_lease(&self, name: &str, holder: &str, now: Millis, until: Millis) -> Result<bool>;
    /// Lets the lease go (only `holder`'s).
    async fn release_lease(&self, name: &str, holder: &str) -> Result<()>;

    /// The inputs of tasks in `status` (a live one), a page in id order after `after`.
    async fn task_inputs(&self, status: TaskStatus, after: Option<TaskId>, limit: u32)
    -> Result<Vec<(TaskId, String)>>;
    /// The inputs of tasks made at or after `since`, whatever their status, a page in
    /// id order after `after`: what was created while a pass ran.
    async fn task_inputs_since(
        &self,
        since: Millis,
        after: Option<TaskId>,
        limit: u32,
    ) -> Result<Vec<(TaskId, String)>>;

    /// Ended tasks (completed, failed, cancelled, expired) that ended before
    /// `ended_before`, oldest first, after the cursor `(ended_at, id)`.
    async fn ended_tasks_before(
        &self,
        ended_before: Millis,
        after: Option<(Millis, TaskId)>,
        limit: u32,
    ) -> Result<Vec<EndedCandidate>>;
    /// Uploads made before `made_before`, oldest first, after `after`.
    async fn uploads_before(&self, made_before: Millis, after: Option<UploadId>, limit: u32) -> Result<Vec<Upload>>;

    /// Deletes up to `limit` provider copies (Kie's uploads) that expired before
    /// `now`: the provider has let the file go, the row remembers nothing usable.
    async fn delete_expired_provider_copies(&self, now: Millis, limit: u32) -> Result<u64>;
    /// Deletes up to `limit` sign-in links and sessions that expired before `now`:
    /// `(links, sessions)`.
    async fn delete_expired_links(&self, now: Millis, limit: u32) -> Result<(u64, u64)>;
}
