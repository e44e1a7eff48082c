use atelier_core::webhook::SubscriptionChange;
use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Deserializer};
use utoipa::ToSchema;

use super::{WebhookView, parse_webhook_id};
use crate::api::auth::Caller;
use crate::api::error::{ApiResult, ErrorBody};
use crate::api::extract::{AppJson, AppPath};
use crate::app::AppState;

/// Absent fields stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateWebhookRequest {
    #[serde(default)]
    #[schema(max_length = 2048)]
    pub url: Option<String>,
    /// Event names; empty is every event.
    #[serde(default)]
    pub events: Option<Vec<String>>,
    /// `null` or blank clears it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, max_length = 200)]
    pub description: Option<Option<String>>,
    /// A disabled webhook keeps its deliveries but is sent nothing new.
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Makes a new secret, shown in this answer once.
    #[serde(default)]
    pub rotate_secret: bool,
}

fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(deserializer).map(Some)
}

/// Changes a webhook: its URL, events, description, whether it is enabled, or
/// its secret (`rotate_secret`).
#[utoipa::path(patch, path = "/webhooks/{id}", tag = "webhooks", request_body = UpdateWebhookRequest,
    params(("id" = String, Path, description = "Webhook id (whk_…)")),
    responses((status = 200, body = WebhookView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_webhook(
    State(state): State<AppState>,
    Caller(caller): Caller,
    AppPath(id): AppPath<String>,
    AppJson(request): AppJson<UpdateWebhookRequest>,
) -> ApiResult<Json<WebhookView>> {
    let change = SubscriptionChange {
        url: request.url,
        events: request.events,
        description: request.description,
        enabled: request.enabled,
        rotate_secret: request.rotate_secret,
    };
    let subscription = state.webhooks.update(&caller, &parse_webhook_id(&id)?, change).await?;
    Ok(Json(WebhookView::new(&subscription, request.rotate_secret)))
}
