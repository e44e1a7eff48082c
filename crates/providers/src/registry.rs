//! Every service this build offers, built from its configuration. A service
//! without its key still lists its models (as not usable, naming the key to set).
//!
//! Adding a provider: its folder (models, client, config section, callbacks), its
//! field in [`ProvidersConfig`], and its line here.

use std::sync::Arc;

use atelier_core::ports::Provider;

use crate::comfyui::ComfyUiProvider;
use crate::config::{EnginesConfig, ProvidersConfig};
use crate::google::GoogleProvider;
use crate::kie::KieProvider;
use crate::kit::ConfigError;
use crate::llm::LlmProvider;
use crate::local::{LocalConfig, LocalProvider};
use crate::openai::OpenAiProvider;
use crate::sdapi::{Flavour, SdApiProvider};
use crate::stability::StabilityProvider;
use crate::volcengine::VolcEngineProvider;

pub fn services(providers: &ProvidersConfig, engines: &EnginesConfig) -> Result<Vec<Arc<dyn Provider>>, ConfigError> {
    Ok(vec![
        Arc::new(LocalProvider::new(LocalConfig::new(engines.instant.enabled))),
        Arc::new(KieProvider::new(&providers.kie)?),
        Arc::new(OpenAiProvider::new(&providers.openai)?),
        Arc::new(OpenAiProvider::azure(&providers.azure)?),
        Arc::new(GoogleProvider::new(&providers.google)?),
        Arc::new(VolcEngineProvider::new(&providers.volcengine)?),
        Arc::new(SdApiProvider::new(Flavour::A1111, &providers.a1111)?),
        Arc::new(SdApiProvider::new(Flavour::SdCpp, &providers.sdcpp)?),
        Arc::new(ComfyUiProvider::new(&providers.comfyui)?),
        Arc::new(StabilityProvider::new(&providers.stability)?),
        Arc::new(LlmProvider::new(&providers.llm)?),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::InstantConfig;
    use crate::kit::schema::{check_schema_matches, minimal_input};

    #[test]
    fn every_models_schema_matches_its_validation() {
        let engines = EnginesConfig { instant: InstantConfig { enabled: true } };
        let (mut checked, mut mismatches) = (0, Vec::new());
        for provider in services(&ProvidersConfig::default(), &engines).expect("services") {
            for spec in provider.models() {
                let minimal = minimal_input(&spec.input_schema);
                let validate = |input: &serde_json::Value| provider.validate(&spec.model, input);
                let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    check_schema_matches(&spec.input_schema, validate, &minimal)
                }));
                if let Err(panic) = outcome {
                    let why = panic
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| panic.downcast_ref::<&str>().map(|text| (*text).to_owned()))
                        .unwrap_or_default();
                    mismatches.push(format!("{}: {why}", spec.id()));
                }
                checked += 1;
            }
        }
        assert!(mismatches.is_empty(), "schemas that do not match their validation:\n{}", mismatches.join("\n"));
        assert!(checked >= 20, "every model of every service: {checked}");
    }
}
