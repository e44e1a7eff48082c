//! From changes to delivery rows. Live: task notices from the `EventBus` (and
//! run events) become deliveries to the owner's subscriptions and the task's own
//! webhook. After a crash: a notice lives only in memory between a task's commit
//! and its delivery rows, so a sweep (at start and every `sweep_every`) reads the
//! tasks that ended since its durable cursor (by the index on `completed_at`) and
//! writes their final event's rows again. Every row has a unique dedupe key (the
//! task, the event, the endpoint), so what the live path wrote is not written
//! twice: terminal events are never lost, and each is one delivery per endpoint.
//! Created, started and progress are live only (a crash may drop them).

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::{Notify, broadcast};

use super::{Delivery, Destination, EventType};
use crate::error::Result;
use crate::events::{EventBus, TaskEvent};
use crate::ids::{TaskId, UserId};
use crate::pipeline::events::{RunEvent, RunEvents, timestamp};
use crate::ports::{PipelineStore, TaskStore, WebhookStore};
use crate::task::{Task, TaskStatus};
use crate::time::{Millis, now_millis};

/// How a task appears in a payload's `data` (the server's task view).
pub type TaskRenderer = Arc<dyn Fn(&Task) -> Value + Send + Sync>;

/// At most one `task.progress` per task in this time.
pub const PROGRESS_EVERY: Duration = Duration::from_secs(1);
/// The sweep reads again this far before its cursor: a task's end committed a
/// little after the time it carries is still seen.
const SWEEP_OVERLAP_MS: Millis = 60_000;
/// With no cursor yet (a new database), the sweep starts this far back.
const FIRST_SWEEP_MS: Millis = 3_600_000;
const SWEEP_PAGE: u32 = 500;
/// How long "no task has a webhook of its own" is believed before it is read again.
const TARGETS_EVERY: Duration = Duration::from_secs(1);

/// How long the set of subscribed owners is trusted before it is read again (a
/// subscription made through another instance shows here within this).
const OWNERS_EVERY: Duration = Duration::from_secs(1);

pub struct Relay {
    store: Arc<dyn WebhookStore>,
    tasks: Arc<dyn TaskStore>,
    runs: Option<Arc<dyn PipelineStore>>,
    render: TaskRenderer,
    /// Owners with an enabled subscription, and when that was read; `None` to read
    /// again. Read again at least every `OWNERS_EVERY`: another instance's new
    /// subscription is not announced here.
    owners: Mutex<Option<(Instant, Arc<HashSet<UserId>>)>>,
    /// Counts `subscriptions_changed`: a read that began before a change is not kept.
    owners_generation: std::sync::atomic::AtomicU64,
    /// Whether any task has its own webhook, and when that was read: a server
    /// where nobody uses webhooks reads nothing per event.
    targets: Mutex<Option<(Instant, bool)>>,
    /// When each task last had a progress event (and whether it started).
    live: Mutex<HashMap<TaskId, Option<Instant>>>,
    wake: Arc<Notify>,
}

impl Relay {
    pub fn new(
        store: Arc<dyn WebhookStore>,
        tasks: Arc<dyn TaskStore>,
        runs: Option<Arc<dyn PipelineStore>>,
        render: TaskRenderer,
    ) -> Self {
        Self {
            store,
            tasks,
            runs,
            render,
            owners: Mutex::new(None),
            owners_generation: std::sync::atomic::AtomicU64::new(0),
            targets: Mutex::new(None),
            live: Mutex::new(HashMap::new()),
            wake: Arc::new(Notify::new()),
        }
    }

    /// The dispatcher waits on this between rounds.
    pub fn wake(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    pub fn wake_dispatcher(&self) {
        self.wake.notify_one();
    }

    pub fn subscriptions_changed(&self) {
        let mut owners = self.owners.lock().unwrap_or_else(PoisonError::into_inner);
        self.owners_generation.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        *owners = None;
    }

    /// A task webhook was recorded here: look for targets from now on.
    pub fn task_target_added(&self) {
        *self.targets.lock().unwrap_or_else(PoisonError::into_inner) = Some((Instant::now(), true));
    }

    /// Whether any task has its own webhook, read again at most once a second.
    async fn any_targets(&self) -> Result<bool> {
        if let Some((at, any)) = *self.targets.lock().unwrap_or_else(PoisonError::into_inner)
            && (any || at.elapsed() < TARGETS_EVERY)
        {
            return Ok(any);
        }
        let any = self.store.any_task_targets().await?;
        *self.targets.lock().unwrap_or_else(PoisonError::into_inner) = Some((Instant::now(), any));
        Ok(any)
    }

    async fn subscribed(&self) -> Result<Arc<HashSet<UserId>>> {
        if let Some((at, owners)) = self.owners.lock().unwrap_or_else(PoisonError::into_inner).as_ref()
            && at.elapsed() < OWNERS_EVERY
        {
            return Ok(owners.clone());
        }
        let generation = self.owners_generation.load(std::sync::atomic::Ordering::SeqCst);
        let owners: Arc<HashSet<UserId>> = Arc::new(self.store.subscribed_owners().await?.into_iter().collect());
        let mut cached = self.owners.lock().unwrap_or_else(PoisonError::into_inner);
        // A subscription changed while this read ran: the read may predate it, so it
        // answers this call only (the next one reads again).
        if self.owners_generation.load(std::sync::atomic::Ordering::SeqCst) == generation {
            *cached = Some((Instant::now(), owners.clone()));
        }
        Ok(owners)
    }

    /// A task changed: the deliveries its current state calls for.
    pub async fn task_changed(&self, id: TaskId) -> Result<usize> {
        let Some(task) = self.tasks.get_task(id).await? else { return Ok(0) };
        self.deliver_task(&task, task.status).await
    }

    /// A notice: the deliveries it calls for (the task is read once when its owner
    /// has a subscription or it has a webhook of its own).
    pub async fn on_task_event(&self, event: &TaskEvent) -> Result<usize> {
        if matches!(event.status, TaskStatus::Retrying | TaskStatus::WaitingInput) {
            return Ok(0);
        }
        let owners = self.subscribed().await?;
        if owners.is_empty() && (!self.any_targets().await? || self.store.task_target(event.task_id).await?.is_none()) {
            return Ok(0);
        }
        let Some(task) = self.tasks.get_task(event.task_id).await? else { return Ok(0) };
        self.deliver_task(&task, event.status).await
    }

    async fn deliver_task(&self, task: &Task, status: TaskStatus) -> Result<usize> {
        let events = self.events_for(task, status);
        if events.is_empty() {
            return Ok(0);
        }
        let owners = self.subscribed().await?;
        let subscriptions = match &task.owner {
            Some(owner) if owners.contains(owner) => self.store.list_subscriptions(owner).await?,
            _ => Vec::new(),
        };
        let target = if self.any_targets().await? { self.store.task_target(task.id).await? } else { None };
        let now = now_millis();
        let mut written = 0;
        for event in events {
            let suffix = match event {
                EventType::TaskProgress => format!("{}:{}", event.as_str(), task.progress),
                _ => event.as_str().to_owned(),
            };
            let payload = json!({ "type": event.as_str(), "timestamp": timestamp(now), "data": (self.render)(task) });
            for subscription in subscriptions.iter().filter(|subscription| subscription.wants(event)) {
                let delivery = Delivery::pending(
                    subscription.owner.clone(),
                    Destination::Subscription(subscription.id.clone()),
                    subscription.url.clone(),
                    event,
                    payload.clone(),
                    format!("{}:{suffix}:{}", task.id, subscription.id),
                    now,
                );
                written += usize::from(self.store.enqueue_delivery(&delivery).await?);
            }
            if let Some(target) = target.as_ref().filter(|target| target.events.contains(&event)) {
                let delivery = Delivery::pending(
                    target.owner.clone(),
                    Destination::Task(task.id),
                    target.url.clone(),
                    event,
                    payload.clone(),
                    format!("{}:{suffix}:task", task.id),
                    now,
                );
                written += usize::from(self.store.enqueue_delivery(&delivery).await?);
            }
        }
        if written > 0 {
            self.wake.notify_one();
        }
        Ok(written)
    }

    /// The events a status calls for: started once, progress at most once a
    /// second per task (this process's memory: a lost one is only a progress).
    fn events_for(&self, task: &Task, status: TaskStatus) -> Vec<EventType> {
        let mut live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        match status {
            TaskStatus::Pending => vec![EventType::TaskCreated],
            TaskStatus::Processing => {
                let mut events = Vec::new();
                let last = live.get(&task.id).copied();
                if last.is_none() {
                    if live.len() > 100_000 {
                        live.clear();
                    }
                    live.insert(task.id, None);
                    events.push(EventType::TaskStarted);
                }
                let due = last.flatten().is_none_or(|at| at.elapsed() >= PROGRESS_EVERY);
                if task.progress > 0 && task.progress < 100 && due {
                    live.insert(task.id, Some(Instant::now()));
                    events.push(EventType::TaskProgress);
                }
                events
            }
            TaskStatus::Completed => self.ended(&mut live, task.id, EventType::TaskCompleted),
            TaskStatus::Failed | TaskStatus::Expired => self.ended(&mut live, task.id, EventType::TaskFailed),
            TaskStatus::Cancelled => self.ended(&mut live, task.id, EventType::TaskCancelled),
            TaskStatus::Retrying | TaskStatus::WaitingInput => Vec::new(),
        }
    }

    fn ended(&self, live: &mut HashMap<TaskId, Option<Instant>>, id: TaskId, event: EventType) -> Vec<EventType> {
        live.remove(&id);
        vec![event]
    }

    /// A run's event: `phase_complete` and `waiting_input` go to its owner's
    /// subscriptions (live only), once per run, phase and version.
    pub async fn on_run_event(&self, event: &RunEvent) -> Result<usize> {
        let kind = match event.body["type"].as_str() {
            Some("phase_complete") => EventType::PipelinePhaseComplete,
            Some("waiting_input") => EventType::PipelineWaitingInput,
            _ => return Ok(0),
        };
        let Some(runs) = &self.runs else { return Ok(0) };
        let owners = self.subscribed().await?;
        if owners.is_empty() {
            return Ok(0);
        }
        let Some(run) = runs.get_run(&event.run_id).await? else { return Ok(0) };
        if !owners.contains(&run.owner) {
            return Ok(0);
        }
        let now = now_millis();
        let payload = json!({ "type": kind.as_str(), "timestamp": timestamp(now), "data": event.body });
        let version = event.body["version_id"].as_str().unwrap_or_default();
        let mut written = 0;
        for subscription in self.store.list_subscriptions(&run.owner).await? {
            if !subscription.wants(kind) {
                continue;
            }
            let delivery = Delivery::pending(
                run.owner.clone(),
                Destination::Subscription(subscription.id.clone()),
                subscription.url.clone(),
                kind,
                payload.clone(),
                format!("{}:{}:{}:{version}:{}", run.id, kind.as_str(), event.body["phase"], subscription.id),
                now,
            );
            written += usize::from(self.store.enqueue_delivery(&delivery).await?);
        }
        if written > 0 {
            self.wake.notify_one();
        }
        Ok(written)
    }

    /// Writes the final event's rows of every task that ended since the cursor
    /// (less an overlap), for subscribed owners and tasks with their own webhook;
    /// moves the cursor. Returns the rows written (repeats write none).
    pub async fn sweep(&self) -> Result<usize> {
        let started = now_millis();
        self.subscriptions_changed();
        let owners = self.subscribed().await?;
        let since = match self.store.sweep_cursor().await? {
            Some(cursor) => cursor - SWEEP_OVERLAP_MS,
            None => started - FIRST_SWEEP_MS,
        };
        let any_targets = self.any_targets().await?;
        let mut after = (since, None);
        let mut written = 0;
        loop {
            let ended = self.store.tasks_ended_after(after, SWEEP_PAGE).await?;
            for task in &ended {
                let subscribed = task.owner.as_ref().is_some_and(|owner| owners.contains(owner));
                if subscribed || (any_targets && self.store.task_target(task.id).await?.is_some()) {
                    written += self.task_changed(task.id).await?;
                }
            }
            let Some(last) = ended.last() else { break };
            after = (last.ended_at, Some(last.id));
            self.store.set_sweep_cursor(last.ended_at.min(started)).await?;
            if ended.len() < SWEEP_PAGE as usize {
                break;
            }
        }
        if after.1.is_none() {
            self.store.set_sweep_cursor(since.max(started - SWEEP_OVERLAP_MS)).await?;
        }
        Ok(written)
    }

    /// Follows task notices (and run events) and sweeps at start and every
    /// `sweep_every`, until `stop` resolves.
    pub async fn run(
        self: Arc<Self>,
        events: EventBus,
        runs: Option<RunEvents>,
        sweep_every: Duration,
        stop: impl Future<Output = ()> + Send,
    ) {
        let mut notices = events.subscribe();
        let mut run_events = runs.map(|runs| runs.subscribe());
        let mut tick = tokio::time::interval(sweep_every.max(Duration::from_millis(100)));
        tokio::pin!(stop);
        loop {
            let run_event = async {
                match run_events.as_mut() {
                    Some(receiver) => receiver.recv().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = &mut stop => return,
                _ = tick.tick() => self.logged("sweep", self.sweep().await),
                notice = notices.recv() => match notice {
                    Ok(notice) => self.logged("task event", self.on_task_event(&notice).await),
                    // Notices were missed: the sweep finds the ends among them.
                    Err(broadcast::error::RecvError::Lagged(_)) => self.logged("sweep", self.sweep().await),
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                event = run_event => match event {
                    Ok(event) => self.logged("run event", self.on_run_event(&event).await),
                    Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => run_events = None,
                },
            }
        }
    }

    fn logged(&self, what: &str, result: Result<usize>) {
        match result {
            Ok(0) => {}
            Ok(written) => tracing::debug!(what, written, "webhook deliveries queued"),
            Err(error) => tracing::warn!(what, error = %error, "queueing webhook deliveries failed"),
        }
    }
}
