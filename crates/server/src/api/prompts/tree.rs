use axum::Json;
use axum::extract::State;

use super::{PromptNodeView, parse_prompt_id};
use crate::api::auth::Caller;
use crate::api::error::{ApiResult, ErrorBody};
use crate::api::extract::AppPath;
use crate::app::AppState;

/// The whole tree that holds a prompt, nested from its root: each node is the
/// prompt with `children` (nodes) and `tasks` (the newest 20 tasks made from it,
/// with status, progress and thumbnails). A tree holds at most 1,000 prompts
/// (the oldest are shown should one ever hold more) and 100 levels.
#[utoipa::path(get, path = "/prompts/{id}/tree", tag = "prompts",
    params(("id" = String, Path, description = "Any prompt of the tree (prm_…)")),
    responses((status = 200, body = PromptNodeView), (status = 404, body = ErrorBody)))]
pub async fn prompt_tree(
    State(state): State<AppState>,
    Caller(caller): Caller,
    AppPath(id): AppPath<String>,
) -> ApiResult<Json<PromptNodeView>> {
    let root = state.prompts.tree(&caller, &parse_prompt_id(&id)?).await?;
    Ok(Json(PromptNodeView::from(&root)))
}
