//! Chat Completions (docs/providers/openai.md): `POST /chat/completions` with the
//! system and user messages, and for a structured answer `response_format:
//! {type: json_schema, json_schema: {name, schema, strict: false}}`. The answer is
//! `choices[0].message.content` (a string, or text parts), checked against the
//! schema (`kit::text`); a `refusal` is content filtering. The same request goes to
//! OpenAI, Azure OpenAI (through a deployment) and any OpenAI-compatible server
//! (llama.cpp's `llama-server`, Ollama, vLLM: the `llm` service).

use async_trait::async_trait;
use atelier_core::CoreError;
use atelier_core::catalog::{Modality, ModelSpec};
use atelier_core::ports::{ErrorClass, Job, Output, ProviderError, Submitted};
use atelier_core::text::{self, TextRequest};
use serde_json::{Value, json};

use super::client::{Api, OpenAiClient};
use super::{OpenAi, OpenAiModel};
use crate::kit::params::{parse_params, parse_stored};
use crate::kit::text::{Correction, answer_checked};
use crate::kit::{Named, Phase};

/// OpenAI's chat models Atelier offers.
pub const MODELS: [(&str, &str); 4] =
    [("gpt-4.1", "GPT-4.1"), ("gpt-4.1-mini", "GPT-4.1 mini"), ("gpt-4o", "GPT-4o"), ("gpt-4o-mini", "GPT-4o mini")];

pub struct ChatModel {
    pub model: &'static str,
    pub title: &'static str,
}

impl Named for ChatModel {
    fn name(&self) -> &str {
        self.model
    }
}

/// A text task's spec, for any service's chat model.
pub fn spec(service: &str, model: &str, title: String, requires_config: Option<String>) -> ModelSpec {
    ModelSpec {
        service: service.into(),
        model: model.into(),
        aliases: Vec::new(),
        modality: Modality::Text,
        title,
        description: "A chat model: an instruction, optional material (context) and system message; with a JSON \
                      Schema the answer is JSON (response_format json_schema), validated on receipt (asked again \
                      once when it does not fit)."
            .into(),
        input_schema: text::input_schema(),
        estimated_seconds: 10,
        poll_timeout_secs: None,
        requires_config,
    }
}

/// Checks a text task's input.
pub fn validate(input: &Value) -> Result<Value, CoreError> {
    let request: TextRequest = parse_params(input)?;
    request.check()?;
    Ok(request.to_value())
}

fn body(model: &str, request: &TextRequest, correction: Option<&Correction>) -> Value {
    let mut messages = Vec::new();
    if let Some(system) = &request.system {
        messages.push(json!({ "role": "system", "content": system }));
    }
    messages.push(json!({ "role": "user", "content": request.user_message() }));
    if let Some(correction) = correction {
        messages.push(json!({ "role": "assistant", "content": correction.previous }));
        messages.push(json!({ "role": "user", "content": correction.message }));
    }
    let mut body = json!({ "model": model, "messages": messages });
    if let Some(schema) = &request.schema {
        let name = request.schema_name.clone().unwrap_or_else(|| "answer".into());
        // Not strict: strict mode asks every property to be required and closed,
        // which a client's schema need not be; the answer is validated here instead.
        body["response_format"] =
            json!({ "type": "json_schema", "json_schema": { "name": name, "schema": schema, "strict": false } });
    }
    if let Some(temperature) = request.temperature {
        body["temperature"] = json!(temperature);
    }
    if let Some(tokens) = request.max_output_tokens {
        body["max_tokens"] = json!(tokens);
    }
    body
}

/// The text of a chat completion, or why there is none.
pub fn answer_text(provider: &str, answer: &Value) -> Result<String, ProviderError> {
    let Some(choice) = answer["choices"].as_array().and_then(|choices| choices.first()) else {
        return Err(ProviderError::new(ErrorClass::MalformedResponse, format!("{provider} answered no choice")));
    };
    let message = &choice["message"];
    if let Some(refusal) = message["refusal"].as_str().filter(|refusal| !refusal.is_empty()) {
        return Err(ProviderError::new(ErrorClass::ContentFiltered, format!("{provider} refused: {refusal}")));
    }
    let finish = choice["finish_reason"].as_str().unwrap_or("stop");
    if finish == "content_filter" {
        return Err(ProviderError::new(
            ErrorClass::ContentFiltered,
            format!("{provider}'s content filter stopped the answer"),
        ));
    }
    let content = match &message["content"] {
        Value::String(text) => text.clone(),
        // Some servers answer content parts.
        Value::Array(parts) => parts.iter().filter_map(|part| part["text"].as_str()).collect::<Vec<_>>().concat(),
        _ => String::new(),
    };
    if finish == "length" {
        return Err(ProviderError::new(
            ErrorClass::GenerationFailed,
            format!("{provider}'s answer was cut at max_output_tokens: raise it, or ask for less"),
        )
        .with_max_attempts(1));
    }
    if content.trim().is_empty() {
        return Err(ProviderError::new(
            ErrorClass::GenerationFailed,
            format!("{provider} answered no text (finish reason {finish})"),
        ));
    }
    Ok(content)
}

/// Asks a chat model, checking a structured answer.
pub async fn complete(
    client: &OpenAiClient,
    provider: &str,
    model: &str,
    request: &TextRequest,
) -> Result<Vec<Output>, ProviderError> {
    let deployment = client.target().deployment(model);
    answer_checked(request, provider, |correction| {
        let body = body(&deployment, request, correction.as_ref());
        async move {
            let answer = client.post_json(&Api::ChatCompletions, model, &body, Phase::Submit).await?.json()?;
            answer_text(provider, &answer)
        }
    })
    .await
}

#[async_trait]
impl OpenAiModel for ChatModel {
    fn spec(&self, service: &str, provider_title: &str, requires_config: Option<String>) -> ModelSpec {
        spec(service, self.model, format!("{} ({provider_title})", self.title), requires_config)
    }

    fn validate(&self, input: &Value) -> Result<Value, CoreError> {
        validate(input)
    }

    async fn submit(&self, openai: &OpenAi<'_>, job: &Job<'_>) -> Result<Submitted, ProviderError> {
        let request: TextRequest = parse_stored(job.input)?;
        Ok(Submitted::Finished(complete(openai.client, openai.title, self.model, &request).await?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_asks_for_the_schema_and_turns_a_correction_into_messages() {
        let mut request = TextRequest::new("Name the fox.");
        request.system = Some("Be brief.".into());
        request.schema = Some(json!({"type": "object"}));
        request.schema_name = Some("fox".into());
        let sent =
            body("gpt-4o-mini", &request, Some(&Correction { previous: "x".into(), message: "not JSON".into() }));
        assert_eq!(sent["response_format"]["type"], "json_schema");
        assert_eq!(sent["response_format"]["json_schema"]["name"], "fox");
        let roles: Vec<&str> =
            sent["messages"].as_array().expect("messages").iter().filter_map(|m| m["role"].as_str()).collect();
        assert_eq!(roles, ["system", "user", "assistant", "user"]);
    }

    #[test]
    fn refusals_cut_answers_and_content_parts_are_read() {
        let parts = json!({"choices": [{"message": {"content": [{"type": "text", "text": "{\"a\":"}, {"type": "text", "text": "1}"}]}, "finish_reason": "stop"}]});
        assert_eq!(answer_text("X", &parts).expect("text"), "{\"a\":1}");
        let refused =
            json!({"choices": [{"message": {"content": null, "refusal": "I can't"}, "finish_reason": "stop"}]});
        assert_eq!(answer_text("X", &refused).expect_err("refused").class, ErrorClass::ContentFiltered);
        let cut = json!({"choices": [{"message": {"content": "{\"a\""}, "finish_reason": "length"}]});
        assert_eq!(answer_text("X", &cut).expect_err("cut").class, ErrorClass::GenerationFailed);
        assert_eq!(answer_text("X", &json!({})).expect_err("empty").class, ErrorClass::MalformedResponse);
    }
}
