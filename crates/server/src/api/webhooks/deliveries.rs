use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use utoipa::IntoParams;

use super::{DeliveryListView, DeliveryView, parse_webhook_id};
use crate::api::auth::Caller;
use crate::api::error::{ApiResult, ErrorBody};
use crate::api::extract::{AppPath, AppQuery};
use crate::api::filters::invalid;
use crate::app::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveriesQuery {
    /// 1 to 200 (50 when absent).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    /// The previous page's `next_cursor`.
    pub cursor: Option<String>,
}

/// A webhook's delivery log, newest first: status, attempts, latency and the
/// answer's first KiB. `default` as the id lists your tasks' own webhooks'.
#[utoipa::path(get, path = "/webhooks/{id}/deliveries", tag = "webhooks",
    params(("id" = String, Path, description = "Webhook id (whk_…), or `default`"), DeliveriesQuery),
    responses((status = 200, body = DeliveryListView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn list_deliveries(
    State(state): State<AppState>,
    Caller(caller): Caller,
    AppPath(id): AppPath<String>,
    AppQuery(query): AppQuery<DeliveriesQuery>,
) -> ApiResult<Json<DeliveryListView>> {
    let webhook = if id == "default" { None } else { Some(parse_webhook_id(&id)?) };
    let limit = query.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(invalid("limit", "must be between 1 and 200"));
    }
    let cursor = query
        .cursor
        .as_deref()
        .map(|cursor| atelier_core::MessageId::parse(cursor).ok_or_else(|| invalid("cursor", "not a cursor")))
        .transpose()?;
    let page = state.webhooks.deliveries(&caller, webhook.as_ref(), cursor.as_ref(), limit).await?;
    Ok(Json(DeliveryListView {
        deliveries: page.deliveries.iter().map(DeliveryView::from).collect(),
        next_cursor: page.next_cursor.map(|id| id.to_string()),
    }))
}
