//! Secrets in the configuration: never shown in logs, `config show` or errors, and
//! readable from a file named by the key's `_file` twin (container secrets).

use std::fmt;
use std::path::Path;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A secret value. `Debug` and `Serialize` print `REDACTED` (or nothing when empty);
/// only [`Secret::expose`] gives the value.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.trim().is_empty()
    }
}

/// A secret from its value, or from the file its `_file` key names (`file_key`, such
/// as `providers.kie.api_key_file`, names it in errors); `None` when neither is set.
pub fn resolve_secret(value: &Secret, file: Option<&Path>, file_key: &str) -> Result<Option<String>, String> {
    if let Some(path) = file {
        let secret =
            std::fs::read_to_string(path).map_err(|error| format!("reading {file_key} {}: {error}", path.display()))?;
        let secret = secret.trim();
        if secret.is_empty() {
            return Err(format!("{file_key} {} is empty", path.display()));
        }
        return Ok(Some(secret.to_owned()));
    }
    Ok((!value.is_empty()).then(|| value.expose().trim().to_owned()))
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.is_empty() { "\"\"" } else { "\"REDACTED\"" })
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(if self.is_empty() { "" } else { "REDACTED" })
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_shown() {
        let secret = Secret::new("sk-live-123");
        assert_eq!(format!("{secret:?}"), "\"REDACTED\"");
        assert_eq!(serde_json::to_string(&secret).ok().as_deref(), Some("\"REDACTED\""));
        assert_eq!(secret.expose(), "sk-live-123");
    }
}
