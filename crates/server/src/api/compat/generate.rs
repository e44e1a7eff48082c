use atelier_core::task::CreateTask;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::api::auth::Caller;
use crate::api::error::{ApiError, ApiResult, ErrorBody};
use crate::api::extract::AppJson;
use crate::api::tasks::{idempotency_key, named_model, request_hash};
use crate::api::views::timestamp;
use crate::app::AppState;

/// Seed 004's generation request.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GenerateRequest {
    pub prompt: Option<String>,
    pub negative_prompt: Option<String>,
    /// A model name (`service/model`, or the model alone, former names and seed
    /// 003's constants accepted); the configured default model when absent.
    pub model: Option<String>,
    /// The service, when `model` names the model alone (seed 003's pair).
    pub service: Option<String>,
    pub width: Option<Value>,
    pub height: Option<Value>,
    pub num_images: Option<Value>,
    pub steps: Option<Value>,
    pub scale: Option<Value>,
    /// `null` for a seed derived from the request.
    pub seed: Option<Value>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GenerateResponse {
    pub task_id: String,
    pub status: String,
    pub created_at: String,
    /// Seconds, a rough estimate.
    pub estimated_time: u32,
}

/// Seed 004's `POST /api/v1/generate`: 201 with `task_id`, `status`, `created_at`,
/// `estimated_time`.
#[utoipa::path(post, path = "/generate", tag = "seed 004", request_body = GenerateRequest,
    responses((status = 201, body = GenerateResponse), (status = 400, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn generate(
    State(state): State<AppState>,
    Caller(caller): Caller,
    headers: HeaderMap,
    request: Result<AppJson<GenerateRequest>, ApiError>,
) -> ApiResult<Response> {
    generate_task(state, caller, headers, request).await.map_err(as_seed_error)
}

/// Seed 004 answers invalid input with 400 `validation_error` (the native API uses
/// 422). A model whose provider is not configured stays a 422 naming the key to set.
fn as_seed_error(mut error: ApiError) -> ApiError {
    if error.code == "validation_error" {
        error.status = StatusCode::BAD_REQUEST;
    }
    error
}

async fn generate_task(
    state: AppState,
    caller: atelier_core::account::Principal,
    headers: HeaderMap,
    request: Result<AppJson<GenerateRequest>, ApiError>,
) -> ApiResult<Response> {
    let AppJson(request) = request?;
    let idempotency_key = idempotency_key(&headers)?;
    let hash = idempotency_key.as_ref().map(|_| request_hash(&request));
    let mut input = Map::new();
    let fields = [
        ("prompt", request.prompt.map(Value::String)),
        ("negative_prompt", request.negative_prompt.map(Value::String)),
        ("width", request.width),
        ("height", request.height),
        ("num_images", request.num_images),
        ("steps", request.steps),
        ("scale", request.scale),
        ("seed", request.seed),
    ];
    for (name, value) in fields {
        if let Some(value) = value.filter(|value| !value.is_null()) {
            input.insert(name.to_owned(), value);
        }
    }
    let named = named_model(request.service.as_deref(), request.model.as_deref())?;
    let spec = state.tasks.resolve_model(named.as_deref())?;
    let create = CreateTask {
        model: Some(spec.id()),
        input: Value::Object(input),
        priority: 0,
        idempotency_key,
        request_hash: hash,
        prompt_id: None,
        place: None,
    };
    let (task, is_new) = state.tasks.create(&caller, create).await?;
    let body = GenerateResponse {
        task_id: task.id.to_string(),
        status: task.status.as_str().to_owned(),
        created_at: timestamp(task.created_at),
        estimated_time: spec.estimated_seconds,
    };
    let status = if is_new { StatusCode::CREATED } else { StatusCode::OK };
    let mut response = (status, Json(body)).into_response();
    if let Ok(location) = HeaderValue::from_str(&format!("/api/v1/task/{}", task.id)) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}
