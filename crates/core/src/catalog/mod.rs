//! The model catalog: every service and the models it offers, kept apart (seed 003:
//! the same model may come through two services), and the resolution of the names
//! clients write (`local/placeholder`, or `placeholder` alone when one service has it).

use std::collections::BTreeMap;
use std::sync::Arc;

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
    Model3d,
    Text,
}

/// A model as one service offers it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelSpec {
    pub service: String,
    pub model: String,
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

#[derive(Clone, Default)]
pub struct Catalog {
    providers: BTreeMap<String, Arc<dyn Provider>>,
    models: Vec<ModelSpec>,
}

impl Catalog {
    pub fn new(providers: Vec<Arc<dyn Provider>>) -> Self {
        let mut catalog = Self::default();
        for provider in providers {
            catalog.models.extend(provider.models());
            catalog.providers.insert(provider.service().to_owned(), provider);
        }
        catalog
    }

    pub fn models(&self) -> &[ModelSpec] {
        &self.models
    }

    /// The services, by name.
    pub fn services(&self) -> impl Iterator<Item = &str> {
        self.providers.keys().map(String::as_str)
    }

    pub fn provider(&self, service: &str) -> Option<&Arc<dyn Provider>> {
        self.providers.get(service)
    }

    /// Resolves `service/model`, or a bare model name offered by exactly one service
    /// (or usable through exactly one), case-insensitively. The model must be usable.
    pub fn resolve(&self, name: &str) -> Result<ResolvedModel> {
        let name = name.trim().to_ascii_lowercase();
        let matches: Vec<&ModelSpec> = match name.split_once('/') {
            Some((service, model)) => self.models.iter().filter(|m| m.service == service && m.model == model).collect(),
            None => self.models.iter().filter(|m| m.model == name).collect(),
        };
        let spec = match matches.as_slice() {
            [spec] => *spec,
            [] => {
                let known: Vec<String> = self.models.iter().map(ModelSpec::id).collect();
                return Err(CoreError::InvalidInput {
                    message: format!("unknown model {name:?}"),
                    details: serde_json::json!({ "field": "model", "reason": "unknown model", "available": known }),
                });
            }
            several if several.iter().filter(|m| m.is_usable()).count() == 1 => {
                // Offered by several services but usable through one: that one.
                several.iter().copied().find(|m| m.is_usable()).ok_or(CoreError::NotFound { what: "model" })?
            }
            several => {
                let ids: Vec<String> = several.iter().map(|m| m.id()).collect();
                return Err(CoreError::InvalidInput {
                    message: format!("model {name:?} is offered by several services: name one"),
                    details: serde_json::json!({ "field": "model", "reason": "ambiguous model", "candidates": ids }),
                });
            }
        };
        if let Some(config_key) = &spec.requires_config {
            return Err(CoreError::ModelUnavailable { model: spec.id(), config_key: config_key.clone() });
        }
        let provider = self.providers.get(&spec.service).cloned().ok_or(CoreError::NotFound { what: "service" })?;
        Ok(ResolvedModel { provider, spec: spec.clone() })
    }
}
