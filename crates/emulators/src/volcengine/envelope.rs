//! VolcEngine's two answer shapes (the providers' protocol notes, 4.2 and 4.3).
//!
//! - The business envelope, for everything past the gateway:
//!   `{"code":10000,"data":{…},"message":"Success","request_id":"…","status":10000,"time_elapsed":"…"}`;
//!   an error has its code in `code` (and `status`), `data: null` (a failed
//!   task's poll keeps its `data`), and the HTTP status of the code's row in
//!   [`BUSINESS_CODES`]: 400 for the risk checks, 429 for the limits, 500 for
//!   internal errors.
//! - The gateway error, for a request the gateway refuses before the service
//!   sees it (signature, key, timestamp, action):
//!   `{"ResponseMetadata":{"RequestId","Action","Version","Service":"cv","Region":"cn-north-1","Error":{"CodeN","Code","Message"}}}`.
//!
//! Confirmed: the envelope, the risk/limit/internal codes with their HTTP
//! statuses and messages, and the gateway shape with `SignatureDoesNotMatch`
//! (CodeN 100010). The emulator's own choices, unconfirmed: 50400 "Access
//! Denied" answered with HTTP 400 (for an unknown `req_key`, or one used with
//! the wrong call style); 50215 "Input invalid for this service." with HTTP 400
//! for a bad parameter (the code comes from a copy of the Jimeng 4.6 docs); the
//! gateway errors' HTTP statuses (401 for credentials and signatures, 404 for an
//! unknown action or version, 405 for a method) and every `CodeN` but 100010.

use std::time::Instant;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::signature::{REGION, SERVICE};

/// Success.
pub(super) const SUCCESS: u16 = 10000;
/// A parameter is missing, of the wrong type or out of range (emulator's choice).
pub(super) const INVALID_INPUT: u16 = 50215;
/// The `req_key` is not served (unknown, or not with this action) (HTTP status: emulator's choice).
pub(super) const ACCESS_DENIED: u16 = 50400;
/// The QPS limit.
pub(super) const QPS_LIMIT: u16 = 50429;
/// An internal error.
pub(super) const INTERNAL_ERROR: u16 = 50500;

/// Every business error code: (code, HTTP status, message).
pub(super) const BUSINESS_CODES: [(u16, u16, &str); 19] = [
    (50411, 400, "Pre Img Risk Not Pass"),
    (50511, 400, "Post Img Risk Not Pass"),
    (50412, 400, "Text Risk Not Pass"),
    (50512, 400, "Post Text Risk Not Pass"),
    (50413, 400, "Post Text Risk Not Pass"),
    (50516, 400, "Post Video Risk Not Pass"),
    (50517, 400, "Post Audio Risk Not Pass"),
    (50518, 400, "Pre Img Risk Not Pass: Copyright"),
    (50519, 400, "Post Img Risk Not Pass: Copyright"),
    (50520, 400, "Risk Internal Error"),
    (50521, 400, "Antidirt Internal Error"),
    (50522, 400, "Image Copyright Internal Error"),
    (50429, 429, "Request Has Reached API Limit, Please Try Later"),
    (50430, 429, "Request Has Reached API Concurrent Limit, Please Try Later"),
    (50500, 500, "Internal Error"),
    (50501, 500, "Internal RPC Error"),
    (ACCESS_DENIED, 400, "Access Denied"),
    (INVALID_INPUT, 400, "Input invalid for this service."),
    (SUCCESS, 200, "Success"),
];

/// The HTTP status and message of a business code (500 and "Internal Error" for one not in the table).
pub(super) fn business_code(code: u16) -> (StatusCode, &'static str) {
    BUSINESS_CODES
        .iter()
        .find(|(c, _, _)| *c == code)
        .map(|(_, status, message)| (StatusCode::from_u16(*status).unwrap_or(StatusCode::BAD_REQUEST), *message))
        .unwrap_or((StatusCode::INTERNAL_SERVER_ERROR, "Internal Error"))
}

/// A request id as VolcEngine writes them: the UTC time to the second, then 20
/// upper-case hex digits (`20240720103939AF0029465CF6A74E51EC`).
pub(super) fn request_id() -> String {
    format!("{}{:016X}{:04X}", chrono::Utc::now().format("%Y%m%d%H%M%S"), rand::random::<u64>(), rand::random::<u16>())
}

/// How long the request took, as Go prints durations (`104.852309ms`).
fn time_elapsed(started: Instant) -> String {
    format!("{:?}", started.elapsed())
}

fn envelope(code: u16, message: &str, data: Value, started: Instant) -> Response {
    let status = business_code(code).0;
    let body = json!({
        "code": code,
        "data": data,
        "message": message,
        "request_id": request_id(),
        "status": code,
        "time_elapsed": time_elapsed(started),
    });
    (status, Json(body)).into_response()
}

/// `code: 10000` with `data`, HTTP 200.
pub(super) fn ok(data: Value, started: Instant) -> Response {
    envelope(SUCCESS, "Success", data, started)
}

/// A business error: the code's message (with `(detail)` after it when given), `data: null`.
pub(super) fn error(code: u16, detail: Option<&str>, started: Instant) -> Response {
    error_with_data(code, detail, Value::Null, started)
}

/// A business error that keeps a `data` (a failed task's poll: `status: done`).
pub(super) fn error_with_data(code: u16, detail: Option<&str>, data: Value, started: Instant) -> Response {
    let message = business_code(code).1;
    match detail {
        Some(detail) => envelope(code, &format!("{} ({detail})", message.trim_end_matches('.')), data, started),
        None => envelope(code, message, data, started),
    }
}

/// A bad parameter: 50215, naming what is wrong.
pub(super) fn invalid(detail: &str, started: Instant) -> Response {
    error(INVALID_INPUT, Some(detail), started)
}

/// The gateway's error codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum GatewayCode {
    /// No `Authorization` header.
    MissingAuthenticationToken,
    /// An `Authorization` header that does not parse.
    InvalidAuthorization,
    /// An access key other than the configured one.
    InvalidAccessKey,
    /// The signature (or its scope, signed headers or body hash) does not match.
    SignatureDoesNotMatch,
    /// `X-Date` missing, malformed, or too far from now.
    InvalidTimestamp,
    /// An `Action` or `Version` the service does not have.
    InvalidActionOrVersion,
    /// A method other than POST on the API.
    MethodNotAllowed,
}

impl GatewayCode {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            GatewayCode::MissingAuthenticationToken => "MissingAuthenticationToken",
            GatewayCode::InvalidAuthorization => "InvalidAuthorization",
            GatewayCode::InvalidAccessKey => "InvalidAccessKey",
            GatewayCode::SignatureDoesNotMatch => "SignatureDoesNotMatch",
            GatewayCode::InvalidTimestamp => "InvalidTimestamp",
            GatewayCode::InvalidActionOrVersion => "InvalidActionOrVersion",
            GatewayCode::MethodNotAllowed => "MethodNotAllowed",
        }
    }

    /// `CodeN`: only 100010 is confirmed; the others are the emulator's.
    pub(super) fn code_n(self) -> u32 {
        match self {
            GatewayCode::InvalidActionOrVersion => 100008,
            GatewayCode::InvalidAccessKey => 100009,
            GatewayCode::SignatureDoesNotMatch => 100010,
            GatewayCode::InvalidAuthorization => 100011,
            GatewayCode::MissingAuthenticationToken => 100013,
            GatewayCode::InvalidTimestamp => 100016,
            GatewayCode::MethodNotAllowed => 100017,
        }
    }

    /// The HTTP status (the emulator's choice: unconfirmed).
    pub(super) fn http_status(self) -> StatusCode {
        match self {
            GatewayCode::InvalidActionOrVersion => StatusCode::NOT_FOUND,
            GatewayCode::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            _ => StatusCode::UNAUTHORIZED,
        }
    }
}

/// `{"ResponseMetadata":{…,"Error":{"CodeN","Code","Message"}}}`.
pub(super) fn gateway_error(code: GatewayCode, action: &str, version: &str, message: &str) -> Response {
    let body = json!({
        "ResponseMetadata": {
            "RequestId": request_id(),
            "Action": action,
            "Version": version,
            "Service": SERVICE,
            "Region": REGION,
            "Error": { "CodeN": code.code_n(), "Code": code.as_str(), "Message": message },
        }
    });
    (code.http_status(), Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_have_the_tables_statuses() {
        for (code, status) in [(50411, 400), (50413, 400), (50522, 400), (50429, 429), (50430, 429), (50501, 500)] {
            assert_eq!(business_code(code).0.as_u16(), status, "{code}");
        }
        assert_eq!(business_code(50413).1, "Post Text Risk Not Pass");
        assert_eq!(business_code(12345), (StatusCode::INTERNAL_SERVER_ERROR, "Internal Error"));
        let id = request_id();
        assert_eq!(id.len(), 34, "{id}");
        assert!(id.chars().all(|c| c.is_ascii_digit() || c.is_ascii_uppercase()), "{id}");
    }
}
