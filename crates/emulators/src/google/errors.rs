//! Google's error shape (the providers' protocol notes, 3.1): every error is a
//! `google.rpc.Status` wrapped in `error`,
//! `{"error":{"code":400,"message":"…","status":"INVALID_ARGUMENT","details":[…]}}`,
//! with `code` the HTTP status and `status` its canonical name.
//!
//! Confirmed: the shape and the fields the SDK reads (`code`, `message`,
//! `status`). Unconfirmed, the emulator's choices: the HTTP status ↔ name
//! table below (the usual Google mapping); a missing or wrong API key answers
//! 400 `INVALID_ARGUMENT` with an `ErrorInfo` of reason `API_KEY_INVALID` (the
//! real service may answer a *missing* key with 403 `PERMISSION_DENIED`
//! instead); a refused file download answers 403 `PERMISSION_DENIED`; a 429
//! carries a `google.rpc.RetryInfo` detail; the messages, written after the
//! real service's where remembered.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// The HTTP statuses a `status=` fault may name, with their canonical names
/// and the message the fault answers.
pub(super) const STATUSES: [(u16, &str, &str); 8] = [
    (400, "INVALID_ARGUMENT", "Request contains an invalid argument."),
    (
        401,
        "UNAUTHENTICATED",
        "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid \
         authentication credential.",
    ),
    (403, "PERMISSION_DENIED", "The caller does not have permission"),
    (404, "NOT_FOUND", "Requested entity was not found."),
    (429, "RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota)."),
    (
        500,
        "INTERNAL",
        "An internal error has occurred. Please retry or report in \
         https://developers.generativeai.google/guide/troubleshooting",
    ),
    (503, "UNAVAILABLE", "The model is overloaded. Please try again later."),
    (504, "DEADLINE_EXCEEDED", "Deadline expired before operation could complete."),
];

/// How long a 429 tells the client to wait when the fault names no `retry_after_seconds`.
pub(super) const DEFAULT_RETRY_DELAY_SECONDS: u64 = 2;

/// The canonical status name of an HTTP status (`INTERNAL` for one not in the table).
pub(super) fn status_name(code: u16) -> &'static str {
    STATUSES.iter().find(|(c, _, _)| *c == code).map_or("INTERNAL", |(_, name, _)| name)
}

/// The message a `status=` fault answers with.
fn fault_message(code: u16) -> &'static str {
    STATUSES.iter().find(|(c, _, _)| *c == code).map_or("Internal error.", |(_, _, message)| message)
}

/// An error answer, boxed, as checks return it through `Result`.
#[derive(Debug)]
pub(crate) struct Refusal(Box<Response>);

impl From<Response> for Refusal {
    fn from(response: Response) -> Self {
        Self(Box::new(response))
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        *self.0
    }
}

/// `{"error":{code, message, status, details?}}` with HTTP status `code`.
pub(super) fn rpc_error<R: From<Response>>(code: u16, message: &str, details: Option<Value>) -> R {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut error = json!({ "code": code, "message": message, "status": status_name(code) });
    if let Some(details) = details {
        error["details"] = details;
    }
    R::from((status, Json(json!({ "error": error }))).into_response())
}

/// 400 `INVALID_ARGUMENT`.
pub(super) fn invalid<R: From<Response>>(message: &str) -> R {
    rpc_error(400, message, None)
}

/// 404 `NOT_FOUND`.
pub(super) fn not_found<R: From<Response>>(message: &str) -> R {
    rpc_error(404, message, None)
}

/// 500 `INTERNAL`.
pub(super) fn internal<R: From<Response>>(message: &str) -> R {
    rpc_error(500, message, None)
}

/// A model the service does not have, or one that does not serve `method`.
pub(super) fn unknown_model<R: From<Response>>(model: &str, method: &str) -> R {
    not_found(&format!(
        "models/{model} is not found for API version v1beta, or is not supported for {method}. Call ListModels to \
         see the list of available models and their supported methods."
    ))
}

/// A missing or wrong API key on the API (unconfirmed: see the module docs).
pub(super) fn api_key_invalid() -> Response {
    rpc_error(
        400,
        "API key not valid. Please pass a valid API key.",
        Some(json!([{
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "API_KEY_INVALID",
            "domain": "googleapis.com",
            "metadata": { "service": "generativelanguage.googleapis.com" },
        }])),
    )
}

/// A file download without a valid key (unconfirmed: see the module docs).
pub(super) fn download_denied() -> Response {
    rpc_error(
        403,
        "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or \
         other form of API consumer identity to call this API.",
        None,
    )
}

/// The answer to a `status=<code>` fault: 429 carries a `RetryInfo` of
/// `retry_after_seconds` (2 s when the fault names none), and a `Retry-After`
/// header only when the fault names it.
pub(super) fn fault_status(code: u16, retry_after_seconds: Option<u64>) -> Response {
    let details = (code == 429).then(|| {
        let delay = retry_after_seconds.unwrap_or(DEFAULT_RETRY_DELAY_SECONDS);
        json!([{ "@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": format!("{delay}s") }])
    });
    let mut response: Response = rpc_error(code, fault_message(code), details);
    if let Some(n) = retry_after_seconds {
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(n));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_fault_status_has_its_canonical_name() {
        let names: Vec<&str> = STATUSES.iter().map(|(code, _, _)| status_name(*code)).collect();
        assert_eq!(
            names,
            [
                "INVALID_ARGUMENT",
                "UNAUTHENTICATED",
                "PERMISSION_DENIED",
                "NOT_FOUND",
                "RESOURCE_EXHAUSTED",
                "INTERNAL",
                "UNAVAILABLE",
                "DEADLINE_EXCEEDED"
            ]
        );
        assert_eq!(fault_status(429, None).headers().get(header::RETRY_AFTER), None);
        assert_eq!(fault_status(429, Some(7)).headers()[header::RETRY_AFTER], "7");
        assert_eq!(fault_status(503, None).status(), StatusCode::SERVICE_UNAVAILABLE);
    }
}
