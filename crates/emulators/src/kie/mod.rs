//! An emulator of Kie.ai's HTTP API (docs/providers/kie.md 1.1 to 1.5).
//!
//! One file per API family: `market.rs` (the market jobs API: Imagen 4 and
//! Sora 2), `veo.rs` (Veo 3, with its 1080p endpoint), `mj.rs` (Midjourney),
//! `upload.rs` (the file-upload API), `credit.rs` (credits), `files.rs` (result
//! files). `task.rs` holds what every API's tasks share (states, credits,
//! record-info, callbacks); each family hands it a `task::Family` and task.rs
//! imports none of them. `faults.rs` is Kie's side of fault injection (its
//! endpoints, codes and error answers; the rest is `crate::faults`). This file
//! holds the configuration, the shared state, the envelope, auth, rate limits
//! and the router; `crate::serve` runs the accept loop.
//!
//! Routes:
//! - `POST /api/v1/jobs/createTask`, `GET /api/v1/jobs/recordInfo?taskId=`,
//!   `POST /api/v1/veo/generate`, `GET /api/v1/veo/record-info?taskId=`,
//!   `GET /api/v1/veo/get-1080p-video?taskId=&index=`, `POST /api/v1/mj/generate`,
//!   `GET /api/v1/mj/record-info?taskId=`, `GET /api/v1/chat/credit`: need
//!   `Authorization: Bearer <api_key>`.
//! - `POST /api/file-stream-upload`, `/api/file-url-upload`, `/api/file-base64-upload`:
//!   the upload API (its own host at Kie; here the same listener), same key.
//! - `GET /files/{taskId}/{n}.png|.mp4` (and `1080p.mp4`): results, public like
//!   real result URLs; `GET /uploads/…`: uploaded files, public until they expire.
//! - `GET /__emulator/stats`: call counters; `GET /__emulator/sample.png`: a
//!   public image to upload by URL. Emulator-only, never faulted.

mod credit;
mod faults;
mod files;
mod market;
mod mj;
mod task;
mod upload;
mod veo;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use tokio::net::TcpListener;

pub use crate::faults::{Fault, Trigger};
pub use faults::{Endpoint, FAULT_HEADER, FaultPlan, FaultRule, parse_fault, parse_fault_rule};
pub use market::{MarketModel, model_cost};
pub use task::webhook_signature;

use crate::faults::Injector;
use crate::serve::{accept_loop, base_url_for};
use task::Task;

/// How the emulator behaves.
#[derive(Debug, Clone)]
pub struct KieEmulatorConfig {
    /// The one API key accepted as `Authorization: Bearer <api_key>`.
    pub api_key: String,
    /// The base of result URLs (`<base>/files/<taskId>/<n>.png`), without a
    /// trailing slash. `None`: `serve` uses the listener's address (a wildcard
    /// address becomes loopback); a bare router uses the request's `Host`.
    pub public_base_url: Option<String>,
    /// Seeds fault probabilities and the result images.
    pub seed: u64,
    /// Faults injected in this run (the `X-Emulator-Fault` header wins over it).
    pub faults: FaultPlan,
    /// How many recordInfo polls of a task come before it reaches `success`:
    /// the first says `waiting`, the next ones `generating`. 0: done at once.
    pub steps_to_finish: u32,
    /// Credits at start; each created task deducts [`model_cost`] (refunded if it fails).
    pub credits: f64,
    /// When set, callbacks carry `X-Webhook-Timestamp` and `X-Webhook-Signature`.
    pub webhook_hmac_key: Option<String>,
    /// At most this many createTask requests per window per key (`None`: no limit).
    pub create_rate_limit: Option<(u32, Duration)>,
    /// At most this many recordInfo requests per window per key (`None`: no limit).
    pub record_info_rate_limit: Option<(u32, Duration)>,
    /// A task with a `callBackUrl` finishes on its own this long after it was
    /// created (polls may finish it sooner); then the callback is sent.
    pub callback_delay: Duration,
    /// How long the `timeout` fault holds its answer.
    pub timeout_fault_duration: Duration,
    /// How many `get-1080p-video` requests of a Veo task answer "1080P is
    /// processing" (code 400) before the file's URL.
    pub hd_pending_requests: u32,
    /// How old every upload claims to be (`uploadedAt` = now − this), to test a
    /// client's handling of Kie's 3-day expiry.
    pub upload_age: Duration,
}

impl Default for KieEmulatorConfig {
    fn default() -> Self {
        Self {
            api_key: "test-key".to_string(),
            public_base_url: None,
            seed: 0,
            faults: FaultPlan::default(),
            steps_to_finish: 2,
            credits: 1000.0,
            webhook_hmac_key: None,
            create_rate_limit: Some((20, Duration::from_secs(10))),
            record_info_rate_limit: Some((10, Duration::from_secs(1))),
            callback_delay: Duration::from_millis(500),
            timeout_fault_duration: Duration::from_secs(120),
            hd_pending_requests: 1,
            upload_age: Duration::ZERO,
        }
    }
}

/// The Kie.ai emulator.
pub struct KieEmulator {
    state: Arc<KieState>,
}

impl KieEmulator {
    /// An emulator with this configuration and no tasks.
    pub fn new(config: KieEmulatorConfig) -> Self {
        let injector = Injector::new(&config.faults, config.seed, config.timeout_fault_duration);
        let http = reqwest::Client::builder().timeout(Duration::from_secs(15)).build().unwrap_or_default();
        let base_url = config.public_base_url.as_ref().map(|b| b.trim_end_matches('/').to_string());
        let inner = Inner {
            credits: config.credits,
            base_url,
            tasks: HashMap::new(),
            uploads: HashMap::new(),
            rate: HashMap::new(),
            stats: Stats::default(),
        };
        let state = KieState { config, http, injector, inner: Mutex::new(inner), next_id: AtomicU64::new(1) };
        Self { state: Arc::new(state) }
    }

    /// The routes, for `tower::ServiceExt::oneshot` or any server. The `reset`
    /// fault needs [`KieEmulator::serve`].
    pub fn router(&self) -> Router {
        let api = Router::new()
            .route("/api/v1/jobs/createTask", post(market::create_task))
            .route("/api/v1/jobs/recordInfo", get(market::record_info))
            .route("/api/v1/veo/generate", post(veo::generate))
            .route("/api/v1/veo/record-info", get(veo::record_info))
            .route("/api/v1/veo/get-1080p-video", get(veo::get_1080p))
            .route("/api/v1/mj/generate", post(mj::generate))
            .route("/api/v1/mj/record-info", get(mj::record_info))
            .route("/api/v1/chat/credit", get(credit::get_credit))
            .fallback(not_found)
            .method_not_allowed_fallback(method_not_allowed)
            .layer(middleware::from_fn_with_state(self.state.clone(), auth));
        let uploads = Router::new()
            .route("/api/file-stream-upload", post(upload::stream_upload))
            .route("/api/file-url-upload", post(upload::url_upload))
            .route("/api/file-base64-upload", post(upload::base64_upload))
            .layer(middleware::from_fn_with_state(self.state.clone(), upload::auth));
        let public = Router::new()
            .route("/files/{task_id}/{file}", get(files::serve_file))
            .route("/uploads/{*key}", get(upload::serve_upload));
        let faulted = uploads
            .merge(api)
            .merge(public)
            .layer(middleware::from_fn_with_state(self.state.clone(), crate::faults::middleware::<KieState>));
        faulted
            .route("/__emulator/stats", get(stats))
            .route("/__emulator/sample.png", get(files::sample_png))
            .with_state(self.state.clone())
    }

    /// Serves on `listener` until the process ends, one connection per task,
    /// so that the `reset` fault can drop a connection without answering.
    pub async fn serve(self, listener: TcpListener) -> io::Result<()> {
        let local = listener.local_addr()?;
        self.state.inner().base_url.get_or_insert_with(|| base_url_for(local));
        let router = self.router();
        tracing::info!(address = %local, "kie emulator listening");
        accept_loop(listener, router, "kie emulator").await
    }
}

/// The shared state behind every handler.
pub(crate) struct KieState {
    config: KieEmulatorConfig,
    http: reqwest::Client,
    injector: Injector<Endpoint>,
    inner: Mutex<Inner>,
    next_id: AtomicU64,
}

struct Inner {
    credits: f64,
    base_url: Option<String>,
    tasks: HashMap<String, Task>,
    /// Uploaded files by the key in their `downloadUrl`.
    uploads: HashMap<String, upload::Uploaded>,
    /// Request times per (key, endpoint) in the current window.
    rate: HashMap<(String, Endpoint), VecDeque<tokio::time::Instant>>,
    stats: Stats,
}

#[derive(Default)]
struct Stats {
    create_task: u64,
    tasks_created: u64,
    record_info: u64,
    record_info_by_task: BTreeMap<String, u64>,
    credit: u64,
    files: u64,
    other: u64,
    callbacks_sent: u64,
    callbacks_failed: u64,
    veo_generate: u64,
    veo_record_info: u64,
    veo_1080p: u64,
    mj_generate: u64,
    mj_record_info: u64,
    uploads_stream: u64,
    uploads_url: u64,
    uploads_base64: u64,
    upload_downloads: u64,
}

impl Stats {
    fn count_upload(&mut self, method: upload::Method) {
        match method {
            upload::Method::Stream => self.uploads_stream += 1,
            upload::Method::Url => self.uploads_url += 1,
            upload::Method::Base64 => self.uploads_base64 += 1,
        }
    }
}

impl KieState {
    fn inner(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn next_sequence(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Counts a request to `endpoint` (a record-info also under its task).
    fn count_call(&self, endpoint: Endpoint, query: Option<&str>) {
        let mut inner = self.inner();
        let stats = &mut inner.stats;
        let by_task = matches!(endpoint, Endpoint::RecordInfo | Endpoint::VeoRecordInfo | Endpoint::MjRecordInfo);
        if by_task && let Some(id) = query.and_then(task_id_from_query) {
            *stats.record_info_by_task.entry(id).or_default() += 1;
        }
        match endpoint {
            Endpoint::CreateTask => stats.create_task += 1,
            Endpoint::RecordInfo => stats.record_info += 1,
            Endpoint::VeoGenerate => stats.veo_generate += 1,
            Endpoint::VeoRecordInfo => stats.veo_record_info += 1,
            Endpoint::Veo1080p => stats.veo_1080p += 1,
            Endpoint::MjGenerate => stats.mj_generate += 1,
            Endpoint::MjRecordInfo => stats.mj_record_info += 1,
            Endpoint::Credit => stats.credit += 1,
            Endpoint::Files => stats.files += 1,
            // Uploads are counted when stored (only the ones that succeed).
            Endpoint::FileStreamUpload | Endpoint::FileUrlUpload | Endpoint::FileBase64Upload => {}
            Endpoint::Other | Endpoint::Any => stats.other += 1,
        }
    }

    fn count_callback(&self, delivered: bool) {
        let mut inner = self.inner();
        if delivered {
            inner.stats.callbacks_sent += 1;
        } else {
            inner.stats.callbacks_failed += 1;
        }
    }

    /// Admits one request to `endpoint` for `key` under `limit`, sliding window.
    fn admit(&self, key: &str, endpoint: Endpoint, limit: Option<(u32, Duration)>) -> bool {
        let Some((max, window)) = limit else { return true };
        let now = tokio::time::Instant::now();
        let mut inner = self.inner();
        let times = inner.rate.entry((key.to_string(), endpoint)).or_default();
        while times.front().is_some_and(|t| now.duration_since(*t) >= window) {
            times.pop_front();
        }
        if times.len() >= max as usize {
            return false;
        }
        times.push_back(now);
        true
    }

    /// The base of result URLs: configured, else the listener's, else the request's `Host`.
    fn base_url(&self, headers: &HeaderMap) -> String {
        if let Some(base) = &self.inner().base_url {
            return base.clone();
        }
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
        format!("http://{host}")
    }
}

fn task_id_from_query(query: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == "taskId" && !v.is_empty()).then(|| v.to_string())
    })
}

/// Unix time in milliseconds.
fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or_default()
}

/// `{"code":200,"msg":"success","data":…}` with HTTP 200.
fn envelope_ok(data: Value) -> Response {
    (StatusCode::OK, Json(json!({"code": 200, "msg": "success", "data": data}))).into_response()
}

/// `{"code":code,"msg":msg}` with the HTTP status equal to the code (body `code` is authoritative).
fn envelope_error(code: u16, msg: &str) -> Response {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, Json(json!({"code": code, "msg": msg}))).into_response()
}

/// The key a request carries, if it is the accepted one.
async fn auth(State(state): State<Arc<KieState>>, request: Request, next: Next) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    if presented != Some(state.config.api_key.as_str()) {
        return envelope_error(401, "You do not have access permissions");
    }
    next.run(request).await
}

async fn not_found() -> Response {
    envelope_error(404, "Not found")
}

async fn method_not_allowed() -> Response {
    envelope_error(405, "Method not allowed")
}

async fn stats(State(state): State<Arc<KieState>>) -> Response {
    let inner = state.inner();
    let s = &inner.stats;
    let states: BTreeMap<&str, &str> = inner.tasks.iter().map(|(id, t)| (id.as_str(), t.state.as_str())).collect();
    Json(json!({
        "create_task": s.create_task,
        "tasks_created": s.tasks_created,
        "record_info": s.record_info,
        "record_info_by_task": s.record_info_by_task,
        "credit": s.credit,
        "files": s.files,
        "other": s.other,
        "callbacks_sent": s.callbacks_sent,
        "callbacks_failed": s.callbacks_failed,
        "faults_injected": state.injector.injected(),
        "veo_generate": s.veo_generate,
        "veo_record_info": s.veo_record_info,
        "veo_1080p": s.veo_1080p,
        "mj_generate": s.mj_generate,
        "mj_record_info": s.mj_record_info,
        "uploads": {
            "stream": s.uploads_stream,
            "url": s.uploads_url,
            "base64": s.uploads_base64,
            "total": s.uploads_stream + s.uploads_url + s.uploads_base64,
        },
        "upload_downloads": s.upload_downloads,
        "task_states": states,
        "credits": credit::credits_value(inner.credits),
    }))
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_ids_from_queries() {
        assert_eq!(task_id_from_query("taskId=abc&x=1"), Some("abc".to_string()));
        assert_eq!(task_id_from_query("taskId="), None);
        assert_eq!(task_id_from_query("x=1"), None);
    }
}
