//! `POST /api/v1/callbacks/{service}`: providers' callbacks, one route for all. The
//! service's provider reads its own callbacks (and checks their signatures); a
//! callback only makes Atelier poll the task at once, since results always come
//! from the provider's query API, so it is trusted with nothing.

use atelier_core::ports::Callback;
use atelier_core::time::now_millis;
use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use serde_json::{Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::error::{ApiResult, ErrorBody};
use crate::api::extract::{AppBytes, AppPath};
use crate::app::AppState;

/// Public: a callback carries no credential of ours (the provider checks its own
/// signature).
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(provider_callback))
}

/// A provider's callback: read and verified by the service's provider, then the
/// tasks it names are polled at once.
#[utoipa::path(post, path = "/callbacks/{service}", tag = "callbacks",
    params(("service" = String, Path, description = "The service that calls back, such as `kie`")),
    request_body(content = Object, description = "The provider's callback body, as the provider sends it \
        (Kie: JSON naming the task in data.taskId)"),
    responses((status = 200, description = "Received"), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 413, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 503, body = ErrorBody)), security(()))]
pub async fn provider_callback(
    State(state): State<AppState>,
    AppPath(service): AppPath<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    AppBytes(body): AppBytes,
) -> ApiResult<Json<Value>> {
    let headers: Vec<(String, String)> = headers
        .iter()
        .filter_map(|(name, value)| Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned())))
        .collect();
    let callback = Callback { headers: &headers, body: &body, query: query.as_deref(), received_at: now_millis() };
    state.tasks.provider_callback(&service, &callback).await?;
    Ok(Json(json!({ "received": true })))
}
