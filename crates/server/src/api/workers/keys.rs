use atelier_core::pull::WorkerKey;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::auth::Caller;
use crate::api::error::{ApiResult, ErrorBody};
use crate::api::extract::{AppJson, AppPath};
use crate::api::views::timestamp;
use crate::app::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWorkerKeyRequest {
    pub name: String,
    /// The models its worker serves (`trellis/trellis-image-large`, or any listed in `[pull] models`).
    pub models: Vec<String>,
}

/// A worker key (its secret is shown once, when made).
#[derive(Debug, Serialize, ToSchema)]
pub struct WorkerKeyView {
    pub id: String,
    pub name: String,
    pub prefix: String,
    pub models: Vec<String>,
    pub created_at: String,
    pub revoked_at: Option<String>,
    /// When its worker last asked for work.
    pub last_seen_at: Option<String>,
    /// The key itself: only in the answer that made it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

impl From<&WorkerKey> for WorkerKeyView {
    fn from(key: &WorkerKey) -> Self {
        Self {
            id: key.id.clone(),
            name: key.name.clone(),
            prefix: key.prefix.clone(),
            models: key.models.clone(),
            created_at: timestamp(key.created_at),
            revoked_at: key.revoked_at.map(timestamp),
            last_seen_at: key.last_seen_at.map(timestamp),
            key: None,
        }
    }
}

/// List worker keys (admins).
#[utoipa::path(get, path = "/admin/worker-keys", tag = "workers",
    responses((status = 200, body = Vec<WorkerKeyView>), (status = 403, body = ErrorBody)))]
pub async fn list_worker_keys(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> ApiResult<Json<Vec<WorkerKeyView>>> {
    Ok(Json(state.pull.list_keys(&caller).await?.iter().map(WorkerKeyView::from).collect()))
}

/// Make a worker key (admins): what a remote worker (a TRELLIS GPU machine)
/// authenticates with. The key is in this answer only.
#[utoipa::path(post, path = "/admin/worker-keys", tag = "workers", request_body = CreateWorkerKeyRequest,
    responses((status = 201, body = WorkerKeyView), (status = 400, description = "Malformed JSON", body = ErrorBody), (status = 415, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_worker_key(
    State(state): State<AppState>,
    Caller(caller): Caller,
    AppJson(request): AppJson<CreateWorkerKeyRequest>,
) -> ApiResult<(StatusCode, Json<WorkerKeyView>)> {
    let (key, secret) = state.pull.create_key(&caller, &request.name, &request.models).await?;
    Ok((StatusCode::CREATED, Json(WorkerKeyView { key: Some(secret), ..WorkerKeyView::from(&key) })))
}

/// Revoke a worker key (admins): its worker's next call is refused; the tasks it
/// holds return to the queue when their leases expire.
#[utoipa::path(delete, path = "/admin/worker-keys/{id}", tag = "workers",
    params(("id" = String, Path, description = "Worker key id")),
    responses((status = 204, description = "Revoked"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn revoke_worker_key(
    State(state): State<AppState>,
    Caller(caller): Caller,
    AppPath(id): AppPath<String>,
) -> ApiResult<StatusCode> {
    state.pull.revoke_key(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
