use atelier_core::time::now_millis;
use atelier_providers::kie::callback;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};

use crate::api::error::{ApiError, ApiResult, ErrorBody};
use crate::api::extract::AppJson;
use crate::app::AppState;

/// Kie's callback: checks the signature when a webhook key is configured, then
/// polls the task at once.
#[utoipa::path(post, path = "/api/v1/callbacks/kie", tag = "callbacks",
    request_body(content = Object, description = "Kie's callback body (data.taskId names the task)"),
    responses((status = 200, description = "Received"), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)), security(()))]
pub async fn kie_callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    AppJson(body): AppJson<Value>,
) -> ApiResult<Json<Value>> {
    let task_id = callback::task_id(&body)
        .map_err(|error| ApiError::validation(error.to_string(), json!({ "field": "data.taskId" })))?;
    if let Some(key) = &state.kie_webhook_key {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let now_secs = now_millis() / 1000;
        callback::verify(key, &task_id, header("x-webhook-timestamp"), header("x-webhook-signature"), now_secs)
            .map_err(|error| ApiError::new(StatusCode::UNAUTHORIZED, "invalid_signature", error.to_string()))?;
    }
    if state.tasks.store().poll_now(atelier_providers::kie::SERVICE, &task_id, now_millis()).await?.is_some() {
        state.tasks.events().wake_workers();
    }
    Ok(Json(json!({ "received": true })))
}
