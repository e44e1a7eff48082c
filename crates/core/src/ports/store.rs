//! The task store: tasks are the job queue. Every write that belongs to a worker
//! names the lease it holds and takes effect only if that lease still holds.

use async_trait::async_trait;

use crate::error::Result;
use crate::ids::{AssetId, TaskId, UploadId, UserId};
use crate::ports::ProviderUpload;
use crate::task::{Asset, AssetFilter, AssetPage, NewAsset, NewTask, Task, TaskError, TaskFilter, TaskPage, Upload};
use crate::time::Millis;

/// Proof that a worker holds a task; writes with a stale token do nothing.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LeaseToken(pub String);

impl LeaseToken {
    pub fn new() -> Self {
        Self(uuid::Uuid::new_v4().simple().to_string())
    }
}

impl Default for LeaseToken {
    fn default() -> Self {
        Self::new()
    }
}

/// A task a worker claimed, with the lease it now holds.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub task: Task,
    pub lease: LeaseToken,
}

/// What a sweep of expired leases did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReclaimReport {
    /// Tasks put back in the queue.
    pub requeued: Vec<TaskId>,
    /// Tasks that crashed their workers too often and were failed.
    pub failed: Vec<TaskId>,
}

/// Whether a create made a new task or found the one an idempotency key names.
#[derive(Debug, Clone)]
pub enum Created {
    New(Task),
    Existing(Task),
}

#[async_trait]
pub trait TaskStore: Send + Sync + 'static {
    /// Inserts a task, or returns the task already created with the same idempotency
    /// key (a conflict when `request_hash` differs).
    async fn create_task(&self, task: NewTask) -> Result<Created>;
    async fn get_task(&self, id: TaskId) -> Result<Option<Task>>;
    async fn list_tasks(&self, filter: &TaskFilter) -> Result<TaskPage>;
    /// Tasks waiting to run (pending or retrying), for backpressure.
    async fn count_queued(&self) -> Result<u64>;

    /// Claims up to `limit` runnable tasks for `worker_id` until `lease_until`.
    async fn claim(&self, worker_id: &str, limit: u32, now: Millis, lease_until: Millis) -> Result<Vec<Claimed>>;
    /// Extends a lease; false when it no longer holds.
    async fn heartbeat(&self, id: TaskId, lease: &LeaseToken, lease_until: Millis) -> Result<bool>;
    async fn set_progress(&self, id: TaskId, lease: &LeaseToken, progress: u8) -> Result<bool>;
    /// Records the provider's task id: done before the first poll, so that a restart
    /// resumes polling and never submits again.
    async fn record_external_id(&self, id: TaskId, lease: &LeaseToken, external_id: &str) -> Result<bool>;
    /// Marks that a costly submit is under way, so that a crash before its answer is
    /// recognised rather than resubmitted.
    async fn mark_submitting(&self, id: TaskId, lease: &LeaseToken) -> Result<bool>;
    /// Whether the task's last submit started but never recorded its answer.
    async fn submit_was_interrupted(&self, id: TaskId) -> Result<bool>;
    /// Gives the lease back and keeps the task `processing`, runnable again at
    /// `run_after` (a remote task between polls).
    async fn park(&self, id: TaskId, lease: &LeaseToken, progress: u8, run_after: Millis) -> Result<bool>;
    /// Completes the task with its outputs, in one transaction.
    async fn complete(&self, id: TaskId, lease: &LeaseToken, outputs: Vec<NewAsset>, now: Millis) -> Result<bool>;
    async fn fail(&self, id: TaskId, lease: &LeaseToken, error: &TaskError, now: Millis) -> Result<bool>;
    /// Sets the task `retrying`, runnable again at `run_after`.
    async fn schedule_retry(
        &self,
        id: TaskId,
        lease: &LeaseToken,
        error: &TaskError,
        run_after: Millis,
    ) -> Result<bool>;
    /// Makes a remote task waiting between polls runnable now (a provider's callback
    /// said it changed); returns its id when one was waiting.
    async fn poll_now(&self, service: &str, external_id: &str, now: Millis) -> Result<Option<TaskId>>;
    /// Gives a claimed task back untouched, runnable again at `run_after` (a draining
    /// worker; a task held back by an open circuit). The attempt does not count.
    async fn release(&self, id: TaskId, lease: &LeaseToken, run_after: Millis) -> Result<bool>;

    /// Cancels a task that has not ended; returns it as it is now (unchanged when it
    /// had already ended).
    async fn cancel_task(&self, id: TaskId, now: Millis) -> Result<Option<Task>>;
    /// Deletes a task and its asset rows; returns the deleted assets so their blobs
    /// can be removed when nothing else refers to them.
    async fn delete_task(&self, id: TaskId) -> Result<Option<Vec<Asset>>>;

    /// Puts back tasks whose lease expired, failing those that crashed too often.
    async fn reclaim_expired(&self, now: Millis, max_crashes: u32) -> Result<ReclaimReport>;
    /// Expires pending tasks past their `expires_at`.
    async fn expire_pending(&self, now: Millis) -> Result<Vec<TaskId>>;

    async fn get_asset(&self, id: &AssetId) -> Result<Option<Asset>>;
    /// Completed outputs, newest first (seed 004's history), filtered; a page of
    /// at most `filter.limit` with the cursor of the next one.
    async fn list_assets(&self, filter: &AssetFilter) -> Result<AssetPage>;
    async fn delete_asset(&self, id: &AssetId) -> Result<Option<Asset>>;
    /// How many asset and upload rows share a blob (blobs are named by content hash).
    async fn count_blob_refs(&self, blob_key: &str) -> Result<u64>;
    async fn add_tag(&self, id: &AssetId, tag: &str, now: Millis) -> Result<bool>;
    async fn remove_tag(&self, id: &AssetId, tag: &str) -> Result<bool>;

    async fn create_upload(&self, upload: &Upload) -> Result<()>;
    async fn get_upload(&self, id: &UploadId) -> Result<Option<Upload>>;
    async fn delete_upload(&self, id: &UploadId) -> Result<Option<Upload>>;
    /// What a provider holds for `key` (a URL or a content hash) that is still fresh
    /// at `fresh_at`.
    async fn provider_upload(&self, service: &str, key: &str, fresh_at: Millis) -> Result<Option<ProviderUpload>>;
    /// Records (or replaces) what a provider holds for `key`.
    async fn remember_provider_upload(
        &self,
        service: &str,
        key: &str,
        upload: &ProviderUpload,
        now: Millis,
    ) -> Result<()>;

    /// Tasks of a service (or one of its models) created since `since`: daily quotas.
    async fn count_created_since(&self, service: &str, model: Option<&str>, since: Millis) -> Result<u64>;
    /// A user's tasks: created since `since` (when given), and only those waiting or
    /// running when `active_only`. Per-user limits.
    async fn count_owner_tasks(&self, owner: &UserId, since: Option<Millis>, active_only: bool) -> Result<u64>;
    /// Tasks of a service open at the provider (submitted, not ended): the service's
    /// concurrency limit.
    async fn count_in_flight(&self, service: &str) -> Result<u64>;

    /// Checks the connection.
    async fn ping(&self) -> Result<()>;
    /// `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;
}
