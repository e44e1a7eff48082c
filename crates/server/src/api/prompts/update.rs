use atelier_core::prompt::PromptUpdate;
use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Deserializer};
use utoipa::ToSchema;

use super::{PromptView, parse_prompt_id};
use crate::api::auth::Caller;
use crate::api::error::{ApiResult, ErrorBody};
use crate::api::extract::{AppJson, AppPath};
use crate::app::AppState;

/// Fields to change: absent ones stay, `null` clears one. A prompt's content and
/// type never change (write a child instead).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdatePromptRequest {
    /// 1 to 5.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<u8>, minimum = 1, maximum = 5)]
    pub feedback_score: Option<Option<u8>>,
    /// At most 4,000 characters.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, max_length = 4000)]
    pub feedback_comment: Option<Option<String>>,
    /// An agent's comment; at most 4,000 characters.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, max_length = 4000)]
    pub ai_comment: Option<Option<String>>,
}

/// A field that is present: `Some(None)` for `null`, `Some(Some(v))` for a value
/// (an absent field stays `None` through `default`).
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// Sets or clears a prompt's feedback (score and comment) and its AI comment.
#[utoipa::path(patch, path = "/prompts/{id}", tag = "prompts", request_body = UpdatePromptRequest,
    params(("id" = String, Path, description = "Prompt id (prm_…)")),
    responses((status = 200, body = PromptView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_prompt(
    State(state): State<AppState>,
    Caller(caller): Caller,
    AppPath(id): AppPath<String>,
    AppJson(request): AppJson<UpdatePromptRequest>,
) -> ApiResult<Json<PromptView>> {
    let update = PromptUpdate {
        feedback_score: request.feedback_score,
        feedback_comment: request.feedback_comment,
        ai_comment: request.ai_comment,
    };
    let detail = state.prompts.update(&caller, &parse_prompt_id(&id)?, update).await?;
    Ok(Json(PromptView::from(&detail)))
}
