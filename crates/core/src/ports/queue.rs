//! The queue: the worker's side of the task rows (tasks are the job queue). Every
//! write that belongs to a worker names the lease it holds and takes effect only if
//! that lease still holds.

use async_trait::async_trait;

use crate::error::Result;
use crate::ids::TaskId;
use crate::task::{NewAsset, Task, TaskError};
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

/// What a look at the tasks waiting for another did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WaitingReport {
    pub released: Vec<TaskId>,
    pub failed: Vec<TaskId>,
}

#[async_trait]
pub trait QueueStore: Send + Sync + 'static {
    /// Claims up to `limit` runnable tasks of `pool` for `worker_id` until
    /// `lease_until`. This server's workers claim the pool `""`; a remote worker
    /// claims the pool of a model it serves (`service/model`).
    async fn claim(
        &self,
        pool: &str,
        worker_id: &str,
        limit: u32,
        now: Millis,
        lease_until: Millis,
    ) -> Result<Vec<Claimed>>;
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
    /// Completes the task with its outputs, in one transaction; the tasks that
    /// waited for it (`after`) become due at `now`.
    async fn complete(&self, id: TaskId, lease: &LeaseToken, outputs: Vec<NewAsset>, now: Millis) -> Result<bool>;
    async fn fail(&self, id: TaskId, lease: &LeaseToken, error: &TaskError, now: Millis) -> Result<bool>;
    /// Sets the task `retrying`, runnable again at `run_after`. A retry is a new
    /// attempt: the provider's job, if it had one, ended (failed, or lost by a server
    /// that restarted), so its id is dropped and the next run submits anew.
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
    /// Gives a claimed task back while Atelier's own storage is down: no attempt
    /// counted, the error noted on the task (so its owner sees why it waits),
    /// runnable again at `run_after`. A remote task keeps its provider id and stays
    /// `processing` (its result is fetched again); others become `retrying`.
    async fn wait_for_storage(
        &self,
        id: TaskId,
        lease: &LeaseToken,
        error: &TaskError,
        run_after: Millis,
    ) -> Result<bool>;
    /// Gives back a task whose costly submit lost its answer, to wait for the
    /// provider's callback to name the job: `processing`, still marked submitting
    /// (so it is never sent again), the reason noted, looked at again at `run_after`.
    async fn wait_for_lost_submit(
        &self,
        id: TaskId,
        lease: &LeaseToken,
        note: &TaskError,
        run_after: Millis,
    ) -> Result<bool>;
    /// Attaches the provider's id to a task whose submit lost its answer (waiting
    /// for it, or failed `submit_unknown` or `malformed_response`; still marked, with no
    /// id; also while a worker still holds it, whose
    /// next write then leaves it to be polled), of this service: it is `processing`
    /// again and polled at `now`. False when no such task.
    async fn attach_lost_submit(&self, id: TaskId, service: &str, external_id: &str, now: Millis) -> Result<bool>;
    /// A small write that proves the database takes writes (a full disk refuses it).
    async fn probe_write(&self) -> Result<()>;
    /// Free bytes where the database can grow, where known (SQLite's file).
    async fn free_space(&self) -> Option<u64>;
    /// Puts back tasks whose lease expired, failing those that crashed too often.
    async fn reclaim_expired(&self, now: Millis, max_crashes: u32) -> Result<ReclaimReport>;
    /// Expires pending tasks past their `expires_at`.
    async fn expire_pending(&self, now: Millis) -> Result<Vec<TaskId>>;
    /// Tasks that wait for another (`after`): those whose task completed become due
    /// (a completion normally does this itself), and those whose task failed, was
    /// cancelled, expired or was deleted fail as `upstream_failed`.
    async fn settle_waiting(&self, now: Millis) -> Result<WaitingReport>;
}

/// What a worker needs of the store: the queue, and the counts of tasks open at each
/// provider (its concurrency limit per service).
pub trait WorkerStore: QueueStore + super::UsageCounts {}

impl<T: QueueStore + super::UsageCounts + ?Sized> WorkerStore for T {}
