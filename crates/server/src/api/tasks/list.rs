use atelier_core::catalog::Catalog;
use atelier_core::task::{TaskFilter, TaskStatus};
use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::api::auth::Caller;
use crate::api::error::{ApiResult, ErrorBody};
use crate::api::extract::AppQuery;
use crate::api::filters::{invalid, model_filter, near_filter, page_limit, time_filter};
use crate::api::views::{TaskListView, TaskView};
use crate::app::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListTasksQuery {
    /// Comma-separated statuses.
    pub status: Option<String>,
    /// `service/model`, or a model name.
    pub model: Option<String>,
    /// RFC 3339 time: tasks created at or after it.
    pub created_after: Option<String>,
    /// RFC 3339 time: tasks created before it.
    pub created_before: Option<String>,
    /// Only tasks made from this prompt (`prm_…`).
    pub prompt_id: Option<String>,
    /// Only tasks with an output carrying this tag.
    pub tag: Option<String>,
    /// Only tasks whose place (`location` when created) lies within `radius_km` of this point: `<latitude>,<longitude>`.
    #[param(example = "48.8566,2.3522")]
    pub near: Option<String>,
    /// Kilometres (great-circle), zero or more; with `near`.
    #[param(value_type = Option<f64>, minimum = 0)]
    pub radius_km: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// 1 to 500, default 50.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

/// Tasks, newest first, with filters and cursor pagination. With `near`, a page
/// may hold fewer than `limit` (even none) while more follow: follow `next_cursor`.
#[utoipa::path(get, path = "/tasks", tag = "tasks", params(ListTasksQuery),
    responses((status = 200, body = TaskListView), (status = 422, body = ErrorBody)))]
pub async fn list_tasks(
    State(state): State<AppState>,
    Caller(caller): Caller,
    AppQuery(query): AppQuery<ListTasksQuery>,
) -> ApiResult<Json<TaskListView>> {
    let filter = to_filter(state.tasks.catalog(), query)?;
    let page = state.tasks.list(&caller, &filter).await?;
    let copies = state.tasks.input_copies(&page.tasks.iter().collect::<Vec<_>>()).await?;
    let now = atelier_core::time::now_millis();
    Ok(Json(TaskListView {
        tasks: page.tasks.iter().map(|task| TaskView::with_input_copies(task, &copies, now)).collect(),
        next_cursor: page.next_cursor.map(|id| id.to_string()),
    }))
}

fn to_filter(catalog: &Catalog, query: ListTasksQuery) -> ApiResult<TaskFilter> {
    let statuses = match &query.status {
        Some(list) => list
            .split(',')
            .filter(|s| !s.trim().is_empty())
            .map(|s| s.trim().parse::<TaskStatus>().map_err(|_| invalid("status", "unknown status")))
            .collect::<Result<Vec<_>, _>>()?,
        None => Vec::new(),
    };
    let (service, model) = model_filter(catalog, query.model.as_deref());
    let limit = page_limit(query.limit)?;
    Ok(TaskFilter {
        statuses,
        service,
        model,
        created_after: time_filter("created_after", query.created_after.as_deref())?,
        created_before: time_filter("created_before", query.created_before.as_deref())?,
        before_id: query
            .cursor
            .as_deref()
            .map(|c| c.parse().map_err(|_| invalid("cursor", "not a cursor")))
            .transpose()?,
        limit,
        // Non-admins see only their own; the service enforces it.
        owner: None,
        prompt_id: query
            .prompt_id
            .as_deref()
            .map(|id| atelier_core::PromptId::parse(id).ok_or_else(|| invalid("prompt_id", "not a prompt id")))
            .transpose()?,
        tag: query.tag,
        near: near_filter(query.near.as_deref(), query.radius_km.as_deref())?,
    })
}
