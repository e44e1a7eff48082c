//! AUTOMATIC1111's error shapes (the providers' protocol notes, 5.1).
//!
//! Confirmed (`modules/api/api.py`, `api_middleware`): every exception the API
//! raises answers `{"error":"<ExceptionClass>","detail":"…","body":"…","errors":"<str(e)>"}`
//! with the exception's `status_code` (500 when it has none). An
//! `HTTPException` has `detail` set and `errors` reads `"<code>: <detail>"`; any
//! other exception (`RuntimeError`, `OutOfMemoryError`, `NansException`…) has
//! `detail` and `body` empty and its message in `errors`. Confirmed messages:
//! "Invalid encoded image" (500), "Sampler not found" (404), "Init image not
//! found" (404), "Incorrect username or password" (401), `model '<name>' not
//! found` (`RuntimeError`, from `POST /sdapi/v1/options`).
//!
//! Unconfirmed, the emulator's choices: request bodies that FastAPI's
//! validation refuses answer 422 `{"detail":[{"loc":["body","<field>"],"msg":"…","type":"…"}]}`
//! with pydantic 1's messages and types (`value is not a valid integer`,
//! `type_error.integer`…); the emulator's range checks answer the same shape
//! with pydantic's constraint errors (`ensure this value is greater than or
//! equal to 64`, `value_error.number.not_ge`, `ctx.limit_value`); a 401 carries
//! `WWW-Authenticate: Basic` (the middleware may drop the header upstream); the
//! messages of the `status=` faults are the HTTP reason phrases.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

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

/// The middleware's body for an exception: `{"error","detail","body","errors"}`.
pub(crate) fn exception<R: From<Response>>(code: u16, class: &str, detail: &str, errors: &str) -> R {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = json!({ "error": class, "detail": detail, "body": "", "errors": errors });
    R::from((status, Json(body)).into_response())
}

/// An `HTTPException(status_code=code, detail=detail)`.
pub(crate) fn http_exception<R: From<Response>>(code: u16, detail: &str) -> R {
    exception(code, "HTTPException", detail, &format!("{code}: {detail}"))
}

/// Any other exception, raised with `message` (HTTP 500).
pub(crate) fn raised<R: From<Response>>(class: &str, message: &str) -> R {
    exception(500, class, "", message)
}

/// 500 "Invalid encoded image": an `init_images` entry or `mask` that is not an image.
pub(crate) fn invalid_image<R: From<Response>>() -> R {
    http_exception(500, "Invalid encoded image")
}

/// What CUDA says when it runs out of memory (the `oom` fault).
pub(crate) const OUT_OF_MEMORY: &str = "CUDA out of memory. Tried to allocate 2.50 GiB (GPU 0; 11.99 GiB total \
     capacity; 8.89 GiB already allocated; 1.06 GiB free; 9.14 GiB reserved in total by PyTorch) If reserved memory \
     is >> allocated memory try setting max_split_size_mb to avoid fragmentation.  See documentation for Memory \
     Management and PYTORCH_CUDA_ALLOC_CONF";

/// 500 `OutOfMemoryError` (the `oom` fault).
pub(crate) fn out_of_memory<R: From<Response>>() -> R {
    exception(500, "OutOfMemoryError", OUT_OF_MEMORY, OUT_OF_MEMORY)
}

/// 500 `NansException`, the usual way a generation fails (`generation_failed`).
pub(crate) fn nans<R: From<Response>>() -> R {
    raised(
        "NansException",
        "A tensor with all NaNs was produced in Unet. This could be either because there's not enough precision to \
         represent the picture, or because your video card does not support half type. Try setting the \"Upcast \
         cross attention layer to float32\" option in Settings > Stable Diffusion or using the --no-half \
         commandline argument to fix this. Use --disable-nan-check commandline argument to disable this check.",
    )
}

/// 401 with `WWW-Authenticate: Basic`; `missing` when no credentials came at
/// all (`HTTPBasic` says "Not authenticated" then).
pub(crate) fn unauthorized(missing: bool) -> Response {
    let detail = if missing { "Not authenticated" } else { "Incorrect username or password" };
    let mut response: Response = http_exception(401, detail);
    response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic"));
    response
}

/// One FastAPI validation error: where, what, and pydantic's error type.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Invalid {
    pub(crate) loc: Vec<Value>,
    pub(crate) msg: String,
    pub(crate) kind: &'static str,
    pub(crate) ctx: Option<Value>,
}

impl Invalid {
    /// A type error on body field `field`.
    pub(crate) fn field(field: &str, msg: &str, kind: &'static str) -> Self {
        Self { loc: vec![json!("body"), json!(field)], msg: msg.to_owned(), kind, ctx: None }
    }

    /// `field` is below `limit`.
    pub(crate) fn not_ge(field: &str, limit: Value) -> Self {
        Self {
            loc: vec![json!("body"), json!(field)],
            msg: format!("ensure this value is greater than or equal to {limit}"),
            kind: "value_error.number.not_ge",
            ctx: Some(json!({ "limit_value": limit })),
        }
    }

    /// `field` is above `limit`.
    pub(crate) fn not_le(field: &str, limit: Value) -> Self {
        Self {
            loc: vec![json!("body"), json!(field)],
            msg: format!("ensure this value is less than or equal to {limit}"),
            kind: "value_error.number.not_le",
            ctx: Some(json!({ "limit_value": limit })),
        }
    }
}

/// FastAPI's 422: `{"detail":[{loc, msg, type, ctx?}…]}`.
pub(crate) fn validation<R: From<Response>>(errors: &[Invalid]) -> R {
    let detail: Vec<Value> = errors
        .iter()
        .map(|e| {
            let mut item = json!({ "loc": e.loc, "msg": e.msg, "type": e.kind });
            if let Some(ctx) = &e.ctx {
                item["ctx"] = ctx.clone();
            }
            item
        })
        .collect();
    R::from((StatusCode::UNPROCESSABLE_ENTITY, Json(json!({ "detail": detail }))).into_response())
}

/// FastAPI's own 404 and 405 (no route): `{"detail":"Not Found"}`.
pub(crate) fn route_error(code: StatusCode) -> Response {
    let detail = code.canonical_reason().unwrap_or("Error");
    (code, Json(json!({ "detail": detail }))).into_response()
}

/// The answer to a `status=<code>` fault: an `HTTPException` with the
/// status's reason phrase (401 as the auth check says it, with its header).
pub(crate) fn fault_status(code: u16) -> Response {
    if code == 401 {
        return unauthorized(false);
    }
    let reason = StatusCode::from_u16(code).ok().and_then(|s| s.canonical_reason()).unwrap_or("Error");
    http_exception(code, reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_exceptions_read_as_the_middleware_writes_them() {
        let response: Response = invalid_image();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let response = unauthorized(true);
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(response.headers()[header::WWW_AUTHENTICATE], "Basic");
        assert_eq!(fault_status(429).status(), StatusCode::TOO_MANY_REQUESTS);
        let invalid = Invalid::not_ge("width", json!(64));
        assert_eq!(invalid.msg, "ensure this value is greater than or equal to 64");
    }
}
