//! Gemini's text models (docs/providers/google.md 3.1, 3.4): `POST
//! models/{id}:generateContent` with the instruction and its material as the
//! user's text, the system message as `systemInstruction`, and for a structured
//! answer `responseMimeType: application/json` with the schema as
//! `responseJsonSchema` (plain JSON Schema). The answer is the candidate's text
//! parts (thoughts left out), checked against the schema (`kit::text`).
//! Seed 001's text provider: `google/gemini-2.5-pro`, `google/gemini-2.5-flash`.

use async_trait::async_trait;
use atelier_core::CoreError;
use atelier_core::catalog::{Modality, ModelSpec};
use atelier_core::ports::{ErrorClass, Job, ProviderError, Submitted};
use atelier_core::text::{self, TextRequest};
use serde_json::{Value, json};

use super::{Google, GoogleModel};
use crate::kit::params::{parse_params, parse_stored};
use crate::kit::text::{Correction, answer_checked};
use crate::kit::{Named, Phase};

/// Google's text models Atelier offers, each under its own name.
pub const MODELS: [(&str, &str); 4] = [
    ("gemini-2.5-pro", "Gemini 2.5 Pro: the strongest reasoning, slower"),
    ("gemini-2.5-flash", "Gemini 2.5 Flash: fast, good reasoning"),
    ("gemini-2.5-flash-lite", "Gemini 2.5 Flash-Lite: the fastest and cheapest"),
    ("gemini-2.0-flash", "Gemini 2.0 Flash"),
];

pub struct GeminiText {
    pub model: &'static str,
    pub summary: &'static str,
}

impl Named for GeminiText {
    fn name(&self) -> &str {
        self.model
    }
}

/// The finish reasons that mean the content checks stopped the answer.
const REFUSALS: [&str; 5] = ["SAFETY", "PROHIBITED_CONTENT", "BLOCKLIST", "SPII", "RECITATION"];

/// The text of a `generateContent` answer, or why there is none.
pub fn answer_text(answer: &Value) -> Result<String, ProviderError> {
    if let Some(reason) = answer["promptFeedback"]["blockReason"].as_str() {
        return Err(ProviderError::new(ErrorClass::ContentFiltered, format!("Gemini refused the prompt ({reason})")));
    }
    let Some(candidate) = answer["candidates"].as_array().and_then(|candidates| candidates.first()) else {
        return Err(ProviderError::new(ErrorClass::MalformedResponse, "Gemini answered no candidate"));
    };
    let finish = candidate["finishReason"].as_str().unwrap_or("STOP");
    if REFUSALS.contains(&finish) {
        return Err(ProviderError::new(
            ErrorClass::ContentFiltered,
            format!("Gemini's safety checks stopped the answer ({finish})"),
        ));
    }
    let texts: Vec<&str> = candidate["content"]["parts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|part| part["thought"] != true)
        .filter_map(|part| part["text"].as_str())
        .collect();
    if finish == "MAX_TOKENS" {
        return Err(ProviderError::new(
            ErrorClass::GenerationFailed,
            "Gemini's answer was cut at max_output_tokens: raise it, or ask for less",
        )
        .with_max_attempts(1));
    }
    if texts.is_empty() {
        return Err(ProviderError::new(
            ErrorClass::GenerationFailed,
            format!("Gemini answered no text (finish reason {finish})"),
        ));
    }
    Ok(texts.concat())
}

fn body(request: &TextRequest, correction: Option<&Correction>) -> Value {
    let mut contents = vec![json!({ "role": "user", "parts": [{ "text": request.user_message() }] })];
    if let Some(correction) = correction {
        contents.push(json!({ "role": "model", "parts": [{ "text": correction.previous }] }));
        contents.push(json!({ "role": "user", "parts": [{ "text": correction.message }] }));
    }
    let mut config = serde_json::Map::new();
    if let Some(schema) = &request.schema {
        config.insert("responseMimeType".into(), json!(text::JSON_MIME));
        config.insert("responseJsonSchema".into(), schema.clone());
    }
    if let Some(temperature) = request.temperature {
        config.insert("temperature".into(), json!(temperature));
    }
    if let Some(tokens) = request.max_output_tokens {
        config.insert("maxOutputTokens".into(), json!(tokens));
    }
    let mut body = json!({ "contents": contents, "generationConfig": config });
    if let Some(system) = &request.system {
        body["systemInstruction"] = json!({ "parts": [{ "text": system }] });
    }
    body
}

#[async_trait]
impl GoogleModel for GeminiText {
    fn spec(&self, requires_config: Option<String>) -> ModelSpec {
        ModelSpec {
            service: super::SERVICE.into(),
            model: self.model.into(),
            aliases: Vec::new(),
            modality: Modality::Text,
            title: format!("{} (Google)", self.summary.split(':').next().unwrap_or(self.model)),
            description: format!(
                "{}. A text model: an instruction, optional material (context) and system message; with a JSON \
                 Schema the answer is JSON, validated on receipt (asked again once when it does not fit).",
                self.summary
            ),
            input_schema: text::input_schema(),
            estimated_seconds: 10,
            poll_timeout_secs: None,
            requires_config,
        }
    }

    fn validate(&self, input: &Value) -> Result<Value, CoreError> {
        let request: TextRequest = parse_params(input)?;
        request.check()?;
        Ok(request.to_value())
    }

    async fn submit(&self, google: &Google<'_>, job: &Job<'_>) -> Result<Submitted, ProviderError> {
        let request: TextRequest = parse_stored(job.input)?;
        let path = format!("models/{}:generateContent", self.model);
        let outputs = answer_checked(&request, "Gemini", |correction| {
            let body = body(&request, correction.as_ref());
            let path = path.clone();
            async move { answer_text(&google.client.post(&path, &body, Phase::Submit).await?) }
        })
        .await?;
        Ok(Submitted::Finished(outputs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_carries_the_schema_and_a_correction_as_turns() {
        let mut request = TextRequest::new("Name the fox.");
        request.system = Some("Be brief.".into());
        request.schema = Some(json!({"type": "object"}));
        request.max_output_tokens = Some(100);
        let correction = Correction { previous: "{}x".into(), message: "not JSON".into() };
        let sent = body(&request, Some(&correction));
        assert_eq!(sent["generationConfig"]["responseMimeType"], "application/json");
        assert_eq!(sent["generationConfig"]["responseJsonSchema"], json!({"type": "object"}));
        assert_eq!(sent["generationConfig"]["maxOutputTokens"], 100);
        assert_eq!(sent["systemInstruction"]["parts"][0]["text"], "Be brief.");
        let roles: Vec<&str> =
            sent["contents"].as_array().expect("turns").iter().filter_map(|turn| turn["role"].as_str()).collect();
        assert_eq!(roles, ["user", "model", "user"]);
    }

    #[test]
    fn answers_refusals_and_cut_answers_are_told_apart() {
        let answer = json!({"candidates": [{"content": {"parts": [{"text": "thinking", "thought": true}, {"text": "{\"a\":"}, {"text": "1}"}]}, "finishReason": "STOP"}]});
        assert_eq!(answer_text(&answer).expect("text"), "{\"a\":1}");
        let blocked = json!({"promptFeedback": {"blockReason": "SAFETY"}});
        assert_eq!(answer_text(&blocked).expect_err("blocked").class, ErrorClass::ContentFiltered);
        let stopped = json!({"candidates": [{"finishReason": "SAFETY"}]});
        assert_eq!(answer_text(&stopped).expect_err("stopped").class, ErrorClass::ContentFiltered);
        let cut = json!({"candidates": [{"content": {"parts": [{"text": "{\"a\""}]}, "finishReason": "MAX_TOKENS"}]});
        assert_eq!(answer_text(&cut).expect_err("cut").class, ErrorClass::GenerationFailed);
    }
}
