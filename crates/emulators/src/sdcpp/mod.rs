//! An emulator of stable-diffusion.cpp's `sd-server` (the providers' protocol
//! notes, section 5.2; `examples/server` @ 97d29908): one loaded model served
//! through three API families, with no auth. OpenAI-compatible images
//! (`/v1/images/generations`, `/v1/images/edits`, `/v1/models`), the
//! WebUI-compatible `sdapi` (`txt2img`, `img2img` and its discovery routes),
//! and the native async API (`/sdcpp/v1/img_gen`, its jobs, their
//! cancellation, the capabilities).
//!
//! One file per concern: `errors.rs` holds the `{"error":"…"}` shape and the
//! server's messages; `params.rs` the generation parameters, the native field
//! names, how they resolve and the output options; `engine.rs` the model at
//! work (one generation at a time, step by step, then the images);
//! `jobs.rs` the native API, its jobs and their worker; `compat.rs` the
//! OpenAI and WebUI families; `faults.rs` sd.cpp's side of fault injection (the
//! rest is `crate::faults`). This file holds the configuration, the shared
//! state, the restarts, the stats and the router; `crate::serve` runs the
//! accept loop, `crate::render` draws the images.
//!
//! Routes:
//! - `POST /v1/images/generations`, `POST /v1/images/edits`, `GET /v1/models`.
//! - `POST /sdapi/v1/txt2img`, `POST /sdapi/v1/img2img`, `GET /sdapi/v1/{loras,
//!   upscalers,latent-upscale-modes,samplers,schedulers,sd-models,options}`.
//! - `POST /sdcpp/v1/img_gen`, `GET /sdcpp/v1/jobs/{id}`,
//!   `POST /sdcpp/v1/jobs/{id}/cancel`, `GET /sdcpp/v1/capabilities`
//!   (`POST /sdcpp/v1/vid_gen` answers 400: the model makes no video).
//! - `GET /__emulator/stats`: counters, emulator-only, never faulted.
//!
//! Every generation, whichever its family, takes `steps × step_ms` holding the
//! one model: synchronous calls wait for it, async jobs run one after the other
//! in the background. Order of checks: the fault middleware (a `status=` fault
//! answers before anything else), the route (404), the body (400 empty, 500
//! not JSON or a field of the wrong type, 400 invalid JSON on the native API),
//! the parameters (400), the queue (429).
//!
//! Unconfirmed choices are written where they are made: the sizes limit and
//! defaults in `params.rs`, the capabilities in `jobs.rs`, the infotexts in
//! `compat.rs`, the unknown route's answer in `errors.rs`.

mod compat;
mod engine;
mod errors;
mod faults;
mod jobs;
mod params;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};

pub use crate::faults::{Fault, Trigger};
pub use faults::{Endpoint, FAULT_HEADER, FaultPlan, FaultRule, parse_fault, parse_fault_rule};

use crate::faults::{Injector, TaskFault};
use crate::serve::accept_loop;

/// The most a multipart body (the edits' images) may weigh.
const BODY_LIMIT: usize = 64 * 1024 * 1024;

/// How the emulator behaves.
#[derive(Debug, Clone)]
pub struct SdCppEmulatorConfig {
    /// Seeds fault probabilities and the random seeds (`seed: -1`).
    pub seed: u64,
    /// Faults injected in this run (the `X-Emulator-Fault` header wins over it).
    pub faults: FaultPlan,
    /// How long each sampling step takes, in milliseconds (0: no wait).
    pub step_ms: u64,
    /// At most this many jobs queued or generating; a submission past it answers 429.
    pub max_queue: usize,
    /// How long a finished job is kept; then its id answers 410 (for at least a minute), then 404.
    pub job_ttl: Duration,
    /// How long the `timeout` fault holds its answer.
    pub timeout_fault_duration: Duration,
    /// The loaded model's file name (`sd-models`, `options`, the capabilities).
    pub model_name: String,
}

impl Default for SdCppEmulatorConfig {
    fn default() -> Self {
        Self {
            seed: 0,
            faults: FaultPlan::default(),
            step_ms: 0,
            max_queue: 8,
            job_ttl: Duration::from_secs(600),
            timeout_fault_duration: Duration::from_secs(120),
            model_name: "v1-5-pruned-emaonly.safetensors".into(),
        }
    }
}

/// The stable-diffusion.cpp `sd-server` emulator.
pub struct SdCppEmulator {
    state: Arc<SdCppState>,
}

impl SdCppEmulator {
    /// An emulator with this configuration and no jobs.
    pub fn new(config: SdCppEmulatorConfig) -> Self {
        let injector = Injector::new(&config.faults, config.seed, config.timeout_fault_duration);
        let rng = Mutex::new(StdRng::seed_from_u64(config.seed ^ 0x5DC_0CC0));
        let (epoch, _) = watch::channel(0);
        let state = SdCppState {
            config,
            injector,
            inner: Mutex::new(Inner::default()),
            model: tokio::sync::Mutex::new(()),
            epoch,
            queued: Notify::new(),
            worker_started: AtomicBool::new(false),
            next_id: AtomicU64::new(1),
            rng,
        };
        Self { state: Arc::new(state) }
    }

    /// The routes, for `tower::ServiceExt::oneshot` or any server. The `reset`
    /// and `restart` faults need [`SdCppEmulator::serve`] to drop connections.
    pub fn router(&self) -> Router {
        let state = self.state.clone();
        Router::new()
            .route("/v1/images/generations", post(compat::generations))
            .route("/v1/images/edits", post(compat::edits))
            .route("/v1/models", get(compat::models))
            .route("/sdapi/v1/txt2img", post(compat::txt2img))
            .route("/sdapi/v1/img2img", post(compat::img2img))
            .route("/sdapi/v1/loras", get(compat::loras))
            .route("/sdapi/v1/upscalers", get(compat::upscalers))
            .route("/sdapi/v1/latent-upscale-modes", get(compat::latent_upscale_modes))
            .route("/sdapi/v1/samplers", get(compat::samplers))
            .route("/sdapi/v1/schedulers", get(compat::schedulers))
            .route("/sdapi/v1/sd-models", get(compat::sd_models))
            .route("/sdapi/v1/options", get(compat::options))
            .route("/sdcpp/v1/capabilities", get(jobs::capabilities))
            .route("/sdcpp/v1/img_gen", post(jobs::img_gen))
            .route("/sdcpp/v1/vid_gen", post(jobs::vid_gen))
            .route("/sdcpp/v1/jobs/{id}", get(jobs::get_job))
            .route("/sdcpp/v1/jobs/{id}/cancel", post(jobs::cancel))
            .fallback(not_found)
            .method_not_allowed_fallback(not_found)
            .layer(DefaultBodyLimit::max(BODY_LIMIT))
            .layer(middleware::from_fn_with_state(state.clone(), restart_now))
            .layer(middleware::from_fn_with_state(state.clone(), crate::faults::middleware::<SdCppState>))
            .route("/__emulator/stats", get(stats))
            .with_state(state)
    }

    /// Serves on `listener` until the process ends, one connection per task, so
    /// that the `reset` and `restart` faults can drop a connection without answering.
    pub async fn serve(self, listener: TcpListener) -> io::Result<()> {
        let local = listener.local_addr()?;
        let router = self.router();
        tracing::info!(address = %local, "sdcpp emulator listening");
        accept_loop(listener, router, "sdcpp emulator").await
    }
}

/// The shared state behind every handler.
pub(crate) struct SdCppState {
    config: SdCppEmulatorConfig,
    injector: Injector<Endpoint>,
    inner: Mutex<Inner>,
    /// The one model (`sd_ctx_mutex`): one generation at a time.
    model: tokio::sync::Mutex<()>,
    /// Moves on at each restart; what generates or waits then is lost.
    epoch: watch::Sender<u64>,
    /// Wakes the jobs' worker.
    queued: Notify,
    worker_started: AtomicBool,
    next_id: AtomicU64,
    /// Draws the random seeds.
    rng: Mutex<StdRng>,
}

#[derive(Default)]
struct Inner {
    jobs: HashMap<String, jobs::Job>,
    /// The queued jobs' ids, in order.
    queue: VecDeque<String>,
    /// Forgotten jobs' ids, answering 410 until then.
    expired: HashMap<String, Instant>,
    stats: Stats,
}

#[derive(Default)]
struct Stats {
    by_endpoint: BTreeMap<&'static str, u64>,
    images_generated: u64,
    /// Synchronous generations (every family but the native one) that got the model.
    sync_generations: u64,
    jobs_created: u64,
    /// Submissions refused with 429.
    jobs_rejected: u64,
    jobs_completed: u64,
    jobs_failed: u64,
    jobs_cancelled: u64,
    restarts: u64,
    /// Generations holding the model now (never more than 1) and the most seen at once.
    running: u64,
    max_concurrency: u64,
    /// Synchronous requests waiting for the model now, and the most seen at once.
    waiting: u64,
    max_waiting: u64,
}

impl SdCppState {
    fn inner(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A random seed, for a negative one.
    fn random_seed(&self) -> i64 {
        self.rng.lock().unwrap_or_else(PoisonError::into_inner).random_range(0..i64::from(i32::MAX))
    }

    /// The server restarts: every job is forgotten, what generates or waits is lost.
    fn restart(&self) {
        {
            let mut inner = self.inner();
            inner.jobs.clear();
            inner.queue.clear();
            inner.expired.clear();
            inner.stats.restarts += 1;
        }
        self.epoch.send_modify(|epoch| *epoch += 1);
        tracing::debug!("sdcpp emulator: restarted (restart fault)");
    }
}

/// A `restart` fault on a poll, a cancel or any route that does not generate:
/// the server restarts as the request comes in, then answers it.
async fn restart_now(State(state): State<Arc<SdCppState>>, request: Request, next: Next) -> Response {
    let endpoint = Endpoint::classify(request.method(), request.uri().path());
    let generates = endpoint.is_synchronous() || endpoint == Endpoint::ImgGen;
    if !generates && TaskFault::of(&request) == Some(Fault::Restart) {
        state.restart();
    }
    next.run(request).await
}

async fn not_found() -> Response {
    errors::not_found()
}

async fn stats(State(state): State<Arc<SdCppState>>) -> Response {
    let mut inner = state.inner();
    state.purge(&mut inner);
    let s = &inner.stats;
    let job_states: BTreeMap<&str, &str> =
        inner.jobs.iter().map(|(id, job)| (id.as_str(), job.status.name())).collect();
    let mut body = json!({
        "calls": s.by_endpoint.values().sum::<u64>(),
        "images_generated": s.images_generated,
        "sync_generations": s.sync_generations,
        "jobs_created": s.jobs_created,
        "jobs_rejected": s.jobs_rejected,
        "jobs_completed": s.jobs_completed,
        "jobs_failed": s.jobs_failed,
        "jobs_cancelled": s.jobs_cancelled,
        "queued": inner.queue.len(),
        "restarts": s.restarts,
        "running": s.running,
        "max_concurrency": s.max_concurrency,
        "waiting": s.waiting,
        "max_waiting": s.max_waiting,
        "faults_injected": state.injector.injected(),
        "job_states": job_states,
    });
    for endpoint in Endpoint::ALL {
        body[endpoint.stats_key()] = json!(s.by_endpoint.get(endpoint.stats_key()).copied().unwrap_or(0));
    }
    Json(body).into_response()
}
