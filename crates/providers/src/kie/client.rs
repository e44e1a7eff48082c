//! Kie.ai's HTTP conventions (docs/providers/kie.md 1.1): `Authorization: Bearer`, the
//! `{code, msg, data}` envelope whose `code` is authoritative (the HTTP status may
//! or may not mirror it), and the mapping of its codes to Atelier's error classes.

use std::sync::Arc;

use atelier_core::ports::{ErrorClass, ProviderError};
use reqwest::Method;
use serde_json::Value;

pub use crate::kit::Phase;
use crate::kit::{ApiClient, Bearer, Reply};

#[derive(Clone)]
pub struct KieClient {
    api: ApiClient,
    base_url: String,
    /// Kie's file-upload API lives on its own host (docs/providers/kie.md 1.5).
    upload_base_url: String,
}

impl KieClient {
    pub fn new(
        api_key: &str,
        base_url: &str,
        upload_base_url: &str,
        timeout: std::time::Duration,
    ) -> Result<Self, ProviderError> {
        let api = ApiClient::new("Kie", Arc::new(Bearer::new(api_key)?), timeout)?;
        Ok(Self {
            api,
            base_url: base_url.trim_end_matches('/').to_owned(),
            upload_base_url: upload_base_url.trim_end_matches('/').to_owned(),
        })
    }

    pub async fn post(&self, path: &str, body: &Value, phase: Phase) -> Result<Value, ProviderError> {
        let request = self.api.request(Method::POST, url(&self.base_url, path, &[])?).json(body);
        self.send(request, phase).await
    }

    pub async fn get(&self, path: &str, query: &[(&str, &str)], phase: Phase) -> Result<Value, ProviderError> {
        let request = self.api.request(Method::GET, url(&self.base_url, path, query)?);
        self.send(request, phase).await
    }

    /// A JSON upload (`file-url-upload`, `file-base64-upload`) on the upload host.
    pub async fn post_upload(&self, path: &str, body: &Value) -> Result<Value, ProviderError> {
        let request = self.api.request(Method::POST, url(&self.upload_base_url, path, &[])?).json(body);
        self.send(request, Phase::Upload).await
    }

    /// A multipart upload (`file-stream-upload`) on the upload host.
    pub async fn post_upload_multipart(
        &self,
        path: &str,
        form: reqwest::multipart::Form,
    ) -> Result<Value, ProviderError> {
        let request = self.api.request(Method::POST, url(&self.upload_base_url, path, &[])?).multipart(form);
        self.send(request, Phase::Upload).await
    }

    /// Downloads a result file (result URLs are public and short-lived).
    pub async fn download(&self, url: &str) -> Result<(bytes::Bytes, Option<String>), ProviderError> {
        self.api.download(url).await
    }

    /// Sends a request and returns the envelope's `data` when `code` is 200.
    async fn send(&self, request: reqwest::RequestBuilder, phase: Phase) -> Result<Value, ProviderError> {
        let reply = self.api.send(request, phase).await?;
        envelope_data(&reply)
    }
}

fn url(base: &str, path: &str, query: &[(&str, &str)]) -> Result<reqwest::Url, ProviderError> {
    reqwest::Url::parse_with_params(&format!("{base}{path}"), query)
        .map_err(|error| ProviderError::new(ErrorClass::ClientError, format!("invalid Kie URL {base}{path}: {error}")))
}

/// The `data` of a `{code, msg, data}` envelope whose `code` is 200; any other code
/// (or no envelope) as an error class.
fn envelope_data(reply: &Reply) -> Result<Value, ProviderError> {
    let status = reply.status;
    let retry_after = reply.retry_after();
    let envelope: Value = match serde_json::from_slice(&reply.body) {
        Ok(value @ Value::Object(_)) => value,
        _ => {
            // No envelope: classify by the HTTP status alone.
            let class =
                if status.is_success() { ErrorClass::MalformedResponse } else { class_for_code(status.as_u16()) };
            let mut error = ProviderError::new(class, format!("Kie answered HTTP {status} without a JSON envelope"));
            error.retry_after = retry_after;
            return Err(error);
        }
    };
    let code = envelope.get("code").and_then(Value::as_i64).unwrap_or(i64::from(status.as_u16()));
    if code == 200 {
        return Ok(envelope.get("data").cloned().unwrap_or(Value::Null));
    }
    // Some doc copies say `message` instead of `msg`: accept both.
    let message = envelope
        .get("msg")
        .or_else(|| envelope.get("message"))
        .and_then(Value::as_str)
        .unwrap_or("no message")
        .to_owned();
    let mut error = ProviderError::new(
        class_for_code(u16::try_from(code).unwrap_or(500)),
        format!("Kie answered code {code}: {message}"),
    );
    error.retry_after = retry_after;
    Err(error)
}

/// Kie's `code` values (docs/providers/kie.md 1.1) as error classes.
pub fn class_for_code(code: u16) -> ErrorClass {
    match code {
        401 => ErrorClass::Unauthorized,
        402 => ErrorClass::InsufficientCredits,
        408 => ErrorClass::Timeout,
        429 => ErrorClass::RateLimited,
        // 455: maintenance; 500: server error; other 5xx alike.
        455 | 500 | 502..=504 => ErrorClass::ServerError,
        501 => ErrorClass::GenerationFailed,
        // 400, 404, 422, 433 (sub-key limit), 451 (input image fetch), 505 (feature off).
        _ => ErrorClass::ClientError,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_to_classes() {
        assert_eq!(class_for_code(401), ErrorClass::Unauthorized);
        assert_eq!(class_for_code(402), ErrorClass::InsufficientCredits);
        assert_eq!(class_for_code(422), ErrorClass::ClientError);
        assert_eq!(class_for_code(429), ErrorClass::RateLimited);
        assert_eq!(class_for_code(455), ErrorClass::ServerError);
        assert_eq!(class_for_code(500), ErrorClass::ServerError);
        assert_eq!(class_for_code(501), ErrorClass::GenerationFailed);
        assert_eq!(class_for_code(505), ErrorClass::ClientError);
    }
}
