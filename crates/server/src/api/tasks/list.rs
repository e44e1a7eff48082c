use atelier_core::task::{TaskFilter, TaskStatus};
use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::api::auth::Caller;
use crate::api::error::{ApiError, ApiResult, ErrorBody};
use crate::api::extract::AppQuery;
use crate::api::views::{TaskListView, TaskView};
use crate::app::AppState;

#[derive(Debug, Deserialize, IntoParams)]
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
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// 1 to 500, default 50.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

/// Tasks, newest first, with filters and cursor pagination.
#[utoipa::path(get, path = "/api/v1/tasks", tag = "tasks", params(ListTasksQuery),
    responses((status = 200, body = TaskListView), (status = 422, body = ErrorBody)))]
pub async fn list_tasks(
    State(state): State<AppState>,
    Caller(caller): Caller,
    AppQuery(query): AppQuery<ListTasksQuery>,
) -> ApiResult<Json<TaskListView>> {
    let filter = to_filter(query)?;
    let page = state.tasks.list(&caller, &filter).await?;
    Ok(Json(TaskListView {
        tasks: page.tasks.iter().map(TaskView::from).collect(),
        next_cursor: page.next_cursor.map(|id| id.to_string()),
    }))
}

fn invalid(field: &str, reason: &str) -> ApiError {
    ApiError::validation(format!("{field}: {reason}"), serde_json::json!({ "field": field, "reason": reason }))
}

fn to_filter(query: ListTasksQuery) -> ApiResult<TaskFilter> {
    let statuses = match &query.status {
        Some(list) => list
            .split(',')
            .filter(|s| !s.trim().is_empty())
            .map(|s| s.trim().parse::<TaskStatus>().map_err(|_| invalid("status", "unknown status")))
            .collect::<Result<Vec<_>, _>>()?,
        None => Vec::new(),
    };
    let (service, model) = match query.model.as_deref().map(str::to_ascii_lowercase) {
        Some(name) => match name.split_once('/') {
            Some((service, model)) => (Some(service.to_owned()), Some(model.to_owned())),
            None => (None, Some(name)),
        },
        None => (None, None),
    };
    let time = |field: &str, value: &Option<String>| -> ApiResult<Option<i64>> {
        value
            .as_deref()
            .map(|text| {
                chrono::DateTime::parse_from_rfc3339(text)
                    .map(|time| time.timestamp_millis())
                    .map_err(|_| invalid(field, "not an RFC 3339 time such as 2024-01-01T12:00:00Z"))
            })
            .transpose()
    };
    let limit = query.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(invalid("limit", "must be between 1 and 500"));
    }
    Ok(TaskFilter {
        statuses,
        service,
        model,
        created_after: time("created_after", &query.created_after)?,
        created_before: time("created_before", &query.created_before)?,
        before_id: query
            .cursor
            .as_deref()
            .map(|c| c.parse().map_err(|_| invalid("cursor", "not a cursor")))
            .transpose()?,
        limit,
        // Non-admins see only their own; the service enforces it.
        owner: None,
    })
}
