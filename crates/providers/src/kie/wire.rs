//! Reading Kie's answers as loosely as its own docs write them (docs/providers/kie.md 1.1,
//! 1.3, 1.4): flags as numbers or strings, JSON objects or JSON held in strings,
//! URL lists as arrays or as a string like `"[http://…, http://…]"`.

use atelier_core::ports::{ErrorClass, ProviderError};
use serde_json::Value;

use super::client::class_for_code;

/// A field that should be an integer, also accepted as a numeric string.
pub fn integer(value: Option<&Value>) -> Option<i64> {
    match value? {
        Value::Number(number) => number.as_i64(),
        Value::String(text) => text.trim().parse().ok(),
        _ => None,
    }
}

/// A field as text: strings as they are, numbers written out, anything else empty.
pub fn text(value: Option<&Value>) -> String {
    match value {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Number(number)) => number.to_string(),
        _ => String::new(),
    }
}

/// An object that may also come as a JSON string (`resultJson`, `resultInfoJson`).
pub fn object(value: Option<&Value>) -> Option<Value> {
    match value? {
        object @ Value::Object(_) => Some(object.clone()),
        Value::String(text) => match serde_json::from_str(text) {
            Ok(object @ Value::Object(_)) => Some(object),
            _ => None,
        },
        _ => None,
    }
}

/// A list of URLs: a JSON array (of strings, or of objects with `resultUrl`), a
/// JSON array held in a string, or the string form the Veo OpenAPI shows,
/// `"[http://a.mp4, http://b.mp4]"`.
pub fn url_list(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|item| match item {
                Value::String(url) => Some(url.trim().to_owned()),
                Value::Object(_) => item.get("resultUrl").and_then(Value::as_str).map(|url| url.trim().to_owned()),
                _ => None,
            })
            .filter(|url| !url.is_empty())
            .collect(),
        Some(Value::String(text)) => {
            if let Ok(array @ Value::Array(_)) = serde_json::from_str(text) {
                return url_list(Some(&array));
            }
            text.trim()
                .trim_start_matches('[')
                .trim_end_matches(']')
                .split(',')
                .map(|url| url.trim().trim_matches(['"', '\'']).trim().to_owned())
                .filter(|url| !url.is_empty())
                .collect()
        }
        _ => Vec::new(),
    }
}

/// A task Kie reports as failed (`successFlag` 2/3, `state: fail`), classed by its
/// code: a server error there is the model's failure, not a reason to resubmit.
pub fn task_failure(code: Option<i64>, message: &str) -> ProviderError {
    let class = match code.and_then(|code| u16::try_from(code).ok()) {
        Some(code) => match class_for_code(code) {
            ErrorClass::ServerError | ErrorClass::Timeout => ErrorClass::GenerationFailed,
            other => other,
        },
        None => ErrorClass::GenerationFailed,
    };
    let message = if message.is_empty() { "no message" } else { message };
    let code = code.map_or_else(|| "no code".to_owned(), |code| code.to_string());
    ProviderError::new(class, format!("Kie failed the task ({code}): {message}"))
}

/// The `successFlag` of Veo and Midjourney records: 0 generating, 1 success,
/// 2 failed, 3 generation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flag {
    Running,
    Success,
    Failed,
}

pub fn success_flag(data: &Value) -> Result<Flag, ProviderError> {
    match data.get("successFlag") {
        // A record read before its flag is set is still running; the poll
        // timeout bounds a record that never gets one.
        None | Some(Value::Null) => Ok(Flag::Running),
        value => match integer(value) {
            Some(0) => Ok(Flag::Running),
            Some(1) => Ok(Flag::Success),
            Some(2 | 3) => Ok(Flag::Failed),
            _ => Err(ProviderError::new(
                ErrorClass::MalformedResponse,
                format!("unknown Kie successFlag {}", value.map(Value::to_string).unwrap_or_default()),
            )),
        },
    }
}

/// Where a Veo or Midjourney task stands, read from its record.
#[derive(Debug, PartialEq)]
pub enum FlagRecord {
    Running,
    Finished { result_urls: Vec<String> },
    Failed { code: Option<i64>, message: String },
}

/// A Veo or Midjourney `record-info` `data`: `successFlag`, results under
/// `results_key` (an object or a JSON string) in `resultUrls`, `errorCode` and
/// `errorMessage` (or `msg`, `message`) on failure. `what` names the model in errors.
pub fn flag_record(data: &Value, results_key: &str, what: &str) -> Result<FlagRecord, ProviderError> {
    match success_flag(data)? {
        Flag::Running => Ok(FlagRecord::Running),
        Flag::Success => {
            let results = object(data.get(results_key)).unwrap_or(Value::Null);
            let result_urls = url_list(results.get("resultUrls"));
            if result_urls.is_empty() {
                return Err(ProviderError::new(
                    ErrorClass::MalformedResponse,
                    format!("Kie reports the {what} task done but gives no resultUrls"),
                ));
            }
            Ok(FlagRecord::Finished { result_urls })
        }
        Flag::Failed => {
            let message = data.get("errorMessage").or_else(|| data.get("msg")).or_else(|| data.get("message"));
            Ok(FlagRecord::Failed { code: integer(data.get("errorCode")), message: text(message) })
        }
    }
}

/// Deserialises an optional input field that Kie takes as a string (`version`,
/// `n_frames`) from a string or a number, so that `7` and `"7"` both work.
pub fn string_or_number<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    use serde::Deserialize;
    match Option::<Value>::deserialize(deserializer)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.trim().to_owned())),
        Some(Value::Number(number)) => Ok(Some(number.to_string())),
        Some(other) => Err(serde::de::Error::custom(format!("expected a string or a number, got {other}"))),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn url_lists_in_every_documented_form() {
        let both = vec!["http://a/1.mp4".to_owned(), "http://a/2.mp4".to_owned()];
        assert_eq!(url_list(Some(&json!(["http://a/1.mp4", "http://a/2.mp4"]))), both);
        assert_eq!(url_list(Some(&json!("[http://a/1.mp4, http://a/2.mp4]"))), both);
        assert_eq!(url_list(Some(&json!("[\"http://a/1.mp4\",\"http://a/2.mp4\"]"))), both);
        assert_eq!(
            url_list(Some(&json!([{ "resultUrl": "http://a/1.mp4" }, { "resultUrl": "http://a/2.mp4" }]))),
            both
        );
        assert_eq!(url_list(Some(&json!("http://a/1.mp4"))), vec!["http://a/1.mp4".to_owned()]);
        assert!(url_list(Some(&json!("[]"))).is_empty());
        assert!(url_list(None).is_empty());
    }

    #[test]
    fn flags_as_numbers_or_strings() {
        assert_eq!(success_flag(&json!({ "successFlag": 0 })).ok(), Some(Flag::Running));
        assert_eq!(success_flag(&json!({ "successFlag": "1" })).ok(), Some(Flag::Success));
        assert_eq!(success_flag(&json!({ "successFlag": 2 })).ok(), Some(Flag::Failed));
        assert_eq!(success_flag(&json!({ "successFlag": 3 })).ok(), Some(Flag::Failed));
        assert_eq!(success_flag(&json!({})).ok(), Some(Flag::Running));
        assert!(success_flag(&json!({ "successFlag": 7 })).is_err());
    }

    #[test]
    fn failures_are_classed_by_code() {
        assert_eq!(task_failure(Some(500), "x").class, ErrorClass::GenerationFailed);
        assert_eq!(task_failure(Some(501), "x").class, ErrorClass::GenerationFailed);
        assert_eq!(task_failure(Some(400), "flagged").class, ErrorClass::ClientError);
        assert_eq!(task_failure(None, "").class, ErrorClass::GenerationFailed);
        assert!(task_failure(Some(400), "Only English prompts").message.contains("Only English prompts"));
    }

    #[test]
    fn objects_or_json_strings() {
        assert_eq!(object(Some(&json!({ "a": 1 }))), Some(json!({ "a": 1 })));
        assert_eq!(object(Some(&json!("{\"a\":1}"))), Some(json!({ "a": 1 })));
        assert_eq!(object(Some(&json!("nope"))), None);
        assert_eq!(integer(Some(&json!("42"))), Some(42));
        assert_eq!(text(Some(&json!(500))), "500");
    }
}
