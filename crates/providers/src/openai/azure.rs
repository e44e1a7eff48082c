//! Azure OpenAI (docs/providers/openai.md 2.6) as a second service, `azure`, offering the same
//! models with the same parameters: `https://{resource}.openai.azure.com`, the
//! `api-key` header, a required `api-version` on every request, and deployments:
//! images and speech go to `/openai/deployments/{deployment}/…`, videos to
//! `/openai/videos…`. A model is deployed under its own name unless the config
//! maps it to another.

use super::client::{OpenAiClient, Target};
use super::{AzureConfig, OpenAiProvider};
use crate::kit::ConfigError;

pub const SERVICE: &str = "azure";
/// The config keys that make Azure OpenAI usable.
pub const CONFIG_KEY: &str = "providers.azure.api_key";
pub const ENDPOINT_KEY: &str = "providers.azure.endpoint";

impl OpenAiProvider {
    /// Azure OpenAI.
    pub fn azure(config: &AzureConfig) -> Result<Self, ConfigError> {
        let (settings, endpoint) = config.settings()?;
        let deployments = config
            .deployments
            .iter()
            .map(|(model, deployment)| (model.trim().to_ascii_lowercase(), deployment.clone()))
            .collect();
        let (client, requires_config) = match (&settings.api_key, endpoint) {
            (None, _) => (None, Some(CONFIG_KEY.to_owned())),
            (Some(_), None) => (None, Some(ENDPOINT_KEY.to_owned())),
            (Some(key), Some(endpoint)) => {
                let target = Target::Azure { endpoint, api_version: config.api_version.trim().to_owned(), deployments };
                let client = OpenAiClient::new(key, target, settings.request_timeout)
                    .map_err(|error| ConfigError::new(CONFIG_KEY, error.message))?;
                (Some(client), None)
            }
        };
        Ok(Self::with(SERVICE, "Azure OpenAI", requires_config, client, settings.polls))
    }
}

#[cfg(test)]
mod tests {
    use atelier_core::ports::Provider;

    use super::*;

    #[test]
    fn unconfigured_azure_names_the_missing_key() {
        let requires = |config: AzureConfig| {
            let provider = OpenAiProvider::azure(&config).expect("provider");
            assert_eq!(provider.service(), "azure");
            provider.models()[0].requires_config.clone()
        };
        assert_eq!(requires(AzureConfig::default()).as_deref(), Some(CONFIG_KEY));
        let key_only = AzureConfig { api_key: atelier_core::Secret::new("k"), ..AzureConfig::default() };
        assert_eq!(requires(key_only).as_deref(), Some(ENDPOINT_KEY));
        let both = AzureConfig {
            api_key: atelier_core::Secret::new("k"),
            endpoint: "https://res.openai.azure.com".into(),
            ..AzureConfig::default()
        };
        assert_eq!(requires(both), None);
    }
}
