//! `GET /api/v1/models`: every service and model, with its input schema and whether
//! it can be used now.

use atelier_core::catalog::{names, offers};
use axum::Json;
use axum::extract::State;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::auth::Caller;
use crate::api::error::ApiResult;
use crate::app::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct ModelView {
    /// `service/model`, what a task names.
    pub id: String,
    pub service: String,
    /// The canonical name, the same under every service that offers the model.
    pub model: String,
    /// Other names a task may give this model: former ids (`kie/sora2`) and seed
    /// 003's constant (`SORA2`, with `"service": "kie"`), in any case.
    pub aliases: Vec<String>,
    /// Every service that offers this model (this one included), and how each
    /// differs from this one: the parameters it lacks and adds.
    pub offered_by: Vec<OfferView>,
    pub modality: String,
    pub title: String,
    pub description: String,
    pub usable: bool,
    /// The config key to set when the model is not usable yet.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requires_config: Option<String>,
    pub is_default: bool,
    pub estimated_time: u32,
    /// JSON Schema of the task input.
    #[schema(value_type = Object)]
    pub input_schema: Value,
}

/// One service's offer of a model, beside the model it is listed under.
#[derive(Debug, Serialize, ToSchema)]
pub struct OfferView {
    pub service: String,
    /// `service/model`.
    pub id: String,
    pub usable: bool,
    /// Parameters the listed model takes that this service lacks (refused, naming the
    /// service, when sent to it).
    pub lacks: Vec<String>,
    /// Parameters this service takes that the listed model lacks.
    pub adds: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ModelListView {
    pub models: Vec<ModelView>,
    pub default_model: String,
}

/// Every model (also seed 004's `GET /api/v1/models`).
#[utoipa::path(get, path = "/models", tag = "models", responses((status = 200, body = ModelListView)))]
pub async fn list_models(State(state): State<AppState>) -> Json<ModelListView> {
    let default_model = state.tasks.rules().default_model.clone();
    let catalog = state.tasks.catalog().models();
    let models = catalog
        .iter()
        .map(|spec| ModelView {
            id: spec.id(),
            service: spec.service.clone(),
            model: spec.model.clone(),
            aliases: names::other_names(spec),
            offered_by: offers::offers(&catalog, spec)
                .into_iter()
                .map(|offer| OfferView {
                    service: offer.service,
                    id: offer.id,
                    usable: offer.usable,
                    lacks: offer.lacks,
                    adds: offer.adds,
                })
                .collect(),
            modality: serde_json::to_value(spec.modality)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            title: spec.title.clone(),
            description: spec.description.clone(),
            usable: spec.is_usable(),
            requires_config: spec.requires_config.clone(),
            is_default: spec.id() == default_model,
            estimated_time: spec.estimated_seconds,
            input_schema: spec.input_schema.clone(),
        })
        .collect();
    Json(ModelListView { models, default_model })
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RefreshView {
    /// Models in the catalog now.
    pub models: usize,
    /// Services whose refresh failed; they keep the models they had.
    pub failures: Vec<RefreshFailureView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RefreshFailureView {
    pub service: String,
    pub message: String,
}

/// Asks every service what it offers now (admins): servers that list their own
/// checkpoints or workflows are read again; the catalog is rebuilt from what each
/// service says. (`models.refresh_secs` also does this on a schedule.)
#[utoipa::path(post, path = "/models/refresh", tag = "models",
    responses((status = 200, body = RefreshView), (status = 503, body = crate::api::error::ErrorBody)))]
pub async fn refresh_models(State(state): State<AppState>, Caller(caller): Caller) -> ApiResult<Json<RefreshView>> {
    let refreshed = state.tasks.refresh_catalog(&caller).await?;
    let failures =
        refreshed.failures.into_iter().map(|(service, message)| RefreshFailureView { service, message }).collect();
    Ok(Json(RefreshView { models: refreshed.models, failures }))
}

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_models)).routes(routes!(refresh_models))
}
