//! What every Google model shares (docs/providers/google.md 3.1): the
//! `x-goog-api-key` header, JSON calls under the API root, the
//! `{"error": {code, message, status, details}}` answer classed once (a bad key,
//! `RESOURCE_EXHAUSTED` with its `RetryInfo`), and downloads that carry the key to
//! Google's own host only, never to where a download redirects.

use std::sync::Arc;
use std::time::Duration;

use atelier_core::ports::{ErrorClass, ProviderError};
use bytes::Bytes;
use reqwest::Method;
use reqwest::header::{CONTENT_TYPE, LOCATION};
use serde_json::Value;

use crate::kit::http::transport_error;
use crate::kit::{ApiClient, ApiKeyHeader, Phase, Reply};

const WHO: &str = "Google";

pub struct GoogleClient {
    api: ApiClient,
    /// For downloads: redirects are followed by hand, without the key.
    no_redirects: reqwest::Client,
    key: String,
    base: String,
}

impl GoogleClient {
    pub fn new(key: &str, base_url: &str, timeout: Duration) -> Result<Self, ProviderError> {
        let auth = Arc::new(ApiKeyHeader::new("x-goog-api-key", key)?);
        let no_redirects = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|error| {
                ProviderError::new(ErrorClass::ClientError, format!("building the HTTP client: {error}"))
            })?;
        Ok(Self {
            api: ApiClient::new(WHO, auth, timeout)?,
            no_redirects,
            key: key.to_owned(),
            base: base_url.to_owned(),
        })
    }

    /// The URL of a path under the API root (`models/x:predict`, `models/x/operations/y`).
    fn url(&self, path: &str) -> Result<reqwest::Url, ProviderError> {
        let path = path.trim_start_matches('/');
        // An operation name may come with its version (`v1beta/models/…`).
        let path = path.strip_prefix("v1beta/").unwrap_or(path);
        reqwest::Url::parse(&format!("{}/{path}", self.base))
            .map_err(|error| ProviderError::new(ErrorClass::ClientError, format!("a Google URL: {error}")))
    }

    /// `POST` a JSON body; the answer's JSON, or its error classed.
    pub async fn post(&self, path: &str, body: &Value, phase: Phase) -> Result<Value, ProviderError> {
        let request = self.api.request(Method::POST, self.url(path)?).json(body);
        read(self.api.send(request, phase).await?)
    }

    /// `GET` a resource (an operation); its JSON, or its error classed.
    pub async fn get(&self, path: &str) -> Result<Value, ProviderError> {
        let request = self.api.request(Method::GET, self.url(path)?);
        read(self.api.send(request, Phase::Query).await?)
    }

    /// Downloads a generated file. The key goes only to the API's own host; a
    /// redirect elsewhere (to storage) is followed without it.
    pub async fn download(&self, url: &str) -> Result<(Bytes, Option<String>), ProviderError> {
        let same_host =
            reqwest::Url::parse(url).ok().zip(reqwest::Url::parse(&self.base).ok()).is_some_and(|(file, api)| {
                file.host_str() == api.host_str() && file.port_or_known_default() == api.port_or_known_default()
            });
        if !same_host {
            return self.api.download(url).await;
        }
        let response = self
            .no_redirects
            .get(url)
            .header("x-goog-api-key", &self.key)
            .send()
            .await
            .map_err(|error| transport_error(&error, Phase::Query, WHO))?;
        let status = response.status();
        if status.is_redirection() {
            let location = response.headers().get(LOCATION).and_then(|value| value.to_str().ok()).unwrap_or_default();
            let target = reqwest::Url::parse(url).and_then(|base| base.join(location)).map_err(|_| {
                ProviderError::new(ErrorClass::MalformedResponse, "Google redirected a download nowhere")
            })?;
            return self.api.download(target.as_str()).await;
        }
        let mime = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .map(|value| value.split(';').next().unwrap_or(value).trim().to_owned());
        let headers = response.headers().clone();
        let body = response.bytes().await.map_err(|error| transport_error(&error, Phase::Query, WHO))?;
        if !status.is_success() {
            return Err(error_for(&Reply { status, headers, body }));
        }
        Ok((body, mime))
    }
}

fn read(reply: Reply) -> Result<Value, ProviderError> {
    if !reply.status.is_success() {
        return Err(error_for(&reply));
    }
    serde_json::from_slice(&reply.body).map_err(|error| {
        let head: String = String::from_utf8_lossy(&reply.body).chars().take(200).collect();
        ProviderError::new(ErrorClass::MalformedResponse, format!("Google's answer is not JSON ({error}): {head}"))
    })
}

/// A google.rpc.Status answer, classed: a bad or missing key (400 with
/// `API_KEY_INVALID`, 401, 403) is unauthorized; `RESOURCE_EXHAUSTED` (429) is
/// rate-limited, waiting as its `RetryInfo` (or `Retry-After`) says; 5xx is
/// retried; `DEADLINE_EXCEEDED` is a timeout; any other 4xx is refused.
pub fn error_for(reply: &Reply) -> ProviderError {
    let body: Value = serde_json::from_slice(&reply.body).unwrap_or(Value::Null);
    let error = &body["error"];
    let status_text = error["status"].as_str().unwrap_or_default();
    let message = error["message"].as_str().map(str::to_owned).unwrap_or_else(|| {
        let head: String = String::from_utf8_lossy(&reply.body).chars().take(200).collect();
        head
    });
    let details = error["details"].as_array().cloned().unwrap_or_default();
    let key_invalid = details.iter().any(|detail| {
        detail["reason"].as_str().is_some_and(|reason| reason == "API_KEY_INVALID" || reason == "API_KEY_EXPIRED")
    });
    let code = reply.status.as_u16();
    let class = match (code, status_text) {
        (_, "UNAUTHENTICATED" | "PERMISSION_DENIED") | (401 | 403, _) => ErrorClass::Unauthorized,
        _ if key_invalid => ErrorClass::Unauthorized,
        (_, "RESOURCE_EXHAUSTED") | (429, _) => ErrorClass::RateLimited,
        (_, "DEADLINE_EXCEEDED") | (504, _) => ErrorClass::Timeout,
        (500.., _) => ErrorClass::ServerError,
        _ => ErrorClass::ClientError,
    };
    let status = if status_text.is_empty() { String::new() } else { format!(" {status_text}") };
    let mut error = ProviderError::new(class, format!("Google answered HTTP {code}{status}: {message}"));
    error.retry_after = retry_delay(&details).or_else(|| reply.retry_after());
    error
}

/// `RetryInfo.retryDelay` ("2s", "1.5s") among an error's details.
fn retry_delay(details: &[Value]) -> Option<Duration> {
    details.iter().find_map(|detail| {
        let delay = detail["retryDelay"].as_str()?;
        let seconds: f64 = delay.trim().strip_suffix('s')?.parse().ok()?;
        (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds.min(3600.0)))
    })
}

#[cfg(test)]
mod tests {
    use reqwest::StatusCode;
    use reqwest::header::HeaderMap;

    use super::*;

    fn reply(status: u16, body: &str) -> Reply {
        Reply {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
            headers: HeaderMap::new(),
            body: Bytes::from(body.to_owned()),
        }
    }

    #[test]
    fn google_errors_are_classed_by_status_and_reason() {
        let bad_key = r#"{"error":{"code":400,"message":"API key not valid.","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID"}]}}"#;
        assert_eq!(error_for(&reply(400, bad_key)).class, ErrorClass::Unauthorized);
        let invalid = r#"{"error":{"code":400,"message":"bad aspect","status":"INVALID_ARGUMENT"}}"#;
        let error = error_for(&reply(400, invalid));
        assert_eq!(error.class, ErrorClass::ClientError);
        assert!(error.message.contains("INVALID_ARGUMENT: bad aspect"), "{}", error.message);
        let exhausted = r#"{"error":{"code":429,"message":"Quota","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"7s"}]}}"#;
        let error = error_for(&reply(429, exhausted));
        assert_eq!((error.class, error.retry_after), (ErrorClass::RateLimited, Some(Duration::from_secs(7))));
        assert_eq!(error_for(&reply(403, "{}")).class, ErrorClass::Unauthorized);
        assert_eq!(error_for(&reply(503, "<html>")).class, ErrorClass::ServerError);
        assert_eq!(error_for(&reply(504, "{}")).class, ErrorClass::Timeout);
        assert_eq!(error_for(&reply(404, "{}")).class, ErrorClass::ClientError);
    }
}
