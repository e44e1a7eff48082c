//! `[providers.kie]`: Kie.ai's section of the configuration. Every secret also
//! reads from a file named by its `_file` key (container secrets).

use std::path::PathBuf;
use std::time::Duration;

use atelier_core::Secret;
use serde::{Deserialize, Serialize};

use crate::kit::{ConfigError, PollSchedule, check_url, optional, secret};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KieConfig {
    /// Empty: Kie's models are listed but not usable.
    pub api_key: Secret,
    /// A file holding the key (instead of `api_key`).
    pub api_key_file: Option<PathBuf>,
    pub base_url: String,
    /// Kie's file-upload host, where input images go before a generate.
    pub upload_base_url: String,
    pub request_timeout_secs: u64,
    /// The first polls come this often (seed 003: 2 s), later ones less often.
    pub first_poll_ms: u64,
    /// New tasks sent to Kie per 10 s at most (Kie's own limit is 20); more wait.
    pub submits_per_10s: u32,
    /// Atelier's public URL of `/api/v1/callbacks/kie`, sent as `callBackUrl` so that
    /// Kie's callbacks hasten polls. Empty: polling alone.
    pub callback_url: String,
    /// Kie's webhook HMAC key; when set, unsigned or badly signed callbacks are refused.
    pub webhook_hmac_key: Secret,
    /// A file holding the webhook key (instead of `webhook_hmac_key`).
    pub webhook_hmac_key_file: Option<PathBuf>,
}

impl Default for KieConfig {
    fn default() -> Self {
        Self {
            api_key: Secret::default(),
            api_key_file: None,
            base_url: "https://api.kie.ai".into(),
            upload_base_url: "https://kieai.redpandaai.co".into(),
            request_timeout_secs: 60,
            first_poll_ms: 2000,
            submits_per_10s: 20,
            callback_url: String::new(),
            webhook_hmac_key: Secret::default(),
            webhook_hmac_key_file: None,
        }
    }
}

/// The section checked and its secrets read: what the provider runs with.
#[derive(Debug, Clone)]
pub(super) struct Settings {
    pub api_key: Option<String>,
    pub base_url: String,
    pub upload_base_url: String,
    pub request_timeout: Duration,
    pub polls: PollSchedule,
    pub submits_per_10s: u32,
    pub callback_url: Option<String>,
    pub webhook_hmac_key: Option<String>,
}

impl KieConfig {
    pub(super) fn settings(&self) -> Result<Settings, ConfigError> {
        check_url("providers.kie.base_url", &self.base_url)?;
        check_url("providers.kie.upload_base_url", &self.upload_base_url)?;
        Ok(Settings {
            api_key: secret(&self.api_key, self.api_key_file.as_deref(), "providers.kie.api_key_file")?,
            base_url: self.base_url.trim_end_matches('/').to_owned(),
            upload_base_url: self.upload_base_url.trim_end_matches('/').to_owned(),
            request_timeout: Duration::from_secs(self.request_timeout_secs.max(1)),
            polls: PollSchedule::new(Duration::from_millis(self.first_poll_ms.max(10))),
            submits_per_10s: self.submits_per_10s.max(1),
            callback_url: optional(&self.callback_url),
            webhook_hmac_key: secret(
                &self.webhook_hmac_key,
                self.webhook_hmac_key_file.as_deref(),
                "providers.kie.webhook_hmac_key_file",
            )?,
        })
    }
}
