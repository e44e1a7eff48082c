//! An emulator of ComfyUI's server (the providers' protocol notes, section
//! 5.3; ComfyUI's `server.py`, `execution.py`, `nodes.py`): workflows in API
//! format queued through `POST /prompt`, checked as ComfyUI checks them, run
//! one at a time node by node, their images saved to the output folder,
//! reported in `/history` and over the WebSocket, and fetched through `/view`.
//! No auth.
//!
//! One file per concern: `nodes.rs` holds the node classes and `object_info`;
//! `python.rs` how Python writes and converts values (ComfyUI's messages are
//! f-strings); `validate.rs` the checks of `POST /prompt`; `execute.rs` the
//! worker that runs the queue, each node, the sampling steps and the faults
//! that strike there; `queue.rs` the prompt, queue, interrupt and history
//! routes; `files.rs` the input, output and temp folders, `/view` and
//! `/upload/image`; `ws.rs` the WebSocket (its handshake and frames, written
//! here: the crate has no WebSocket library); `errors.rs` the error shapes;
//! `faults.rs` ComfyUI's side of fault injection (the rest is
//! `crate::faults`). This file holds the configuration, the shared state, the
//! restarts, the discovery routes, the stats and the router; `crate::serve`
//! runs the accept loop (with HTTP upgrades, for the WebSocket),
//! `crate::render` draws the images.
//!
//! Routes (each also under `/api/`, as ComfyUI serves them):
//! - `POST /prompt`, `GET /prompt`, `GET`/`POST /queue`, `POST /interrupt`,
//!   `GET /history`, `GET /history/{prompt_id}`, `POST /history`.
//! - `GET /view`, `POST /upload/image`.
//! - `GET /object_info`, `GET /object_info/{class}`, `GET /models`,
//!   `GET /models/{folder}`, `GET /embeddings`, `GET /system_stats`,
//!   `POST /free`.
//! - `GET /ws?clientId=<id>`: the WebSocket.
//! - `GET /__emulator/stats`: counters, emulator-only, never faulted.
//!
//! A prompt takes `steps × step_ms` per `KSampler` it runs. Order of checks:
//! the fault middleware (a `status=` fault answers before anything else), the
//! route (aiohttp's plain-text 404/405), the body (500 when it is not JSON, as
//! an uncaught exception), then the prompt's checks (400).
//!
//! Unconfirmed choices (the protocol notes mark the history's `meta`, the
//! WebSocket's messages and the default port [U]) are written where they are
//! made: the messages' order and contents in `execute.rs`, the execution
//! order and the caching (none: every node runs every time, and
//! `execution_cached` lists no nodes), the images (drawn, not sampled; a
//! `LoadImage` → `SaveImage` workflow saves a new drawing of the input's
//! size), the memory limit (an image past 4096×4096 pixels, or a batch past
//! 64 megapixels, runs out of memory), the system stats' numbers.

mod errors;
mod execute;
mod faults;
mod files;
mod nodes;
mod python;
mod queue;
mod validate;
mod ws;

use std::collections::BTreeMap;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};

pub use crate::faults::{Fault, Trigger};
pub use faults::{Endpoint, FAULT_HEADER, FaultPlan, FaultRule, parse_fault, parse_fault_rule};
pub use nodes::{DEFAULT_CHECKPOINTS, DEFAULT_SAMPLERS, DEFAULT_SCHEDULERS, DEFAULT_UPSCALE_MODELS};

use crate::faults::{Injector, TaskFault};
use crate::serve::accept_loop;
use files::{Files, Folder};
use queue::{Queued, Running};

/// The most a request body (an uploaded image) may weigh.
const BODY_LIMIT: usize = 100 * 1024 * 1024;

/// How the emulator behaves.
#[derive(Debug, Clone)]
pub struct ComfyUiEmulatorConfig {
    /// The checkpoint files (`CheckpointLoaderSimple`'s `ckpt_name` choices,
    /// `GET /models/checkpoints`).
    pub checkpoints: Vec<String>,
    /// The upscale model files (`UpscaleModelLoader`'s `model_name`); a name
    /// says its factor (`RealESRGAN_x4plus.pth`, `4x-UltraSharp.pth`: 4×;
    /// 4× when it does not say).
    pub upscale_models: Vec<String>,
    /// `KSampler`'s `sampler_name` choices.
    pub samplers: Vec<String>,
    /// `KSampler`'s `scheduler` choices.
    pub schedulers: Vec<String>,
    /// Images in the input folder at start: name, width, height (drawn PNGs).
    pub input_images: Vec<(String, u32, u32)>,
    /// Seeds fault probabilities, prompt ids and preview names.
    pub seed: u64,
    /// Faults injected in this run (the `X-Emulator-Fault` header wins over it).
    pub faults: FaultPlan,
    /// How long each sampling step takes, in milliseconds (0: no wait).
    pub step_ms: u64,
    /// How long the `timeout` fault holds its answer.
    pub timeout_fault_duration: Duration,
}

impl Default for ComfyUiEmulatorConfig {
    fn default() -> Self {
        Self {
            checkpoints: DEFAULT_CHECKPOINTS.iter().map(|c| (*c).to_owned()).collect(),
            upscale_models: DEFAULT_UPSCALE_MODELS.iter().map(|m| (*m).to_owned()).collect(),
            samplers: DEFAULT_SAMPLERS.iter().map(|s| (*s).to_owned()).collect(),
            schedulers: DEFAULT_SCHEDULERS.iter().map(|s| (*s).to_owned()).collect(),
            input_images: vec![("example.png".into(), 512, 512)],
            seed: 0,
            faults: FaultPlan::default(),
            step_ms: 0,
            timeout_fault_duration: Duration::from_secs(120),
        }
    }
}

/// The ComfyUI server emulator.
pub struct ComfyUiEmulator {
    state: Arc<ComfyUiState>,
}

impl ComfyUiEmulator {
    /// An emulator with this configuration: idle, its input images in the input folder.
    pub fn new(config: ComfyUiEmulatorConfig) -> Self {
        let injector = Injector::new(&config.faults, config.seed, config.timeout_fault_duration);
        let mut files = Files::default();
        for (name, width, height) in &config.input_images {
            match crate::render::render_png(*width, *height, config.seed, "comfyui-input", &[0; 32], 0) {
                Ok(png) => files.put(Folder::Input, "", name, Bytes::from(png)),
                Err(e) => tracing::warn!(error = %e, name = %name, "comfyui emulator: could not draw an input image"),
            }
        }
        let inner = Inner {
            number: 0,
            pending: Vec::new(),
            running: None,
            history: Vec::new(),
            files,
            interrupt: false,
            states: BTreeMap::new(),
            stats: Stats::default(),
        };
        let (epoch, _) = watch::channel(0);
        let state = ComfyUiState {
            rng: Mutex::new(StdRng::seed_from_u64(config.seed ^ 0xC0FF_EE11)),
            config,
            injector,
            inner: Mutex::new(inner),
            sockets: Mutex::new(ws::Sockets::default()),
            epoch,
            queued: Notify::new(),
            interrupted: Notify::new(),
            worker_started: AtomicBool::new(false),
            next_seq: AtomicU64::new(1),
        };
        Self { state: Arc::new(state) }
    }

    /// The routes, for `tower::ServiceExt::oneshot` or any server. The
    /// WebSocket and the `reset` and `restart` faults need
    /// [`ComfyUiEmulator::serve`] (connections to upgrade or drop).
    pub fn router(&self) -> Router {
        let state = self.state.clone();
        let api = Router::new()
            .route("/prompt", post(queue::post_prompt).get(queue::get_prompt))
            .route("/queue", get(queue::get_queue).post(queue::post_queue))
            .route("/interrupt", post(queue::interrupt))
            .route("/history", get(queue::get_history).post(queue::post_history))
            .route("/history/{prompt_id}", get(queue::get_history_item))
            .route("/view", get(files::view))
            .route("/upload/image", post(files::upload_image))
            .route("/object_info", get(object_info))
            .route("/object_info/{class}", get(object_info_class))
            .route("/models", get(model_folders))
            .route("/models/{folder}", get(models))
            .route("/embeddings", get(embeddings))
            .route("/system_stats", get(system_stats))
            .route("/free", post(free))
            .route("/ws", get(ws::handshake));
        Router::new()
            .merge(api.clone())
            .nest("/api", api)
            .fallback(not_found)
            .method_not_allowed_fallback(method_not_allowed)
            .layer(DefaultBodyLimit::max(BODY_LIMIT))
            .layer(middleware::from_fn_with_state(state.clone(), restart_now))
            .layer(middleware::from_fn_with_state(state.clone(), crate::faults::middleware::<ComfyUiState>))
            .route("/__emulator/stats", get(stats))
            .with_state(state)
    }

    /// Serves on `listener` until the process ends, one connection per task, so
    /// that WebSockets can be upgraded to and the `reset` and `restart` faults
    /// can drop connections.
    pub async fn serve(self, listener: TcpListener) -> io::Result<()> {
        let local = listener.local_addr()?;
        let router = self.router();
        tracing::info!(address = %local, "comfyui emulator listening");
        accept_loop(listener, router, "comfyui emulator").await
    }
}

/// The shared state behind every handler.
pub(crate) struct ComfyUiState {
    config: ComfyUiEmulatorConfig,
    injector: Injector<Endpoint>,
    inner: Mutex<Inner>,
    /// The open WebSockets, by client id.
    sockets: Mutex<ws::Sockets>,
    /// Moves on at each restart; what runs then is lost, the WebSockets close.
    epoch: watch::Sender<u64>,
    /// Wakes the worker.
    queued: Notify,
    /// Wakes the running prompt's waits when an interrupt comes.
    interrupted: Notify,
    worker_started: AtomicBool,
    /// Orders prompts of the same number (and tells runs apart).
    next_seq: AtomicU64,
    /// Draws prompt ids, client ids and preview names.
    rng: Mutex<StdRng>,
}

struct Inner {
    /// The next prompt's number (`PromptServer.number`).
    number: i64,
    /// The queued prompts (run lowest number first).
    pending: Vec<Queued>,
    /// The prompt executing.
    running: Option<Running>,
    /// The finished prompts, oldest first (ComfyUI keeps at most 10000).
    history: Vec<(String, Value)>,
    files: Files,
    /// Set by `POST /interrupt`, cleared as the next prompt starts.
    interrupt: bool,
    /// Every prompt's state (`pending`, `running`, `success`, `error`,
    /// `interrupted`, `deleted`, `lost`), for the stats.
    states: BTreeMap<String, &'static str>,
    stats: Stats,
}

#[derive(Default)]
struct Stats {
    by_endpoint: BTreeMap<&'static str, u64>,
    prompts_queued: u64,
    /// Prompts refused by the checks (400).
    prompts_rejected: u64,
    prompts_completed: u64,
    prompts_failed: u64,
    prompts_interrupted: u64,
    /// Prompts removed from the queue by `POST /queue`.
    prompts_deleted: u64,
    images_generated: u64,
    /// `CheckpointLoaderSimple` runs by checkpoint.
    by_checkpoint: BTreeMap<String, u64>,
    uploads: u64,
    /// WebSockets accepted, and open now.
    ws_connections: u64,
    ws_open: u64,
    restarts: u64,
    /// Prompts executing now (never more than 1) and the most seen at once.
    running: u64,
    max_concurrency: u64,
}

impl ComfyUiState {
    fn inner(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn sockets(&self) -> MutexGuard<'_, ws::Sockets> {
        self.sockets.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn rng(&self) -> MutexGuard<'_, StdRng> {
        self.rng.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A random version-4 UUID (`uuid.uuid4()`), from the run's seed.
    fn uuid4(&self) -> String {
        let mut b: [u8; 16] = self.rng().random();
        b[6] = (b[6] & 0x0F) | 0x40;
        b[8] = (b[8] & 0x3F) | 0x80;
        let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
        format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32])
    }

    /// The prompts queued or running (`exec_info.queue_remaining`).
    fn queue_remaining(&self) -> usize {
        let inner = self.inner();
        inner.pending.len() + usize::from(inner.running.is_some())
    }

    /// `{"status":{"exec_info":{"queue_remaining":n}}}` to every WebSocket
    /// (`PromptServer.queue_updated`).
    fn queue_updated(&self) {
        let remaining = self.queue_remaining();
        self.sockets().send(None, "status", &json!({ "status": { "exec_info": { "queue_remaining": remaining } } }));
    }

    /// The server restarts: the running and queued prompts are lost, the
    /// history and the temp folder emptied, the WebSockets closed.
    fn restart(&self) {
        {
            let mut inner = self.inner();
            let pending = std::mem::take(&mut inner.pending);
            let running = inner.running.take();
            for id in pending.iter().map(|q| &q.prompt_id).chain(running.iter().map(|r| &r.queued.prompt_id)) {
                inner.states.insert(id.clone(), "lost");
            }
            inner.history.clear();
            inner.number = 0;
            inner.interrupt = false;
            inner.files.clear_temp();
            inner.stats.running = 0;
            inner.stats.restarts += 1;
        }
        self.sockets().close_all();
        self.epoch.send_modify(|epoch| *epoch += 1);
        tracing::debug!("comfyui emulator: restarted (restart fault)");
    }
}

/// A `restart` fault on any route but `POST /prompt`: the server restarts as
/// the request comes in, then answers it.
async fn restart_now(State(state): State<Arc<ComfyUiState>>, request: Request, next: Next) -> Response {
    let endpoint = Endpoint::classify(request.method(), request.uri().path());
    if endpoint != Endpoint::Prompt && TaskFault::of(&request) == Some(Fault::Restart) {
        state.restart();
    }
    next.run(request).await
}

async fn not_found() -> Response {
    errors::not_found()
}

async fn method_not_allowed() -> Response {
    errors::method_not_allowed()
}

fn lists(state: &ComfyUiState) -> nodes::Lists<'_> {
    let input_images = state.inner().files.input_images();
    nodes::Lists { config: &state.config, input_images }
}

/// `GET /object_info`.
async fn object_info(State(state): State<Arc<ComfyUiState>>) -> Response {
    Json(lists(&state).all()).into_response()
}

/// `GET /object_info/{class}`: `{class: info}`, or `{}` for an unknown class.
async fn object_info_class(State(state): State<Arc<ComfyUiState>>, Path(class): Path<String>) -> Response {
    let body = match nodes::class(&class) {
        Some(found) => json!({ class: lists(&state).object_info(found) }),
        None => json!({}),
    };
    Json(body).into_response()
}

/// The model folders `GET /models` lists.
const MODEL_FOLDERS: [&str; 12] = [
    "checkpoints",
    "configs",
    "loras",
    "vae",
    "text_encoders",
    "diffusion_models",
    "clip_vision",
    "style_models",
    "embeddings",
    "controlnet",
    "upscale_models",
    "hypernetworks",
];

/// `GET /models`.
async fn model_folders() -> Response {
    Json(json!(MODEL_FOLDERS)).into_response()
}

/// `GET /models/{folder}`: its files, 404 for an unknown folder.
async fn models(State(state): State<Arc<ComfyUiState>>, Path(folder): Path<String>) -> Response {
    let files = match folder.as_str() {
        "checkpoints" => state.config.checkpoints.clone(),
        "upscale_models" => state.config.upscale_models.clone(),
        known if MODEL_FOLDERS.contains(&known) => Vec::new(),
        _ => return errors::not_found(),
    };
    Json(json!(files)).into_response()
}

/// `GET /embeddings`.
async fn embeddings() -> Response {
    Json(json!([])).into_response()
}

/// `GET /system_stats` (the numbers are the emulator's).
async fn system_stats() -> Response {
    Json(json!({
        "system": {
            "os": "posix",
            "ram_total": 67_430_481_920_u64,
            "ram_free": 51_539_607_552_u64,
            "comfyui_version": "0.3.60",
            "python_version": "3.12.3 (main, Apr 10 2024, 05:33:47) [GCC 13.2.0]",
            "pytorch_version": "2.8.0+cu128",
            "embedded_python": false,
            "argv": ["main.py", "--listen", "0.0.0.0", "--port", "8188"],
        },
        "devices": [{
            "name": "cuda:0 NVIDIA GeForce RTX 4090 : cudaMallocAsync",
            "type": "cuda",
            "index": 0,
            "vram_total": 25_386_352_640_u64,
            "vram_free": 23_911_792_640_u64,
            "torch_vram_total": 0,
            "torch_vram_free": 0,
        }],
    }))
    .into_response()
}

/// `POST /free` (`unload_models`, `free_memory`): nothing to free here.
async fn free() -> Response {
    errors::empty(200)
}

async fn stats(State(state): State<Arc<ComfyUiState>>) -> Response {
    let inner = state.inner();
    let s = &inner.stats;
    let mut body = json!({
        "calls": s.by_endpoint.values().sum::<u64>(),
        "prompts_queued": s.prompts_queued,
        "prompts_rejected": s.prompts_rejected,
        "prompts_completed": s.prompts_completed,
        "prompts_failed": s.prompts_failed,
        "prompts_interrupted": s.prompts_interrupted,
        "prompts_deleted": s.prompts_deleted,
        "queue_pending": inner.pending.len(),
        "images_generated": s.images_generated,
        "by_checkpoint": s.by_checkpoint,
        "uploads": s.uploads,
        "ws_connections": s.ws_connections,
        "ws_open": s.ws_open,
        "restarts": s.restarts,
        "running": s.running,
        "max_concurrency": s.max_concurrency,
        "history_size": inner.history.len(),
        "faults_injected": state.injector.injected(),
        "prompt_states": inner.states,
    });
    for endpoint in Endpoint::ALL {
        body[endpoint.stats_key()] = json!(s.by_endpoint.get(endpoint.stats_key()).copied().unwrap_or(0));
    }
    Json(body).into_response()
}
