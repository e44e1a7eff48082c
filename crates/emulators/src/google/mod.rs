//! An emulator of Google's Gemini API (generativelanguage `v1beta`; the
//! providers' protocol notes, section 3) for media generation: Imagen
//! (`:predict`), Veo (`:predictLongRunning`, its operations and the video
//! files), and Gemini's `:generateContent`, both image output (the
//! "flash image" models, text-to-image and edits) and text (plain, or JSON
//! conforming to a `responseSchema`/`responseJsonSchema`).
//!
//! One file per concern: `errors.rs` holds the `google.rpc.Status` error shape
//! and its status names; `input.rs` reads bodies, base64 and input images;
//! `imagen.rs` `:predict`; `veo.rs` `:predictLongRunning` and the operations'
//! lives; `files.rs` the video downloads; `gemini.rs` `:generateContent`;
//! `crate::schema` the JSON a schema asks for; `faults.rs` Google's side of fault
//! injection (the rest is `crate::faults`). This file holds the configuration,
//! the shared state, the API key check, the dispatch of `models/{model}:{method}`,
//! the stats and the router; `crate::serve` runs the accept loop, `crate::render`
//! draws the images.
//!
//! Routes (every API route needs the key, `x-goog-api-key: <key>` or `?key=<key>`):
//! - `POST /v1beta/models/{model}:predict`: Imagen 4 (`imagen-4.0-generate-001`,
//!   `-ultra-`, `-fast-`) and `imagen-3.0-generate-002`.
//! - `POST /v1beta/models/{model}:predictLongRunning`: Veo (`veo-3.0-generate-001`,
//!   `veo-3.0-fast-generate-001`, `veo-3.1-generate-preview`,
//!   `veo-3.1-fast-generate-preview`, `veo-2.0-generate-001`).
//! - `GET /v1beta/models/{model}/operations/{id}` (and `GET /v1beta/operations/{id}`).
//! - `GET /v1beta/files/{id}:download?alt=media`: a finished video (MP4).
//!   With `redirect_downloads`, a 302 to a keyless `GET /__storage/{id}.mp4?sig=…`.
//! - `POST /v1beta/models/{model}:generateContent`: image output
//!   (`gemini-2.0-flash-preview-image-generation`, `gemini-2.5-flash-image`,
//!   `gemini-2.5-flash-image-preview`) and text (`gemini-2.0-flash`,
//!   `gemini-2.0-flash-lite`, `gemini-2.5-flash`, `gemini-2.5-flash-lite`,
//!   `gemini-2.5-pro`).
//! - `GET /__emulator/stats`: counters, emulator-only, never faulted, no key.
//!
//! Order of checks: the fault middleware (a `status=` fault answers before
//! anything else), the key (400 `API_KEY_INVALID` on the API, 403
//! `PERMISSION_DENIED` on a download), the route (404 `NOT_FOUND`), the model
//! (404, the service's "is not found for API version v1beta, or is not
//! supported for {method}"), the body (400 `INVALID_ARGUMENT`), then its fields
//! (400).
//!
//! Unconfirmed choices (the protocol notes mark them [U]) are written where
//! they are made: the key errors in `errors.rs`, the image sizes in `imagen.rs`
//! and `gemini.rs`, the operations' `metadata` and `error.code` in `veo.rs`,
//! the download's `alt=media` and redirect in `files.rs`.

mod errors;
mod faults;
mod files;
mod gemini;
mod imagen;
mod input;
mod veo;

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;

pub use crate::faults::{Fault, SafetyStage, Trigger};
pub use faults::{Endpoint, FAULT_HEADER, FaultPlan, FaultRule, parse_fault, parse_fault_rule};

use crate::faults::{Injector, TaskFault};
use crate::serve::{accept_loop, base_url_for};

/// The header that carries the API key.
pub const API_KEY_HEADER: &str = "x-goog-api-key";

/// How the emulator behaves.
#[derive(Debug, Clone)]
pub struct GoogleEmulatorConfig {
    /// The one API key accepted (`x-goog-api-key`, or the `key` query parameter).
    pub api_key: String,
    /// Seeds fault probabilities, the images and the ids.
    pub seed: u64,
    /// Faults injected in this run (the `X-Emulator-Fault` header wins over it).
    pub faults: FaultPlan,
    /// How many polls of a Veo operation answer `done: false` before it is
    /// done. 0: done at the first poll.
    pub steps_to_finish: u32,
    /// How long the `timeout` fault holds its answer.
    pub timeout_fault_duration: Duration,
    /// The base of the video URIs (`<base>/v1beta/files/<id>:download?alt=media`),
    /// without a trailing slash. `None`: `serve` uses the listener's address; a
    /// bare router uses the request's `Host`.
    pub public_base_url: Option<String>,
    /// A download answers 302 to a keyless URL on the emulator instead of the bytes.
    pub redirect_downloads: bool,
    /// The `error.code` of a Veo operation failed by `generation_failed`
    /// (13, `google.rpc.Code` INTERNAL, by default).
    pub operation_error_code: i32,
}

impl Default for GoogleEmulatorConfig {
    fn default() -> Self {
        Self {
            api_key: "test-key".into(),
            seed: 0,
            faults: FaultPlan::default(),
            steps_to_finish: 2,
            timeout_fault_duration: Duration::from_secs(120),
            public_base_url: None,
            redirect_downloads: false,
            operation_error_code: 13,
        }
    }
}

/// The Gemini API emulator.
pub struct GoogleEmulator {
    state: Arc<GoogleState>,
}

impl GoogleEmulator {
    /// An emulator with this configuration and no operations.
    pub fn new(config: GoogleEmulatorConfig) -> Self {
        let injector = Injector::new(&config.faults, config.seed, config.timeout_fault_duration);
        let inner = Inner {
            base_url: config.public_base_url.as_ref().map(|b| b.trim_end_matches('/').to_owned()),
            operations: BTreeMap::new(),
            files: HashMap::new(),
            stats: Stats::default(),
        };
        let state = GoogleState { config, injector, inner: Mutex::new(inner), next_id: AtomicU64::new(1) };
        Self { state: Arc::new(state) }
    }

    /// The routes, for `tower::ServiceExt::oneshot` or any server. The `reset`
    /// fault needs [`GoogleEmulator::serve`].
    pub fn router(&self) -> Router {
        let state = self.state.clone();
        let api = Router::new()
            .route("/v1beta/models/{call}", post(model_call))
            .route("/v1beta/models/{model}/operations/{id}", get(veo::get_operation))
            .route("/v1beta/operations/{id}", get(veo::get_bare_operation))
            .route("/v1beta/files/{call}", get(files::download))
            .fallback(not_found)
            .method_not_allowed_fallback(method_not_allowed)
            .layer(middleware::from_fn_with_state(state.clone(), auth));
        let public = Router::new().route(&format!("{}{{file}}", files::STORAGE_PREFIX), get(files::storage));
        api.merge(public)
            .layer(middleware::from_fn_with_state(state.clone(), crate::faults::middleware::<GoogleState>))
            .route("/__emulator/stats", get(stats))
            .with_state(state)
    }

    /// Serves on `listener` until the process ends, one connection per task, so
    /// that the `reset` fault can drop a connection without answering.
    pub async fn serve(self, listener: TcpListener) -> io::Result<()> {
        let local = listener.local_addr()?;
        self.state.inner().base_url.get_or_insert_with(|| base_url_for(local));
        let router = self.router();
        tracing::info!(address = %local, "google emulator listening");
        accept_loop(listener, router, "google emulator").await
    }
}

/// The shared state behind every handler.
pub(crate) struct GoogleState {
    config: GoogleEmulatorConfig,
    injector: Injector<Endpoint>,
    inner: Mutex<Inner>,
    next_id: AtomicU64,
}

struct Inner {
    base_url: Option<String>,
    /// Veo operations by id.
    operations: BTreeMap<String, veo::Operation>,
    /// Finished videos by file id.
    files: HashMap<String, files::VideoFile>,
    stats: Stats,
}

#[derive(Default)]
struct Stats {
    by_endpoint: BTreeMap<&'static str, u64>,
    /// Accepted calls per model (the model known and serving the method).
    by_model: BTreeMap<String, u64>,
    /// Requests refused for a missing or wrong key.
    auth_failures: u64,
    /// Images answered (Imagen and Gemini).
    images_generated: u64,
    /// Veo operations created.
    operations_created: u64,
    /// Videos handed out (direct downloads and redirect targets).
    videos_downloaded: u64,
}

impl GoogleState {
    fn inner(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A new id of `len` lowercase letters and digits, as the service's
    /// operation and file ids look, drawn from the seed and a sequence.
    fn next_id(&self, kind: &str, len: usize) -> String {
        let sequence = self.next_id.fetch_add(1, Ordering::Relaxed);
        let digest = self.digest(&[kind.as_bytes(), &sequence.to_le_bytes()]);
        const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
        digest.iter().cycle().take(len).map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()])).collect()
    }

    /// SHA-256 of the seed and `parts`.
    fn digest(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut hasher = Sha256::new();
        hasher.update(self.config.seed.to_le_bytes());
        for part in parts {
            hasher.update((part.len() as u64).to_le_bytes());
            hasher.update(part);
        }
        hasher.finalize().into()
    }

    /// The base of result URLs: configured, else the listener's, else the request's `Host`.
    fn base_url(&self, headers: &HeaderMap) -> String {
        if let Some(base) = &self.inner().base_url {
            return base.clone();
        }
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
        format!("http://{host}")
    }

    /// Counts an accepted call to `model`.
    fn count_model(&self, model: &str) {
        *self.inner().stats.by_model.entry(model.to_owned()).or_default() += 1;
    }
}

/// The first value of `name` in a raw query, percent-decoded.
pub(super) fn query_value(query: Option<&str>, name: &str) -> Option<String> {
    let pair = query?.split('&').find_map(|pair| pair.split_once('=').filter(|(k, _)| *k == name))?;
    Some(percent_decode(pair.1))
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The key every API route needs: `x-goog-api-key`, or `?key=`.
async fn auth(State(state): State<Arc<GoogleState>>, request: Request, next: Next) -> Response {
    let from_header = request.headers().get(API_KEY_HEADER).and_then(|v| v.to_str().ok()).map(str::trim);
    let from_query = query_value(request.uri().query(), "key");
    let key = state.config.api_key.as_str();
    if from_header == Some(key) || from_query.as_deref() == Some(key) {
        return next.run(request).await;
    }
    state.inner().stats.auth_failures += 1;
    tracing::debug!(path = request.uri().path(), "google emulator: refused a request without a valid key");
    if Endpoint::classify(request.method(), request.uri().path()) == Endpoint::Files {
        errors::download_denied()
    } else {
        errors::api_key_invalid()
    }
}

/// `POST /v1beta/models/{model}:{method}`.
async fn model_call(State(state): State<Arc<GoogleState>>, Path(call): Path<String>, request: Request) -> Response {
    let fault = TaskFault::of(&request);
    let Some((model, method)) = call.rsplit_once(':') else {
        return errors::not_found(&format!("Method not found: POST /v1beta/models/{call} names no method."));
    };
    let model = model.to_owned();
    let (parts, body) = request.into_parts();
    match method {
        "predict" => imagen::predict(state, model, body, fault).await,
        "predictLongRunning" => veo::create(state, model, body, fault).await,
        "generateContent" => gemini::generate(state, model, body, fault).await,
        other => {
            tracing::debug!(method = other, uri = %parts.uri, "google emulator: method not emulated");
            errors::not_found(&format!(
                "Method not found: {other} (the emulator serves predict, predictLongRunning and generateContent)."
            ))
        }
    }
}

async fn not_found(request: Request) -> Response {
    errors::not_found(&format!("The requested URL {} was not found on this server.", request.uri().path()))
}

async fn method_not_allowed(request: Request) -> Response {
    errors::not_found(&format!("Method not found: {} {}.", request.method(), request.uri().path()))
}

async fn stats(State(state): State<Arc<GoogleState>>) -> Response {
    let inner = state.inner();
    let s = &inner.stats;
    let operation_states: BTreeMap<&str, &str> =
        inner.operations.iter().map(|(id, operation)| (id.as_str(), operation.state_name())).collect();
    let mut body = json!({
        "calls": s.by_endpoint.values().sum::<u64>(),
        "by_model": s.by_model,
        "auth_failures": s.auth_failures,
        "images_generated": s.images_generated,
        "operations_created": s.operations_created,
        "videos_downloaded": s.videos_downloaded,
        "faults_injected": state.injector.injected(),
        "operation_states": operation_states,
    });
    for endpoint in Endpoint::ALL {
        body[endpoint.stats_key()] = json!(s.by_endpoint.get(endpoint.stats_key()).copied().unwrap_or(0));
    }
    Json(body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_percent_decoded() {
        assert_eq!(query_value(Some("alt=media&key=a%2Bb"), "key").as_deref(), Some("a+b"));
        assert_eq!(query_value(Some("key=a+b%"), "key").as_deref(), Some("a b%"));
        assert_eq!(query_value(Some("alt=media"), "key"), None);
        assert_eq!(query_value(None, "key"), None);
    }

    #[test]
    fn ids_are_lowercase_alphanumerics_and_differ() {
        let emulator = GoogleEmulator::new(GoogleEmulatorConfig::default());
        let (a, b) = (emulator.state.next_id("op", 12), emulator.state.next_id("op", 12));
        assert_ne!(a, b);
        assert!(a.len() == 12 && a.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()), "{a}");
    }
}
