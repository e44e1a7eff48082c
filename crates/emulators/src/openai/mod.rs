//! An emulator of OpenAI's HTTP API, and of Azure OpenAI's
//! (docs/providers/openai.md 2.1 to 2.6), in two flavours sharing every
//! handler.
//!
//! One file per API: `images.rs` (generations, edits, and the files DALL·E's
//! `url` answers point at), `speech.rs`, `videos.rs`, `chat.rs` (chat
//! completions, and the models list); `multipart.rs` reads
//! multipart bodies; `faults.rs` is OpenAI's side of fault injection (its
//! endpoints and statuses, answered in OpenAI's error shape; the vocabulary,
//! plans and middleware are `crate::faults`, shared with the Kie emulator).
//! This file holds the configuration, the shared state, auth, the error shape
//! and the router; `crate::serve` runs the accept loop.
//!
//! Routes, OpenAI flavour (`Authorization: Bearer <api_key>`):
//! - `POST /v1/images/generations`, `POST /v1/images/edits`, `POST /v1/audio/speech`;
//! - `POST /v1/videos`, `GET /v1/videos`, `GET|DELETE /v1/videos/{id}`,
//!   `GET /v1/videos/{id}/content?variant=video|thumbnail|spritesheet`;
//! - `POST /v1/chat/completions` (the configured `chat_models`);
//! - `GET /v1/models`, `GET /v1/models/{model}`.
//!
//! Azure flavour (`api-key: <api_key>` and a required `api-version` query):
//! - `POST /openai/deployments/{deployment}/images/generations|images/edits|audio/speech|chat/completions`;
//! - the videos routes under `/openai/videos…`.
//!
//! Both: `GET /files/{name}` (DALL·E `url` results, public like the real ones),
//! `GET /__emulator/stats` (call counters, emulator-only, never faulted). Every
//! answer carries `x-request-id`.

mod chat;
mod faults;
mod images;
pub(crate) mod multipart;
mod speech;
mod videos;

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use tokio::net::TcpListener;

pub use faults::{Endpoint, FAULT_HEADER, FaultPlan, FaultRule, parse_fault, parse_fault_rule};

use crate::faults::Injector;
pub use crate::faults::{Fault, Trigger};
use crate::serve::{accept_loop, base_url_for};

/// Which service the emulator speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    /// `api.openai.com/v1`: bearer auth, the model in the body.
    OpenAi,
    /// `{resource}.openai.azure.com`: `api-key`, `api-version`, deployments.
    Azure,
}

impl Flavour {
    fn name(self) -> &'static str {
        match self {
            Flavour::OpenAi => "openai",
            Flavour::Azure => "azure",
        }
    }
}

/// How the emulator behaves.
#[derive(Debug, Clone)]
pub struct OpenAiEmulatorConfig {
    pub flavour: Flavour,
    /// The one key accepted (`Authorization: Bearer` for OpenAI, `api-key` for Azure).
    pub api_key: String,
    /// Azure: deployment name → model. A deployment named as a model needs no entry.
    pub deployments: BTreeMap<String, String>,
    /// The base of DALL·E `url` results, without a trailing slash. `None`: `serve`
    /// uses the listener's address; a bare router uses the request's `Host`.
    pub public_base_url: Option<String>,
    /// Seeds fault probabilities and the images.
    pub seed: u64,
    /// Faults injected in this run (the `X-Emulator-Fault` header wins over it).
    pub faults: FaultPlan,
    /// How many polls of a video come before it completes: the first ones say
    /// `in_progress` with growing `progress`. 0: completed at the first poll.
    pub steps_to_finish: u32,
    /// The `openai-poll-after-ms` header on video answers.
    pub poll_after_ms: u64,
    /// How long the `timeout` fault holds its answer.
    pub timeout_fault_duration: Duration,
    /// The models chat completions answer for (Azure: what a deployment must
    /// map to), listed first by `GET /v1/models`. Any other: 404.
    pub chat_models: Vec<String>,
}

impl Default for OpenAiEmulatorConfig {
    fn default() -> Self {
        Self {
            flavour: Flavour::OpenAi,
            api_key: "test-key".into(),
            deployments: BTreeMap::new(),
            public_base_url: None,
            seed: 0,
            faults: FaultPlan::default(),
            steps_to_finish: 2,
            poll_after_ms: 1000,
            timeout_fault_duration: Duration::from_secs(120),
            chat_models: chat::DEFAULT_MODELS.iter().map(|m| (*m).to_owned()).collect(),
        }
    }
}

/// The OpenAI (or Azure OpenAI) emulator.
pub struct OpenAiEmulator {
    state: Arc<OpenAiState>,
}

impl OpenAiEmulator {
    pub fn new(config: OpenAiEmulatorConfig) -> Self {
        let injector = Injector::new(&config.faults, config.seed, config.timeout_fault_duration);
        let inner = Inner {
            base_url: config.public_base_url.as_ref().map(|b| b.trim_end_matches('/').to_owned()),
            files: HashMap::new(),
            videos: BTreeMap::new(),
            stats: Stats::default(),
        };
        let state = OpenAiState { config, injector, inner: Mutex::new(inner), next_id: AtomicU64::new(1) };
        Self { state: Arc::new(state) }
    }

    /// The routes, for `tower::ServiceExt::oneshot` or any server. The `reset`
    /// fault needs [`OpenAiEmulator::serve`].
    pub fn router(&self) -> Router {
        let state = self.state.clone();
        let api = match self.state.config.flavour {
            Flavour::OpenAi => Router::new()
                .route("/v1/images/generations", post(|s, r| images::generations(s, None, r)))
                .route("/v1/images/edits", post(|s, r| images::edits(s, None, r)))
                .route("/v1/audio/speech", post(|s, r| speech::speech(s, None, r)))
                .route("/v1/chat/completions", post(|s, r| chat::completions(s, None, r)))
                .route("/v1/models", get(chat::list_models))
                .route("/v1/models/{model}", get(chat::retrieve_model))
                .nest("/v1/videos", videos::routes()),
            Flavour::Azure => Router::new()
                .route(
                    "/openai/deployments/{deployment}/images/generations",
                    post(|s, axum::extract::Path(d): axum::extract::Path<String>, r| {
                        images::generations(s, Some(d), r)
                    }),
                )
                .route(
                    "/openai/deployments/{deployment}/images/edits",
                    post(|s, axum::extract::Path(d): axum::extract::Path<String>, r| images::edits(s, Some(d), r)),
                )
                .route(
                    "/openai/deployments/{deployment}/audio/speech",
                    post(|s, axum::extract::Path(d): axum::extract::Path<String>, r| speech::speech(s, Some(d), r)),
                )
                .route(
                    "/openai/deployments/{deployment}/chat/completions",
                    post(|s, axum::extract::Path(d): axum::extract::Path<String>, r| chat::completions(s, Some(d), r)),
                )
                .nest("/openai/videos", videos::routes()),
        };
        let api = api
            .fallback(not_found)
            .method_not_allowed_fallback(method_not_allowed)
            .layer(middleware::from_fn_with_state(state.clone(), auth));
        let public = Router::new().route("/files/{name}", get(images::serve_file));
        api.merge(public)
            .layer(middleware::from_fn_with_state(state.clone(), crate::faults::middleware::<OpenAiState>))
            .route("/__emulator/stats", get(stats))
            .layer(middleware::from_fn_with_state(state.clone(), request_id))
            .with_state(state)
    }

    /// Serves on `listener` until the process ends, one connection per task, so
    /// that the `reset` fault can drop a connection without answering.
    pub async fn serve(self, listener: TcpListener) -> io::Result<()> {
        let local = listener.local_addr()?;
        self.state.inner().base_url.get_or_insert_with(|| base_url_for(local));
        let router = self.router();
        tracing::info!(address = %local, flavour = self.state.config.flavour.name(), "openai emulator listening");
        accept_loop(listener, router, "openai emulator").await
    }
}

/// The shared state behind every handler.
pub(crate) struct OpenAiState {
    config: OpenAiEmulatorConfig,
    injector: Injector<Endpoint>,
    inner: Mutex<Inner>,
    next_id: AtomicU64,
}

struct Inner {
    base_url: Option<String>,
    /// DALL·E `url` results: name → (bytes, content type).
    files: HashMap<String, (Bytes, &'static str)>,
    videos: BTreeMap<String, videos::Video>,
    stats: Stats,
}

#[derive(Default)]
struct Stats {
    by_endpoint: BTreeMap<&'static str, u64>,
    /// Azure: calls per deployment in the path.
    deployments: BTreeMap<String, u64>,
    unauthorized: u64,
}

impl OpenAiState {
    fn inner(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn next_sequence(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// The base of result URLs: configured, else the listener's, else the request's `Host`.
    fn base_url(&self, headers: &HeaderMap) -> String {
        if let Some(base) = &self.inner().base_url {
            return base.clone();
        }
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
        format!("http://{host}")
    }

    /// The model a request is for: Azure's deployment in the path (mapped through
    /// the config, else named as the model), or the body's `model` for OpenAI.
    fn model_for(&self, deployment: Option<&str>, body_model: Option<&str>, default: &str) -> String {
        match deployment {
            Some(name) => {
                *self.inner().stats.deployments.entry(name.to_owned()).or_default() += 1;
                self.config.deployments.get(name).map_or(name, String::as_str).to_ascii_lowercase()
            }
            None => body_model.map_or_else(|| default.to_owned(), str::to_ascii_lowercase),
        }
    }

    /// For request bodies that name a model on Azure's non-deployment routes.
    fn model_from_body(&self, body_model: Option<&str>, default: &str) -> String {
        let name = body_model.unwrap_or(default);
        match self.config.flavour {
            Flavour::Azure => self.config.deployments.get(name).cloned().unwrap_or_else(|| name.to_owned()),
            Flavour::OpenAi => name.to_owned(),
        }
        .to_ascii_lowercase()
    }
}

/// Unix time in seconds.
fn now_secs() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or_default()
}

/// An error answer, boxed, as checks return it through `Result`.
#[derive(Debug)]
pub(crate) struct Refusal(Box<Response>);

impl Refusal {
    #[cfg(test)]
    pub(crate) fn status(&self) -> StatusCode {
        self.0.status()
    }
}

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

/// OpenAI's error shape: `{"error": {message, type, param, code}}`, as a
/// response or a [`Refusal`].
pub(crate) fn api_error<R: From<Response>>(
    status: StatusCode,
    kind: &str,
    message: &str,
    param: Option<&str>,
    code: Option<&str>,
) -> R {
    let body = json!({ "error": { "message": message, "type": kind, "param": param, "code": code } });
    R::from((status, Json(body)).into_response())
}

/// A 400 `invalid_request_error` naming the parameter, as the API validates.
pub(crate) fn invalid<R: From<Response>>(message: &str, param: Option<&str>, code: Option<&str>) -> R {
    api_error(StatusCode::BAD_REQUEST, "invalid_request_error", message, param, code)
}

/// A 404 for a model the service does not have (or an Azure deployment that does not exist).
fn unknown_model<R: From<Response>>(state: &OpenAiState, model: &str) -> R {
    match state.config.flavour {
        Flavour::OpenAi => api_error(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            &format!("The model `{model}` does not exist or you do not have access to it."),
            Some("model"),
            Some("model_not_found"),
        ),
        Flavour::Azure => api_error(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            "The API deployment for this resource does not exist. If you created the deployment within the last \
             5 minutes, please wait a moment and try again.",
            None,
            Some("DeploymentNotFound"),
        ),
    }
}

/// Every answer gets an `x-request-id` (and the time it took).
async fn request_id(State(state): State<Arc<OpenAiState>>, request: Request, next: Next) -> Response {
    let started = std::time::Instant::now();
    let sequence = state.next_sequence();
    let mut response = next.run(request).await;
    let id = format!("req_{:016x}{:016x}", state.config.seed, sequence);
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", value);
    }
    response.headers_mut().insert("openai-processing-ms", HeaderValue::from(started.elapsed().as_millis() as u64));
    response
}

/// The key (and for Azure the `api-version`) a request must carry.
async fn auth(State(state): State<Arc<OpenAiState>>, request: Request, next: Next) -> Response {
    let headers = request.headers();
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let key = state.config.api_key.as_str();
    let refused = match state.config.flavour {
        Flavour::OpenAi => match bearer {
            Some(presented) if presented == key => None,
            Some(_) => Some(
                "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.",
            ),
            None => Some(
                "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
            ),
        },
        Flavour::Azure => {
            let api_key = headers.get("api-key").and_then(|v| v.to_str().ok()).map(str::trim);
            (api_key != Some(key) && bearer != Some(key)).then_some(
                "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid \
                 key for an active subscription and use a correct regional API endpoint for your resource.",
            )
        }
    };
    if let Some(message) = refused {
        state.inner().stats.unauthorized += 1;
        return api_error(StatusCode::UNAUTHORIZED, "invalid_request_error", message, None, Some("invalid_api_key"));
    }
    if state.config.flavour == Flavour::Azure {
        let has_version = request.uri().query().is_some_and(|query| {
            query.split('&').any(|pair| pair.split_once('=').is_some_and(|(k, v)| k == "api-version" && !v.is_empty()))
        });
        if !has_version {
            return invalid(
                "Missing required query parameter: api-version.",
                Some("api-version"),
                Some("missing_required_parameter"),
            );
        }
    }
    next.run(request).await
}

async fn not_found() -> Response {
    api_error(StatusCode::NOT_FOUND, "invalid_request_error", "Invalid URL (no such route).", None, None)
}

async fn method_not_allowed() -> Response {
    api_error(StatusCode::METHOD_NOT_ALLOWED, "invalid_request_error", "Method not allowed.", None, None)
}

async fn stats(State(state): State<Arc<OpenAiState>>) -> Response {
    let inner = state.inner();
    let s = &inner.stats;
    let mut body = json!({
        "flavour": state.config.flavour.name(),
        "calls": s.by_endpoint.values().sum::<u64>(),
        "deployments": s.deployments,
        "unauthorized": s.unauthorized,
        "faults_injected": state.injector.injected(),
        "video_states": inner.videos.iter().map(|(id, video)| (id.clone(), json!(video.status.as_str()))).collect::<serde_json::Map<_, _>>(),
    });
    for endpoint in Endpoint::ALL {
        body[endpoint.stats_key()] = json!(s.by_endpoint.get(endpoint.stats_key()).copied().unwrap_or(0));
    }
    Json(body).into_response()
}

/// A field's value unless absent or null.
fn present<'a>(object: &'a serde_json::Map<String, Value>, field: &str) -> Option<&'a Value> {
    object.get(field).filter(|v| !v.is_null())
}
