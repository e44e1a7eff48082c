//! `[providers.*]`: the external services. Every secret also reads from a file
//! named by its `_file` key (for container secrets), checked at startup.

use std::path::PathBuf;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::secret::Secret;

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProvidersConfig {
    pub kie: KieConfig,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KieConfig {
    /// Empty: Kie's models are listed but not usable.
    pub api_key: Secret,
    /// A file holding the key (instead of `api_key`).
    pub api_key_file: Option<PathBuf>,
    pub base_url: String,
    pub request_timeout_secs: u64,
    /// The first polls come this often (seed 003: 2 s), later ones less often.
    pub first_poll_ms: u64,
}

impl Default for KieConfig {
    fn default() -> Self {
        Self {
            api_key: Secret::default(),
            api_key_file: None,
            base_url: "https://api.kie.ai".into(),
            request_timeout_secs: 60,
            first_poll_ms: 2000,
        }
    }
}

impl KieConfig {
    /// The key from `api_key`, or from the file `api_key_file` names.
    pub fn resolve_key(&self) -> anyhow::Result<Option<String>> {
        if let Some(path) = &self.api_key_file {
            let key = std::fs::read_to_string(path)
                .with_context(|| format!("reading providers.kie.api_key_file {}", path.display()))?;
            let key = key.trim();
            anyhow::ensure!(!key.is_empty(), "providers.kie.api_key_file {} is empty", path.display());
            return Ok(Some(key.to_owned()));
        }
        Ok((!self.api_key.is_empty()).then(|| self.api_key.expose().trim().to_owned()))
    }

    pub fn provider_config(&self) -> anyhow::Result<atelier_providers::kie::KieConfig> {
        anyhow::ensure!(
            self.base_url.starts_with("http://") || self.base_url.starts_with("https://"),
            "providers.kie.base_url must be an http(s) URL"
        );
        Ok(atelier_providers::kie::KieConfig {
            api_key: self.resolve_key()?,
            base_url: self.base_url.clone(),
            request_timeout: std::time::Duration::from_secs(self.request_timeout_secs.max(1)),
            first_poll: std::time::Duration::from_millis(self.first_poll_ms.max(10)),
        })
    }
}
