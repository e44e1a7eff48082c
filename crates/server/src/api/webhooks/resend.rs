use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use super::{DeliveryView, parse_message_id};
use crate::api::auth::Caller;
use crate::api::error::{ApiResult, ErrorBody};
use crate::api::extract::AppPath;
use crate::app::AppState;

/// Sends a delivery again now, under the same `webhook-id`, with a fresh
/// schedule of attempts.
#[utoipa::path(post, path = "/webhooks/deliveries/{id}/resend", tag = "webhooks",
    params(("id" = String, Path, description = "Delivery id (msg_…)")),
    responses((status = 202, body = DeliveryView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn resend_delivery(
    State(state): State<AppState>,
    Caller(caller): Caller,
    AppPath(id): AppPath<String>,
) -> ApiResult<(StatusCode, Json<DeliveryView>)> {
    let delivery = state.webhooks.resend(&caller, &parse_message_id(&id)?).await?;
    Ok((StatusCode::ACCEPTED, Json(DeliveryView::from(&delivery))))
}
