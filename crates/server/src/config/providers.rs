//! `[providers.*]`: the external services. Every secret also reads from a file
//! named by its `_file` key (for container secrets), checked at startup.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::secret::Secret;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProvidersConfig {
    /// A service's circuit opens after this many failures in a row (timeouts,
    /// refused connections, 5xx)…
    pub circuit_failures: u32,
    /// …and lets a probe through after this long.
    pub circuit_cooldown_secs: u64,
    /// How long a task may wait on its provider, in seconds, by `service/model`,
    /// over the model's own default (`worker.poll_timeout_secs` for images; longer
    /// for video models): `"kie/veo3" = 1800`.
    pub poll_timeouts: BTreeMap<String, u64>,
    /// Limits by service (`kie`) or model (`kie/veo3`): `[providers.limits.kie]`
    /// `max_in_flight = 50`, `daily_tasks = 1000`.
    pub limits: BTreeMap<String, LimitsConfig>,
    pub kie: KieConfig,
    pub openai: OpenAiConfig,
    pub azure: AzureConfig,
}

/// A service's or a model's limits; 0 means none.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Tasks open at the provider at once (services only); more wait in the queue.
    pub max_in_flight: u32,
    /// Tasks created per UTC day (seed 001's daily counters); past it, creates
    /// answer 429 `quota_exceeded` with the time until midnight.
    pub daily_tasks: u64,
}

impl Default for ProvidersConfig {
    fn default() -> Self {
        Self {
            circuit_failures: 5,
            circuit_cooldown_secs: 30,
            poll_timeouts: BTreeMap::new(),
            limits: BTreeMap::new(),
            kie: KieConfig::default(),
            openai: OpenAiConfig::default(),
            azure: AzureConfig::default(),
        }
    }
}

impl ProvidersConfig {
    /// Checks the limits' scopes: `max_in_flight` is per service.
    pub fn validate_limits(&self) -> anyhow::Result<()> {
        for (scope, limits) in &self.limits {
            anyhow::ensure!(!scope.trim().is_empty(), "providers.limits: a scope must name a service or service/model");
            anyhow::ensure!(
                limits.max_in_flight == 0 || !scope.contains('/'),
                "providers.limits.\"{scope}\".max_in_flight: concurrency is limited per service, not per model"
            );
        }
        Ok(())
    }

    pub fn daily_quotas(&self) -> Vec<atelier_core::quota::DailyQuota> {
        self.limits
            .iter()
            .filter(|(_, limits)| limits.daily_tasks > 0)
            .map(|(scope, limits)| atelier_core::quota::DailyQuota {
                scope: scope.trim().to_ascii_lowercase(),
                limit: limits.daily_tasks,
            })
            .collect()
    }

    pub fn max_in_flight(&self) -> std::collections::HashMap<String, u32> {
        self.limits
            .iter()
            .filter(|(_, limits)| limits.max_in_flight > 0)
            .map(|(scope, limits)| (scope.trim().to_ascii_lowercase(), limits.max_in_flight))
            .collect()
    }

    pub fn circuit_settings(&self) -> atelier_core::circuit::CircuitSettings {
        atelier_core::circuit::CircuitSettings {
            threshold: self.circuit_failures.max(1),
            cooldown: std::time::Duration::from_secs(self.circuit_cooldown_secs),
        }
    }
}

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

impl KieConfig {
    /// The key from `api_key`, or from the file `api_key_file` names.
    pub fn resolve_key(&self) -> anyhow::Result<Option<String>> {
        resolve_secret(&self.api_key, self.api_key_file.as_ref(), "providers.kie.api_key_file")
    }

    /// The webhook key from `webhook_hmac_key`, or from its `_file`.
    pub fn resolve_webhook_key(&self) -> anyhow::Result<Option<String>> {
        resolve_secret(
            &self.webhook_hmac_key,
            self.webhook_hmac_key_file.as_ref(),
            "providers.kie.webhook_hmac_key_file",
        )
    }

    pub fn provider_config(&self) -> anyhow::Result<atelier_providers::kie::KieConfig> {
        anyhow::ensure!(
            self.base_url.starts_with("http://") || self.base_url.starts_with("https://"),
            "providers.kie.base_url must be an http(s) URL"
        );
        anyhow::ensure!(
            self.upload_base_url.starts_with("http://") || self.upload_base_url.starts_with("https://"),
            "providers.kie.upload_base_url must be an http(s) URL"
        );
        Ok(atelier_providers::kie::KieConfig {
            api_key: self.resolve_key()?,
            base_url: self.base_url.clone(),
            upload_base_url: self.upload_base_url.clone(),
            request_timeout: std::time::Duration::from_secs(self.request_timeout_secs.max(1)),
            first_poll: std::time::Duration::from_millis(self.first_poll_ms.max(10)),
            submits_per_10s: self.submits_per_10s.max(1),
            callback_url: (!self.callback_url.trim().is_empty()).then(|| self.callback_url.trim().to_owned()),
            webhook_hmac_key: self.resolve_webhook_key()?,
        })
    }
}

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

impl OpenAiConfig {
    pub fn provider_config(&self) -> anyhow::Result<atelier_providers::openai::OpenAiConfig> {
        anyhow::ensure!(
            self.base_url.starts_with("http://") || self.base_url.starts_with("https://"),
            "providers.openai.base_url must be an http(s) URL"
        );
        let optional = |text: &str| (!text.trim().is_empty()).then(|| text.trim().to_owned());
        Ok(atelier_providers::openai::OpenAiConfig {
            api_key: resolve_secret(&self.api_key, self.api_key_file.as_ref(), "providers.openai.api_key_file")?,
            base_url: self.base_url.clone(),
            organization: optional(&self.organization),
            project: optional(&self.project),
            request_timeout: std::time::Duration::from_secs(self.request_timeout_secs.max(1)),
            first_poll: std::time::Duration::from_millis(self.first_poll_ms.max(10)),
        })
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

impl AzureConfig {
    pub fn provider_config(&self) -> anyhow::Result<atelier_providers::openai::azure::AzureConfig> {
        let endpoint = self.endpoint.trim();
        anyhow::ensure!(
            endpoint.is_empty() || endpoint.starts_with("http://") || endpoint.starts_with("https://"),
            "providers.azure.endpoint must be an http(s) URL such as https://my-resource.openai.azure.com"
        );
        anyhow::ensure!(!self.api_version.trim().is_empty(), "providers.azure.api_version must not be empty");
        Ok(atelier_providers::openai::azure::AzureConfig {
            api_key: resolve_secret(&self.api_key, self.api_key_file.as_ref(), "providers.azure.api_key_file")?,
            endpoint: (!endpoint.is_empty()).then(|| endpoint.to_owned()),
            api_version: self.api_version.trim().to_owned(),
            deployments: self.deployments.clone(),
            request_timeout: std::time::Duration::from_secs(self.request_timeout_secs.max(1)),
            first_poll: std::time::Duration::from_millis(self.first_poll_ms.max(10)),
        })
    }
}

/// A secret from its value, or from the file its `_file` key names.
fn resolve_secret(value: &Secret, file: Option<&PathBuf>, file_key: &str) -> anyhow::Result<Option<String>> {
    if let Some(path) = file {
        let secret = std::fs::read_to_string(path).with_context(|| format!("reading {file_key} {}", path.display()))?;
        let secret = secret.trim();
        anyhow::ensure!(!secret.is_empty(), "{file_key} {} is empty", path.display());
        return Ok(Some(secret.to_owned()));
    }
    Ok((!value.is_empty()).then(|| value.expose().trim().to_owned()))
}
