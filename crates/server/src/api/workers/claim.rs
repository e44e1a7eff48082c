use std::time::Duration;

use atelier_core::ports::Claimed;
use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::{Lease, WorkerCaller};
use crate::api::error::{ApiResult, ErrorBody};
use crate::api::extract::{AppJson, AppPath};
use crate::api::tasks::parse_task_id;
use crate::api::views::timestamp;
use crate::app::AppState;

/// A claim: which models, how many tasks, how long to wait for one.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClaimRequest {
    /// Models to claim (`service/model`); all the key serves when empty.
    #[serde(default)]
    pub models: Vec<String>,
    /// At most this many tasks (1 to 8; default 1).
    #[serde(default)]
    pub limit: Option<u32>,
    /// Wait up to this many seconds for a task (capped by `pull.max_wait_secs`;
    /// default 25): an idle worker waits in one request.
    #[serde(default)]
    pub wait_secs: Option<u64>,
    /// This worker process's name, to tell several on one key apart in task records.
    #[serde(default)]
    pub instance: Option<String>,
}

/// What a claim handed out.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClaimResponse {
    pub tasks: Vec<ClaimedTaskView>,
}

/// A task a worker now holds.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClaimedTaskView {
    pub task_id: String,
    /// Send back as `X-Atelier-Lease` with every call about this task.
    pub lease: String,
    /// ISO 8601: renew before then (`POST /worker/tasks/{id}/heartbeat`).
    pub lease_expires_at: String,
    pub lease_secs: u64,
    /// `service/model`.
    pub model: String,
    /// The validated input, every default filled in.
    #[schema(value_type = Object)]
    pub input: Value,
    /// Which attempt this is (1 first).
    pub attempt: u32,
    /// The input's files, fetched at `GET /worker/tasks/{id}/inputs/{position}`.
    pub input_files: Vec<InputFileView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InputFileView {
    pub position: usize,
    pub reference: String,
    pub url: String,
}

/// Claim tasks (worker key). Long-polls: answers as soon as a task is claimed, or
/// with none after the wait.
#[utoipa::path(post, path = "/worker/claim", tag = "workers", request_body = ClaimRequest,
    responses((status = 200, body = ClaimResponse), (status = 400, description = "Malformed JSON", body = ErrorBody), (status = 415, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn claim_tasks(
    State(state): State<AppState>,
    WorkerCaller(key): WorkerCaller,
    AppJson(request): AppJson<ClaimRequest>,
) -> ApiResult<Json<ClaimResponse>> {
    let wait = Duration::from_secs(request.wait_secs.unwrap_or(25));
    let instance = request.instance.unwrap_or_default();
    let claimed = state
        .pull
        .claim(&key, &instance, &request.models, request.limit.unwrap_or(1), wait, state.shutdown.clone())
        .await?;
    let mut tasks = Vec::with_capacity(claimed.len());
    for Claimed { task, lease } in claimed {
        let input_files = state
            .pull
            .inputs(&task)?
            .into_iter()
            .map(|file| InputFileView {
                url: format!("/api/v1/worker/tasks/{}/inputs/{}", task.id, file.position),
                position: file.position,
                reference: file.reference,
            })
            .collect();
        let lease_secs = state.pull.lease().as_secs();
        tasks.push(ClaimedTaskView {
            task_id: task.id.to_string(),
            lease: lease.0,
            lease_expires_at: timestamp(atelier_core::time::now_millis() + (lease_secs as i64) * 1000),
            lease_secs,
            model: task.model_ref(),
            input: task.input,
            attempt: task.attempts,
            input_files,
        });
    }
    Ok(Json(ClaimResponse { tasks }))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HeartbeatRequest {
    /// Progress, 0 to 100 (stored as at most 99 until the task completes).
    #[serde(default)]
    pub progress: Option<u8>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HeartbeatResponse {
    /// ISO 8601: the lease holds until then.
    pub lease_expires_at: String,
}

/// Renew a lease and report progress (worker key). 409 `lease_lost` when the task
/// was cancelled or reclaimed: stop working on it.
#[utoipa::path(post, path = "/worker/tasks/{id}/heartbeat", tag = "workers", request_body = HeartbeatRequest,
    params(("id" = String, Path, description = "Task id")),
    responses((status = 200, body = HeartbeatResponse), (status = 400, description = "Malformed JSON", body = ErrorBody), (status = 415, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn heartbeat(
    State(state): State<AppState>,
    WorkerCaller(key): WorkerCaller,
    Lease(lease): Lease,
    AppPath(id): AppPath<String>,
    AppJson(request): AppJson<HeartbeatRequest>,
) -> ApiResult<Json<HeartbeatResponse>> {
    if request.progress.is_some_and(|progress| progress > 100) {
        return Err(crate::api::error::ApiError::validation(
            "progress must be 0 to 100",
            serde_json::json!({ "field": "progress", "reason": "out of range" }),
        ));
    }
    let until = state.pull.heartbeat(&key, parse_task_id(&id)?, &lease, request.progress).await?;
    Ok(Json(HeartbeatResponse { lease_expires_at: timestamp(until) }))
}
