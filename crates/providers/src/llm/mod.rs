//! `llm`: any OpenAI-compatible chat server of your own, by base URL: llama.cpp's
//! `llama-server`, Ollama, vLLM, LM Studio. The same chat completions request as
//! OpenAI's (`openai/chat.rs`), JSON Schema answers included; the models are the
//! configured ones, or the server's own list (`GET /models`).

mod config;

use std::sync::RwLock;

use async_trait::async_trait;
use atelier_core::CoreError;
use atelier_core::catalog::ModelSpec;
use atelier_core::ports::{ErrorClass, Job, Polled, Provider, ProviderError, Submitted};
use atelier_core::text::TextRequest;
use serde_json::Value;

pub use self::config::LlmConfig;
use crate::kit::ConfigError;
use crate::kit::params::parse_stored;
use crate::openai::chat;
use crate::openai::client::{Api, OpenAiClient, Target};

pub const SERVICE: &str = "llm";
pub const CONFIG_KEY: &str = "providers.llm.base_url";
const TITLE: &str = "the chat server";

/// The key sent when none is configured: servers without one ignore it.
const NO_KEY: &str = "no-key";

pub struct LlmProvider {
    client: Option<OpenAiClient>,
    /// Atelier's name (lower case) → the server's.
    models: RwLock<Vec<(String, String)>>,
    /// Whether the list is the configuration's (never replaced by the server's).
    configured: bool,
}

fn entries(names: &[String]) -> Vec<(String, String)> {
    let mut entries: Vec<(String, String)> =
        names.iter().map(|name| (name.to_ascii_lowercase(), name.clone())).collect();
    entries.dedup_by(|a, b| a.0 == b.0);
    entries
}

impl LlmProvider {
    pub fn new(config: &LlmConfig) -> Result<Self, ConfigError> {
        let settings = config.settings()?;
        let client = match &settings.base_url {
            Some(base_url) => {
                let target = Target::OpenAi { base_url: base_url.clone(), organization: None, project: None };
                let key = settings.api_key.as_deref().unwrap_or(NO_KEY);
                Some(
                    OpenAiClient::new(key, target, settings.request_timeout)
                        .map_err(|error| ConfigError::new(CONFIG_KEY, error.message))?,
                )
            }
            None => None,
        };
        let configured = !settings.models.is_empty();
        Ok(Self { client, models: RwLock::new(entries(&settings.models)), configured })
    }

    fn known(&self) -> Vec<(String, String)> {
        self.models.read().map(|models| models.clone()).unwrap_or_default()
    }

    fn server_name(&self, model: &str) -> Option<String> {
        self.known().into_iter().find(|(name, _)| name == model).map(|(_, real)| real)
    }
}

#[async_trait]
impl Provider for LlmProvider {
    fn service(&self) -> &str {
        SERVICE
    }

    fn models(&self) -> Vec<ModelSpec> {
        let requires = self.client.is_none().then(|| CONFIG_KEY.to_owned());
        self.known()
            .into_iter()
            .map(|(name, real)| chat::spec(SERVICE, &name, format!("{real} (your chat server)"), requires.clone()))
            .collect()
    }

    async fn refresh_models(&self) -> Result<(), ProviderError> {
        let Some(client) = &self.client else { return Ok(()) };
        if self.configured {
            return Ok(());
        }
        let answer = client.get(&Api::Models, &[]).await.map_err(|failure| failure.error)?.json()?;
        let names: Vec<String> = answer["data"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|model| model["id"].as_str().map(str::to_owned))
            .filter(|name| !name.trim().is_empty() && name.len() <= 200)
            .collect();
        if let Ok(mut models) = self.models.write() {
            *models = entries(&names);
        }
        Ok(())
    }

    fn validate(&self, model: &str, input: &Value) -> Result<Value, CoreError> {
        if self.server_name(model).is_none() {
            return Err(CoreError::invalid("model", format!("{SERVICE} does not offer {model:?}")));
        }
        chat::validate(input)
    }

    fn submit_is_costly(&self) -> bool {
        // A server of your own: asking again costs time, not money.
        false
    }

    async fn submit(&self, job: &Job<'_>) -> Result<Submitted, ProviderError> {
        let client = self.client.as_ref().ok_or_else(|| {
            ProviderError::new(ErrorClass::Unauthorized, format!("the chat server is not configured: set {CONFIG_KEY}"))
        })?;
        let model = self.server_name(job.model).ok_or_else(|| {
            ProviderError::new(ErrorClass::ClientError, format!("{SERVICE} no longer offers {}", job.model))
        })?;
        let request: TextRequest = parse_stored(job.input)?;
        Ok(Submitted::Finished(chat::complete(client, TITLE, &model, &request).await?))
    }

    async fn poll(&self, job: &Job<'_>, _external_id: &str) -> Result<Polled, ProviderError> {
        Err(ProviderError::new(ErrorClass::ClientError, format!("{} answers at once: nothing to poll", job.model)))
    }

    async fn cancel(&self, _external_id: &str) -> Result<(), ProviderError> {
        // Answers come at once: there is no job left to cancel.
        Ok(())
    }
}
