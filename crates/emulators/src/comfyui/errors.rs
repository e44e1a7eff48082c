//! ComfyUI's error shapes. The server is an aiohttp application: what its
//! handlers refuse themselves they answer with an empty body
//! (`web.Response(status=400)`), what aiohttp refuses (an unknown route, a
//! wrong method) with its plain-text `"404: Not Found"`, and an exception a
//! handler does not catch (a body that is not JSON, `max_items=abc`) with
//! aiohttp's plain-text 500 (`"500 Internal Server Error\n\nServer got itself
//! in trouble"`). `POST /prompt` alone answers JSON:
//! `{"error":{"type","message","details","extra_info"},"node_errors":{…}}`
//! (confirmed in `server.py` and `execution.py`).
//!
//! Unconfirmed, the emulator's choices: the `status=` faults' bodies (a 400 on
//! `POST /prompt` is an `invalid_prompt` error, elsewhere an empty 400; 404,
//! 500 and 503 are aiohttp's plain-text answers), and the 400 a WebSocket
//! handshake without its headers gets (aiohttp's wording, shortened).

use axum::Json;
use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::faults::Endpoint;

/// A plain-text answer, as aiohttp writes its own errors.
pub(super) fn text(code: u16, body: &str) -> Response {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, Body::from(body.to_owned())).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    response
}

/// An answer with no body (`web.Response(status=code)`).
pub(super) fn empty(code: u16) -> Response {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    status.into_response()
}

/// aiohttp's 404 for an unknown route (and `/view`'s unknown files get an empty 404).
pub(super) fn not_found() -> Response {
    text(404, "404: Not Found")
}

/// aiohttp's 405.
pub(super) fn method_not_allowed() -> Response {
    text(405, "405: Method Not Allowed")
}

/// aiohttp's 500 for an exception a handler did not catch.
pub(super) fn internal() -> Response {
    text(500, "500 Internal Server Error\n\nServer got itself in trouble")
}

/// `POST /prompt`'s 400: `{"error": error, "node_errors": node_errors}`.
pub(super) fn prompt_refused(error: Value, node_errors: Value) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({ "error": error, "node_errors": node_errors }))).into_response()
}

/// An `error` object of `POST /prompt`'s 400.
pub(super) fn prompt_error(kind: &str, message: &str, details: &str) -> Value {
    json!({ "type": kind, "message": message, "details": details, "extra_info": {} })
}

/// The answer to a `status=<code>` fault on `endpoint`.
pub(super) fn fault_status(endpoint: Endpoint, code: u16) -> Response {
    match code {
        400 if endpoint == Endpoint::Prompt => prompt_refused(
            prompt_error(
                "invalid_prompt",
                "Cannot execute because a node is missing the class_type property.",
                "Node ID '#1'",
            ),
            json!({}),
        ),
        400 => empty(400),
        404 => not_found(),
        503 => text(503, "503: Service Unavailable"),
        _ => internal(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_statuses_answer_comfyuis_shapes() {
        assert_eq!(fault_status(Endpoint::Prompt, 400).status(), StatusCode::BAD_REQUEST);
        assert_eq!(fault_status(Endpoint::View, 404).status(), StatusCode::NOT_FOUND);
        assert_eq!(fault_status(Endpoint::History, 503).status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(fault_status(Endpoint::Queue, 500).status(), StatusCode::INTERNAL_SERVER_ERROR);
        let refused = fault_status(Endpoint::Prompt, 400);
        assert_eq!(refused.headers()[header::CONTENT_TYPE], "application/json");
    }
}
