//! OpenAI's HTTP conventions (docs/providers/openai.md 2.1), and Azure OpenAI's (2.6), in one
//! client with a flavour switch: where each API lives, how to authenticate, the
//! `{"error": {message, type, param, code}}` shape, and the mapping of answers and
//! transport failures to Atelier's error classes.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use atelier_core::ports::{ErrorClass, ProviderError};
use bytes::Bytes;
use reqwest::Method;
use reqwest::header::HeaderMap;
use serde_json::Value;

/// The response header with which OpenAI asks video pollers to wait (milliseconds).
pub const POLL_AFTER_HEADER: &str = "openai-poll-after-ms";

pub use crate::kit::Phase;
use crate::kit::{ApiClient, ApiKeyHeader, Auth, Bearer};

/// The APIs Atelier calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Api {
    ImageGenerations,
    ImageEdits,
    Speech,
    /// `POST /chat/completions`.
    ChatCompletions,
    /// `GET /models`.
    Models,
    /// `POST /videos` (create) and `GET /videos` (list).
    Videos,
    /// `GET` or `DELETE /videos/{id}`.
    Video(String),
    /// `GET /videos/{id}/content`.
    VideoContent(String),
}

impl Api {
    /// The path after the API root, without the leading slash.
    fn path(&self) -> String {
        match self {
            Self::ImageGenerations => "images/generations".into(),
            Self::ImageEdits => "images/edits".into(),
            Self::Speech => "audio/speech".into(),
            Self::ChatCompletions => "chat/completions".into(),
            Self::Models => "models".into(),
            Self::Videos => "videos".into(),
            Self::Video(id) => format!("videos/{}", encode_segment(id)),
            Self::VideoContent(id) => format!("videos/{}/content", encode_segment(id)),
        }
    }

    /// Whether Azure routes it through a deployment (`/openai/deployments/{name}/…`).
    fn is_deployment_routed(&self) -> bool {
        matches!(self, Self::ImageGenerations | Self::ImageEdits | Self::Speech | Self::ChatCompletions)
    }
}

/// Where requests go and how they authenticate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `Authorization: Bearer`, optional `OpenAI-Organization` / `OpenAI-Project`.
    OpenAi { base_url: String, organization: Option<String>, project: Option<String> },
    /// `api-key`, a required `api-version` on every request, and deployments.
    Azure {
        /// `https://{resource}.openai.azure.com`.
        endpoint: String,
        api_version: String,
        /// Model → deployment name; a model not listed is deployed under its own name.
        deployments: BTreeMap<String, String>,
    },
}

impl Target {
    /// The URL of `api` for `model`.
    pub fn url(&self, api: &Api, model: &str) -> Result<reqwest::Url, ProviderError> {
        let text = match self {
            Self::OpenAi { base_url, .. } => format!("{}/{}", base_url.trim_end_matches('/'), api.path()),
            Self::Azure { endpoint, .. } if api.is_deployment_routed() => format!(
                "{}/openai/deployments/{}/{}",
                endpoint.trim_end_matches('/'),
                encode_segment(&self.deployment(model)),
                api.path()
            ),
            Self::Azure { endpoint, .. } => format!("{}/openai/{}", endpoint.trim_end_matches('/'), api.path()),
        };
        let mut url = reqwest::Url::parse(&text)
            .map_err(|error| ProviderError::new(ErrorClass::ClientError, format!("invalid URL {text}: {error}")))?;
        if let Self::Azure { api_version, .. } = self {
            url.query_pairs_mut().append_pair("api-version", api_version);
        }
        Ok(url)
    }

    /// The name a request body gives the model: Azure's deployment, OpenAI's model.
    pub fn deployment(&self, model: &str) -> String {
        match self {
            Self::OpenAi { .. } => model.to_owned(),
            Self::Azure { deployments, .. } => deployments.get(model).cloned().unwrap_or_else(|| model.to_owned()),
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Self::OpenAi { .. } => "OpenAI",
            Self::Azure { .. } => "Azure OpenAI",
        }
    }
}

/// Path segments are ids and deployment names: keep them to one segment.
fn encode_segment(segment: &str) -> String {
    segment
        .bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => char::from(byte).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// A successful answer.
pub struct Answer {
    pub body: Bytes,
    pub headers: HeaderMap,
}

impl Answer {
    /// The body as JSON; anything else is a malformed answer.
    pub fn json(&self) -> Result<Value, ProviderError> {
        serde_json::from_slice(&self.body).map_err(|_| {
            ProviderError::new(
                ErrorClass::MalformedResponse,
                "the provider answered HTTP 200 with a body that is not JSON",
            )
        })
    }

    /// `openai-poll-after-ms`, when the provider sent it.
    pub fn poll_after(&self) -> Option<Duration> {
        self.headers
            .get(POLL_AFTER_HEADER)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().parse::<u64>().ok())
            .map(Duration::from_millis)
    }
}

#[derive(Clone)]
pub struct OpenAiClient {
    api: ApiClient,
    target: Target,
}

impl OpenAiClient {
    pub fn new(api_key: &str, target: Target, timeout: Duration) -> Result<Self, ProviderError> {
        let auth: Arc<dyn Auth> = match &target {
            Target::OpenAi { organization, project, .. } => {
                let mut bearer = Bearer::new(api_key)?;
                if let Some(organization) = organization {
                    bearer = bearer.with_header("openai-organization", organization)?;
                }
                if let Some(project) = project {
                    bearer = bearer.with_header("openai-project", project)?;
                }
                Arc::new(bearer)
            }
            Target::Azure { .. } => Arc::new(ApiKeyHeader::new("api-key", api_key)?),
        };
        // Transport errors read "the request failed: …" for both flavours.
        Ok(Self { api: ApiClient::new("the", auth, timeout)?, target })
    }

    pub fn target(&self) -> &Target {
        &self.target
    }

    pub async fn post_json(&self, api: &Api, model: &str, body: &Value, phase: Phase) -> Result<Answer, ProviderError> {
        let request = self.api.request(Method::POST, self.target.url(api, model)?).json(body);
        self.send(request, phase).await
    }

    pub async fn post_multipart(
        &self,
        api: &Api,
        model: &str,
        form: reqwest::multipart::Form,
        phase: Phase,
    ) -> Result<Answer, ProviderError> {
        let request = self.api.request(Method::POST, self.target.url(api, model)?).multipart(form);
        self.send(request, phase).await
    }

    pub async fn get(&self, api: &Api, query: &[(&str, &str)]) -> Result<Answer, Failure> {
        let mut url = self.target.url(api, "")?;
        for (key, value) in query {
            url.query_pairs_mut().append_pair(key, value);
        }
        let request =
            self.api.request(Method::GET, url).header(reqwest::header::ACCEPT, "application/binary, application/json");
        self.send_checked(request, Phase::Query).await
    }

    pub async fn delete(&self, api: &Api) -> Result<Answer, Failure> {
        let request = self.api.request(Method::DELETE, self.target.url(api, "")?);
        self.send_checked(request, Phase::Query).await
    }

    /// Downloads a result `url` (DALL·E's, valid for an hour); no credentials go with it.
    pub async fn download(&self, url: &str) -> Result<Bytes, ProviderError> {
        self.api.download(url).await.map(|(bytes, _)| bytes)
    }

    async fn send(&self, request: reqwest::RequestBuilder, phase: Phase) -> Result<Answer, ProviderError> {
        self.send_checked(request, phase).await.map_err(|failure| failure.error)
    }

    async fn send_checked(&self, request: reqwest::RequestBuilder, phase: Phase) -> Result<Answer, Failure> {
        let reply = self.api.send(request, phase).await?;
        if reply.status.is_success() {
            return Ok(Answer { body: reply.body, headers: reply.headers });
        }
        let mut error = error_for(self.target.name(), reply.status.as_u16(), &reply.body);
        error.retry_after = reply.retry_after();
        Err(Failure { error, status: Some(reply.status.as_u16()) })
    }
}

/// A failed call, with the HTTP status when there was an answer.
#[derive(Debug)]
pub struct Failure {
    pub error: ProviderError,
    pub status: Option<u16>,
}

impl From<ProviderError> for Failure {
    fn from(error: ProviderError) -> Self {
        Self { error, status: None }
    }
}

impl From<Failure> for ProviderError {
    fn from(failure: Failure) -> Self {
        failure.error
    }
}

/// The fields of an error body, each optional: the SDK reads `body["error"]`, then
/// its `message`, `type`, `param` and `code` (a string, sometimes a number).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ErrorBody {
    pub message: Option<String>,
    pub kind: Option<String>,
    pub param: Option<String>,
    pub code: Option<String>,
}

impl ErrorBody {
    pub fn parse(body: &[u8]) -> Self {
        let Ok(value) = serde_json::from_slice::<Value>(body) else { return Self::default() };
        // `{"error": {...}}`; some gateways send the object bare, or `error` as a string.
        let error = match value.get("error") {
            Some(Value::String(message)) => return Self { message: Some(message.clone()), ..Self::default() },
            Some(error @ Value::Object(_)) => error,
            _ => &value,
        };
        let text = |key: &str| match error.get(key) {
            Some(Value::String(text)) if !text.is_empty() => Some(text.clone()),
            Some(Value::Number(number)) => Some(number.to_string()),
            _ => None,
        };
        Self { message: text("message"), kind: text("type"), param: text("param"), code: text("code") }
    }
}

/// An error answer as an error class and a message that says what the provider said.
pub fn error_for(provider: &str, status: u16, body: &[u8]) -> ProviderError {
    let parsed = ErrorBody::parse(body);
    let code = parsed.code.as_deref().unwrap_or_default();
    let content = matches!(code, "moderation_blocked" | "content_policy_violation" | "content_filter");
    let class = match status {
        401 => ErrorClass::Unauthorized,
        400..500 if content => ErrorClass::ContentFiltered,
        429 if code == "insufficient_quota" => ErrorClass::InsufficientCredits,
        429 => ErrorClass::RateLimited,
        500.. => ErrorClass::ServerError,
        // 400, 403, 404, 409, 410, 422 and any other 4xx: our request was refused.
        _ => ErrorClass::ClientError,
    };
    let mut message = match code {
        _ if content => format!("{provider} refused the request on content grounds (safety system, {code})"),
        _ if class == ErrorClass::Unauthorized => format!("{provider} refused the API key (HTTP 401)"),
        _ => format!("{provider} answered HTTP {status}"),
    };
    let mut notes = Vec::new();
    if let Some(kind) = &parsed.kind {
        notes.push(format!("type {kind}"));
    }
    if let Some(param) = &parsed.param {
        notes.push(format!("param {param}"));
    }
    if !code.is_empty() {
        notes.push(format!("code {code}"));
    }
    if !notes.is_empty() {
        message.push_str(&format!(" [{}]", notes.join(", ")));
    }
    if let Some(text) = &parsed.message {
        message.push_str(": ");
        message.push_str(text);
    }
    ProviderError::new(class, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn azure(deployments: &[(&str, &str)]) -> Target {
        Target::Azure {
            endpoint: "https://res.openai.azure.com/".into(),
            api_version: "2025-04-01-preview".into(),
            deployments: deployments.iter().map(|(m, d)| ((*m).to_owned(), (*d).to_owned())).collect(),
        }
    }

    #[test]
    fn openai_urls_hang_off_the_base() {
        let target =
            Target::OpenAi { base_url: "https://api.openai.com/v1/".into(), organization: None, project: None };
        let url = |api: Api| target.url(&api, "gpt-image-1").expect("url").to_string();
        assert_eq!(url(Api::ImageGenerations), "https://api.openai.com/v1/images/generations");
        assert_eq!(url(Api::ImageEdits), "https://api.openai.com/v1/images/edits");
        assert_eq!(url(Api::Speech), "https://api.openai.com/v1/audio/speech");
        assert_eq!(url(Api::Videos), "https://api.openai.com/v1/videos");
        assert_eq!(url(Api::Video("video_1".into())), "https://api.openai.com/v1/videos/video_1");
        assert_eq!(url(Api::VideoContent("video_1".into())), "https://api.openai.com/v1/videos/video_1/content");
        assert_eq!(url(Api::Video("a/b".into())), "https://api.openai.com/v1/videos/a%2Fb");
    }

    #[test]
    fn azure_urls_route_through_deployments_with_the_api_version() {
        let target = azure(&[("gpt-image-1", "images-prod")]);
        let url = |api: Api, model: &str| target.url(&api, model).expect("url").to_string();
        assert_eq!(
            url(Api::ImageGenerations, "gpt-image-1"),
            "https://res.openai.azure.com/openai/deployments/images-prod/images/generations?api-version=2025-04-01-preview"
        );
        assert_eq!(
            url(Api::ImageEdits, "dall-e-2"),
            "https://res.openai.azure.com/openai/deployments/dall-e-2/images/edits?api-version=2025-04-01-preview"
        );
        assert_eq!(
            url(Api::Speech, "tts-1"),
            "https://res.openai.azure.com/openai/deployments/tts-1/audio/speech?api-version=2025-04-01-preview"
        );
        assert_eq!(
            url(Api::Videos, "sora-2"),
            "https://res.openai.azure.com/openai/videos?api-version=2025-04-01-preview"
        );
        assert_eq!(
            url(Api::VideoContent("video_9".into()), ""),
            "https://res.openai.azure.com/openai/videos/video_9/content?api-version=2025-04-01-preview"
        );
        assert_eq!(target.deployment("gpt-image-1"), "images-prod");
        assert_eq!(target.deployment("tts-1"), "tts-1");
    }

    #[test]
    fn the_providers_poll_wait_is_read() {
        let mut headers = HeaderMap::new();
        let answer = |headers: HeaderMap| Answer { body: Bytes::new(), headers }.poll_after();
        assert_eq!(answer(headers.clone()), None);
        headers.insert(POLL_AFTER_HEADER, reqwest::header::HeaderValue::from_static("1500"));
        assert_eq!(answer(headers.clone()), Some(Duration::from_millis(1500)));
        headers.insert(POLL_AFTER_HEADER, reqwest::header::HeaderValue::from_static("soon"));
        assert_eq!(answer(headers), None);
    }

    #[test]
    fn error_shapes_map_to_classes() {
        let body = |code: &str| {
            format!(r#"{{"error":{{"message":"m","type":"invalid_request_error","param":null,"code":"{code}"}}}}"#)
        };
        let class = |status: u16, body: &str| error_for("OpenAI", status, body.as_bytes()).class;
        assert_eq!(class(400, &body("invalid_value")), ErrorClass::ClientError);
        assert_eq!(class(401, &body("invalid_api_key")), ErrorClass::Unauthorized);
        for status in [403, 404, 409, 410, 422] {
            assert_eq!(class(status, "{}"), ErrorClass::ClientError, "{status}");
        }
        assert_eq!(class(429, &body("rate_limit_exceeded")), ErrorClass::RateLimited);
        assert_eq!(class(429, "not json"), ErrorClass::RateLimited);
        assert_eq!(class(429, &body("insufficient_quota")), ErrorClass::InsufficientCredits);
        for status in [500, 502, 503, 504] {
            assert_eq!(class(status, "<html>"), ErrorClass::ServerError, "{status}");
        }
    }

    #[test]
    fn error_messages_carry_the_providers_words() {
        let moderation = br#"{"error":{"message":"Your request was rejected by the safety system. safety_violations=[sexual].","type":"image_generation_user_error","param":null,"code":"moderation_blocked"}}"#;
        let error = error_for("OpenAI", 400, moderation);
        assert_eq!(error.class, ErrorClass::ContentFiltered);
        assert!(error.message.contains("safety system, moderation_blocked"), "{}", error.message);
        assert!(error.message.contains("safety_violations=[sexual]"), "{}", error.message);

        let param =
            br#"{"error":{"message":"Invalid size","type":"invalid_request_error","param":"size","code":null}}"#;
        let error = error_for("Azure OpenAI", 400, param);
        assert_eq!(
            error.message,
            "Azure OpenAI answered HTTP 400 [type invalid_request_error, param size]: Invalid size"
        );

        assert_eq!(
            ErrorBody::parse(br#"{"error":{"message":"x","code":429}}"#),
            ErrorBody { message: Some("x".into()), kind: None, param: None, code: Some("429".into()) }
        );
        assert_eq!(ErrorBody::parse(br#"{"error":"plain"}"#).message.as_deref(), Some("plain"));
        assert_eq!(ErrorBody::parse(b"<html>"), ErrorBody::default());
    }
}
