use axum::extract::State;
use axum::http::StatusCode;

use super::parse_prompt_id;
use crate::api::auth::Caller;
use crate::api::error::{ApiResult, ErrorBody};
use crate::api::extract::AppPath;
use crate::app::AppState;

/// Deletes a prompt that has no children (else 409 `prompt_has_children`). The
/// tasks made from it stay, with their `prompt_id` cleared.
#[utoipa::path(delete, path = "/prompts/{id}", tag = "prompts",
    params(("id" = String, Path, description = "Prompt id (prm_…)")),
    responses((status = 204, description = "Deleted"), (status = 404, body = ErrorBody),
        (status = 409, description = "The prompt has children (`prompt_has_children`)", body = ErrorBody)))]
pub async fn delete_prompt(
    State(state): State<AppState>,
    Caller(caller): Caller,
    AppPath(id): AppPath<String>,
) -> ApiResult<StatusCode> {
    state.prompts.delete(&caller, &parse_prompt_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}
