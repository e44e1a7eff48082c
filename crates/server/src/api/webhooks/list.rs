use axum::Json;
use axum::extract::State;

use super::{WebhookListView, WebhookView};
use crate::api::auth::Caller;
use crate::api::error::ApiResult;
use crate::app::AppState;

/// Your webhooks, oldest first (secrets are not shown).
#[utoipa::path(get, path = "/webhooks", tag = "webhooks", responses((status = 200, body = WebhookListView)))]
pub async fn list_webhooks(State(state): State<AppState>, Caller(caller): Caller) -> ApiResult<Json<WebhookListView>> {
    let subscriptions = state.webhooks.list(&caller).await?;
    Ok(Json(WebhookListView { webhooks: subscriptions.iter().map(|s| WebhookView::new(s, false)).collect() }))
}
