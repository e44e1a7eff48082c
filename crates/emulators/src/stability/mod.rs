//! An emulator of Stability AI's REST API v2beta, Stable Image generate (the
//! providers' protocol notes, section 7): `ultra`, `core` and `sd3`, all
//! synchronous, multipart/form-data in, an image (raw bytes, or base64 in
//! JSON) out.
//!
//! One file per concern: `errors.rs` holds the error shape
//! (`{"id","name","errors"}`) and its names; `params.rs` the form fields and
//! their checks; `generate.rs` the handler (headers, body, answer);
//! `faults.rs` Stability's side of fault injection (the rest is
//! `crate::faults`). This file holds the configuration, the shared state, the
//! key check, the stats and the router; `crate::serve` runs the accept loop,
//! `crate::render` draws the images, `crate::openai::multipart` reads the
//! bodies and `crate::input_image` the input images.
//!
//! Routes (every API route needs `authorization: Bearer <key>`):
//! - `POST /v2beta/stable-image/generate/ultra`: `prompt`, `negative_prompt`,
//!   `aspect_ratio`, `seed`, `style_preset`, `output_format` (png, jpeg,
//!   webp), and image-to-image with `image` + `strength`.
//! - `POST /v2beta/stable-image/generate/core`: `prompt`, `negative_prompt`,
//!   `aspect_ratio`, `seed`, `style_preset`, `output_format` (png, jpeg, webp).
//! - `POST /v2beta/stable-image/generate/sd3`: `prompt`, `negative_prompt`,
//!   `aspect_ratio`, `seed`, `output_format` (png, jpeg), `model`, `mode`
//!   (`image-to-image` needs `image` + `strength`, and answers the input
//!   image's size), `cfg_scale`.
//! - `GET /__emulator/stats`: counters, emulator-only, never faulted, no key.
//!
//! A success answers 200 with headers `finish-reason` (`SUCCESS`, or
//! `CONTENT_FILTERED` with a grey image), `seed` and `x-request-id`; the body
//! is the image (`content-type: image/png|jpeg|webp`) for `accept: image/*`
//! (the default), or `{"image":"<base64>","finish_reason":…,"seed":n}`
//! (`content-type: application/json; type=image/png`) for
//! `accept: application/json`.
//!
//! Order of checks: the fault middleware (a `status=` fault answers before
//! anything else), the key (401 `unauthorized`), the route (404), `accept`
//! (400), `content-type` (400 unless multipart/form-data), the body's size
//! (413) and form (400), then its fields (400, every invalid field reported),
//! then the `safety` (403) and `generation_failed` (200 `CONTENT_FILTERED`)
//! faults.
//!
//! Unconfirmed choices (the protocol notes mark them [U] or [D]) are written
//! where they are made: the error names, the key error and the 402 in
//! `errors.rs`; the output sizes, the ignored fields and Ultra's
//! image-to-image size in `params.rs`; `accept`, the body limit and the random
//! seeds in `generate.rs`.

mod errors;
mod faults;
mod generate;
mod params;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;

pub use crate::faults::{Fault, SafetyStage, Trigger};
pub use faults::{Endpoint, FAULT_HEADER, FaultPlan, FaultRule, parse_fault, parse_fault_rule};

use crate::faults::Injector;
use crate::serve::accept_loop;

/// How the emulator behaves.
#[derive(Debug, Clone)]
pub struct StabilityEmulatorConfig {
    /// The one API key accepted (`authorization: Bearer <key>`).
    pub api_key: String,
    /// Seeds fault probabilities, the random image seeds and the request ids.
    pub seed: u64,
    /// Faults injected in this run (the `X-Emulator-Fault` header wins over it).
    pub faults: FaultPlan,
    /// How long the `timeout` fault holds its answer.
    pub timeout_fault_duration: Duration,
}

impl Default for StabilityEmulatorConfig {
    fn default() -> Self {
        Self {
            api_key: "test-key".into(),
            seed: 0,
            faults: FaultPlan::default(),
            timeout_fault_duration: Duration::from_secs(120),
        }
    }
}

/// The Stability AI v2beta Stable Image emulator.
pub struct StabilityEmulator {
    state: Arc<StabilityState>,
}

impl StabilityEmulator {
    /// An emulator with this configuration.
    pub fn new(config: StabilityEmulatorConfig) -> Self {
        let injector = Injector::new(&config.faults, config.seed, config.timeout_fault_duration);
        let state = StabilityState {
            config,
            injector,
            stats: Mutex::new(Stats::default()),
            next_id: AtomicU64::new(1),
            next_seed: AtomicU64::new(1),
        };
        Self { state: Arc::new(state) }
    }

    /// The routes, for `tower::ServiceExt::oneshot` or any server. The `reset`
    /// fault needs [`StabilityEmulator::serve`].
    pub fn router(&self) -> Router {
        let state = self.state.clone();
        Router::new()
            .route(&format!("{}{{engine}}", faults::GENERATE_PREFIX), post(generate::generate))
            .fallback(not_found)
            .layer(middleware::from_fn_with_state(state.clone(), auth))
            .layer(middleware::from_fn_with_state(state.clone(), crate::faults::middleware::<StabilityState>))
            .route("/__emulator/stats", get(stats))
            .with_state(state)
    }

    /// Serves on `listener` until the process ends, one connection per task, so
    /// that the `reset` fault can drop a connection without answering.
    pub async fn serve(self, listener: TcpListener) -> io::Result<()> {
        let local = listener.local_addr()?;
        let router = self.router();
        tracing::info!(address = %local, "stability emulator listening");
        accept_loop(listener, router, "stability emulator").await
    }
}

/// The shared state behind every handler.
pub(crate) struct StabilityState {
    config: StabilityEmulatorConfig,
    injector: Injector<Endpoint>,
    stats: Mutex<Stats>,
    next_id: AtomicU64,
    next_seed: AtomicU64,
}

#[derive(Default)]
struct Stats {
    by_endpoint: BTreeMap<&'static str, u64>,
    /// Accepted SD3 calls per model.
    by_model: BTreeMap<&'static str, u64>,
    /// Requests refused for a missing or wrong key.
    auth_failures: u64,
    /// Images answered `SUCCESS`.
    images_generated: u64,
    /// Images answered `CONTENT_FILTERED`.
    content_filtered: u64,
}

impl StabilityState {
    fn inner(&self) -> MutexGuard<'_, Stats> {
        self.stats.lock().unwrap_or_else(PoisonError::into_inner)
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

    /// A new request id: 32 hex digits, from the seed and a sequence.
    fn request_id(&self) -> String {
        let n = self.next_id.fetch_add(1, Ordering::Relaxed);
        hex(&self.digest(&[b"request", &n.to_le_bytes()])[..16])
    }

    /// A "random" seed (1 to 4294967294), from the run's seed and a sequence.
    fn random_seed(&self) -> u64 {
        let n = self.next_seed.fetch_add(1, Ordering::Relaxed);
        let d = self.digest(&[b"seed", &n.to_le_bytes()]);
        u64::from_le_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]]) % params::MAX_SEED + 1
    }

    fn count_model(&self, model: &'static str) {
        *self.inner().by_model.entry(model).or_default() += 1;
    }

    fn count_image(&self, filtered: bool) {
        let mut stats = self.inner();
        if filtered {
            stats.content_filtered += 1;
        } else {
            stats.images_generated += 1;
        }
    }
}

/// Lowercase hex of `bytes`.
pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

/// The key every API route needs: `authorization: Bearer <key>`.
async fn auth(State(state): State<Arc<StabilityState>>, request: Request, next: Next) -> Response {
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, key)| key.trim());
    if given == Some(state.config.api_key.as_str()) {
        return next.run(request).await;
    }
    state.inner().auth_failures += 1;
    tracing::debug!(path = request.uri().path(), "stability emulator: refused a request without a valid key");
    errors::error(401, &state.request_id(), &[errors::AUTH_MESSAGE.to_owned()])
}

async fn not_found(State(state): State<Arc<StabilityState>>, request: Request) -> Response {
    let message = format!("path: {} {} was not found", request.method(), request.uri().path());
    errors::error(404, &state.request_id(), &[message])
}

async fn stats(State(state): State<Arc<StabilityState>>) -> Response {
    let s = state.inner();
    let mut body = json!({
        "calls": s.by_endpoint.values().sum::<u64>(),
        "by_model": s.by_model,
        "auth_failures": s.auth_failures,
        "images_generated": s.images_generated,
        "content_filtered": s.content_filtered,
        "faults_injected": state.injector.injected(),
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
    fn ids_and_random_seeds() {
        let emulator = StabilityEmulator::new(StabilityEmulatorConfig::default());
        let (a, b) = (emulator.state.request_id(), emulator.state.request_id());
        assert_ne!(a, b);
        assert!(a.len() == 32 && a.chars().all(|c| c.is_ascii_hexdigit()), "{a}");
        for _ in 0..100 {
            assert!((1..=params::MAX_SEED).contains(&emulator.state.random_seed()));
        }
        assert_eq!(hex(&[0, 171, 255]), "00abff");
    }
}
