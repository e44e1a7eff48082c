//! Prometheus metrics at `/metrics` (issue 18; seed 004 4.9, seed 002 2.6), in the
//! text exposition format, in two parts:
//!
//! - what happened, counted as it happens: HTTP requests by route template and
//!   status with their latency ([`track`]), and the domain's meters
//!   ([`atelier_core::meters`]: tasks made and ended, provider calls, webhook
//!   attempts, pipeline phases, tasks running). They are recorded through the
//!   `metrics` facade into the process's one Prometheus recorder ([`install`]);
//! - how things stand, read when scraped: the queue, tasks at each provider,
//!   circuits, quotas, storage ([`state`]), and this process's CPU, memory and
//!   files ([`process`]).
//!
//! `[metrics]` says where: on the server's own address for an admin's key or the
//! `metrics.token` bearer, or on an address of its own (`metrics.listen`), which
//! `atelier worker` processes serve too. `deploy/observability/` holds a Grafana
//! dashboard and alert rules over these names; a test keeps them to names a scrape
//! has.

mod exposition;
mod process;
mod state;

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::Context;
use atelier_core::CoreError;
use atelier_core::meters::{Kind, METERS, Meter};
use axum::Router;
use axum::extract::{Extension, MatchedPath, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics::{counter, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::sync::watch;

use crate::api::error::ApiError;
use crate::app::AppState;
use crate::config::MetricsConfig;
use exposition::Exposition;

pub const HTTP_REQUESTS: &str = "atelier_http_requests_total";
pub const HTTP_DURATION: &str = "atelier_http_request_duration_seconds";
pub const HTTP_CONNECTIONS_OPEN: &str = "atelier_http_connections_open";
pub const HTTP_CONNECTIONS_REFUSED: &str = "atelier_http_connections_refused_total";
pub const HTTP_CONNECTIONS_TIMED_OUT: &str = "atelier_http_connections_timed_out_total";

/// Answers within milliseconds, and long waits (`Prefer: wait`, up to a minute).
const HTTP_BUCKETS: &[f64] = &[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];

const HTTP_METERS: &[Meter] = &[
    Meter {
        name: HTTP_REQUESTS,
        kind: Kind::Counter,
        help: "HTTP requests answered, by method, route (its template; unmatched for none) and status.",
        buckets: &[],
    },
    Meter {
        name: HTTP_DURATION,
        kind: Kind::Histogram,
        help: "Seconds until an HTTP answer's head, by method and route.",
        buckets: HTTP_BUCKETS,
    },
    Meter {
        name: HTTP_CONNECTIONS_OPEN,
        kind: Kind::Gauge,
        help: "Connections open now, each counted against server.max_connections.",
        buckets: &[],
    },
    Meter {
        name: HTTP_CONNECTIONS_REFUSED,
        kind: Kind::Counter,
        help: "Connections refused at once (503 too_many_connections), by the cap they passed: server or address.",
        buckets: &[],
    },
    Meter {
        name: HTTP_CONNECTIONS_TIMED_OUT,
        kind: Kind::Counter,
        help: "Connections closed for slowness, by what: headers (not all in within server.header_read_timeout_secs) \
               or idle (nothing in flight for server.idle_timeout_secs).",
        buckets: &[],
    },
];

/// The process's recorder: installed by the first app built with metrics on.
static RECORDER: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// How often recorded latencies are folded into their buckets between scrapes
/// (as the exporter's own listener does), so that memory stays flat unscraped.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// Installs the Prometheus recorder as the process's `metrics` recorder, once;
/// `None` when another recorder was installed first.
pub fn install() -> Option<&'static PrometheusHandle> {
    RECORDER
        .get_or_init(|| {
            let meters = || METERS.iter().chain(HTTP_METERS);
            let mut builder = PrometheusBuilder::new().set_buckets(HTTP_BUCKETS).ok()?;
            for meter in meters().filter(|meter| !meter.buckets.is_empty()) {
                builder = builder.set_buckets_for_metric(Matcher::Full(meter.name.to_owned()), meter.buckets).ok()?;
            }
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("another metrics recorder is installed; /metrics shows only what is read when scraped");
                return None;
            }
            for meter in meters() {
                match meter.kind {
                    Kind::Counter => metrics::describe_counter!(meter.name, meter.help),
                    Kind::Gauge => metrics::describe_gauge!(meter.name, meter.help),
                    Kind::Histogram => metrics::describe_histogram!(meter.name, meter.help),
                }
            }
            let upkeep = handle.clone();
            let spawned = std::thread::Builder::new().name("metrics-upkeep".into()).spawn(move || {
                loop {
                    std::thread::sleep(UPKEEP_EVERY);
                    upkeep.run_upkeep();
                }
            });
            if let Err(error) = spawned {
                tracing::warn!(%error, "metrics: no upkeep thread; latencies are folded at each scrape only");
            }
            Some(handle)
        })
        .as_ref()
}

/// The middleware on every route: counts the request by its route's template (the
/// raw path would make a series per id) and its status, and times it.
pub async fn track(State(enabled): State<bool>, request: Request, next: Next) -> Response {
    if !enabled {
        return next.run(request).await;
    }
    let started = Instant::now();
    let method = method_label(request.method());
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    counter!(HTTP_REQUESTS, "method" => method, "route" => route.clone(), "status" => status).increment(1);
    histogram!(HTTP_DURATION, "method" => method, "route" => route).record(started.elapsed().as_secs_f64());
    response
}

/// A method's label: the standard ones by name, any other as `other`.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// The scraper's token as configured: none, its value, or a file that could not be
/// read (then the route refuses everyone rather than opening).
#[derive(Clone)]
enum Token {
    Unset,
    Set(Arc<str>),
    Unreadable,
}

/// Who may scrape a listener.
#[derive(Clone)]
struct Access {
    token: Token,
    /// The server's own listener: an admin's key or session also opens it.
    admins: bool,
}

impl Access {
    fn new(config: &MetricsConfig, admins: bool) -> Self {
        let token = match config.token() {
            Ok(Some(token)) => Token::Set(token.into()),
            Ok(None) => Token::Unset,
            Err(error) => {
                tracing::error!(%error, "metrics: the token cannot be read; /metrics refuses every scrape");
                Token::Unreadable
            }
        };
        Self { token, admins }
    }

    /// `Err` with the answer when the request may not read the metrics.
    async fn check(&self, state: &AppState, headers: &HeaderMap) -> Result<(), Response> {
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer ")));
        match (&self.token, bearer) {
            (Token::Unreadable, _) => {
                return Err(ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "metrics_token_unreadable",
                    "metrics.token_file could not be read; see the server's log",
                )
                .into_response());
            }
            (Token::Set(token), Some(sent)) if atelier_core::account::secrets::same_hash(sent, token) => return Ok(()),
            (Token::Unset, _) if !self.admins => return Ok(()),
            _ => {}
        }
        let refused = |message: &str| {
            crate::api::auth::unauthorized(CoreError::Unauthenticated { code: "unauthorized", message: message.into() })
        };
        if !self.admins {
            return Err(refused("send metrics.token as `Authorization: Bearer <token>`"));
        }
        let session = crate::api::auth::cookie(headers, crate::api::auth::SESSION_COOKIE);
        let principal = match (bearer, session) {
            (Some(key), _) => state.accounts.authenticate_key(key).await,
            (None, Some(session)) => state.accounts.authenticate_session(session).await,
            (None, None) => {
                return Err(refused("send an admin's API key, or metrics.token, as `Authorization: Bearer <key>`"));
            }
        }
        .map_err(crate::api::auth::unauthorized)?;
        if principal.is_admin() {
            Ok(())
        } else {
            Err(ApiError::from(CoreError::Forbidden { message: "metrics are for admins and the metrics.token".into() })
                .into_response())
        }
    }
}

/// `/metrics` on the server's own listener, when metrics are on and have no
/// address of their own.
pub fn routes(config: &MetricsConfig) -> Router<AppState> {
    if !config.enabled || !config.listen.trim().is_empty() {
        return Router::new();
    }
    Router::new().route("/metrics", get(scrape)).layer(Extension(Access::new(config, true)))
}

/// Serves `/metrics` on `metrics.listen`, when set, until `stop` turns true. A
/// bind that fails stops the start.
pub async fn serve_separately(
    state: &AppState,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<Option<tokio::task::JoinHandle<()>>> {
    let config = &state.config.metrics;
    let Some(address) = config.listen_addr()?.filter(|_| config.enabled) else { return Ok(None) };
    let listener =
        tokio::net::TcpListener::bind(address).await.with_context(|| format!("binding metrics.listen {address}"))?;
    tracing::info!(address = %listener.local_addr()?, "serving metrics");
    let router = Router::new()
        .route("/metrics", get(scrape))
        .fallback(|| async { ApiError::not_found("route") })
        .layer(Extension(Access::new(config, false)))
        .with_state(state.clone());
    let settings = crate::http::Settings::internal(&state.config.server);
    Ok(Some(tokio::spawn(async move { crate::http::serve(listener, router, &settings, stop).await })))
}

/// The exposition: what the recorder holds, then what is read now.
async fn scrape(State(state): State<AppState>, Extension(access): Extension<Access>, headers: HeaderMap) -> Response {
    if let Err(refused) = access.check(&state, &headers).await {
        return refused;
    }
    let mut body = RECORDER.get().and_then(Option::as_ref).map(PrometheusHandle::render).unwrap_or_default();
    let mut out = Exposition::new(&mut body);
    state::write(&state, &mut out).await;
    process::write(&mut out);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], body).into_response()
}
