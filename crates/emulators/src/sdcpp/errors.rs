//! sd-server's error shape (the providers' protocol notes, 5.2; confirmed in
//! `examples/server/routes_*.cpp` @ 97d29908): every API family answers
//! `{"error":"<message>"}`; an exception caught by a handler answers 500
//! `{"error":"server_error","message":"<what()>"}`, and the native API's
//! invalid JSON 400 `{"error":"invalid json","message":"…"}`.
//!
//! Confirmed messages: "empty body", "prompt required", "invalid params",
//! "invalid generation parameters", "invalid sd_cpp_extra_args", "width and
//! height must be positive", "at least one image[] required",
//! "Content-Type must be multipart/form-data", "invalid output_format, must
//! be one of [png, jpeg, webp]", "job queue is full" (429), "job not found"
//! (404), "job expired" (410), "job is currently generating and cannot be
//! interrupted yet" (409), "generate_image returned no results" (500).
//!
//! Unconfirmed, the emulator's choices: an unknown route answers 404
//! `{"error":"not found"}` (httplib answers an empty 404); the `status=`
//! faults' messages for the codes the server never answers itself (422, 503).

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

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

/// `{"error": message}` with HTTP status `code`.
pub(crate) fn error<R: From<Response>>(code: u16, message: &str) -> R {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    R::from((status, Json(json!({ "error": message }))).into_response())
}

/// 400 `{"error": message}`.
pub(crate) fn bad_request<R: From<Response>>(message: &str) -> R {
    error(400, message)
}

/// 500 `{"error":"server_error","message":…}`: an exception a handler caught.
pub(crate) fn server_error<R: From<Response>>(message: &str) -> R {
    R::from(
        (StatusCode::INTERNAL_SERVER_ERROR, Json(json!({ "error": "server_error", "message": message })))
            .into_response(),
    )
}

/// What a generation that runs out of GPU memory reports (the `oom` fault).
pub(crate) const OUT_OF_MEMORY: &str = "generate_image returned no results: ggml_backend_cuda_buffer_type_alloc_buffer: \
     allocating 2560.00 MiB on device 0: cudaMalloc failed: out of memory";

/// What a generation that fails reports (`generation_failed`).
pub(crate) const NO_RESULTS: &str = "generate_image returned no results";

/// The message a `status=<code>` fault answers with.
fn fault_message(code: u16) -> &'static str {
    match code {
        400 => "invalid generation parameters",
        404 => "job not found",
        409 => "job is currently generating and cannot be interrupted yet",
        410 => "job expired",
        422 => "unprocessable request",
        429 => "job queue is full",
        503 => "service unavailable",
        _ => "server_error",
    }
}

/// The answer to a `status=<code>` fault.
pub(crate) fn fault_status(code: u16) -> Response {
    error(code, fault_message(code))
}

/// Any route the server does not have.
pub(crate) fn not_found() -> Response {
    error(404, "not found")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_statuses_answer_the_servers_shape() {
        assert_eq!(fault_status(429).status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(fault_status(410).status(), StatusCode::GONE);
        assert_eq!(fault_message(500), "server_error");
        let response: Response = server_error("boom");
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
