//! OpenAI's side of fault injection (`crate::faults` holds the vocabulary, the
//! plans and the middleware, shared with the Kie emulator): the endpoints a
//! rule can aim at, the statuses a `status=` fault may name, and how OpenAI
//! answers a fault (docs/providers/openai.md 2.1 for the error shape).
//!
//! - `latency=<ms>`: waits, then handles the request.
//! - `timeout`: handles the request (an image is made, a video created), then
//!   holds the answer for `timeout_fault_duration`.
//! - `reset`: drops the connection unanswered (needs [`super::OpenAiEmulator::serve`];
//!   a bare router answers 500).
//! - `status=<code>[,retry_after_seconds=<n>]`: answers that status with OpenAI's
//!   error body (429: `rate_limit_exceeded`), without handling the request.
//! - `malformed`: handles the request, then answers HTTP 200 with broken JSON
//!   (on chat completions, a `chat.completion` cut short, answered without
//!   handling the request: nothing there would outlive it).
//! - `generation_failed`: a video ends `failed`; an image request is refused by
//!   the safety system (HTTP 400, `moderation_blocked`); speech answers 500; a
//!   chat completion is refused by the model (HTTP 200, `message.content: null`
//!   and `message.refusal`, see `chat.rs`).
//! - `never_finish`: a video stays `in_progress`; a synchronous request is held
//!   as with `timeout`.

use std::str::FromStr;

use axum::body::Body;
use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::response::Response;

use super::{OpenAiState, api_error};
pub use crate::faults::FAULT_HEADER;
use crate::faults::{Adapted, Fault, FaultHost, Injector, RuleEndpoint, parse_fault_with_codes, parse_rule};

/// What `malformed` answers on chat completions: a `chat.completion` cut short.
const MALFORMED_CHAT: &str = "{\"id\":\"chatcmpl-0\",\"object\":\"chat.completion\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"";

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
    ChatCompletions,
    /// `GET /v1/models` and `GET /v1/models/{model}`.
    Models,
    /// `GET /files/{name}` (DALL·E `url` results).
    Files,
    /// Any other path (answered 404).
    Other,
    /// In a rule: every endpoint.
    Any,
}

impl Endpoint {
    /// Every endpoint a request can go to.
    pub const ALL: [Endpoint; 12] = [
        Endpoint::ImagesGenerations,
        Endpoint::ImagesEdits,
        Endpoint::Speech,
        Endpoint::VideosCreate,
        Endpoint::VideosRetrieve,
        Endpoint::VideosList,
        Endpoint::VideosDelete,
        Endpoint::VideosContent,
        Endpoint::ChatCompletions,
        Endpoint::Models,
        Endpoint::Files,
        Endpoint::Other,
    ];

    /// The endpoint a request goes to, in either flavour.
    pub fn classify(method: &Method, path: &str) -> Endpoint {
        if path.starts_with("/files/") {
            return if method == Method::GET { Endpoint::Files } else { Endpoint::Other };
        }
        let rest = if let Some(rest) = path.strip_prefix("/v1/") {
            if method == Method::GET
                && (rest == "models" || rest.strip_prefix("models/").is_some_and(|id| !id.is_empty()))
            {
                return Endpoint::Models;
            }
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
            ("POST", ["chat", "completions"]) => Endpoint::ChatCompletions,
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
            Endpoint::ChatCompletions => "chat_completions",
            Endpoint::Models => "models",
            Endpoint::Files => "files",
            Endpoint::Other | Endpoint::Any => "other",
        }
    }

    fn is_synchronous(self) -> bool {
        matches!(
            self,
            Endpoint::ImagesGenerations | Endpoint::ImagesEdits | Endpoint::Speech | Endpoint::ChatCompletions
        )
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
            "chat_completions" | "chat" => Ok(Endpoint::ChatCompletions),
            "models" | "list_models" => Ok(Endpoint::Models),
            "files" | "file" => Ok(Endpoint::Files),
            "any" | "*" => Ok(Endpoint::Any),
            other => Err(format!(
                "unknown endpoint `{other}` (known: images.generations, images.edits, speech, videos.create, \
                 videos.retrieve, videos.list, videos.delete, videos.content, chat.completions, models, files, \
                 any)"
            )),
        }
    }
}

/// One rule of a [`FaultPlan`]: on `endpoint`, when `trigger` fires, inject `fault`.
pub type FaultRule = crate::faults::FaultRule<Endpoint>;
/// The faults of a run: rules tried in order, the first that fires wins.
pub type FaultPlan = crate::faults::FaultPlan<Endpoint>;

/// Parses a rule written `ENDPOINT:TRIGGER:FAULT`, e.g.
/// `images.generations:first=2:status=429,retry_after_seconds=1`,
/// `videos.retrieve:always:generation_failed`, `any:p=0.1:latency=200`.
pub fn parse_fault_rule(s: &str) -> Result<FaultRule, String> {
    parse_rule(s)
}

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

impl FaultHost for OpenAiState {
    type Endpoint = Endpoint;
    const NAME: &'static str = "openai emulator";
    const MALFORMED_BODY: &'static str = "{\"created\":1713833628,\"data\":[{\"b64_json\":";

    fn classify(method: &Method, uri: &Uri) -> Endpoint {
        Endpoint::classify(method, uri.path())
    }

    fn injector(&self) -> &Injector<Endpoint> {
        &self.injector
    }

    fn count_request(&self, endpoint: Endpoint, _uri: &Uri) {
        *self.inner().stats.by_endpoint.entry(endpoint.stats_key()).or_default() += 1;
    }

    fn bad_header(message: &str) -> Response {
        super::invalid(message, None, None)
    }

    fn status_answer(_endpoint: Endpoint, code: u16) -> Response {
        status_error(code)
    }

    fn reset_unavailable() -> Response {
        status_error(500)
    }

    /// A synchronous request has no task to mark: `never_finish` holds it as
    /// `timeout` does, `generation_failed` refuses it (speech: 500; images: the
    /// safety system's 400; chat: handed to the handler, which answers the
    /// model's refusal once the request checks out). `malformed` on chat cuts a
    /// `chat.completion` short.
    fn adapt(endpoint: Endpoint, fault: Fault) -> Adapted {
        match fault {
            Fault::NeverFinish if endpoint.is_synchronous() => Adapted::Apply(Fault::Timeout),
            Fault::GenerationFailed if endpoint == Endpoint::ChatCompletions => Adapted::Apply(fault),
            Fault::Malformed if endpoint == Endpoint::ChatCompletions => {
                let mut response = Response::new(Body::from(MALFORMED_CHAT));
                response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
                Adapted::Answer(response)
            }
            Fault::GenerationFailed if endpoint == Endpoint::Speech => Adapted::Answer(status_error(500)),
            Fault::GenerationFailed if endpoint.is_synchronous() => Adapted::Answer(api_error(
                StatusCode::BAD_REQUEST,
                "image_generation_user_error",
                "Your request was rejected by the safety system. If you believe this is an error, contact us at \
                 help.openai.com and include the request ID. safety_violations=[emulated].",
                None,
                Some("moderation_blocked"),
            )),
            fault => Adapted::Apply(fault),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::PlanRunner as Runner;

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
            (Method::POST, "/v1/chat/completions", Endpoint::ChatCompletions),
            (Method::POST, "/openai/deployments/chat/chat/completions", Endpoint::ChatCompletions),
            (Method::GET, "/v1/chat/completions", Endpoint::Other),
            (Method::GET, "/v1/models", Endpoint::Models),
            (Method::GET, "/v1/models/gpt-4o-mini", Endpoint::Models),
            (Method::POST, "/v1/models", Endpoint::Other),
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
        let chat = parse_fault_rule("chat.completions:first=1:generation_failed").expect("rule");
        assert_eq!((chat.endpoint, chat.fault), (Endpoint::ChatCompletions, Fault::GenerationFailed));
        assert_eq!(parse_fault_rule("models:always:status=500").expect("rule").endpoint, Endpoint::Models);

        let mut runner = Runner::new(&FaultPlan::parse("speech:every=2:reset").expect("plan"), 3);
        let fired: Vec<bool> = (0..4).map(|_| runner.next(Endpoint::Speech).is_some()).collect();
        assert_eq!(fired, [false, true, false, true]);
        assert_eq!(runner.next(Endpoint::ImagesEdits), None);
    }
}
