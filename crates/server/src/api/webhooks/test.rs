use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use super::{DeliveryView, parse_webhook_id};
use crate::api::auth::Caller;
use crate::api::error::{ApiResult, ErrorBody};
use crate::api::extract::AppPath;
use crate::app::AppState;

/// Queues a `webhook.test` ping to a webhook (follow it in its deliveries).
#[utoipa::path(post, path = "/webhooks/{id}/test", tag = "webhooks",
    params(("id" = String, Path, description = "Webhook id (whk_…)")),
    responses((status = 202, body = DeliveryView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn test_webhook(
    State(state): State<AppState>,
    Caller(caller): Caller,
    AppPath(id): AppPath<String>,
) -> ApiResult<(StatusCode, Json<DeliveryView>)> {
    let delivery = state.webhooks.test(&caller, &parse_webhook_id(&id)?).await?;
    Ok((StatusCode::ACCEPTED, Json(DeliveryView::from(&delivery))))
}
