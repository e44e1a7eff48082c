//! The pull protocol's operations: worker keys (admins), and a remote worker's
//! claim, heartbeat, input files, completion, failure and release.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{broadcast, watch};

use super::{WorkerKey, new_worker_key, worker_key_prefix};
use crate::account::Principal;
use crate::account::secrets::{same_hash, token_hash};
use crate::error::{CoreError, Result};
use crate::events::TaskEvent;
use crate::ids::TaskId;
use crate::ports::{Claimed, InputFile, InputRef, LeaseToken, ProviderError, Store, WorkerKeyStore};
use crate::task::{Task, TaskService, TaskStatus};
use crate::time::{Millis, now_millis};
use crate::worker::{RemoteReport, Worker};

#[derive(Debug, Clone)]
pub struct PullSettings {
    /// The longest a claim waits for work before it answers with none.
    pub max_wait: Duration,
    /// A model has a worker while one serving it asked for work this recently.
    pub seen_within: Duration,
    /// The most a worker may upload as one task's outputs.
    pub max_output_bytes: u64,
    /// At most this many tasks handed out per claim.
    pub max_claim: u32,
    /// The longest a task may run from its first claim (see [`PullService::heartbeat`]).
    pub max_run: Duration,
}

impl Default for PullSettings {
    fn default() -> Self {
        Self {
            max_wait: Duration::from_secs(30),
            seen_within: Duration::from_secs(90),
            max_output_bytes: 512 * 1024 * 1024,
            max_claim: 8,
            max_run: Duration::from_secs(1800),
        }
    }
}

/// Whether a model has remote workers now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerAvailability {
    /// Keys serving it that asked for work within `seen_within`.
    pub seen: u32,
    /// Keys serving it at all (not revoked).
    pub keys: u32,
    /// The latest time one of them asked for work.
    pub last_seen_at: Option<Millis>,
}

/// One of a task's input files, as a remote worker fetches it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputFileRef {
    /// Its place among the input's file references.
    pub position: usize,
    /// The reference as the input writes it (a data URI shortened).
    pub reference: String,
}

pub struct PullService {
    keys: Arc<dyn WorkerKeyStore>,
    store: Arc<dyn Store>,
    tasks: Arc<TaskService>,
    worker: Worker,
    settings: PullSettings,
}

impl PullService {
    pub fn new(
        keys: Arc<dyn WorkerKeyStore>,
        store: Arc<dyn Store>,
        tasks: Arc<TaskService>,
        worker: Worker,
        settings: PullSettings,
    ) -> Self {
        Self { keys, store, tasks, worker, settings }
    }

    pub fn settings(&self) -> &PullSettings {
        &self.settings
    }

    /// How long a claim holds without a heartbeat.
    pub fn lease(&self) -> Duration {
        self.worker.lease()
    }

    // ---- worker keys (admins) ----

    /// Makes a worker key for `models` (each must be one remote workers serve);
    /// returns it and its secret, shown once.
    pub async fn create_key(&self, caller: &Principal, name: &str, models: &[String]) -> Result<(WorkerKey, String)> {
        require_admin(caller)?;
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(CoreError::invalid("name", "name the worker (1 to 100 characters)"));
        }
        if models.is_empty() {
            return Err(CoreError::invalid("models", "name at least one model the worker serves"));
        }
        let mut canonical = Vec::with_capacity(models.len());
        for model in models {
            let resolved = self.tasks.catalog().resolve(model).map_err(|error| match error {
                CoreError::NotFound { .. } => CoreError::invalid("models", format!("no model {model:?}")),
                other => other,
            })?;
            let id = resolved.spec.id();
            if self.tasks.pool_of(&resolved).is_empty() {
                return Err(CoreError::invalid(
                    "models",
                    format!("{id} is run by this server's own workers; list it in [pull] models to serve it remotely"),
                ));
            }
            if !canonical.contains(&id) {
                canonical.push(id);
            }
        }
        let (secret, prefix) = new_worker_key();
        let key = WorkerKey {
            id: format!("wk_{}", uuid::Uuid::now_v7().simple()),
            name: name.to_owned(),
            prefix,
            secret_hash: token_hash(&secret),
            models: canonical,
            created_at: now_millis(),
            revoked_at: None,
            last_seen_at: None,
        };
        self.keys.create_worker_key(&key).await?;
        Ok((key, secret))
    }

    pub async fn list_keys(&self, caller: &Principal) -> Result<Vec<WorkerKey>> {
        require_admin(caller)?;
        self.keys.list_worker_keys().await
    }

    pub async fn revoke_key(&self, caller: &Principal, id: &str) -> Result<()> {
        require_admin(caller)?;
        if self.keys.revoke_worker_key(id, now_millis()).await? {
            Ok(())
        } else {
            Err(CoreError::NotFound { what: "worker key" })
        }
    }

    /// Whether remote workers serve `model` (`service/model`, canonical) now.
    pub async fn availability(&self, model: &str) -> Result<WorkerAvailability> {
        let since = now_millis() - crate::worker::millis(self.settings.seen_within);
        let keys = self.keys.list_worker_keys().await?;
        let serving: Vec<&WorkerKey> = keys.iter().filter(|key| key.serves(model)).collect();
        Ok(WorkerAvailability {
            seen: serving.iter().filter(|key| key.last_seen_at.is_some_and(|at| at >= since)).count() as u32,
            keys: serving.len() as u32,
            last_seen_at: serving.iter().filter_map(|key| key.last_seen_at).max(),
        })
    }

    // ---- a remote worker's calls ----

    /// The worker key a request carries.
    pub async fn authenticate(&self, secret: &str) -> Result<WorkerKey> {
        let refused =
            || CoreError::Unauthenticated { code: "unauthorized", message: "unknown or revoked worker key".into() };
        let prefix = worker_key_prefix(secret).ok_or_else(refused)?;
        let key = self.keys.find_worker_key(prefix).await?.ok_or_else(refused)?;
        if key.revoked_at.is_some() || !same_hash(&key.secret_hash, &token_hash(secret)) {
            return Err(refused());
        }
        Ok(key)
    }

    /// Claims up to `limit` tasks of the models the worker asks for (all it serves
    /// when it names none), waiting up to `wait` for one to arrive. An empty answer
    /// after the wait is normal: the worker asks again.
    pub async fn claim(
        &self,
        key: &WorkerKey,
        instance: &str,
        models: &[String],
        limit: u32,
        wait: Duration,
        mut stop: watch::Receiver<bool>,
    ) -> Result<Vec<Claimed>> {
        let pools = self.pools(key, models)?;
        let limit = limit.clamp(1, self.settings.max_claim);
        let worker_id = format!("remote:{}:{}", key.name, instance.chars().take(64).collect::<String>());
        let deadline = tokio::time::Instant::now() + wait.min(self.settings.max_wait);
        let mut notices = self.tasks.events().subscribe();
        // Once per claim: a waiting claim ends within `max_wait`, which is shorter
        // than `seen_within`, so the worker stays seen while it waits.
        self.keys.touch_worker_key(&key.id, now_millis()).await?;
        loop {
            let claimed = self.claim_now(&pools, &worker_id, limit).await?;
            if !claimed.is_empty() || tokio::time::Instant::now() >= deadline || *stop.borrow() {
                return Ok(claimed);
            }
            // Look again when a task may have become due, at least every second
            // (retries and released chains come due with no notice here), until
            // the deadline or the server stopping.
            let tick = tokio::time::sleep(Duration::from_secs(1));
            tokio::select! {
                () = work_notice(&mut notices) => {}
                () = tick => {}
                () = tokio::time::sleep_until(deadline) => {}
                _ = stop.changed() => {}
            }
        }
    }

    async fn claim_now(&self, pools: &[String], worker_id: &str, limit: u32) -> Result<Vec<Claimed>> {
        let mut claimed = Vec::new();
        for pool in pools {
            let service = pool.split('/').next().unwrap_or_default();
            if !self.worker.circuit_allows(service) {
                continue;
            }
            let left = limit - claimed.len() as u32;
            if left == 0 {
                break;
            }
            let now = now_millis();
            let until = now + crate::worker::millis(self.worker.lease());
            let batch = self.store.claim(pool, worker_id, left, now, until).await?;
            for item in &batch {
                self.tasks.events().publish(TaskEvent { task_id: item.task.id, status: TaskStatus::Processing });
            }
            claimed.extend(batch);
        }
        Ok(claimed)
    }

    /// The pools a claim walks: the models asked for (canonical), each one the key serves.
    fn pools(&self, key: &WorkerKey, models: &[String]) -> Result<Vec<String>> {
        if models.is_empty() {
            return Ok(key.models.clone());
        }
        let mut pools = Vec::with_capacity(models.len());
        for model in models {
            let id = self.tasks.catalog().canonical_key(model);
            if !key.serves(&id) {
                return Err(CoreError::Forbidden { message: format!("this worker key does not serve {model}") });
            }
            if !pools.contains(&id) {
                pools.push(id);
            }
        }
        Ok(pools)
    }

    /// A task this key's worker may act on: one of the models it serves (another
    /// task does not exist, as far as it can tell).
    pub async fn task(&self, key: &WorkerKey, id: TaskId) -> Result<Task> {
        let task = self.store.get_task(id).await?.ok_or(CoreError::NotFound { what: "task" })?;
        if task.pool.is_empty() || !key.serves(&task.pool) {
            return Err(CoreError::NotFound { what: "task" });
        }
        Ok(task)
    }

    /// Renews the lease (and stores progress, 0 to 100); returns until when it
    /// holds. `lease_lost` when it no longer does: stop working on the task. A task
    /// past `max_run` from its first claim fails as timed out instead (its worker
    /// hangs, or its engine never ends), and the answer is `run_timed_out`.
    pub async fn heartbeat(
        &self,
        key: &WorkerKey,
        id: TaskId,
        lease: &LeaseToken,
        progress: Option<u8>,
    ) -> Result<Millis> {
        let task = self.task(key, id).await?;
        let limit = crate::worker::millis(self.settings.max_run);
        if task.started_at.is_some_and(|started| now_millis() - started > limit) {
            let error = ProviderError::new(
                crate::ports::ErrorClass::PollTimeout,
                format!(
                    "the worker ran past pull.max_run_secs ({} s) without finishing",
                    self.settings.max_run.as_secs()
                ),
            );
            if !self.worker.settle_remote(&task, lease, RemoteReport::Failed(error)).await {
                return Err(lease_lost(id));
            }
            return Err(CoreError::Conflict {
                code: "run_timed_out",
                message: format!(
                    "task {id} ran past pull.max_run_secs ({} s) and failed as timed out; stop working on it",
                    self.settings.max_run.as_secs()
                ),
            });
        }
        let now = now_millis();
        let until = now + crate::worker::millis(self.worker.lease());
        if !self.store.heartbeat(id, lease, until).await? {
            return Err(lease_lost(id));
        }
        // A worker busy on a long job is still a worker: its model stays served
        // (noted at most every few seconds, not at every heartbeat).
        if key.last_seen_at.is_none_or(|seen| now - seen > SEEN_NOTE_MILLIS) {
            self.keys.touch_worker_key(&key.id, now).await?;
        }
        if let Some(progress) = progress
            && self.store.set_progress(id, lease, progress.min(99)).await?
        {
            self.tasks.events().publish(TaskEvent { task_id: id, status: TaskStatus::Processing });
        }
        Ok(until)
    }

    /// The input file references of a task the worker may act on, in order.
    pub fn inputs(&self, task: &Task) -> Result<Vec<InputFileRef>> {
        Ok(self
            .references(task)?
            .into_iter()
            .enumerate()
            .map(|(position, reference)| InputFileRef {
                position,
                reference: crate::ports::short_reference(&reference),
            })
            .collect())
    }

    fn references(&self, task: &Task) -> Result<Vec<String>> {
        let resolved = self.tasks.catalog().resolve(&task.model_ref())?;
        Ok(resolved.provider.input_files(&task.model, &task.input))
    }

    /// Opens input file `position` of a task the worker holds (the lease is checked
    /// and renewed).
    pub async fn open_input(
        &self,
        key: &WorkerKey,
        id: TaskId,
        lease: &LeaseToken,
        position: usize,
    ) -> Result<InputFile> {
        let task = self.task(key, id).await?;
        let until = now_millis() + crate::worker::millis(self.worker.lease());
        if !self.store.heartbeat(id, lease, until).await? {
            return Err(lease_lost(id));
        }
        let references = self.references(&task)?;
        let reference = references.get(position).ok_or(CoreError::NotFound { what: "input file" })?;
        let parsed = InputRef::parse(reference).map_err(|reason| CoreError::invalid("input", reason))?;
        self.worker.open_input(&parsed).await.map_err(|error| input_error(reference, &error))
    }

    /// Completes or fails a task the worker holds (one [`PullService::task`]
    /// returned), as its report says; returns the task as it is now.
    pub async fn report(&self, task: &Task, lease: &LeaseToken, report: RemoteReport) -> Result<Task> {
        if !self.worker.settle_remote(task, lease, report).await {
            return Err(lease_lost(task.id));
        }
        self.store.get_task(task.id).await?.ok_or(CoreError::NotFound { what: "task" })
    }

    /// Gives a task back untouched (a worker shutting down): runnable again now,
    /// no attempt counted.
    pub async fn release(&self, key: &WorkerKey, id: TaskId, lease: &LeaseToken) -> Result<()> {
        self.task(key, id).await?;
        if !self.store.release(id, lease, now_millis()).await? {
            return Err(lease_lost(id));
        }
        self.tasks.events().publish(TaskEvent { task_id: id, status: TaskStatus::Pending });
        Ok(())
    }
}

/// Resolves at a notice that may bring work: a task waiting or retrying, or one
/// completing (a chain's next task becomes due), or notices missed.
async fn work_notice(notices: &mut broadcast::Receiver<TaskEvent>) {
    loop {
        match notices.recv().await {
            Ok(event) if matches!(event.status, TaskStatus::Pending | TaskStatus::Retrying | TaskStatus::Completed) => {
                return;
            }
            Ok(_) => {}
            Err(broadcast::error::RecvError::Lagged(_)) => return,
            Err(broadcast::error::RecvError::Closed) => std::future::pending().await,
        }
    }
}

/// How stale a worker key's `last_seen_at` may be before a heartbeat renews it.
const SEEN_NOTE_MILLIS: Millis = 15_000;

fn lease_lost(id: TaskId) -> CoreError {
    CoreError::Conflict {
        code: "lease_lost",
        message: format!(
            "the lease on task {id} no longer holds (cancelled, or reclaimed after the worker went quiet); stop working on it"
        ),
    }
}

/// An input that cannot be opened: the input's fault, or a source not answering.
fn input_error(reference: &str, error: &ProviderError) -> CoreError {
    use crate::ports::ErrorClass;
    match error.class {
        ErrorClass::ClientError => CoreError::InvalidInput {
            message: error.message.clone(),
            details: serde_json::json!({ "field": "input", "reference": crate::ports::short_reference(reference) }),
        },
        _ => CoreError::Upstream(error.message.clone()),
    }
}

fn require_admin(caller: &Principal) -> Result<()> {
    if caller.is_admin() {
        Ok(())
    } else {
        Err(CoreError::Forbidden { message: "managing worker keys takes an admin".into() })
    }
}
