//! What every provider shares, so that a new provider is one folder: its config
//! section's building blocks ([`ConfigError`], secrets), one HTTP client with
//! pluggable authentication ([`ApiClient`], [`Auth`]), one poll schedule
//! ([`PollSchedule`]), typed parameters with field-naming errors and the common
//! field checks ([`params`], [`fields`]), a provider's image read as an output
//! ([`image::image_output`]), and a table of models that replaces
//! `match model` blocks ([`ModelTable`]).

pub mod auth;
pub mod ffmpeg;
pub mod fields;
pub mod http;
pub mod image;
pub mod inputs;
pub mod params;
pub mod poll;
pub mod pool;
#[cfg(test)]
pub mod schema;
pub mod table;
pub mod text;

pub use auth::{ApiKeyHeader, Auth, Basic, Bearer, OAuth, TokenSource};
pub use http::{ApiClient, Phase, Reply};
pub use poll::PollSchedule;
pub use table::{ModelTable, Named};

/// A provider's config section is wrong; `key` names the setting, as the config
/// file writes it (`providers.kie.base_url`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct ConfigError {
    pub key: String,
    pub message: String,
}

impl ConfigError {
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self { key: key.into(), message: message.into() }
    }
}

/// Checks that a configured URL is http(s).
pub fn check_url(key: &str, url: &str) -> Result<(), ConfigError> {
    if url.starts_with("http://") || url.starts_with("https://") {
        Ok(())
    } else {
        Err(ConfigError::new(key, "must be an http(s) URL"))
    }
}

/// An optional text setting: `None` when blank.
pub fn optional(text: &str) -> Option<String> {
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

/// A secret setting from its value or its `_file` twin.
pub fn secret(
    value: &atelier_core::Secret,
    file: Option<&std::path::Path>,
    file_key: &str,
) -> Result<Option<String>, ConfigError> {
    atelier_core::secret::resolve_secret(value, file, file_key).map_err(|message| ConfigError::new(file_key, message))
}
