use std::time::Duration;

use atelier_core::task::{Task, TaskStatus};
use atelier_core::three_d::job_state;
use atelier_core::time::now_millis;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::{format_of, load_job};
use crate::api::auth::Caller;
use crate::api::error::{ApiResult, ErrorBody};
use crate::api::extract::AppPath;
use crate::api::views::timestamp;
use crate::app::AppState;

/// Seed 002's `JobResponse`, with what Atelier adds: the engine that runs it and,
/// when it is the fallback, why.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobResponse {
    pub job_id: String,
    pub status: String,
    /// ISO 8601, from the engines' estimates; `null` once the job ended.
    pub estimated_completion_time: Option<String>,
    /// The model that makes the 3D model (`service/model`).
    pub engine: String,
    /// Set when the job runs on the fallback engine: why, and what that engine is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub degraded: Option<String>,
    /// The job's tasks, in order (a text-to-3D chain has its picture first).
    pub steps: Vec<StepView>,
}

/// One task of a job.
#[derive(Debug, Serialize, ToSchema)]
pub struct StepView {
    pub task_id: String,
    pub model: String,
    pub status: String,
    pub progress: u8,
}

impl StepView {
    fn of(task: &Task) -> Self {
        Self {
            task_id: task.id.to_string(),
            model: task.model_ref(),
            status: task.status.to_string(),
            progress: task.progress,
        }
    }
}

fn steps(task: &Task, picture: Option<&Task>) -> Vec<StepView> {
    picture.into_iter().chain(std::iter::once(task)).map(StepView::of).collect()
}

/// When the job should end: now plus what its unfinished steps' engines estimate.
fn estimate(state: &AppState, task: &Task, picture: Option<&Task>) -> Option<String> {
    if task.status.is_terminal() {
        return None;
    }
    let models = state.tasks.catalog().models();
    let seconds = |step: &Task| {
        models
            .iter()
            .find(|spec| spec.service == step.service && spec.model == step.model)
            .map_or(0, |spec| i64::from(spec.estimated_seconds))
    };
    let left: i64 = picture.filter(|picture| !picture.status.is_terminal()).map_or(0, seconds) + seconds(task);
    Some(timestamp(now_millis() + left.max(1) * 1000))
}

impl JobResponse {
    pub fn new(state: &AppState, task: &Task, picture: Option<&Task>, degraded: Option<String>) -> Self {
        Self {
            job_id: task.id.to_string(),
            status: job_state(task, picture).status.to_owned(),
            estimated_completion_time: estimate(state, task, picture),
            engine: task.model_ref(),
            degraded,
            steps: steps(task, picture),
        }
    }
}

/// Seed 002's `JobStatusResponse`.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobStatusResponse {
    pub job_id: String,
    /// `pending`, `processing`, `completed` or `failed`.
    pub status: String,
    /// 0 to 100 over every step.
    pub progress: Option<f64>,
    /// Signed download URLs of the result files, once completed.
    pub result_urls: Option<Vec<String>>,
    pub error_message: Option<String>,
    /// The stable code of the error (`generation_failed`, `timeout`, `upstream_failed`, …).
    pub error_code: Option<String>,
    pub engine: String,
    pub steps: Vec<StepView>,
}

/// Seed 002's `Job` record.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobRecord {
    pub job_id: String,
    pub user_id: Option<String>,
    /// `image-to-3d` or `text-to-3d`.
    pub job_type: String,
    pub status: String,
    /// What the job was asked (for a chain, with the prompt of its picture step).
    #[schema(value_type = Object)]
    pub input_data: Value,
    pub output_urls: Option<Vec<String>>,
    pub error_message: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    /// When the URLs in `output_urls` stop working.
    pub expires_at: String,
    pub engine: String,
    pub steps: Vec<StepView>,
}

/// One of a job's result files: its format (or role, for a preview), its signed URL.
pub(crate) struct ResultLink {
    pub format: String,
    pub url: String,
    pub bytes: u64,
    pub mime: String,
}

impl ResultLink {
    /// Whether it is a 3D model (not a preview or an extra file).
    pub fn is_model(&self) -> bool {
        super::format_of_name(&self.format)
    }
}

/// The signed URLs of a completed job's result files (3D models in the order
/// asked), valid for `three_d.result_link_secs`, and when they expire (ms). Links
/// are issued as of the start of a window (a 24th of their life, at most an hour),
/// so that asking again within it gives the same URLs (a client or a cache can
/// tell they name the same file); each is still valid for 23/24 of its life at least.
pub(crate) fn result_links(state: &AppState, task: &Task) -> (Vec<ResultLink>, i64) {
    let ttl = Duration::from_secs(state.config.three_d.result_link_secs);
    let window = (ttl.as_millis() as i64 / 24).clamp(1000, 3_600_000);
    let now = now_millis() / window * window;
    let mut links = Vec::new();
    let mut expires = now / 1000 + ttl.as_secs() as i64;
    if task.status == TaskStatus::Completed {
        for asset in &task.outputs {
            let format = format_of(&asset.mime).map_or_else(|| asset.role.as_str().to_owned(), str::to_owned);
            let (url, until) = state.links.path(&asset.id, ttl, now);
            expires = until;
            links.push(ResultLink { format, url, bytes: asset.bytes, mime: asset.mime.clone() });
        }
    }
    (links, expires * 1000)
}

fn model_urls(links: &[ResultLink]) -> Vec<String> {
    links.iter().filter(|link| link.is_model()).map(|link| link.url.clone()).collect()
}

/// A job (seed 002's record).
#[utoipa::path(get, path = "/jobs/{job_id}", tag = "3d",
    params(("job_id" = String, Path, description = "Job id")),
    responses((status = 200, body = JobRecord), (status = 404, body = ErrorBody)))]
pub async fn get_job(
    State(state): State<AppState>,
    Caller(caller): Caller,
    AppPath(id): AppPath<String>,
) -> ApiResult<Json<JobRecord>> {
    let (task, picture) = load_job(&state, &caller, &id).await?;
    let job = job_state(&task, picture.as_ref());
    let (links, expires) = result_links(&state, &task);
    let mut input_data = serde_json::json!({
        "output_formats": task.input.get("output_formats"),
        "quality": task.input.get("quality"),
    });
    match (&picture, task.input.get("prompt"), task.input.get("image")) {
        (Some(picture), _, _) => input_data["prompt"] = picture.input.get("prompt").cloned().unwrap_or(Value::Null),
        (None, Some(prompt), _) => input_data["prompt"] = prompt.clone(),
        (None, None, Some(image)) => {
            input_data["image"] =
                Value::String(atelier_core::ports::short_reference(image.as_str().unwrap_or_default()))
        }
        _ => {}
    }
    Ok(Json(JobRecord {
        job_id: task.id.to_string(),
        user_id: task.owner.as_ref().map(ToString::to_string),
        job_type: job.kind.as_str().to_owned(),
        status: job.status.to_owned(),
        input_data,
        output_urls: (job.status == "completed").then(|| model_urls(&links)),
        error_message: job.error.as_ref().map(|error| error.message.clone()),
        created_at: timestamp(picture.as_ref().map_or(task.created_at, |picture| picture.created_at)),
        updated_at: timestamp(task.updated_at.max(picture.as_ref().map_or(0, |picture| picture.updated_at))),
        expires_at: timestamp(expires),
        engine: task.model_ref(),
        steps: steps(&task, picture.as_ref()),
    }))
}

/// A job's status (seed 002's `JobStatusResponse`).
#[utoipa::path(get, path = "/jobs/{job_id}/status", tag = "3d",
    params(("job_id" = String, Path, description = "Job id")),
    responses((status = 200, body = JobStatusResponse), (status = 404, body = ErrorBody)))]
pub async fn job_status(
    State(state): State<AppState>,
    Caller(caller): Caller,
    AppPath(id): AppPath<String>,
) -> ApiResult<Json<JobStatusResponse>> {
    let (task, picture) = load_job(&state, &caller, &id).await?;
    let job = job_state(&task, picture.as_ref());
    let (links, _) = result_links(&state, &task);
    Ok(Json(JobStatusResponse {
        job_id: task.id.to_string(),
        status: job.status.to_owned(),
        progress: Some(job.progress),
        result_urls: (job.status == "completed").then(|| model_urls(&links)),
        error_message: job.error.as_ref().map(|error| error.message.clone()),
        error_code: job.error.as_ref().map(|error| error.code.clone()),
        engine: task.model_ref(),
        steps: steps(&task, picture.as_ref()),
    }))
}

/// Delete a job: cancelled if it still runs (its picture step too), then removed
/// with its files.
#[utoipa::path(delete, path = "/jobs/{job_id}", tag = "3d",
    params(("job_id" = String, Path, description = "Job id")),
    responses((status = 204, description = "Deleted"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_job(
    State(state): State<AppState>,
    Caller(caller): Caller,
    AppPath(id): AppPath<String>,
) -> ApiResult<StatusCode> {
    let (task, picture) = load_job(&state, &caller, &id).await?;
    for step in std::iter::once(&task).chain(picture.as_ref()) {
        if !step.status.is_terminal() {
            // Ended meanwhile: deleting still goes ahead.
            let _ = state.tasks.cancel(&caller, step.id).await;
        }
        state.tasks.delete(&caller, step.id).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}
