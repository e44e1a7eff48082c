//! `[providers.openai]` and `[providers.azure]`: the two services' sections of the
//! configuration. Every secret also reads from a file named by its `_file` key.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use atelier_core::Secret;
use serde::{Deserialize, Serialize};

use crate::kit::{ConfigError, PollSchedule, check_url, optional, secret};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OpenAiConfig {
    /// Empty: OpenAI's models are listed but not usable.
    pub api_key: Secret,
    /// A file holding the key (instead of `api_key`).
    pub api_key_file: Option<PathBuf>,
    /// The API root; any OpenAI-compatible service works.
    pub base_url: String,
    /// Sent as `OpenAI-Organization` when set.
    pub organization: String,
    /// Sent as `OpenAI-Project` when set.
    pub project: String,
    /// Images and speech answer in one (long) request.
    pub request_timeout_secs: u64,
    /// Videos are polled this often at first (unless OpenAI says), later less often.
    pub first_poll_ms: u64,
}

impl Default for OpenAiConfig {
    fn default() -> Self {
        Self {
            api_key: Secret::default(),
            api_key_file: None,
            base_url: "https://api.openai.com/v1".into(),
            organization: String::new(),
            project: String::new(),
            request_timeout_secs: 300,
            first_poll_ms: 2000,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AzureConfig {
    /// Empty: Azure OpenAI's models are listed but not usable.
    pub api_key: Secret,
    /// A file holding the key (instead of `api_key`).
    pub api_key_file: Option<PathBuf>,
    /// `https://{resource}.openai.azure.com`. Empty: not usable.
    pub endpoint: String,
    /// Sent as `api-version` on every request.
    pub api_version: String,
    /// Model → deployment name, for models deployed under another name:
    /// `"gpt-image-1" = "images-prod"`.
    pub deployments: BTreeMap<String, String>,
    pub request_timeout_secs: u64,
    pub first_poll_ms: u64,
}

impl Default for AzureConfig {
    fn default() -> Self {
        Self {
            api_key: Secret::default(),
            api_key_file: None,
            endpoint: String::new(),
            api_version: "2025-04-01-preview".into(),
            deployments: BTreeMap::new(),
            request_timeout_secs: 300,
            first_poll_ms: 2000,
        }
    }
}

/// What a flavour's section says, checked, its secret read.
pub(super) struct Settings {
    pub api_key: Option<String>,
    pub request_timeout: Duration,
    pub polls: PollSchedule,
}

impl OpenAiConfig {
    pub(super) fn settings(&self) -> Result<(Settings, String, Option<String>, Option<String>), ConfigError> {
        check_url("providers.openai.base_url", &self.base_url)?;
        let settings = Settings {
            api_key: secret(&self.api_key, self.api_key_file.as_deref(), "providers.openai.api_key_file")?,
            request_timeout: Duration::from_secs(self.request_timeout_secs.max(1)),
            polls: PollSchedule::new(Duration::from_millis(self.first_poll_ms.max(10))),
        };
        let base_url = self.base_url.trim_end_matches('/').to_owned();
        Ok((settings, base_url, optional(&self.organization), optional(&self.project)))
    }
}

impl AzureConfig {
    pub(super) fn settings(&self) -> Result<(Settings, Option<String>), ConfigError> {
        let endpoint = optional(&self.endpoint);
        if let Some(endpoint) = &endpoint {
            check_url("providers.azure.endpoint", endpoint).map_err(|_| {
                ConfigError::new(
                    "providers.azure.endpoint",
                    "must be an http(s) URL such as https://my-resource.openai.azure.com",
                )
            })?;
        }
        if self.api_version.trim().is_empty() {
            return Err(ConfigError::new("providers.azure.api_version", "must not be empty"));
        }
        let settings = Settings {
            api_key: secret(&self.api_key, self.api_key_file.as_deref(), "providers.azure.api_key_file")?,
            request_timeout: Duration::from_secs(self.request_timeout_secs.max(1)),
            polls: PollSchedule::new(Duration::from_millis(self.first_poll_ms.max(10))),
        };
        Ok((settings, endpoint.map(|e| e.trim_end_matches('/').to_owned())))
    }
}
