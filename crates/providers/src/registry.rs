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
use crate::trellis::TrellisProvider;
use crate::volcengine::VolcEngineProvider;

pub fn services(providers: &ProvidersConfig, engines: &EnginesConfig) -> Result<Vec<Arc<dyn Provider>>, ConfigError> {
    Ok(vec![
        Arc::new(LocalProvider::new(LocalConfig::new(engines.instant.enabled).with_speech(engines.speech.clone()))),
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
        Arc::new(TrellisProvider),
    ])
}

/// The README's table of models: each canonical name, its kind, the services that
/// offer it and the other names a task may give it. A test keeps the README's copy
/// true to the catalogue.
pub fn model_table(providers: &ProvidersConfig, engines: &EnginesConfig) -> Result<String, ConfigError> {
    use atelier_core::catalog::names;
    let specs: Vec<atelier_core::catalog::ModelSpec> =
        services(providers, engines)?.iter().flat_map(|provider| provider.models()).collect();
    let mut rows: Vec<(String, String, Vec<String>, Vec<String>)> = Vec::new();
    for spec in &specs {
        let kind =
            serde_json::to_value(spec.modality).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
        let index = match rows.iter().position(|row| row.0 == spec.model) {
            Some(index) => index,
            None => {
                rows.push((spec.model.clone(), kind, Vec::new(), Vec::new()));
                rows.len() - 1
            }
        };
        let row = &mut rows[index];
        row.2.push(format!("`{}`", spec.service));
        for alias in names::other_names(spec) {
            let alias = format!("`{alias}`");
            if !row.3.contains(&alias) {
                row.3.push(alias);
            }
        }
    }
    let mut table = String::from("| model | kind | services | also accepted |\n|---|---|---|---|\n");
    for (model, kind, services, mut aliases) in rows {
        // Former ids first, then the seed's constant.
        aliases.sort_by_key(|alias| !alias.contains('/'));
        table.push_str(&format!("| `{model}` | {kind} | {} | {} |\n", services.join(", "), aliases.join(", ")));
    }
    Ok(table)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A parameter missing from a model's schema is one its service refuses, so that
    /// the catalogue's refusal of a parameter only another service takes
    /// (`offers::check_offered`) never refuses what the service would accept.
    #[test]
    fn a_parameter_a_schema_lacks_is_one_its_service_refuses() {
        use atelier_core::catalog::offers;
        let engines = EnginesConfig { instant: InstantConfig { enabled: true }, ..EnginesConfig::default() };
        let providers = services(&ProvidersConfig::default(), &engines).expect("services");
        let specs: Vec<_> = providers.iter().flat_map(|provider| provider.models()).collect();
        let (mut checked, mut accepted) = (0, Vec::new());
        for provider in &providers {
            for spec in provider.models() {
                let own = offers::parameters(&spec);
                let others = specs.iter().filter(|other| other.model == spec.model && other.service != spec.service);
                let mut lacking: Vec<String> =
                    others.flat_map(offers::parameters).filter(|parameter| !own.contains(parameter)).collect();
                lacking.sort();
                lacking.dedup();
                for parameter in lacking {
                    for value in [json!("x"), json!(1), json!(true), json!(["x"]), json!({})] {
                        let mut input = minimal_input(&spec.input_schema);
                        input[&parameter] = value.clone();
                        if provider.validate(&spec.model, &input).is_ok() {
                            accepted.push(format!("{} takes {parameter} = {value}", spec.id()));
                        }
                        checked += 1;
                    }
                }
            }
        }
        assert!(accepted.is_empty(), "parameters a schema lacks but validation accepts:\n{}", accepted.join("\n"));
        assert!(checked > 20, "{checked}");
    }

    #[test]
    fn every_name_of_a_model_finds_that_model_alone() {
        use atelier_core::catalog::{Catalog, names};
        let engines = EnginesConfig { instant: InstantConfig { enabled: true }, ..EnginesConfig::default() };
        let catalog = Catalog::new(services(&ProvidersConfig::default(), &engines).expect("services"));
        let mut checked = 0;
        for spec in catalog.models().iter() {
            let seed = names::seed_name(&spec.model).map(str::to_owned);
            for name in std::iter::once(&spec.model).chain(&spec.aliases).chain(seed.as_ref()) {
                for written in [name.clone(), name.to_ascii_uppercase()] {
                    let found = catalog.find(&format!("{}/{written}", spec.service.to_ascii_uppercase()));
                    assert_eq!(found.map(|found| found.id()).ok(), Some(spec.id()), "{}/{written}", spec.service);
                    checked += 1;
                }
            }
        }
        assert!(checked > 100, "{checked}");
        // The seed's pairs that Atelier offers, and one it does not.
        assert_eq!(catalog.find("KIE/SORA2").map(|spec| spec.id()).ok().as_deref(), Some("kie/sora-2"));
        assert_eq!(catalog.find("AZURE/DALL_E_3").map(|spec| spec.id()).ok().as_deref(), Some("azure/dall-e-3"));
        assert!(catalog.find("AZURE/IMAGEN4").is_err());
        assert_eq!(catalog.canonical_key("kie/veo3"), "kie/veo-3");
        assert_eq!(catalog.canonical_key("IMAGEN4"), "imagen-4");
        assert_eq!(catalog.canonical_key("kie"), "kie");
    }

    #[test]
    fn the_readmes_model_table_is_the_catalogues() {
        let engines = EnginesConfig::default();
        let table = model_table(&ProvidersConfig::default(), &engines).expect("table");
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md");
        let readme = std::fs::read_to_string(&path).expect("README.md");
        let (start, end) = ("<!-- model-table:start -->\n", "<!-- model-table:end -->");
        let from = readme.find(start).expect("the README marks its model table") + start.len();
        let to = readme[from..].find(end).expect("the table's end mark") + from;
        if readme[from..to] != table {
            if std::env::var_os("ATELIER_UPDATE_README").is_some() {
                std::fs::write(&path, format!("{}{table}{}", &readme[..from], &readme[to..])).expect("write README");
            }
            panic!("README.md's model table is not the catalogue's (ATELIER_UPDATE_README=1 rewrites it):\n{table}");
        }
    }
    use crate::config::InstantConfig;
    use crate::kit::schema::{check_schema_matches, minimal_input};
    use serde_json::json;

    #[test]
    fn every_models_schema_matches_its_validation() {
        let engines = EnginesConfig { instant: InstantConfig { enabled: true }, ..EnginesConfig::default() };
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
