//! What every remote provider's HTTP client shares: the phase a call is in, how a
//! transport failure is classed, `Retry-After`, and downloading a result file.

use std::time::Duration;

use atelier_core::ports::{ErrorClass, ProviderError};
use bytes::Bytes;
use reqwest::header::{CONTENT_TYPE, HeaderMap, RETRY_AFTER};

/// Which call an error happened in: a submit whose answer was lost may have
/// created (and charged for) a task, a poll may simply be repeated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Submit,
    Query,
    /// An input-file upload: cheap and safe to repeat, so a lost answer is an
    /// ordinary transport error, never `SubmitUnknown`.
    Upload,
}

/// A transport failure. A refused connection never reached the provider and may be
/// retried; a timeout or reset during a submit may have been carried out (and
/// charged), so it is `SubmitUnknown`, never something to send again blindly.
/// `who` names the provider in the message (reqwest's text names the URL, never
/// the key, which travels in a header).
pub fn transport_error(error: &reqwest::Error, phase: Phase, who: &str) -> ProviderError {
    let class = if error.is_connect() {
        ErrorClass::ConnectionRefused
    } else if phase == Phase::Submit {
        ErrorClass::SubmitUnknown
    } else if error.is_timeout() {
        ErrorClass::Timeout
    } else if error.is_decode() {
        ErrorClass::MalformedResponse
    } else {
        ErrorClass::ServerError
    };
    ProviderError::new(class, format!("{who} request failed: {error}"))
}

/// `Retry-After` in seconds, when given.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(RETRY_AFTER)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

/// Downloads a result file (result URLs are public and short-lived; no
/// credentials go with them). Returns the bytes and the `Content-Type` essence.
pub async fn download(http: &reqwest::Client, url: &str, who: &str) -> Result<(Bytes, Option<String>), ProviderError> {
    let response = http.get(url).send().await.map_err(|error| transport_error(&error, Phase::Query, who))?;
    let status = response.status();
    if !status.is_success() {
        let class = if status.is_server_error() { ErrorClass::ServerError } else { ErrorClass::ClientError };
        return Err(ProviderError::new(class, format!("downloading a result ({who}) failed with HTTP {status}")));
    }
    let mime = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or(v).trim().to_owned());
    let bytes = response.bytes().await.map_err(|error| transport_error(&error, Phase::Query, who))?;
    Ok((bytes, mime))
}
