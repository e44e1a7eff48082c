//! AUTOMATIC1111's side of fault injection (`crate::faults` holds the
//! vocabulary, the plans and the middleware, shared with the other
//! emulators): the endpoints a rule can aim at, the statuses a `status=` fault
//! may name, and how the WebUI answers a fault.
//!
//! - `status=<code>[,retry_after_seconds=<n>]` (400, 401, 404, 409, 410, 422,
//!   429, 500, 503): the middleware's `HTTPException` body with the status's
//!   reason phrase (401: "Incorrect username or password" and
//!   `WWW-Authenticate: Basic`), before the credentials are checked or the
//!   request handled.
//! - `latency=<ms>`, `timeout` (held for `timeout_fault_duration`; the
//!   generation does run), `reset` (needs [`super::A1111Emulator::serve`]; a
//!   bare router answers 500), `malformed` (HTTP 200, JSON cut short).
//! - `generation_failed`: a txt2img/img2img samples all its steps, then
//!   answers 500 `NansException`. Elsewhere it changes nothing.
//! - `never_finish`: a txt2img/img2img samples up to its last step and stays
//!   there, holding the queue, until `POST /sdapi/v1/interrupt` (then it
//!   answers its images), a `restart`, or the client leaves. Elsewhere it
//!   changes nothing.
//! - `oom` (the self-hosted servers only): a txt2img/img2img answers 500
//!   `OutOfMemoryError` ("CUDA out of memory. Tried to allocate …") once it
//!   holds the queue, before its first step; any other endpoint answers the
//!   same at once.
//! - `restart` (the self-hosted servers only): the WebUI restarts. On a
//!   txt2img/img2img, once half of its steps are sampled: its connection and
//!   the connections of every request waiting in the queue are dropped
//!   unanswered (as `reset` does; a bare router answers 500 instead), and
//!   progress is idle again. On any other endpoint the restart happens as the
//!   request comes in (whatever generates is lost the same way); the request
//!   itself is then answered, by the restarted server.

use std::str::FromStr;

use axum::http::{Method, Uri};
use axum::response::Response;

use super::A1111State;
use super::errors;
pub use crate::faults::FAULT_HEADER;
use crate::faults::{Adapted, Fault, FaultHost, Injector, RuleEndpoint, parse_fault_with_codes, parse_rule};

/// The HTTP statuses a `status=` fault may name.
const FAULT_CODES: [u16; 9] = [400, 401, 404, 409, 410, 422, 429, 500, 503];

/// Parses one fault (`latency=<ms>`, `timeout`, `reset`,
/// `status=<code>[,retry_after_seconds=<n>]`, `malformed`, `generation_failed`,
/// `never_finish`, `oom`, `restart`), with the statuses above.
pub fn parse_fault(s: &str) -> Result<Fault, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "oom" | "out_of_memory" => return Ok(Fault::Oom),
        "restart" => return Ok(Fault::Restart),
        _ => {}
    }
    parse_fault_with_codes(s, &FAULT_CODES).map_err(|e| {
        if e.starts_with("unknown fault") { format!("{e}; AUTOMATIC1111 also knows oom, restart") } else { e }
    })
}

/// The endpoints a fault rule can aim at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// `POST /sdapi/v1/txt2img`.
    Txt2Img,
    /// `POST /sdapi/v1/img2img`.
    Img2Img,
    /// `GET /sdapi/v1/progress`.
    Progress,
    /// `POST /sdapi/v1/interrupt` (and `POST /sdapi/v1/skip`).
    Interrupt,
    /// The checkpoints, samplers and options: `GET /sdapi/v1/{sd-models,samplers,schedulers,options}`,
    /// `POST /sdapi/v1/{options,refresh-checkpoints}`.
    Models,
    /// Anything else (answered 404 or 405).
    Other,
    /// In a rule: every endpoint.
    Any,
}

impl Endpoint {
    /// Every endpoint a request can go to.
    pub const ALL: [Endpoint; 6] = [
        Endpoint::Txt2Img,
        Endpoint::Img2Img,
        Endpoint::Progress,
        Endpoint::Interrupt,
        Endpoint::Models,
        Endpoint::Other,
    ];

    /// The endpoint a request goes to, by its method and path.
    pub fn classify(method: &Method, path: &str) -> Endpoint {
        let Some(name) = path.strip_prefix("/sdapi/v1/") else { return Endpoint::Other };
        match (method.as_str(), name.trim_end_matches('/')) {
            ("POST", "txt2img") => Endpoint::Txt2Img,
            ("POST", "img2img") => Endpoint::Img2Img,
            ("GET", "progress") => Endpoint::Progress,
            ("POST", "interrupt" | "skip") => Endpoint::Interrupt,
            ("GET", "sd-models" | "samplers" | "schedulers" | "options") => Endpoint::Models,
            ("POST", "options" | "refresh-checkpoints") => Endpoint::Models,
            _ => Endpoint::Other,
        }
    }

    /// Its counter's name in `/__emulator/stats` (and its name in rules).
    pub fn stats_key(self) -> &'static str {
        match self {
            Endpoint::Txt2Img => "txt2img",
            Endpoint::Img2Img => "img2img",
            Endpoint::Progress => "progress",
            Endpoint::Interrupt => "interrupt",
            Endpoint::Models => "models",
            Endpoint::Other | Endpoint::Any => "other",
        }
    }

    /// Whether the endpoint generates (and handles its task faults itself).
    pub(super) fn generates(self) -> bool {
        matches!(self, Endpoint::Txt2Img | Endpoint::Img2Img)
    }
}

impl FromStr for Endpoint {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().replace(['.', '-', '/'], "_").as_str() {
            "txt2img" => Ok(Endpoint::Txt2Img),
            "img2img" => Ok(Endpoint::Img2Img),
            "progress" => Ok(Endpoint::Progress),
            "interrupt" | "skip" => Ok(Endpoint::Interrupt),
            "models" | "sd_models" | "samplers" | "options" => Ok(Endpoint::Models),
            "any" | "*" => Ok(Endpoint::Any),
            other => {
                Err(format!("unknown endpoint `{other}` (known: txt2img, img2img, progress, interrupt, models, any)"))
            }
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

    const EXAMPLE: &'static str = "txt2img:every=3:status=503";
}

/// One rule of a [`FaultPlan`]: on `endpoint`, when `trigger` fires, inject `fault`.
pub type FaultRule = crate::faults::FaultRule<Endpoint>;
/// The faults of a run: rules tried in order, the first that fires wins.
pub type FaultPlan = crate::faults::FaultPlan<Endpoint>;

/// Parses a rule written `ENDPOINT:TRIGGER:FAULT`, e.g. `txt2img:first=1:oom`,
/// `img2img:always:never_finish`, `progress:every=2:status=500`, `any:p=0.1:latency=200`.
pub fn parse_fault_rule(s: &str) -> Result<FaultRule, String> {
    parse_rule(s)
}

impl FaultHost for A1111State {
    type Endpoint = Endpoint;
    const NAME: &'static str = "a1111 emulator";
    const MALFORMED_BODY: &'static str = "{\"images\":[\"iVBORw0KGgo";

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
        errors::http_exception(400, message)
    }

    fn status_answer(_endpoint: Endpoint, code: u16) -> Response {
        errors::fault_status(code)
    }

    fn reset_unavailable() -> Response {
        errors::raised(
            "ConnectionResetError",
            "emulator: the reset fault needs A1111Emulator::serve (no connection to drop)",
        )
    }

    /// Only a generation has memory to run out of while sampling: elsewhere
    /// `oom` answers at once.
    fn adapt(endpoint: Endpoint, fault: Fault) -> Adapted {
        match fault {
            Fault::Oom if !endpoint.generates() => Adapted::Answer(errors::out_of_memory()),
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
            (Method::POST, "/sdapi/v1/txt2img", Endpoint::Txt2Img),
            (Method::POST, "/sdapi/v1/img2img", Endpoint::Img2Img),
            (Method::GET, "/sdapi/v1/txt2img", Endpoint::Other),
            (Method::GET, "/sdapi/v1/progress", Endpoint::Progress),
            (Method::POST, "/sdapi/v1/interrupt", Endpoint::Interrupt),
            (Method::GET, "/sdapi/v1/sd-models", Endpoint::Models),
            (Method::POST, "/sdapi/v1/options", Endpoint::Models),
            (Method::POST, "/sdapi/v1/refresh-checkpoints", Endpoint::Models),
            (Method::GET, "/sdapi/v2/progress", Endpoint::Other),
        ];
        for (method, path, endpoint) in cases {
            assert_eq!(Endpoint::classify(&method, path), endpoint, "{method} {path}");
        }
    }

    #[test]
    fn rules_parse_with_a1111_statuses_oom_and_restart() {
        let plan =
            FaultPlan::parse("txt2img:first=1:oom|img2img:always:restart|progress:every=2:status=401").expect("plan");
        assert_eq!((plan.rules[0].endpoint, &plan.rules[0].fault), (Endpoint::Txt2Img, &Fault::Oom));
        assert_eq!((plan.rules[1].endpoint, &plan.rules[1].fault), (Endpoint::Img2Img, &Fault::Restart));
        assert_eq!(plan.rules[2].fault, Fault::Status { code: 401, retry_after_seconds: None });
        for fault in [Fault::Oom, Fault::Restart] {
            assert_eq!(parse_fault(&fault.to_string()), Ok(fault));
        }
        for code in FAULT_CODES {
            assert!(parse_fault(&format!("status={code}")).is_ok(), "{code}");
        }
        assert!(parse_fault("status=418").is_err());
        assert!(parse_fault("expired").is_err_and(|e| e.contains("restart")));
        assert!(parse_fault_rule("nowhere:always:reset").is_err());

        let mut runner = PlanRunner::new(&FaultPlan::parse("models:every=2:reset").expect("plan"), 1);
        let fired: Vec<bool> = (0..4).map(|_| runner.next(Endpoint::Models).is_some()).collect();
        assert_eq!(fired, [false, true, false, true]);
        assert_eq!(runner.next(Endpoint::Txt2Img), None);
    }
}
