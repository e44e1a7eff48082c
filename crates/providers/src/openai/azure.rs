//! Azure OpenAI (protocols.md 2.6) as a second service, `azure`, offering the same
//! models with the same parameters: `https://{resource}.openai.azure.com`, the
//! `api-key` header, a required `api-version` on every request, and deployments:
//! images and speech go to `/openai/deployments/{deployment}/…`, videos to
//! `/openai/videos…`. A model is deployed under its own name unless the config
//! maps it to another.

use std::collections::BTreeMap;
use std::time::Duration;

use atelier_core::ports::ProviderError;

use super::OpenAiProvider;
use super::client::{OpenAiClient, Target};

pub const SERVICE: &str = "azure";
/// The config keys that make Azure OpenAI usable.
pub const CONFIG_KEY: &str = "providers.azure.api_key";
pub const ENDPOINT_KEY: &str = "providers.azure.endpoint";

#[derive(Debug, Clone)]
pub struct AzureConfig {
    /// `None`: the models are listed but not usable.
    pub api_key: Option<String>,
    /// `https://{resource}.openai.azure.com`; `None`: not usable.
    pub endpoint: Option<String>,
    pub api_version: String,
    /// Model → deployment name, for models deployed under another name.
    pub deployments: BTreeMap<String, String>,
    pub request_timeout: Duration,
    pub first_poll: Duration,
}

impl Default for AzureConfig {
    fn default() -> Self {
        Self {
            api_key: None,
            endpoint: None,
            api_version: "2025-04-01-preview".into(),
            deployments: BTreeMap::new(),
            request_timeout: Duration::from_secs(300),
            first_poll: Duration::from_secs(2),
        }
    }
}

impl OpenAiProvider {
    /// Azure OpenAI.
    pub fn azure(config: AzureConfig) -> Result<Self, ProviderError> {
        let deployments = config
            .deployments
            .into_iter()
            .map(|(model, deployment)| (model.trim().to_ascii_lowercase(), deployment))
            .collect();
        let (client, requires_config) = match (config.api_key, config.endpoint.filter(|e| !e.trim().is_empty())) {
            (None, _) => (None, Some(CONFIG_KEY.to_owned())),
            (Some(_), None) => (None, Some(ENDPOINT_KEY.to_owned())),
            (Some(key), Some(endpoint)) => {
                let target = Target::Azure {
                    endpoint: endpoint.trim().trim_end_matches('/').to_owned(),
                    api_version: config.api_version,
                    deployments,
                };
                (Some(OpenAiClient::new(key, target, config.request_timeout)?), None)
            }
        };
        Ok(Self { service: SERVICE, title: "Azure OpenAI", requires_config, client, first_poll: config.first_poll })
    }
}

#[cfg(test)]
mod tests {
    use atelier_core::ports::Provider;

    use super::*;

    #[test]
    fn unconfigured_azure_names_the_missing_key() {
        let requires = |config: AzureConfig| {
            let provider = OpenAiProvider::azure(config).expect("provider");
            assert_eq!(provider.service(), "azure");
            provider.models()[0].requires_config.clone()
        };
        assert_eq!(requires(AzureConfig::default()).as_deref(), Some(CONFIG_KEY));
        let key_only = AzureConfig { api_key: Some("k".into()), ..AzureConfig::default() };
        assert_eq!(requires(key_only).as_deref(), Some(ENDPOINT_KEY));
        let both = AzureConfig {
            api_key: Some("k".into()),
            endpoint: Some("https://res.openai.azure.com".into()),
            ..AzureConfig::default()
        };
        assert_eq!(requires(both), None);
    }
}
