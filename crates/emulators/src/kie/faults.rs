//! Fault injection: what can go wrong, when it goes wrong, and the middleware
//! that makes it go wrong.
//!
//! A fault comes either from the run's [`FaultPlan`] (rules matched against
//! each request, seeded so a run repeats exactly) or from the request itself,
//! through the `X-Emulator-Fault` header; the header wins.
//!
//! What each fault does to the request:
//! - `latency=<ms>`: waits, then handles the request normally.
//! - `timeout`: handles the request (a createTask does create the task), then
//!   holds the answer for [`KieEmulatorConfig::timeout_fault_duration`](super::KieEmulatorConfig)
//!   (120 s by default), longer than any sane client timeout.
//! - `reset`: closes the connection without an answer; the request is not
//!   handled. Needs [`KieEmulator::serve`](super::KieEmulator::serve): through a
//!   bare router it answers HTTP 500 with a note instead.
//! - `status=<code>[,retry_after_seconds=<n>]`: answers the Kie envelope with
//!   that code (HTTP status equal to it) without handling the request;
//!   `Retry-After` only when asked for.
//! - `malformed`: handles the request, then answers HTTP 200 with a body that
//!   is not JSON.
//! - `generation_failed` / `never_finish`: on a createTask (or a recordInfo),
//!   marks the task so that it ends in `fail` (failCode "500") or stays
//!   `generating` forever.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::{KieState, envelope_error};

/// The request header that asks for a fault on this one request.
pub const FAULT_HEADER: &str = "x-emulator-fault";

/// The Kie codes a `status=` fault may name (every non-success code of the
/// protocol's `ApiResponse` enum).
const FAULT_CODES: [u16; 13] = [400, 401, 402, 404, 408, 422, 429, 433, 451, 455, 500, 501, 505];

/// One thing that goes wrong with a request.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Wait this long before handling the request.
    Latency(Duration),
    /// Handle the request, then hold the answer for the configured timeout duration.
    Timeout,
    /// Close the connection without answering.
    Reset,
    /// Answer the Kie envelope with this code (HTTP status equal to it).
    Status {
        /// The `code` (and HTTP status).
        code: u16,
        /// Adds `Retry-After: <n>` when set.
        retry_after_seconds: Option<u64>,
    },
    /// Handle the request, then answer HTTP 200 with invalid JSON.
    Malformed,
    /// The task ends in `fail` (failCode "500", failMsg "Internal server error").
    GenerationFailed,
    /// The task stays `generating` forever.
    NeverFinish,
}

impl Fault {
    /// Whether this fault marks a task instead of changing the answer.
    pub fn is_task_fault(&self) -> bool {
        matches!(self, Fault::GenerationFailed | Fault::NeverFinish)
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Latency(d) => write!(f, "latency={}", d.as_millis()),
            Fault::Timeout => f.write_str("timeout"),
            Fault::Reset => f.write_str("reset"),
            Fault::Status { code, retry_after_seconds: None } => write!(f, "status={code}"),
            Fault::Status { code, retry_after_seconds: Some(n) } => {
                write!(f, "status={code},retry_after_seconds={n}")
            }
            Fault::Malformed => f.write_str("malformed"),
            Fault::GenerationFailed => f.write_str("generation_failed"),
            Fault::NeverFinish => f.write_str("never_finish"),
        }
    }
}

impl FromStr for Fault {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_fault(s)
    }
}

/// Parses one fault, as written in the `X-Emulator-Fault` header or a CLI flag:
/// `latency=<ms>`, `timeout`, `reset`, `status=<code>` (optionally followed by
/// `,retry_after_seconds=<n>`; `;` or a space also separate), `malformed`,
/// `generation_failed`, `never_finish`. Names are case-insensitive.
pub fn parse_fault(s: &str) -> Result<Fault, String> {
    parse_fault_with_codes(s, &FAULT_CODES)
}

/// As [`parse_fault`], with `status=` limited to `codes` (each emulator has its
/// protocol's codes).
pub(crate) fn parse_fault_with_codes(s: &str, codes: &[u16]) -> Result<Fault, String> {
    let mut parts = s.split([',', ';', ' ']).map(str::trim).filter(|p| !p.is_empty());
    let first = parts.next().ok_or_else(|| "empty fault".to_string())?;
    let (name, value) = match first.split_once('=') {
        Some((n, v)) => (n.trim().to_ascii_lowercase(), Some(v.trim())),
        None => (first.to_ascii_lowercase(), None),
    };
    let rest: Vec<&str> = parts.collect();
    let no_options = |fault: Fault| -> Result<Fault, String> {
        if rest.is_empty() {
            Ok(fault)
        } else {
            Err(format!("fault `{name}` takes no options, got `{}`", rest.join(",")))
        }
    };
    let no_value = |fault: Fault| -> Result<Fault, String> {
        match value {
            Some(v) => Err(format!("fault `{name}` takes no value, got `{v}`")),
            None => no_options(fault),
        }
    };
    match name.as_str() {
        "latency" => {
            let ms = value.ok_or("latency needs a value in milliseconds: latency=<ms>")?;
            let ms: u64 =
                ms.parse().map_err(|_| format!("latency must be a whole number of milliseconds, got `{ms}`"))?;
            no_options(Fault::Latency(Duration::from_millis(ms)))
        }
        "timeout" => no_value(Fault::Timeout),
        "reset" => no_value(Fault::Reset),
        "malformed" => no_value(Fault::Malformed),
        "generation_failed" => no_value(Fault::GenerationFailed),
        "never_finish" => no_value(Fault::NeverFinish),
        "status" => {
            let code = value.ok_or("status needs a code: status=<code>")?;
            let code: u16 = code.parse().map_err(|_| format!("status must be a number, got `{code}`"))?;
            if !codes.contains(&code) {
                return Err(format!("status must be one of {codes:?}, got {code}"));
            }
            let mut retry_after_seconds = None;
            for option in rest {
                match option.split_once('=') {
                    Some((k, v)) if k.trim().eq_ignore_ascii_case("retry_after_seconds") => {
                        let v = v.trim();
                        let n: u64 =
                            v.parse().map_err(|_| format!("retry_after_seconds must be a whole number, got `{v}`"))?;
                        retry_after_seconds = Some(n);
                    }
                    _ => return Err(format!("unknown status option `{option}` (known: retry_after_seconds=<n>)")),
                }
            }
            Ok(Fault::Status { code, retry_after_seconds })
        }
        other => Err(format!(
            "unknown fault `{other}` (known: latency=<ms>, timeout, reset, status=<code>[,retry_after_seconds=<n>], \
             malformed, generation_failed, never_finish)"
        )),
    }
}

/// The endpoints a fault rule can aim at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// `POST /api/v1/jobs/createTask`.
    CreateTask,
    /// `GET /api/v1/jobs/recordInfo`.
    RecordInfo,
    /// `POST /api/v1/veo/generate`.
    VeoGenerate,
    /// `GET /api/v1/veo/record-info`.
    VeoRecordInfo,
    /// `GET /api/v1/veo/get-1080p-video`.
    Veo1080p,
    /// `POST /api/v1/mj/generate`.
    MjGenerate,
    /// `GET /api/v1/mj/record-info`.
    MjRecordInfo,
    /// `POST /api/file-stream-upload`.
    FileStreamUpload,
    /// `POST /api/file-url-upload`.
    FileUrlUpload,
    /// `POST /api/file-base64-upload`.
    FileBase64Upload,
    /// `GET /api/v1/chat/credit`.
    Credit,
    /// `GET /files/...` (result files) and `GET /uploads/...` (uploaded files).
    Files,
    /// Any other path (answered 404).
    Other,
    /// In a rule: every endpoint.
    Any,
}

impl Endpoint {
    /// The endpoint a request goes to.
    pub fn classify(method: &Method, path: &str) -> Endpoint {
        match (method.as_str(), path) {
            ("POST", "/api/v1/jobs/createTask") => Endpoint::CreateTask,
            ("GET", "/api/v1/jobs/recordInfo") => Endpoint::RecordInfo,
            ("POST", "/api/v1/veo/generate") => Endpoint::VeoGenerate,
            ("GET", "/api/v1/veo/record-info") => Endpoint::VeoRecordInfo,
            ("GET", "/api/v1/veo/get-1080p-video") => Endpoint::Veo1080p,
            ("POST", "/api/v1/mj/generate") => Endpoint::MjGenerate,
            ("GET", "/api/v1/mj/record-info") => Endpoint::MjRecordInfo,
            ("POST", "/api/file-stream-upload") => Endpoint::FileStreamUpload,
            ("POST", "/api/file-url-upload") => Endpoint::FileUrlUpload,
            ("POST", "/api/file-base64-upload") => Endpoint::FileBase64Upload,
            ("GET", "/api/v1/chat/credit") => Endpoint::Credit,
            ("GET", p) if p.starts_with("/files/") || p.starts_with("/uploads/") => Endpoint::Files,
            _ => Endpoint::Other,
        }
    }

    /// The upload API answers `{success, code, msg}`.
    pub(super) fn is_upload(self) -> bool {
        matches!(self, Endpoint::FileStreamUpload | Endpoint::FileUrlUpload | Endpoint::FileBase64Upload)
    }
}

impl FromStr for Endpoint {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "createtask" | "create_task" | "create" => Ok(Endpoint::CreateTask),
            "recordinfo" | "record_info" | "poll" => Ok(Endpoint::RecordInfo),
            "veogenerate" | "veo_generate" => Ok(Endpoint::VeoGenerate),
            "veorecordinfo" | "veo_record_info" => Ok(Endpoint::VeoRecordInfo),
            "veo1080p" | "veo_1080p" | "get1080pvideo" => Ok(Endpoint::Veo1080p),
            "mjgenerate" | "mj_generate" => Ok(Endpoint::MjGenerate),
            "mjrecordinfo" | "mj_record_info" => Ok(Endpoint::MjRecordInfo),
            "filestreamupload" | "stream_upload" => Ok(Endpoint::FileStreamUpload),
            "fileurlupload" | "url_upload" => Ok(Endpoint::FileUrlUpload),
            "filebase64upload" | "base64_upload" => Ok(Endpoint::FileBase64Upload),
            "credit" | "credits" => Ok(Endpoint::Credit),
            "files" | "file" => Ok(Endpoint::Files),
            "any" | "*" => Ok(Endpoint::Any),
            other => Err(format!(
                "unknown endpoint `{other}` (known: createTask, recordInfo, veoGenerate, veoRecordInfo, veo1080p, \
                 mjGenerate, mjRecordInfo, fileStreamUpload, fileUrlUpload, fileBase64Upload, credit, files, any)"
            )),
        }
    }
}

/// When a rule fires, counted over the requests to the rule's endpoint.
#[derive(Debug, Clone, PartialEq)]
pub enum Trigger {
    /// Every request.
    Always,
    /// The Nth, 2Nth, 3Nth… request (N ≥ 1).
    EveryNth(u32),
    /// The first K requests.
    FirstK(u32),
    /// Each request with this probability, drawn from the run's seed.
    Probability(f64),
}

impl Trigger {
    /// Whether the trigger fires on the `seen`-th request (from 1).
    pub(crate) fn fires(&self, seen: u64, rng: &mut StdRng) -> bool {
        match *self {
            Trigger::Always => true,
            Trigger::EveryNth(n) => seen.is_multiple_of(u64::from(n)),
            Trigger::FirstK(k) => seen <= u64::from(k),
            Trigger::Probability(p) => rng.random::<f64>() < p,
        }
    }
}

/// The random stream of a plan's `index`-th rule under `seed`.
pub(crate) fn rule_rng(seed: u64, index: usize) -> StdRng {
    StdRng::seed_from_u64(seed ^ (index as u64).wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

impl FromStr for Trigger {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim().to_ascii_lowercase();
        if s == "always" {
            return Ok(Trigger::Always);
        }
        let (name, value) = s.split_once('=').ok_or_else(|| format!("unknown trigger `{s}`"))?;
        match name.trim() {
            "every" => match value.trim().parse::<u32>() {
                Ok(n) if n >= 1 => Ok(Trigger::EveryNth(n)),
                _ => Err(format!("every=<n> needs a whole number ≥ 1, got `{value}`")),
            },
            "first" => value
                .trim()
                .parse::<u32>()
                .map(Trigger::FirstK)
                .map_err(|_| format!("first=<k> needs a whole number, got `{value}`")),
            "p" | "prob" | "probability" => match value.trim().parse::<f64>() {
                Ok(p) if (0.0..=1.0).contains(&p) => Ok(Trigger::Probability(p)),
                _ => Err(format!("p=<probability> needs a number in [0, 1], got `{value}`")),
            },
            other => Err(format!("unknown trigger `{other}` (known: always, every=<n>, first=<k>, p=<probability>)")),
        }
    }
}

/// The endpoints of one emulator, as fault rules name them: what every emulator's
/// plan needs from its own endpoint type.
pub trait RuleEndpoint: Copy + FromStr<Err = String> {
    /// Whether a rule naming `self` watches requests to `endpoint` (`any` watches all).
    fn covers(self, endpoint: Self) -> bool;
    /// Parses a fault with this emulator's status codes.
    fn parse_fault(s: &str) -> Result<Fault, String>;
    /// An example rule, for error messages.
    const EXAMPLE: &'static str;
}

impl RuleEndpoint for Endpoint {
    fn covers(self, endpoint: Endpoint) -> bool {
        self == Endpoint::Any || self == endpoint
    }

    fn parse_fault(s: &str) -> Result<Fault, String> {
        parse_fault(s)
    }

    const EXAMPLE: &'static str = "createTask:every=3:status=500";
}

/// One rule of a [`FaultPlan`]: on `endpoint`, when `trigger` fires, inject `fault`.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultRule<E = Endpoint> {
    /// The endpoint the rule watches (`any` for all).
    pub endpoint: E,
    /// When it fires.
    pub trigger: Trigger,
    /// What it injects.
    pub fault: Fault,
}

impl<E: RuleEndpoint> FromStr for FaultRule<E> {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_rule(s)
    }
}

/// Parses a Kie rule written `ENDPOINT:TRIGGER:FAULT`, e.g.
/// `createTask:every=3:status=500`, `recordInfo:first=2:reset`,
/// `any:p=0.1:latency=200`, `createTask:always:generation_failed`.
pub fn parse_fault_rule(s: &str) -> Result<FaultRule, String> {
    parse_rule(s)
}

/// Parses a rule `ENDPOINT:TRIGGER:FAULT` for any emulator's endpoints.
pub fn parse_rule<E: RuleEndpoint>(s: &str) -> Result<FaultRule<E>, String> {
    let mut parts = s.splitn(3, ':');
    let (Some(endpoint), Some(trigger), Some(fault)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(format!("a fault rule is ENDPOINT:TRIGGER:FAULT (e.g. {}), got `{s}`", E::EXAMPLE));
    };
    Ok(FaultRule { endpoint: endpoint.parse()?, trigger: trigger.parse()?, fault: E::parse_fault(fault)? })
}

/// The faults of a run: rules tried in order, the first that fires wins.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultPlan<E = Endpoint> {
    /// The rules, in order.
    pub rules: Vec<FaultRule<E>>,
}

impl<E> Default for FaultPlan<E> {
    fn default() -> Self {
        Self { rules: Vec::new() }
    }
}

impl<E: RuleEndpoint> FaultPlan<E> {
    /// A plan with no faults.
    pub fn none() -> Self {
        Self::default()
    }

    /// Adds a rule.
    pub fn with(mut self, rule: FaultRule<E>) -> Self {
        self.rules.push(rule);
        self
    }

    /// Parses a plan from rules separated by `|` or newlines.
    pub fn parse(s: &str) -> Result<Self, String> {
        let rules = s.split(['|', '\n']).map(str::trim).filter(|r| !r.is_empty()).map(parse_rule);
        Ok(FaultPlan { rules: rules.collect::<Result<_, _>>()? })
    }
}

impl<E: RuleEndpoint> FromStr for FaultPlan<E> {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        FaultPlan::parse(s)
    }
}

/// A plan in motion: per-rule request counters and seeded random streams.
pub(crate) struct PlanRunner<E = Endpoint> {
    rules: Vec<(FaultRule<E>, u64, StdRng)>,
}

impl<E: RuleEndpoint + PartialEq> PlanRunner<E> {
    pub(crate) fn new(plan: &FaultPlan<E>, seed: u64) -> Self {
        let rules = plan.rules.iter().enumerate().map(|(i, rule)| (rule.clone(), 0, rule_rng(seed, i))).collect();
        PlanRunner { rules }
    }

    /// The fault for the next request to `endpoint`, if a rule fires. Every
    /// matching rule counts the request, so triggers do not depend on order.
    pub(crate) fn next(&mut self, endpoint: E) -> Option<Fault> {
        let mut chosen = None;
        for (rule, seen, rng) in &mut self.rules {
            if !rule.endpoint.covers(endpoint) {
                continue;
            }
            *seen += 1;
            if rule.trigger.fires(*seen, rng) && chosen.is_none() {
                chosen = Some(rule.fault.clone());
            }
        }
        chosen
    }
}

/// A task fault handed from the middleware to the handler that creates or polls the task.
#[derive(Debug, Clone)]
pub(super) struct TaskFault(pub(super) Fault);

/// Lets a handler drop the connection it is answering on (set by `serve`).
#[derive(Clone)]
pub(crate) struct ConnectionKill(pub(crate) Arc<tokio::sync::Notify>);

/// The message that goes with a code in an injected error.
pub(super) fn message_for(code: u16, endpoint: Endpoint) -> &'static str {
    match code {
        400 => "Bad request",
        401 => "You do not have access permissions",
        402 => "Insufficient credits",
        404 if matches!(endpoint, Endpoint::RecordInfo | Endpoint::VeoRecordInfo | Endpoint::MjRecordInfo) => {
            "Task not found"
        }
        404 => "Not found",
        408 => "Upstream gave no result in time",
        422 => "Validation error",
        429 => "Rate limit exceeded",
        433 => "Sub-key usage limit exceeded",
        451 => "Failed to fetch the image",
        455 => "Service unavailable: under maintenance",
        500 => "Internal server error",
        501 => "Generation failed",
        505 => "Feature disabled",
        _ => "Error",
    }
}

/// Counts each request, picks its fault (header first, then the plan), and applies it.
pub(super) async fn middleware(State(state): State<Arc<KieState>>, mut request: Request, next: Next) -> Response {
    let endpoint = Endpoint::classify(request.method(), request.uri().path());
    state.count_request(endpoint, request.uri().query());

    let from_header = match request.headers().get(FAULT_HEADER) {
        None => None,
        Some(value) => match value.to_str().map_err(|_| "not ASCII".to_string()).and_then(parse_fault) {
            Ok(fault) => Some(fault),
            Err(e) => return envelope_error(400, &format!("invalid {FAULT_HEADER} header: {e}")),
        },
    };
    // The plan sees every request, so "every Nth" counts requests, not just unfaulted ones.
    let planned = state.plan_fault(endpoint);
    let fault = from_header.or(planned);
    let Some(fault) = fault else {
        return next.run(request).await;
    };
    tracing::debug!(fault = %fault, endpoint = ?endpoint, "kie emulator: injecting a fault");
    state.count_fault(&fault);

    match fault {
        Fault::Latency(delay) => {
            tokio::time::sleep(delay).await;
            next.run(request).await
        }
        Fault::Timeout => {
            let response = next.run(request).await;
            tokio::time::sleep(state.config.timeout_fault_duration).await;
            response
        }
        Fault::Reset => match request.extensions().get::<ConnectionKill>() {
            Some(kill) => {
                kill.0.notify_one();
                // The connection task drops this future together with the connection.
                std::future::pending::<Response>().await
            }
            None => envelope_error(500, "emulator: the reset fault needs KieEmulator::serve (no connection to drop)"),
        },
        Fault::Status { code, retry_after_seconds } => {
            let mut response = if endpoint.is_upload() {
                super::upload::upload_error(code, message_for(code, endpoint))
            } else {
                envelope_error(code, message_for(code, endpoint))
            };
            if let Some(n) = retry_after_seconds {
                response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(n));
            }
            response
        }
        Fault::Malformed => {
            let _ = next.run(request).await;
            let mut response =
                (StatusCode::OK, Body::from("{\"code\":200,\"msg\":\"success\",\"data\":{\"taskId\":")).into_response();
            response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            response
        }
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
    fn parses_every_fault() {
        assert_eq!(parse_fault("latency=250"), Ok(Fault::Latency(Duration::from_millis(250))));
        assert_eq!(parse_fault("timeout"), Ok(Fault::Timeout));
        assert_eq!(parse_fault("RESET"), Ok(Fault::Reset));
        assert_eq!(parse_fault("status=500"), Ok(Fault::Status { code: 500, retry_after_seconds: None }));
        assert_eq!(
            parse_fault("status=429,retry_after_seconds=7"),
            Ok(Fault::Status { code: 429, retry_after_seconds: Some(7) })
        );
        assert_eq!(
            parse_fault("status=429; retry_after_seconds=7"),
            Ok(Fault::Status { code: 429, retry_after_seconds: Some(7) })
        );
        assert_eq!(parse_fault("malformed"), Ok(Fault::Malformed));
        assert_eq!(parse_fault("generation_failed"), Ok(Fault::GenerationFailed));
        assert_eq!(parse_fault("never_finish"), Ok(Fault::NeverFinish));
        for fault in ["latency=250", "timeout", "status=429,retry_after_seconds=7", "never_finish"] {
            assert_eq!(parse_fault(fault).map(|f| f.to_string()), Ok(fault.to_string()));
        }
    }

    #[test]
    fn rejects_bad_faults() {
        for bad in ["", "latency", "latency=x", "status=200", "status=abc", "status=500,foo=1", "reset=1", "explode"] {
            assert!(parse_fault(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn parses_rules_and_plans() {
        let plan = FaultPlan::parse("createTask:every=3:status=500 | recordInfo:first=2:reset").expect("plan");
        assert_eq!(
            plan.rules,
            vec![
                FaultRule {
                    endpoint: Endpoint::CreateTask,
                    trigger: Trigger::EveryNth(3),
                    fault: Fault::Status { code: 500, retry_after_seconds: None },
                },
                FaultRule { endpoint: Endpoint::RecordInfo, trigger: Trigger::FirstK(2), fault: Fault::Reset },
            ]
        );
        assert!(parse_fault_rule("createTask:every=0:reset").is_err());
        assert!(parse_fault_rule("nowhere:always:reset").is_err());
        assert!(parse_fault_rule("createTask:reset").is_err());
        for (name, endpoint) in [
            ("veoGenerate", Endpoint::VeoGenerate),
            ("veoRecordInfo", Endpoint::VeoRecordInfo),
            ("veo1080p", Endpoint::Veo1080p),
            ("mjGenerate", Endpoint::MjGenerate),
            ("mjRecordInfo", Endpoint::MjRecordInfo),
            ("fileStreamUpload", Endpoint::FileStreamUpload),
            ("fileUrlUpload", Endpoint::FileUrlUpload),
            ("fileBase64Upload", Endpoint::FileBase64Upload),
        ] {
            assert_eq!(parse_fault_rule(&format!("{name}:always:reset")).map(|r| r.endpoint), Ok(endpoint));
        }
        assert_eq!(Endpoint::classify(&Method::POST, "/api/v1/veo/generate"), Endpoint::VeoGenerate);
        assert_eq!(Endpoint::classify(&Method::GET, "/uploads/1/a/b.png"), Endpoint::Files);
    }

    #[test]
    fn triggers_count_per_rule_and_repeat_with_the_seed() {
        let plan = FaultPlan::parse("createTask:every=3:malformed|recordInfo:first=2:reset").expect("plan");
        let mut runner = PlanRunner::new(&plan, 1);
        let creates: Vec<bool> = (0..6).map(|_| runner.next(Endpoint::CreateTask).is_some()).collect();
        assert_eq!(creates, [false, false, true, false, false, true]);
        let polls: Vec<bool> = (0..3).map(|_| runner.next(Endpoint::RecordInfo).is_some()).collect();
        assert_eq!(polls, [true, true, false]);

        let random = FaultPlan::parse("any:p=0.5:latency=1").expect("plan");
        let draw = |seed| {
            let mut runner = PlanRunner::new(&random, seed);
            (0..64).map(|_| runner.next(Endpoint::Credit).is_some()).collect::<Vec<_>>()
        };
        assert_eq!(draw(7), draw(7));
        assert_ne!(draw(7), draw(8));
    }
}
