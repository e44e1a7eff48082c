//! The model catalog: every service and the models it offers, kept apart (seed 003:
//! the same model may come through two services), and the resolution of the names
//! clients write (`local/placeholder`, or `placeholder` alone when one service has it;
//! aliases and seed 003's constants as [`names`] says).

pub mod names;
pub mod offers;

use std::collections::BTreeMap;
use std::sync::{Arc, PoisonError, RwLock};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{CoreError, Result};
use crate::ports::Provider;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Modality {
    Image,
    Video,
    Audio,
    /// 3D models (GLB, OBJ, STL), named `3d` on the wire as seed 002's issue writes it.
    #[serde(rename = "3d")]
    Model3d,
    Text,
}

/// A model as one service offers it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelSpec {
    pub service: String,
    /// The canonical name, the same under every service that offers the model
    /// (see [`names`]).
    pub model: String,
    /// Former names of the model under this service, still accepted (`sora2`).
    #[serde(default)]
    pub aliases: Vec<String>,
    pub modality: Modality,
    pub title: String,
    pub description: String,
    /// JSON Schema of the task input.
    pub input_schema: Value,
    /// A rough duration, shown as seed 004's `estimated_time`.
    pub estimated_seconds: u32,
    /// How long a task may wait on the provider before it fails as `poll_timeout`;
    /// `None`: the worker's default (5 minutes, seed 003). Video models wait longer.
    /// The config's `providers.poll_timeouts` overrides it per model.
    #[serde(default)]
    pub poll_timeout_secs: Option<u64>,
    /// The config key to set when the model cannot be used yet; `None` when usable.
    pub requires_config: Option<String>,
}

impl ModelSpec {
    pub fn id(&self) -> String {
        format!("{}/{}", self.service, self.model)
    }

    pub fn is_usable(&self) -> bool {
        self.requires_config.is_none()
    }
}

/// A resolved model: its provider and its spec.
#[derive(Clone)]
pub struct ResolvedModel {
    pub provider: Arc<dyn Provider>,
    pub spec: ModelSpec,
}

/// Every service and its models. The models can be refreshed while the server
/// runs ([`Catalog::refresh`]): services that list what they serve (a ComfyUI
/// server's workflows, an AUTOMATIC1111 server's checkpoints) learn it again.
#[derive(Default)]
pub struct Catalog {
    providers: BTreeMap<String, Arc<dyn Provider>>,
    /// The services in the order they were given: models are listed in it.
    order: Vec<Arc<dyn Provider>>,
    models: RwLock<Arc<[ModelSpec]>>,
}

/// What a refresh of the catalog found.
#[derive(Debug, Clone, Default)]
pub struct Refreshed {
    /// Models in the catalog now.
    pub models: usize,
    /// Services whose refresh failed, with why; they keep the models they had.
    pub failures: Vec<(String, String)>,
}

impl Catalog {
    pub fn new(order: Vec<Arc<dyn Provider>>) -> Self {
        let providers = order.iter().map(|provider| (provider.service().to_owned(), provider.clone())).collect();
        let models = Self::collect(&order);
        Self { providers, order, models: RwLock::new(models) }
    }

    fn collect(order: &[Arc<dyn Provider>]) -> Arc<[ModelSpec]> {
        order.iter().flat_map(|provider| provider.models()).collect()
    }

    /// The models as the catalog knows them now.
    pub fn models(&self) -> Arc<[ModelSpec]> {
        self.models.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Asks every service what it offers now, then lists every service's models again.
    pub async fn refresh(&self) -> Refreshed {
        let mut failures = Vec::new();
        for (service, provider) in &self.providers {
            if let Err(error) = provider.refresh_models().await {
                tracing::warn!(service = %service, %error, "refreshing a service's models failed; keeping what it had");
                failures.push((service.clone(), error.to_string()));
            }
        }
        let models = Self::collect(&self.order);
        let count = models.len();
        *self.models.write().unwrap_or_else(PoisonError::into_inner) = models;
        Refreshed { models: count, failures }
    }

    /// The services, by name.
    pub fn services(&self) -> impl Iterator<Item = &str> {
        self.providers.keys().map(String::as_str)
    }

    pub fn provider(&self, service: &str) -> Option<&Arc<dyn Provider>> {
        self.providers.get(service)
    }

    /// Resolves `service/model`, or a bare model name offered by exactly one service
    /// (or usable through exactly one), case-insensitively; aliases and seed 003's
    /// constants name their model. The model must be usable.
    pub fn resolve(&self, name: &str) -> Result<ResolvedModel> {
        let spec = self.find(name)?;
        if let Some(config_key) = &spec.requires_config {
            return Err(CoreError::ModelUnavailable { model: spec.id(), config_key: config_key.clone() });
        }
        let provider = self.providers.get(&spec.service).cloned().ok_or(CoreError::NotFound { what: "service" })?;
        Ok(ResolvedModel { provider, spec })
    }

    /// The model a name stands for, usable or not (as [`Catalog::resolve`] reads it).
    pub fn find(&self, name: &str) -> Result<ModelSpec> {
        let name = name.trim().to_ascii_lowercase();
        let models = self.models();
        let matches: Vec<&ModelSpec> = match name.split_once('/') {
            Some((service, model)) => {
                models.iter().filter(|m| m.service == service.trim() && names::names_model(m, model.trim())).collect()
            }
            None => models.iter().filter(|m| names::names_model(m, &name)).collect(),
        };
        match matches.as_slice() {
            [spec] => Ok((*spec).clone()),
            [] => Err(unknown_model(&models, &name)),
            several if several.iter().filter(|m| m.is_usable()).count() == 1 => {
                // Offered by several services but usable through one: that one.
                several
                    .iter()
                    .find(|m| m.is_usable())
                    .map(|m| (*m).clone())
                    .ok_or(CoreError::NotFound { what: "model" })
            }
            several => {
                let ids: Vec<String> = several.iter().map(|m| m.id()).collect();
                Err(CoreError::InvalidInput {
                    message: format!("model {name:?} is offered by several services: name one"),
                    details: serde_json::json!({ "field": "model", "reason": "ambiguous model", "candidates": ids }),
                })
            }
        }
    }

    /// A configuration key in canonical form: a service (`kie`) as it is, a
    /// `service/model` or a bare model name with the model's canonical name
    /// (`kie/sora2` → `kie/sora-2`, `IMAGEN4` → `imagen-4`). A name the catalog does
    /// not know is kept as written (lower case).
    pub fn canonical_key(&self, key: &str) -> String {
        let key = key.trim().to_ascii_lowercase();
        let models = self.models();
        match key.split_once('/') {
            Some(_) => self.find(&key).map_or(key, |spec| spec.id()),
            None if self.providers.contains_key(&key) => key,
            None => models.iter().find(|m| names::names_model(m, &key)).map_or(key, |spec| spec.model.clone()),
        }
    }

    /// Refuses an input parameter `spec`'s service lacks that another service offers
    /// for the same model ([`offers::check_offered`]).
    pub fn check_offered(&self, spec: &ModelSpec, input: &Value) -> Result<()> {
        offers::check_offered(&self.models(), spec, input)
    }
}

/// Why no model answers to `name`: a model another service offers (naming those
/// services), or no model at all (listing every id).
fn unknown_model(models: &[ModelSpec], name: &str) -> CoreError {
    if let Some((service, model)) = name.split_once('/') {
        let offered_by: Vec<String> =
            models.iter().filter(|m| names::names_model(m, model.trim())).map(ModelSpec::id).collect();
        if !offered_by.is_empty() {
            return CoreError::InvalidInput {
                message: format!("{} does not offer {model:?} (offered by {})", service.trim(), offered_by.join(", ")),
                details: serde_json::json!({
                    "field": "model", "reason": "not offered by this service", "offered_by": offered_by,
                }),
            };
        }
    }
    let known: Vec<String> = models.iter().map(ModelSpec::id).collect();
    CoreError::InvalidInput {
        message: format!("unknown model {name:?}"),
        details: serde_json::json!({ "field": "model", "reason": "unknown model", "available": known }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::{ErrorClass, ProviderError};
    use crate::testing::Scripted;

    #[tokio::test]
    async fn a_refresh_lists_what_services_offer_now() {
        let lab = Arc::new(Scripted::new("lab"));
        let catalog = Catalog::new(vec![lab.clone(), Arc::new(Scripted::new("other"))]);
        assert!(catalog.resolve("lab/sdxl").is_err(), "not offered yet");
        let offered = ["model", "sdxl"].map(|model| Scripted::spec("lab", model, Modality::Image)).to_vec();
        lab.on_refresh(Ok(offered));
        let refreshed = catalog.refresh().await;
        assert_eq!((refreshed.models, refreshed.failures.len()), (3, 0));
        assert_eq!(catalog.resolve("sdxl").expect("offered now").spec.id(), "lab/sdxl");
        lab.on_refresh(Err(ProviderError::new(ErrorClass::ConnectionRefused, "the server is down")));
        let failed = catalog.refresh().await;
        assert_eq!(failed.failures, [("lab".to_owned(), "the server is down".to_owned())]);
        assert!(catalog.resolve("lab/sdxl").is_ok(), "a failed refresh keeps what the service had");
    }
}
