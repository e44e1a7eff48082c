use std::time::Duration;

use atelier_core::ports::{ErrorClass, Output, OutputRole, ProviderError};
use atelier_core::pull::RemoteReport;
use axum::Json;
use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::StatusCode;
use bytes::BytesMut;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Lease, WorkerCaller};
use crate::api::error::{ApiError, ApiResult, ErrorBody};
use crate::api::extract::{AppJson, AppPath};
use crate::api::tasks::parse_task_id;
use crate::api::views::TaskView;
use crate::app::AppState;
use crate::openapi::FilePart;

/// Complete a task the worker holds (worker key and lease) with its output files,
/// as a multipart form: parts named `file` (results, in order), `preview` (a
/// rendered still) or `extra`, each with its `Content-Type` (or a file name whose
/// extension says it: `.glb`, `.zip`, `.obj`, `.stl`, `.png`…). Stored, and the task
/// completed, in one step that holds only while the lease does.
#[utoipa::path(post, path = "/worker/tasks/{id}/complete", tag = "workers",
    params(("id" = String, Path, description = "Task id")),
    request_body(content = CompletionForm, content_type = "multipart/form-data", description = "The output files"),
    responses((status = 200, body = TaskView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn complete_task(
    State(state): State<AppState>,
    WorkerCaller(key): WorkerCaller,
    Lease(lease): Lease,
    AppPath(id): AppPath<String>,
    request: Request,
) -> ApiResult<Json<TaskView>> {
    let id = parse_task_id(&id)?;
    // The task must be one this worker may act on before its files are read.
    let task = state.pull.task(&key, id).await?;
    let multipart = Multipart::from_request(request, &state)
        .await
        .map_err(|rejection| ApiError::bad_request(format!("not a multipart form: {}", rejection.body_text())))?;
    let outputs = read_outputs(multipart, state.pull.settings().max_output_bytes).await?;
    let task = state.pull.report(&task, &lease, RemoteReport::Finished(outputs)).await?;
    Ok(Json(TaskView::from(&task)))
}

/// The parts of a completion form, as the OpenAPI document shows them (the handler
/// reads the parts one by one, in order, as they stream in).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct CompletionForm {
    /// The results, in order.
    file: Vec<FilePart>,
    /// A rendered still of the result.
    preview: Option<FilePart>,
    /// Other files (a texture, a log).
    extra: Option<Vec<FilePart>>,
}

async fn read_outputs(mut multipart: Multipart, max_bytes: u64) -> ApiResult<Vec<Output>> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the outputs are larger than pull.max_output_bytes ({max_bytes} bytes)"),
        )
    };
    let mut outputs = Vec::new();
    let mut total = 0u64;
    loop {
        let field = multipart.next_field().await.map_err(|error| form_error(error.status(), &error.body_text()))?;
        let Some(mut field) = field else { break };
        let role = match field.name() {
            Some("file") => OutputRole::Primary,
            Some("preview") => OutputRole::Preview,
            Some("extra") => OutputRole::Extra,
            other => {
                return Err(ApiError::validation(
                    format!("unknown form part {:?}: name parts file, preview or extra", other.unwrap_or_default()),
                    serde_json::json!({ "field": other.unwrap_or_default(), "reason": "unknown part" }),
                ));
            }
        };
        let mime = mime_of(field.content_type(), field.file_name());
        let mut bytes = BytesMut::new();
        while let Some(chunk) = field.chunk().await.map_err(|error| form_error(error.status(), &error.body_text()))? {
            total += chunk.len() as u64;
            if total > max_bytes {
                return Err(too_large());
            }
            bytes.extend_from_slice(&chunk);
        }
        if bytes.is_empty() {
            return Err(ApiError::validation(
                "an output file is empty",
                serde_json::json!({ "field": "file", "reason": "is empty" }),
            ));
        }
        outputs.push(Output::new(bytes.freeze(), mime).with_role(role));
    }
    if !outputs.iter().any(|output| output.role == OutputRole::Primary) {
        return Err(ApiError::validation(
            "send at least one result as a part named file",
            serde_json::json!({ "field": "file", "reason": "is required" }),
        ));
    }
    Ok(outputs)
}

fn form_error(status: StatusCode, text: &str) -> ApiError {
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(status, "payload_too_large", format!("reading the outputs: {text}"))
    } else {
        ApiError::bad_request(format!("reading the outputs: {text}"))
    }
}

/// A part's type: as declared, else by its file name's extension.
fn mime_of(declared: Option<&str>, name: Option<&str>) -> String {
    let declared = declared.map(|mime| mime.split(';').next().unwrap_or_default().trim().to_ascii_lowercase());
    if let Some(mime) = declared.filter(|mime| !mime.is_empty() && mime != "application/octet-stream") {
        return mime;
    }
    let extension = name.and_then(|name| name.rsplit_once('.')).map(|(_, ext)| ext.to_ascii_lowercase());
    match extension.as_deref() {
        Some("glb") => "model/gltf-binary",
        Some("gltf") => "model/gltf+json",
        Some("obj") => "model/obj",
        Some("mtl") => "model/mtl",
        Some("stl") => "model/stl",
        Some("ply") => "application/ply",
        Some("zip") => "application/zip",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("webp") => "image/webp",
        Some("mp4") => "video/mp4",
        Some("wav") => "audio/wav",
        _ => "application/octet-stream",
    }
    .to_owned()
}

/// Why a worker's task failed.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FailRequest {
    /// An error class: `generation_failed` (the engine failed: 502 on seed 002's
    /// routes), `timeout` (504), `provider_rejected` (the input's fault, not
    /// retried), `provider_error` (retried with backoff), `connection_refused`, …
    pub error: String,
    pub message: String,
    /// Retry no sooner than this (for classes that retry).
    #[serde(default)]
    pub retry_after_secs: Option<u64>,
}

/// Fail (or, as its class allows, retry) a task the worker holds (worker key and lease).
#[utoipa::path(post, path = "/worker/tasks/{id}/fail", tag = "workers", request_body = FailRequest,
    params(("id" = String, Path, description = "Task id")),
    responses((status = 200, body = TaskView), (status = 400, description = "Malformed JSON", body = ErrorBody), (status = 415, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn fail_task(
    State(state): State<AppState>,
    WorkerCaller(key): WorkerCaller,
    Lease(lease): Lease,
    AppPath(id): AppPath<String>,
    AppJson(request): AppJson<FailRequest>,
) -> ApiResult<Json<TaskView>> {
    let Some(class) = ErrorClass::from_code(request.error.trim()) else {
        let known: Vec<&str> = ErrorClass::ALL.iter().map(|class| class.code()).collect();
        return Err(ApiError::validation(
            format!("unknown error class {:?} (known: {})", request.error, known.join(", ")),
            serde_json::json!({ "field": "error", "reason": "unknown class", "known": known }),
        ));
    };
    let message: String = request.message.chars().take(2000).collect();
    let mut error =
        ProviderError::new(class, if message.trim().is_empty() { class.code().to_owned() } else { message });
    error.retry_after = request.retry_after_secs.map(|secs| Duration::from_secs(secs.min(3600)));
    let task = state.pull.task(&key, parse_task_id(&id)?).await?;
    let task = state.pull.report(&task, &lease, RemoteReport::Failed(error)).await?;
    Ok(Json(TaskView::from(&task)))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Released {
    pub released: bool,
}

/// Give a task back untouched (a worker shutting down): another worker takes it
/// at once, no attempt counted.
#[utoipa::path(post, path = "/worker/tasks/{id}/release", tag = "workers",
    params(("id" = String, Path, description = "Task id")),
    responses((status = 200, body = Released), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn release_task(
    State(state): State<AppState>,
    WorkerCaller(key): WorkerCaller,
    Lease(lease): Lease,
    AppPath(id): AppPath<String>,
) -> ApiResult<Json<Released>> {
    state.pull.release(&key, parse_task_id(&id)?, &lease).await?;
    Ok(Json(Released { released: true }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_parts_type_comes_from_its_declaration_or_its_name() {
        assert_eq!(mime_of(Some("model/gltf-binary"), None), "model/gltf-binary");
        assert_eq!(mime_of(Some("application/octet-stream"), Some("a.GLB")), "model/gltf-binary");
        assert_eq!(mime_of(None, Some("mesh.zip")), "application/zip");
        assert_eq!(mime_of(None, None), "application/octet-stream");
    }
}
