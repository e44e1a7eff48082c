//! `GET /api/v1/providers`: each service, whether it is configured, its models, and
//! its circuit as this process sees it, its limits and today's quota use.

use atelier_core::circuit::CircuitView;
use atelier_core::task::ServiceReport;
use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use crate::api::error::ApiResult;
use crate::api::extract::AppQuery;
use crate::app::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

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
#[into_params(parameter_in = Query)]
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
#[utoipa::path(get, path = "/providers", tag = "models", params(ProvidersQuery),
    responses((status = 200, body = ProviderListView), (status = 422, body = crate::api::error::ErrorBody),
        (status = 503, body = crate::api::error::ErrorBody)))]
pub async fn list_providers(
    State(state): State<AppState>,
    AppQuery(query): AppQuery<ProvidersQuery>,
) -> ApiResult<Json<ProviderListView>> {
    let reports = state.tasks.service_reports(query.account).await?;
    Ok(Json(ProviderListView { providers: reports.into_iter().map(ProviderView::from).collect() }))
}

impl From<ServiceReport> for ProviderView {
    fn from(report: ServiceReport) -> Self {
        let CircuitView { state: circuit, consecutive_failures, retry_in_secs } = report.circuit;
        Self {
            service: report.service,
            configured: report.configured,
            requires_config: report.requires_config,
            models: report.models,
            circuit: circuit.to_owned(),
            consecutive_failures,
            circuit_retry_in_secs: retry_in_secs,
            account: report.account,
            account_error: report.account_error,
            limits: LimitsView {
                max_in_flight: report.max_in_flight,
                in_flight: report.in_flight,
                submits_per_window: report.submit_rate_limit.map(|limit| limit.requests),
                window_secs: report.submit_rate_limit.map(|limit| limit.window.as_secs()),
            },
            quotas: report
                .quotas
                .into_iter()
                .map(|usage| QuotaView {
                    scope: usage.quota.scope,
                    limit: usage.quota.limit,
                    used: usage.used,
                    resets_in_secs: usage.resets_in.as_secs(),
                })
                .collect(),
        }
    }
}

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_providers))
}
