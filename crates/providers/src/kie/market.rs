//! The market jobs API (docs/providers/kie.md 1.2): `createTask` then `recordInfo`, with
//! `state` strings normalised (seed 003): waiting, queuing, generating → running;
//! success → finished; fail → failed.

use atelier_core::ports::{ErrorClass, ProviderError};
use serde_json::Value;

use super::Kie;
use super::client::{KieClient, Phase};
use super::wire::FlagRecord;
use atelier_core::ports::{Job, Polled};

/// Creates a market task; returns Kie's task id.
pub async fn create_task(
    client: &KieClient,
    model: &str,
    input: Value,
    callback_url: Option<&str>,
) -> Result<String, ProviderError> {
    let mut body = serde_json::json!({ "model": model, "input": input });
    if let Some(url) = callback_url {
        body["callBackUrl"] = Value::String(url.to_owned());
    }
    let data = client.post("/api/v1/jobs/createTask", &body, Phase::Submit).await?;
    task_id_of(&data)
}

/// The `taskId` of a create answer (every Kie API names it so).
pub fn task_id_of(data: &Value) -> Result<String, ProviderError> {
    data.get("taskId")
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| ProviderError::new(ErrorClass::SubmitUnknown, "Kie accepted the task but sent no taskId"))
}

/// Where a market task stands.
#[derive(Debug, PartialEq)]
pub enum MarketState {
    Running,
    Finished { result_urls: Vec<String> },
    Failed { code: String, message: String },
}

pub async fn record_info(client: &KieClient, task_id: &str) -> Result<MarketState, ProviderError> {
    let data = client.get("/api/v1/jobs/recordInfo", &[("taskId", task_id)], Phase::Query).await?;
    parse_record(&data)
}

pub fn parse_record(data: &Value) -> Result<MarketState, ProviderError> {
    let state = data.get("state").and_then(Value::as_str).unwrap_or_default();
    match state {
        "waiting" | "queuing" | "generating" => Ok(MarketState::Running),
        "success" => Ok(MarketState::Finished { result_urls: result_urls(data.get("resultJson"))? }),
        "fail" => {
            Ok(MarketState::Failed { code: text_of(data.get("failCode")), message: text_of(data.get("failMsg")) })
        }
        other => Err(ProviderError::new(ErrorClass::MalformedResponse, format!("unknown Kie task state {other:?}"))),
    }
}

fn text_of(value: Option<&Value>) -> String {
    match value {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Number(number)) => number.to_string(),
        _ => String::new(),
    }
}

/// `resultJson` is a JSON string holding `{"resultUrls": [...]}`; accept an object too.
fn result_urls(result_json: Option<&Value>) -> Result<Vec<String>, ProviderError> {
    let malformed = |why: &str| ProviderError::new(ErrorClass::MalformedResponse, format!("Kie resultJson {why}"));
    let parsed = match result_json {
        Some(Value::String(text)) => serde_json::from_str(text).map_err(|_| malformed("is not JSON"))?,
        Some(object @ Value::Object(_)) => object.clone(),
        _ => return Err(malformed("is missing")),
    };
    let urls: Vec<String> = parsed
        .get("resultUrls")
        .and_then(Value::as_array)
        .map(|urls| urls.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default();
    if urls.is_empty() {
        return Err(malformed("has no resultUrls"));
    }
    Ok(urls)
}

impl From<MarketState> for FlagRecord {
    fn from(state: MarketState) -> Self {
        match state {
            MarketState::Running => Self::Running,
            MarketState::Finished { result_urls } => Self::Finished { result_urls },
            MarketState::Failed { code, message } => Self::Failed { code: code.trim().parse().ok(), message },
        }
    }
}

/// Polls a market task (Imagen 4, Sora 2) through `recordInfo`.
pub async fn poll(kie: &Kie<'_>, job: &Job<'_>, task_id: &str) -> Result<Polled, ProviderError> {
    let state = record_info(kie.client, task_id).await?;
    kie.settle(job, state.into()).await
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn states_normalise() {
        for state in ["waiting", "queuing", "generating"] {
            assert_eq!(parse_record(&json!({ "state": state })).ok(), Some(MarketState::Running));
        }
        let done = json!({ "state": "success", "resultJson": "{\"resultUrls\":[\"https://x/1.png\"]}" });
        assert_eq!(
            parse_record(&done).ok(),
            Some(MarketState::Finished { result_urls: vec!["https://x/1.png".into()] })
        );
        let object = json!({ "state": "success", "resultJson": { "resultUrls": ["https://x/2.png"] } });
        assert!(matches!(parse_record(&object), Ok(MarketState::Finished { .. })));
        let failed = json!({ "state": "fail", "failCode": "500", "failMsg": "Internal server error" });
        assert_eq!(
            parse_record(&failed).ok(),
            Some(MarketState::Failed { code: "500".into(), message: "Internal server error".into() })
        );
        assert!(parse_record(&json!({ "state": "exploded" })).is_err());
        assert!(parse_record(&json!({ "state": "success", "resultJson": "not json" })).is_err());
    }
}
