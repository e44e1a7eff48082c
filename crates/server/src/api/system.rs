//! `GET /api/v1/health` (readiness, with `/health/ready` and `/health/live`) and
//! `GET /api/v1/system/info`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use atelier_core::storage::{PartCheck, StorageState};

use crate::app::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

#[derive(Debug, Serialize, ToSchema)]
pub struct HealthView {
    /// `ok` when the server can take work, else `degraded`.
    pub status: &'static str,
    /// `ok`, `full` (a write found no space, or less than `min_free_bytes` is
    /// free) or `unavailable` (a write failed).
    pub database: &'static str,
    /// The file store, as `database`.
    pub storage: &'static str,
    /// Free bytes on the database's disk, where known (SQLite).
    pub database_free_bytes: Option<u64>,
    /// Free bytes on the file store's disk, where known (a local directory).
    pub storage_free_bytes: Option<u64>,
    /// Free space kept (`storage.min_free_mb`): under it a part counts as full.
    pub min_free_bytes: u64,
    /// Whether the workers wait for storage (a write failed and no probe write has
    /// held since): nothing is claimed meanwhile.
    pub workers_waiting_for_storage: bool,
    /// What failed, while the workers wait.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub version: &'static str,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LiveView {
    /// Always `ok`: the process answers.
    pub status: &'static str,
    pub version: &'static str,
}

/// Readiness, with each part's state: 200 when the database and the file store take
/// a probe write and have their free space, else 503 with `Retry-After`.
#[utoipa::path(get, path = "/health", tag = "system",
    responses((status = 200, body = HealthView), (status = 503, body = HealthView)), security(()))]
pub async fn health(State(state): State<AppState>) -> Response {
    let health = state.storage.health().await;
    let part = |check: &PartCheck| match (&check.writable, check.low_space) {
        (Ok(()), false) => "ok",
        (_, true) => "full",
        (Err(_), false) => "unavailable",
    };
    let (waiting, reason) = match &health.waiting {
        StorageState::Up => (false, None),
        StorageState::Down { part, reason, .. } => (true, Some(format!("{}: {reason}", part.as_str()))),
    };
    let ready = health.is_ready();
    let view = HealthView {
        status: if ready { "ok" } else { "degraded" },
        database: part(&health.database),
        storage: part(&health.files),
        database_free_bytes: health.database.free_bytes,
        storage_free_bytes: health.files.free_bytes,
        min_free_bytes: state.storage.settings().min_free_bytes,
        workers_waiting_for_storage: waiting,
        reason,
        version: env!("CARGO_PKG_VERSION"),
    };
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let mut response = (status, Json(view)).into_response();
    if !ready {
        let retry_after = state.storage.settings().probe_every.as_secs().max(1);
        response.headers_mut().insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from(retry_after));
    }
    response
}

/// Readiness (as `/health`), at the path Kubernetes-style probes use.
#[utoipa::path(get, path = "/health/ready", tag = "system",
    responses((status = 200, body = HealthView), (status = 503, body = HealthView)), security(()))]
pub async fn ready(state: State<AppState>) -> Response {
    health(state).await
}

/// Liveness: 200 while the process answers, whatever its parts do (restarting it
/// would not free a disk).
#[utoipa::path(get, path = "/health/live", tag = "system", responses((status = 200, body = LiveView)), security(()))]
pub async fn live() -> Json<LiveView> {
    Json(LiveView { status: "ok", version: env!("CARGO_PKG_VERSION") })
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SystemInfoView {
    pub name: &'static str,
    pub version: &'static str,
    pub uptime_seconds: u64,
    pub database: String,
    pub storage: String,
    pub workers_enabled: bool,
    pub worker_concurrency: usize,
    pub queued_tasks: u64,
    pub max_queued_tasks: u64,
    /// One user's share of the queue (0: no limit of its own).
    pub max_queued_tasks_per_user: u64,
    /// Tasks per second leaving the queue, over the last minute (absent until measured).
    pub drain_per_second: Option<f64>,
    pub default_model: String,
    pub models: usize,
    pub usable_models: usize,
    pub fonts: FontsView,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FontsView {
    pub faces: usize,
    pub cjk: bool,
}

/// What this server is and how it is set up.
#[utoipa::path(get, path = "/system/info", tag = "system", responses((status = 200, body = SystemInfoView)))]
pub async fn system_info(State(state): State<AppState>) -> Response {
    let depth = match state.tasks.queue_depth().await {
        Ok(depth) => depth,
        Err(error) => return crate::api::error::ApiError::from(error).into_response(),
    };
    let catalog = state.tasks.catalog();
    let (database, storage) = state.tasks.describe_storage();
    // The first call indexes the system's fonts: file I/O, kept off the async threads.
    let fonts = tokio::task::spawn_blocking(atelier_providers::font_report).await.unwrap_or_default();
    Json(SystemInfoView {
        name: "atelier",
        version: env!("CARGO_PKG_VERSION"),
        uptime_seconds: state.started_at.elapsed().as_secs(),
        database: database.to_owned(),
        storage,
        workers_enabled: state.config.worker.enabled,
        worker_concurrency: state.config.worker.concurrency,
        queued_tasks: depth.queued,
        max_queued_tasks: state.config.queue.max_queued,
        max_queued_tasks_per_user: state.config.queue.max_queued_per_user,
        drain_per_second: depth.drain_per_second,
        default_model: state.tasks.rules().default_model.clone(),
        models: catalog.models().len(),
        usable_models: catalog.models().iter().filter(|m| m.is_usable()).count(),
        fonts: FontsView { faces: fonts.faces, cjk: fonts.cjk },
    })
    .into_response()
}

/// Public: load balancers and probes ask without a key.
pub fn public_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(health)).routes(routes!(ready)).routes(routes!(live))
}

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(system_info))
}
