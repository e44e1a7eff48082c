//! Kie's side of fault injection (`crate::faults` holds the vocabulary, the
//! plans and the middleware): the endpoints a rule can aim at, the codes a
//! `status=` fault may name, and how Kie answers a fault.
//!
//! - `status=<code>`: the envelope `{code, msg}` with the HTTP status equal to
//!   the code (the upload API's `{success, code, msg}` on its endpoints), the
//!   message Kie gives that code (docs/providers/kie.md 1.1).
//! - `timeout`: held for [`KieEmulatorConfig::timeout_fault_duration`](super::KieEmulatorConfig)
//!   (120 s by default); a createTask does create the task.
//! - `reset`: needs [`KieEmulator::serve`](super::KieEmulator::serve); through a
//!   bare router it answers the envelope 500 with a note instead.
//! - `malformed`: HTTP 200 with an envelope cut short.
//! - `generation_failed` / `never_finish`: on a createTask (or a record-info),
//!   the task ends in `fail` (failCode "500") or stays `generating` forever.

use std::str::FromStr;

use axum::http::{Method, Uri};
use axum::response::Response;

use super::{KieState, envelope_error};
pub use crate::faults::FAULT_HEADER;
use crate::faults::{Fault, FaultHost, Injector, RuleEndpoint, parse_fault_with_codes, parse_rule};

/// The Kie codes a `status=` fault may name (every non-success code of the
/// protocol's `ApiResponse` enum).
const FAULT_CODES: [u16; 13] = [400, 401, 402, 404, 408, 422, 429, 433, 451, 455, 500, 501, 505];

/// Parses one fault, as written in the `X-Emulator-Fault` header or a CLI flag:
/// `latency=<ms>`, `timeout`, `reset`, `status=<code>` (optionally followed by
/// `,retry_after_seconds=<n>`; `;` or a space also separate), `malformed`,
/// `generation_failed`, `never_finish`, with Kie's codes. Names are case-insensitive.
pub fn parse_fault(s: &str) -> Result<Fault, String> {
    parse_fault_with_codes(s, &FAULT_CODES)
}

/// A bare `Fault` parses with Kie's codes, as it did when the vocabulary was Kie's.
impl FromStr for Fault {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_fault(s)
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
pub type FaultRule = crate::faults::FaultRule<Endpoint>;
/// The faults of a run: rules tried in order, the first that fires wins.
pub type FaultPlan = crate::faults::FaultPlan<Endpoint>;

/// Parses a Kie rule written `ENDPOINT:TRIGGER:FAULT`, e.g.
/// `createTask:every=3:status=500`, `recordInfo:first=2:reset`,
/// `any:p=0.1:latency=200`, `createTask:always:generation_failed`.
pub fn parse_fault_rule(s: &str) -> Result<FaultRule, String> {
    parse_rule(s)
}

/// The message that goes with a code in an injected error.
fn message_for(code: u16, endpoint: Endpoint) -> &'static str {
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

impl FaultHost for KieState {
    type Endpoint = Endpoint;
    const NAME: &'static str = "kie emulator";
    const MALFORMED_BODY: &'static str = "{\"code\":200,\"msg\":\"success\",\"data\":{\"taskId\":";

    fn classify(method: &Method, uri: &Uri) -> Endpoint {
        Endpoint::classify(method, uri.path())
    }

    fn injector(&self) -> &Injector<Endpoint> {
        &self.injector
    }

    fn count_request(&self, endpoint: Endpoint, uri: &Uri) {
        self.count_call(endpoint, uri.query());
    }

    fn bad_header(message: &str) -> Response {
        envelope_error(400, message)
    }

    fn status_answer(endpoint: Endpoint, code: u16) -> Response {
        if endpoint.is_upload() {
            super::upload::upload_error(code, message_for(code, endpoint))
        } else {
            envelope_error(code, message_for(code, endpoint))
        }
    }

    fn reset_unavailable() -> Response {
        envelope_error(500, "emulator: the reset fault needs KieEmulator::serve (no connection to drop)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    use crate::faults::{PlanRunner, Trigger};

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
