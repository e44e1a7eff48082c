use atelier_core::pipeline::{FeedbackMode, NewRun};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::RunView;
use crate::api::auth::Caller;
use crate::api::error::{ApiResult, ErrorBody};
use crate::api::extract::AppJson;
use crate::app::AppState;

/// The seed's `feedback_mode`.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FeedbackModeRequest {
    /// Wait for feedback between phases (true by default).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// How long each wait lasts before the run goes on by itself (30 s by default).
    #[schema(minimum = 1, maximum = 86400)]
    #[serde(default = "thirty")]
    pub timeout_seconds: u32,
}

fn yes() -> bool {
    true
}

fn thirty() -> u32 {
    30
}

impl From<FeedbackModeRequest> for FeedbackMode {
    fn from(request: FeedbackModeRequest) -> Self {
        Self { enabled: request.enabled, timeout_seconds: request.timeout_seconds }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRunRequest {
    /// The pipeline: `manga` (the default).
    #[serde(default)]
    pub pipeline: Option<String>,
    /// The story: 5,000 to 50,000 characters (`[pipelines] min_chars`, `max_chars`).
    pub text: String,
    /// Your own id for the run (the seed's `request_id`).
    #[serde(default)]
    pub request_id: Option<String>,
    #[serde(default)]
    pub feedback_mode: Option<FeedbackModeRequest>,
    /// The phases' text model (`local/planner` by default: rule-based, offline;
    /// `google/gemini-2.5-flash` and OpenAI-compatible chat models when configured).
    #[serde(default)]
    pub text_model: Option<String>,
    /// The character sheets' image model (`local/placeholder` by default).
    #[serde(default)]
    pub image_model: Option<String>,
    /// The run's time limit (600 s by default).
    #[schema(minimum = 1, maximum = 86400)]
    #[serde(default)]
    pub deadline_seconds: Option<u32>,
    /// Preview quality 1 to 5; from the client's hints (`Save-Data`,
    /// `Device-Memory`, `Viewport-Width`) when absent.
    #[schema(minimum = 1, maximum = 5)]
    #[serde(default)]
    pub quality: Option<u8>,
    /// Let the analysis choose genre, page count and the like (true by default); when
    /// false, `options` win.
    #[serde(default)]
    pub ai_auto_settings: Option<bool>,
    /// Choices: `page_count`, `reading_direction` (`rtl`, `ltr`), `genre`, `tone`,
    /// `target_readers`.
    #[serde(default)]
    pub options: Option<Value>,
    /// Stop after this phase (1 to 7).
    #[serde(default)]
    pub last_phase: Option<u32>,
}

/// Preview quality from the client's hints (seed 001 `AdaptiveQualityManager`):
/// `Save-Data: on` → 1; little memory or a narrow screen → 2; much of both → 4 or 5.
pub fn quality_from_hints(headers: &HeaderMap) -> u8 {
    let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok()).map(str::trim);
    if header("save-data").is_some_and(|value| value.eq_ignore_ascii_case("on")) {
        return 1;
    }
    let memory = header("device-memory").and_then(|value| value.parse::<f64>().ok());
    let width = header("viewport-width").and_then(|value| value.parse::<f64>().ok());
    match (memory, width) {
        (Some(memory), _) if memory < 2.0 => 2,
        (_, Some(width)) if width < 600.0 => 2,
        (Some(memory), Some(width)) if memory >= 8.0 && width >= 2000.0 => 5,
        (Some(memory), Some(width)) if memory >= 4.0 && width >= 1200.0 => 4,
        _ => 3,
    }
}

pub(crate) fn new_run(request: CreateRunRequest, headers: &HeaderMap) -> NewRun {
    NewRun {
        pipeline: request.pipeline.unwrap_or_else(|| atelier_core::pipeline::manga::NAME.to_owned()),
        text: request.text,
        request_id: request.request_id,
        feedback: request.feedback_mode.map(FeedbackMode::from),
        text_model: request.text_model,
        image_model: request.image_model,
        deadline_seconds: request.deadline_seconds,
        quality: Some(request.quality.unwrap_or_else(|| quality_from_hints(headers))),
        ai_auto_settings: request.ai_auto_settings,
        options: request.options,
        last_phase: request.last_phase,
    }
}

/// Starts a run: its phases go on in the background; watch them on
/// `/pipelines/{id}/events`. A story outside 5,000 to 50,000 characters is refused
/// (422, with the counts).
#[utoipa::path(post, path = "/pipelines", tag = "pipelines", request_body = CreateRunRequest,
    responses((status = 202, body = RunView), (status = 400, body = ErrorBody), (status = 404, description = "No such pipeline", body = ErrorBody),
        (status = 415, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 429, description = "Too many runs going at once or started this hour", body = ErrorBody)))]
pub async fn create_run(
    State(state): State<AppState>,
    Caller(caller): Caller,
    headers: HeaderMap,
    AppJson(request): AppJson<CreateRunRequest>,
) -> ApiResult<(StatusCode, Json<RunView>)> {
    let run = state.pipelines.create(&caller, new_run(request, &headers)).await?;
    Ok((StatusCode::ACCEPTED, Json(RunView::new(&run, &state))))
}
