//! Stability's side of fault injection (`crate::faults` holds the vocabulary,
//! the plans and the middleware, shared with the other emulators): the
//! endpoints a rule can aim at (`ultra`, `core`, `sd3`, `any`), the statuses a
//! `status=` fault may name, and how the service answers a fault.
//!
//! - `status=<code>[,retry_after_seconds=<n>]` (400, 401, 402, 403, 413, 422,
//!   429, 500, 503): the error shape (`{"id","name","errors"}`) with the
//!   status's name, without checking the key or handling the request.
//!   `Retry-After` only when `retry_after_seconds` is named (the service's 429
//!   carries no standard one).
//! - `latency=<ms>`, `timeout` (held for `timeout_fault_duration`), `reset`
//!   (needs [`super::StabilityEmulator::serve`]; a bare router answers 500),
//!   `malformed` (HTTP 200, JSON cut short, whatever `accept` asked).
//! - `safety` (`safety=prompt` and `safety=output` too): once the key and the
//!   request are checked, 403 `content_moderation`.
//! - `generation_failed`: once the key and the request are checked, HTTP 200
//!   with `finish-reason: CONTENT_FILTERED` and a plain grey image of the size
//!   asked (the service blurs the picture; grey is the emulator's choice).
//! - `never_finish`: the call is synchronous, so it is held as `timeout`.

use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::http::{Method, Uri};
use axum::response::Response;
use sha2::{Digest, Sha256};

use super::StabilityState;
use super::errors;
pub use crate::faults::FAULT_HEADER;
use crate::faults::{
    Adapted, Fault, FaultHost, Injector, RuleEndpoint, SafetyStage, parse_fault_with_codes, parse_rule,
};

/// The HTTP statuses a `status=` fault may name (the rows of `errors::STATUSES`).
const FAULT_CODES: [u16; 9] = [400, 401, 402, 403, 413, 422, 429, 500, 503];

/// The path every generate endpoint starts with.
pub(super) const GENERATE_PREFIX: &str = "/v2beta/stable-image/generate/";

/// Parses one fault (`latency=<ms>`, `timeout`, `reset`,
/// `status=<code>[,retry_after_seconds=<n>]`, `malformed`, `generation_failed`,
/// `never_finish`, `safety[=prompt|output]`), with Stability's statuses.
pub fn parse_fault(s: &str) -> Result<Fault, String> {
    let trimmed = s.trim().to_ascii_lowercase();
    match trimmed.split_once('=').map(|(name, value)| (name.trim(), value.trim())) {
        None if trimmed == "safety" || trimmed == "content_moderation" => {
            return Ok(Fault::Safety(SafetyStage::Prompt));
        }
        Some(("safety", stage)) => {
            return match stage {
                "prompt" | "input" => Ok(Fault::Safety(SafetyStage::Prompt)),
                "output" | "image" => Ok(Fault::Safety(SafetyStage::Output)),
                other => Err(format!("safety=<stage> takes prompt or output, got `{other}`")),
            };
        }
        _ => {}
    }
    parse_fault_with_codes(s, &FAULT_CODES)
        .map_err(|e| if e.starts_with("unknown fault") { format!("{e}; Stability also knows `safety`") } else { e })
}

/// The endpoints a fault rule can aim at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// `POST /v2beta/stable-image/generate/ultra`.
    Ultra,
    /// `POST /v2beta/stable-image/generate/core`.
    Core,
    /// `POST /v2beta/stable-image/generate/sd3`.
    Sd3,
    /// Anything else (answered 404).
    Other,
    /// In a rule: every endpoint.
    Any,
}

impl Endpoint {
    /// Every endpoint a request can go to.
    pub const ALL: [Endpoint; 4] = [Endpoint::Ultra, Endpoint::Core, Endpoint::Sd3, Endpoint::Other];

    /// The endpoint a request goes to, by its method and path.
    pub fn classify(method: &Method, path: &str) -> Endpoint {
        if method != Method::POST {
            return Endpoint::Other;
        }
        match path.strip_prefix(GENERATE_PREFIX).map(|rest| rest.trim_end_matches('/')) {
            Some("ultra") => Endpoint::Ultra,
            Some("core") => Endpoint::Core,
            Some("sd3") => Endpoint::Sd3,
            _ => Endpoint::Other,
        }
    }

    /// Its counter's name in `/__emulator/stats` (and its name in rules and paths).
    pub fn stats_key(self) -> &'static str {
        match self {
            Endpoint::Ultra => "ultra",
            Endpoint::Core => "core",
            Endpoint::Sd3 => "sd3",
            Endpoint::Other | Endpoint::Any => "other",
        }
    }
}

impl FromStr for Endpoint {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "ultra" => Ok(Endpoint::Ultra),
            "core" => Ok(Endpoint::Core),
            "sd3" => Ok(Endpoint::Sd3),
            "any" | "*" => Ok(Endpoint::Any),
            other => Err(format!("unknown endpoint `{other}` (known: ultra, core, sd3, any)")),
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

    const EXAMPLE: &'static str = "core:every=3:status=429";
}

/// One rule of a [`FaultPlan`]: on `endpoint`, when `trigger` fires, inject `fault`.
pub type FaultRule = crate::faults::FaultRule<Endpoint>;
/// The faults of a run: rules tried in order, the first that fires wins.
pub type FaultPlan = crate::faults::FaultPlan<Endpoint>;

/// Parses a rule written `ENDPOINT:TRIGGER:FAULT`, e.g. `core:first=2:status=429`,
/// `sd3:always:generation_failed`, `ultra:every=2:safety`, `any:p=0.1:latency=200`.
pub fn parse_fault_rule(s: &str) -> Result<FaultRule, String> {
    parse_rule(s)
}

/// A request id for the answers the middleware makes without the state (32
/// hex digits, as the service's look): a digest of a process-wide sequence.
fn fault_request_id() -> String {
    static SEQUENCE: AtomicU64 = AtomicU64::new(1);
    let n = SEQUENCE.fetch_add(1, Ordering::Relaxed);
    super::hex(&Sha256::digest([b"stability-fault".as_slice(), &n.to_le_bytes()].concat())[..16])
}

impl FaultHost for StabilityState {
    type Endpoint = Endpoint;
    const NAME: &'static str = "stability emulator";
    const MALFORMED_BODY: &'static str = "{\"image\":\"iVBORw0KGgoAAAANSUhEUgAA";

    fn classify(method: &Method, uri: &Uri) -> Endpoint {
        Endpoint::classify(method, uri.path())
    }

    fn injector(&self) -> &Injector<Endpoint> {
        &self.injector
    }

    fn count_request(&self, endpoint: Endpoint, _uri: &Uri) {
        *self.inner().by_endpoint.entry(endpoint.stats_key()).or_default() += 1;
    }

    fn bad_header(message: &str) -> Response {
        errors::bad_request(&fault_request_id(), &[message.to_owned()])
    }

    fn status_answer(_endpoint: Endpoint, code: u16) -> Response {
        errors::fault_status(code, &fault_request_id())
    }

    fn reset_unavailable() -> Response {
        errors::error(
            500,
            &fault_request_id(),
            &["emulator: the reset fault needs StabilityEmulator::serve (no connection to drop)".to_owned()],
        )
    }

    /// The call is synchronous: `never_finish` holds it as `timeout` does.
    fn adapt(_endpoint: Endpoint, fault: Fault) -> Adapted {
        match fault {
            Fault::NeverFinish => Adapted::Apply(Fault::Timeout),
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
            (Method::POST, "/v2beta/stable-image/generate/ultra", Endpoint::Ultra),
            (Method::POST, "/v2beta/stable-image/generate/core", Endpoint::Core),
            (Method::POST, "/v2beta/stable-image/generate/sd3", Endpoint::Sd3),
            (Method::GET, "/v2beta/stable-image/generate/core", Endpoint::Other),
            (Method::POST, "/v2beta/stable-image/generate/sdxl", Endpoint::Other),
            (Method::POST, "/v1/generation/x/text-to-image", Endpoint::Other),
        ];
        for (method, path, endpoint) in cases {
            assert_eq!(Endpoint::classify(&method, path), endpoint, "{method} {path}");
        }
    }

    #[test]
    fn rules_parse_with_stability_statuses_and_safety() {
        let plan =
            FaultPlan::parse("core:first=1:status=402|sd3:always:safety|any:always:generation_failed").expect("plan");
        assert_eq!(plan.rules[0].fault, Fault::Status { code: 402, retry_after_seconds: None });
        assert_eq!(
            (plan.rules[1].endpoint, &plan.rules[1].fault),
            (Endpoint::Sd3, &Fault::Safety(SafetyStage::Prompt))
        );
        assert_eq!(plan.rules[2].fault, Fault::GenerationFailed);
        assert_eq!(FAULT_CODES.to_vec(), errors::STATUSES.iter().map(|(code, _, _)| *code).collect::<Vec<_>>());
        for code in FAULT_CODES {
            assert!(parse_fault(&format!("status={code}")).is_ok(), "{code}");
        }
        assert!(parse_fault("status=404").is_err());
        assert!(parse_fault("explode").is_err_and(|e| e.contains("safety")));
        assert!(parse_fault_rule("sdxl:always:reset").is_err());

        let mut runner = PlanRunner::new(&FaultPlan::parse("ultra:every=2:reset").expect("plan"), 1);
        let fired: Vec<bool> = (0..4).map(|_| runner.next(Endpoint::Ultra).is_some()).collect();
        assert_eq!(fired, [false, true, false, true]);
        assert_eq!(runner.next(Endpoint::Core), None);
        assert_ne!(fault_request_id(), fault_request_id());
    }
}
