use atelier_core::pipeline::{Run, Version, VersionKind, manga};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::create::{CreateRunRequest, FeedbackModeRequest, new_run};
use super::{RunView, preview_url};
use crate::api::auth::Caller;
use crate::api::error::{ApiError, ApiResult, ErrorBody};
use crate::api::extract::{AppJson, AppPath};
use crate::app::AppState;

/// Seed 001's request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MangaRequest {
    /// Your id for the request; `GET /api/v1/manga/{request_id}` finds it.
    pub request_id: String,
    /// The story: 5,000 to 50,000 characters.
    pub text: String,
    /// Let the analysis choose genre, page count and the like (true by default).
    #[serde(default)]
    pub ai_auto_settings: Option<bool>,
    #[serde(default)]
    pub feedback_mode: Option<FeedbackModeRequest>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MangaResultView {
    /// The concept and the plot's acts.
    pub story_structure: Value,
    pub characters: Value,
    pub scenes: Value,
    /// The finished book (PDF) as a signed link that works without an API key
    /// until it expires; null until phase 7 is done.
    pub final_manga_url: Option<String>,
    /// The book's files as signed links: `pdf`, `cbz`, `pages` (PNG), `expires_at`;
    /// and the quality report. Null until phase 7 is done.
    pub book: Option<Value>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PhaseResultView {
    pub phase: u32,
    /// The phase's part of the document, as the current branch has it.
    pub content: Value,
    pub preview_url: String,
    /// The changes a person made to this phase's result (summaries).
    pub feedback_applied: Vec<Value>,
}

/// Seed 001's answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct MangaResponse {
    pub request_id: Option<String>,
    /// The run behind it (`/api/v1/pipelines/{run_id}`).
    pub run_id: String,
    pub status: String,
    pub manga_result: MangaResultView,
    pub phase_results: Vec<PhaseResultView>,
    /// Seconds so far (or in all, once ended).
    pub processing_time: f64,
    pub run: RunView,
}

async fn response(state: &AppState, caller: &atelier_core::account::Principal, run: &Run) -> ApiResult<MangaResponse> {
    let versions = state.pipelines.versions(caller, &run.id).await?;
    // The head's line of ancestors: the current branch.
    let mut chain: Vec<&Version> = Vec::new();
    let mut next = run.head.clone();
    while let Some(id) = next {
        let Some(version) = versions.iter().find(|version| version.id == id) else { break };
        chain.push(version);
        next = version.parent.clone();
    }
    chain.reverse();
    let document = chain.last().map(|version| version.document.clone()).unwrap_or_else(|| json!({}));
    let pipeline = state.pipelines.engine().pipeline(&run.pipeline)?;
    let mut phase_results = Vec::new();
    for phase in &pipeline.phases {
        let number = phase.number();
        let Some(latest) = chain.iter().rev().find(|version| version.phase == number) else { continue };
        let content = if phase.parts().len() == 1 {
            document.get(phase.parts()[0]).cloned().unwrap_or(Value::Null)
        } else {
            json!(
                phase
                    .parts()
                    .iter()
                    .map(|part| (part.to_string(), document.get(*part).cloned().unwrap_or(Value::Null)))
                    .collect::<serde_json::Map<_, _>>()
            )
        };
        let feedback_applied = chain
            .iter()
            .filter(|version| version.phase == number && version.kind == VersionKind::Feedback)
            .flat_map(|version| version.changes.iter())
            .map(|change| json!({ "change_type": change.change_type, "summary": change.summary, "request": change.request }))
            .collect();
        phase_results.push(PhaseResultView {
            phase: number,
            content,
            preview_url: preview_url(&run.id, &latest.id),
            feedback_applied,
        });
    }
    let book = book_links(state, &document);
    Ok(MangaResponse {
        request_id: run.request_id.clone(),
        run_id: run.id.to_string(),
        status: run.status.as_str().to_owned(),
        manga_result: MangaResultView {
            story_structure: json!({ "concept": document.get("concept"), "acts": document.pointer("/plot/acts") }),
            characters: document.get("characters").cloned().unwrap_or_else(|| json!([])),
            scenes: document.pointer("/plot/scenes").cloned().unwrap_or_else(|| json!([])),
            final_manga_url: book.as_ref().and_then(|book| book.get("pdf")).and_then(Value::as_str).map(str::to_owned),
            book,
        },
        phase_results,
        processing_time: atelier_core::pipeline::service::processing_seconds(run),
        run: RunView::new(run, state),
    })
}

/// The book's files as signed links, and the quality report.
pub(super) fn book_links(state: &AppState, document: &Value) -> Option<Value> {
    let book = document.get("book")?;
    let link = |id: &Value| {
        let id = atelier_core::AssetId::parse(id.as_str()?)?;
        Some(crate::api::assets::shared_link(state, &id, None))
    };
    let pdf = book.get("pdf").and_then(link);
    let cbz = book.get("cbz").and_then(link);
    let pages: Vec<String> =
        book.get("pages").and_then(Value::as_array).into_iter().flatten().filter_map(link).map(|l| l.url).collect();
    Some(json!({
        "pdf": pdf.as_ref().map(|l| l.url.clone()),
        "cbz": cbz.as_ref().map(|l| l.url.clone()),
        "pages": pages,
        "expires_at": pdf.map(|l| l.expires_at),
        "right_to_left": book.get("right_to_left"),
        "report": document.get("report"),
    }))
}

/// Seed 001's request: a story in, a manga run started (seven phases, to a lettered
/// book); the answer has the seed's shape and fills in as the phases finish.
#[utoipa::path(post, path = "/manga", tag = "pipelines", request_body = MangaRequest,
    responses((status = 202, body = MangaResponse), (status = 400, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn create_manga(
    State(state): State<AppState>,
    Caller(caller): Caller,
    headers: HeaderMap,
    AppJson(request): AppJson<MangaRequest>,
) -> ApiResult<(StatusCode, Json<MangaResponse>)> {
    let create = CreateRunRequest {
        pipeline: Some(manga::NAME.to_owned()),
        text: request.text,
        request_id: Some(request.request_id),
        feedback_mode: request.feedback_mode,
        text_model: None,
        image_model: None,
        deadline_seconds: None,
        quality: None,
        ai_auto_settings: request.ai_auto_settings,
        options: None,
        last_phase: None,
    };
    let run = state.pipelines.create(&caller, new_run(create, &headers)).await?;
    Ok((StatusCode::ACCEPTED, Json(response(&state, &caller, &run).await?)))
}

/// Seed 001's answer for a request id (or a run id).
#[utoipa::path(get, path = "/manga/{request_id}", tag = "pipelines",
    params(("request_id" = String, Path, description = "Your request_id, or the run id")),
    responses((status = 200, body = MangaResponse), (status = 404, body = ErrorBody)))]
pub async fn get_manga(
    State(state): State<AppState>,
    Caller(caller): Caller,
    AppPath(request_id): AppPath<String>,
) -> ApiResult<Json<MangaResponse>> {
    let run = match atelier_core::RunId::parse(&request_id) {
        Some(id) => state.pipelines.get(&caller, &id).await?,
        None => state
            .pipelines
            .find_by_request(&caller, &request_id)
            .await?
            .ok_or_else(|| ApiError::not_found("manga request"))?,
    };
    Ok(Json(response(&state, &caller, &run).await?))
}
