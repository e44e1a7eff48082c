//! Seed 002's 3D jobs, as views over Atelier's own tasks: a job is the task of a
//! 3D model (modality `3d`), so it has the task's owner, limits, quotas, events and
//! place in the native API, the CLI and the studio.
//!
//! - **image to 3D**: one task of the configured image-to-3D model.
//! - **text to 3D**: a text-to-3D model when one is configured; otherwise a chain
//!   (TRELLIS's own advice): a picture task of the configured image model, and the
//!   3D task that takes it as its input (`task:<id>`) and waits for it (`Task::after`).
//! - **graceful degradation**: when the model runs on remote workers (the pull
//!   protocol) and none was seen lately, or its circuit is open, the job runs on the
//!   fallback model (`local/relief` by default) and says so; with no fallback the
//!   answer is `engine_unavailable` (503) with `Retry-After`.

mod job;

pub use job::{JobKind, JobState, job_state};

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::account::Principal;
use crate::circuit::Circuits;
use crate::error::{CoreError, Result};
use crate::pull::PullService;
use crate::task::{CreateTask, Task, TaskService};

/// Which models run the jobs (`[three_d]`).
#[derive(Debug, Clone)]
pub struct ThreeDSettings {
    pub image_model: String,
    /// Empty: text → picture → 3D.
    pub text_model: String,
    pub text_image_model: String,
    /// Empty: no fallback (503).
    pub fallback: String,
}

/// What a job creation made.
#[derive(Debug, Clone)]
pub struct StartedJob {
    /// The job: its 3D task.
    pub task: Task,
    /// The picture step of a text-to-3D chain.
    pub picture: Option<Task>,
    /// Why the job runs on the fallback model, when it does.
    pub degraded: Option<String>,
}

/// A job request, as seed 002's routes take it (the picture already a reference).
#[derive(Debug, Clone)]
pub struct JobRequest {
    /// An image reference (`image-to-3d`) or a prompt (`text-to-3d`).
    pub source: JobSource,
    pub output_formats: Vec<String>,
    pub quality: String,
    pub idempotency_key: Option<String>,
    pub request_hash: Option<String>,
}

#[derive(Debug, Clone)]
pub enum JobSource {
    Image(String),
    Prompt(String),
}

pub struct ThreeDService {
    tasks: Arc<TaskService>,
    pull: Arc<PullService>,
    circuits: Arc<Circuits>,
    settings: ThreeDSettings,
}

/// How long to wait before asking again when no engine can run a job.
const NO_ENGINE_RETRY: Duration = Duration::from_secs(30);

impl ThreeDService {
    pub fn new(
        tasks: Arc<TaskService>,
        pull: Arc<PullService>,
        circuits: Arc<Circuits>,
        settings: ThreeDSettings,
    ) -> Self {
        Self { tasks, pull, circuits, settings }
    }

    /// Starts a job.
    pub async fn start(&self, caller: &Principal, request: JobRequest) -> Result<StartedJob> {
        let options = json!({ "output_formats": request.output_formats, "quality": request.quality });
        let prompt = match &request.source {
            JobSource::Image(image) => {
                let (model, degraded) = self.engine_for(&self.settings.image_model).await?;
                let mut input = options;
                input["image"] = json!(image);
                let task = self.create(caller, &model, input, &request).await?;
                return Ok(StartedJob { task, picture: None, degraded });
            }
            JobSource::Prompt(prompt) => prompt,
        };
        if !self.settings.text_model.trim().is_empty() {
            // A text-to-3D model, while it can run; its fallback (a picture-to-3D
            // engine) is reached through the chain below.
            let (model, degraded) = self.engine_for(&self.settings.text_model).await?;
            if degraded.is_none() {
                let mut input = options;
                input["prompt"] = json!(prompt);
                let task = self.create(caller, &model, input, &request).await?;
                return Ok(StartedJob { task, picture: None, degraded });
            }
        }
        // The chain: text → picture → 3D. The 3D step's engine is chosen first, so
        // that no picture is made for a job that cannot run.
        let (model, degraded) = self.engine_for(&self.settings.image_model).await?;
        let picture_request = JobRequest {
            idempotency_key: request.idempotency_key.as_ref().map(|key| format!("{key}:picture")),
            ..request.clone()
        };
        let picture =
            self.create(caller, &self.settings.text_image_model, json!({ "prompt": prompt }), &picture_request).await?;
        let mut input = options;
        input["image"] = json!(format!("{}{}", crate::ports::TASK_REFERENCE, picture.id));
        match self.create(caller, &model, input, &request).await {
            Ok(task) => Ok(StartedJob { task, picture: Some(picture), degraded }),
            Err(error) => {
                // The 3D step was refused (its input, a limit): its picture is not
                // wanted. Best effort: the picture may have ended already.
                let _ = self.tasks.cancel(caller, picture.id).await;
                Err(error)
            }
        }
    }

    async fn create(&self, caller: &Principal, model: &str, input: Value, request: &JobRequest) -> Result<Task> {
        let create = CreateTask {
            model: Some(model.to_owned()),
            input,
            idempotency_key: request.idempotency_key.clone(),
            request_hash: request.request_hash.clone(),
            ..CreateTask::default()
        };
        Ok(self.tasks.create(caller, create).await?.0)
    }

    /// The model that runs a job of `model` now, and why it is not `model` when it
    /// is the fallback; `engine_unavailable` when neither can.
    pub async fn engine_for(&self, model: &str) -> Result<(String, Option<String>)> {
        let resolved = self.tasks.catalog().resolve(model)?;
        let id = resolved.spec.id();
        let circuit = self.circuits.view(&resolved.spec.service);
        let circuit_open = circuit.state == "open" && circuit.retry_in_secs.unwrap_or(0) > 0;
        let pooled = !self.tasks.pool_of(&resolved).is_empty();
        let (why, details) = if circuit_open {
            (
                format!("{id}'s circuit is open after repeated failures"),
                json!({ "model": id, "reason": "circuit_open", "retry_in_secs": circuit.retry_in_secs }),
            )
        } else if pooled {
            let workers = self.pull.availability(&id).await?;
            if workers.seen > 0 {
                return Ok((id, None));
            }
            let seen = self.pull.settings().seen_within.as_secs();
            (
                format!("no worker serving {id} asked for work in the last {seen} s"),
                json!({
                    "model": id, "reason": "no_worker", "worker_keys": workers.keys,
                    "last_seen_at": workers.last_seen_at.map(crate::time::to_datetime),
                }),
            )
        } else {
            return Ok((id, None));
        };
        let fallback = self.settings.fallback.trim();
        if fallback.is_empty() || self.tasks.catalog().resolve(fallback).is_err() {
            return Err(CoreError::EngineUnavailable {
                message: format!("no 3D engine can take this job now: {why}; try again later"),
                details,
                retry_after: circuit
                    .retry_in_secs
                    .map_or(NO_ENGINE_RETRY, Duration::from_secs)
                    .max(Duration::from_secs(1)),
            });
        }
        let fallback = self.tasks.catalog().resolve(fallback)?.spec;
        Ok((fallback.id(), Some(format!("{why}, so this job runs on {} instead: {}", fallback.id(), fallback.title))))
    }
}
