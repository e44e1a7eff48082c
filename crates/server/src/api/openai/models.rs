//! `GET /v1/models`: every model this server can run now, as OpenAI lists models
//! (`id` is what `model` takes: `local/placeholder`, `kie/imagen-4`…).

use atelier_core::catalog::ModelSpec;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::error::OpenAiError;
use crate::api::auth::Caller;
use crate::app::AppState;

fn model(spec: &ModelSpec) -> Value {
    // `created` is when a model was published; Atelier does not know it.
    json!({ "id": spec.id(), "object": "model", "created": 0, "owned_by": spec.service })
}

pub async fn list(State(state): State<AppState>, Caller(_caller): Caller) -> Json<Value> {
    let models = state.tasks.catalog().models();
    let data: Vec<Value> = models.iter().filter(|spec| spec.is_usable()).map(model).collect();
    Json(json!({ "object": "list", "data": data }))
}

/// One model, by any of its names (`local/placeholder`, or the name alone).
pub async fn get(
    State(state): State<AppState>,
    Caller(_caller): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, OpenAiError> {
    let missing = || {
        OpenAiError::new(StatusCode::NOT_FOUND, "invalid_request_error", format!("The model {id:?} does not exist"))
            .param("model")
            .code("model_not_found")
    };
    let spec = state.tasks.resolve_model(Some(&id)).map_err(|_| missing())?;
    if !spec.is_usable() {
        return Err(missing());
    }
    Ok(Json(model(&spec)))
}
