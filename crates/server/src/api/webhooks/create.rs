use atelier_core::webhook::NewSubscription;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;

use super::WebhookView;
use crate::api::auth::Caller;
use crate::api::error::{ApiResult, ErrorBody};
use crate::api::extract::AppJson;
use crate::app::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhookRequest {
    /// Where messages are POSTed: http(s), a public address (private ones only
    /// when `fetch.allow` lists them).
    #[schema(max_length = 2048)]
    pub url: String,
    /// Event names; absent or empty is every event.
    #[serde(default)]
    pub events: Vec<String>,
    #[serde(default)]
    #[schema(max_length = 200)]
    pub description: Option<String>,
    /// A `whsec_<base64>` secret of your own (24 to 64 bytes); one is made when absent.
    #[serde(default)]
    pub secret: Option<String>,
}

/// Subscribes a URL to events. The answer carries the secret, once.
#[utoipa::path(post, path = "/webhooks", tag = "webhooks", request_body = CreateWebhookRequest,
    responses((status = 201, body = WebhookView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, description = "Too many webhooks", body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 422, description = "A URL the SSRF policy refuses, an unknown event, a bad secret; `details.field` names it", body = ErrorBody)))]
pub async fn create_webhook(
    State(state): State<AppState>,
    Caller(caller): Caller,
    AppJson(request): AppJson<CreateWebhookRequest>,
) -> ApiResult<(StatusCode, Json<WebhookView>)> {
    let new = NewSubscription {
        url: request.url,
        events: request.events,
        description: request.description,
        secret: request.secret,
    };
    let subscription = state.webhooks.create(&caller, new).await?;
    Ok((StatusCode::CREATED, Json(WebhookView::new(&subscription, true))))
}
