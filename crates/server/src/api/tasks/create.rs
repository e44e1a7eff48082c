use std::time::Duration;

use atelier_core::PromptId;
use atelier_core::task::{CreateTask, Task, TaskPlace};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use crate::api::auth::Caller;
use crate::api::error::{ApiError, ApiResult, ErrorBody};
use crate::api::extract::AppJson;
use crate::api::filters::invalid;
use crate::api::views::TaskView;
use crate::app::AppState;

#[derive(Debug, Deserialize, serde::Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTaskRequest {
    /// `service/model` (such as `local/placeholder`, `kie/sora-2`), or a model name
    /// alone when one service offers it. Former names (`kie/sora2`) and seed 003's
    /// constants (`SORA2`, `DALL_E_3`) are accepted, in any case. The configured
    /// default model when absent.
    #[serde(default)]
    pub model: Option<String>,
    /// The service (`kie`, `OPENAI`), when `model` names the model alone: the same
    /// model through another service is the same `model` with another `service`.
    #[serde(default)]
    pub service: Option<String>,
    /// The model's input; see `GET /api/v1/models` for each model's schema.
    #[serde(default = "empty_object")]
    #[schema(value_type = Object)]
    pub input: Value,
    /// Higher runs first; -100 to 100.
    #[serde(default)]
    pub priority: i32,
    /// The prompt (`prm_…`) this task is made from; it must be one of yours.
    /// The task then shows in that prompt's tree.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_id: Option<String>,
    /// Where the task is set (the place a picture is of): coordinates, or one of
    /// your stored locations. `GET /api/v1/tasks` and `GET /api/v1/assets` filter on
    /// it (`near`, `radius_km`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<TaskLocationRequest>,
    /// A URL to POST this task's events to (as Replicate's `webhook`), signed as
    /// Standard Webhooks says with your default secret
    /// (`GET /api/v1/webhooks/default/secret`). It must pass the SSRF policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 2048)]
    pub webhook: Option<String>,
    /// Which events go to `webhook`, in Replicate's names: `start` (task.created,
    /// task.started), `output` and `logs` (task.progress), `completed`
    /// (task.completed, task.failed, task.cancelled). Every event when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_events_filter: Option<Vec<String>>,
}

/// `{latitude, longitude}`, or `{location_id}`.
#[derive(Debug, Deserialize, serde::Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskLocationRequest {
    /// Degrees north (negative south), -90 to 90; with `longitude`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = -90, maximum = 90)]
    pub latitude: Option<f64>,
    /// Degrees east (negative west), -180 to 180; with `latitude`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = -180, maximum = 180)]
    pub longitude: Option<f64>,
    /// One of your stored locations (`loc_…`), instead of coordinates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location_id: Option<String>,
}

/// The task's place a request names: its coordinates, or a stored location of the
/// caller's (else 422 naming `location_id`).
async fn task_place(
    state: &AppState,
    caller: &atelier_core::account::Principal,
    request: Option<&TaskLocationRequest>,
) -> ApiResult<Option<TaskPlace>> {
    let Some(request) = request else { return Ok(None) };
    match (request.latitude, request.longitude, request.location_id.as_deref()) {
        (None, None, Some(id)) => {
            let unknown = || invalid("location_id", "names none of your locations");
            let id = atelier_core::LocationId::parse(id).ok_or_else(unknown)?;
            let location = state.locations.get(caller, &id).await.map_err(|error| match error {
                atelier_core::CoreError::NotFound { .. } => unknown(),
                other => ApiError::from(other),
            })?;
            Ok(Some(TaskPlace { coordinates: location.coordinates, location: Some(id) }))
        }
        (Some(latitude), Some(longitude), None) => {
            let coordinates =
                atelier_places::Coordinates::new(latitude, longitude).map_err(atelier_core::CoreError::from)?;
            Ok(Some(TaskPlace { coordinates, location: None }))
        }
        (_, _, Some(_)) => Err(invalid("location", "give latitude and longitude, or a location_id, not both")),
        (None, _, None) => Err(invalid("latitude", "is required (or a location_id)")),
        (Some(_), None, None) => Err(invalid("longitude", "is required (or a location_id)")),
    }
}

fn empty_object() -> Value {
    Value::Object(serde_json::Map::new())
}

/// Create a task. Answers 202 with `Location`; with `Prefer: wait=N`, waits up to
/// N seconds for the task to end. A repeated `Idempotency-Key` returns the first task.
#[utoipa::path(post, path = "/tasks", tag = "tasks", request_body = CreateTaskRequest,
    params(
        ("Idempotency-Key" = Option<String>, Header, description = "Repeat-safe key: the same key returns the same task"),
        ("Prefer" = Option<String>, Header, description = "`wait=N`: answer when the task ends or after N seconds"),
    ),
    responses(
        (status = 202, description = "Created (or still running after the wait)", body = TaskView),
        (status = 200, description = "Ended within the wait, or an idempotent replay", body = TaskView),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not sent as JSON", body = ErrorBody),
        (status = 422, description = "Invalid input, unusable model, a prompt_id that names none of your prompts, or a webhook the SSRF policy refuses", body = ErrorBody),
        (status = 429, description = "Queue full", body = ErrorBody),
    ))]
pub async fn create_task(
    State(state): State<AppState>,
    Caller(caller): Caller,
    headers: HeaderMap,
    AppJson(request): AppJson<CreateTaskRequest>,
) -> ApiResult<Response> {
    if !(-100..=100).contains(&request.priority) {
        return Err(ApiError::validation(
            "priority must be between -100 and 100",
            serde_json::json!({ "field": "priority", "reason": "out of range" }),
        ));
    }
    if !request.input.is_object() {
        return Err(ApiError::validation(
            "input must be a JSON object",
            serde_json::json!({ "field": "input", "reason": "not an object" }),
        ));
    }
    let model = named_model(request.service.as_deref(), request.model.as_deref())?;
    let prompt_id = request.prompt_id.as_deref().map(parse_prompt_field).transpose()?;
    let place = task_place(&state, &caller, request.location.as_ref()).await?;
    let webhook = match (request.webhook.as_deref(), request.webhook_events_filter.as_deref()) {
        (Some(url), filter) => Some(state.webhooks.check_task_webhook(url, filter).await?),
        (None, Some(_)) => return Err(invalid("webhook_events_filter", "needs a webhook")),
        (None, None) => None,
    };
    let idempotency_key = idempotency_key(&headers)?;
    let wait = wait_preference(&headers, state.config.server.max_wait_secs);
    let create = CreateTask {
        model,
        input: request.input.clone(),
        priority: request.priority,
        request_hash: idempotency_key.as_ref().map(|_| request_hash(&request)),
        idempotency_key,
        prompt_id,
        place,
    };
    let (mut task, is_new) = state.tasks.create(&caller, create).await?;
    if let (Some((url, events)), true) = (webhook, is_new) {
        state.webhooks.attach_task_webhook(&caller, task.id, url, events).await?;
    }
    if let Some(wait) = wait {
        let mut shutdown = state.shutdown.clone();
        tokio::select! {
            waited = state.tasks.wait_for_end(&caller, task.id, wait) => task = waited?,
            _ = shutdown.wait_for(|stop| *stop) => {}
        }
    }
    Ok(task_created_response(&task, is_new, wait))
}

/// The model a request names by `service` and `model` (seed 003's pair, such as
/// `{"service": "OPENAI", "model": "SORA2"}`), as one `service/model` name. A `model`
/// that names its own service must agree with `service`.
pub fn named_model(service: Option<&str>, model: Option<&str>) -> ApiResult<Option<String>> {
    let service = service.map(str::trim);
    match (service, model) {
        (Some(service), Some(model)) => match model.split_once('/') {
            None => Ok(Some(format!("{service}/{}", model.trim()))),
            Some((own, _)) if own.trim().eq_ignore_ascii_case(service) => Ok(Some(model.to_owned())),
            Some((own, _)) => Err(ApiError::validation(
                format!("model {model:?} names the service {own:?} but service is {service:?}"),
                serde_json::json!({ "field": "service", "reason": "conflicts with model" }),
            )),
        },
        (Some(_), None) => Err(ApiError::validation(
            "name the model too",
            serde_json::json!({ "field": "model", "reason": "required when service is given" }),
        )),
        (None, model) => Ok(model.map(str::to_owned)),
    }
}

/// A `prompt_id` body field: a malformed id is invalid input.
fn parse_prompt_field(id: &str) -> ApiResult<PromptId> {
    PromptId::parse(id).ok_or_else(|| {
        ApiError::validation(
            format!("prompt_id: {id:?} is not a prompt id (prm_…)"),
            serde_json::json!({ "field": "prompt_id", "reason": "not a prompt id" }),
        )
    })
}

pub(crate) fn task_created_response(task: &Task, is_new: bool, wait: Option<Duration>) -> Response {
    // 202 for a new task, 200 for a replay or a task that ended within the wait.
    let ended_in_wait = wait.is_some() && task.status.is_terminal();
    let status = if !is_new || ended_in_wait { StatusCode::OK } else { StatusCode::ACCEPTED };
    let mut response = (status, axum::Json(TaskView::from(task))).into_response();
    let headers = response.headers_mut();
    if let Ok(location) = HeaderValue::from_str(&format!("/api/v1/tasks/{}", task.id)) {
        headers.insert(header::LOCATION, location);
    }
    if !is_new {
        headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    if let Some(wait) = wait
        && let Ok(applied) = HeaderValue::from_str(&format!("wait={}", wait.as_secs()))
    {
        headers.insert("preference-applied", applied);
    }
    response
}

/// The `Idempotency-Key` header: 1 to 255 visible characters.
pub fn idempotency_key(headers: &HeaderMap) -> ApiResult<Option<String>> {
    let Some(value) = headers.get("idempotency-key") else { return Ok(None) };
    let key = value.to_str().ok().map(str::trim).filter(|key| !key.is_empty() && key.len() <= 255);
    key.map(|key| Some(key.to_owned())).ok_or_else(|| {
        ApiError::validation(
            "Idempotency-Key must be 1 to 255 visible ASCII characters",
            serde_json::json!({ "field": "Idempotency-Key", "reason": "invalid header" }),
        )
    })
}

/// `Prefer: wait=N` (RFC 7240), capped by the configuration.
pub fn wait_preference(headers: &HeaderMap, max_secs: u64) -> Option<Duration> {
    headers.get_all("prefer").iter().filter_map(|value| value.to_str().ok()).find_map(|value| {
        value.split(',').find_map(|preference| {
            let (name, seconds) = preference.trim().split_once('=')?;
            (name.trim().eq_ignore_ascii_case("wait"))
                .then(|| seconds.trim().trim_matches('"').parse::<u64>().ok())
                .flatten()
                .map(|seconds| Duration::from_secs(seconds.min(max_secs)))
        })
    })
}

/// A hash of the request, to tell a repeated idempotency key with another body.
pub fn request_hash(request: &impl serde::Serialize) -> String {
    let canonical = serde_json::to_vec(request).unwrap_or_default();
    hex::encode(Sha256::digest(canonical))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_wait_preference() {
        let mut headers = HeaderMap::new();
        headers.insert("prefer", HeaderValue::from_static("respond-async, wait=5"));
        assert_eq!(wait_preference(&headers, 60), Some(Duration::from_secs(5)));
        headers.insert("prefer", HeaderValue::from_static("wait=600"));
        assert_eq!(wait_preference(&headers, 60), Some(Duration::from_secs(60)));
        headers.insert("prefer", HeaderValue::from_static("return=minimal"));
        assert_eq!(wait_preference(&headers, 60), None);
    }
}
