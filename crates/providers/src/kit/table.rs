//! A provider's models as a table: each model is one value implementing the
//! provider's own model trait, looked up by name, so that a provider's `validate`,
//! `submit` and `poll` are one lookup each instead of a `match` on the model name.

use atelier_core::CoreError;
use atelier_core::ports::{ErrorClass, ProviderError};

/// A model's name in its service (`imagen4`, `gpt-image-1`).
pub trait Named {
    fn name(&self) -> &str;
}

pub struct ModelTable<M: ?Sized> {
    service: &'static str,
    models: Vec<Box<M>>,
}

impl<M: ?Sized + Named> ModelTable<M> {
    pub fn new(service: &'static str, models: Vec<Box<M>>) -> Self {
        Self { service, models }
    }

    pub fn iter(&self) -> impl Iterator<Item = &M> {
        self.models.iter().map(|model| model.as_ref())
    }

    /// The model named `name`, whatever its case.
    pub fn find(&self, name: &str) -> Option<&M> {
        self.iter().find(|model| model.name().eq_ignore_ascii_case(name.trim()))
    }

    /// For validation: an unknown model is invalid input naming the field `model`
    /// and the models there are.
    pub fn for_input(&self, name: &str) -> Result<&M, CoreError> {
        self.find(name).ok_or_else(|| CoreError::InvalidInput {
            message: format!("unknown model {name:?} for service {}", self.service),
            details: serde_json::json!({
                "field": "model",
                "reason": "unknown model",
                "available": self.iter().map(Named::name).collect::<Vec<_>>(),
            }),
        })
    }

    /// For a run: a stored task naming a model this service no longer offers.
    pub fn for_job(&self, name: &str) -> Result<&M, ProviderError> {
        self.find(name).ok_or_else(|| {
            ProviderError::new(ErrorClass::ClientError, format!("{} does not offer {name:?}", self.service))
        })
    }
}
