use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use crate::api::auth::Caller;
use crate::api::error::ApiResult;
use crate::app::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct SecretView {
    /// `whsec_<base64>`: verify your tasks' own webhooks with it.
    pub key: String,
}

/// The secret that signs the webhooks your tasks name (`webhook` on
/// `POST /tasks`), as Replicate's `GET /webhooks/default/secret`.
#[utoipa::path(get, path = "/webhooks/default/secret", tag = "webhooks", responses((status = 200, body = SecretView)))]
pub async fn default_secret(State(state): State<AppState>, Caller(caller): Caller) -> ApiResult<Json<SecretView>> {
    Ok(Json(SecretView { key: state.webhooks.default_secret(&caller).await? }))
}
