//! `POST /v1/chat/completions` over Atelier's text models (`local/planner`,
//! Gemini, GPT, your own OpenAI-compatible server): the conversation becomes a
//! text task (system messages its `system`, the last user message its `prompt`,
//! earlier turns its `context`), `response_format` a JSON Schema the answer is
//! checked against. With `stream: true` the answer comes as chat.completion.chunk
//! events: Atelier's text tasks finish whole, so the stream sends the answer when
//! the task completes (comments keep the connection alive while it runs), not a
//! provider's tokens as they come. Token counts are not known, so `usage` is left
//! out.

use std::convert::Infallible;
use std::time::Duration;

use atelier_core::catalog::{Modality, ModelSpec};
use atelier_core::task::Task;
use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::error::OpenAiError;
use super::fit::Fit;
use super::run;
use crate::api::auth::Caller;
use crate::app::AppState;

/// A streamed answer is cut into chunks of about this many characters.
const CHUNK_CHARS: usize = 64;

#[derive(Debug, Deserialize)]
pub struct ChatRequest {
    pub model: Option<String>,
    #[serde(default)]
    pub messages: Vec<Value>,
    pub response_format: Option<Value>,
    #[serde(default)]
    pub stream: bool,
    pub stream_options: Option<Value>,
    pub temperature: Option<Value>,
    pub max_tokens: Option<Value>,
    pub max_completion_tokens: Option<Value>,
    pub n: Option<u64>,
    pub tools: Option<Value>,
    pub functions: Option<Value>,
    /// OpenAI's options, passed to models that take them (today's text models take
    /// none of them: they are accepted and left out).
    pub top_p: Option<Value>,
    pub user: Option<Value>,
    pub seed: Option<Value>,
    pub store: Option<Value>,
    pub metadata: Option<Value>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

pub async fn complete(
    State(state): State<AppState>,
    Caller(caller): Caller,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, OpenAiError> {
    let request: ChatRequest = super::json_body(&headers, &body)?;
    let spec = run::resolve(&state, request.model.as_deref(), Modality::Text)?;
    let stream = request.stream;
    let input = fit(&spec, request)?;
    let task = run::create(&state, &caller, &headers, &spec, input).await?;
    if !stream {
        let task = run::finish(&state, &caller, task).await?;
        let content = answer(&state, &task).await?;
        return Ok(Json(completion(&spec, &task, &content)).into_response());
    }
    // The stream opens now; the answer follows when the task ends.
    let events = futures::stream::once(async move {
        let outcome = match run::finish(&state, &caller, task.clone()).await {
            Ok(task) => answer(&state, &task).await.map(|content| (task, content)),
            Err(error) => Err(error),
        };
        let events: Vec<Event> = match outcome {
            Ok((task, content)) => {
                chunks(&spec.id(), &completion_id(&task), run::unix_seconds(task.created_at), &content)
            }
            Err(error) => vec![error_event(&error)],
        };
        futures::stream::iter(events.into_iter().map(Ok::<_, Infallible>))
    });
    let events = futures::StreamExt::flatten(events);
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(10))).into_response())
}

/// The conversation as the text model's input.
fn fit(spec: &ModelSpec, request: ChatRequest) -> Result<Value, OpenAiError> {
    if request.n.is_some_and(|n| n != 1) {
        return Err(OpenAiError::invalid("n", "one choice per call: n must be 1"));
    }
    if request.tools.is_some() || request.functions.is_some() {
        let param = if request.tools.is_some() { "tools" } else { "functions" };
        return Err(OpenAiError::invalid(param, "tool calls are not offered by Atelier's text models"));
    }
    let mut system = Vec::new();
    let mut turns = Vec::new();
    for (index, message) in request.messages.iter().enumerate() {
        let role = message.get("role").and_then(Value::as_str).unwrap_or_default();
        let text = content_text(message.get("content")).ok_or_else(|| {
            OpenAiError::invalid(&format!("messages[{index}].content"), "content is text, or a list of text parts")
        })?;
        match role {
            "system" | "developer" => system.push(text),
            "user" | "assistant" => turns.push((role, text)),
            other => {
                return Err(OpenAiError::invalid(
                    &format!("messages[{index}].role"),
                    format!("role {other:?} is not system, developer, user or assistant"),
                ));
            }
        }
    }
    let prompt = match turns.pop() {
        Some(("user", prompt)) => prompt,
        _ => {
            return Err(OpenAiError::invalid(
                "messages",
                "the last message (after any system messages) must be the user's",
            ));
        }
    };
    let mut fit = Fit::new(&spec.input_schema);
    fit.prompt(Some(&prompt), "messages")?;
    if !system.is_empty() {
        fit.set_if_taken("system", Some(json!(system.join("\n\n"))));
    }
    if !turns.is_empty() {
        let earlier: Vec<Value> = turns.iter().map(|(role, text)| json!({ "role": role, "content": text })).collect();
        fit.set_if_taken("context", Some(json!({ "conversation": earlier })));
    }
    match request.response_format.as_ref().map(|format| (format.get("type").and_then(Value::as_str), format)) {
        None | Some((Some("text"), _)) => {}
        Some((Some("json_object"), _)) => fit.set_if_taken("schema", Some(json!({ "type": "object" }))),
        Some((Some("json_schema"), format)) => {
            let spec = format.get("json_schema").filter(|spec| spec.is_object()).ok_or_else(|| {
                OpenAiError::invalid("response_format.json_schema", "json_schema is {name, schema, strict}")
            })?;
            let schema =
                spec.get("schema").filter(|schema| schema.is_object()).cloned().unwrap_or(json!({ "type": "object" }));
            if !fit.has("schema") {
                return Err(OpenAiError::invalid("response_format", "this model does not answer in a JSON Schema"));
            }
            fit.set_if_taken("schema", Some(schema));
            fit.set_if_taken("schema_name", spec.get("name").cloned());
        }
        Some(_) => {
            return Err(OpenAiError::invalid(
                "response_format.type",
                "response_format.type is text, json_object or json_schema",
            ));
        }
    }
    fit.set_if_taken("temperature", request.temperature);
    fit.set_if_taken("max_output_tokens", request.max_completion_tokens.or(request.max_tokens));
    for (field, value) in [
        ("top_p", request.top_p),
        ("user", request.user),
        ("seed", request.seed),
        ("store", request.store),
        ("metadata", request.metadata),
        ("stream_options", request.stream_options),
    ] {
        fit.set_if_taken(field, value);
    }
    fit.extras(request.extra)?;
    Ok(fit.finish())
}

/// A message's text: a string, or the text parts of a list (an image part is refused).
fn content_text(content: Option<&Value>) -> Option<String> {
    match content? {
        Value::String(text) => Some(text.clone()),
        Value::Array(parts) => parts
            .iter()
            .map(|part| match part.get("type").and_then(Value::as_str) {
                Some("text") => part.get("text").and_then(Value::as_str).map(str::to_owned),
                _ => None,
            })
            .collect::<Option<Vec<String>>>()
            .map(|texts| texts.join("\n")),
        _ => None,
    }
}

/// The task's answer as text (JSON answers as their JSON text).
async fn answer(state: &AppState, task: &Task) -> Result<String, OpenAiError> {
    let asset = run::primary(task).next().ok_or_else(|| run::failure(task))?;
    let bytes = run::read(state, asset).await?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

fn completion_id(task: &Task) -> String {
    format!("chatcmpl-{}", task.id)
}

fn completion(spec: &ModelSpec, task: &Task, content: &str) -> Value {
    json!({
        "id": completion_id(task),
        "object": "chat.completion",
        "created": run::unix_seconds(task.created_at),
        "model": spec.id(),
        "system_fingerprint": null,
        "choices": [{
            "index": 0,
            "message": { "role": "assistant", "content": content, "refusal": null },
            "logprobs": null,
            "finish_reason": "stop",
        }],
    })
}

/// The answer as chat.completion.chunk events, then `[DONE]`.
fn chunks(model: &str, id: &str, created: i64, content: &str) -> Vec<Event> {
    let chunk = |delta: Value, finish: Value| {
        json!({
            "id": id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "system_fingerprint": null,
            "choices": [{ "index": 0, "delta": delta, "logprobs": null, "finish_reason": finish }],
        })
    };
    let mut events = vec![chunk(json!({ "role": "assistant", "content": "" }), Value::Null)];
    let characters: Vec<char> = content.chars().collect();
    for piece in characters.chunks(CHUNK_CHARS) {
        events.push(chunk(json!({ "content": piece.iter().collect::<String>() }), Value::Null));
    }
    events.push(chunk(json!({}), json!("stop")));
    let mut events: Vec<Event> = events.iter().map(|body| Event::default().data(body.to_string())).collect();
    events.push(Event::default().data("[DONE]"));
    events
}

/// A failure once the stream is open: the SDKs raise an error on a chunk that
/// carries one.
fn error_event(error: &OpenAiError) -> Event {
    let body = json!({ "error": {
        "message": error.message, "type": error.kind, "param": error.param, "code": error.code,
    }});
    Event::default().data(body.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn planner() -> ModelSpec {
        ModelSpec {
            service: "local".into(),
            model: "planner".into(),
            aliases: Vec::new(),
            modality: Modality::Text,
            title: String::new(),
            description: String::new(),
            input_schema: json!({ "properties": {
                "prompt": {}, "system": {}, "context": {}, "schema": {}, "schema_name": {},
                "temperature": {}, "max_output_tokens": {}
            }}),
            estimated_seconds: 1,
            poll_timeout_secs: None,
            requires_config: None,
        }
    }

    fn request(body: Value) -> ChatRequest {
        serde_json::from_value(body).expect("request")
    }

    #[test]
    fn a_conversation_becomes_a_text_task() {
        let input = fit(
            &planner(),
            request(json!({
                "model": "local/planner",
                "messages": [
                    { "role": "system", "content": "Be brief." },
                    { "role": "user", "content": "Name a colour." },
                    { "role": "assistant", "content": "Red." },
                    { "role": "user", "content": [{ "type": "text", "text": "Another, as JSON." }] },
                ],
                "response_format": { "type": "json_schema", "json_schema": {
                    "name": "colour", "strict": true,
                    "schema": { "type": "object", "properties": { "colour": { "type": "string" } }, "required": ["colour"] }
                }},
                "temperature": 0.2, "max_tokens": 50, "top_p": 1,
            })),
        )
        .expect("fits");
        assert_eq!(input["prompt"], "Another, as JSON.");
        assert_eq!(input["system"], "Be brief.");
        assert_eq!(input["context"]["conversation"][1], json!({ "role": "assistant", "content": "Red." }));
        assert_eq!(input["schema"]["required"], json!(["colour"]));
        assert_eq!((input["schema_name"].as_str(), input["max_output_tokens"].as_i64()), (Some("colour"), Some(50)));
    }

    #[test]
    fn what_the_text_models_cannot_do_is_refused_naming_it() {
        let refuse = |body: Value| fit(&planner(), request(body)).expect_err("refused").param;
        let hello = json!([{ "role": "user", "content": "hi" }]);
        assert_eq!(refuse(json!({ "messages": hello, "n": 2 })).as_deref(), Some("n"));
        assert_eq!(refuse(json!({ "messages": hello, "tools": [] })).as_deref(), Some("tools"));
        assert_eq!(
            refuse(json!({ "messages": [{ "role": "assistant", "content": "x" }] })).as_deref(),
            Some("messages")
        );
        assert_eq!(
            refuse(json!({ "messages": [{ "role": "user", "content": [{ "type": "image_url" }] }] })).as_deref(),
            Some("messages[0].content")
        );
        assert_eq!(refuse(json!({ "messages": hello, "frequency_penalty": 1 })).as_deref(), Some("frequency_penalty"));
    }

    #[test]
    fn a_streamed_answer_is_chunks_then_done() {
        let events = chunks("local/planner", "chatcmpl-1", 0, &"x".repeat(130));
        // role, three pieces (64 + 64 + 2), the finish, [DONE].
        assert_eq!(events.len(), 6);
    }
}
