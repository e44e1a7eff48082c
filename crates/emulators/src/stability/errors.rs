//! Stability's error shape (the providers' protocol notes, section 7): every
//! error is `{"id":"<request id>","name":"<error name>","errors":["…"]}` with
//! the HTTP status telling the kind, and each entry of `errors` naming what is
//! wrong (`prompt: …`, `content-type: …`).
//!
//! Confirmed: the shape, 400 for invalid parameters, 403 `content_moderation`,
//! 413, 422, 429 and 500. Unconfirmed, the emulator's choices: the names other
//! than `content_moderation` (`bad_request`, `unauthorized`,
//! `payment_required`, `payload_too_large`, `invalid_language`,
//! `rate_limit_exceeded`, `internal_error`, `service_unavailable`,
//! `not_found`); 401 for a missing or wrong key, with
//! `authorization: invalid or missing API key`; 402 for running out of
//! credits; 503 at all; the messages, written after the service's where
//! remembered; an `x-request-id` header on errors too.

use axum::Json;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// The HTTP statuses a `status=` fault may name, with their error names and
/// the message the fault answers.
pub(super) const STATUSES: [(u16, &str, &str); 9] = [
    (400, "bad_request", "parameters: the request's parameters are invalid"),
    (401, "unauthorized", AUTH_MESSAGE),
    (
        402,
        "payment_required",
        "You lack sufficient credits to make this request. Please purchase more credits at \
         https://platform.stability.ai/account/credits and try again.",
    ),
    (403, "content_moderation", MODERATION_MESSAGE),
    (413, "payload_too_large", "body: payloads cannot be larger than 10MiB in size"),
    (422, "invalid_language", "English is the only supported language for this service."),
    (
        429,
        "rate_limit_exceeded",
        "You have exceeded the rate limit of 150 requests within a 10 second period, and have been timed out for 60 \
         seconds.",
    ),
    (500, "internal_error", "An unexpected server error has occurred, please try again later."),
    (503, "service_unavailable", "The service is temporarily unavailable, please try again later."),
];

/// What a refused key answers (unconfirmed wording).
pub(super) const AUTH_MESSAGE: &str = "authorization: invalid or missing API key";

/// What a moderated request answers.
pub(super) const MODERATION_MESSAGE: &str = "Your request was flagged by our content moderation system, as a result \
                                             your request was denied and you were not charged.";

/// The error name of an HTTP status (`internal_error` for one not in the table).
pub(super) fn name_of(code: u16) -> &'static str {
    match code {
        404 => "not_found",
        405 => "method_not_allowed",
        _ => STATUSES.iter().find(|(c, _, _)| *c == code).map_or("internal_error", |(_, name, _)| name),
    }
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

/// `{"id", "name", "errors"}` with HTTP status `code`, the name the status's.
pub(super) fn error<R: From<Response>>(code: u16, id: &str, errors: &[String]) -> R {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = json!({ "id": id, "name": name_of(code), "errors": errors });
    let mut response = (status, Json(body)).into_response();
    if let Ok(value) = HeaderValue::from_str(id) {
        response.headers_mut().insert("x-request-id", value);
    }
    R::from(response)
}

/// 400 `bad_request`, one entry per invalid field.
pub(super) fn bad_request<R: From<Response>>(id: &str, errors: &[String]) -> R {
    error(400, id, errors)
}

/// The answer to a `status=<code>` fault (`Retry-After` is the middleware's).
pub(super) fn fault_status(code: u16, id: &str) -> Response {
    let message = STATUSES.iter().find(|(c, _, _)| *c == code).map_or("Internal error.", |(_, _, m)| m);
    error(code, id, &[message.to_owned()])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_fault_status_has_a_name() {
        let names: Vec<&str> = STATUSES.iter().map(|(code, _, _)| name_of(*code)).collect();
        assert_eq!(
            names,
            [
                "bad_request",
                "unauthorized",
                "payment_required",
                "content_moderation",
                "payload_too_large",
                "invalid_language",
                "rate_limit_exceeded",
                "internal_error",
                "service_unavailable"
            ]
        );
        let answer = fault_status(429, "abc");
        assert_eq!(answer.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(answer.headers().get(axum::http::header::RETRY_AFTER), None);
        assert_eq!(answer.headers()["x-request-id"], "abc");
    }
}
