//! Google's side of fault injection (`crate::faults` holds the vocabulary,
//! the plans and the middleware, shared with the other emulators): the
//! endpoints a rule can aim at, the statuses a `status=` fault may name, and
//! how the Gemini API answers a fault.
//!
//! - `status=<code>[,retry_after_seconds=<n>]` (400, 401, 403, 404, 429, 500,
//!   503, 504): a `google.rpc.Status` with the canonical name, without checking
//!   the key or handling the request. A 429 carries
//!   `details:[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"<n>s"}]`
//!   (n = `retry_after_seconds`, 2 when not named) and `Retry-After` only when
//!   `retry_after_seconds` is named.
//! - `latency=<ms>`, `timeout` (held for `timeout_fault_duration`; a
//!   `predictLongRunning` does create its operation), `reset` (needs
//!   [`super::GoogleEmulator::serve`]; a bare router answers 500), `malformed`
//!   (HTTP 200, JSON cut short).
//! - `generation_failed`: a Veo operation ends `done` with an `error`
//!   (`operation_error_code`, 13 by default); Imagen answers 200 `{}` (no
//!   predictions: every image filtered, no reason given); Gemini answers a
//!   candidate with `finishReason: "OTHER"` and no content.
//! - `never_finish`: a Veo operation never gets `done`; `:predict` and
//!   `:generateContent` are held as with `timeout`.
//! - `safety` (Google only; `safety=prompt` is the same, `safety=output` or
//!   `image_safety` filters the output instead): Imagen answers each prediction
//!   as `{"raiFilteredReason": "…"}` (either stage); Gemini answers
//!   `promptFeedback.blockReason: "SAFETY"` with no candidates (prompt), or a
//!   candidate with `finishReason: "IMAGE_SAFETY"` (`"SAFETY"` for text
//!   output) and no content (output); a Veo operation ends `done` with
//!   `raiMediaFilteredCount`/`raiMediaFilteredReasons` and no samples (either
//!   stage).
//!
//! Task faults (`generation_failed`, `never_finish`, `safety`) on a file
//! download change nothing.

use std::str::FromStr;

use axum::http::{Method, Uri};
use axum::response::Response;

use super::GoogleState;
use super::errors;
pub use crate::faults::FAULT_HEADER;
use crate::faults::{
    Adapted, Fault, FaultHost, Injector, RuleEndpoint, SafetyStage, parse_fault_with_codes, parse_rule,
};

/// The HTTP statuses a `status=` fault may name (the rows of `errors::STATUSES`).
const FAULT_CODES: [u16; 8] = [400, 401, 403, 404, 429, 500, 503, 504];

/// Parses one fault (`latency=<ms>`, `timeout`, `reset`,
/// `status=<code>[,retry_after_seconds=<n>]`, `malformed`, `generation_failed`,
/// `never_finish`, `safety[=prompt|output]`, `image_safety`), with Google's statuses.
pub fn parse_fault(s: &str) -> Result<Fault, String> {
    let trimmed = s.trim().to_ascii_lowercase();
    match trimmed.split_once('=').map(|(name, value)| (name.trim(), value.trim())) {
        None if trimmed == "safety" => return Ok(Fault::Safety(SafetyStage::Prompt)),
        None if trimmed == "image_safety" => return Ok(Fault::Safety(SafetyStage::Output)),
        Some(("safety", stage)) => {
            return match stage {
                "prompt" | "input" => Ok(Fault::Safety(SafetyStage::Prompt)),
                "output" | "image" => Ok(Fault::Safety(SafetyStage::Output)),
                other => Err(format!("safety=<stage> takes prompt or output, got `{other}`")),
            };
        }
        _ => {}
    }
    parse_fault_with_codes(s, &FAULT_CODES).map_err(|e| {
        if e.starts_with("unknown fault") { format!("{e}; Google also knows `safety[=prompt|output]`") } else { e }
    })
}

/// The endpoints a fault rule can aim at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// `POST /v1beta/models/{model}:predict` (Imagen).
    Predict,
    /// `POST /v1beta/models/{model}:predictLongRunning` (Veo).
    PredictLongRunning,
    /// `GET /v1beta/models/{model}/operations/{id}` and `GET /v1beta/operations/{id}`.
    Operations,
    /// `POST /v1beta/models/{model}:generateContent` (Gemini).
    GenerateContent,
    /// `GET /v1beta/files/{id}:download` and the keyless URLs it may redirect to.
    Files,
    /// Anything else (answered 404 or 405).
    Other,
    /// In a rule: every endpoint.
    Any,
}

impl Endpoint {
    /// Every endpoint a request can go to.
    pub const ALL: [Endpoint; 6] = [
        Endpoint::Predict,
        Endpoint::PredictLongRunning,
        Endpoint::Operations,
        Endpoint::GenerateContent,
        Endpoint::Files,
        Endpoint::Other,
    ];

    /// The endpoint a request goes to, by its method and path (`%3A` read as `:`).
    pub fn classify(method: &Method, path: &str) -> Endpoint {
        let path = path.replace("%3A", ":").replace("%3a", ":");
        if path.starts_with(super::files::STORAGE_PREFIX) {
            return if method == Method::GET { Endpoint::Files } else { Endpoint::Other };
        }
        let Some(rest) = path.strip_prefix("/v1beta/") else { return Endpoint::Other };
        let segments: Vec<&str> = rest.split('/').collect();
        match (method.as_str(), segments.as_slice()) {
            ("POST", ["models", call]) => match call.rsplit_once(':').map(|(_, method)| method) {
                Some("predict") => Endpoint::Predict,
                Some("predictLongRunning") => Endpoint::PredictLongRunning,
                Some("generateContent") => Endpoint::GenerateContent,
                _ => Endpoint::Other,
            },
            ("GET", ["models", _, "operations", _] | ["operations", _]) => Endpoint::Operations,
            ("GET", ["files", call]) if call.ends_with(":download") => Endpoint::Files,
            _ => Endpoint::Other,
        }
    }

    /// Its counter's name in `/__emulator/stats` (and its name in rules).
    pub fn stats_key(self) -> &'static str {
        match self {
            Endpoint::Predict => "predict",
            Endpoint::PredictLongRunning => "predict_long_running",
            Endpoint::Operations => "operations",
            Endpoint::GenerateContent => "generate_content",
            Endpoint::Files => "files",
            Endpoint::Other | Endpoint::Any => "other",
        }
    }

    /// Whether the endpoint answers at once, with no operation to mark.
    fn is_synchronous(self) -> bool {
        matches!(self, Endpoint::Predict | Endpoint::GenerateContent)
    }
}

impl FromStr for Endpoint {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().replace(['.', '-', '/'], "_").as_str() {
            "predict" | "imagen" => Ok(Endpoint::Predict),
            "predict_long_running" | "predictlongrunning" | "veo" => Ok(Endpoint::PredictLongRunning),
            "operations" | "operation" | "poll" | "get_operation" => Ok(Endpoint::Operations),
            "generate_content" | "generatecontent" | "gemini" => Ok(Endpoint::GenerateContent),
            "files" | "file" | "download" => Ok(Endpoint::Files),
            "any" | "*" => Ok(Endpoint::Any),
            other => Err(format!(
                "unknown endpoint `{other}` (known: predict, predict_long_running, operations, generate_content, \
                 files, any)"
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

    const EXAMPLE: &'static str = "generate_content:every=3:status=429";
}

/// One rule of a [`FaultPlan`]: on `endpoint`, when `trigger` fires, inject `fault`.
pub type FaultRule = crate::faults::FaultRule<Endpoint>;
/// The faults of a run: rules tried in order, the first that fires wins.
pub type FaultPlan = crate::faults::FaultPlan<Endpoint>;

/// Parses a rule written `ENDPOINT:TRIGGER:FAULT`, e.g.
/// `predict:first=2:status=429,retry_after_seconds=1`, `operations:always:never_finish`,
/// `generate_content:every=2:safety`, `any:p=0.1:latency=200`.
pub fn parse_fault_rule(s: &str) -> Result<FaultRule, String> {
    parse_rule(s)
}

impl FaultHost for GoogleState {
    type Endpoint = Endpoint;
    const NAME: &'static str = "google emulator";
    const MALFORMED_BODY: &'static str = "{\"predictions\":[{\"bytesBase64Encoded\":\"iVBORw0KGgo";

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
        errors::invalid(message)
    }

    fn status_answer(_endpoint: Endpoint, code: u16) -> Response {
        errors::fault_status(code, None)
    }

    fn reset_unavailable() -> Response {
        errors::internal("emulator: the reset fault needs GoogleEmulator::serve (no connection to drop)")
    }

    /// A status fault is answered here so that a 429's `RetryInfo` can say the
    /// fault's `retry_after_seconds`; a synchronous call has no operation to
    /// keep running, so `never_finish` holds it as `timeout` does.
    fn adapt(endpoint: Endpoint, fault: Fault) -> Adapted {
        match fault {
            Fault::Status { code, retry_after_seconds } => {
                Adapted::Answer(errors::fault_status(code, retry_after_seconds))
            }
            Fault::NeverFinish if endpoint.is_synchronous() => Adapted::Apply(Fault::Timeout),
            fault => Adapted::Apply(fault),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::PlanRunner;

    #[test]
    fn endpoints_are_named_by_path_and_method() {
        let cases = [
            (Method::POST, "/v1beta/models/imagen-4.0-generate-001:predict", Endpoint::Predict),
            (Method::POST, "/v1beta/models/veo-3.0-generate-001:predictLongRunning", Endpoint::PredictLongRunning),
            (Method::POST, "/v1beta/models/gemini-2.5-flash%3AgenerateContent", Endpoint::GenerateContent),
            (Method::POST, "/v1beta/models/gemini-2.5-flash:countTokens", Endpoint::Other),
            (Method::GET, "/v1beta/models/veo-3.0-generate-001/operations/abc", Endpoint::Operations),
            (Method::GET, "/v1beta/operations/abc", Endpoint::Operations),
            (Method::GET, "/v1beta/files/abc:download", Endpoint::Files),
            (Method::GET, "/v1beta/files/abc", Endpoint::Other),
            (Method::GET, "/__storage/abc.mp4", Endpoint::Files),
            (Method::GET, "/v1/models/gemini-2.5-flash:generateContent", Endpoint::Other),
        ];
        for (method, path, endpoint) in cases {
            assert_eq!(Endpoint::classify(&method, path), endpoint, "{method} {path}");
        }
    }

    #[test]
    fn rules_parse_with_google_statuses_and_safety() {
        let plan = FaultPlan::parse(
            "predict:first=1:status=429,retry_after_seconds=2|poll:always:safety|gemini:always:safety=output",
        )
        .expect("plan");
        assert_eq!(plan.rules[0].fault, Fault::Status { code: 429, retry_after_seconds: Some(2) });
        assert_eq!(
            (plan.rules[1].endpoint, &plan.rules[1].fault),
            (Endpoint::Operations, &Fault::Safety(SafetyStage::Prompt))
        );
        assert_eq!(plan.rules[2].fault, Fault::Safety(SafetyStage::Output));
        assert_eq!(parse_fault("IMAGE_SAFETY"), Ok(Fault::Safety(SafetyStage::Output)));
        assert_eq!(Fault::Safety(SafetyStage::Output).to_string(), "safety=output");
        assert_eq!(
            parse_fault(&Fault::Safety(SafetyStage::Output).to_string()),
            Ok(Fault::Safety(SafetyStage::Output))
        );
        assert_eq!(FAULT_CODES.to_vec(), errors::STATUSES.iter().map(|(code, _, _)| *code).collect::<Vec<_>>());
        for code in FAULT_CODES {
            assert!(parse_fault(&format!("status={code}")).is_ok(), "{code}");
        }
        assert!(parse_fault("status=402").is_err());
        assert!(parse_fault("safety=maybe").is_err());
        assert!(parse_fault("explode").is_err_and(|e| e.contains("safety")));
        assert!(parse_fault_rule("nowhere:always:reset").is_err());

        let mut runner = PlanRunner::new(&FaultPlan::parse("files:every=2:reset").expect("plan"), 1);
        let fired: Vec<bool> = (0..4).map(|_| runner.next(Endpoint::Files).is_some()).collect();
        assert_eq!(fired, [false, true, false, true]);
        assert_eq!(runner.next(Endpoint::Predict), None);
    }
}
