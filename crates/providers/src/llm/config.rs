//! `[providers.llm]`: an OpenAI-compatible chat server of your own (llama.cpp's
//! `llama-server`, Ollama, vLLM, LM Studio…), by base URL.

use std::path::PathBuf;
use std::time::Duration;

use atelier_core::Secret;
use serde::{Deserialize, Serialize};

use crate::kit::{ConfigError, check_url, secret};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LlmConfig {
    /// The API root, up to `/v1` (`http://127.0.0.1:8080/v1` for llama-server,
    /// `http://127.0.0.1:11434/v1` for Ollama, `http://127.0.0.1:8000/v1` for vLLM).
    /// Empty: not usable.
    pub base_url: String,
    /// Sent as a bearer token when the server asks for one (vLLM's and
    /// llama-server's `--api-key`); empty: none.
    pub api_key: Secret,
    pub api_key_file: Option<PathBuf>,
    /// The models to offer, as the server names them; empty: the server's own list
    /// (`GET /models`), read at start and on every catalog refresh.
    pub models: Vec<String>,
    /// One answer, start to end (a local model on a small GPU is slow).
    pub request_timeout_secs: u64,
}

impl Default for LlmConfig {
    fn default() -> Self {
        Self {
            base_url: String::new(),
            api_key: Secret::default(),
            api_key_file: None,
            models: Vec::new(),
            request_timeout_secs: 600,
        }
    }
}

pub(super) struct Settings {
    pub base_url: Option<String>,
    pub api_key: Option<String>,
    pub models: Vec<String>,
    pub request_timeout: Duration,
}

impl LlmConfig {
    pub(super) fn settings(&self) -> Result<Settings, ConfigError> {
        let base_url = match self.base_url.trim() {
            "" => None,
            url => {
                check_url("providers.llm.base_url", url)?;
                Some(url.trim_end_matches('/').to_owned())
            }
        };
        let api_key = secret(&self.api_key, self.api_key_file.as_deref(), "providers.llm.api_key_file")?;
        for model in &self.models {
            if model.trim().is_empty() || model.len() > 200 {
                return Err(ConfigError::new("providers.llm.models", "a model name is 1 to 200 characters"));
            }
        }
        Ok(Settings {
            base_url,
            api_key,
            models: self.models.iter().map(|model| model.trim().to_owned()).collect(),
            request_timeout: Duration::from_secs(self.request_timeout_secs.max(1)),
        })
    }
}
