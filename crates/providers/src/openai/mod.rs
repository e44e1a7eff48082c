//! OpenAI (protocols.md section 2), and Azure OpenAI as a second service offering
//! the same models (`azure.rs`): one client with a flavour switch (`client.rs`),
//! one file per API: `images.rs` (generations, and every image model's
//! parameters), `edits.rs` (multipart edits), `speech.rs`, `videos.rs`.
//!
//! Images and speech are synchronous: `submit` answers `Finished` with the files.
//! Videos are asynchronous: `submit` creates the video and answers `Accepted` with
//! its id, which the worker records before it polls.

pub mod azure;
pub mod client;
pub mod edits;
pub mod images;
pub mod speech;
pub mod videos;

use std::time::Duration;

use async_trait::async_trait;
use atelier_core::CoreError;
use atelier_core::catalog::ModelSpec;
use atelier_core::ports::{ErrorClass, Job, Polled, Provider, ProviderError, Submitted};
use serde_json::Value;

use self::client::{OpenAiClient, Target};
use self::images::ImageModel;
use self::speech::SpeechModel;
use self::videos::{VideoModel, VideoState};

pub const SERVICE: &str = "openai";
/// The config key that makes OpenAI usable.
pub const CONFIG_KEY: &str = "providers.openai.api_key";

#[derive(Debug, Clone)]
pub struct OpenAiConfig {
    /// `None`: the models are listed but not usable.
    pub api_key: Option<String>,
    /// The API root, `https://api.openai.com/v1`.
    pub base_url: String,
    /// Sent as `OpenAI-Organization` when set.
    pub organization: Option<String>,
    /// Sent as `OpenAI-Project` when set.
    pub project: Option<String>,
    /// Synchronous image generations can take minutes.
    pub request_timeout: Duration,
    /// Seed 003's polling of videos when the provider does not say: this (2 s),
    /// then 5 s, then 10 s.
    pub first_poll: Duration,
}

impl Default for OpenAiConfig {
    fn default() -> Self {
        Self {
            api_key: None,
            base_url: "https://api.openai.com/v1".into(),
            organization: None,
            project: None,
            request_timeout: Duration::from_secs(300),
            first_poll: Duration::from_secs(2),
        }
    }
}

/// A model of this module, by API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Image(ImageModel),
    Speech(SpeechModel),
    Video(VideoModel),
}

impl Family {
    fn of(model: &str) -> Option<Self> {
        ImageModel::from_name(model)
            .map(Self::Image)
            .or_else(|| SpeechModel::from_name(model).map(Self::Speech))
            .or_else(|| VideoModel::from_name(model).map(Self::Video))
    }
}

/// OpenAI or Azure OpenAI: the same models, reached through different targets.
pub struct OpenAiProvider {
    service: &'static str,
    /// How specs and messages name the service.
    title: &'static str,
    /// The config key to set, when the service cannot be used yet.
    requires_config: Option<String>,
    client: Option<OpenAiClient>,
    first_poll: Duration,
}

impl OpenAiProvider {
    /// OpenAI itself.
    pub fn new(config: OpenAiConfig) -> Result<Self, ProviderError> {
        let target = Target::OpenAi {
            base_url: config.base_url.trim_end_matches('/').to_owned(),
            organization: config.organization.filter(|o| !o.is_empty()),
            project: config.project.filter(|p| !p.is_empty()),
        };
        let client = match config.api_key {
            Some(key) => Some(OpenAiClient::new(key, target, config.request_timeout)?),
            None => None,
        };
        let requires_config = client.is_none().then(|| CONFIG_KEY.to_owned());
        Ok(Self { service: SERVICE, title: "OpenAI", requires_config, client, first_poll: config.first_poll })
    }

    fn client(&self) -> Result<&OpenAiClient, ProviderError> {
        self.client.as_ref().ok_or_else(|| {
            let key = self.requires_config.as_deref().unwrap_or(CONFIG_KEY);
            ProviderError::new(ErrorClass::Unauthorized, format!("{} is not configured: set {key}", self.title))
        })
    }

    fn family(&self, model: &str) -> Result<Family, ProviderError> {
        Family::of(model).ok_or_else(|| {
            ProviderError::new(ErrorClass::ClientError, format!("{} does not offer {model:?}", self.service))
        })
    }

    /// Seed 003's schedule: `first_poll` (2 s) for the first three polls, then 5 s,
    /// then 10 s once the video has taken two minutes.
    fn poll_interval(&self, running_for: Duration) -> Duration {
        let first = self.first_poll;
        if running_for < first * 3 {
            first
        } else if running_for < Duration::from_secs(120) {
            (first * 5 / 2).min(Duration::from_secs(10))
        } else {
            (first * 5).min(Duration::from_secs(10))
        }
    }
}

fn invalid(error: CoreError) -> ProviderError {
    ProviderError::new(ErrorClass::ClientError, error.to_string())
}

fn strings(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::String(text)) => vec![text.clone()],
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
        _ => Vec::new(),
    }
}

#[async_trait]
impl Provider for OpenAiProvider {
    fn service(&self) -> &str {
        self.service
    }

    fn models(&self) -> Vec<ModelSpec> {
        let requires = || self.requires_config.clone();
        let images = ImageModel::ALL.into_iter().map(|m| images::spec(self.service, self.title, m, requires()));
        let speech = SpeechModel::ALL.into_iter().map(|m| speech::spec(self.service, self.title, m, requires()));
        let videos = VideoModel::ALL.into_iter().map(|m| videos::spec(self.service, self.title, m, requires()));
        images.chain(speech).chain(videos).collect()
    }

    fn validate(&self, model: &str, input: &Value) -> Result<Value, CoreError> {
        match Family::of(model) {
            Some(Family::Image(model)) => images::validate(model, input),
            Some(Family::Speech(model)) => speech::validate(model, input),
            Some(Family::Video(model)) => videos::validate(model, input),
            None => Err(CoreError::invalid("model", format!("{} does not offer {model:?}", self.service))),
        }
    }

    fn submit_is_costly(&self) -> bool {
        true
    }

    fn input_files(&self, model: &str, input: &Value) -> Vec<String> {
        match Family::of(model) {
            Some(Family::Image(_)) => {
                let mut files = strings(input.get("images"));
                files.extend(strings(input.get("mask")));
                files
            }
            Some(Family::Video(_)) => strings(input.get("input_reference")),
            Some(Family::Speech(_)) | None => Vec::new(),
        }
    }

    async fn submit(&self, job: &Job<'_>) -> Result<Submitted, ProviderError> {
        let client = self.client()?;
        match self.family(job.model)? {
            Family::Image(model) => {
                let params: images::ImageParams = crate::params::parse_params(job.input).map_err(invalid)?;
                let outputs = if params.is_edit() {
                    edits::edit(client, model, &params, job.files).await?
                } else {
                    images::generate(client, model, &params).await?
                };
                Ok(Submitted::Finished(outputs))
            }
            Family::Speech(model) => {
                let params: speech::SpeechParams = crate::params::parse_params(job.input).map_err(invalid)?;
                Ok(Submitted::Finished(vec![speech::speak(client, model, &params).await?]))
            }
            Family::Video(model) => {
                let params: videos::VideoParams = crate::params::parse_params(job.input).map_err(invalid)?;
                let (external_id, answer) = videos::create(client, model, &params, job.files).await?;
                let poll_after = answer.poll_after().unwrap_or_else(|| self.poll_interval(Duration::ZERO));
                Ok(Submitted::Accepted { external_id, poll_after })
            }
        }
    }

    async fn poll(&self, job: &Job<'_>, external_id: &str) -> Result<Polled, ProviderError> {
        let client = self.client()?;
        if !matches!(self.family(job.model)?, Family::Video(_)) {
            return Err(ProviderError::new(
                ErrorClass::ClientError,
                format!("{} is synchronous: nothing to poll", job.model),
            ));
        }
        let (state, answer) = videos::retrieve(client, external_id).await?;
        match state {
            VideoState::Running { progress } => {
                let poll_after = answer.poll_after().unwrap_or_else(|| self.poll_interval(job.running_for));
                Ok(Polled::Running { progress, poll_after })
            }
            VideoState::Completed { size } => {
                Ok(Polled::Finished(vec![videos::download(client, external_id, size).await?]))
            }
            VideoState::Failed { code, message } => {
                let code = if code.is_empty() { "no code".to_owned() } else { code };
                let message = if message.is_empty() { "no message".to_owned() } else { message };
                Ok(Polled::Failed(ProviderError::new(
                    ErrorClass::GenerationFailed,
                    format!("{} failed the video ({code}): {message}", self.title),
                )))
            }
        }
    }

    async fn cancel(&self, external_id: &str) -> Result<(), ProviderError> {
        videos::delete(self.client()?, external_id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_model_is_listed_and_names_its_config_key() {
        let provider = OpenAiProvider::new(OpenAiConfig::default()).expect("provider");
        let models = provider.models();
        let names: Vec<&str> = models.iter().map(|m| m.model.as_str()).collect();
        assert_eq!(
            names,
            [
                "gpt-image-1",
                "gpt-image-1-mini",
                "gpt-image-1.5",
                "dall-e-3",
                "dall-e-2",
                "tts-1",
                "tts-1-hd",
                "gpt-4o-mini-tts",
                "sora-2",
                "sora-2-pro"
            ]
        );
        assert!(models.iter().all(|m| m.requires_config.as_deref() == Some(CONFIG_KEY) && m.service == "openai"));
        assert!(models.iter().filter(|m| m.model.starts_with("sora")).all(|m| m.poll_timeout_secs == Some(1800)));
        assert!(provider.validate("DALL-E-3", &serde_json::json!({ "prompt": "x" })).is_ok());
        assert!(provider.validate("whisper-1", &serde_json::json!({ "prompt": "x" })).is_err());
    }

    #[test]
    fn input_files_are_the_images_mask_and_reference() {
        let provider = OpenAiProvider::new(OpenAiConfig::default()).expect("provider");
        let input = serde_json::json!({ "prompt": "x", "images": ["upl_a", "img_b"], "mask": "upl_m" });
        assert_eq!(provider.input_files("gpt-image-1", &input), ["upl_a", "img_b", "upl_m"]);
        let video = serde_json::json!({ "prompt": "x", "input_reference": "upl_r" });
        assert_eq!(provider.input_files("sora-2", &video), ["upl_r"]);
        assert!(provider.input_files("tts-1", &serde_json::json!({ "input": "x" })).is_empty());
    }

    #[test]
    fn polls_follow_seed_003() {
        let provider = OpenAiProvider::new(OpenAiConfig::default()).expect("provider");
        assert_eq!(provider.poll_interval(Duration::ZERO), Duration::from_secs(2));
        assert_eq!(provider.poll_interval(Duration::from_secs(7)), Duration::from_secs(5));
        assert_eq!(provider.poll_interval(Duration::from_secs(200)), Duration::from_secs(10));
    }
}
