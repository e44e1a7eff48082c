use axum::Json;
use axum::extract::State;

use super::{WebhookView, parse_webhook_id};
use crate::api::auth::Caller;
use crate::api::error::{ApiResult, ErrorBody};
use crate::api::extract::AppPath;
use crate::app::AppState;

/// One of your webhooks (its secret is not shown).
#[utoipa::path(get, path = "/webhooks/{id}", tag = "webhooks",
    params(("id" = String, Path, description = "Webhook id (whk_…)")),
    responses((status = 200, body = WebhookView), (status = 404, body = ErrorBody)))]
pub async fn get_webhook(
    State(state): State<AppState>,
    Caller(caller): Caller,
    AppPath(id): AppPath<String>,
) -> ApiResult<Json<WebhookView>> {
    let subscription = state.webhooks.get(&caller, &parse_webhook_id(&id)?).await?;
    Ok(Json(WebhookView::new(&subscription, false)))
}
