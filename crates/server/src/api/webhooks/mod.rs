//! `/api/v1/webhooks`: a user's webhook subscriptions (Standard Webhooks
//! signatures; the secret is shown when made and when rotated, never after),
//! their deliveries' log, a resend, a test ping, and the secret that signs the
//! webhooks tasks name themselves (`webhook` on `POST /tasks`). `sender.rs` is
//! the HTTP side the dispatcher uses, through the fetch policy's SSRF guard.

mod create;
mod delete;
mod deliveries;
mod get;
mod list;
mod resend;
mod secret;
pub mod sender;
mod test;
mod update;

use atelier_core::webhook::{Delivery, Destination, Subscription};
use atelier_core::{MessageId, WebhookId};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::error::ApiError;
use crate::api::views::timestamp;
use crate::app::AppState;

pub use create::CreateWebhookRequest;
pub use update::UpdateWebhookRequest;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create::create_webhook, list::list_webhooks))
        .routes(routes!(get::get_webhook, update::update_webhook, delete::delete_webhook))
        .routes(routes!(deliveries::list_deliveries))
        .routes(routes!(test::test_webhook))
        .routes(routes!(resend::resend_delivery))
        .routes(routes!(secret::default_secret))
}

/// A webhook id from a path; a malformed one is simply not found.
pub(crate) fn parse_webhook_id(id: &str) -> Result<WebhookId, ApiError> {
    WebhookId::parse(id).ok_or_else(|| ApiError::not_found("webhook"))
}

pub(crate) fn parse_message_id(id: &str) -> Result<MessageId, ApiError> {
    MessageId::parse(id).ok_or_else(|| ApiError::not_found("delivery"))
}

/// A subscription. `secret` only in the answers that make or rotate it.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookView {
    /// `whk_…`
    pub id: String,
    pub url: String,
    /// `task.created`, `task.started`, `task.progress`, `task.completed`,
    /// `task.failed`, `task.cancelled`, `pipeline.phase_complete`, `pipeline.waiting_input`.
    pub events: Vec<String>,
    pub description: Option<String>,
    pub enabled: bool,
    /// `whsec_<base64>`: keep it; it is not shown again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// ISO 8601.
    pub created_at: String,
    pub updated_at: String,
}

impl WebhookView {
    pub fn new(subscription: &Subscription, show_secret: bool) -> Self {
        Self {
            id: subscription.id.to_string(),
            url: subscription.url.clone(),
            events: subscription.events.iter().map(|event| event.as_str().to_owned()).collect(),
            description: subscription.description.clone(),
            enabled: subscription.enabled,
            secret: show_secret.then(|| subscription.secret.clone()),
            created_at: timestamp(subscription.created_at),
            updated_at: timestamp(subscription.updated_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookListView {
    pub webhooks: Vec<WebhookView>,
}

/// One message to one endpoint and its attempts so far.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryView {
    /// `msg_…`: the `webhook-id` header, the same on every attempt and resend.
    pub id: String,
    /// The subscription (`whk_…`), or null for a task's own webhook.
    pub webhook_id: Option<String>,
    /// The task whose own webhook this is.
    pub task_id: Option<String>,
    pub url: String,
    pub event: String,
    /// `pending`, `delivered` or `failed` (every attempt failed; resend to try again).
    pub status: String,
    pub attempts: u32,
    /// While pending: when the next attempt is due (ISO 8601).
    pub next_attempt_at: Option<String>,
    /// The last answer's HTTP status.
    pub last_status: Option<u16>,
    /// Why the last attempt got no answer (a timeout, a refused address).
    pub last_error: Option<String>,
    pub latency_ms: Option<u64>,
    /// The first KiB of the last answer.
    pub answer_excerpt: Option<String>,
    /// What was (or will be) sent: `{type, timestamp, data}`.
    #[schema(value_type = Object)]
    pub payload: Value,
    pub created_at: String,
    pub delivered_at: Option<String>,
}

impl From<&Delivery> for DeliveryView {
    fn from(delivery: &Delivery) -> Self {
        let (webhook_id, task_id) = match &delivery.destination {
            Destination::Subscription(id) => (Some(id.to_string()), None),
            Destination::Task(task) => (None, Some(task.to_string())),
        };
        let pending = delivery.status == atelier_core::webhook::DeliveryStatus::Pending;
        Self {
            id: delivery.id.to_string(),
            webhook_id,
            task_id,
            url: delivery.url.clone(),
            event: delivery.event.as_str().to_owned(),
            status: delivery.status.as_str().to_owned(),
            attempts: delivery.attempts,
            next_attempt_at: pending.then(|| timestamp(delivery.next_attempt_at)),
            last_status: delivery.last_status,
            last_error: delivery.last_error.clone(),
            latency_ms: delivery.latency_ms,
            answer_excerpt: delivery.answer_excerpt.clone(),
            payload: delivery.payload.clone(),
            created_at: timestamp(delivery.created_at),
            delivered_at: delivery.delivered_at.map(timestamp),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryListView {
    /// Newest first.
    pub deliveries: Vec<DeliveryView>,
    /// Pass as `cursor` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}
