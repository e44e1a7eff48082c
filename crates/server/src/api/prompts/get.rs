use axum::Json;
use axum::extract::State;

use super::{PromptView, parse_prompt_id};
use crate::api::auth::Caller;
use crate::api::error::{ApiResult, ErrorBody};
use crate::api::extract::AppPath;
use crate::app::AppState;

/// One prompt, with its children's ids.
#[utoipa::path(get, path = "/prompts/{id}", tag = "prompts",
    params(("id" = String, Path, description = "Prompt id (prm_…)")),
    responses((status = 200, body = PromptView), (status = 404, body = ErrorBody)))]
pub async fn get_prompt(
    State(state): State<AppState>,
    Caller(caller): Caller,
    AppPath(id): AppPath<String>,
) -> ApiResult<Json<PromptView>> {
    let detail = state.prompts.get_detail(&caller, &parse_prompt_id(&id)?).await?;
    Ok(Json(PromptView::from(&detail)))
}
