//! `X-Emulator-Fault`: a fault asked for by the request itself, on that one
//! request. It wins over the run's plan.

use axum::http::HeaderMap;

use super::Fault;

/// The request header that asks for a fault on this one request.
pub const FAULT_HEADER: &str = "x-emulator-fault";

/// The fault a request's header asks for, read with `parse` (the emulator's
/// status codes): none without the header, an error when it does not parse.
pub(crate) fn requested_fault(
    headers: &HeaderMap,
    parse: fn(&str) -> Result<Fault, String>,
) -> Result<Option<Fault>, String> {
    match headers.get(FAULT_HEADER) {
        None => Ok(None),
        Some(value) => value.to_str().map_err(|_| "not ASCII".to_string()).and_then(parse).map(Some),
    }
}
