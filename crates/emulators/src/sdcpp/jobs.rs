//! The native async API (the providers' protocol notes, 5.2; confirmed in
//! `examples/server/routes_sdcpp.cpp` and `async_jobs.cpp` @ 97d29908):
//! `POST /sdcpp/v1/img_gen` queues a job (202
//! `{id, kind:"img_gen", status:"queued", created, poll_url}`), one worker runs
//! the jobs in turn (sharing the model with the synchronous calls),
//! `GET /sdcpp/v1/jobs/{id}` shows one, `POST /sdcpp/v1/jobs/{id}/cancel`
//! cancels a queued one, and `GET /sdcpp/v1/capabilities` describes the server.
//!
//! A job is `{id, kind, status, created, started, completed, queue_position,
//! result, error}`: `status` `queued` → `generating` → `completed` (`result`
//! `{output_format, images:[{index, b64_json}]}`) or `failed` (`error`
//! `{code:"generation_failed", message}`), or `cancelled` (`error`
//! `{code:"cancelled", message:"job cancelled by client"}`); times are Unix
//! seconds; `queue_position` counts from 1 among the queued jobs, 0 otherwise.
//! Ids read `job_<hex Unix time>_<8-digit sequence>`.
//!
//! As the server does: a submission is refused 429 `{"error":"job queue is
//! full"}` when `max_queue` jobs are queued or generating; a finished job is
//! forgotten `job_ttl` after it finished, then answers 410 `{"error":"job
//! expired"}` for `max(job_ttl, 60 s)`, then 404 `{"error":"job not found"}`.
//! Cancelling a queued job answers 200 with the cancelled job; a generating
//! one 409 (`"job is currently generating and cannot be interrupted yet"`);
//! a finished one 200 with the job as it is (the brief asked for 409 there:
//! the server's code answers 200).
//!
//! Unconfirmed, the emulator's choices: the capabilities' `defaults` (sd.cpp's
//! built-in ones), `preview_modes`, and that the one model serves `img_gen`
//! only (`vid_gen` answers 400 as a server without a video model does).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::engine::{self, Running, Sampled};
use super::errors;
use super::params::{self, Gen, Output, Resolved};
use super::{SdCppState, compat};
use crate::faults::{Fault, TaskFault};

/// The most a request body may weigh.
const BODY_LIMIT: usize = 64 * 1024 * 1024;
/// How long an expired job's id answers 410 at least.
const MIN_EXPIRED: Duration = Duration::from_secs(60);

/// A job's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Status {
    Queued,
    Generating,
    Completed,
    Failed,
    Cancelled,
}

impl Status {
    pub(super) fn name(self) -> &'static str {
        match self {
            Status::Queued => "queued",
            Status::Generating => "generating",
            Status::Completed => "completed",
            Status::Failed => "failed",
            Status::Cancelled => "cancelled",
        }
    }

    fn is_finished(self) -> bool {
        matches!(self, Status::Completed | Status::Failed | Status::Cancelled)
    }
}

/// One job.
#[derive(Debug, Clone)]
pub(super) struct Job {
    pub(super) status: Status,
    created: i64,
    started: Option<i64>,
    completed: Option<i64>,
    /// When it finished, for its time to live.
    finished_at: Option<Instant>,
    spec: Resolved,
    output: Output,
    /// The task fault it carries (marked on submission or on a poll).
    fault: Option<Fault>,
    images: Vec<String>,
    error: Option<(&'static str, String)>,
}

impl Job {
    fn finish(&mut self, status: Status, error: Option<(&'static str, String)>) {
        self.status = status;
        self.completed = Some(chrono::Utc::now().timestamp());
        self.finished_at = Some(Instant::now());
        self.error = error;
    }

    /// The job as the API shows it; `queue_position` from 1 while queued.
    fn json(&self, id: &str, queue_position: usize) -> Value {
        let result = (self.status == Status::Completed).then(|| {
            let images: Vec<Value> =
                self.images.iter().enumerate().map(|(index, b64)| json!({ "index": index, "b64_json": b64 })).collect();
            json!({ "output_format": self.output.format, "images": images })
        });
        let error = self.error.as_ref().map(|(code, message)| json!({ "code": code, "message": message }));
        json!({
            "id": id,
            "kind": "img_gen",
            "status": self.status.name(),
            "created": self.created,
            "started": self.started,
            "completed": self.completed,
            "queue_position": if self.status == Status::Queued { queue_position } else { 0 },
            "result": result,
            "error": error,
        })
    }
}

impl SdCppState {
    /// Forgets the jobs finished `job_ttl` ago (their ids answer 410 for a
    /// while), and the expired ids past that while.
    pub(super) fn purge(&self, inner: &mut super::Inner) {
        let now = Instant::now();
        let ttl = self.config.job_ttl;
        inner.expired.retain(|_, until| *until > now);
        let expired: Vec<String> = inner
            .jobs
            .iter()
            .filter(|(_, job)| job.finished_at.is_some_and(|at| now.duration_since(at) >= ttl))
            .map(|(id, _)| id.clone())
            .collect();
        for id in expired {
            inner.jobs.remove(&id);
            inner.expired.insert(id, now + ttl.max(MIN_EXPIRED));
        }
    }

    /// The job JSON of `id`, or the server's 404/410.
    fn job_answer(&self, inner: &super::Inner, id: &str) -> Response {
        match inner.jobs.get(id) {
            Some(job) => {
                let position = inner.queue.iter().position(|queued| queued == id).map_or(0, |p| p + 1);
                Json(job.json(id, position)).into_response()
            }
            None if inner.expired.contains_key(id) => errors::error(410, "job expired"),
            None => errors::error(404, "job not found"),
        }
    }

    /// The fault that applies to job `id` now; `None` when it is gone.
    fn job_fault(&self, id: &str) -> Option<Option<Fault>> {
        self.inner().jobs.get(id).map(|job| job.fault.clone())
    }

    /// The next queued job, now generating.
    fn next_job(&self) -> Option<(String, Resolved)> {
        let mut inner = self.inner();
        while let Some(id) = inner.queue.pop_front() {
            if let Some(job) = inner.jobs.get_mut(&id).filter(|job| job.status == Status::Queued) {
                job.status = Status::Generating;
                job.started = Some(chrono::Utc::now().timestamp());
                return Some((id, job.spec.clone()));
            }
        }
        None
    }

    /// Ends a generating job (if it is still there).
    fn end_job(&self, id: &str, outcome: Result<Vec<String>, String>) {
        let mut inner = self.inner();
        let Some(job) = inner.jobs.get_mut(id).filter(|job| job.status == Status::Generating) else { return };
        let completed = outcome.is_ok();
        match outcome {
            Ok(images) => {
                job.images = images;
                job.finish(Status::Completed, None);
            }
            Err(message) => job.finish(Status::Failed, Some(("generation_failed", message))),
        }
        if completed {
            inner.stats.jobs_completed += 1;
        } else {
            inner.stats.jobs_failed += 1;
        }
        self.purge(&mut inner);
    }
}

/// The worker: runs the queued jobs one after the other, for as long as the emulator lives.
async fn worker(state: Arc<SdCppState>) {
    loop {
        let Some((id, spec)) = state.next_job() else {
            state.queued.notified().await;
            continue;
        };
        let mut epoch = state.epoch.subscribe();
        let model = tokio::select! {
            guard = state.model.lock() => guard,
            () = engine::restarted(&mut epoch) => continue,
        };
        let running = Running::new(&state);
        tracing::debug!(job = %id, "sdcpp emulator: job generating");
        let output = state.inner().jobs.get(&id).map(|job| job.output);
        let sampled = engine::sample(&state, spec.steps, &mut epoch, || state.job_fault(&id)).await;
        let outcome = match (sampled, output) {
            (Sampled::Finished, Some(output)) => engine::draw(&state, &spec, output.encoding).await,
            (Sampled::Failed(message), _) => Err(message),
            (Sampled::Lost, _) | (Sampled::Finished, None) => continue,
        };
        drop(running);
        drop(model);
        tracing::debug!(job = %id, ok = outcome.is_ok(), "sdcpp emulator: job done");
        state.end_job(&id, outcome);
    }
}

/// `POST /sdcpp/v1/img_gen`.
pub(super) async fn img_gen(State(state): State<Arc<SdCppState>>, request: Request) -> Response {
    let fault = TaskFault::of(&request).filter(Fault::is_task_fault);
    let Ok(bytes) = axum::body::to_bytes(request.into_body(), BODY_LIMIT).await else {
        return errors::bad_request("request body too large");
    };
    if bytes.is_empty() {
        return errors::bad_request("empty body");
    }
    let body: Map<String, Value> = match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(body)) => body,
        Ok(other) => {
            return errors::server_error(&format!(
                "[json.exception.type_error.306] cannot use value() with {}",
                compat::json_type(&other)
            ));
        }
        Err(e) => {
            return (StatusCode::BAD_REQUEST, Json(json!({ "error": "invalid json", "message": e.to_string() })))
                .into_response();
        }
    };
    let mut spec = Gen::default();
    if params::apply_native(&mut spec, &body).is_err() {
        return errors::bad_request("invalid generation parameters");
    }
    let output = match compat::output_options(&body, "output_format", "output_compression", true) {
        Ok(Ok(output)) => output,
        Ok(Err(message)) => return errors::bad_request(&message),
        Err(refusal) => return refusal.into_response(),
    };
    let Ok(spec) = spec.resolve(&state.config.model_name, || state.random_seed()) else {
        return errors::bad_request("invalid generation parameters");
    };

    let created = chrono::Utc::now().timestamp();
    let id = {
        let mut inner = state.inner();
        state.purge(&mut inner);
        let pending =
            inner.jobs.values().filter(|job| matches!(job.status, Status::Queued | Status::Generating)).count();
        if pending >= state.config.max_queue {
            inner.stats.jobs_rejected += 1;
            return errors::error(429, "job queue is full");
        }
        let id = format!("job_{created:x}_{:08}", state.next_id.fetch_add(1, Ordering::Relaxed));
        let job = Job {
            status: Status::Queued,
            created,
            started: None,
            completed: None,
            finished_at: None,
            spec,
            output,
            fault,
            images: Vec::new(),
            error: None,
        };
        inner.jobs.insert(id.clone(), job);
        inner.queue.push_back(id.clone());
        inner.stats.jobs_created += 1;
        id
    };
    if !state.worker_started.swap(true, Ordering::SeqCst) {
        tokio::spawn(worker(state.clone()));
    }
    state.queued.notify_one();
    tracing::debug!(job = %id, "sdcpp emulator: job queued");
    let body = json!({
        "id": id,
        "kind": "img_gen",
        "status": "queued",
        "created": created,
        "poll_url": format!("/sdcpp/v1/jobs/{id}"),
    });
    (StatusCode::ACCEPTED, Json(body)).into_response()
}

/// `POST /sdcpp/v1/vid_gen`: this server's model makes no video.
pub(super) async fn vid_gen() -> Response {
    errors::bad_request("the loaded model does not support vid_gen")
}

/// `GET /sdcpp/v1/jobs/{id}`; a task fault marks the job while it has not finished.
pub(super) async fn get_job(
    State(state): State<Arc<SdCppState>>,
    Path(id): Path<String>,
    request: Request,
) -> Response {
    let fault = TaskFault::of(&request);
    let mut inner = state.inner();
    state.purge(&mut inner);
    if let Some(fault @ (Fault::GenerationFailed | Fault::NeverFinish | Fault::Oom)) = fault
        && let Some(job) = inner.jobs.get_mut(&id).filter(|job| !job.status.is_finished())
    {
        job.fault = Some(fault);
    }
    state.job_answer(&inner, &id)
}

/// `POST /sdcpp/v1/jobs/{id}/cancel`.
pub(super) async fn cancel(State(state): State<Arc<SdCppState>>, Path(id): Path<String>) -> Response {
    let mut inner = state.inner();
    state.purge(&mut inner);
    let Some(status) = inner.jobs.get(&id).map(|job| job.status) else {
        return state.job_answer(&inner, &id);
    };
    match status {
        Status::Queued => {
            inner.queue.retain(|queued| *queued != id);
            if let Some(job) = inner.jobs.get_mut(&id) {
                job.images.clear();
                job.finish(Status::Cancelled, Some(("cancelled", "job cancelled by client".into())));
            }
            inner.stats.jobs_cancelled += 1;
            state.job_answer(&inner, &id)
        }
        Status::Generating => errors::error(409, "job is currently generating and cannot be interrupted yet"),
        Status::Completed | Status::Failed | Status::Cancelled => state.job_answer(&inner, &id),
    }
}

/// The built-in upscalers.
pub(super) const BUILTIN_UPSCALERS: [&str; 9] = [
    "None",
    "Lanczos",
    "Nearest",
    "Latent",
    "Latent (nearest)",
    "Latent (nearest-exact)",
    "Latent (antialiased)",
    "Latent (bicubic)",
    "Latent (bicubic antialiased)",
];

/// `GET /sdcpp/v1/capabilities`.
pub(super) async fn capabilities(State(state): State<Arc<SdCppState>>) -> Response {
    let model = &state.config.model_name;
    let defaults = json!({
        "prompt": "",
        "negative_prompt": "",
        "clip_skip": -1,
        "width": 512,
        "height": 512,
        "strength": 0.75,
        "seed": 42,
        "batch_count": 1,
        "sample_params": {
            "scheduler": "default",
            "sample_method": "default",
            "sample_steps": params::DEFAULT_STEPS,
            "eta": null,
            "shifted_timestep": 0,
            "flow_shift": null,
            "guidance": {
                "txt_cfg": 7.0,
                "img_cfg": null,
                "distilled_guidance": 3.5,
                "slg": { "layers": [7, 8, 9], "layer_start": 0.01, "layer_end": 0.2, "scale": 0.0 },
            },
        },
        "hires": {
            "enabled": false, "upscaler": "Latent", "scale": 2.0, "target_width": 0, "target_height": 0,
            "steps": 0, "denoising_strength": 0.7, "custom_sigmas": [], "upscale_tile_size": 128,
        },
        "cache_mode": "",
        "cache_option": "",
        "scm_mask": "",
        "scm_policy_dynamic": true,
        "output_format": "png",
        "output_compression": 100,
    });
    let features = json!({
        "init_image": true, "mask_image": true, "control_image": true, "ip_adapter_image": true,
        "ref_images": true, "lora": true, "vae_tiling": true, "hires": true, "cache": true,
        "cancel_queued": true, "cancel_generating": false, "preview": true,
    });
    let formats = json!(["png", "jpeg", "webp"]);
    let mut schedulers: Vec<&str> = Vec::new();
    for scheduler in params::SCHEDULERS {
        schedulers.push(scheduler);
        if scheduler == "discrete" {
            schedulers.push("normal");
        }
    }
    let upscalers: Vec<Value> =
        BUILTIN_UPSCALERS.iter().map(|name| json!({ "name": name, "model": false, "image_upscale": false })).collect();
    Json(json!({
        "model": { "name": model, "stem": compat::stem(model), "path": format!("{}/{model}", compat::MODELS_DIR) },
        "current_mode": "img_gen",
        "supported_modes": ["img_gen"],
        "defaults": defaults,
        "defaults_by_mode": { "img_gen": defaults },
        "limits": {
            "min_width": 64,
            "max_width": params::MAX_SIZE,
            "min_height": 64,
            "max_height": params::MAX_SIZE,
            "max_batch_count": params::MAX_BATCH,
            "max_queue_size": state.config.max_queue,
            "max_upscale_width": 8192,
            "max_upscale_height": 8192,
        },
        "samplers": params::SAMPLE_METHODS,
        "schedulers": schedulers,
        "output_formats": formats,
        "output_formats_by_mode": { "img_gen": formats },
        "features": features,
        "features_by_mode": { "img_gen": features },
        "loras": [],
        "upscalers": upscalers,
        "upscale": false,
        "preview_modes": ["none", "proj", "tae", "vae"],
    }))
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(status: Status) -> Job {
        let spec = Gen::default().resolve("model", || 1).expect("valid");
        let output = params::output("png", 100, true).expect("png");
        Job {
            status,
            created: 1,
            started: None,
            completed: None,
            finished_at: None,
            spec,
            output,
            fault: None,
            images: vec!["aGk=".into()],
            error: None,
        }
    }

    #[test]
    fn jobs_show_as_the_server_writes_them() {
        let queued = job(Status::Queued).json("job_1_00000001", 2);
        assert_eq!((queued["status"].clone(), queued["queue_position"].clone()), (json!("queued"), json!(2)));
        assert!(queued["result"].is_null() && queued["error"].is_null() && queued["started"].is_null());
        let mut done = job(Status::Generating);
        done.finish(Status::Completed, None);
        let shown = done.json("job_1_00000001", 0);
        assert_eq!(shown["result"], json!({ "output_format": "png", "images": [{ "index": 0, "b64_json": "aGk=" }] }));
        assert!(shown["completed"].is_i64());
        let mut cancelled = job(Status::Queued);
        cancelled.finish(Status::Cancelled, Some(("cancelled", "job cancelled by client".into())));
        let shown = cancelled.json("job_1_00000001", 1);
        assert_eq!(shown["error"]["code"], "cancelled");
        assert_eq!(shown["queue_position"], 0);
    }
}
