//! ComfyUI's side of fault injection (`crate::faults` holds the vocabulary,
//! the plans and the middleware, shared with the other emulators): the
//! endpoints a rule can aim at, the statuses a `status=` fault may name, and
//! how the server answers a fault. Routes under `/api/` count as the same
//! routes without it.
//!
//! - `status=<code>[,retry_after_seconds=<n>]` (400, 404, 500, 503):
//!   ComfyUI's shapes (see `errors.rs`), without handling the request.
//! - `latency=<ms>`, `timeout` (held for `timeout_fault_duration`; a
//!   `POST /prompt` does queue its prompt), `reset` (needs
//!   [`super::ComfyUiEmulator::serve`]; a bare router answers 500),
//!   `malformed` (HTTP 200, JSON cut short). On `ws` they act on the
//!   handshake.
//! - `generation_failed`: the prompt is queued (200) and executes; its fault
//!   node (the first `KSampler`, else the first `ImageUpscaleWithModel`, else
//!   the first output node) samples its steps, then raises a `RuntimeError`:
//!   the prompt ends `status_str: "error"` with an `execution_error` in its
//!   history and on the WebSocket. On `GET /history/{id}` it marks that prompt
//!   while it is queued or running (the fault node, or the next node if that
//!   one is past, fails).
//! - `never_finish`: the prompt's fault node stalls (a `KSampler` on its last
//!   step) and holds the queue until `POST /interrupt` (then
//!   `execution_interrupted`) or a `restart`. On a history poll it marks the
//!   prompt as `generation_failed` does.
//! - `oom` (the self-hosted servers only): the fault node raises
//!   `torch.OutOfMemoryError` ("CUDA out of memory. …" and ComfyUI's tips)
//!   before its first step. On a history poll it marks the prompt.
//! - `restart` (the self-hosted servers only): the server restarts. On
//!   `POST /prompt` the prompt is queued (200) and the restart comes once half
//!   of its fault node's steps are sampled; elsewhere as the request comes in,
//!   then the restarted server answers it. A restart loses the running and the
//!   queued prompts, empties the history (ComfyUI keeps it in memory), the
//!   temp folder and the prompt numbers, and closes every WebSocket; the
//!   input and output folders stay.
//!
//! Elsewhere (`view`, `upload`, `queue`, `interrupt`, `object_info`, `ws`),
//! `generation_failed`, `never_finish` and `oom` change nothing.

use std::str::FromStr;

use axum::http::{Method, Uri};
use axum::response::Response;

use super::ComfyUiState;
use super::errors;
pub use crate::faults::FAULT_HEADER;
use crate::faults::{Fault, FaultHost, Injector, RuleEndpoint, parse_fault_with_codes, parse_rule};

/// The HTTP statuses a `status=` fault may name.
const FAULT_CODES: [u16; 4] = [400, 404, 500, 503];

/// Parses one fault (`latency=<ms>`, `timeout`, `reset`,
/// `status=<code>[,retry_after_seconds=<n>]`, `malformed`, `generation_failed`,
/// `never_finish`, `oom`, `restart`), with the statuses above.
pub fn parse_fault(s: &str) -> Result<Fault, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "oom" | "out_of_memory" => return Ok(Fault::Oom),
        "restart" => return Ok(Fault::Restart),
        _ => {}
    }
    parse_fault_with_codes(s, &FAULT_CODES)
        .map_err(|e| if e.starts_with("unknown fault") { format!("{e}; ComfyUI also knows oom, restart") } else { e })
}

/// The endpoints a fault rule can aim at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// `POST /prompt`.
    Prompt,
    /// `GET /history`, `GET /history/{prompt_id}`, `POST /history`.
    History,
    /// `GET /view`.
    View,
    /// `POST /upload/image`.
    Upload,
    /// `GET /queue`, `POST /queue`, `GET /prompt` (the queue's size).
    Queue,
    /// `POST /interrupt`.
    Interrupt,
    /// Discovery: `GET /object_info`, `GET /object_info/{class}`, `GET /models`,
    /// `GET /models/{folder}`, `GET /embeddings`.
    ObjectInfo,
    /// `GET /ws` (the WebSocket handshake).
    Ws,
    /// Anything else (`/system_stats`, `/free`, unknown routes).
    Other,
    /// In a rule: every endpoint.
    Any,
}

impl Endpoint {
    /// Every endpoint a request can go to.
    pub const ALL: [Endpoint; 9] = [
        Endpoint::Prompt,
        Endpoint::History,
        Endpoint::View,
        Endpoint::Upload,
        Endpoint::Queue,
        Endpoint::Interrupt,
        Endpoint::ObjectInfo,
        Endpoint::Ws,
        Endpoint::Other,
    ];

    /// The endpoint a request goes to, by its method and path (with or without `/api`).
    pub fn classify(method: &Method, path: &str) -> Endpoint {
        let path = path.strip_prefix("/api").filter(|rest| rest.starts_with('/')).unwrap_or(path);
        let path = path.trim_end_matches('/');
        let first = path.split('/').nth(1).unwrap_or("");
        match (method.as_str(), first) {
            ("POST", "prompt") if path == "/prompt" => Endpoint::Prompt,
            ("GET", "prompt") if path == "/prompt" => Endpoint::Queue,
            ("GET" | "POST", "queue") if path == "/queue" => Endpoint::Queue,
            ("GET" | "POST", "history") => Endpoint::History,
            ("GET", "view") if path == "/view" => Endpoint::View,
            ("POST", "upload") if path == "/upload/image" => Endpoint::Upload,
            ("POST", "interrupt") if path == "/interrupt" => Endpoint::Interrupt,
            ("GET", "object_info" | "models" | "embeddings") => Endpoint::ObjectInfo,
            ("GET", "ws") if path == "/ws" => Endpoint::Ws,
            _ => Endpoint::Other,
        }
    }

    /// Its counter's name in `/__emulator/stats` (and its name in rules).
    pub fn stats_key(self) -> &'static str {
        match self {
            Endpoint::Prompt => "prompt",
            Endpoint::History => "history",
            Endpoint::View => "view",
            Endpoint::Upload => "upload",
            Endpoint::Queue => "queue",
            Endpoint::Interrupt => "interrupt",
            Endpoint::ObjectInfo => "object_info",
            Endpoint::Ws => "ws",
            Endpoint::Other | Endpoint::Any => "other",
        }
    }
}

impl FromStr for Endpoint {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().replace(['.', '-', '/'], "_").as_str() {
            "prompt" | "submit" => Ok(Endpoint::Prompt),
            "history" | "poll" => Ok(Endpoint::History),
            "view" => Ok(Endpoint::View),
            "upload" | "upload_image" => Ok(Endpoint::Upload),
            "queue" => Ok(Endpoint::Queue),
            "interrupt" => Ok(Endpoint::Interrupt),
            "object_info" | "objectinfo" | "models" => Ok(Endpoint::ObjectInfo),
            "ws" | "websocket" => Ok(Endpoint::Ws),
            "any" | "*" => Ok(Endpoint::Any),
            other => Err(format!(
                "unknown endpoint `{other}` (known: prompt, history, view, upload, queue, interrupt, object_info, ws, \
                 any)"
            )),
        }
    }
}

impl RuleEndpoint for Endpoint {
    fn covers(self, endpoint: Endpoint) -> bool {
        self == Endpoint::Any || self == endpoint
    }

    fn parse_fault(s: &str) -> Result<Fault, String> {
        parse_fault(s)
    }

    const EXAMPLE: &'static str = "prompt:every=3:status=503";
}

/// One rule of a [`FaultPlan`]: on `endpoint`, when `trigger` fires, inject `fault`.
pub type FaultRule = crate::faults::FaultRule<Endpoint>;
/// The faults of a run: rules tried in order, the first that fires wins.
pub type FaultPlan = crate::faults::FaultPlan<Endpoint>;

/// Parses a rule written `ENDPOINT:TRIGGER:FAULT`, e.g. `prompt:first=1:oom`,
/// `prompt:always:never_finish`, `history:every=2:status=500`, `any:p=0.1:latency=200`.
pub fn parse_fault_rule(s: &str) -> Result<FaultRule, String> {
    parse_rule(s)
}

impl FaultHost for ComfyUiState {
    type Endpoint = Endpoint;
    const NAME: &'static str = "comfyui emulator";
    const MALFORMED_BODY: &'static str = "{\"prompt_id\":\"9f3b1c2e-5d4a-4e6f-8a7b-";

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
        errors::text(400, &format!("400: {message}"))
    }

    fn status_answer(endpoint: Endpoint, code: u16) -> Response {
        errors::fault_status(endpoint, code)
    }

    fn reset_unavailable() -> Response {
        errors::internal()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::PlanRunner;

    #[test]
    fn endpoints_are_named_by_path_and_method() {
        let cases = [
            (Method::POST, "/prompt", Endpoint::Prompt),
            (Method::POST, "/api/prompt", Endpoint::Prompt),
            (Method::GET, "/prompt", Endpoint::Queue),
            (Method::GET, "/history/abc", Endpoint::History),
            (Method::GET, "/api/history", Endpoint::History),
            (Method::POST, "/history", Endpoint::History),
            (Method::GET, "/view", Endpoint::View),
            (Method::POST, "/upload/image", Endpoint::Upload),
            (Method::GET, "/queue", Endpoint::Queue),
            (Method::POST, "/queue", Endpoint::Queue),
            (Method::POST, "/interrupt", Endpoint::Interrupt),
            (Method::GET, "/object_info/KSampler", Endpoint::ObjectInfo),
            (Method::GET, "/models/checkpoints", Endpoint::ObjectInfo),
            (Method::GET, "/ws", Endpoint::Ws),
            (Method::GET, "/api/ws", Endpoint::Ws),
            (Method::GET, "/system_stats", Endpoint::Other),
            (Method::GET, "/apiprompt", Endpoint::Other),
            (Method::POST, "/view", Endpoint::Other),
        ];
        for (method, path, endpoint) in cases {
            assert_eq!(Endpoint::classify(&method, path), endpoint, "{method} {path}");
        }
    }

    #[test]
    fn rules_parse_with_comfyui_statuses_oom_and_restart() {
        let plan = FaultPlan::parse("prompt:first=1:oom|history:always:restart|ws:every=2:status=503").expect("plan");
        assert_eq!((plan.rules[0].endpoint, &plan.rules[0].fault), (Endpoint::Prompt, &Fault::Oom));
        assert_eq!((plan.rules[1].endpoint, &plan.rules[1].fault), (Endpoint::History, &Fault::Restart));
        assert_eq!(plan.rules[2].fault, Fault::Status { code: 503, retry_after_seconds: None });
        for code in FAULT_CODES {
            assert!(parse_fault(&format!("status={code}")).is_ok(), "{code}");
        }
        assert!(parse_fault("status=429").is_err());
        assert!(parse_fault("safety").is_err_and(|e| e.contains("oom")));
        assert!(parse_fault_rule("nowhere:always:reset").is_err());

        let mut runner = PlanRunner::new(&FaultPlan::parse("view:every=2:reset").expect("plan"), 1);
        let fired: Vec<bool> = (0..4).map(|_| runner.next(Endpoint::View).is_some()).collect();
        assert_eq!(fired, [false, true, false, true]);
        assert_eq!(runner.next(Endpoint::Prompt), None);
    }
}
