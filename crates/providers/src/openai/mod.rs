//! OpenAI (docs/providers/openai.md), and Azure OpenAI as a second service offering
//! the same models (`azure.rs`): one client with a flavour switch (`client.rs`),
//! one file per API: `images.rs` (generations, and every image model's
//! parameters), `edits.rs` (multipart edits), `speech.rs`, `videos.rs`, `chat.rs`
//! (chat completions: the text models).
//!
//! Images and speech are synchronous: `submit` answers `Finished` with the files.
//! Videos are asynchronous: `submit` creates the video and answers `Accepted` with
//! its id, which the worker records before it polls.

pub mod azure;
pub mod chat;
pub mod client;
mod config;
pub mod edits;
pub mod images;
pub mod speech;
pub mod videos;

use async_trait::async_trait;
use atelier_core::CoreError;
use atelier_core::catalog::ModelSpec;
use atelier_core::ports::{ErrorClass, Job, LostSubmit, Polled, Provider, ProviderError, Submitted};
use serde_json::Value;

use self::client::{OpenAiClient, Target};
pub use self::config::{AzureConfig, OpenAiConfig};
use self::images::ImageModel;
use self::speech::SpeechModel;
use self::videos::VideoModel;
use crate::kit::{ConfigError, ModelTable, Named, PollSchedule};

pub const SERVICE: &str = "openai";
/// The config key that makes OpenAI usable.
pub const CONFIG_KEY: &str = "providers.openai.api_key";

/// One model of OpenAI's APIs (as OpenAI or Azure offers it): its spec and checks,
/// and how its jobs are carried out.
#[async_trait]
pub trait OpenAiModel: Named + Send + Sync {
    fn spec(&self, service: &str, provider_title: &str, requires_config: Option<String>) -> ModelSpec;
    /// Validates an input and returns it with its defaults filled in.
    fn validate(&self, input: &Value) -> Result<Value, CoreError>;
    /// The file references in a validated input.
    fn input_files(&self, _input: &Value) -> Vec<String> {
        Vec::new()
    }
    async fn submit(&self, openai: &OpenAi<'_>, job: &Job<'_>) -> Result<Submitted, ProviderError>;
    /// Looks for the job of a submit whose answer was lost. A synchronous answer
    /// carries its result, so once lost there is nothing to find.
    async fn find_lost_submit(
        &self,
        openai: &OpenAi<'_>,
        _job: &Job<'_>,
        _sent_after: i64,
    ) -> Result<LostSubmit, ProviderError> {
        Ok(LostSubmit::NoWay(format!(
            "{}'s answer carried the result itself and nothing keeps it to be fetched again",
            openai.title
        )))
    }
    /// Synchronous APIs finish in `submit`: there is nothing to poll.
    async fn poll(&self, _openai: &OpenAi<'_>, job: &Job<'_>, _external_id: &str) -> Result<Polled, ProviderError> {
        Err(ProviderError::new(ErrorClass::ClientError, format!("{} is synchronous: nothing to poll", job.model)))
    }
}

/// What a model's calls have at hand.
pub struct OpenAi<'a> {
    pub client: &'a OpenAiClient,
    /// How messages name the service (`OpenAI`, `Azure OpenAI`).
    pub title: &'a str,
    pub polls: PollSchedule,
}

/// OpenAI or Azure OpenAI: the same models, reached through different targets.
pub struct OpenAiProvider {
    service: &'static str,
    /// How specs and messages name the service.
    title: &'static str,
    /// The config key to set, when the service cannot be used yet.
    requires_config: Option<String>,
    client: Option<OpenAiClient>,
    polls: PollSchedule,
    models: ModelTable<dyn OpenAiModel>,
}

impl OpenAiProvider {
    /// OpenAI itself.
    pub fn new(config: &OpenAiConfig) -> Result<Self, ConfigError> {
        let (settings, base_url, organization, project) = config.settings()?;
        let target = Target::OpenAi { base_url, organization, project };
        let client = match &settings.api_key {
            Some(key) => Some(
                OpenAiClient::new(key, target, settings.request_timeout)
                    .map_err(|error| ConfigError::new(CONFIG_KEY, error.message))?,
            ),
            None => None,
        };
        let requires_config = client.is_none().then(|| CONFIG_KEY.to_owned());
        Ok(Self::with(SERVICE, "OpenAI", requires_config, client, settings.polls))
    }

    fn with(
        service: &'static str,
        title: &'static str,
        requires_config: Option<String>,
        client: Option<OpenAiClient>,
        polls: PollSchedule,
    ) -> Self {
        let images = ImageModel::ALL.into_iter().map(|model| Box::new(model) as Box<dyn OpenAiModel>);
        let speech = SpeechModel::ALL.into_iter().map(|model| Box::new(model) as Box<dyn OpenAiModel>);
        let videos = VideoModel::ALL.into_iter().map(|model| Box::new(model) as Box<dyn OpenAiModel>);
        let chat = chat::MODELS
            .into_iter()
            .map(|(model, title)| Box::new(chat::ChatModel { model, title }) as Box<dyn OpenAiModel>);
        let models = ModelTable::new(service, images.chain(speech).chain(videos).chain(chat).collect());
        Self { service, title, requires_config, client, polls, models }
    }

    fn openai(&self) -> Result<OpenAi<'_>, ProviderError> {
        let client = self.client.as_ref().ok_or_else(|| {
            let key = self.requires_config.as_deref().unwrap_or(CONFIG_KEY);
            ProviderError::new(ErrorClass::Unauthorized, format!("{} is not configured: set {key}", self.title))
        })?;
        Ok(OpenAi { client, title: self.title, polls: self.polls })
    }
}

fn invalid(error: CoreError) -> ProviderError {
    ProviderError::new(ErrorClass::ClientError, error.to_string())
}

#[async_trait]
impl Provider for OpenAiProvider {
    fn service(&self) -> &str {
        self.service
    }

    fn models(&self) -> Vec<ModelSpec> {
        self.models.iter().map(|model| model.spec(self.service, self.title, self.requires_config.clone())).collect()
    }

    fn validate(&self, model: &str, input: &Value) -> Result<Value, CoreError> {
        let model = self
            .models
            .find(model)
            .ok_or_else(|| CoreError::invalid("model", format!("{} does not offer {model:?}", self.service)))?;
        model.validate(input)
    }

    fn submit_is_costly(&self) -> bool {
        true
    }

    fn input_files(&self, model: &str, input: &Value) -> Vec<String> {
        self.models.find(model).map(|model| model.input_files(input)).unwrap_or_default()
    }

    async fn submit(&self, job: &Job<'_>) -> Result<Submitted, ProviderError> {
        let openai = self.openai()?;
        self.models.for_job(job.model)?.submit(&openai, job).await
    }

    async fn poll(&self, job: &Job<'_>, external_id: &str) -> Result<Polled, ProviderError> {
        let openai = self.openai()?;
        self.models.for_job(job.model)?.poll(&openai, job, external_id).await
    }

    async fn cancel(&self, external_id: &str) -> Result<(), ProviderError> {
        videos::delete(self.openai()?.client, external_id).await
    }

    async fn find_lost_submit(&self, job: &Job<'_>, sent_after: i64) -> Result<LostSubmit, ProviderError> {
        let openai = self.openai()?;
        self.models.for_job(job.model)?.find_lost_submit(&openai, job, sent_after).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_model_is_listed_and_names_its_config_key() {
        let provider = OpenAiProvider::new(&OpenAiConfig::default()).expect("provider");
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
                "sora-2-pro",
                "gpt-4.1",
                "gpt-4.1-mini",
                "gpt-4o",
                "gpt-4o-mini"
            ]
        );
        assert!(models.iter().all(|m| m.requires_config.as_deref() == Some(CONFIG_KEY) && m.service == "openai"));
        assert!(models.iter().filter(|m| m.model.starts_with("sora")).all(|m| m.poll_timeout_secs == Some(1800)));
        assert!(provider.validate("DALL-E-3", &serde_json::json!({ "prompt": "x" })).is_ok());
        assert!(provider.validate("whisper-1", &serde_json::json!({ "prompt": "x" })).is_err());
    }

    #[test]
    fn input_files_are_the_images_mask_and_reference() {
        let provider = OpenAiProvider::new(&OpenAiConfig::default()).expect("provider");
        let input = serde_json::json!({ "prompt": "x", "images": ["upl_a", "img_b"], "mask": "upl_m" });
        assert_eq!(provider.input_files("gpt-image-1", &input), ["upl_a", "img_b", "upl_m"]);
        let video = serde_json::json!({ "prompt": "x", "input_reference": "upl_r" });
        assert_eq!(provider.input_files("sora-2", &video), ["upl_r"]);
        assert!(provider.input_files("tts-1", &serde_json::json!({ "input": "x" })).is_empty());
    }
}
