//! sd-server's side of fault injection (`crate::faults` holds the vocabulary,
//! the plans and the middleware, shared with the other emulators): the
//! endpoints a rule can aim at, the statuses a `status=` fault may name, and
//! how the server answers a fault.
//!
//! - `status=<code>[,retry_after_seconds=<n>]` (400, 404, 409, 410, 422, 429,
//!   500, 503): `{"error":"<message>"}` (the server's own message for that
//!   code where it has one), without handling the request.
//! - `latency=<ms>`, `timeout` (held for `timeout_fault_duration`; an
//!   `img_gen` does create its job), `reset` (needs
//!   [`super::SdCppEmulator::serve`]; a bare router answers 500),
//!   `malformed` (HTTP 200, JSON cut short).
//! - `generation_failed`: a job (marked on `img_gen`, or on a poll while it
//!   has not finished) samples its steps, then ends `failed` with
//!   `{"code":"generation_failed","message":"generate_image returned no results"}`;
//!   a synchronous generation (`generations`, `edits`, `txt2img`, `img2img`)
//!   answers 500 `{"error":"generate_image returned no results"}`.
//! - `never_finish`: a job stays `generating` on its last step (holding the
//!   queue behind it; a cancel answers 409) until a `restart`; a synchronous
//!   generation is held as `timeout` is.
//! - `oom` (the self-hosted servers only): a job ends `failed` with code
//!   `generation_failed` and an out-of-memory message once it holds the model,
//!   before its first step; a synchronous generation answers 500 with that
//!   message; any other endpoint but a poll answers it at once.
//! - `restart` (the self-hosted servers only): the server restarts and forgets
//!   every job (a later `GET /sdcpp/v1/jobs/{id}` answers 404). On `img_gen`
//!   the job is accepted (202) and the restart comes once half of its steps
//!   are sampled; on a synchronous generation likewise, and its connection
//!   (and the connections of the synchronous requests waiting for the model)
//!   are dropped unanswered as `reset` does (a bare router answers 500); on
//!   any other endpoint the restart happens as the request comes in, and the
//!   restarted server answers it.

use std::str::FromStr;

use axum::http::{Method, Uri};
use axum::response::Response;

use super::SdCppState;
use super::errors;
pub use crate::faults::FAULT_HEADER;
use crate::faults::{Adapted, Fault, FaultHost, Injector, RuleEndpoint, parse_fault_with_codes, parse_rule};

/// The HTTP statuses a `status=` fault may name.
const FAULT_CODES: [u16; 8] = [400, 404, 409, 410, 422, 429, 500, 503];

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
        .map_err(|e| if e.starts_with("unknown fault") { format!("{e}; sd.cpp also knows oom, restart") } else { e })
}

/// The endpoints a fault rule can aim at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// `POST /v1/images/generations`.
    Generations,
    /// `POST /v1/images/edits`.
    Edits,
    /// `POST /sdapi/v1/txt2img`.
    Txt2Img,
    /// `POST /sdapi/v1/img2img`.
    Img2Img,
    /// `POST /sdcpp/v1/img_gen`.
    ImgGen,
    /// `GET /sdcpp/v1/jobs/{id}`.
    Jobs,
    /// `POST /sdcpp/v1/jobs/{id}/cancel`.
    Cancel,
    /// Anything else (discovery, capabilities, unknown routes).
    Other,
    /// In a rule: every endpoint.
    Any,
}

impl Endpoint {
    /// Every endpoint a request can go to.
    pub const ALL: [Endpoint; 8] = [
        Endpoint::Generations,
        Endpoint::Edits,
        Endpoint::Txt2Img,
        Endpoint::Img2Img,
        Endpoint::ImgGen,
        Endpoint::Jobs,
        Endpoint::Cancel,
        Endpoint::Other,
    ];

    /// The endpoint a request goes to, by its method and path.
    pub fn classify(method: &Method, path: &str) -> Endpoint {
        let path = path.trim_end_matches('/');
        match (method.as_str(), path) {
            ("POST", "/v1/images/generations") => Endpoint::Generations,
            ("POST", "/v1/images/edits") => Endpoint::Edits,
            ("POST", "/sdapi/v1/txt2img") => Endpoint::Txt2Img,
            ("POST", "/sdapi/v1/img2img") => Endpoint::Img2Img,
            ("POST", "/sdcpp/v1/img_gen") => Endpoint::ImgGen,
            _ => match path.strip_prefix("/sdcpp/v1/jobs/").map(|rest| rest.split('/').collect::<Vec<_>>()) {
                Some(parts) if method == Method::GET && parts.len() == 1 => Endpoint::Jobs,
                Some(parts) if method == Method::POST && parts.len() == 2 && parts[1] == "cancel" => Endpoint::Cancel,
                _ => Endpoint::Other,
            },
        }
    }

    /// Its counter's name in `/__emulator/stats` (and its name in rules).
    pub fn stats_key(self) -> &'static str {
        match self {
            Endpoint::Generations => "generations",
            Endpoint::Edits => "edits",
            Endpoint::Txt2Img => "txt2img",
            Endpoint::Img2Img => "img2img",
            Endpoint::ImgGen => "img_gen",
            Endpoint::Jobs => "jobs",
            Endpoint::Cancel => "cancel",
            Endpoint::Other | Endpoint::Any => "other",
        }
    }

    /// Whether the endpoint generates while the client waits.
    pub(super) fn is_synchronous(self) -> bool {
        matches!(self, Endpoint::Generations | Endpoint::Edits | Endpoint::Txt2Img | Endpoint::Img2Img)
    }
}

impl FromStr for Endpoint {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().replace(['.', '-', '/'], "_").as_str() {
            "generations" | "images_generations" => Ok(Endpoint::Generations),
            "edits" | "images_edits" => Ok(Endpoint::Edits),
            "txt2img" => Ok(Endpoint::Txt2Img),
            "img2img" => Ok(Endpoint::Img2Img),
            "img_gen" | "imggen" | "submit" => Ok(Endpoint::ImgGen),
            "jobs" | "job" | "poll" => Ok(Endpoint::Jobs),
            "cancel" => Ok(Endpoint::Cancel),
            "any" | "*" => Ok(Endpoint::Any),
            other => Err(format!(
                "unknown endpoint `{other}` (known: generations, edits, txt2img, img2img, img_gen, jobs, cancel, any)"
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

    const EXAMPLE: &'static str = "img_gen:every=3:status=429";
}

/// One rule of a [`FaultPlan`]: on `endpoint`, when `trigger` fires, inject `fault`.
pub type FaultRule = crate::faults::FaultRule<Endpoint>;
/// The faults of a run: rules tried in order, the first that fires wins.
pub type FaultPlan = crate::faults::FaultPlan<Endpoint>;

/// Parses a rule written `ENDPOINT:TRIGGER:FAULT`, e.g. `img_gen:first=1:oom`,
/// `jobs:always:never_finish`, `generations:every=2:status=500`, `any:p=0.1:latency=200`.
pub fn parse_fault_rule(s: &str) -> Result<FaultRule, String> {
    parse_rule(s)
}

impl FaultHost for SdCppState {
    type Endpoint = Endpoint;
    const NAME: &'static str = "sdcpp emulator";
    const MALFORMED_BODY: &'static str = "{\"created\":1775401200,\"data\":[{\"b64_json\":\"iVBORw0KGgo";

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
        errors::bad_request(message)
    }

    fn status_answer(_endpoint: Endpoint, code: u16) -> Response {
        errors::fault_status(code)
    }

    fn reset_unavailable() -> Response {
        errors::server_error("emulator: the reset fault needs SdCppEmulator::serve (no connection to drop)")
    }

    /// A synchronous generation has no job to keep running: `never_finish`
    /// holds it as `timeout` does. `oom` where nothing generates or is polled
    /// answers at once.
    fn adapt(endpoint: Endpoint, fault: Fault) -> Adapted {
        match fault {
            Fault::NeverFinish if endpoint.is_synchronous() => Adapted::Apply(Fault::Timeout),
            Fault::Oom if matches!(endpoint, Endpoint::Cancel | Endpoint::Other) => {
                Adapted::Answer(errors::error(500, errors::OUT_OF_MEMORY))
            }
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
            (Method::POST, "/v1/images/generations", Endpoint::Generations),
            (Method::POST, "/v1/images/edits", Endpoint::Edits),
            (Method::POST, "/sdapi/v1/txt2img", Endpoint::Txt2Img),
            (Method::POST, "/sdapi/v1/img2img", Endpoint::Img2Img),
            (Method::POST, "/sdcpp/v1/img_gen", Endpoint::ImgGen),
            (Method::GET, "/sdcpp/v1/jobs/job_1_00000001", Endpoint::Jobs),
            (Method::POST, "/sdcpp/v1/jobs/job_1_00000001/cancel", Endpoint::Cancel),
            (Method::POST, "/sdcpp/v1/jobs/job_1_00000001", Endpoint::Other),
            (Method::GET, "/sdcpp/v1/capabilities", Endpoint::Other),
            (Method::GET, "/v1/models", Endpoint::Other),
        ];
        for (method, path, endpoint) in cases {
            assert_eq!(Endpoint::classify(&method, path), endpoint, "{method} {path}");
        }
    }

    #[test]
    fn rules_parse_with_sdcpp_statuses_oom_and_restart() {
        let plan =
            FaultPlan::parse("img_gen:first=1:oom|poll:always:restart|generations:every=2:status=503").expect("plan");
        assert_eq!((plan.rules[0].endpoint, &plan.rules[0].fault), (Endpoint::ImgGen, &Fault::Oom));
        assert_eq!((plan.rules[1].endpoint, &plan.rules[1].fault), (Endpoint::Jobs, &Fault::Restart));
        assert_eq!(plan.rules[2].fault, Fault::Status { code: 503, retry_after_seconds: None });
        for code in FAULT_CODES {
            assert!(parse_fault(&format!("status={code}")).is_ok(), "{code}");
        }
        assert!(parse_fault("status=401").is_err(), "sd-server has no auth");
        assert!(parse_fault("safety").is_err_and(|e| e.contains("oom")));
        assert!(parse_fault_rule("nowhere:always:reset").is_err());

        let mut runner = PlanRunner::new(&FaultPlan::parse("jobs:every=2:reset").expect("plan"), 1);
        let fired: Vec<bool> = (0..4).map(|_| runner.next(Endpoint::Jobs).is_some()).collect();
        assert_eq!(fired, [false, true, false, true]);
        assert_eq!(runner.next(Endpoint::ImgGen), None);
    }
}
