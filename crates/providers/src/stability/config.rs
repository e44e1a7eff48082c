//! `[providers.stability]`: the API key (or a file holding it) and the API root.

use std::path::PathBuf;
use std::time::Duration;

use atelier_core::Secret;
use serde::{Deserialize, Serialize};

use crate::kit::{ConfigError, check_url, secret};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StabilityConfig {
    /// Empty: Stability AI's models are listed but not usable.
    pub api_key: Secret,
    pub api_key_file: Option<PathBuf>,
    pub base_url: String,
    /// A generation answers in one request.
    pub request_timeout_secs: u64,
}

impl Default for StabilityConfig {
    fn default() -> Self {
        Self {
            api_key: Secret::default(),
            api_key_file: None,
            base_url: "https://api.stability.ai".into(),
            request_timeout_secs: 120,
        }
    }
}

pub(super) struct Settings {
    pub api_key: Option<String>,
    pub base_url: String,
    pub request_timeout: Duration,
}

impl StabilityConfig {
    pub(super) fn settings(&self) -> Result<Settings, ConfigError> {
        check_url("providers.stability.base_url", &self.base_url)?;
        Ok(Settings {
            api_key: secret(&self.api_key, self.api_key_file.as_deref(), "providers.stability.api_key_file")?,
            base_url: self.base_url.trim_end_matches('/').to_owned(),
            request_timeout: Duration::from_secs(self.request_timeout_secs.max(1)),
        })
    }
}
