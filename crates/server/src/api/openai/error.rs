//! OpenAI's error shape, on these routes only: `{"error": {"message", "type",
//! "param", "code"}}`. Every error the rest of the server makes (authentication,
//! admission, validation) is rewritten into it by [`reshape`], one layer over the
//! routes, so a handler returns the same `ApiError`s as a native one.

use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::api::error::ApiError;

/// Error bodies are short; a longer one is passed through as it is.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// An error in OpenAI's words.
#[derive(Debug)]
pub struct OpenAiError {
    pub status: StatusCode,
    pub message: String,
    /// OpenAI's `type`: `invalid_request_error`, `authentication_error`, …
    pub kind: &'static str,
    pub param: Option<String>,
    pub code: Option<String>,
    pub retry_after: Option<Duration>,
    /// `x-should-retry: false`: the OpenAI SDKs otherwise send a 5xx again, which
    /// here would make (and maybe pay for) a second task.
    pub no_retry: bool,
}

impl OpenAiError {
    pub fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        Self { status, message: message.into(), kind, param: None, code: None, retry_after: None, no_retry: false }
    }

    /// A request OpenAI would refuse with 400, naming the parameter.
    pub fn invalid(param: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request_error", message).param(param).code("invalid_value")
    }

    pub fn param(mut self, param: &str) -> Self {
        self.param = Some(param.to_owned());
        self
    }

    pub fn code(mut self, code: &str) -> Self {
        self.code = Some(code.to_owned());
        self
    }

    pub fn no_retry(mut self) -> Self {
        self.no_retry = true;
        self
    }

    /// An Atelier error (its stable code and details) as OpenAI would say it.
    fn from_parts(status: StatusCode, code: &str, message: String, details: Option<&Value>) -> Self {
        let param = details.and_then(|details| details.get("field")).and_then(Value::as_str).map(str::to_owned);
        let (status, kind) = match status {
            // OpenAI answers every request it will not take with 400.
            StatusCode::UNPROCESSABLE_ENTITY => (StatusCode::BAD_REQUEST, "invalid_request_error"),
            StatusCode::UNAUTHORIZED => (status, "invalid_request_error"),
            StatusCode::FORBIDDEN => (status, "permission_error"),
            StatusCode::NOT_FOUND => (status, "invalid_request_error"),
            StatusCode::TOO_MANY_REQUESTS => (status, "rate_limit_error"),
            status if status.is_server_error() => (status, "server_error"),
            status => (status, "invalid_request_error"),
        };
        let code = match code {
            "unauthorized" | "invalid_api_key" => "invalid_api_key",
            other => other,
        };
        Self { param, ..Self::new(status, kind, message).code(code) }
    }
}

impl From<ApiError> for OpenAiError {
    fn from(error: ApiError) -> Self {
        let retry_after = error.retry_after;
        Self { retry_after, ..Self::from_parts(error.status, error.code, error.message, error.details.as_ref()) }
    }
}

impl From<atelier_core::CoreError> for OpenAiError {
    fn from(error: atelier_core::CoreError) -> Self {
        ApiError::from(error).into()
    }
}

impl IntoResponse for OpenAiError {
    fn into_response(self) -> Response {
        let body = json!({ "error": {
            "message": self.message,
            "type": self.kind,
            "param": self.param,
            "code": self.code,
        }});
        let mut response = (self.status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        if let Some(delay) = self.retry_after {
            let seconds = delay.as_secs().max(1);
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
            headers.insert("retry-after-ms", HeaderValue::from(seconds * 1000));
        }
        if self.no_retry {
            headers.insert("x-should-retry", HeaderValue::from_static("false"));
        }
        response
    }
}

/// Rewrites an error answer in Atelier's shape (`{"error": "<code>", "message",
/// "details"}`) into OpenAI's, keeping its status (422 becomes 400) and headers.
/// Answers already in OpenAI's shape, and successes, pass untouched.
pub async fn reshape(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || !is_json {
        return response;
    }
    let (parts, body) = response.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_ERROR_BODY).await {
        Ok(bytes) => bytes,
        Err(_) => {
            return OpenAiError::new(status, "server_error", "the error answer could not be read").into_response();
        }
    };
    let native: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let (Some(code), Some(message)) =
        (native.get("error").and_then(Value::as_str), native.get("message").and_then(Value::as_str))
    else {
        return Response::from_parts(parts, Body::from(bytes));
    };
    let error = OpenAiError::from_parts(status, code, message.to_owned(), native.get("details"));
    let mut reshaped = error.into_response();
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            reshaped.headers_mut().insert(name.clone(), value.clone());
        }
    }
    reshaped
}

/// An unknown path under `/v1`.
pub async fn not_found(uri: axum::http::Uri) -> OpenAiError {
    OpenAiError::new(StatusCode::NOT_FOUND, "invalid_request_error", format!("Unknown request URL: {}", uri.path()))
        .code("unknown_url")
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body(response: Response) -> Value {
        let bytes = axum::body::to_bytes(response.into_body(), MAX_ERROR_BODY).await.expect("body");
        serde_json::from_slice(&bytes).expect("json")
    }

    #[tokio::test]
    async fn native_errors_take_openais_shape_and_keep_retry_after() {
        let native = ApiError::validation("size: not offered", json!({ "field": "size" })).into_response();
        let reshaped = reshape(native).await;
        assert_eq!(reshaped.status(), StatusCode::BAD_REQUEST);
        let answer = body(reshaped).await;
        assert_eq!(answer["error"]["param"], "size");
        assert_eq!(answer["error"]["type"], "invalid_request_error");
        assert_eq!(answer["error"]["code"], "validation_error");
        assert_eq!(answer["error"]["message"], "size: not offered");

        let busy = ApiError::from(atelier_core::CoreError::Overloaded {
            message: "slow down".into(),
            retry_after: Duration::from_secs(5),
        })
        .into_response();
        let reshaped = reshape(busy).await;
        assert_eq!(reshaped.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(reshaped.headers()[header::RETRY_AFTER], "5");
        assert_eq!(body(reshaped).await["error"]["type"], "rate_limit_error");
    }

    #[tokio::test]
    async fn openai_shaped_answers_and_successes_pass_untouched() {
        let ours = OpenAiError::invalid("n", "too many").no_retry().into_response();
        let passed = reshape(ours).await;
        assert_eq!(passed.headers()["x-should-retry"], "false");
        assert_eq!(body(passed).await["error"]["param"], "n");
        let ok = (StatusCode::OK, axum::Json(json!({ "error": "not one" }))).into_response();
        assert_eq!(body(reshape(ok).await).await, json!({ "error": "not one" }));
    }
}
