//! Fault injection for the OpenAI emulator: the Kie emulator's vocabulary and
//! triggers (`crate::kie::faults`), aimed at OpenAI's endpoints and answered in
//! OpenAI's error shape.
//!
//! What each fault does:
//! - `latency=<ms>`: waits, then handles the request.
//! - `timeout`: handles the request (an image is made, a video created), then
//!   holds the answer for `timeout_fault_duration`.
//! - `reset`: drops the connection unanswered (needs [`super::OpenAiEmulator::serve`]).
//! - `status=<code>[,retry_after_seconds=<n>]`: answers that status with OpenAI's
//!   error body (429: `rate_limit_exceeded`), without handling the request.
//! - `malformed`: handles the request, then answers HTTP 200 with broken JSON.
//! - `generation_failed`: a video ends `failed`; an image request is refused by
//!   the safety system (HTTP 400, `moderation_blocked`); speech answers 500.
//! - `never_finish`: a video stays `in_progress`; a synchronous request is held
//!   as with `timeout`.

use std::str::FromStr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

pub use crate::kie::FAULT_HEADER;
use crate::kie::Fault;
use crate::kie::faults::{ConnectionKill, PlanRunner, RuleEndpoint, parse_fault_with_codes, parse_rule};

use super::{OpenAiState, api_error};

/// The statuses a `status=` fault may name.
const FAULT_CODES: [u16; 12] = [400, 401, 403, 404, 409, 410, 422, 429, 500, 502, 503, 504];

/// Parses one fault (`latency=<ms>`, `timeout`, `reset`, `status=<code>[,retry_after_seconds=<n>]`,
/// `malformed`, `generation_failed`, `never_finish`), with OpenAI's statuses.
pub fn parse_fault(s: &str) -> Result<Fault, String> {
    parse_fault_with_codes(s, &FAULT_CODES)
}

/// The endpoints a fault rule can aim at (the same in both flavours).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    ImagesGenerations,
    ImagesEdits,
    Speech,
    VideosCreate,
    VideosRetrieve,
    VideosList,
    VideosDelete,
    VideosContent,
    /// `GET /files/{name}` (DALL·E `url` results).
    Files,
    /// Any other path (answered 404).
    Other,
    /// In a rule: every endpoint.
    Any,
}

impl Endpoint {
    /// Every endpoint a request can go to.
    pub const ALL: [Endpoint; 10] = [
        Endpoint::ImagesGenerations,
        Endpoint::ImagesEdits,
        Endpoint::Speech,
        Endpoint::VideosCreate,
        Endpoint::VideosRetrieve,
        Endpoint::VideosList,
        Endpoint::VideosDelete,
        Endpoint::VideosContent,
        Endpoint::Files,
        Endpoint::Other,
    ];

    /// The endpoint a request goes to, in either flavour.
    pub fn classify(method: &Method, path: &str) -> Endpoint {
        if path.starts_with("/files/") {
            return if method == Method::GET { Endpoint::Files } else { Endpoint::Other };
        }
        let rest = if let Some(rest) = path.strip_prefix("/v1/") {
            rest
        } else if let Some(rest) = path.strip_prefix("/openai/deployments/") {
            rest.split_once('/').map_or("", |(_, rest)| rest)
        } else if let Some(rest) = path.strip_prefix("/openai/") {
            rest
        } else {
            return Endpoint::Other;
        };
        let segments: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
        match (method.as_str(), segments.as_slice()) {
            ("POST", ["images", "generations"]) => Endpoint::ImagesGenerations,
            ("POST", ["images", "edits"]) => Endpoint::ImagesEdits,
            ("POST", ["audio", "speech"]) => Endpoint::Speech,
            ("POST", ["videos"]) => Endpoint::VideosCreate,
            ("GET", ["videos"]) => Endpoint::VideosList,
            ("GET", ["videos", _]) => Endpoint::VideosRetrieve,
            ("DELETE", ["videos", _]) => Endpoint::VideosDelete,
            ("GET", ["videos", _, "content"]) => Endpoint::VideosContent,
            _ => Endpoint::Other,
        }
    }

    /// Its counter's name in `/__emulator/stats`.
    pub fn stats_key(self) -> &'static str {
        match self {
            Endpoint::ImagesGenerations => "images_generations",
            Endpoint::ImagesEdits => "images_edits",
            Endpoint::Speech => "speech",
            Endpoint::VideosCreate => "videos_create",
            Endpoint::VideosRetrieve => "videos_retrieve",
            Endpoint::VideosList => "videos_list",
            Endpoint::VideosDelete => "videos_delete",
            Endpoint::VideosContent => "videos_content",
            Endpoint::Files => "files",
            Endpoint::Other | Endpoint::Any => "other",
        }
    }

    fn is_synchronous(self) -> bool {
        matches!(self, Endpoint::ImagesGenerations | Endpoint::ImagesEdits | Endpoint::Speech)
    }
}

impl RuleEndpoint for Endpoint {
    fn covers(self, endpoint: Endpoint) -> bool {
        self == Endpoint::Any || self == endpoint
    }

    fn parse_fault(s: &str) -> Result<Fault, String> {
        parse_fault(s)
    }

    const EXAMPLE: &'static str = "images.generations:every=3:status=500";
}

impl FromStr for Endpoint {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let name = s.trim().to_ascii_lowercase().replace(['.', '-', '/'], "_");
        match name.as_str() {
            "images_generations" | "generations" | "images" => Ok(Endpoint::ImagesGenerations),
            "images_edits" | "edits" => Ok(Endpoint::ImagesEdits),
            "speech" | "audio_speech" => Ok(Endpoint::Speech),
            "videos_create" | "create_video" | "videos" => Ok(Endpoint::VideosCreate),
            "videos_retrieve" | "retrieve_video" | "poll" => Ok(Endpoint::VideosRetrieve),
            "videos_list" => Ok(Endpoint::VideosList),
            "videos_delete" | "delete_video" => Ok(Endpoint::VideosDelete),
            "videos_content" | "content" | "download" => Ok(Endpoint::VideosContent),
            "files" | "file" => Ok(Endpoint::Files),
            "any" | "*" => Ok(Endpoint::Any),
            other => Err(format!(
                "unknown endpoint `{other}` (known: images.generations, images.edits, speech, videos.create, \
                 videos.retrieve, videos.list, videos.delete, videos.content, files, any)"
            )),
        }
    }
}

/// One rule of a [`FaultPlan`]: on `endpoint`, when `trigger` fires, inject `fault`.
pub type FaultRule = crate::kie::faults::FaultRule<Endpoint>;
/// The faults of a run: rules tried in order, the first that fires wins.
pub type FaultPlan = crate::kie::faults::FaultPlan<Endpoint>;
/// A plan in motion: per-rule request counters and seeded random streams.
pub(super) type Runner = PlanRunner<Endpoint>;

/// Parses a rule written `ENDPOINT:TRIGGER:FAULT`, e.g.
/// `images.generations:first=2:status=429,retry_after_seconds=1`,
/// `videos.retrieve:always:generation_failed`, `any:p=0.1:latency=200`.
pub fn parse_fault_rule(s: &str) -> Result<FaultRule, String> {
    parse_rule(s)
}

/// A task fault handed from the middleware to the handler.
#[derive(Debug, Clone)]
pub(super) struct TaskFault(pub(super) Fault);

/// The error body an injected status answers with.
fn status_error(code: u16) -> Response {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let (kind, message, error_code) = match code {
        400 => ("invalid_request_error", "Invalid request (injected by the emulator).", None),
        401 => ("invalid_request_error", "Incorrect API key provided.", Some("invalid_api_key")),
        403 => ("invalid_request_error", "You are not allowed to use this resource.", None),
        404 => ("invalid_request_error", "The resource was not found.", None),
        409 => ("invalid_request_error", "The resource is in a conflicting state.", None),
        410 => ("invalid_request_error", "This API has been retired.", None),
        422 => ("invalid_request_error", "The request could not be processed.", None),
        429 => ("requests", "Rate limit reached for requests. Please try again later.", Some("rate_limit_exceeded")),
        503 => ("server_error", "The engine is currently overloaded, please try again later.", None),
        _ => ("server_error", "The server had an error while processing your request. Sorry about that!", None),
    };
    api_error(status, kind, message, None, error_code)
}

/// Counts each request, picks its fault (header first, then the plan), and applies it.
pub(super) async fn middleware(State(state): State<Arc<OpenAiState>>, mut request: Request, next: Next) -> Response {
    let endpoint = Endpoint::classify(request.method(), request.uri().path());
    state.count_request(endpoint);
    let from_header = match request.headers().get(FAULT_HEADER) {
        None => None,
        Some(value) => match value.to_str().map_err(|_| "not ASCII".to_owned()).and_then(parse_fault) {
            Ok(fault) => Some(fault),
            Err(e) => return super::invalid(&format!("invalid {FAULT_HEADER} header: {e}"), None, None),
        },
    };
    let planned = state.plan_fault(endpoint);
    let Some(fault) = from_header.or(planned) else {
        return next.run(request).await;
    };
    tracing::debug!(fault = %fault, endpoint = ?endpoint, "openai emulator: injecting a fault");
    state.count_fault(&fault);
    let hold = state.config.timeout_fault_duration;
    match fault {
        Fault::Latency(delay) => {
            tokio::time::sleep(delay).await;
            next.run(request).await
        }
        Fault::Timeout => {
            let response = next.run(request).await;
            tokio::time::sleep(hold).await;
            response
        }
        Fault::NeverFinish if endpoint.is_synchronous() => {
            let response = next.run(request).await;
            tokio::time::sleep(hold).await;
            response
        }
        Fault::Reset => match request.extensions().get::<ConnectionKill>() {
            Some(kill) => {
                kill.0.notify_one();
                std::future::pending::<Response>().await
            }
            None => status_error(500),
        },
        Fault::Status { code, retry_after_seconds } => {
            let mut response = status_error(code);
            if let Some(n) = retry_after_seconds {
                response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(n));
            }
            response
        }
        Fault::Malformed => {
            let _ = next.run(request).await;
            let mut response =
                (StatusCode::OK, Body::from("{\"created\":1713833628,\"data\":[{\"b64_json\":")).into_response();
            response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            response
        }
        Fault::GenerationFailed if endpoint == Endpoint::Speech => status_error(500),
        Fault::GenerationFailed if endpoint.is_synchronous() => api_error(
            StatusCode::BAD_REQUEST,
            "image_generation_user_error",
            "Your request was rejected by the safety system. If you believe this is an error, contact us at \
             help.openai.com and include the request ID. safety_violations=[emulated].",
            None,
            Some("moderation_blocked"),
        ),
        Fault::GenerationFailed | Fault::NeverFinish => {
            request.extensions_mut().insert(TaskFault(fault));
            next.run(request).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_classify_in_both_flavours() {
        let cases = [
            (Method::POST, "/v1/images/generations", Endpoint::ImagesGenerations),
            (Method::POST, "/openai/deployments/img/images/generations", Endpoint::ImagesGenerations),
            (Method::POST, "/openai/deployments/img/images/edits", Endpoint::ImagesEdits),
            (Method::POST, "/v1/audio/speech", Endpoint::Speech),
            (Method::POST, "/openai/videos", Endpoint::VideosCreate),
            (Method::GET, "/v1/videos", Endpoint::VideosList),
            (Method::GET, "/v1/videos/video_1", Endpoint::VideosRetrieve),
            (Method::DELETE, "/openai/videos/video_1", Endpoint::VideosDelete),
            (Method::GET, "/v1/videos/video_1/content", Endpoint::VideosContent),
            (Method::GET, "/files/img_1.png", Endpoint::Files),
            (Method::GET, "/v2/images/generations", Endpoint::Other),
        ];
        for (method, path, endpoint) in cases {
            assert_eq!(Endpoint::classify(&method, path), endpoint, "{method} {path}");
        }
    }

    #[test]
    fn rules_parse_with_openai_statuses() {
        let plan =
            FaultPlan::parse("images.generations:first=2:status=429,retry_after_seconds=1|poll:always:never_finish")
                .expect("plan");
        assert_eq!(plan.rules[0].endpoint, Endpoint::ImagesGenerations);
        assert_eq!(plan.rules[0].fault, Fault::Status { code: 429, retry_after_seconds: Some(1) });
        assert_eq!(plan.rules[1].endpoint, Endpoint::VideosRetrieve);
        assert!(parse_fault("status=403").is_ok());
        assert!(parse_fault("status=402").is_err(), "402 is Kie's, not OpenAI's");
        assert!(parse_fault_rule("nowhere:always:reset").is_err());

        let mut runner = Runner::new(&FaultPlan::parse("speech:every=2:reset").expect("plan"), 3);
        let fired: Vec<bool> = (0..4).map(|_| runner.next(Endpoint::Speech).is_some()).collect();
        assert_eq!(fired, [false, true, false, true]);
        assert_eq!(runner.next(Endpoint::ImagesEdits), None);
    }
}
