//! A task store in memory.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;

use crate::error::{CoreError, Result};
use crate::ids::{AssetId, TaskId, UploadId, UserId};
use crate::ports::{
    AssetIndex, Claimed, Created, InputCopy, LeaseToken, OwnerCount, ProviderUpload, QueueStore, ReclaimReport, Store,
    TaskStore, UploadStore, UsageCounts, WaitingReport,
};
use crate::quota::LimitCount;
use crate::task::TaskStatus;
use crate::task::{Asset, AssetFilter, AssetPage, NewAsset, NewTask, Task, TaskError, TaskFilter, TaskPage, Upload};
use crate::time::Millis;

#[derive(Debug, Clone)]
struct Row {
    task: Task,
    lease: Option<LeaseToken>,
    lease_until: Millis,
    submitting: bool,
    request_hash: Option<String>,
    /// The task's turn in its owner's lane (as the databases keep it).
    slot: i64,
}

#[derive(Default)]
struct State {
    tasks: BTreeMap<TaskId, Row>,
    uploads: HashMap<UploadId, Upload>,
    provider_uploads: HashMap<(String, String), ProviderUpload>,
    /// Each task's input copies, by position (deleted with the task).
    input_copies: HashMap<TaskId, BTreeMap<u32, InputCopy>>,
    tags: HashMap<AssetId, Vec<String>>,
    /// Each owner's next turn, and the latest turn claimed.
    lanes: HashMap<String, i64>,
    clock: i64,
    /// Tasks that left the queue to run.
    started: u64,
}

impl State {
    /// A new task's row, its turn taken in its owner's lane.
    fn row(&mut self, task: Task, request_hash: Option<String>) -> Row {
        let clock = self.clock;
        let lane = self.lanes.entry(task.owner.as_ref().map(ToString::to_string).unwrap_or_default()).or_insert(0);
        let slot = (*lane).max(clock);
        *lane = slot + 1;
        Row { task, lease: None, lease_until: 0, submitting: false, request_hash, slot }
    }
}

/// Every task-side port, in memory. Writes that name a lease do nothing once it no
/// longer holds, as in the real stores.
#[derive(Default)]
pub struct MemoryStore {
    state: Mutex<State>,
    /// When set, every call fails as the database would when it is down.
    down: std::sync::atomic::AtomicBool,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Inserts a task as a create would (pending, runnable now).
    pub fn insert(&self, task: NewTask) -> Task {
        let task = task.into_pending_task();
        let mut state = self.lock();
        let row = state.row(task.clone(), None);
        state.tasks.insert(task.id, row);
        task
    }

    /// A task as it is now.
    pub fn task(&self, id: TaskId) -> Option<Task> {
        self.lock().tasks.get(&id).map(|row| row.task.clone())
    }

    /// Whether the task is marked as submitting.
    pub fn is_submitting(&self, id: TaskId) -> bool {
        self.lock().tasks.get(&id).is_some_and(|row| row.submitting)
    }

    /// Makes every call fail (or answer again) as a database that went away would.
    pub fn set_down(&self, down: bool) {
        self.down.store(down, std::sync::atomic::Ordering::SeqCst);
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn state(&self) -> Result<MutexGuard<'_, State>> {
        if self.down.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(CoreError::Storage("the in-memory store is down".into()));
        }
        Ok(self.lock())
    }

    /// Runs `change` on the task when `lease` holds it; false otherwise.
    fn leased(&self, id: TaskId, lease: &LeaseToken, change: impl FnOnce(&mut Row)) -> Result<bool> {
        let mut state = self.state()?;
        match state.tasks.get_mut(&id) {
            Some(row) if row.lease.as_ref() == Some(lease) => {
                change(row);
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}

/// Gives the lease up; every change that does so is a new version of the task.
fn release_lease(row: &mut Row) {
    row.lease = None;
    row.lease_until = 0;
    row.task.version += 1;
}

fn with_tags(state: &State, mut asset: Asset) -> Asset {
    asset.tags = state.tags.get(&asset.id).cloned().unwrap_or_default();
    asset
}

#[async_trait]
impl TaskStore for MemoryStore {
    async fn create_task(&self, task: NewTask) -> Result<Created> {
        let mut state = self.state()?;
        if let Some(key) = &task.idempotency_key
            && let Some(existing) = state.tasks.values().find(|row| row.task.idempotency_key.as_ref() == Some(key))
        {
            if existing.request_hash != task.request_hash {
                return Err(CoreError::Conflict {
                    code: "idempotency_key_reused",
                    message: "the idempotency key was used with another request".into(),
                });
            }
            return Ok(Created::Existing(existing.task.clone()));
        }
        // The limits, counted under the same lock as the insert (as the database
        // counts them in the insert's write).
        for limit in &task.limits {
            let used = state
                .tasks
                .values()
                .filter(|row| match &limit.count {
                    LimitCount::Created { service, model, since } => {
                        row.task.service == *service
                            && model.as_ref().is_none_or(|model| row.task.model == *model)
                            && row.task.created_at >= *since
                    }
                    LimitCount::Owner(which) => {
                        row.task.owner.is_some() && row.task.owner == task.owner && owner_counts(*which, &row.task)
                    }
                })
                .count() as u64;
            if used >= limit.limit {
                return Err(limit.refusal(used));
            }
        }
        let request_hash = task.request_hash.clone();
        let task = task.into_pending_task();
        let row = state.row(task.clone(), request_hash);
        state.tasks.insert(task.id, row);
        Ok(Created::New(task))
    }

    async fn find_task_by_key(&self, key: &str) -> Result<Option<(Task, Option<String>)>> {
        let state = self.state()?;
        Ok(state
            .tasks
            .values()
            .find(|row| row.task.idempotency_key.as_deref() == Some(key))
            .map(|row| (row.task.clone(), row.request_hash.clone())))
    }

    async fn get_task(&self, id: TaskId) -> Result<Option<Task>> {
        let state = self.state()?;
        Ok(state.tasks.get(&id).map(|row| {
            let mut task = row.task.clone();
            task.outputs = task.outputs.into_iter().map(|asset| with_tags(&state, asset)).collect();
            task
        }))
    }

    async fn list_tasks(&self, filter: &TaskFilter) -> Result<TaskPage> {
        let state = self.state()?;
        let limit = filter.limit.max(1) as usize;
        let mut tasks: Vec<Task> = state
            .tasks
            .values()
            .rev()
            .map(|row| &row.task)
            .filter(|task| filter.statuses.is_empty() || filter.statuses.contains(&task.status))
            .filter(|task| filter.service.as_ref().is_none_or(|service| &task.service == service))
            .filter(|task| filter.model.as_ref().is_none_or(|model| &task.model == model))
            .filter(|task| filter.created_after.is_none_or(|after| task.created_at >= after))
            .filter(|task| filter.created_before.is_none_or(|before| task.created_at < before))
            .filter(|task| filter.before_id.is_none_or(|before| task.id < before))
            .filter(|task| filter.owner.as_ref().is_none_or(|owner| task.owner.as_ref() == Some(owner)))
            .filter(|task| filter.prompt_id.as_ref().is_none_or(|prompt| task.prompt_id.as_ref() == Some(prompt)))
            .filter(|task| {
                filter.tag.as_ref().is_none_or(|tag| {
                    task.outputs.iter().any(|asset| state.tags.get(&asset.id).is_some_and(|tags| tags.contains(tag)))
                })
            })
            .take(limit + 1)
            .cloned()
            .collect();
        let next_cursor = (tasks.len() > limit).then(|| {
            tasks.truncate(limit);
            tasks.last().map(|task| task.id)
        });
        Ok(TaskPage { tasks, next_cursor: next_cursor.flatten() })
    }

    async fn cancel_task(&self, id: TaskId, now: Millis) -> Result<Option<Task>> {
        let mut state = self.state()?;
        let Some(row) = state.tasks.get_mut(&id) else { return Ok(None) };
        if !row.task.status.is_terminal() {
            row.task.status = TaskStatus::Cancelled;
            row.task.completed_at = Some(now);
            row.task.updated_at = now;
            release_lease(row);
        }
        Ok(Some(row.task.clone()))
    }

    async fn delete_task(&self, id: TaskId) -> Result<Option<Vec<Asset>>> {
        let mut state = self.state()?;
        state.input_copies.remove(&id);
        Ok(state.tasks.remove(&id).map(|row| row.task.outputs))
    }
}

#[async_trait]
impl QueueStore for MemoryStore {
    async fn claim(
        &self,
        pool: &str,
        worker_id: &str,
        limit: u32,
        now: Millis,
        lease_until: Millis,
    ) -> Result<Vec<Claimed>> {
        let _ = worker_id;
        let mut state = self.state()?;
        let mut runnable: Vec<&mut Row> = state
            .tasks
            .values_mut()
            .filter(|row| {
                row.task.pool == pool
                    && row.lease.is_none()
                    && matches!(row.task.status, TaskStatus::Pending | TaskStatus::Retrying | TaskStatus::Processing)
                    && row.task.run_after <= now
            })
            .collect();
        runnable.sort_by(|a, b| {
            b.task.priority.cmp(&a.task.priority).then(a.slot.cmp(&b.slot)).then(a.task.id.cmp(&b.task.id))
        });
        let lease = LeaseToken::new();
        let mut claims = Vec::new();
        let (mut latest, mut started) = (None, 0);
        for row in runnable.into_iter().take(limit as usize) {
            latest = latest.max(Some(row.slot));
            row.task.status = TaskStatus::Processing;
            if row.task.external_id.is_none() {
                row.task.attempts += 1;
            }
            row.task.started_at = row.task.started_at.or(Some(now));
            started += u64::from(row.task.external_id.is_none());
            row.task.updated_at = now;
            row.task.version += 1;
            row.lease = Some(lease.clone());
            row.lease_until = lease_until;
            claims.push(Claimed { task: row.task.clone(), lease: lease.clone() });
        }
        if let Some(latest) = latest {
            state.clock = state.clock.max(latest);
        }
        state.started += started;
        Ok(claims)
    }

    async fn heartbeat(&self, id: TaskId, lease: &LeaseToken, lease_until: Millis) -> Result<bool> {
        self.leased(id, lease, |row| row.lease_until = lease_until)
    }

    async fn set_progress(&self, id: TaskId, lease: &LeaseToken, progress: u8) -> Result<bool> {
        self.leased(id, lease, |row| {
            row.task.progress = progress;
            row.task.version += 1;
        })
    }

    async fn record_external_id(&self, id: TaskId, lease: &LeaseToken, external_id: &str) -> Result<bool> {
        self.leased(id, lease, |row| {
            row.task.external_id = Some(external_id.to_owned());
            row.submitting = false;
            row.task.version += 1;
        })
    }

    async fn mark_submitting(&self, id: TaskId, lease: &LeaseToken) -> Result<bool> {
        self.leased(id, lease, |row| row.submitting = true)
    }

    async fn submit_was_interrupted(&self, id: TaskId) -> Result<bool> {
        let state = self.state()?;
        Ok(state.tasks.get(&id).is_some_and(|row| row.submitting && row.task.external_id.is_none()))
    }

    async fn park(&self, id: TaskId, lease: &LeaseToken, progress: u8, run_after: Millis) -> Result<bool> {
        self.leased(id, lease, |row| {
            release_lease(row);
            row.task.progress = progress;
            row.task.run_after = run_after;
        })
    }

    async fn complete(&self, id: TaskId, lease: &LeaseToken, outputs: Vec<NewAsset>, now: Millis) -> Result<bool> {
        let completed = self.leased(id, lease, |row| {
            release_lease(row);
            row.submitting = false;
            row.task.status = TaskStatus::Completed;
            row.task.progress = 100;
            row.task.error = None;
            row.task.completed_at = Some(now);
            row.task.updated_at = now;
            row.task.outputs = outputs;
        })?;
        if completed {
            for row in self.state()?.tasks.values_mut() {
                if row.task.after == Some(id) && row.task.status == TaskStatus::Pending {
                    row.task.run_after = now;
                }
            }
        }
        Ok(completed)
    }

    async fn fail(&self, id: TaskId, lease: &LeaseToken, error: &TaskError, now: Millis) -> Result<bool> {
        self.leased(id, lease, |row| {
            release_lease(row);
            row.task.status = TaskStatus::Failed;
            row.task.error = Some(error.clone());
            row.task.completed_at = Some(now);
            row.task.updated_at = now;
        })
    }

    async fn schedule_retry(
        &self,
        id: TaskId,
        lease: &LeaseToken,
        error: &TaskError,
        run_after: Millis,
    ) -> Result<bool> {
        self.leased(id, lease, |row| {
            release_lease(row);
            row.submitting = false;
            row.task.external_id = None;
            row.task.status = TaskStatus::Retrying;
            row.task.error = Some(TaskError { retryable: true, ..error.clone() });
            row.task.run_after = run_after;
        })
    }

    async fn poll_now(&self, service: &str, external_id: &str, now: Millis) -> Result<Option<TaskId>> {
        let mut state = self.state()?;
        let waiting = state.tasks.values_mut().find(|row| {
            row.task.service == service
                && row.task.external_id.as_deref() == Some(external_id)
                && row.task.status == TaskStatus::Processing
                && row.lease.is_none()
        });
        Ok(waiting.map(|row| {
            row.task.run_after = now;
            row.task.id
        }))
    }

    async fn release(&self, id: TaskId, lease: &LeaseToken, run_after: Millis) -> Result<bool> {
        self.leased(id, lease, |row| {
            release_lease(row);
            if row.task.external_id.is_none() {
                row.task.status = TaskStatus::Pending;
                row.task.attempts = row.task.attempts.saturating_sub(1);
            }
            row.task.run_after = run_after;
        })
    }

    async fn wait_for_storage(
        &self,
        id: TaskId,
        lease: &LeaseToken,
        error: &TaskError,
        run_after: Millis,
    ) -> Result<bool> {
        self.leased(id, lease, |row| {
            release_lease(row);
            row.submitting = false;
            if row.task.external_id.is_none() {
                row.task.status = TaskStatus::Retrying;
                row.task.attempts = row.task.attempts.saturating_sub(1);
            }
            row.task.error = Some(TaskError { retryable: true, ..error.clone() });
            row.task.run_after = run_after;
        })
    }

    async fn wait_for_lost_submit(
        &self,
        id: TaskId,
        lease: &LeaseToken,
        note: &TaskError,
        run_after: Millis,
    ) -> Result<bool> {
        self.leased(id, lease, |row| {
            release_lease(row);
            row.task.status = TaskStatus::Processing;
            // A callback may have named the job meanwhile: then it is polled now.
            let named = row.task.external_id.is_some();
            row.task.error = (!named).then(|| note.clone());
            row.task.run_after = if named { 0 } else { run_after };
        })
    }

    async fn attach_lost_submit(&self, id: TaskId, service: &str, external_id: &str, now: Millis) -> Result<bool> {
        let mut state = self.state()?;
        let Some(row) = state.tasks.get_mut(&id) else { return Ok(false) };
        let lost = match row.task.status {
            TaskStatus::Failed => row
                .task
                .error
                .as_ref()
                .is_some_and(|error| matches!(error.code.as_str(), "submit_unknown" | "malformed_response")),
            TaskStatus::Processing => true,
            _ => false,
        };
        if !lost || !row.submitting || row.task.service != service || row.task.external_id.is_some() {
            return Ok(false);
        }
        row.task.status = TaskStatus::Processing;
        row.task.external_id = Some(external_id.to_owned());
        row.task.error = None;
        row.task.completed_at = None;
        row.task.run_after = now;
        row.task.version += 1;
        row.submitting = false;
        Ok(true)
    }

    async fn probe_write(&self) -> Result<()> {
        self.state().map(drop)
    }

    async fn free_space(&self) -> Option<u64> {
        None
    }

    async fn reclaim_expired(&self, now: Millis, max_crashes: u32) -> Result<ReclaimReport> {
        let mut state = self.state()?;
        let mut report = ReclaimReport::default();
        for row in state.tasks.values_mut().filter(|row| row.lease.is_some() && row.lease_until < now) {
            release_lease(row);
            row.task.crashes += 1;
            row.task.updated_at = now;
            if row.task.crashes >= max_crashes {
                row.task.status = TaskStatus::Failed;
                row.task.completed_at = Some(now);
                row.task.error = Some(TaskError {
                    code: "worker_crashed".into(),
                    message: "the worker running this task stopped responding too many times".into(),
                    retryable: false,
                });
                report.failed.push(row.task.id);
            } else {
                if row.task.external_id.is_none() {
                    row.task.status = TaskStatus::Pending;
                }
                row.task.run_after = now;
                report.requeued.push(row.task.id);
            }
        }
        Ok(report)
    }

    async fn expire_pending(&self, now: Millis) -> Result<Vec<TaskId>> {
        let mut state = self.state()?;
        let mut expired = Vec::new();
        for row in state.tasks.values_mut() {
            if row.task.status == TaskStatus::Pending
                && row.lease.is_none()
                && row.task.expires_at.is_some_and(|at| at < now)
            {
                row.task.status = TaskStatus::Expired;
                row.task.completed_at = Some(now);
                row.task.version += 1;
                expired.push(row.task.id);
            }
        }
        Ok(expired)
    }

    async fn settle_waiting(&self, now: Millis) -> Result<WaitingReport> {
        let mut state = self.state()?;
        let parents: HashMap<TaskId, TaskStatus> =
            state.tasks.values().map(|row| (row.task.id, row.task.status)).collect();
        let mut report = WaitingReport::default();
        for row in state.tasks.values_mut() {
            let Some(parent) = row.task.after else { continue };
            if row.task.status != TaskStatus::Pending || row.task.run_after != crate::task::WAITING_FOR_PARENT {
                continue;
            }
            match parents.get(&parent) {
                Some(TaskStatus::Completed) => {
                    row.task.run_after = now;
                    report.released.push(row.task.id);
                }
                Some(status) if !status.is_terminal() => {}
                _ => {
                    row.task.status = TaskStatus::Failed;
                    row.task.error = Some(upstream_failed());
                    row.task.completed_at = Some(now);
                    row.task.version += 1;
                    report.failed.push(row.task.id);
                }
            }
        }
        Ok(report)
    }
}

/// The error of a task whose parent ended without an output.
fn upstream_failed() -> TaskError {
    TaskError {
        code: "upstream_failed".into(),
        message: "the task this one takes its input from ended without an output".into(),
        retryable: false,
    }
}

#[async_trait]
impl AssetIndex for MemoryStore {
    async fn get_asset(&self, id: &AssetId) -> Result<Option<Asset>> {
        let state = self.state()?;
        let found = state.tasks.values().flat_map(|row| &row.task.outputs).find(|asset| &asset.id == id).cloned();
        Ok(found.map(|asset| with_tags(&state, asset)))
    }

    async fn list_assets(&self, filter: &AssetFilter) -> Result<AssetPage> {
        let state = self.state()?;
        let limit = filter.limit.max(1) as usize;
        let mut assets: Vec<Asset> = state
            .tasks
            .values()
            .filter(|row| row.task.status == TaskStatus::Completed)
            .filter(|row| filter.service.as_ref().is_none_or(|service| &row.task.service == service))
            .filter(|row| filter.model.as_ref().is_none_or(|model| &row.task.model == model))
            .flat_map(|row| row.task.outputs.iter().cloned())
            .map(|asset| with_tags(&state, asset))
            .filter(|asset| filter.tag.as_ref().is_none_or(|tag| asset.tags.contains(tag)))
            .filter(|asset| filter.kind.is_none_or(|kind| kind.matches(&asset.mime)))
            .filter(|asset| filter.owner.as_ref().is_none_or(|owner| asset.owner.as_ref() == Some(owner)))
            .filter(|asset| filter.created_after.is_none_or(|after| asset.created_at >= after))
            .filter(|asset| filter.created_before.is_none_or(|before| asset.created_at < before))
            .filter(|asset| filter.before_id.as_ref().is_none_or(|before| &asset.id < before))
            .collect();
        assets.sort_by(|a, b| b.id.cmp(&a.id));
        let next_cursor = (assets.len() > limit).then(|| {
            assets.truncate(limit);
            assets.last().map(|asset| asset.id.clone())
        });
        Ok(AssetPage { assets, next_cursor: next_cursor.flatten() })
    }

    async fn delete_asset(&self, id: &AssetId) -> Result<Option<Asset>> {
        let mut state = self.state()?;
        for row in state.tasks.values_mut() {
            if let Some(index) = row.task.outputs.iter().position(|asset| &asset.id == id) {
                return Ok(Some(row.task.outputs.remove(index)));
            }
        }
        Ok(None)
    }

    async fn count_blob_refs(&self, blob_key: &str) -> Result<u64> {
        let state = self.state()?;
        let assets = state.tasks.values().flat_map(|row| &row.task.outputs).filter(|asset| asset.blob_key == blob_key);
        let uploads = state.uploads.values().filter(|upload| upload.blob_key == blob_key);
        Ok((assets.count() + uploads.count()) as u64)
    }

    async fn add_tag(&self, id: &AssetId, tag: &str, _now: Millis) -> Result<bool> {
        let mut state = self.state()?;
        let tags = state.tags.entry(id.clone()).or_default();
        if tags.iter().any(|t| t == tag) {
            return Ok(false);
        }
        tags.push(tag.to_owned());
        tags.sort();
        Ok(true)
    }

    async fn remove_tag(&self, id: &AssetId, tag: &str) -> Result<bool> {
        let mut state = self.state()?;
        let Some(tags) = state.tags.get_mut(id) else { return Ok(false) };
        let before = tags.len();
        tags.retain(|t| t != tag);
        Ok(tags.len() < before)
    }
}

#[async_trait]
impl UploadStore for MemoryStore {
    async fn create_upload(&self, upload: &Upload) -> Result<()> {
        self.state()?.uploads.insert(upload.id.clone(), upload.clone());
        Ok(())
    }

    async fn get_upload(&self, id: &UploadId) -> Result<Option<Upload>> {
        Ok(self.state()?.uploads.get(id).cloned())
    }

    async fn delete_upload(&self, id: &UploadId) -> Result<Option<Upload>> {
        Ok(self.state()?.uploads.remove(id))
    }

    async fn provider_upload(&self, service: &str, key: &str, fresh_at: Millis) -> Result<Option<ProviderUpload>> {
        let state = self.state()?;
        let found = state.provider_uploads.get(&(service.to_owned(), key.to_owned()));
        Ok(found.filter(|upload| upload.expires_at > fresh_at).cloned())
    }

    async fn remember_provider_upload(
        &self,
        service: &str,
        key: &str,
        upload: &ProviderUpload,
        _now: Millis,
    ) -> Result<()> {
        self.state()?.provider_uploads.insert((service.to_owned(), key.to_owned()), upload.clone());
        Ok(())
    }

    async fn provider_copies(&self, key: &str) -> Result<Vec<(String, ProviderUpload)>> {
        let state = self.state()?;
        let mut copies: Vec<(String, ProviderUpload)> = state
            .provider_uploads
            .iter()
            .filter(|((_, file_key), _)| file_key == key)
            .map(|((service, _), upload)| (service.clone(), upload.clone()))
            .collect();
        copies.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(copies)
    }

    async fn record_input_copy(&self, task: &TaskId, copy: &InputCopy, _now: Millis) -> Result<()> {
        let mut state = self.state()?;
        if state.tasks.contains_key(task) {
            state.input_copies.entry(*task).or_default().insert(copy.position, copy.clone());
        }
        Ok(())
    }

    async fn input_copies(&self, tasks: &[TaskId]) -> Result<Vec<(TaskId, InputCopy)>> {
        let state = self.state()?;
        Ok(tasks
            .iter()
            .flat_map(|task| {
                state
                    .input_copies
                    .get(task)
                    .into_iter()
                    .flat_map(|copies| copies.values().map(|copy| (*task, copy.clone())))
            })
            .collect())
    }
}

#[async_trait]
impl UsageCounts for MemoryStore {
    async fn count_queued(&self) -> Result<u64> {
        let state = self.state()?;
        Ok(state
            .tasks
            .values()
            .filter(|row| matches!(row.task.status, TaskStatus::Pending | TaskStatus::Retrying))
            .count() as u64)
    }

    async fn count_created_since(&self, service: &str, model: Option<&str>, since: Millis) -> Result<u64> {
        let state = self.state()?;
        let matching = state.tasks.values().filter(|row| {
            row.task.service == service
                && model.is_none_or(|model| row.task.model == model)
                && row.task.created_at >= since
        });
        Ok(matching.count() as u64)
    }

    async fn count_owner_tasks(&self, owner: &UserId, which: OwnerCount) -> Result<u64> {
        let state = self.state()?;
        let matching =
            state.tasks.values().filter(|row| row.task.owner.as_ref() == Some(owner) && owner_counts(which, &row.task));
        Ok(matching.count() as u64)
    }

    async fn count_started(&self) -> Result<u64> {
        Ok(self.state()?.started)
    }

    async fn count_in_flight(&self, service: &str) -> Result<u64> {
        Ok(self.in_flight_by_service().await?.get(service).copied().unwrap_or(0))
    }

    async fn in_flight_by_service(&self) -> Result<BTreeMap<String, u64>> {
        let state = self.state()?;
        let mut counts = BTreeMap::new();
        for row in state.tasks.values() {
            if row.task.status == TaskStatus::Processing && (row.task.external_id.is_some() || row.submitting) {
                *counts.entry(row.task.service.clone()).or_insert(0) += 1;
            }
        }
        Ok(counts)
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn ping(&self) -> Result<()> {
        self.state().map(drop)
    }

    fn backend(&self) -> &'static str {
        "memory"
    }
}

/// Whether `which` of its owner's counts counts `task`.
fn owner_counts(which: OwnerCount, task: &Task) -> bool {
    match which {
        OwnerCount::Queued => matches!(task.status, TaskStatus::Pending | TaskStatus::Retrying),
        OwnerCount::Active => {
            matches!(task.status, TaskStatus::Pending | TaskStatus::Retrying | TaskStatus::Processing)
        }
        OwnerCount::CreatedSince(since) => task.created_at >= since,
    }
}
