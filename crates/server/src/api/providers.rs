//! `GET /api/v1/providers`: each service, whether it is configured, its models, and
//! its circuit as this process sees it.

use atelier_core::circuit::CircuitView;
use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use crate::api::extract::AppQuery;
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
    /// The account as the provider reports it (Kie: remaining credits), when asked
    /// with `?account=true`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub account: Option<serde_json::Value>,
    /// Why the account could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_error: Option<String>,
}

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ProvidersQuery {
    /// Also ask each configured provider for its account (credits): one call each.
    #[serde(default)]
    pub account: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProviderListView {
    pub providers: Vec<ProviderView>,
}

/// Every service with its health.
#[utoipa::path(get, path = "/api/v1/providers", tag = "models", params(ProvidersQuery),
    responses((status = 200, body = ProviderListView), (status = 422, body = crate::api::error::ErrorBody)))]
pub async fn list_providers(
    State(state): State<AppState>,
    AppQuery(query): AppQuery<ProvidersQuery>,
) -> Json<ProviderListView> {
    let catalog = state.tasks.catalog();
    let mut providers: Vec<ProviderView> = catalog
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
                account: None,
                account_error: None,
            }
        })
        .collect();
    if query.account {
        for view in providers.iter_mut().filter(|view| view.configured) {
            let Some(provider) = catalog.provider(&view.service) else { continue };
            match tokio::time::timeout(std::time::Duration::from_secs(10), provider.account()).await {
                Ok(Ok(account)) => view.account = account,
                Ok(Err(error)) => view.account_error = Some(error.to_string()),
                Err(_) => view.account_error = Some("the provider did not answer within 10 s".into()),
            }
        }
    }
    Json(ProviderListView { providers })
}
