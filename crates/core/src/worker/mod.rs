//! The worker: claims runnable tasks under a lease, runs them through their
//! provider, stores outputs, and finishes each task only while its lease holds.
//!
//! A worker process may die at any moment. Nothing is lost: an expired lease is
//! reclaimed by any worker's sweep, a task that crashed its workers too often is set
//! aside as failed, and a remote task whose external id was recorded is polled again,
//! never submitted again.

mod admit;
mod call;
mod remote;
mod run;
mod settle;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

pub use remote::RemoteReport;

use crate::backoff::Backoff;
use crate::catalog::Catalog;
use crate::circuit::Circuits;
use crate::events::{EventBus, TaskEvent};
use crate::ports::{AssetStore, InputFiles, RateLimits, WorkerStore};
use crate::ratelimit::RateLimiter;
use crate::storage::{StorageSettings, StorageWatch};
use crate::task::TaskStatus;
use crate::time::now_millis;

#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// Tasks run at once by this process.
    pub concurrency: usize,
    /// How long a claim holds without a heartbeat.
    pub lease: Duration,
    /// How often an idle worker looks for work when no notice wakes it.
    pub idle_poll: Duration,
    /// Backoff between attempts after a retryable error.
    pub backoff: Backoff,
    /// A task whose workers died this many times is failed.
    pub max_crashes: u32,
    /// How long a remote task may run before it is failed as `poll_timeout`, unless
    /// its model says otherwise (`ModelSpec::poll_timeout_secs`)…
    pub poll_timeout: Duration,
    /// …or this map does, by `service/model` (the config's `providers.poll_timeouts`).
    pub poll_timeouts: HashMap<String, Duration>,
    /// At most this many tasks of a service open at the provider at once (submitted,
    /// not ended), by service; more wait in the queue.
    pub max_in_flight: HashMap<String, u32>,
    /// How long a draining worker waits for running tasks before it gives their
    /// leases back.
    pub drain_timeout: Duration,
    /// How Atelier's own storage is watched after a write fails.
    pub storage: StorageSettings,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        Self {
            concurrency: 4,
            lease: Duration::from_secs(30),
            idle_poll: Duration::from_secs(1),
            backoff: Backoff::default(),
            max_crashes: 3,
            poll_timeout: Duration::from_secs(300),
            poll_timeouts: HashMap::new(),
            max_in_flight: HashMap::new(),
            drain_timeout: Duration::from_secs(10),
            storage: StorageSettings::default(),
        }
    }
}

/// Everything a worker needs; cheap to clone into each task run.
#[derive(Clone)]
pub struct Worker {
    pub(crate) id: Arc<str>,
    pub(crate) queue: Arc<dyn WorkerStore>,
    pub(crate) assets: Arc<dyn AssetStore>,
    pub(crate) catalog: Arc<Catalog>,
    pub(crate) events: EventBus,
    pub(crate) settings: Arc<WorkerSettings>,
    pub(crate) circuits: Arc<Circuits>,
    /// Providers' submit rate limits (`Provider::submit_rate_limit`), by service: in
    /// this process unless [`Worker::with_submit_limits`] shares them.
    pub(crate) submit_limits: Arc<dyn RateLimits>,
    pub(crate) files: Arc<dyn InputFiles>,
    /// Atelier's own storage: claims pause while it is down.
    pub(crate) storage: StorageWatch,
    /// One gate per service with a concurrency limit (see `run.rs`).
    pub(crate) in_flight_gates: Arc<std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>,
}

impl Worker {
    pub fn new(
        queue: Arc<dyn WorkerStore>,
        assets: Arc<dyn AssetStore>,
        catalog: Arc<Catalog>,
        events: EventBus,
        settings: WorkerSettings,
        circuits: Arc<Circuits>,
        files: Arc<dyn InputFiles>,
    ) -> Self {
        let id = format!("{}-{}", std::process::id(), uuid::Uuid::new_v4().simple());
        let mut settings = settings;
        // Timeouts written with a former name or a seed 003 constant still hold.
        settings.poll_timeouts = std::mem::take(&mut settings.poll_timeouts)
            .into_iter()
            .map(|(model, timeout)| (catalog.canonical_key(&model), timeout))
            .collect();
        let submit_limits: Arc<dyn RateLimits> = Arc::new(RateLimiter::default());
        let storage = StorageWatch::new(queue.clone(), assets.clone(), events.clone(), settings.storage);
        Self {
            id: id.into(),
            storage,
            queue,
            assets,
            catalog,
            events,
            settings: Arc::new(settings),
            circuits,
            submit_limits,
            files,
            in_flight_gates: Arc::default(),
        }
    }

    /// Counts the providers' submit rate limits in `limits` (the database's, so that
    /// a limit holds across every worker process) instead of this process alone.
    #[must_use]
    pub fn with_submit_limits(mut self, limits: Arc<dyn RateLimits>) -> Self {
        self.submit_limits = limits;
        self
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// This worker's view of storage (shown by the health answer).
    pub fn storage(&self) -> &StorageWatch {
        &self.storage
    }

    pub(crate) fn in_flight_gate(&self, service: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut gates = self.in_flight_gates.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        gates.entry(service.to_owned()).or_default().clone()
    }

    /// How long a task of `service/model` may wait on its provider.
    pub fn poll_timeout_for(&self, service: &str, model: &str) -> Duration {
        let id = format!("{service}/{model}");
        if let Some(timeout) = self.settings.poll_timeouts.get(&id) {
            return *timeout;
        }
        self.catalog
            .models()
            .iter()
            .find(|spec| spec.service == service && spec.model == model)
            .and_then(|spec| spec.poll_timeout_secs)
            .map_or(self.settings.poll_timeout, Duration::from_secs)
    }

    /// Runs until `shutdown` turns true, then drains: no new claims, running tasks get
    /// `drain_timeout` to finish, and the leases of the rest are given back.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let permits = Arc::new(Semaphore::new(self.settings.concurrency.max(1)));
        let (hard_stop_tx, hard_stop_rx) = watch::channel(false);
        let mut running = JoinSet::new();
        let mut sweep = tokio::time::interval(self.sweep_every());
        sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tracing::info!(worker.id = %self.id, concurrency = self.settings.concurrency, "worker started");

        // Claim in batches: with tasks running, wait until a quarter of the slots are
        // free, so that a busy worker makes one claim per several tasks, not one each.
        let batch = (self.settings.concurrency / 4).max(1);
        while !*shutdown.borrow() {
            if self.storage.is_down() {
                // Nothing is claimed while storage is down: a result could not be
                // stored. The probe wakes this loop when a write holds again.
                tokio::select! {
                    () = self.storage.wait_up() => {}
                    Some(_) = running.join_next(), if !running.is_empty() => {}
                    _ = shutdown.changed() => {}
                    _ = sweep.tick() => self.sweep().await,
                }
                continue;
            }
            let free = permits.available_permits();
            let mut claimed_all_asked = false;
            if free >= batch || (free > 0 && running.is_empty()) {
                let now = now_millis();
                let lease_until = now + millis(self.settings.lease);
                match self.queue.claim("", &self.id, free as u32, now, lease_until).await {
                    Ok(claims) => {
                        claimed_all_asked = !claims.is_empty() && claims.len() == free;
                        for claimed in claims {
                            let Ok(permit) = permits.clone().acquire_owned().await else { break };
                            self.events.publish(TaskEvent { task_id: claimed.task.id, status: TaskStatus::Processing });
                            let worker = self.clone();
                            let hard_stop = hard_stop_rx.clone();
                            running.spawn(async move {
                                worker.run_claimed(claimed, hard_stop).await;
                                drop(permit);
                            });
                        }
                    }
                    Err(error) => {
                        tracing::warn!(%error, "claiming tasks failed; trying again shortly");
                        self.storage.report(&error);
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    }
                }
            }
            if claimed_all_asked && permits.available_permits() > 0 {
                continue;
            }
            tokio::select! {
                () = self.events.work_arrived() => {}
                () = tokio::time::sleep(self.settings.idle_poll) => {}
                Some(_) = running.join_next(), if !running.is_empty() => {}
                _ = shutdown.changed() => {}
                _ = sweep.tick() => self.sweep().await,
            }
        }

        tracing::info!(worker.id = %self.id, running = running.len(), "worker draining");
        let drained =
            tokio::time::timeout(self.settings.drain_timeout, async { while running.join_next().await.is_some() {} })
                .await;
        if drained.is_err() {
            let _ = hard_stop_tx.send(true);
            while running.join_next().await.is_some() {}
        }
        tracing::info!(worker.id = %self.id, "worker stopped");
    }

    /// How often [`Worker::sweep`] runs: every half lease, so an expired lease is
    /// found within one and a half leases.
    pub fn sweep_every(&self) -> Duration {
        (self.settings.lease / 2).max(Duration::from_millis(200))
    }

    /// Reclaims expired leases and expires stale pending tasks.
    pub async fn sweep(&self) {
        let now = now_millis();
        match self.queue.reclaim_expired(now, self.settings.max_crashes).await {
            Ok(report) => {
                crate::meters::tasks_swept("requeued", report.requeued.len());
                crate::meters::tasks_swept("crashed", report.failed.len());
                for id in &report.requeued {
                    tracing::warn!(task.id = %id, "lease expired; task requeued");
                    self.events.publish(TaskEvent { task_id: *id, status: TaskStatus::Pending });
                }
                for id in &report.failed {
                    tracing::error!(task.id = %id, "task crashed its workers too often; failed");
                    self.events.publish(TaskEvent { task_id: *id, status: TaskStatus::Failed });
                }
            }
            Err(error) => tracing::warn!(%error, "reclaiming expired leases failed"),
        }
        match self.queue.expire_pending(now).await {
            Ok(expired) => {
                crate::meters::tasks_swept("expired", expired.len());
                for id in expired {
                    self.events.publish(TaskEvent { task_id: id, status: TaskStatus::Expired });
                }
            }
            Err(error) => tracing::warn!(%error, "expiring pending tasks failed"),
        }
        match self.queue.settle_waiting(now).await {
            Ok(report) => {
                for id in report.released {
                    self.events.publish(TaskEvent { task_id: id, status: TaskStatus::Pending });
                }
                crate::meters::tasks_swept("dependency_failed", report.failed.len());
                for id in report.failed {
                    self.events.publish(TaskEvent { task_id: id, status: TaskStatus::Failed });
                }
            }
            Err(error) => tracing::warn!(%error, "settling tasks that wait for another failed"),
        }
    }
}

pub(crate) fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}
