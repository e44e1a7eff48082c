//! Every service this build offers, built from its configuration. A service
//! without its key still lists its models (as not usable, naming the key to set).
//!
//! Adding a provider: its folder (models, client, config section, callbacks), its
//! field in [`ProvidersConfig`], and its line here.

use std::sync::Arc;

use atelier_core::ports::Provider;

use crate::config::{EnginesConfig, ProvidersConfig};
use crate::kie::KieProvider;
use crate::kit::ConfigError;
use crate::local::{LocalConfig, LocalProvider};
use crate::openai::OpenAiProvider;

pub fn services(providers: &ProvidersConfig, engines: &EnginesConfig) -> Result<Vec<Arc<dyn Provider>>, ConfigError> {
    Ok(vec![
        Arc::new(LocalProvider::new(LocalConfig::new(engines.instant.enabled))),
        Arc::new(KieProvider::new(&providers.kie)?),
        Arc::new(OpenAiProvider::new(&providers.openai)?),
        Arc::new(OpenAiProvider::azure(&providers.azure)?),
    ])
}
