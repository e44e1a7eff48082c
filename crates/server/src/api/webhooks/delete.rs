use axum::extract::State;
use axum::http::StatusCode;

use super::parse_webhook_id;
use crate::api::auth::Caller;
use crate::api::error::{ApiResult, ErrorBody};
use crate::api::extract::AppPath;
use crate::app::AppState;

/// Deletes a webhook and its deliveries (pending ones are not sent).
#[utoipa::path(delete, path = "/webhooks/{id}", tag = "webhooks",
    params(("id" = String, Path, description = "Webhook id (whk_…)")),
    responses((status = 204, description = "Deleted"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_webhook(
    State(state): State<AppState>,
    Caller(caller): Caller,
    AppPath(id): AppPath<String>,
) -> ApiResult<StatusCode> {
    state.webhooks.delete(&caller, &parse_webhook_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}
