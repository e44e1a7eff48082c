use atelier_core::PromptId;
use atelier_core::prompt::{NewPrompt, PromptDetail, PromptKind};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;

use super::PromptView;
use crate::api::auth::Caller;
use crate::api::error::{ApiError, ApiResult, ErrorBody};
use crate::api::extract::AppJson;
use crate::app::AppState;

/// What a prompt asks for.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PromptType {
    Image,
    Video,
    Audio,
    Text,
}

impl From<PromptType> for PromptKind {
    fn from(kind: PromptType) -> Self {
        match kind {
            PromptType::Image => Self::Image,
            PromptType::Video => Self::Video,
            PromptType::Audio => Self::Audio,
            PromptType::Text => Self::Text,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePromptRequest {
    /// `image` (the default), `video`, `audio` or `text`.
    #[serde(default, rename = "type")]
    pub kind: Option<PromptType>,
    /// The prompt's text: 1 to 32,000 characters, trimmed. It never changes; to
    /// edit a prompt, write a child.
    #[schema(min_length = 1, max_length = 32000)]
    pub content: String,
    /// Branch from this prompt (`prm_…`, one of yours); absent for a new root.
    #[serde(default)]
    pub parent_id: Option<String>,
}

/// Writes a prompt: a new root, or a branch of one of your prompts (`parent_id`).
/// A tree holds at most 1,000 prompts and 100 levels.
#[utoipa::path(post, path = "/prompts", tag = "prompts", request_body = CreatePromptRequest,
    responses((status = 201, body = PromptView), (status = 400, body = ErrorBody),
        (status = 404, description = "No such parent prompt", body = ErrorBody),
        (status = 409, description = "The tree is full (`prompt_tree_full`) or too deep (`prompt_tree_too_deep`)", body = ErrorBody),
        (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_prompt(
    State(state): State<AppState>,
    Caller(caller): Caller,
    AppJson(request): AppJson<CreatePromptRequest>,
) -> ApiResult<(StatusCode, Json<PromptView>)> {
    let parent = request
        .parent_id
        .as_deref()
        .map(|id| {
            PromptId::parse(id).ok_or_else(|| {
                ApiError::validation(
                    format!("parent_id: {id:?} is not a prompt id (prm_…)"),
                    serde_json::json!({ "field": "parent_id", "reason": "not a prompt id" }),
                )
            })
        })
        .transpose()?;
    let new =
        NewPrompt { kind: request.kind.map(PromptKind::from).unwrap_or_default(), content: request.content, parent };
    let prompt = state.prompts.create(&caller, new).await?;
    Ok((StatusCode::CREATED, Json(PromptView::from(&PromptDetail { prompt, children: Vec::new() }))))
}
