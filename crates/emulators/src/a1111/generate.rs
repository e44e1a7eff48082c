//! `POST /sdapi/v1/txt2img` and `POST /sdapi/v1/img2img`: the generation.
//!
//! As in the WebUI, one generation runs at a time (`queue_lock`): a request
//! waits for the ones before it. Running, it begins the shared state
//! (progress), samples `n_iter` batches of `sampling_steps` steps, each step
//! taking the configured `step_ms`, then answers
//! `{"images":[<base64>…],"parameters":{…},"info":"<JSON>"}`.
//!
//! Confirmed (`modules/api/api.py`, `modules/processing.py`): `info` is the
//! JSON text of `Processed.js()` (`prompt`, `all_prompts`, `negative_prompt`,
//! `all_negative_prompts`, `seed`, `all_seeds`, `subseed`, `all_subseeds`,
//! `subseed_strength`, `width`, `height`, `sampler_name`, `cfg_scale`,
//! `steps`, `batch_size`, `restore_faces`, `face_restoration_model`,
//! `sd_model_name`, `sd_model_hash`, `sd_vae_name`, `sd_vae_hash`,
//! `seed_resize_from_w/h`, `denoising_strength`, `extra_generation_params`,
//! `index_of_first_image`, `infotexts`, `styles`, `job_timestamp`,
//! `clip_skip`, `is_using_inpainting_conditioning`, `version`); a seed of -1
//! is drawn at random below 4294967294 and image *i* has seed `seed + i`; an
//! interrupt stops sampling at the next step and the batch sampling then is
//! still decoded, later batches are not run. Images are PNG unless the
//! `samples_format` option says `jpg`/`jpeg` (JPEG at `jpeg_quality`) or
//! `webp` (lossless here); `send_images: false` answers no images.
//!
//! Unconfirmed, the emulator's choices: an interrupted generation answers 200
//! with the images of the batches begun (the interrupted one included) and
//! `state.interrupted` stays true until the next generation; a skip ends the
//! batch sampling now and goes on with the next; the infotexts' wording and
//! `version` (`v1.10.1`). Images are drawn by `crate::render` from each
//! image's seed, the checkpoint and a digest of the request, so a request
//! repeated with its seed draws the same images.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Json;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{Map, Value, json};
use tokio::sync::{MutexGuard as QueueGuard, watch};

use super::A1111State;
use super::errors::{self, Invalid, Refusal};
use super::params::{self, Job, Mode};
use super::progress::{Preview, Run};
use crate::faults::{Fault, TaskFault};
use crate::render::{Encoding, render};
use crate::serve::ConnectionKill;

/// The most a request body may weigh.
const BODY_LIMIT: usize = 64 * 1024 * 1024;
/// How often a generation that never finishes looks for an interrupt.
const STALL_TICK: Duration = Duration::from_millis(20);

/// The body as a JSON object, or FastAPI's 422.
pub(super) async fn json_body(body: Body) -> Result<Map<String, Value>, Refusal> {
    let invalid = |msg: String, kind: &'static str| Invalid { loc: vec![json!("body")], msg, kind, ctx: None };
    let bytes = axum::body::to_bytes(body, BODY_LIMIT)
        .await
        .map_err(|_| errors::validation::<Refusal>(&[invalid("the body is too large".into(), "value_error")]))?;
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(fields)) => Ok(fields),
        Ok(_) => Err(errors::validation(&[invalid("value is not a valid dict".into(), "type_error.dict")])),
        Err(e) => Err(errors::validation(&[Invalid {
            loc: vec![json!("body"), json!(e.column().saturating_sub(1))],
            msg: format!("Expecting value: line {} column {}", e.line(), e.column()),
            kind: "value_error.jsondecode",
            ctx: None,
        }])),
    }
}

/// `POST /sdapi/v1/txt2img`.
pub(super) async fn txt2img(State(state): State<Arc<A1111State>>, request: Request) -> Response {
    handle(state, Mode::Txt2Img, request).await
}

/// `POST /sdapi/v1/img2img`.
pub(super) async fn img2img(State(state): State<Arc<A1111State>>, request: Request) -> Response {
    handle(state, Mode::Img2Img, request).await
}

async fn handle(state: Arc<A1111State>, mode: Mode, request: Request) -> Response {
    let fault = TaskFault::of(&request);
    let kill = request.extensions().get::<ConnectionKill>().cloned();
    let fields = match json_body(request.into_body()).await {
        Ok(fields) => fields,
        Err(refusal) => return refusal.into_response(),
    };
    let job = match params::read(&state, mode, &fields) {
        Ok(job) => job,
        Err(refusal) => return refusal.into_response(),
    };
    generate(state, job, fault, kill).await
}

/// Counts a request waiting for the queue while it waits.
struct Waiting<'a>(&'a A1111State);

impl<'a> Waiting<'a> {
    fn new(state: &'a A1111State) -> Self {
        let mut inner = state.inner();
        inner.stats.waiting += 1;
        inner.stats.max_waiting = inner.stats.max_waiting.max(inner.stats.waiting);
        Self(state)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        let mut inner = self.0.inner();
        inner.stats.waiting = inner.stats.waiting.saturating_sub(1);
    }
}

/// The generation in flight in the shared state, for as long as it runs:
/// dropped (answered, failed, or its client gone), progress is idle again.
struct Running<'a> {
    state: &'a A1111State,
    id: u64,
}

impl<'a> Running<'a> {
    fn begin(state: &'a A1111State, run: Run) -> Self {
        let id = run.id;
        let mut inner = state.inner();
        inner.progress.begin(run);
        inner.stats.running += 1;
        inner.stats.max_concurrency = inner.stats.max_concurrency.max(inner.stats.running);
        Self { state, id }
    }

    /// Updates the run (if it is still the one in flight), and reads the flags.
    fn step(&self, job_no: u32, sampling_step: u32, job: Option<String>) -> Flags {
        let mut inner = self.state.inner();
        let progress = &mut inner.progress;
        if let Some(run) = progress.run.as_mut().filter(|run| run.id == self.id) {
            run.job_no = job_no;
            run.sampling_step = sampling_step;
            if let Some(job) = job {
                run.job = job;
            }
        }
        Flags { interrupted: progress.interrupted, skipped: progress.skipped }
    }

    /// A new batch begins: the skip flag is cleared.
    fn next_batch(&self) {
        self.state.inner().progress.skipped = false;
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        let mut inner = self.state.inner();
        if inner.progress.run.as_ref().is_some_and(|run| run.id == self.id) {
            inner.progress.run = None;
        }
        inner.stats.running = inner.stats.running.saturating_sub(1);
    }
}

#[derive(Debug, Clone, Copy)]
struct Flags {
    interrupted: bool,
    skipped: bool,
}

/// Resolves when the WebUI restarts (the epoch moves on).
async fn restarted(epoch: &mut watch::Receiver<u64>) {
    if epoch.changed().await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// The connection of a generation lost to a restart: dropped unanswered (the
/// guards go first, so the queue moves on), or, through a bare router, a 500.
async fn lost<G>(kill: Option<ConnectionKill>, guards: G) -> Response {
    drop(guards);
    match kill {
        Some(kill) => kill.drop_connection().await,
        None => errors::raised(
            "ConnectionResetError",
            "emulator: the WebUI restarted (dropping the connection needs A1111Emulator::serve)",
        ),
    }
}

/// One sampling step's wait.
async fn step_wait(delay: Duration) {
    if delay.is_zero() {
        tokio::task::yield_now().await;
    } else {
        tokio::time::sleep(delay).await;
    }
}

/// Waits for the queue, then generates.
async fn generate(state: Arc<A1111State>, job: Job, fault: Option<Fault>, kill: Option<ConnectionKill>) -> Response {
    let mut epoch = state.epoch.subscribe();
    let waiting = Waiting::new(&state);
    let queue: QueueGuard<'_, ()> = tokio::select! {
        guard = state.queue.lock() => guard,
        () = restarted(&mut epoch) => return lost(kill, waiting).await,
    };
    drop(waiting);
    let step_delay = Duration::from_millis(state.config.step_ms);

    // The checkpoint this generation uses (an override may outlive it).
    let (checkpoint, run_id, seed, subseed, encoding) = {
        let mut inner = state.inner();
        let current = job.checkpoint.or(inner.current);
        if job.keep_checkpoint && job.checkpoint.is_some() {
            inner.current = job.checkpoint;
        }
        let encoding = samples_encoding(&inner.options);
        inner.stats.next_run += 1;
        let run_id = inner.stats.next_run;
        drop(inner);
        (current.and_then(|i| state.catalog.checkpoints.get(i)).cloned(), run_id, job.seed, job.subseed, encoding)
    };
    let Some(checkpoint) = checkpoint else {
        return errors::raised(
            "FileNotFoundError",
            &format!(
                "No checkpoints found. When searching for checkpoints, looked at:\n - directory {}",
                super::catalog::MODELS_DIR
            ),
        );
    };
    let encoding = match encoding {
        Ok(encoding) => encoding,
        Err(refusal) => return refusal.into_response(),
    };
    let seed = seed.unwrap_or_else(|| state.random_seed());
    let subseed = subseed.unwrap_or_else(|| state.random_seed());
    let digest = job.digest(&checkpoint);
    let run = Run {
        id: run_id,
        job: job.mode.job_name().to_owned(),
        job_count: job.n_iter,
        job_no: 0,
        sampling_step: 0,
        sampling_steps: job.sampling_steps,
        started: Instant::now(),
        preview: Preview {
            width: (job.width / 4).max(8),
            height: (job.height / 4).max(8),
            seed: seed as u64,
            salt: checkpoint.model_name.clone(),
            digest,
        },
    };
    let running = Running::begin(&state, run);
    tracing::debug!(run = run_id, mode = ?job.mode, "a1111 emulator: generation begins");

    if fault == Some(Fault::Oom) {
        return errors::out_of_memory();
    }

    // Sampling: n_iter batches of sampling_steps steps.
    let total = job.n_iter.saturating_mul(job.sampling_steps);
    let restart_at = total.div_ceil(2).max(1);
    let mut sampled = 0u32;
    let mut batches = 0u32;
    let mut interrupted = false;
    'batches: for batch in 0..job.n_iter {
        let label = (job.n_iter > 1).then(|| format!("Batch {} out of {}", batch + 1, job.n_iter));
        if running.step(batch, 0, label).interrupted {
            interrupted = true;
            break;
        }
        running.next_batch();
        batches = batch + 1;
        for step in 1..=job.sampling_steps {
            tokio::select! {
                () = step_wait(step_delay) => {}
                () = restarted(&mut epoch) => return lost(kill, (running, queue)).await,
            }
            sampled += 1;
            let flags = running.step(batch, step, None);
            if fault == Some(Fault::Restart) && sampled >= restart_at {
                tracing::debug!(run = run_id, "a1111 emulator: restarting mid-generation (restart fault)");
                state.restart();
                return lost(kill, (running, queue)).await;
            }
            if flags.interrupted {
                interrupted = true;
                break 'batches;
            }
            if flags.skipped {
                continue 'batches;
            }
            let last = batch + 1 == job.n_iter && step == job.sampling_steps;
            if last && fault == Some(Fault::NeverFinish) {
                // Stuck on the last step until interrupted (or restarted, or the client leaves).
                loop {
                    tokio::select! {
                        () = step_wait(STALL_TICK) => {}
                        () = restarted(&mut epoch) => return lost(kill, (running, queue)).await,
                    }
                    if running.step(batch, step, None).interrupted {
                        interrupted = true;
                        break 'batches;
                    }
                }
            }
        }
    }

    if fault == Some(Fault::GenerationFailed) && !interrupted {
        return errors::nans();
    }
    let count = batches.saturating_mul(job.batch_size);
    let seeds: Vec<i64> = (0..i64::from(count)).map(|i| seed.wrapping_add(i)).collect();
    let images =
        if job.send_images { draw(&job, &checkpoint, &digest, &seeds, encoding).await } else { Ok(Vec::new()) };
    let images = match images {
        Ok(images) => images,
        Err(message) => return errors::raised("OSError", &message),
    };
    let info = info(&job, &checkpoint, seed, subseed, &seeds, &state.inner().progress.job_timestamp);
    {
        let mut inner = state.inner();
        let stats = &mut inner.stats;
        stats.generations += 1;
        stats.images_generated += u64::from(count);
        stats.interrupted += u64::from(interrupted);
        *stats.by_checkpoint.entry(checkpoint.title.clone()).or_default() += 1;
        *stats.by_sampler.entry(job.sampler.clone()).or_default() += 1;
    }
    drop(running);
    drop(queue);
    tracing::debug!(run = run_id, images = count, interrupted, "a1111 emulator: generation done");
    Json(json!({ "images": images, "parameters": job.parameters, "info": info })).into_response()
}

/// How images are encoded: the `samples_format` option (500 "Invalid image format" when unknown).
fn samples_encoding(options: &Map<String, Value>) -> Result<Encoding, Refusal> {
    let format = options.get("samples_format").and_then(Value::as_str).unwrap_or("png").to_ascii_lowercase();
    let quality = options.get("jpeg_quality").and_then(Value::as_u64).map_or(80, |q| q.clamp(1, 100) as u8);
    match format.as_str() {
        "png" => Ok(Encoding::Png),
        "jpg" | "jpeg" => Ok(Encoding::Jpeg(quality)),
        "webp" => Ok(Encoding::Webp),
        _ => Err(errors::http_exception(500, "Invalid image format")),
    }
}

/// Draws the images, one per seed, base64.
async fn draw(
    job: &Job,
    checkpoint: &super::catalog::Checkpoint,
    digest: &[u8; 32],
    seeds: &[i64],
    encoding: Encoding,
) -> Result<Vec<String>, String> {
    let (width, height, salt, digest, seeds) =
        (job.width, job.height, checkpoint.model_name.clone(), *digest, seeds.to_vec());
    let drawn = tokio::task::spawn_blocking(move || {
        seeds
            .iter()
            .map(|seed| render(width, height, *seed as u64, &salt, &digest, 0, encoding))
            .collect::<Result<Vec<_>, _>>()
    })
    .await;
    match drawn {
        Ok(Ok(images)) => {
            Ok(images.iter().map(|bytes| base64::engine::general_purpose::STANDARD.encode(bytes)).collect())
        }
        Ok(Err(e)) => Err(format!("could not encode an image: {e}")),
        Err(e) => Err(format!("the image renderer stopped: {e}")),
    }
}

/// One image's infotext, as the WebUI writes it into PNGs and `info`.
fn infotext(job: &Job, checkpoint: &super::catalog::Checkpoint, seed: i64) -> String {
    let mut text = job.prompt.clone();
    if !job.negative_prompt.is_empty() {
        text.push_str(&format!("\nNegative prompt: {}", job.negative_prompt));
    }
    text.push_str(&format!(
        "\nSteps: {}, Sampler: {}, Schedule type: {}, CFG scale: {}, Seed: {seed}, Size: {}x{}, Model hash: {}, \
         Model: {}",
        job.steps,
        job.sampler,
        super::catalog::scheduler_label(job.scheduler),
        job.cfg_scale,
        job.width,
        job.height,
        checkpoint.hash,
        checkpoint.model_name,
    ));
    if let Some(d) = job.denoising_strength {
        text.push_str(&format!(", Denoising strength: {d}"));
    }
    text.push_str(&format!(", Version: {}", super::catalog::VERSION));
    text
}

/// The `info` JSON text (`Processed.js()`).
fn info(
    job: &Job,
    checkpoint: &super::catalog::Checkpoint,
    seed: i64,
    subseed: i64,
    seeds: &[i64],
    job_timestamp: &str,
) -> String {
    let n = seeds.len();
    let subseeds: Vec<i64> = (0..n as i64).map(|i| subseed.wrapping_add(i)).collect();
    let info = json!({
        "prompt": job.prompt,
        "all_prompts": vec![job.prompt.as_str(); n],
        "negative_prompt": job.negative_prompt,
        "all_negative_prompts": vec![job.negative_prompt.as_str(); n],
        "seed": seed,
        "all_seeds": seeds,
        "subseed": subseed,
        "all_subseeds": subseeds,
        "subseed_strength": 0,
        "width": job.width,
        "height": job.height,
        "sampler_name": job.sampler,
        "cfg_scale": job.cfg_scale,
        "steps": job.steps,
        "batch_size": job.batch_size,
        "restore_faces": false,
        "face_restoration_model": null,
        "sd_model_name": checkpoint.model_name,
        "sd_model_hash": checkpoint.hash,
        "sd_vae_name": null,
        "sd_vae_hash": null,
        "seed_resize_from_w": -1,
        "seed_resize_from_h": -1,
        "denoising_strength": job.denoising_strength,
        "extra_generation_params": { "Schedule type": super::catalog::scheduler_label(job.scheduler) },
        "index_of_first_image": 0,
        "infotexts": seeds.iter().map(|s| infotext(job, checkpoint, *s)).collect::<Vec<_>>(),
        "styles": job.styles,
        "job_timestamp": job_timestamp,
        "clip_skip": 1,
        "is_using_inpainting_conditioning": false,
        "version": super::catalog::VERSION,
    });
    info.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_format_picks_the_encoding() {
        let options = |format: &str| json!({ "samples_format": format, "jpeg_quality": 70 }).as_object().cloned();
        assert_eq!(samples_encoding(&Map::new()).ok(), Some(Encoding::Png));
        assert_eq!(samples_encoding(&options("JPG").unwrap_or_default()).ok(), Some(Encoding::Jpeg(70)));
        assert_eq!(samples_encoding(&options("webp").unwrap_or_default()).ok(), Some(Encoding::Webp));
        assert!(samples_encoding(&options("tiff").unwrap_or_default()).is_err());
    }
}
