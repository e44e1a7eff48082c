//! An emulator of the AUTOMATIC1111 Stable Diffusion WebUI's API (and Forge's,
//! which keeps it; the providers' protocol notes, section 5.1): the `sdapi/v1`
//! routes a client generates images through, with the WebUI's one-at-a-time
//! queue, its progress and interrupts, its checkpoints, samplers and options,
//! and its optional HTTP Basic auth (`--api-auth user:pass`).
//!
//! One file per concern: `errors.rs` holds the error shapes (the API
//! middleware's `{"error","detail","body","errors"}` and FastAPI's 422);
//! `params.rs` reads and checks the txt2img/img2img bodies; `generate.rs` runs
//! a generation through the queue and answers it; `progress.rs` holds the
//! shared state, `progress`, `interrupt` and `skip`; `catalog.rs` the
//! checkpoints, samplers, schedulers and options; `faults.rs` A1111's side of
//! fault injection (the rest is `crate::faults`). This file holds the
//! configuration, the shared state, the auth check, the restarts, the stats
//! and the router; `crate::serve` runs the accept loop, `crate::render` draws
//! the images.
//!
//! Routes (all behind the Basic auth when `auth` is set):
//! - `POST /sdapi/v1/txt2img`, `POST /sdapi/v1/img2img`.
//! - `GET /sdapi/v1/progress[?skip_current_image=true]`, `POST /sdapi/v1/interrupt`,
//!   `POST /sdapi/v1/skip`.
//! - `GET /sdapi/v1/sd-models`, `GET /sdapi/v1/samplers`, `GET /sdapi/v1/schedulers`,
//!   `GET`/`POST /sdapi/v1/options`, `POST /sdapi/v1/refresh-checkpoints`.
//! - `GET /__emulator/stats`: counters, emulator-only, never faulted, no auth.
//!
//! Order of checks: the fault middleware (a `status=` fault answers before
//! anything else), the credentials (401), the route (FastAPI's 404/405
//! `{"detail":"Not Found"}`), the body (422), its fields' types (422), the
//! emulator's ranges (422), the sampler (404), the checkpoint override (404),
//! img2img's images (404/500); then the request waits for the queue.
//!
//! Unconfirmed choices (the protocol notes mark A1111's validation errors,
//! `info` keys and img2img-only fields [U]) are written where they are made:
//! the error shapes in `errors.rs`, the checks in `params.rs`, an interrupted
//! generation's answer in `generate.rs`, the idle progress in `progress.rs`,
//! the checkpoint hashes and aliases in `catalog.rs`.

mod catalog;
mod errors;
mod faults;
mod generate;
mod params;
mod progress;

use std::collections::BTreeMap;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Map, Value, json};
use tokio::net::TcpListener;
use tokio::sync::watch;

pub use crate::faults::{Fault, Trigger};
pub use catalog::{DEFAULT_CHECKPOINTS, DEFAULT_SAMPLERS};
pub use faults::{Endpoint, FAULT_HEADER, FaultPlan, FaultRule, parse_fault, parse_fault_rule};

use crate::faults::{Injector, TaskFault};
use crate::serve::accept_loop;
use catalog::Catalog;
use progress::Progress;

/// How the emulator behaves.
#[derive(Debug, Clone)]
pub struct A1111EmulatorConfig {
    /// `--api-auth user:pass`: when set, every API route needs these HTTP
    /// Basic credentials (401 with `WWW-Authenticate: Basic` otherwise).
    pub auth: Option<(String, String)>,
    /// The checkpoint files, paths under the models directory
    /// (`v1-5-pruned-emaonly.safetensors`); the first is loaded at start.
    pub checkpoints: Vec<String>,
    /// The samplers' names (WebUI 1.10's known ones get their aliases and options).
    pub samplers: Vec<String>,
    /// Seeds fault probabilities and the random seeds (`seed: -1`).
    pub seed: u64,
    /// Faults injected in this run (the `X-Emulator-Fault` header wins over it).
    pub faults: FaultPlan,
    /// How long each sampling step takes, in milliseconds (0: no wait).
    pub step_ms: u64,
    /// How long the `timeout` fault holds its answer.
    pub timeout_fault_duration: Duration,
}

impl Default for A1111EmulatorConfig {
    fn default() -> Self {
        Self {
            auth: None,
            checkpoints: DEFAULT_CHECKPOINTS.iter().map(|c| (*c).to_owned()).collect(),
            samplers: DEFAULT_SAMPLERS.iter().map(|s| (*s).to_owned()).collect(),
            seed: 0,
            faults: FaultPlan::default(),
            step_ms: 0,
            timeout_fault_duration: Duration::from_secs(120),
        }
    }
}

/// The AUTOMATIC1111 WebUI API emulator.
pub struct A1111Emulator {
    state: Arc<A1111State>,
}

impl A1111Emulator {
    /// An emulator with this configuration, idle, its first checkpoint loaded.
    pub fn new(config: A1111EmulatorConfig) -> Self {
        let injector = Injector::new(&config.faults, config.seed, config.timeout_fault_duration);
        let catalog = Catalog::new(&config.checkpoints, &config.samplers);
        let inner = Inner {
            current: (!catalog.checkpoints.is_empty()).then_some(0),
            options: Map::new(),
            progress: Progress::default(),
            stats: Stats::default(),
        };
        let rng = Mutex::new(StdRng::seed_from_u64(config.seed ^ 0xA111_1111));
        let (epoch, _) = watch::channel(0);
        let state = A1111State {
            config,
            injector,
            catalog,
            inner: Mutex::new(inner),
            queue: tokio::sync::Mutex::new(()),
            epoch,
            rng,
        };
        Self { state: Arc::new(state) }
    }

    /// The routes, for `tower::ServiceExt::oneshot` or any server. The `reset`
    /// and `restart` faults need [`A1111Emulator::serve`] to drop connections.
    pub fn router(&self) -> Router {
        let state = self.state.clone();
        Router::new()
            .route("/sdapi/v1/txt2img", post(generate::txt2img))
            .route("/sdapi/v1/img2img", post(generate::img2img))
            .route("/sdapi/v1/progress", get(progress::progress))
            .route("/sdapi/v1/interrupt", post(progress::interrupt))
            .route("/sdapi/v1/skip", post(progress::skip))
            .route("/sdapi/v1/sd-models", get(catalog::sd_models))
            .route("/sdapi/v1/samplers", get(catalog::samplers))
            .route("/sdapi/v1/schedulers", get(catalog::schedulers))
            .route("/sdapi/v1/options", get(catalog::get_options).post(catalog::set_options))
            .route("/sdapi/v1/refresh-checkpoints", post(catalog::refresh_checkpoints))
            .fallback(not_found)
            .method_not_allowed_fallback(method_not_allowed)
            .layer(middleware::from_fn_with_state(state.clone(), restart_now))
            .layer(middleware::from_fn_with_state(state.clone(), auth))
            .layer(middleware::from_fn_with_state(state.clone(), crate::faults::middleware::<A1111State>))
            .route("/__emulator/stats", get(stats))
            .with_state(state)
    }

    /// Serves on `listener` until the process ends, one connection per task, so
    /// that the `reset` and `restart` faults can drop a connection without answering.
    pub async fn serve(self, listener: TcpListener) -> io::Result<()> {
        let local = listener.local_addr()?;
        let router = self.router();
        tracing::info!(address = %local, "a1111 emulator listening");
        accept_loop(listener, router, "a1111 emulator").await
    }
}

/// The shared state behind every handler.
pub(crate) struct A1111State {
    config: A1111EmulatorConfig,
    injector: Injector<Endpoint>,
    catalog: Catalog,
    inner: Mutex<Inner>,
    /// The WebUI's `queue_lock`: one generation at a time, the others wait in turn.
    queue: tokio::sync::Mutex<()>,
    /// Moves on at each restart; what generates or waits then is lost.
    epoch: watch::Sender<u64>,
    /// Draws the random seeds.
    rng: Mutex<StdRng>,
}

struct Inner {
    /// The loaded checkpoint (an index into the catalog), `None` without any.
    current: Option<usize>,
    /// The options set through `POST /sdapi/v1/options` (but the checkpoint).
    options: Map<String, Value>,
    progress: Progress,
    stats: Stats,
}

#[derive(Default)]
struct Stats {
    by_endpoint: BTreeMap<&'static str, u64>,
    /// Requests refused for missing or wrong credentials.
    auth_failures: u64,
    /// Generations answered with images (interrupted ones too).
    generations: u64,
    images_generated: u64,
    /// Generations an interrupt cut short.
    interrupted: u64,
    /// `POST /sdapi/v1/interrupt` calls.
    interrupt_requests: u64,
    /// Generations by checkpoint title, and by sampler.
    by_checkpoint: BTreeMap<String, u64>,
    by_sampler: BTreeMap<String, u64>,
    /// Checkpoint switches through the options.
    checkpoint_switches: u64,
    restarts: u64,
    /// Generations running now (never more than 1) and the most seen at once.
    running: u64,
    max_concurrency: u64,
    /// Requests waiting for the queue now, and the most seen at once.
    waiting: u64,
    max_waiting: u64,
    /// The last generation's number.
    next_run: u64,
}

impl A1111State {
    fn inner(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A random seed, as the WebUI draws one for `seed: -1`.
    fn random_seed(&self) -> i64 {
        self.rng.lock().unwrap_or_else(PoisonError::into_inner).random_range(0..4_294_967_294)
    }

    /// The WebUI restarts: what generates or waits is lost, progress is idle.
    fn restart(&self) {
        {
            let mut inner = self.inner();
            inner.progress.run = None;
            inner.progress.interrupted = false;
            inner.progress.skipped = false;
            inner.stats.restarts += 1;
        }
        self.epoch.send_modify(|epoch| *epoch += 1);
        tracing::debug!("a1111 emulator: restarted (restart fault)");
    }
}

/// The credentials every API route needs when `auth` is set.
async fn auth(State(state): State<Arc<A1111State>>, request: Request, next: Next) -> Response {
    let Some((user, password)) = &state.config.auth else {
        return next.run(request).await;
    };
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().strip_prefix("Basic ").or_else(|| v.trim().strip_prefix("basic ")))
        .and_then(|b64| base64::engine::general_purpose::STANDARD.decode(b64.trim()).ok())
        .and_then(|bytes| String::from_utf8(bytes).ok());
    let accepted = given
        .as_deref()
        .and_then(|pair| pair.split_once(':'))
        .is_some_and(|(u, p)| u == user.as_str() && p == password.as_str());
    if accepted {
        return next.run(request).await;
    }
    state.inner().stats.auth_failures += 1;
    tracing::debug!(path = request.uri().path(), "a1111 emulator: refused a request without valid credentials");
    errors::unauthorized(given.is_none())
}

/// A `restart` fault on an endpoint that does not generate: the WebUI
/// restarts as the request comes in, then answers it.
async fn restart_now(State(state): State<Arc<A1111State>>, request: Request, next: Next) -> Response {
    let endpoint = Endpoint::classify(request.method(), request.uri().path());
    if !endpoint.generates() && TaskFault::of(&request) == Some(Fault::Restart) {
        state.restart();
    }
    next.run(request).await
}

async fn not_found() -> Response {
    errors::route_error(StatusCode::NOT_FOUND)
}

async fn method_not_allowed() -> Response {
    errors::route_error(StatusCode::METHOD_NOT_ALLOWED)
}

async fn stats(State(state): State<Arc<A1111State>>) -> Response {
    let inner = state.inner();
    let s = &inner.stats;
    let current = inner.current.and_then(|i| state.catalog.checkpoints.get(i)).map(|c| c.title.clone());
    let mut body = json!({
        "calls": s.by_endpoint.values().sum::<u64>(),
        "auth_failures": s.auth_failures,
        "generations": s.generations,
        "images_generated": s.images_generated,
        "interrupted": s.interrupted,
        "interrupt_requests": s.interrupt_requests,
        "by_checkpoint": s.by_checkpoint,
        "by_sampler": s.by_sampler,
        "checkpoint_switches": s.checkpoint_switches,
        "current_checkpoint": current,
        "restarts": s.restarts,
        "running": s.running,
        "max_concurrency": s.max_concurrency,
        "waiting": s.waiting,
        "max_waiting": s.max_waiting,
        "faults_injected": state.injector.injected(),
    });
    for endpoint in Endpoint::ALL {
        body[endpoint.stats_key()] = json!(s.by_endpoint.get(endpoint.stats_key()).copied().unwrap_or(0));
    }
    Json(body).into_response()
}
