//! `GET /api/v1/providers`: each service, whether it is configured, its models, and
//! its circuit as this process sees it.

use atelier_core::circuit::CircuitView;
use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use crate::app::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct ProviderView {
    pub service: String,
    /// Whether at least one of its models can be used.
    pub configured: bool,
    /// The config key to set when it is not configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requires_config: Option<String>,
    pub models: Vec<String>,
    /// `closed` (healthy), `open` (calls held back) or `half_open` (probing).
    pub circuit: String,
    pub consecutive_failures: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub circuit_retry_in_secs: Option<u64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProviderListView {
    pub providers: Vec<ProviderView>,
}

/// Every service with its health.
#[utoipa::path(get, path = "/api/v1/providers", tag = "models", responses((status = 200, body = ProviderListView)))]
pub async fn list_providers(State(state): State<AppState>) -> Json<ProviderListView> {
    let catalog = state.tasks.catalog();
    let providers = catalog
        .services()
        .map(|service| {
            let models: Vec<_> = catalog.models().iter().filter(|m| m.service == service).collect();
            let CircuitView { state: circuit, consecutive_failures, retry_in_secs } = state.circuits.view(service);
            ProviderView {
                service: service.to_owned(),
                configured: models.iter().any(|m| m.is_usable()),
                requires_config: models
                    .iter()
                    .find_map(|m| m.requires_config.clone())
                    .filter(|_| !models.iter().any(|m| m.is_usable())),
                models: models.iter().map(|m| m.id()).collect(),
                circuit: circuit.to_owned(),
                consecutive_failures,
                circuit_retry_in_secs: retry_in_secs,
            }
        })
        .collect();
    Json(ProviderListView { providers })
}
