//! `GET /api/v1/health` and `GET /api/v1/system/info`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use atelier_core::task::PartsHealth;

use crate::app::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

#[derive(Debug, Serialize, ToSchema)]
pub struct HealthView {
    /// `ok` or `degraded`.
    pub status: &'static str,
    pub database: &'static str,
    pub storage: &'static str,
    pub version: &'static str,
}

/// Liveness and readiness: 200 when the database and storage answer, else 503.
#[utoipa::path(get, path = "/health", tag = "system",
    responses((status = 200, body = HealthView), (status = 503, body = HealthView)), security(()))]
pub async fn health(State(state): State<AppState>) -> Response {
    let PartsHealth { database, storage } = state.tasks.parts_health().await;
    let view = HealthView {
        status: if database && storage { "ok" } else { "degraded" },
        database: if database { "ok" } else { "unavailable" },
        storage: if storage { "ok" } else { "unavailable" },
        version: env!("CARGO_PKG_VERSION"),
    };
    let status = if database && storage { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let mut response = (status, Json(view)).into_response();
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response.headers_mut().insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from(5));
    }
    response
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
    OpenApiRouter::new().routes(routes!(health))
}

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(system_info))
}
