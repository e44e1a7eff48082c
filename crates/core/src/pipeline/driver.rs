//! Moves runs forward. A run is advanced when one of its tasks ends (a task
//! event) and by a periodic sweep of the runs whose `wake_at` has passed (the end
//! of a wait, a retry's time, a quota's renewal, a re-check after a restart): never
//! by a loop held in memory, so a restart loses nothing.
//!
//! One advance reads the run, asks its phase what it needs, makes the tasks not
//! made yet (each under an idempotency key naming the run, phase, basis version,
//! try and step: made once however often this runs, in however many processes),
//! and writes the run only if no other write came first (its revision). A phase's
//! result is stored as a version in the same transaction as the run's move, so a
//! phase is never recorded twice.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use serde_json::{Value, json};

use super::events::RunEvents;
use super::model::{Run, RunError, RunStatus, RunTask, Version, VersionKind};
use super::phase::{
    Phase, PhaseContext, Pipeline, Reuse, Reused, Step, StepAsset, StepOutcome, StepOutput, StepRequest,
};
use super::scene_cache::{SceneCache, SceneEntry};
use crate::account::{Credential, Principal};
use crate::error::{CoreError, Result};
use crate::ids::{RunId, VersionId};
use crate::ports::{AccountStore, PipelineStore};
use crate::quota;
use crate::task::{CreateTask, Task, TaskService, TaskStatus};
use crate::time::{Millis, now_millis};

/// How often a run waiting on its tasks is looked at even without an event.
const RECHECK: Duration = Duration::from_secs(10);
/// How long a phase waits after a provider answered 503 (seed 001 5.1.1).
const UNAVAILABLE_WAIT: Duration = Duration::from_secs(300);
/// The largest JSON output a phase reads.
const MAX_JSON_OUTPUT: u64 = 16 * 1024 * 1024;

/// What making a step did.
enum Made {
    Task,
    /// An earlier image stands in (the scene cache).
    Reused,
    /// The task could not be made.
    Refused(String, CoreError),
}

enum Lookup {
    Found(crate::ids::TaskId, Reused),
    Missed(SceneEntry),
}

/// What one look at a run did.
enum Advanced {
    /// Look again at once (it moved).
    Again,
    /// Nothing more to do now.
    Idle,
}

pub struct Engine {
    /// Whether a finished task may be a run's: 0 when the last sweep found no run
    /// at work and none has moved since; a task's end then costs no look-up.
    /// (Bumped by every advance, so a sweep that raced one never clears it.)
    runs_hint: std::sync::atomic::AtomicU64,
    pub(super) store: Arc<dyn PipelineStore>,
    pub(super) tasks: Arc<TaskService>,
    pub(super) accounts: Arc<dyn AccountStore>,
    pub(super) pipelines: BTreeMap<&'static str, Pipeline>,
    pub(super) events: RunEvents,
    scene_cache: Option<SceneCache>,
    retention: Option<super::retention::Retention>,
    /// Ended image tasks' outcomes (they never change): a phase of many panels
    /// reads each finished one once, not again at every advance.
    ended: std::sync::Mutex<lru::LruCache<crate::ids::TaskId, StepOutcome>>,
}

/// Ended outcomes kept in memory.
const ENDED_OUTCOMES: usize = 8192;

/// The phase a run ends after: the request's `last_phase`, or the pipeline's last.
fn last_phase(run: &Run, pipeline: &Pipeline) -> u32 {
    run.settings.last_phase.unwrap_or(u32::MAX).min(pipeline.last())
}

fn millis(duration: Duration) -> Millis {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

impl Engine {
    pub fn new(
        store: Arc<dyn PipelineStore>,
        tasks: Arc<TaskService>,
        accounts: Arc<dyn AccountStore>,
        pipelines: Vec<Pipeline>,
    ) -> Self {
        let pipelines = pipelines.into_iter().map(|pipeline| (pipeline.name, pipeline)).collect();
        Self {
            runs_hint: std::sync::atomic::AtomicU64::new(1),
            store,
            tasks,
            accounts,
            pipelines,
            events: RunEvents::default(),
            scene_cache: None,
            retention: None,
            ended: std::sync::Mutex::new(lru::LruCache::new(
                std::num::NonZeroUsize::new(ENDED_OUTCOMES).unwrap_or(std::num::NonZeroUsize::MIN),
            )),
        }
    }

    /// Lets go of ended runs' data on the drive loop (seed 001 1.7).
    pub fn with_retention(mut self, retention: super::retention::Retention) -> Self {
        self.retention = Some(retention);
        self
    }

    /// Reuses images of alike scenes (seed 001 2.3.2).
    pub fn with_scene_cache(mut self, cache: SceneCache) -> Self {
        self.scene_cache = Some(cache);
        self
    }

    /// What the scene cache measures with, when it is on.
    pub fn scene_cache(&self) -> Option<&SceneCache> {
        self.scene_cache.as_ref()
    }

    pub fn events(&self) -> &RunEvents {
        &self.events
    }

    pub fn pipeline(&self, name: &str) -> Result<&Pipeline> {
        self.pipelines.get(name).ok_or(CoreError::NotFound { what: "pipeline" })
    }

    /// The run's owner, as the principal its tasks are made for.
    pub(super) async fn principal(&self, run: &Run) -> Result<Option<Principal>> {
        let user = self.accounts.get_user(&run.owner).await?;
        Ok(user.filter(|user| !user.disabled).map(|user| Principal {
            user_id: user.id,
            email: user.email,
            role: user.role,
            credential: Credential::Run(run.id.clone()),
        }))
    }

    /// Advances a run as far as it can go now.
    pub async fn advance(&self, id: &RunId) -> Result<()> {
        self.runs_hint.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        for _ in 0..16 {
            let Some(mut run) = self.store.get_run(id).await? else { return Ok(()) };
            match self.advance_once(&mut run).await? {
                Advanced::Again => continue,
                Advanced::Idle => return Ok(()),
            }
        }
        Ok(())
    }

    /// Writes the run as changed; `Again` either way (a lost race reads it anew).
    async fn write(&self, run: &Run) -> Result<Advanced> {
        self.store.update_run(run).await?;
        Ok(Advanced::Again)
    }

    async fn advance_once(&self, run: &mut Run) -> Result<Advanced> {
        let now = now_millis();
        if run.status.is_terminal() || run.status == RunStatus::Paused {
            return Ok(Advanced::Idle);
        }
        let pipeline = self.pipeline(&run.pipeline)?;
        // The deadline counts time at work: a wait for feedback, a stop and a parked
        // run hold the clock (`paused_at`).
        if now > run.deadline_at && run.status == RunStatus::Running {
            let limit = run.settings.deadline_seconds;
            self.fail(
                run,
                "deadline_exceeded",
                format!("the run passed its time limit of {limit} s; every finished phase is kept"),
                now,
            );
            self.cancel_phase_tasks(run).await;
            return self.write(run).await;
        }
        let due = run.wake_at.is_none_or(|at| at <= now);
        match run.status {
            RunStatus::WaitingInput if due => {
                self.unpause(run, now);
                self.start_next_phase(run, pipeline, now);
                self.write(run).await
            }
            RunStatus::Parked if due => {
                self.unpause(run, now);
                run.status = RunStatus::Running;
                run.note = None;
                self.write(run).await
            }
            RunStatus::Running => self.run_phase(run, pipeline, now, due).await,
            _ => Ok(Advanced::Idle),
        }
    }

    pub(super) fn start_next_phase(&self, run: &mut Run, pipeline: &Pipeline, now: Millis) {
        let last = last_phase(run, pipeline);
        if run.phase >= last {
            run.status = RunStatus::Completed;
            run.completed_at = Some(now);
            run.wake_at = None;
            self.events.publish(&run.id, "status", json!({ "status": "completed" }));
            return;
        }
        run.phase += 1;
        run.phase_try = 0;
        run.progress = 0;
        run.status = RunStatus::Running;
        run.wake_at = Some(now);
        run.note = None;
        run.updated_at = now;
        self.events.publish(&run.id, "phase_started", json!({ "phase": run.phase }));
    }

    /// The deadline moves by the time a run spent paused or parked.
    pub(super) fn unpause(&self, run: &mut Run, now: Millis) {
        if let Some(since) = run.paused_at.take() {
            run.deadline_at = run.deadline_at.saturating_add((now - since).max(0));
        }
    }

    pub(super) fn fail(&self, run: &mut Run, code: &str, message: String, now: Millis) {
        crate::meters::phase_ended(&run.pipeline, run.phase, "failed", None);
        self.events.publish(&run.id, "phase_error", json!({ "phase": run.phase, "code": code, "message": message }));
        run.error = Some(RunError { code: code.to_owned(), message, phase: run.phase });
        run.status = RunStatus::Failed;
        run.completed_at = Some(now);
        run.wake_at = None;
        run.updated_at = now;
    }

    /// The key prefix of the current phase's try: `phase:basis:try:`.
    pub(super) fn step_prefix(run: &Run) -> String {
        let basis = run.head.as_ref().map_or("root", VersionId::as_str);
        format!("{}:{basis}:{}:", run.phase, run.phase_try)
    }

    /// Cancels the current phase's tasks that have not ended (nothing more to pay).
    pub(super) async fn cancel_phase_tasks(&self, run: &Run) {
        let Ok(Some(principal)) = self.principal(run).await else { return };
        let Ok(links) = self.store.run_tasks(&run.id, &Self::step_prefix(run)).await else { return };
        for link in links {
            if let Err(error) = self.tasks.cancel(&principal, link.task_id).await
                && !matches!(error, CoreError::Conflict { .. } | CoreError::NotFound { .. })
            {
                tracing::warn!(run_id = %run.id, task_id = %link.task_id, %error, "could not cancel a run's task");
            }
        }
    }

    async fn document(&self, run: &Run) -> Result<Value> {
        match &run.head {
            None => Ok(json!({})),
            Some(head) => Ok(self
                .store
                .get_version(head)
                .await?
                .ok_or_else(|| CoreError::Storage(format!("run {} names a missing version {head}", run.id)))?
                .document),
        }
    }

    async fn run_phase(&self, run: &mut Run, pipeline: &Pipeline, now: Millis, due: bool) -> Result<Advanced> {
        let Some(phase) = pipeline.phase(run.phase) else {
            self.fail(run, "unknown_phase", format!("the pipeline has no phase {}", run.phase), now);
            return self.write(run).await;
        };
        let prefix = Self::step_prefix(run);
        let keeps = phase.keeps_finished_steps();
        let links = if keeps {
            self.store.run_tasks(&run.id, &Self::phase_prefix(run)).await?
        } else {
            self.store.run_tasks(&run.id, &prefix).await?
        };
        let current: Vec<&RunTask> = links.iter().filter(|link| link.key.starts_with(&prefix)).collect();
        // A retry waits out its delay before its tasks are made.
        if current.is_empty() && !due {
            return Ok(Advanced::Idle);
        }
        let Some(principal) = self.principal(run).await? else {
            self.fail(run, "owner_disabled", "the run's owner is disabled or gone".into(), now);
            return self.write(run).await;
        };
        let outcomes = self.outcomes(run, &principal, &links, &prefix).await?;
        let document = self.document(run).await?;
        let context = PhaseContext { run, document: &document, outcomes: &outcomes };
        let step = match phase.step(&context) {
            Ok(step) => step,
            Err(error) => return self.phase_failed(run, phase, &error.code, error.message, now).await,
        };
        match step {
            Step::Done(document) => self.finish_phase(run, pipeline, phase, document, &links, now).await,
            Step::Need(requests) => {
                let total = requests.len();
                // The elements drawn so far (panels), for the progress event.
                let drawn: Vec<Value> = requests
                    .iter()
                    .filter_map(|request| {
                        let element = request.element.as_ref()?;
                        let Some(StepOutcome::Done(output)) = outcomes.get(&request.name) else { return None };
                        let asset = output.assets.first()?;
                        Some(json!({ "element": element, "asset_id": asset.id, "width": asset.width, "height": asset.height }))
                    })
                    .collect();
                let max_parallel = phase.max_parallel(run).max(1);
                let mut in_flight = requests
                    .iter()
                    .filter(|request| matches!(outcomes.get(&request.name), Some(StepOutcome::Waiting { .. })))
                    .count();
                let mut not_done = in_flight;
                let mut reused = false;
                // The scenes of the tasks about to be made, embedded in one batch.
                let room = max_parallel.saturating_sub(in_flight);
                let to_make: Vec<&StepRequest> =
                    requests.iter().filter(|request| !outcomes.contains_key(&request.name)).take(room).collect();
                let mut vectors = self.embed_scenes(run, &to_make).await;
                let ahead: Vec<String> = requests
                    .iter()
                    .filter(|request| !outcomes.contains_key(&request.name))
                    .skip(room)
                    .take(max_parallel)
                    .filter_map(|request| Some(request.reuse.as_ref()?.features.clone()))
                    .collect();
                // The owner's remembered scenes, read once an advance (per model).
                let mut candidates = BTreeMap::new();
                for request in requests {
                    match outcomes.get(&request.name) {
                        Some(StepOutcome::Failed { code, message }) => {
                            let message = format!("{} ({}): {message}", request.name, request.model);
                            return self.phase_failed(run, phase, &code.clone(), message, now).await;
                        }
                        Some(StepOutcome::Waiting { .. } | StepOutcome::Done(_)) => {}
                        None if in_flight >= max_parallel => not_done += 1,
                        None => {
                            let vector = vectors.remove(&request.name);
                            match self.make_step(run, &principal, &prefix, request, vector, &mut candidates).await? {
                                Made::Task => {
                                    in_flight += 1;
                                    not_done += 1;
                                }
                                Made::Reused => reused = true,
                                Made::Refused(model, error) => return self.refused(run, &model, error, now).await,
                            }
                        }
                    }
                }
                if reused {
                    return Ok(Advanced::Again);
                }
                // The scenes of the next tasks, embedded while these draw.
                self.embed_ahead(run, ahead);
                let completed = total - not_done;
                let progress = (100 * completed).checked_div(total).unwrap_or(0) as u8;
                if run.progress != progress || run.note.is_some() || run.wake_at.is_none_or(|at| at <= now) {
                    if run.progress != progress {
                        let message = format!("{completed}/{total}");
                        self.events.publish(&run.id, "progress", json!({ "phase": run.phase, "completed": completed, "total": total, "progress": progress, "message": message, "drawn": drawn }));
                    }
                    run.progress = progress;
                    run.note = None;
                    run.wake_at = Some(now + millis(RECHECK));
                    run.updated_at = now;
                    self.store.update_run(run).await?;
                }
                Ok(Advanced::Idle)
            }
        }
    }

    /// The key prefix of every try of the current phase on its basis: `phase:basis:`.
    fn phase_prefix(run: &Run) -> String {
        let basis = run.head.as_ref().map_or("root", VersionId::as_str);
        format!("{}:{basis}:", run.phase)
    }

    /// The outcomes of the phase's steps by name: the current try's tasks, and the
    /// steps an earlier try finished that this try has not made again.
    async fn outcomes(
        &self,
        run: &Run,
        principal: &Principal,
        links: &[RunTask],
        prefix: &str,
    ) -> Result<BTreeMap<String, StepOutcome>> {
        let phase_prefix = Self::phase_prefix(run);
        let mut outcomes = BTreeMap::new();
        let mut earlier = BTreeMap::new();
        for link in links {
            let (step, is_current) = match link.key.strip_prefix(prefix) {
                Some(step) => (step.to_owned(), true),
                None => {
                    let rest = link.key.strip_prefix(&phase_prefix).unwrap_or(&link.key);
                    (rest.split_once(':').map_or(rest, |(_, step)| step).to_owned(), false)
                }
            };
            let outcome = match self.task_outcome(principal, link.task_id).await {
                Ok(mut outcome) => {
                    if let StepOutcome::Done(output) = &mut outcome {
                        output.reused = link.reused.clone();
                    }
                    outcome
                }
                Err(CoreError::NotFound { .. }) => StepOutcome::Failed {
                    code: "task_deleted".into(),
                    message: format!("task {} was deleted", link.task_id),
                },
                Err(other) => return Err(other),
            };
            if is_current {
                outcomes.insert(step, outcome);
            } else if matches!(outcome, StepOutcome::Done(_)) {
                earlier.insert(step, outcome);
            }
        }
        for (step, outcome) in earlier {
            outcomes.entry(step).or_insert(outcome);
        }
        Ok(outcomes)
    }

    /// A task's outcome: from memory when it ended before, else read (and kept when
    /// it has ended).
    async fn task_outcome(&self, principal: &Principal, task_id: crate::ids::TaskId) -> Result<StepOutcome> {
        if let Some(outcome) = self.ended().get(&task_id) {
            return Ok(outcome.clone());
        }
        let outcome = self.outcome(&self.tasks.get(principal, task_id).await?).await?;
        if Self::keeps(&outcome) {
            self.ended().put(task_id, outcome.clone());
        }
        Ok(outcome)
    }

    fn ended(&self) -> std::sync::MutexGuard<'_, lru::LruCache<crate::ids::TaskId, StepOutcome>> {
        self.ended.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether an outcome is kept in memory: an ended task's, without text read
    /// from its output (images; a phase's text, possibly megabytes, is read again).
    fn keeps(outcome: &StepOutcome) -> bool {
        match outcome {
            StepOutcome::Done(output) => output.text.is_none() && output.json.is_none(),
            StepOutcome::Failed { .. } => true,
            StepOutcome::Waiting { .. } => false,
        }
    }

    /// Makes one step's task (its image input fitted to the model), or links an
    /// earlier image the scene cache finds alike enough.
    async fn make_step(
        &self,
        run: &Run,
        principal: &Principal,
        prefix: &str,
        request: StepRequest,
        vector: Option<Vec<f32>>,
        candidates: &mut BTreeMap<String, Vec<SceneEntry>>,
    ) -> Result<Made> {
        // A step beyond the batch (a reused image freed its place) is embedded alone.
        let vector = match vector {
            Some(vector) => Some(vector),
            None if request.reuse.is_some() => self.embed_scenes(run, &[&request]).await.remove(&request.name),
            None => None,
        };
        let key = format!("{prefix}{}", request.name);
        let mut input = request.input;
        if let Some(fit) = &request.image
            && let Ok(spec) = self.tasks.resolve_model(Some(&request.model))
        {
            input = super::image_fit::fit_image_input(&spec.input_schema, input, fit);
        }
        let mut remember = None;
        if let (Some(reuse), Some(cache), Some(vector)) = (&request.reuse, &self.scene_cache, vector) {
            match self.look_up_scene(run, cache, &request.model, reuse, vector, candidates).await {
                Ok(Lookup::Found(task_id, reused)) => {
                    tracing::info!(run_id = %run.id, step = %request.name, %task_id, score = reused.score, method = %reused.method, "the scene cache reused an image");
                    self.store
                        .link_task(&RunTask { run_id: run.id.clone(), key, task_id, reused: Some(reused) })
                        .await?;
                    return Ok(Made::Reused);
                }
                Ok(Lookup::Missed(entry)) => remember = Some(entry),
                Err(error) => tracing::warn!(run_id = %run.id, %error, "the scene cache could not be read"),
            }
        }
        let create = CreateTask {
            model: Some(request.model.clone()),
            input,
            priority: 0,
            idempotency_key: Some(format!("{}:{key}", run.id)),
            request_hash: None,
            prompt_id: None,
            place: None,
        };
        match self.tasks.create(principal, create).await {
            Ok((task, _)) => {
                self.store.link_task(&RunTask { run_id: run.id.clone(), key, task_id: task.id, reused: None }).await?;
                if let Some(mut entry) = remember {
                    entry.task_id = task.id;
                    if let Err(error) = self.store.remember_scene(&entry).await {
                        tracing::warn!(run_id = %run.id, %error, "could not remember a scene");
                    }
                }
                Ok(Made::Task)
            }
            Err(error) => Ok(Made::Refused(request.model, error)),
        }
    }

    /// The features of the scenes among `requests`, embedded in one call (off the
    /// runtime), by step name; none when the cache is off or the embedding failed.
    async fn embed_scenes(&self, run: &Run, requests: &[&StepRequest]) -> BTreeMap<String, Vec<f32>> {
        let Some(cache) = &self.scene_cache else { return BTreeMap::new() };
        let scenes: Vec<(&str, &str)> = requests
            .iter()
            .filter_map(|request| request.reuse.as_ref().map(|reuse| (request.name.as_str(), reuse.features.as_str())))
            .collect();
        let features: Vec<&str> = scenes.iter().map(|(_, features)| *features).collect();
        if let Err(error) = cache.embed_missing(&features).await {
            tracing::warn!(run_id = %run.id, %error, "the scene cache could not embed; drawing without it");
            return BTreeMap::new();
        }
        scenes.into_iter().filter_map(|(name, features)| Some((name.to_owned(), cache.recall(features)?))).collect()
    }

    /// Embeds, in the background, the scenes of the next tasks a phase will make
    /// (those beyond the tasks at work now), so the advance that makes them finds
    /// their vectors ready.
    fn embed_ahead(&self, run: &Run, features: Vec<String>) {
        let Some(cache) = self.scene_cache.clone() else { return };
        if features.is_empty() {
            return;
        }
        let run_id = run.id.clone();
        tokio::spawn(async move {
            if let Err(error) = cache.embed_ahead(features).await {
                tracing::debug!(%run_id, %error, "embedding scenes ahead failed; they are embedded when made");
            }
        });
    }

    /// The owner's remembered scene most alike this one (its `vector`), if alike
    /// enough; else the entry to remember for the task about to be made.
    async fn look_up_scene(
        &self,
        run: &Run,
        cache: &SceneCache,
        model: &str,
        reuse: &Reuse,
        vector: Vec<f32>,
        candidates: &mut BTreeMap<String, Vec<SceneEntry>>,
    ) -> Result<Lookup> {
        let method = cache.embedder.method().to_owned();
        let now = now_millis();
        let since = now - millis(cache.max_age);
        if !candidates.contains_key(model) {
            let found = self.store.scene_candidates(&run.owner, model, since, super::scene_cache::CANDIDATES).await?;
            candidates.insert(model.to_owned(), found);
        }
        let candidates = candidates.get(model).map(Vec::as_slice).unwrap_or_default();
        if let Some((entry, score)) = super::scene_cache::best_match(candidates, &vector, &method, &reuse.scope)
            && score >= cache.threshold
        {
            let score = (score * 10_000.0).round() / 10_000.0;
            return Ok(Lookup::Found(entry.task_id, Reused { score, method }));
        }
        Ok(Lookup::Missed(SceneEntry {
            task_id: crate::ids::TaskId::new(),
            owner: run.owner.clone(),
            model: model.to_owned(),
            scope: reuse.scope.clone(),
            features: reuse.features.clone(),
            vector,
            method,
            created_at: now,
        }))
    }

    /// A task could not be made: a spent quota parks the run until it renews; a full
    /// queue is tried again later; a request the model refuses fails the run.
    async fn refused(&self, run: &mut Run, model: &str, error: CoreError, now: Millis) -> Result<Advanced> {
        match error {
            CoreError::QuotaExceeded { scope, retry_after, .. } => {
                self.park(
                    run,
                    now,
                    retry_after,
                    format!("the daily quota of {scope} is spent; the run goes on when it renews"),
                );
                self.write(run).await
            }
            CoreError::Overloaded { retry_after, .. } | CoreError::QueueFull { retry_after, .. } => {
                run.note = Some(format!("the queue is busy; trying again in {} s", retry_after.as_secs().max(1)));
                run.wake_at = Some(now + millis(retry_after.max(Duration::from_secs(1))));
                run.updated_at = now;
                self.store.update_run(run).await?;
                Ok(Advanced::Idle)
            }
            CoreError::InvalidInput { message, .. } => {
                self.fail(run, "invalid_request", format!("{model} refused the phase's request: {message}"), now);
                self.write(run).await
            }
            CoreError::ModelUnavailable { model, config_key } => {
                self.fail(run, "model_unavailable", format!("model {model} is not available: set {config_key}"), now);
                self.write(run).await
            }
            CoreError::NotFound { .. } => {
                self.fail(run, "model_not_found", format!("there is no model {model}"), now);
                self.write(run).await
            }
            other => Err(other),
        }
    }

    fn park(&self, run: &mut Run, now: Millis, retry_after: Duration, note: String) {
        run.status = RunStatus::Parked;
        run.paused_at = Some(now);
        run.wake_at = Some(now + millis(retry_after));
        self.events.publish(&run.id, "status", json!({ "status": "parked", "note": note, "resumes_at": super::events::timestamp(now + millis(retry_after)) }));
        run.note = Some(note);
        run.updated_at = now;
    }

    /// A phase's task failed, or its answer did not fit: by the error's class
    /// (seed 001 5.1.1), park until tomorrow (rate limits), tell the user (invalid
    /// input), or try the phase again after a delay (timeouts, server errors), up to
    /// the phase's tries.
    async fn phase_failed(
        &self,
        run: &mut Run,
        phase: &dyn Phase,
        code: &str,
        message: String,
        now: Millis,
    ) -> Result<Advanced> {
        match code {
            "provider_rate_limited" | "quota_exceeded" => {
                self.park(
                    run,
                    now,
                    quota::until_next_day(now),
                    format!("phase {} was rate limited ({message}); it goes on tomorrow", run.phase),
                );
                // The parked phase starts a fresh try when it resumes.
                run.phase_try += 1;
                return self.write(run).await;
            }
            // A task whose paid call lost its answer (a crash mid-call, `submit_unknown`)
            // is never sent again; the phase tries again with a new task, below.
            "provider_rejected"
            | "content_filtered"
            | "provider_unauthorized"
            | "insufficient_credits"
            | "cancelled" => {
                self.fail(run, code, message, now);
                return self.write(run).await;
            }
            _ => {}
        }
        let policy = phase.retry();
        if run.phase_try + 1 >= policy.max_tries {
            let tries = policy.max_tries;
            self.fail(run, code, format!("phase {} failed {tries} times; last: {message}", run.phase), now);
            return self.write(run).await;
        }
        run.phase_try += 1;
        // Seed 001 5.1.1: a provider out of resources (HTTP 503) is tried again after
        // 5 minutes; anything else after the phase's backoff. Every adapter says
        // "answered HTTP <status>" of a provider's error answer.
        let unavailable = code == "provider_error" && message.contains("HTTP 503");
        let delay = if unavailable { UNAVAILABLE_WAIT } else { policy.delay(run.phase_try, rand::random::<f64>()) };
        run.wake_at = Some(now + millis(delay));
        run.note =
            Some(format!("phase {} is tried again in {} ms after {code}: {message}", run.phase, delay.as_millis()));
        run.progress = 0;
        run.updated_at = now;
        crate::meters::phase_ended(&run.pipeline, run.phase, "retrying", None);
        self.events.publish(
            &run.id,
            "phase_error",
            json!({ "phase": run.phase, "code": code, "message": message, "retrying_in_ms": delay.as_millis() as u64 }),
        );
        self.write(run).await
    }

    async fn finish_phase(
        &self,
        run: &mut Run,
        pipeline: &Pipeline,
        phase: &dyn Phase,
        document: Value,
        links: &[RunTask],
        now: Millis,
    ) -> Result<Advanced> {
        // From the phase's first task (task ids are UUIDv7: they carry their time).
        let started = links
            .iter()
            .filter_map(|link| link.task_id.0.get_timestamp())
            .map(|at| {
                let (seconds, nanos) = at.to_unix();
                seconds as i64 * 1000 + i64::from(nanos / 1_000_000)
            })
            .min();
        let elapsed_ms = started.map(|at| (now - at).max(0));
        let version = Version {
            id: VersionId::new(),
            run_id: run.id.clone(),
            parent: run.head.clone(),
            phase: run.phase,
            kind: VersionKind::Phase,
            document,
            description: format!("Phase {} ({}) completion", run.phase, phase.title()),
            changes: Vec::new(),
            elapsed_ms,
            created_at: now,
        };
        run.head = Some(version.id.clone());
        run.progress = 100;
        run.note = None;
        run.updated_at = now;
        let last = last_phase(run, pipeline);
        let finished_phase = run.phase;
        if run.phase >= last {
            run.status = RunStatus::Completed;
            run.completed_at = Some(now);
            run.wake_at = None;
        } else if run.settings.feedback.enabled {
            run.status = RunStatus::WaitingInput;
            run.paused_at = Some(now);
            run.wake_at = Some(now + i64::from(run.settings.feedback.timeout_seconds) * 1000);
        } else {
            self.start_next_phase(run, pipeline, now);
        }
        if !self.store.add_version(run, &version).await? {
            return Ok(Advanced::Again);
        }
        run.revision += 1;
        crate::meters::phase_ended(&run.pipeline, finished_phase, "completed", elapsed_ms);
        self.events.publish(
            &run.id,
            "phase_complete",
            json!({
                "phase": finished_phase,
                "version_id": version.id,
                "preview_url": super::preview_url(&run.id, &version.id),
            }),
        );
        match run.status {
            RunStatus::WaitingInput => self.events.publish(
                &run.id,
                "waiting_input",
                json!({ "phase": finished_phase, "version_id": version.id, "deadline": run.wake_at.map(super::events::timestamp) }),
            ),
            RunStatus::Completed => self.events.publish(&run.id, "status", json!({ "status": "completed" })),
            _ => {}
        }
        Ok(Advanced::Again)
    }

    /// Where a task is, as a phase reads it.
    pub(super) async fn outcome(&self, task: &Task) -> Result<StepOutcome> {
        Ok(match task.status {
            TaskStatus::Completed => StepOutcome::Done(self.output(task).await?),
            TaskStatus::Failed | TaskStatus::Expired => {
                let error = task.error.clone();
                StepOutcome::Failed {
                    code: error.as_ref().map_or_else(|| "task_failed".to_owned(), |error| error.code.clone()),
                    message: error.map_or_else(|| format!("task {} failed", task.id), |error| error.message),
                }
            }
            TaskStatus::Cancelled => {
                StepOutcome::Failed { code: "cancelled".into(), message: format!("task {} was cancelled", task.id) }
            }
            _ => StepOutcome::Waiting { progress: task.progress },
        })
    }

    /// A finished task's outputs; the primary one read as JSON or text when it is.
    async fn output(&self, task: &Task) -> Result<StepOutput> {
        let assets = task
            .outputs
            .iter()
            .filter(|asset| asset.role == crate::task::OutputRole::Primary)
            .map(|asset| StepAsset {
                id: asset.id.clone(),
                mime: asset.mime.clone(),
                width: asset.width,
                height: asset.height,
            })
            .collect();
        let mut output = StepOutput { task_id: task.id, json: None, text: None, assets, reused: None };
        let Some(first) = task.outputs.first() else { return Ok(output) };
        let is_json = first.mime.starts_with(crate::text::JSON_MIME);
        if !(is_json || first.mime.starts_with("text/")) || first.bytes > MAX_JSON_OUTPUT {
            return Ok(output);
        }
        let Some(blob) = self.tasks.open_blob(&first.blob_key, None).await? else {
            return Err(CoreError::Blob(format!("the output {} of task {} is missing", first.id, task.id)));
        };
        let mut bytes = Vec::with_capacity(blob.total_bytes as usize);
        let mut stream = blob.stream;
        while let Some(chunk) = stream.next().await {
            bytes.extend_from_slice(
                &chunk.map_err(|error| CoreError::Blob(format!("reading output {}: {error}", first.id)))?,
            );
        }
        let text = String::from_utf8_lossy(&bytes).into_owned();
        if is_json {
            output.json = serde_json::from_str(&text).ok();
        }
        output.text = Some(text);
        Ok(output)
    }

    /// Advances every run that is due; returns how many were looked at.
    pub async fn sweep(&self, limit: u32) -> Result<usize> {
        use std::sync::atomic::Ordering;
        let seen = self.runs_hint.load(Ordering::SeqCst);
        if self.store.any_running_run().await? {
            self.runs_hint.fetch_add(1, Ordering::SeqCst);
        } else {
            // Cleared only if no advance happened meanwhile.
            let _ = self.runs_hint.compare_exchange(seen, 0, Ordering::SeqCst, Ordering::SeqCst);
        }
        let due = self.store.due_runs(now_millis(), limit).await?;
        for id in &due {
            if let Err(error) = self.advance(id).await {
                tracing::warn!(run_id = %id, %error, "could not advance a run");
            }
        }
        Ok(due.len())
    }

    /// Runs until `shutdown` resolves: advances a run when one of its tasks ends,
    /// and sweeps for due runs every `interval`.
    pub async fn drive(self: Arc<Self>, interval: Duration, shutdown: impl std::future::Future<Output = ()>) {
        let mut task_events = self.tasks.events().subscribe();
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Ended runs' data is looked at once a minute (and at start).
        let mut last_retained: Option<std::time::Instant> = None;
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => return,
                _ = ticker.tick() => {
                    if let Err(error) = self.sweep(64).await {
                        tracing::warn!(%error, "the pipeline sweep failed");
                    }
                    if let Some(retention) = &self.retention
                        && last_retained.is_none_or(|at| at.elapsed() >= Duration::from_secs(60))
                    {
                        last_retained = Some(std::time::Instant::now());
                        match self.retain(retention, now_millis(), 32).await {
                            Ok(done) if done.runs > 0 => tracing::info!(runs = done.runs, tasks = done.tasks_deleted, "let go of ended runs' data"),
                            Ok(_) => {}
                            Err(error) => tracing::warn!(%error, "the lifecycle pass failed"),
                        }
                    }
                }
                event = task_events.recv() => {
                    let Some(ended) = ended_tasks(event, &mut task_events) else { return };
                    if self.runs_hint.load(std::sync::atomic::Ordering::SeqCst) == 0 {
                        continue;
                    }
                    let mut runs = Vec::new();
                    for task_id in ended {
                        match self.store.run_for_task(task_id).await {
                            Ok(Some(run_id)) if !runs.contains(&run_id) => runs.push(run_id),
                            Ok(_) => {}
                            Err(error) => tracing::warn!(%error, "could not find a task's run"),
                        }
                    }
                    for run_id in runs {
                        if let Err(error) = self.advance(&run_id).await {
                            tracing::warn!(%run_id, %error, "could not advance a run");
                        }
                    }
                }
            }
        }
    }
}

/// Tasks' ends read from the events at most at once.
const MAX_BURST: usize = 512;

/// The tasks ended in `first` and in the events already waiting behind it (a round
/// of panels ends together: each run is then advanced once for all); `None` when
/// the events are closed.
fn ended_tasks(
    first: std::result::Result<crate::events::TaskEvent, tokio::sync::broadcast::error::RecvError>,
    events: &mut tokio::sync::broadcast::Receiver<crate::events::TaskEvent>,
) -> Option<Vec<crate::ids::TaskId>> {
    use tokio::sync::broadcast::error::{RecvError, TryRecvError};
    let mut ended = Vec::new();
    let mut note = |event: crate::events::TaskEvent| {
        if event.status.is_terminal() {
            ended.push(event.task_id);
        }
    };
    match first {
        Ok(event) => note(event),
        Err(RecvError::Closed) => return None,
        Err(RecvError::Lagged(_)) => {}
    }
    for _ in 0..MAX_BURST {
        match events.try_recv() {
            Ok(event) => note(event),
            Err(TryRecvError::Lagged(_)) => {}
            // Empty, or closed (the next `recv` says so).
            Err(_) => break,
        }
    }
    Some(ended)
}
