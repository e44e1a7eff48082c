use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::jobs::result_links;
use super::load_job;
use crate::api::auth::Caller;
use crate::api::error::{ApiError, ApiResult, ErrorBody};
use crate::api::extract::{AppPath, AppQuery};
use crate::api::views::timestamp;
use crate::app::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ResultQuery {
    /// One format (`glb`, `obj`, `stl`): answer with a redirect to that file.
    pub format: Option<String>,
}

/// A job's result files.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobResult {
    pub job_id: String,
    pub status: String,
    /// Each file: the 3D models in the formats asked (OBJ zipped with its material
    /// and texture), then previews.
    pub files: Vec<ResultFile>,
    /// The models' URLs, by format.
    #[schema(value_type = Object)]
    pub result_urls: serde_json::Map<String, serde_json::Value>,
    /// When the URLs stop working (ask again for new ones).
    pub expires_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ResultFile {
    /// `glb`, `obj`, `stl`, or `preview` / `extra`.
    pub format: String,
    pub url: String,
    pub mime: String,
    pub bytes: u64,
}

/// A job's result (seed 002): its files' signed URLs by format, or with `?format=`
/// a redirect to one file. A job that has not completed answers 409; a failed one
/// answers as the seed classes it: 502 (the engine failed), 504 (it timed out),
/// 422 (its input was refused), 409 (cancelled or expired).
#[utoipa::path(get, path = "/jobs/{job_id}/result", tag = "3d",
    params(("job_id" = String, Path, description = "Job id"), ResultQuery),
    responses((status = 200, body = JobResult), (status = 302, description = "Redirect to the file in `format`"),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 502, body = ErrorBody), (status = 504, body = ErrorBody)))]
pub async fn job_result(
    State(state): State<AppState>,
    Caller(caller): Caller,
    AppPath(id): AppPath<String>,
    AppQuery(query): AppQuery<ResultQuery>,
) -> ApiResult<Response> {
    let (task, picture) = load_job(&state, &caller, &id).await?;
    let job = atelier_core::three_d::job_state(&task, picture.as_ref());
    if let Some(error) = &job.error {
        let details = serde_json::json!({ "job_id": task.id.to_string(), "error_code": error.code });
        let (status, code) = match error.code.as_str() {
            "timeout" | "poll_timeout" => (StatusCode::GATEWAY_TIMEOUT, "engine_timeout"),
            "provider_rejected" | "content_filtered" | "upstream_failed" | "validation_error" => {
                (StatusCode::UNPROCESSABLE_ENTITY, "job_failed")
            }
            "cancelled" | "expired" => (StatusCode::CONFLICT, "job_failed"),
            _ => (StatusCode::BAD_GATEWAY, "engine_failed"),
        };
        return Err(ApiError::new(status, code, format!("the job failed: {}", error.message)).with_details(details));
    }
    if job.status != "completed" {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "job_not_finished",
            format!("the job is {}; its result is ready when its status is completed", job.status),
        )
        .with_details(
            serde_json::json!({ "job_id": task.id.to_string(), "status": job.status, "progress": job.progress }),
        ));
    }
    let (links, expires) = result_links(&state, &task);
    if let Some(format) = query.format {
        let format = format.trim().to_ascii_lowercase();
        let Some(link) = links.iter().find(|link| link.format == format) else {
            let made: Vec<&str> = links.iter().map(|link| link.format.as_str()).collect();
            return Err(ApiError::not_found("result in that format")
                .with_details(serde_json::json!({ "format": format, "formats": made })));
        };
        return Ok((StatusCode::FOUND, [(header::LOCATION, link.url.clone())]).into_response());
    }
    let mut result_urls = serde_json::Map::new();
    for link in links.iter().filter(|link| link.is_model()) {
        if !result_urls.contains_key(&link.format) {
            result_urls.insert(link.format.clone(), serde_json::Value::String(link.url.clone()));
        }
    }
    let files = links
        .into_iter()
        .map(|link| ResultFile { format: link.format, url: link.url, mime: link.mime, bytes: link.bytes })
        .collect();
    Ok(Json(JobResult {
        job_id: task.id.to_string(),
        status: job.status.to_owned(),
        files,
        result_urls,
        expires_at: timestamp(expires),
    })
    .into_response())
}
