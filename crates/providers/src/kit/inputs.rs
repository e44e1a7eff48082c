//! A task's input files as every provider reads them: the references a field
//! holds (one or a list), and a reference opened with errors that name its field.

use atelier_core::ports::{ErrorClass, InputFile, InputFiles, InputRef, ProviderError};
use serde_json::Value;

/// The references a field holds: a string, or an array of them.
pub fn references(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::String(text)) => vec![text.clone()],
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
        _ => Vec::new(),
    }
}

/// Opens a reference (an upload, an output, a data URI or a URL); errors name `field`.
pub async fn open_input(files: &dyn InputFiles, reference: &str, field: &str) -> Result<InputFile, ProviderError> {
    let parsed = InputRef::parse(reference)
        .map_err(|reason| ProviderError::new(ErrorClass::ClientError, format!("{field}: {reason}")))?;
    files.open(&parsed).await.map_err(|mut error| {
        error.message = format!("{field}: {}", error.message);
        error
    })
}
