//! Seed 002's 3D job API, as views over Atelier's tasks (`atelier_core::three_d`):
//! `POST /api/v1/generate/image-to-3d`, `POST /api/v1/generate/text-to-3d`,
//! `GET /api/v1/jobs/{job_id}` (the job record), `…/status`, `…/result`,
//! `DELETE /api/v1/jobs/{job_id}`. A job's id is its 3D task's id, so the job is
//! also in `/api/v1/tasks`, the CLI and the studio.

mod generate;
mod jobs;
mod result;

use atelier_core::account::Principal;
use atelier_core::catalog::Modality;
use atelier_core::task::Task;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::error::{ApiError, ApiResult};
use crate::api::tasks::parse_task_id;
use crate::app::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(generate::image_to_3d))
        .routes(routes!(generate::text_to_3d))
        .routes(routes!(jobs::get_job, jobs::delete_job))
        .routes(routes!(jobs::job_status))
        .routes(routes!(result::job_result))
}

/// A job the caller may see: a task of a 3D model, with its picture step when it
/// is a chain. Anything else is not a job.
pub(crate) async fn load_job(state: &AppState, caller: &Principal, id: &str) -> ApiResult<(Task, Option<Task>)> {
    let not_found = || ApiError::not_found("job");
    let id = parse_task_id(id).map_err(|_| not_found())?;
    let task = state.tasks.get(caller, id).await.map_err(|_| not_found())?;
    let is_3d = state
        .tasks
        .catalog()
        .models()
        .iter()
        .any(|spec| spec.service == task.service && spec.model == task.model && spec.modality == Modality::Model3d);
    if !is_3d {
        return Err(not_found());
    }
    let picture = match task.after {
        Some(after) => state.tasks.get(caller, after).await.ok(),
        None => None,
    };
    Ok((task, picture))
}

/// A 3D output's format, from its type.
pub(crate) fn format_of(mime: &str) -> Option<&'static str> {
    match mime {
        "model/gltf-binary" => Some("glb"),
        "application/zip" | "model/obj" => Some("obj"),
        "model/stl" => Some("stl"),
        "application/ply" => Some("ply"),
        _ => None,
    }
}

/// Whether a result's format (as [`format_of`] names it) is a 3D model's.
pub(crate) fn format_of_name(format: &str) -> bool {
    matches!(format, "glb" | "obj" | "stl" | "ply")
}
