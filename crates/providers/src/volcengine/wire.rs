//! VolcEngine's answers (protocols.md 4.2, 4.3): the business envelope
//! `{"code", "data", "message", "request_id", "status", "time_elapsed"}`, read
//! `code` first (10000 is success) and `data.status` after; and the gateway's own
//! errors (`ResponseMetadata.Error`: a bad signature, an unknown key), which come
//! before the service sees the request. Every code is classed here, once.

use std::time::Duration;

use atelier_core::ports::{ErrorClass, ProviderError};
use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::Value;

use crate::kit::Reply;

/// Success.
pub const OK: i64 = 10000;

#[derive(Debug, Deserialize)]
struct Envelope {
    code: Option<i64>,
    #[serde(default)]
    data: Value,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    request_id: Option<String>,
    #[serde(rename = "ResponseMetadata")]
    response_metadata: Option<Metadata>,
}

#[derive(Debug, Deserialize)]
struct Metadata {
    #[serde(rename = "Error")]
    error: Option<GatewayError>,
}

#[derive(Debug, Deserialize)]
struct GatewayError {
    #[serde(rename = "Code", default)]
    code: String,
    #[serde(rename = "Message", default)]
    message: String,
}

/// The `data` of a successful answer, or the error it carries, classed.
pub fn read(reply: &Reply) -> Result<Value, ProviderError> {
    let envelope: Envelope = match serde_json::from_slice(&reply.body) {
        Ok(envelope) => envelope,
        Err(error) => return Err(unreadable(reply, &error.to_string())),
    };
    if let Some(error) = envelope.response_metadata.and_then(|metadata| metadata.error) {
        return Err(gateway_error(reply.status, &error.code, &error.message, reply.retry_after()));
    }
    let Some(code) = envelope.code else {
        return Err(unreadable(reply, "no `code` in the answer"));
    };
    if code != OK {
        let message = envelope.message.unwrap_or_default();
        let mut error = business_error(code, &message, envelope.request_id.as_deref());
        error.retry_after = error.retry_after.or(reply.retry_after());
        return Err(error);
    }
    Ok(envelope.data)
}

fn unreadable(reply: &Reply, why: &str) -> ProviderError {
    // A proxy's HTML error page is the proxy's status, not a malformed answer.
    if reply.status.is_server_error() {
        let mut error =
            ProviderError::new(ErrorClass::ServerError, format!("VolcEngine answered HTTP {}", reply.status));
        error.retry_after = reply.retry_after();
        return error;
    }
    if reply.status == StatusCode::TOO_MANY_REQUESTS {
        let mut error = ProviderError::new(ErrorClass::RateLimited, "VolcEngine answered HTTP 429");
        error.retry_after = reply.retry_after();
        return error;
    }
    let head: String = String::from_utf8_lossy(&reply.body).chars().take(200).collect();
    ProviderError::new(
        ErrorClass::MalformedResponse,
        format!("VolcEngine's answer (HTTP {}) could not be read: {why}: {head}", reply.status),
    )
}

/// An error of the API gateway (before the service): the key pair, the signature
/// or the clock. Its HTTP status is not documented, so the code decides.
fn gateway_error(status: StatusCode, code: &str, message: &str, retry_after: Option<Duration>) -> ProviderError {
    let class = match code {
        "SignatureDoesNotMatch"
        | "InvalidAccessKey"
        | "InvalidCredential"
        | "MissingAuthenticationToken"
        | "InvalidAuthorization"
        | "InvalidTimestamp"
        | "AccessDenied"
        | "InvalidSecretToken" => ErrorClass::Unauthorized,
        "FlowLimitExceeded" | "RequestLimitExceeded" | "Throttling" => ErrorClass::RateLimited,
        _ if status == StatusCode::TOO_MANY_REQUESTS => ErrorClass::RateLimited,
        _ if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN => ErrorClass::Unauthorized,
        _ if status.is_server_error() => ErrorClass::ServerError,
        _ => ErrorClass::ClientError,
    };
    let hint = if code == "InvalidTimestamp" { " (is this machine's clock right?)" } else { "" };
    let mut error = ProviderError::new(class, format!("VolcEngine refused the request: {code}: {message}{hint}"));
    error.retry_after = retry_after;
    error
}

/// A business error code (protocols.md 4.3), classed:
/// - the prompt, an input image or the result refused by the content checks
///   (504xx, 505xx): `content_filtered`, the user's to change, never retried by
///   Atelier (the docs allow retrying an output refusal, but each try is billed:
///   the user decides);
/// - 50429 (QPS) and 50430 (concurrency): backed off and retried;
/// - 50500 and 50501: retried once only, as VolcEngine's own docs disagree on
///   whether they may be;
/// - 50400 (access denied: the service is not enabled for this key): unauthorized.
pub fn business_error(code: i64, message: &str, request_id: Option<&str>) -> ProviderError {
    let (class, what) = match code {
        50411 => (ErrorClass::ContentFiltered, "an input image was refused by VolcEngine's content checks"),
        50412 | 50413 => (ErrorClass::ContentFiltered, "the prompt was refused by VolcEngine's content checks"),
        50518 => (ErrorClass::ContentFiltered, "an input image was refused for copyright"),
        50520..=50522 => (ErrorClass::ContentFiltered, "VolcEngine's content checks failed on the input"),
        50511 | 50512 | 50516 | 50517 => {
            (ErrorClass::ContentFiltered, "the result was refused by VolcEngine's content checks")
        }
        50519 => (ErrorClass::ContentFiltered, "the result was refused for copyright"),
        50429 => (ErrorClass::RateLimited, "VolcEngine's request rate limit was reached"),
        50430 => (ErrorClass::RateLimited, "VolcEngine's concurrent request limit was reached"),
        50500 | 50501 => (ErrorClass::ServerError, "VolcEngine had an internal error"),
        50400 => (ErrorClass::Unauthorized, "VolcEngine denied access (is the service enabled for this key?)"),
        _ if (50000..50100).contains(&code) || (50200..50300).contains(&code) => {
            (ErrorClass::ClientError, "VolcEngine refused the request's parameters")
        }
        _ => (ErrorClass::ServerError, "VolcEngine answered an unknown error code"),
    };
    let request = request_id.map(|id| format!(", request {id}")).unwrap_or_default();
    let mut error = ProviderError::new(class, format!("{what} (code {code}: {message}{request})"));
    if matches!(code, 50500 | 50501) {
        error = error.with_max_attempts(2);
    }
    error
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderMap;

    use super::*;

    fn reply(status: u16, body: &str) -> Reply {
        Reply {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
            headers: HeaderMap::new(),
            body: body.as_bytes().to_vec().into(),
        }
    }

    #[test]
    fn success_is_code_10000_and_its_data() {
        let data = read(&reply(
            200,
            r#"{"code":10000,"data":{"task_id":"7392616336519610409"},"message":"Success","request_id":"r","status":10000,"time_elapsed":"104.8ms"}"#,
        ));
        assert_eq!(
            data.ok().and_then(|d| d["task_id"].as_str().map(str::to_owned)).as_deref(),
            Some("7392616336519610409")
        );
    }

    #[test]
    fn every_documented_code_has_its_class() {
        let class = |code| business_error(code, "m", None).class;
        for code in [50411, 50412, 50413, 50518, 50520, 50521, 50522, 50511, 50512, 50516, 50517, 50519] {
            assert_eq!(class(code), ErrorClass::ContentFiltered, "{code}: the user's to change");
        }
        assert_eq!((class(50429), class(50430)), (ErrorClass::RateLimited, ErrorClass::RateLimited));
        for code in [50500, 50501] {
            let error = business_error(code, "Internal Error", Some("req-1"));
            assert_eq!((error.class, error.max_attempts()), (ErrorClass::ServerError, 2), "retried once");
            assert!(error.message.contains("req-1"), "{}", error.message);
        }
        assert_eq!(class(50400), ErrorClass::Unauthorized);
        let refused = read(&reply(
            400,
            r#"{"code":50413,"data":null,"message":"Post Text Risk Not Pass","request_id":"x","status":50413}"#,
        ));
        let refused = refused.expect_err("refused");
        assert_eq!(refused.class, ErrorClass::ContentFiltered);
        assert!(
            refused.message.contains("50413") && refused.message.contains("Post Text Risk Not Pass"),
            "{}",
            refused.message
        );
    }

    #[test]
    fn gateway_errors_come_before_the_envelope() {
        let body = r#"{"ResponseMetadata":{"RequestId":"r","Action":"CVProcess","Version":"2022-08-31","Service":"cv","Region":"cn-north-1","Error":{"CodeN":100010,"Code":"SignatureDoesNotMatch","Message":"The request signature we calculated does not match"}}}"#;
        for status in [400, 401, 403] {
            let error = read(&reply(status, body)).expect_err("refused");
            assert_eq!(error.class, ErrorClass::Unauthorized, "whatever the status ({status})");
            assert!(error.message.contains("SignatureDoesNotMatch"), "{}", error.message);
        }
    }

    #[test]
    fn unreadable_answers_are_classed_by_their_status() {
        assert_eq!(read(&reply(200, "{\"code\":")).expect_err("cut").class, ErrorClass::MalformedResponse);
        assert_eq!(read(&reply(502, "<html>bad gateway</html>")).expect_err("proxy").class, ErrorClass::ServerError);
        assert_eq!(read(&reply(429, "slow down")).expect_err("proxy").class, ErrorClass::RateLimited);
        assert_eq!(read(&reply(200, "{}")).expect_err("no code").class, ErrorClass::MalformedResponse);
    }
}
