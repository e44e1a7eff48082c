//! An emulator of VolcEngine's visual API (Jimeng and the general text-to-image
//! models; the providers' protocol notes, section 4): one address, every call
//! `POST /?Action=<Action>&Version=2022-08-31` with a JSON body, signed with
//! the "HMAC-SHA256" V4 scheme (region `cn-north-1`, service `cv`).
//!
//! One file per concern: `signature.rs` verifies signatures (written from the
//! protocol, sharing nothing with any client); `envelope.rs` holds the business
//! envelope, its codes, and the gateway's `ResponseMetadata` errors;
//! `params.rs` the `req_key`s and their fields' checks; `sync.rs` `CVProcess`;
//! `tasks.rs` `CVSync2AsyncSubmitTask` and `CVSync2AsyncGetResult` and the
//! tasks' lives; `images.rs` the result images (base64 or URLs) and the files
//! they point at; `faults.rs` VolcEngine's side of fault injection (the rest is
//! `crate::faults`). This file holds the configuration, the shared state, the
//! dispatch by `Action`, the QPS limit and the router; `crate::serve` runs the
//! accept loop.
//!
//! Routes:
//! - `POST /?Action=CVProcess|CVSync2AsyncSubmitTask|CVSync2AsyncGetResult&Version=2022-08-31`:
//!   signed with the configured access key. Any other action or version answers
//!   the gateway's `InvalidActionOrVersion` (the older `CVSubmitTask`/`CVGetResult`
//!   family and `CVCancelTask` are not emulated).
//! - `GET /files/{id}.png`: `return_url` results, public like the real signed URLs.
//! - `GET /__emulator/stats`: counters, emulator-only, never faulted, unsigned.
//!
//! Order of checks on the API: the fault middleware (a `status=` fault answers
//! before anything else), the signature (gateway errors, HTTP 401), the action
//! and version (404), the QPS limit when configured (50429, HTTP 429), the body
//! (a JSON object), the `req_key` (50400 when unknown or called in the wrong
//! style), then its fields (50215, HTTP 400).

mod envelope;
mod faults;
mod images;
mod params;
mod signature;
mod sync;
mod tasks;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;

pub use crate::faults::{Fault, Trigger};
pub use faults::{Endpoint, FAULT_HEADER, FaultPlan, FaultRule, parse_fault, parse_fault_rule};

use crate::faults::{Injector, TaskFault};
use crate::serve::{accept_loop, base_url_for};
use envelope::{GatewayCode, QPS_LIMIT};
use signature::Verifier;

/// The API version every emulated action answers to.
pub const API_VERSION: &str = "2022-08-31";
/// The most a request body may weigh.
const BODY_LIMIT: usize = 16 * 1024 * 1024;

/// How the emulator behaves.
#[derive(Debug, Clone)]
pub struct VolcEngineEmulatorConfig {
    /// The one access key accepted (`Credential=<AK>/…`).
    pub access_key_id: String,
    /// Its secret, which signatures are checked with.
    pub secret_access_key: String,
    /// The base of `image_urls` (`<base>/files/<id>.png`), without a trailing
    /// slash. `None`: `serve` uses the listener's address; a bare router uses
    /// the request's `Host`.
    pub public_base_url: Option<String>,
    /// Seeds fault probabilities, the images and the task ids.
    pub seed: u64,
    /// Faults injected in this run (the `X-Emulator-Fault` header wins over it).
    pub faults: FaultPlan,
    /// How many GetResult polls of a task come before it is `done`: the first
    /// says `in_queue`, the next ones `generating`. 0: done at the first poll.
    pub steps_to_finish: u32,
    /// How long a task is remembered; older ones answer `not_found` (the
    /// service forgets them after 12 hours).
    pub task_ttl: Duration,
    /// How far `X-Date` may be from the emulator's clock, either way.
    pub clock_skew: Duration,
    /// At most this many API requests (signed, any action) per second; more
    /// answer 50429 (HTTP 429). `None`: no limit.
    pub qps_limit: Option<u32>,
    /// The outer code a `generation_failed` task (or CVProcess) answers.
    pub generation_failed_code: u16,
    /// How long the `timeout` fault holds its answer.
    pub timeout_fault_duration: Duration,
}

impl Default for VolcEngineEmulatorConfig {
    fn default() -> Self {
        Self {
            access_key_id: "test-ak".into(),
            secret_access_key: "test-sk".into(),
            public_base_url: None,
            seed: 0,
            faults: FaultPlan::default(),
            steps_to_finish: 2,
            task_ttl: Duration::from_secs(12 * 3600),
            clock_skew: Duration::from_secs(15 * 60),
            qps_limit: None,
            generation_failed_code: 50511,
            timeout_fault_duration: Duration::from_secs(120),
        }
    }
}

/// The VolcEngine visual API emulator.
pub struct VolcEngineEmulator {
    state: Arc<VolcState>,
}

impl VolcEngineEmulator {
    /// An emulator with this configuration and no tasks.
    pub fn new(config: VolcEngineEmulatorConfig) -> Self {
        let injector = Injector::new(&config.faults, config.seed, config.timeout_fault_duration);
        let inner = Inner {
            base_url: config.public_base_url.as_ref().map(|b| b.trim_end_matches('/').to_owned()),
            tasks: HashMap::new(),
            files: HashMap::new(),
            recent: VecDeque::new(),
            stats: Stats::default(),
        };
        let mut hasher = Sha256::new();
        hasher.update(config.seed.to_le_bytes());
        let digest: [u8; 32] = hasher.finalize().into();
        let mut prefix_bytes = [0u8; 8];
        prefix_bytes.copy_from_slice(&digest[..8]);
        let task_prefix = u64::from_le_bytes(prefix_bytes) % 1_000_000_000_000;
        let state = VolcState { config, injector, inner: Mutex::new(inner), next_id: AtomicU64::new(1), task_prefix };
        Self { state: Arc::new(state) }
    }

    /// The routes, for `tower::ServiceExt::oneshot` or any server. The `reset`
    /// fault needs [`VolcEngineEmulator::serve`].
    pub fn router(&self) -> Router {
        let state = self.state.clone();
        Router::new()
            .route("/", post(api))
            .route("/files/{file}", get(images::serve_file))
            .fallback(not_found)
            .method_not_allowed_fallback(method_not_allowed)
            .layer(middleware::from_fn_with_state(state.clone(), crate::faults::middleware::<VolcState>))
            .route("/__emulator/stats", get(stats))
            .with_state(state)
    }

    /// Serves on `listener` until the process ends, one connection per task, so
    /// that the `reset` fault can drop a connection without answering.
    pub async fn serve(self, listener: TcpListener) -> io::Result<()> {
        let local = listener.local_addr()?;
        self.state.inner().base_url.get_or_insert_with(|| base_url_for(local));
        let router = self.router();
        tracing::info!(address = %local, "volcengine emulator listening");
        accept_loop(listener, router, "volcengine emulator").await
    }
}

/// The shared state behind every handler.
pub(crate) struct VolcState {
    config: VolcEngineEmulatorConfig,
    injector: Injector<Endpoint>,
    inner: Mutex<Inner>,
    next_id: AtomicU64,
    /// The task ids' fixed digits, from the seed.
    task_prefix: u64,
}

struct Inner {
    base_url: Option<String>,
    tasks: HashMap<String, tasks::Task>,
    /// `return_url` images by file id (`<task_id>_<n>`, `p<seq>_<n>`).
    files: HashMap<String, images::ImageSpec>,
    /// When the API requests of the last second came (the QPS limit).
    recent: VecDeque<Instant>,
    stats: Stats,
}

#[derive(Default)]
struct Stats {
    by_endpoint: BTreeMap<&'static str, u64>,
    /// Accepted requests (CVProcess and submits) per `req_key`.
    by_req_key: BTreeMap<&'static str, u64>,
    tasks_created: u64,
    signature_failures: u64,
    /// Signature failures by gateway code.
    signature_failure_codes: BTreeMap<&'static str, u64>,
    rate_limited: u64,
    /// Results answered with `logo_info.add_logo` (recorded, not drawn).
    logos_requested: u64,
    /// Results answered with an `aigc_meta`.
    aigc_meta_requested: u64,
}

impl VolcState {
    fn inner(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn next_sequence(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// A new task id: digits, as the service's are (`7392616336519610409`).
    fn next_task_id(&self) -> String {
        format!("7{:012}{:06}", self.task_prefix, self.next_sequence())
    }

    /// The base of result URLs: configured, else the listener's, else the request's `Host`.
    fn base_url(&self, headers: &HeaderMap) -> String {
        if let Some(base) = &self.inner().base_url {
            return base.clone();
        }
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
        format!("http://{host}")
    }

    /// Admits one API request under the QPS limit (a sliding second).
    fn admit(&self) -> bool {
        let Some(limit) = self.config.qps_limit else { return true };
        let now = Instant::now();
        let mut inner = self.inner();
        while inner.recent.front().is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1)) {
            inner.recent.pop_front();
        }
        if inner.recent.len() >= limit as usize {
            inner.stats.rate_limited += 1;
            return false;
        }
        inner.recent.push_back(now);
        true
    }

    /// Counts the output options of an answered result.
    fn record_output(&self, output: &params::Output) {
        let mut inner = self.inner();
        inner.stats.logos_requested += u64::from(output.add_logo);
        inner.stats.aigc_meta_requested += u64::from(output.aigc_meta);
    }
}

/// An error answer, boxed, as handlers return it through `Result`.
#[derive(Debug)]
pub(crate) struct Refusal(Box<Response>);

impl From<Response> for Refusal {
    fn from(response: Response) -> Self {
        Self(Box::new(response))
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        *self.0
    }
}

/// The actions the emulator answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Process,
    Submit,
    GetResult,
}

impl Action {
    fn parse(action: &str, version: &str) -> Option<Action> {
        if version != API_VERSION {
            return None;
        }
        match action {
            "CVProcess" => Some(Action::Process),
            "CVSync2AsyncSubmitTask" => Some(Action::Submit),
            "CVSync2AsyncGetResult" => Some(Action::GetResult),
            _ => None,
        }
    }
}

/// `POST /?Action=…&Version=…`: the signature, the action, the QPS limit, the
/// body, then the action's handler.
async fn api(State(state): State<Arc<VolcState>>, request: Request) -> Response {
    let started = Instant::now();
    let fault = TaskFault::of(&request);
    let base_url = state.base_url(request.headers());
    let (parts, body) = request.into_parts();
    let query = parts.uri.query().unwrap_or_default();
    let action = faults::query_value(query, "Action").unwrap_or_default().to_owned();
    let version = faults::query_value(query, "Version").unwrap_or_default().to_owned();
    let Ok(body) = axum::body::to_bytes(body, BODY_LIMIT).await else {
        return envelope::invalid("the body is too large or unreadable", started);
    };

    let verifier = Verifier {
        access_key_id: &state.config.access_key_id,
        secret_access_key: &state.config.secret_access_key,
        clock_skew: state.config.clock_skew,
    };
    if let Err(rejection) =
        signature::verify(&verifier, &parts.method, &parts.uri, &parts.headers, &body, chrono::Utc::now())
    {
        {
            let mut inner = state.inner();
            inner.stats.signature_failures += 1;
            *inner.stats.signature_failure_codes.entry(rejection.code.as_str()).or_default() += 1;
        }
        tracing::debug!(code = rejection.code.as_str(), message = %rejection.message, "volcengine emulator: refused a signature");
        return envelope::gateway_error(rejection.code, &action, &version, &rejection.message);
    }
    let Some(op) = Action::parse(&action, &version) else {
        return envelope::gateway_error(
            GatewayCode::InvalidActionOrVersion,
            &action,
            &version,
            &format!("Could not find operation `{action}` for version `{version}` of service cv."),
        );
    };
    if !state.admit() {
        return envelope::error(QPS_LIMIT, None, started);
    }
    let fields: Map<String, Value> = match serde_json::from_slice(&body) {
        Ok(Value::Object(fields)) => fields,
        _ => return envelope::invalid("the body must be a JSON object", started),
    };
    let answered = match op {
        Action::Process => sync::process(&state, &fields, fault, &base_url, started).await,
        Action::Submit => tasks::submit(&state, &fields, fault, started),
        Action::GetResult => tasks::get_result(&state, &fields, fault, &base_url, started).await,
    };
    match answered {
        Ok(data) => envelope::ok(data, started),
        Err(refusal) => refusal.into_response(),
    }
}

async fn not_found(request: Request) -> Response {
    let query = request.uri().query().unwrap_or_default();
    let action = faults::query_value(query, "Action").unwrap_or_default();
    let version = faults::query_value(query, "Version").unwrap_or_default();
    envelope::gateway_error(GatewayCode::InvalidActionOrVersion, action, version, "No such path: the API is at `/`.")
}

async fn method_not_allowed(request: Request) -> Response {
    let query = request.uri().query().unwrap_or_default();
    let action = faults::query_value(query, "Action").unwrap_or_default();
    let version = faults::query_value(query, "Version").unwrap_or_default();
    envelope::gateway_error(GatewayCode::MethodNotAllowed, action, version, "The API takes POST with a JSON body.")
}

async fn stats(State(state): State<Arc<VolcState>>) -> Response {
    let mut inner = state.inner();
    let ttl = state.config.task_ttl;
    inner.tasks.retain(|_, task| task.created.elapsed() < ttl);
    let s = &inner.stats;
    let task_states: BTreeMap<&str, &str> =
        inner.tasks.iter().map(|(id, task)| (id.as_str(), task.status.stats_name())).collect();
    let mut body = json!({
        "calls": s.by_endpoint.values().sum::<u64>(),
        "by_req_key": s.by_req_key,
        "tasks_created": s.tasks_created,
        "signature_failures": s.signature_failures,
        "signature_failure_codes": s.signature_failure_codes,
        "rate_limited": s.rate_limited,
        "logos_requested": s.logos_requested,
        "aigc_meta_requested": s.aigc_meta_requested,
        "faults_injected": state.injector.injected(),
        "task_states": task_states,
    });
    for endpoint in Endpoint::ALL {
        body[endpoint.stats_key()] = json!(s.by_endpoint.get(endpoint.stats_key()).copied().unwrap_or(0));
    }
    Json(body).into_response()
}
