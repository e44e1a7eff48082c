//! VolcEngine's side of fault injection (`crate::faults` holds the vocabulary,
//! the plans and the middleware, shared with the other emulators): the
//! endpoints a rule can aim at (named by the query's `Action`, as the service
//! routes them), the codes a `status=` fault may name, and how the service
//! answers a fault.
//!
//! - `status=<code>[,retry_after_seconds=<n>]`: the business envelope with that
//!   code, `data: null`, and the code's HTTP status (400 for the risk checks and
//!   50400/50215, 429 for 50429/50430, 500 for 50500/50501), without checking
//!   the signature or handling the request.
//! - `latency=<ms>`, `timeout` (held for `timeout_fault_duration`; a submit does
//!   create its task), `reset` (needs [`super::VolcEngineEmulator::serve`]; a bare
//!   router answers 50500), `malformed` (HTTP 200, an envelope cut short).
//! - `generation_failed`: a task ends `done` with the failure code in the outer
//!   envelope; a CVProcess answers that code.
//! - `never_finish`: a task stays `generating`; a CVProcess is held as `timeout`.
//! - `expired` (VolcEngine only): the task answers `expired`.

use std::str::FromStr;

use axum::http::{Method, Uri};
use axum::response::Response;

use super::VolcState;
use super::envelope::{self, INTERNAL_ERROR};
pub use crate::faults::FAULT_HEADER;
use crate::faults::{Adapted, Fault, FaultHost, Injector, RuleEndpoint, parse_fault_with_codes, parse_rule};

/// The business codes a `status=` fault may name.
const FAULT_CODES: [u16; 18] = [
    50411, 50511, 50412, 50512, 50413, 50516, 50517, 50518, 50519, 50520, 50521, 50522, 50429, 50430, 50500, 50501,
    50400, 50215,
];

/// Parses one fault (`latency=<ms>`, `timeout`, `reset`, `status=<code>[,retry_after_seconds=<n>]`,
/// `malformed`, `generation_failed`, `never_finish`, `expired`), with VolcEngine's business codes.
pub fn parse_fault(s: &str) -> Result<Fault, String> {
    if s.trim().eq_ignore_ascii_case("expired") {
        return Ok(Fault::Expired);
    }
    parse_fault_with_codes(s, &FAULT_CODES)
        .map_err(|e| if e.starts_with("unknown fault") { format!("{e}; VolcEngine also knows `expired`") } else { e })
}

/// The endpoints a fault rule can aim at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// `POST /?Action=CVProcess`.
    CvProcess,
    /// `POST /?Action=CVSync2AsyncSubmitTask`.
    SubmitTask,
    /// `POST /?Action=CVSync2AsyncGetResult`.
    GetResult,
    /// `GET /files/<id>.png` (`return_url` results).
    Files,
    /// Anything else (another action, path or method).
    Other,
    /// In a rule: every endpoint.
    Any,
}

impl Endpoint {
    /// Every endpoint a request can go to.
    pub const ALL: [Endpoint; 5] =
        [Endpoint::CvProcess, Endpoint::SubmitTask, Endpoint::GetResult, Endpoint::Files, Endpoint::Other];

    /// The endpoint a request goes to: on `POST /`, by its `Action`.
    pub fn classify(method: &Method, uri: &Uri) -> Endpoint {
        let path = uri.path();
        if path.starts_with("/files/") {
            return if method == Method::GET { Endpoint::Files } else { Endpoint::Other };
        }
        if path != "/" || method != Method::POST {
            return Endpoint::Other;
        }
        match query_value(uri.query().unwrap_or_default(), "Action") {
            Some("CVProcess") => Endpoint::CvProcess,
            Some("CVSync2AsyncSubmitTask") => Endpoint::SubmitTask,
            Some("CVSync2AsyncGetResult") => Endpoint::GetResult,
            _ => Endpoint::Other,
        }
    }

    /// Its counter's name in `/__emulator/stats`.
    pub fn stats_key(self) -> &'static str {
        match self {
            Endpoint::CvProcess => "cv_process",
            Endpoint::SubmitTask => "submit_task",
            Endpoint::GetResult => "get_result",
            Endpoint::Files => "files",
            Endpoint::Other | Endpoint::Any => "other",
        }
    }
}

/// The first value of `name` in a raw query (the actions' names need no decoding).
pub(super) fn query_value<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query.split('&').find_map(|pair| pair.split_once('=').filter(|(k, _)| *k == name).map(|(_, v)| v))
}

impl FromStr for Endpoint {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().replace(['.', '-'], "_").as_str() {
            "cv_process" | "cvprocess" | "process" => Ok(Endpoint::CvProcess),
            "submit_task" | "submit" | "cvsync2asyncsubmittask" => Ok(Endpoint::SubmitTask),
            "get_result" | "poll" | "cvsync2asyncgetresult" => Ok(Endpoint::GetResult),
            "files" | "file" => Ok(Endpoint::Files),
            "any" | "*" => Ok(Endpoint::Any),
            other => {
                Err(format!("unknown endpoint `{other}` (known: cv_process, submit_task, get_result, files, any)"))
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

    const EXAMPLE: &'static str = "submit_task:every=3:status=50429";
}

/// One rule of a [`FaultPlan`]: on `endpoint`, when `trigger` fires, inject `fault`.
pub type FaultRule = crate::faults::FaultRule<Endpoint>;
/// The faults of a run: rules tried in order, the first that fires wins.
pub type FaultPlan = crate::faults::FaultPlan<Endpoint>;

/// Parses a rule written `ENDPOINT:TRIGGER:FAULT`, e.g. `cv_process:first=2:status=50429`,
/// `get_result:always:never_finish`, `submit_task:every=2:generation_failed`, `any:p=0.1:latency=200`.
pub fn parse_fault_rule(s: &str) -> Result<FaultRule, String> {
    parse_rule(s)
}

impl FaultHost for VolcState {
    type Endpoint = Endpoint;
    const NAME: &'static str = "volcengine emulator";
    const MALFORMED_BODY: &'static str = "{\"code\":10000,\"data\":{\"binary_data_base64\":[\"iVBORw0KGgo";

    fn classify(method: &Method, uri: &Uri) -> Endpoint {
        Endpoint::classify(method, uri)
    }

    fn injector(&self) -> &Injector<Endpoint> {
        &self.injector
    }

    fn count_request(&self, endpoint: Endpoint, _uri: &Uri) {
        *self.inner().stats.by_endpoint.entry(endpoint.stats_key()).or_default() += 1;
    }

    fn bad_header(message: &str) -> Response {
        envelope::invalid(message, std::time::Instant::now())
    }

    fn status_answer(_endpoint: Endpoint, code: u16) -> Response {
        envelope::error(code, None, std::time::Instant::now())
    }

    fn reset_unavailable() -> Response {
        envelope::error(
            INTERNAL_ERROR,
            Some("emulator: the reset fault needs VolcEngineEmulator::serve (no connection to drop)"),
            std::time::Instant::now(),
        )
    }

    /// A CVProcess has no task to keep generating: `never_finish` holds it as `timeout` does.
    fn adapt(endpoint: Endpoint, fault: Fault) -> Adapted {
        match fault {
            Fault::NeverFinish if endpoint == Endpoint::CvProcess => Adapted::Apply(Fault::Timeout),
            fault => Adapted::Apply(fault),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::PlanRunner;

    #[test]
    fn endpoints_are_named_by_the_action() {
        let cases = [
            (Method::POST, "/?Action=CVProcess&Version=2022-08-31", Endpoint::CvProcess),
            (Method::POST, "/?Version=2022-08-31&Action=CVSync2AsyncSubmitTask", Endpoint::SubmitTask),
            (Method::POST, "/?Action=CVSync2AsyncGetResult&Version=2022-08-31", Endpoint::GetResult),
            (Method::POST, "/?Action=CVCancelTask&Version=2024-06-06", Endpoint::Other),
            (Method::GET, "/?Action=CVProcess", Endpoint::Other),
            (Method::POST, "/v1?Action=CVProcess", Endpoint::Other),
            (Method::GET, "/files/7000_0.png", Endpoint::Files),
        ];
        for (method, uri, endpoint) in cases {
            assert_eq!(Endpoint::classify(&method, &uri.parse().expect("uri")), endpoint, "{method} {uri}");
        }
    }

    #[test]
    fn rules_parse_with_volcengine_codes() {
        let plan = FaultPlan::parse("submit_task:first=1:status=50429,retry_after_seconds=2|poll:always:expired")
            .expect("plan");
        assert_eq!(plan.rules[0].fault, Fault::Status { code: 50429, retry_after_seconds: Some(2) });
        assert_eq!((plan.rules[1].endpoint, &plan.rules[1].fault), (Endpoint::GetResult, &Fault::Expired));
        for code in FAULT_CODES {
            assert!(parse_fault(&format!("status={code}")).is_ok(), "{code}");
        }
        assert!(parse_fault("status=500").is_err(), "500 is an HTTP status, not a VolcEngine code");
        assert!(parse_fault("explode").is_err_and(|e| e.contains("expired")));
        assert!(parse_fault_rule("nowhere:always:reset").is_err());

        let mut runner = PlanRunner::new(&FaultPlan::parse("cv_process:every=2:reset").expect("plan"), 1);
        let fired: Vec<bool> = (0..4).map(|_| runner.next(Endpoint::CvProcess).is_some()).collect();
        assert_eq!(fired, [false, true, false, true]);
        assert_eq!(runner.next(Endpoint::GetResult), None);
    }
}
