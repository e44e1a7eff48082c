//! The dead-letter list (seed 002, 2.4): tasks that failed for good, kept with their
//! last error, for an admin to look over and re-drive. A re-drive is a retry: a new
//! task linked to the failed one (`retry_of`), with the same input and owner; the
//! failed task stays as it was, for the record.

use atelier_core::CoreError;
use atelier_core::task::{TaskFilter, TaskStatus};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::auth::Caller;
use crate::api::error::{ApiResult, ErrorBody};
use crate::api::extract::{AppPath, AppQuery};
use crate::api::filters::{invalid, model_filter, page_limit};
use crate::api::tasks::parse_task_id;
use crate::api::views::{TaskView, timestamp};
use crate::app::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_dead_letters)).routes(routes!(redrive))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DeadLetterQuery {
    /// `service/model`, or a model name.
    pub model: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// 1 to 500, default 50.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

/// A task that failed for good.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeadLetterView {
    pub task_id: String,
    /// `service/model`.
    pub model: String,
    pub owner: Option<String>,
    pub attempts: u32,
    /// How many times its workers died holding it.
    pub crashes: u32,
    pub error_code: String,
    pub error_message: String,
    pub created_at: String,
    pub failed_at: Option<String>,
    /// Re-drive it: `POST` here.
    pub redrive_url: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeadLetterList {
    pub tasks: Vec<DeadLetterView>,
    pub next_cursor: Option<String>,
}

/// The dead-letter list (admins): failed tasks, newest first, with their last error.
#[utoipa::path(get, path = "/admin/dead-letter", tag = "admin", params(DeadLetterQuery),
    responses((status = 200, body = DeadLetterList), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list_dead_letters(
    State(state): State<AppState>,
    Caller(caller): Caller,
    AppQuery(query): AppQuery<DeadLetterQuery>,
) -> ApiResult<Json<DeadLetterList>> {
    require_admin(&caller)?;
    let (service, model) = model_filter(state.tasks.catalog(), query.model.as_deref());
    let before_id = query
        .cursor
        .as_deref()
        .map(|cursor| cursor.parse().map_err(|_| invalid("cursor", "not a cursor")))
        .transpose()?;
    let filter = TaskFilter {
        statuses: vec![TaskStatus::Failed],
        service,
        model,
        before_id,
        limit: page_limit(query.limit)?,
        ..TaskFilter::default()
    };
    let page = state.tasks.list(&caller, &filter).await?;
    let tasks = page
        .tasks
        .iter()
        .map(|task| {
            let error = task.error.clone().unwrap_or_else(|| atelier_core::task::TaskError {
                code: "failed".into(),
                message: String::new(),
                retryable: false,
            });
            DeadLetterView {
                task_id: task.id.to_string(),
                model: task.model_ref(),
                owner: task.owner.as_ref().map(ToString::to_string),
                attempts: task.attempts,
                crashes: task.crashes,
                error_code: error.code,
                error_message: error.message,
                created_at: timestamp(task.created_at),
                failed_at: task.completed_at.map(timestamp),
                redrive_url: format!("/api/v1/admin/dead-letter/{}/redrive", task.id),
            }
        })
        .collect();
    Ok(Json(DeadLetterList { tasks, next_cursor: page.next_cursor.map(|id| id.to_string()) }))
}

/// Re-drive a failed task (admins): a new task with its input and owner, linked to
/// it (`retry_of`), queued now.
#[utoipa::path(post, path = "/admin/dead-letter/{id}/redrive", tag = "admin",
    params(("id" = String, Path, description = "Task id")),
    responses((status = 202, body = TaskView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn redrive(
    State(state): State<AppState>,
    Caller(caller): Caller,
    AppPath(id): AppPath<String>,
) -> ApiResult<(StatusCode, Json<TaskView>)> {
    require_admin(&caller)?;
    let id = parse_task_id(&id)?;
    let failed = state.tasks.get(&caller, id).await?;
    if failed.status != TaskStatus::Failed {
        return Err(CoreError::Conflict {
            code: "not_dead_lettered",
            message: format!("task {id} is {}, not failed; only failed tasks are re-driven", failed.status),
        }
        .into());
    }
    let task = state.tasks.retry(&caller, id).await?;
    Ok((StatusCode::ACCEPTED, Json(TaskView::from(&task))))
}

fn require_admin(caller: &atelier_core::account::Principal) -> Result<(), CoreError> {
    if caller.is_admin() {
        Ok(())
    } else {
        Err(CoreError::Forbidden { message: "the dead-letter list is for admins".into() })
    }
}
