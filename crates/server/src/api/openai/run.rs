//! What every OpenAI-compatible call shares: the model resolved and checked for
//! the route, the call made a durable task like any other (visible in the API and
//! the studio), waited for, and its outcome said in OpenAI's words.

use std::time::Duration;

use atelier_core::account::Principal;
use atelier_core::catalog::{Modality, ModelSpec};
use atelier_core::task::{Asset, CreateTask, OutputRole, Task, TaskStatus};
use axum::http::{HeaderMap, StatusCode};
use bytes::{Bytes, BytesMut};
use futures::TryStreamExt;
use serde_json::Value;

use super::error::OpenAiError;
use crate::api::tasks::{idempotency_key, request_hash};
use crate::app::AppState;

/// The model a request names (the configured default when it names none), which
/// must make `modality`: otherwise a 400 naming the route that serves it.
pub fn resolve(state: &AppState, model: Option<&str>, modality: Modality) -> Result<ModelSpec, OpenAiError> {
    let model = model.map(str::trim).filter(|model| !model.is_empty());
    let spec = state.tasks.resolve_model(model).map_err(|error| {
        let error = OpenAiError::from(error);
        if error.param.as_deref() == Some("model") && error.code.as_deref() == Some("validation_error") {
            OpenAiError { status: StatusCode::NOT_FOUND, ..error }.code("model_not_found")
        } else {
            error
        }
    })?;
    if spec.modality != modality {
        let route = match spec.modality {
            Modality::Image => "POST /v1/images/generations",
            Modality::Video => "POST /v1/videos",
            Modality::Audio => "POST /v1/audio/speech",
            Modality::Text => "POST /v1/chat/completions",
            Modality::Model3d => "POST /api/v1/tasks (3D models have no OpenAI route)",
        };
        return Err(OpenAiError::invalid("model", format!("{} makes no {}: use {route}", spec.id(), noun(modality)))
            .code("model_not_supported"));
    }
    Ok(spec)
}

fn noun(modality: Modality) -> &'static str {
    match modality {
        Modality::Image => "images",
        Modality::Video => "videos",
        Modality::Audio => "speech",
        Modality::Text => "text",
        Modality::Model3d => "3D models",
    }
}

/// Makes the task (an `Idempotency-Key` header makes a repeat find the first one).
pub async fn create(
    state: &AppState,
    caller: &Principal,
    headers: &HeaderMap,
    spec: &ModelSpec,
    input: Value,
) -> Result<Task, OpenAiError> {
    let idempotency_key = idempotency_key(headers).map_err(OpenAiError::from)?;
    let request_hash = idempotency_key.as_ref().map(|_| request_hash(&(spec.id(), &input)));
    let create = CreateTask { model: Some(spec.id()), input, idempotency_key, request_hash, ..CreateTask::default() };
    let (task, _) = state.tasks.create(caller, create).await?;
    Ok(task)
}

/// Waits for the task to end (at most `openai_api.max_wait_secs`), and answers its
/// outputs when it completed or its failure in OpenAI's words.
pub async fn finish(state: &AppState, caller: &Principal, task: Task) -> Result<Task, OpenAiError> {
    let wait = Duration::from_secs(state.config.openai_api.max_wait_secs);
    let mut shutdown = state.shutdown.clone();
    let ended = tokio::select! {
        ended = state.tasks.wait_for_end(caller, task.id, wait) => ended?,
        _ = shutdown.wait_for(|stop| *stop) => {
            return Err(OpenAiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "server_error",
                format!("the server is shutting down; task {} goes on: GET /api/v1/tasks/{}", task.id, task.id),
            )
            .code("shutting_down")
            .no_retry());
        }
    };
    match ended.status {
        TaskStatus::Completed => Ok(ended),
        status if status.is_terminal() => Err(failure(&ended)),
        _ => Err(OpenAiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            "server_error",
            format!(
                "task {} is still {} after {} s; it goes on: GET /api/v1/tasks/{}",
                ended.id,
                ended.status,
                wait.as_secs(),
                ended.id
            ),
        )
        .code("timeout")
        .no_retry()),
    }
}

/// A task that ended without completing, as OpenAI would answer it. Never retried
/// by the SDKs: the task already had its retries, and another call is another task.
pub fn failure(task: &Task) -> OpenAiError {
    let (code, message) = match &task.error {
        Some(error) => (error.code.as_str(), error.message.as_str()),
        None => (task.status.as_str(), "the task ended without outputs"),
    };
    let (status, kind, code) = match (task.status, code) {
        (TaskStatus::Cancelled, _) => (StatusCode::CONFLICT, "invalid_request_error", "cancelled"),
        (TaskStatus::Expired, _) => (StatusCode::GATEWAY_TIMEOUT, "server_error", "expired"),
        (_, "content_filtered") => (StatusCode::BAD_REQUEST, "invalid_request_error", "content_policy_violation"),
        (_, "provider_rejected") => (StatusCode::BAD_REQUEST, "invalid_request_error", code),
        (_, "insufficient_credits") => (StatusCode::TOO_MANY_REQUESTS, "insufficient_quota", code),
        (_, "provider_rate_limited") => (StatusCode::TOO_MANY_REQUESTS, "rate_limit_error", code),
        (_, "generation_failed") => (StatusCode::INTERNAL_SERVER_ERROR, "server_error", code),
        _ => (StatusCode::BAD_GATEWAY, "server_error", code),
    };
    OpenAiError::new(status, kind, format!("{message} (task {})", task.id)).code(code).no_retry()
}

/// The task's main outputs (previews and extras left out), in order.
pub fn primary(task: &Task) -> impl Iterator<Item = &Asset> {
    task.outputs.iter().filter(|asset| asset.role == OutputRole::Primary)
}

/// An output's bytes, whole.
pub async fn read(state: &AppState, asset: &Asset) -> Result<Bytes, OpenAiError> {
    let gone = || {
        OpenAiError::new(StatusCode::NOT_FOUND, "invalid_request_error", format!("output {} is gone", asset.id))
            .code("not_found")
    };
    let read = state.tasks.open_blob(&asset.blob_key, None).await?.ok_or_else(gone)?;
    let mut bytes = BytesMut::with_capacity(usize::try_from(read.total_bytes).unwrap_or(0));
    let mut stream = read.stream;
    while let Some(chunk) = stream.try_next().await.map_err(|error| {
        tracing::error!(asset = %asset.id, %error, "reading an output");
        OpenAiError::new(StatusCode::SERVICE_UNAVAILABLE, "server_error", "file storage is not answering; try again")
            .code("storage_unavailable")
    })? {
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes.freeze())
}

/// Unix seconds, as OpenAI's `created` fields are.
pub fn unix_seconds(millis: i64) -> i64 {
    millis.div_euclid(1000)
}
