use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use utoipa::IntoParams;

use super::{PromptListView, PromptView};
use crate::api::auth::Caller;
use crate::api::error::{ApiResult, ErrorBody};
use crate::api::extract::AppQuery;
use crate::api::filters::{invalid, page_limit};
use crate::app::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListPromptsQuery {
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// 1 to 500, default 50.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

/// Your root prompts (every user's for an admin), newest first. Read a whole tree
/// with `GET /api/v1/prompts/{id}/tree`.
#[utoipa::path(get, path = "/prompts", tag = "prompts", params(ListPromptsQuery),
    responses((status = 200, body = PromptListView), (status = 422, body = ErrorBody)))]
pub async fn list_prompts(
    State(state): State<AppState>,
    Caller(caller): Caller,
    AppQuery(query): AppQuery<ListPromptsQuery>,
) -> ApiResult<Json<PromptListView>> {
    let limit = page_limit(query.limit)?;
    let cursor = query
        .cursor
        .as_deref()
        .map(|c| atelier_core::PromptId::parse(c).ok_or_else(|| invalid("cursor", "not a cursor")))
        .transpose()?;
    let page = state.prompts.list_roots(&caller, cursor.as_ref(), limit).await?;
    Ok(Json(PromptListView {
        // Roots are listed without their children: the tree route has them.
        prompts: page.prompts.iter().map(|prompt| PromptView::new(prompt, Vec::new())).collect(),
        next_cursor: page.next_cursor.map(|id| id.to_string()),
    }))
}
