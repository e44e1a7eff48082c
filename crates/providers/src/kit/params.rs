//! Typed model parameters: parsing a task input into a params struct with errors
//! that name the field, shared by every provider.

use atelier_core::CoreError;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Deserialises `input` into a params struct, turning every serde error into
/// `CoreError::InvalidInput` that names the field when it can be told.
pub fn parse_params<T: DeserializeOwned>(input: &Value) -> Result<T, CoreError> {
    if !input.is_object() {
        return Err(CoreError::invalid("input", "must be a JSON object"));
    }
    serde_path_to_error::deserialize::<_, T>(input).map_err(|error| {
        let path = error.path().to_string();
        let message = error.inner().to_string();
        let named =
            backticked_after(&message, "unknown field `").or_else(|| backticked_after(&message, "missing field `"));
        let field = match named {
            Some(name) if path == "." || path.is_empty() => name,
            Some(name) if path == name || path.ends_with(&format!(".{name}")) => path,
            Some(name) => format!("{path}.{name}"),
            None if path == "." || path.is_empty() => "input".to_owned(),
            None => path,
        };
        let reason = if message.starts_with("unknown field `") {
            match message.split_once(", expected ") {
                Some((_, expected)) => format!("unknown field; expected {expected}"),
                None => "unknown field".to_owned(),
            }
        } else if message.starts_with("missing field `") {
            "is required".to_owned()
        } else {
            friendlier(&message)
        };
        CoreError::invalid(&field, reason)
    })
}

fn backticked_after(message: &str, prefix: &str) -> Option<String> {
    let rest = message.strip_prefix(prefix)?;
    rest.split_once('`').map(|(name, _)| name.to_owned())
}

fn friendlier(message: &str) -> String {
    message
        .replace("expected i64", "expected an integer")
        .replace("expected u64", "expected a non-negative integer")
        .replace("expected f64", "expected a number")
}

/// A stored (validated) input as a model's params, for a run: a mismatch is our bug
/// or a hand-edited row, and never worth a retry.
pub fn parse_stored<T: DeserializeOwned>(input: &Value) -> Result<T, atelier_core::ports::ProviderError> {
    parse_params(input).map_err(|error| {
        atelier_core::ports::ProviderError::new(atelier_core::ports::ErrorClass::ClientError, error.to_string())
    })
}

/// A list given as one item or several (`fileUrl` or `fileUrls`, in Kie's names).
pub fn one_or_many<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match <OneOrMany as serde::Deserialize>::deserialize(deserializer)? {
        OneOrMany::One(item) => vec![item],
        OneOrMany::Many(items) => items,
    })
}

/// Checks an integer against an inclusive range.
pub fn check_range(field: &str, value: i64, min: i64, max: i64) -> Result<(), CoreError> {
    if value < min || value > max {
        return Err(CoreError::invalid(field, format!("must be between {min} and {max}, got {value}")));
    }
    Ok(())
}

/// Serialises a params struct (always representable as JSON).
pub fn to_json<T: serde::Serialize>(params: &T) -> Result<Value, CoreError> {
    serde_json::to_value(params).map_err(|error| CoreError::invalid("input", format!("cannot be represented: {error}")))
}
