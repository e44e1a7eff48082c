//! `[providers.google]`: the Gemini API key (or a file holding it), the API root,
//! and whether Imagen is offered (Google has been withdrawing Imagen from the
//! Gemini API: docs/providers/google.md 3.2).

use std::path::PathBuf;
use std::time::Duration;

use atelier_core::Secret;
use serde::{Deserialize, Serialize};

use crate::kit::{ConfigError, PollSchedule, check_url, secret};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GoogleConfig {
    /// Empty: Google's models are listed but not usable.
    pub api_key: Secret,
    pub api_key_file: Option<PathBuf>,
    /// The Gemini API root, with its version.
    pub base_url: String,
    /// Offer Imagen 4 (`google/imagen-4`).
    pub imagen: bool,
    /// Images answer in one request; videos are polled.
    pub request_timeout_secs: u64,
    /// Videos are polled this often at first, later less often.
    pub first_poll_ms: u64,
}

impl Default for GoogleConfig {
    fn default() -> Self {
        Self {
            api_key: Secret::default(),
            api_key_file: None,
            base_url: "https://generativelanguage.googleapis.com/v1beta".into(),
            imagen: true,
            request_timeout_secs: 180,
            first_poll_ms: 5000,
        }
    }
}

pub(super) struct Settings {
    pub api_key: Option<String>,
    pub base_url: String,
    pub imagen: bool,
    pub request_timeout: Duration,
    pub polls: PollSchedule,
}

impl GoogleConfig {
    pub(super) fn settings(&self) -> Result<Settings, ConfigError> {
        check_url("providers.google.base_url", &self.base_url)?;
        Ok(Settings {
            api_key: secret(&self.api_key, self.api_key_file.as_deref(), "providers.google.api_key_file")?,
            base_url: self.base_url.trim_end_matches('/').to_owned(),
            imagen: self.imagen,
            request_timeout: Duration::from_secs(self.request_timeout_secs.max(1)),
            polls: PollSchedule::new(Duration::from_millis(self.first_poll_ms.max(10))),
        })
    }
}
