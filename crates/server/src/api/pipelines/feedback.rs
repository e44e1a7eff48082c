use atelier_core::pipeline::{Change, ChangeType, Proposal};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::{RunAndVersionView, RunView, VersionView, parse_proposal_id, parse_run_id};
use crate::api::auth::Caller;
use crate::api::error::{ApiError, ApiResult, ErrorBody};
use crate::api::extract::{AppJson, AppPath};
use crate::app::AppState;

/// A change to the run's current version (seed 001 `InteractiveChangeProcessor`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeRequest {
    /// `text_edit`, `selection`, `drag_drop`, `style_adjust` or `regenerate`
    /// (changes in words go to `/proposals`).
    pub change_type: String,
    /// A dotted element path: `characters.0.name`, `pages.2.panels.1.dialogue.0.text`.
    #[serde(default)]
    pub element_id: Option<String>,
    /// `text_edit`: `{new_value}`; `selection`: `{index}` or `{value}` among the
    /// element's `alternatives`, or `{variant}` among a panel's earlier images
    /// (`art.panels.<id>`); `drag_drop`: `{frame: {x, y, w, h}}`, `{position:
    /// {x, y}}` (fractions of the page), `{to_index}`, or `{crop: {x, y, w, h}}`
    /// (fractions of a panel's image); `style_adjust`: `{tone, line_weight,
    /// screentone_density, color_mode, art_style, text_color, balloon_fill}`, or with
    /// a balloon's `element_id` `{font_size, bold}`; `regenerate`: `{seed, words}`
    /// for the panel `art.panels.<id>` (or `{panels: [ids]}`): the run draws them
    /// again and goes on from phase 5.
    #[serde(default)]
    pub change_data: Value,
}

fn change_type(name: &str) -> Result<ChangeType, ApiError> {
    match name {
        "text_edit" => Ok(ChangeType::TextEdit),
        "selection" => Ok(ChangeType::Selection),
        "drag_drop" => Ok(ChangeType::DragDrop),
        "style_adjust" => Ok(ChangeType::StyleAdjust),
        "regenerate" => Ok(ChangeType::Regenerate),
        "natural_language" => Err(ApiError::validation(
            "change_type: a change in words is proposed first: POST /api/v1/pipelines/{id}/proposals",
            serde_json::json!({ "field": "change_type", "reason": "use proposals" }),
        )),
        other => Err(ApiError::validation(
            format!("change_type: {other:?} is not text_edit, selection, drag_drop, style_adjust or regenerate"),
            serde_json::json!({ "field": "change_type", "reason": "unknown change type" }),
        )),
    }
}

/// Applies a change to the run's current version: a new child version. A change
/// that names no element, moves something off the page or leaves the document
/// outside its schema is refused (422) and nothing changes.
#[utoipa::path(post, path = "/pipelines/{id}/feedback", tag = "pipelines", request_body = ChangeRequest,
    params(("id" = String, Path, description = "Run id")),
    responses((status = 200, body = RunAndVersionView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "The run is at work on a phase, or has ended", body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn give_feedback(
    State(state): State<AppState>,
    Caller(caller): Caller,
    AppPath(id): AppPath<String>,
    AppJson(request): AppJson<ChangeRequest>,
) -> ApiResult<Json<RunAndVersionView>> {
    let change = Change {
        change_type: change_type(&request.change_type)?,
        element_id: request.element_id,
        change_data: request.change_data,
    };
    let (run, version) = state.pipelines.feedback(&caller, &parse_run_id(&id)?, change).await?;
    Ok(Json(RunAndVersionView { run: RunView::new(&run, &state), version: VersionView::from(&version) }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProposalRequest {
    /// The change in words: "make the heroine older", "split page 3 into more panels".
    #[schema(min_length = 1, max_length = 2000)]
    pub text: String,
}

/// A change proposed in words, as a patch to review before applying it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProposalView {
    /// The proposal's id (the text model's task id).
    pub id: String,
    /// The task's status: `pending`, `processing`, `completed`, `failed`, …
    pub status: String,
    pub text: String,
    /// The version it was made against; it applies only while that is the run's current one.
    pub basis_version_id: Option<String>,
    /// The RFC 6902 operations proposed.
    pub operations: Option<Value>,
    pub summary: Option<String>,
    /// Parts of the request the model did not understand.
    pub not_understood: Vec<String>,
    /// What applying it changes: an RFC 6902 patch from the basis document.
    pub diff: Option<Value>,
    /// Why it cannot apply, or why its task failed.
    pub error: Option<String>,
}

impl From<Proposal> for ProposalView {
    fn from(proposal: Proposal) -> Self {
        Self {
            id: proposal.id.to_string(),
            status: proposal.status.as_str().to_owned(),
            text: proposal.request,
            basis_version_id: proposal.basis.map(|basis| basis.to_string()),
            operations: proposal.operations,
            summary: proposal.summary,
            not_understood: proposal.not_understood,
            diff: proposal.diff,
            error: proposal.error,
        }
    }
}

/// Asks the run's text model for a change in words (offline, the planner
/// understands a small documented set and says what it did not). Answered as a
/// proposal to review, then apply.
#[utoipa::path(post, path = "/pipelines/{id}/proposals", tag = "pipelines", request_body = ProposalRequest,
    params(("id" = String, Path, description = "Run id")),
    responses((status = 202, body = ProposalView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 415, body = ErrorBody), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn propose(
    State(state): State<AppState>,
    Caller(caller): Caller,
    AppPath(id): AppPath<String>,
    AppJson(request): AppJson<ProposalRequest>,
) -> ApiResult<(StatusCode, Json<ProposalView>)> {
    let proposal = state.pipelines.propose(&caller, &parse_run_id(&id)?, &request.text).await?;
    Ok((StatusCode::ACCEPTED, Json(ProposalView::from(proposal))))
}

/// A proposal: pending, or its patch and what it would change.
#[utoipa::path(get, path = "/pipelines/{id}/proposals/{proposal}", tag = "pipelines",
    params(("id" = String, Path, description = "Run id"), ("proposal" = String, Path, description = "Proposal id")),
    responses((status = 200, body = ProposalView), (status = 404, body = ErrorBody)))]
pub async fn get_proposal(
    State(state): State<AppState>,
    Caller(caller): Caller,
    AppPath((id, proposal)): AppPath<(String, String)>,
) -> ApiResult<Json<ProposalView>> {
    let proposal = state.pipelines.proposal(&caller, &parse_run_id(&id)?, parse_proposal_id(&proposal)?).await?;
    Ok(Json(ProposalView::from(proposal)))
}

/// Applies an answered proposal: a new version recording the change in words.
#[utoipa::path(post, path = "/pipelines/{id}/proposals/{proposal}/apply", tag = "pipelines",
    params(("id" = String, Path, description = "Run id"), ("proposal" = String, Path, description = "Proposal id")),
    responses((status = 200, body = RunAndVersionView), (status = 404, body = ErrorBody),
        (status = 409, description = "Not answered yet (`proposal_not_ready`), made against an older version (`stale_proposal`), or the run is at work", body = ErrorBody),
        (status = 422, description = "The patch does not apply or leaves the document invalid", body = ErrorBody)))]
pub async fn apply_proposal(
    State(state): State<AppState>,
    Caller(caller): Caller,
    AppPath((id, proposal)): AppPath<(String, String)>,
) -> ApiResult<Json<RunAndVersionView>> {
    let (run, version) =
        state.pipelines.apply_proposal(&caller, &parse_run_id(&id)?, parse_proposal_id(&proposal)?).await?;
    Ok(Json(RunAndVersionView { run: RunView::new(&run, &state), version: VersionView::from(&version) }))
}
