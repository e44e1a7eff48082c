use atelier_core::pipeline::manga;
use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::{RunView, parse_run_id};

use crate::api::auth::Caller;
use crate::api::error::{ApiResult, ErrorBody};
use crate::api::extract::{AppPath, AppQuery};
use crate::app::AppState;

/// A run.
#[utoipa::path(get, path = "/pipelines/{id}", tag = "pipelines",
    params(("id" = String, Path, description = "Run id (run_…)")),
    responses((status = 200, body = RunView), (status = 404, body = ErrorBody)))]
pub async fn get_run(
    State(state): State<AppState>,
    Caller(caller): Caller,
    AppPath(id): AppPath<String>,
) -> ApiResult<Json<RunView>> {
    let run = state.pipelines.get(&caller, &parse_run_id(&id)?).await?;
    Ok(Json(RunView::new(&run, &state)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListRunsQuery {
    /// At most this many (1 to 100, 20 by default).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// `next_cursor` of the page before.
    pub cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RunListView {
    /// Newest first.
    pub runs: Vec<RunView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// Your runs (an admin's: everyone's), newest first.
#[utoipa::path(get, path = "/pipelines", tag = "pipelines", params(ListRunsQuery),
    responses((status = 200, body = RunListView), (status = 400, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list_runs(
    State(state): State<AppState>,
    Caller(caller): Caller,
    AppQuery(query): AppQuery<ListRunsQuery>,
) -> ApiResult<Json<RunListView>> {
    let before = query
        .cursor
        .as_deref()
        .map(|cursor| {
            atelier_core::RunId::parse(cursor).ok_or_else(|| {
                crate::api::error::ApiError::validation(
                    "cursor: not a cursor this list gave",
                    serde_json::json!({ "field": "cursor", "reason": "not a run id" }),
                )
            })
        })
        .transpose()?;
    let (runs, next) = state.pipelines.list(&caller, before.as_ref(), query.limit.unwrap_or(20)).await?;
    let runs = runs.iter().map(|run| RunView::new(run, &state)).collect();
    Ok(Json(RunListView { runs, next_cursor: next.map(|id| id.to_string()) }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PhaseSchemaView {
    pub number: u32,
    pub name: String,
    pub title: String,
    /// The document's keys this phase writes.
    pub parts: Vec<String>,
    /// The JSON Schema of those parts (what a text model is asked to follow, and
    /// what a change must keep).
    pub schema: Value,
}

/// What a run may be (`[pipelines]`).
#[derive(Debug, Serialize, ToSchema)]
pub struct PipelineLimitsView {
    /// The shortest and longest story, in characters.
    pub min_chars: usize,
    pub max_chars: usize,
    /// Runs one user may have going at once, and start per hour (0: no limit).
    pub max_active_per_user: u32,
    pub max_per_hour: u32,
    /// A run's time at work when the request names none, in seconds.
    pub deadline_seconds: u32,
    pub default_text_model: String,
    pub default_image_model: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PipelineSchemasView {
    pub pipeline: String,
    pub limits: PipelineLimitsView,
    pub phases: Vec<PhaseSchemaView>,
    /// The whole document's schema, every phase together.
    pub document: Value,
}

/// The JSON Schema of each phase's result, so a client can edit it precisely, and
/// the limits a run must keep.
#[utoipa::path(get, path = "/pipelines/schemas", tag = "pipelines",
    responses((status = 200, body = PipelineSchemasView)))]
pub async fn pipeline_schemas(
    State(state): State<AppState>,
    Caller(_caller): Caller,
) -> ApiResult<Json<PipelineSchemasView>> {
    let pipeline = state.pipelines.engine().pipeline(manga::NAME)?;
    let phases = pipeline
        .phases
        .iter()
        .map(|phase| PhaseSchemaView {
            number: phase.number(),
            name: phase.name().to_owned(),
            title: phase.title().to_owned(),
            parts: phase.parts().iter().map(|part| (*part).to_owned()).collect(),
            schema: phase.schema(),
        })
        .collect();
    let rules = state.pipelines.rules();
    let limits = PipelineLimitsView {
        min_chars: rules.min_chars,
        max_chars: rules.max_chars,
        max_active_per_user: rules.max_active_per_user,
        max_per_hour: rules.max_per_hour,
        deadline_seconds: rules.deadline_seconds,
        default_text_model: rules.default_text_model.clone(),
        default_image_model: rules.default_image_model.clone(),
    };
    Ok(Json(PipelineSchemasView {
        pipeline: pipeline.name.to_owned(),
        limits,
        phases,
        document: manga::document_schema(pipeline, pipeline.last()),
    }))
}
