//! `GET /api/v1/providers`: each service, whether it is configured, its models, and
//! its circuit as this process sees it, its limits and today's quota use.

use atelier_core::circuit::CircuitView;
use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use crate::api::error::ApiResult;
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
    pub limits: LimitsView,
    /// Daily quotas on the service or its models, with today's use.
    pub quotas: Vec<QuotaView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LimitsView {
    /// Tasks open at the provider at once (`providers.limits.<service>.max_in_flight`).
    pub max_in_flight: Option<u32>,
    /// Tasks open at the provider now (submitted, not ended), across all workers.
    pub in_flight: u64,
    /// New submits allowed per window, when the provider limits them (Kie: 20 per 10 s).
    pub submits_per_window: Option<u32>,
    pub window_secs: Option<u64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct QuotaView {
    /// `service` or `service/model`.
    pub scope: String,
    pub limit: u64,
    /// Tasks created today (UTC).
    pub used: u64,
    /// Seconds until the quota renews (midnight UTC).
    pub resets_in_secs: u64,
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
    responses((status = 200, body = ProviderListView), (status = 422, body = crate::api::error::ErrorBody),
        (status = 503, body = crate::api::error::ErrorBody)))]
pub async fn list_providers(
    State(state): State<AppState>,
    AppQuery(query): AppQuery<ProvidersQuery>,
) -> ApiResult<Json<ProviderListView>> {
    let catalog = state.tasks.catalog();
    let quota_use = state.tasks.quota_use().await?;
    let max_in_flight = state.config.providers.max_in_flight();
    let resets_in_secs = atelier_core::quota::until_next_day(atelier_core::time::now_millis()).as_secs();
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
                limits: LimitsView {
                    max_in_flight: max_in_flight.get(service).copied(),
                    in_flight: 0,
                    submits_per_window: catalog
                        .provider(service)
                        .and_then(|p| p.submit_rate_limit())
                        .map(|l| l.requests),
                    window_secs: catalog
                        .provider(service)
                        .and_then(|p| p.submit_rate_limit())
                        .map(|l| l.window.as_secs()),
                },
                quotas: quota_use
                    .iter()
                    .filter(|(quota, _)| quota.scope == service || quota.scope.starts_with(&format!("{service}/")))
                    .map(|(quota, used)| QuotaView {
                        scope: quota.scope.clone(),
                        limit: quota.limit,
                        used: *used,
                        resets_in_secs,
                    })
                    .collect(),
            }
        })
        .collect();
    for view in &mut providers {
        view.limits.in_flight = state.tasks.store().count_in_flight(&view.service).await?;
    }
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
    Ok(Json(ProviderListView { providers }))
}
