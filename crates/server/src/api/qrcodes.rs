//! Seed 000's QR code API: `POST /api/v1/qrcodes` answers the image itself (PNG or
//! SVG). It is recorded like any generation: a `local/qr` task owned by the caller,
//! whose output stays in the gallery and history.

use std::time::Duration;

use atelier_core::task::{CreateTask, TaskStatus};
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::TryStreamExt;
use serde_json::Value;

use crate::api::auth::Caller;
use crate::api::error::{ApiError, ApiResult, ErrorBody};
use crate::api::extract::AppJson;
use crate::api::views::TaskView;
use crate::app::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// How long the answer waits for the image before it answers 202 with the task.
const WAIT: Duration = Duration::from_secs(30);

/// Makes a QR code and answers the image (201, `Location` of the stored image,
/// `X-Task-Id`). The body is `local/qr`'s input: `text`, and optionally `format`
/// (`png`, `svg`), `size`, `error_correction`, `margin`, `foreground`,
/// `background`. Answers 202 with the task when no worker finished it in time.
#[utoipa::path(post, path = "/qrcodes", tag = "seed 000",
    request_body(content = Object, description = "local/qr's input"),
    responses((status = 201, description = "The QR code (image/png or image/svg+xml)"),
        (status = 202, body = TaskView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 429, body = ErrorBody)))]
pub async fn create_qrcode(
    State(state): State<AppState>,
    Caller(caller): Caller,
    AppJson(input): AppJson<Value>,
) -> ApiResult<Response> {
    let request = CreateTask { model: Some("local/qr".into()), input, ..CreateTask::default() };
    let (task, _) = state.tasks.create(&caller, request).await?;
    let task = state.tasks.wait_for_end(&caller, task.id, WAIT).await?;
    let output = match task.status {
        TaskStatus::Completed => task.outputs.first().cloned(),
        TaskStatus::Failed | TaskStatus::Cancelled | TaskStatus::Expired => {
            let message = task.error.as_ref().map_or("the QR code could not be made", |e| e.message.as_str());
            return Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "generation_failed", message));
        }
        _ => None,
    };
    let Some(asset) = output else {
        let mut response = (StatusCode::ACCEPTED, axum::Json(TaskView::from(&task))).into_response();
        if let Ok(location) = HeaderValue::from_str(&format!("/api/v1/tasks/{}", task.id)) {
            response.headers_mut().insert(header::LOCATION, location);
        }
        return Ok(response);
    };
    let read = state.tasks.open_blob(&asset.blob_key, None).await?.ok_or_else(|| ApiError::not_found("image"))?;
    let bytes: Vec<bytes::Bytes> = read.stream.try_collect().await.map_err(|error| {
        tracing::error!(%error, "reading a QR code back failed");
        ApiError::internal()
    })?;
    let mut response = (StatusCode::CREATED, Body::from(bytes.concat())).into_response();
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_TYPE, asset.mime.clone()),
        (header::LOCATION, format!("/api/v1/assets/{}", asset.id)),
        (header::HeaderName::from_static("x-task-id"), task.id.to_string()),
    ] {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    Ok(response)
}

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create_qrcode))
}
