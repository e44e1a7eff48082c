//! `POST …/chat/completions` (OpenAI's `/v1/chat/completions`, Azure's
//! `/openai/deployments/{deployment}/chat/completions`) and `GET /v1/models`,
//! for text: plain, JSON mode and structured outputs.
//!
//! Request (JSON): `model` (required by OpenAI, one of the configured
//! `chat_models`, else 404 `model_not_found`; Azure takes the deployment, and
//! ignores a `model` in the body), `messages` (required, at least one:
//! `{role: system|developer|user|assistant|tool, content: string | [{type: "text", text}], name?}`;
//! an assistant's may carry `tool_calls`, then without content; a tool's needs
//! `tool_call_id`), `temperature` (0–2), `top_p` (0–1), `max_tokens` or
//! `max_completion_tokens` (not both; from 1), `n` (1 only), `seed`, `stream`
//! (`true`: 400, not emulated), `response_format`: `{"type": "text"}`,
//! `{"type": "json_object"}` (the messages must say "json", as OpenAI checks),
//! or `{"type": "json_schema", "json_schema": {name, schema?, strict?, description?}}`.
//! `stop`, `presence_penalty`, `frequency_penalty` (-2–2), `logit_bias`,
//! `user`, `store`, `metadata`, `service_tier`, `parallel_tool_calls`,
//! `verbosity`, `prompt_cache_key`, `safety_identifier` and, for reasoning
//! models (`o1`…, `gpt-5`…), `reasoning_effort` are taken and ignored; tools,
//! functions, audio, predictions, web search and logprobs answer 400 (not
//! emulated); any other field answers OpenAI's "Unrecognized request argument
//! supplied: X".
//!
//! Answer: `{"id": "chatcmpl-<n>", "object": "chat.completion", "created",
//! "model", "system_fingerprint": "fp_emulator", "choices": [{"index": 0,
//! "message": {"role": "assistant", "content", "refusal": null, "annotations": []},
//! "logprobs": null, "finish_reason"}], "usage": {prompt_tokens,
//! completion_tokens, total_tokens, prompt_tokens_details,
//! completion_tokens_details}}` (OpenAI adds `"service_tier": "default"`;
//! Azure adds `prompt_filter_results` and each choice's
//! `content_filter_results`, everything `safe`). The content: for
//! `json_schema`, the JSON of `crate::schema`'s minimal instance of the schema
//! (`{}` without one; a schema it cannot build answers 400 naming
//! `response_format`; with `strict: true` the schema must first follow
//! OpenAI's strict rules: an object at the root, and every object with
//! `additionalProperties: false` and all its properties `required`); for
//! `json_object`, `{"response": "<text>"}`;
//! else the text, derived from the last user message, deterministic under the
//! seed. Tokens are a quarter of the characters (at least 1); a completion
//! longer than `max_tokens` × 4 characters is cut, with `finish_reason: "length"`.
//!
//! The `generation_failed` fault is the model's refusal: HTTP 200,
//! `message.content: null`, `message.refusal: "I'm sorry, I can't help with that."`,
//! `finish_reason: "stop"` (the request is checked first).
//!
//! `GET /v1/models` lists the chat models, then the images, speech and videos
//! models, `{"object": "list", "data": [{id, "object": "model", created, "owned_by": "openai"}]}`;
//! `GET /v1/models/{model}` answers one, or 404 `model_not_found`.
//!
//! Unconfirmed, the emulator's choices: the messages for a message's unknown
//! field, for content parts other than text, and for what is not emulated;
//! the strict-schema check going no further than the rules above.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::{
    Flavour, OpenAiState, Refusal, api_error, images, invalid, now_secs, present, speech, unknown_model, videos,
};
use crate::faults::{Fault, TaskFault};
use crate::schema;

/// The chat models a default configuration serves.
pub(super) const DEFAULT_MODELS: [&str; 2] = ["gpt-4o-mini", "gpt-4.1-mini"];
/// What the model answers under the `generation_failed` fault.
pub(super) const REFUSAL: &str = "I'm sorry, I can't help with that.";
const BODY_LIMIT: usize = 32 * 1024 * 1024;
/// Every model's `created` in `/v1/models`.
const MODEL_CREATED: i64 = 1_721_172_741;
const ROLES: [&str; 5] = ["system", "developer", "user", "assistant", "tool"];
/// The fields the emulator reads.
const FIELDS: [&str; 11] = [
    "model",
    "messages",
    "temperature",
    "top_p",
    "max_tokens",
    "max_completion_tokens",
    "n",
    "seed",
    "stream",
    "stream_options",
    "response_format",
];
/// The API's fields the emulator takes and ignores.
const IGNORED: [&str; 13] = [
    "stop",
    "presence_penalty",
    "frequency_penalty",
    "logit_bias",
    "user",
    "store",
    "metadata",
    "service_tier",
    "parallel_tool_calls",
    "verbosity",
    "prompt_cache_key",
    "safety_identifier",
    "reasoning_effort",
];
/// The API's fields whose behaviour the emulator does not have (400 when set).
const NOT_EMULATED: [&str; 10] = [
    "tools",
    "tool_choice",
    "functions",
    "function_call",
    "audio",
    "prediction",
    "web_search_options",
    "logprobs",
    "top_logprobs",
    "modalities",
];

/// What the answer's content is.
#[derive(Debug, Clone, PartialEq)]
enum Format {
    Text,
    JsonObject,
    /// The schema's instance, written out.
    JsonSchema(String),
}

/// A checked request.
#[derive(Debug, Clone)]
struct Job {
    model: String,
    /// The last user message's text.
    prompt: String,
    prompt_tokens: u64,
    format: Format,
    max_tokens: Option<u64>,
    digest: [u8; 32],
}

/// Tokens of `characters` characters: a quarter, rounded up, at least 1.
fn tokens(characters: usize) -> u64 {
    (characters as u64).div_ceil(4).max(1)
}

/// How OpenAI names a value's type in its messages.
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "an integer",
        Value::Number(_) => "a decimal",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn wrong_type<R: From<Response>>(param: &str, expected: &str, value: &Value) -> R {
    invalid(
        &format!("Invalid type for '{param}': expected {expected}, but got {} instead.", kind(value)),
        Some(param),
        Some("invalid_type"),
    )
}

fn missing<R: From<Response>>(param: &str) -> R {
    invalid(&format!("Missing required parameter: '{param}'."), Some(param), Some("missing_required_parameter"))
}

fn unknown_parameter<R: From<Response>>(param: &str) -> R {
    invalid(&format!("Unknown parameter: '{param}'."), Some(param), Some("unknown_parameter"))
}

fn not_emulated<R: From<Response>>(param: &str, what: &str) -> R {
    invalid(&format!("{what} is not emulated."), Some(param), Some("unsupported_parameter"))
}

/// A decimal field within `[low, high]`.
fn decimal(fields: &Map<String, Value>, name: &str, low: f64, high: f64) -> Result<Option<f64>, Refusal> {
    let Some(value) = present(fields, name) else { return Ok(None) };
    let Some(number) = value.as_f64() else { return Err(wrong_type(name, "a decimal", value)) };
    if number < low {
        return Err(invalid(
            &format!(
                "Invalid '{name}': decimal below minimum value. Expected a value >= {low}, but got {value} instead."
            ),
            Some(name),
            Some("decimal_below_min_value"),
        ));
    }
    if number > high {
        return Err(invalid(
            &format!(
                "Invalid '{name}': decimal above maximum value. Expected a value <= {high}, but got {value} instead."
            ),
            Some(name),
            Some("decimal_above_max_value"),
        ));
    }
    Ok(Some(number))
}

/// An integer field, from `low` when given.
fn integer(fields: &Map<String, Value>, name: &str, low: Option<i64>) -> Result<Option<i64>, Refusal> {
    let Some(value) = present(fields, name) else { return Ok(None) };
    let Some(number) = value.as_i64() else { return Err(wrong_type(name, "an integer", value)) };
    if let Some(low) = low
        && number < low
    {
        return Err(invalid(
            &format!(
                "Invalid '{name}': integer below minimum value. Expected a value >= {low}, but got {number} instead."
            ),
            Some(name),
            Some("integer_below_min_value"),
        ));
    }
    Ok(Some(number))
}

/// What the messages hold: every text's characters, the last user message's
/// text, and whether any says "json".
#[derive(Default)]
struct Conversation {
    characters: usize,
    last_user: Option<String>,
    last: String,
    mentions_json: bool,
}

/// A message's content: its text, or `None` when it has none (allowed for an
/// assistant message with tool calls or a refusal).
fn content_text(content: Option<&Value>, at: &str, optional: bool) -> Result<Option<String>, Refusal> {
    let param = format!("{at}.content");
    match content {
        None if optional => Ok(None),
        None => Err(missing(&param)),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(Value::Array(parts)) if parts.is_empty() => Err(invalid(
            &format!(
                "Invalid '{param}': empty array. Expected an array with minimum length 1, but got an empty array instead."
            ),
            Some(&param),
            Some("empty_array"),
        )),
        Some(Value::Array(parts)) => {
            let mut texts = Vec::with_capacity(parts.len());
            for (j, part) in parts.iter().enumerate() {
                let at = format!("{param}[{j}]");
                let Some(part) = part.as_object() else { return Err(wrong_type(&at, "an object", part)) };
                let kind_param = format!("{at}.type");
                match present(part, "type") {
                    None => return Err(missing(&kind_param)),
                    Some(Value::String(kind)) if kind == "text" => {}
                    Some(Value::String(kind)) => {
                        return Err(invalid(
                            &format!("Invalid value: '{kind}'. The emulator takes only 'text' content parts."),
                            Some(&kind_param),
                            Some("invalid_value"),
                        ));
                    }
                    Some(other) => return Err(wrong_type(&kind_param, "a string", other)),
                }
                if let Some(unknown) = part.keys().find(|k| !["type", "text"].contains(&k.as_str())) {
                    return Err(unknown_parameter(&format!("{at}.{unknown}")));
                }
                match present(part, "text") {
                    Some(Value::String(text)) => texts.push(text.as_str()),
                    Some(other) => return Err(wrong_type(&format!("{at}.text"), "a string", other)),
                    None => return Err(missing(&format!("{at}.text"))),
                }
            }
            Ok(Some(texts.join("\n")))
        }
        Some(other) => Err(wrong_type(&param, "one of a string or array of objects", other)),
    }
}

fn check_messages(fields: &Map<String, Value>) -> Result<Conversation, Refusal> {
    let messages = match present(fields, "messages") {
        None => return Err(missing("messages")),
        Some(Value::Array(messages)) if messages.is_empty() => {
            return Err(invalid(
                "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array \
                 instead.",
                Some("messages"),
                Some("empty_array"),
            ));
        }
        Some(Value::Array(messages)) => messages,
        Some(other) => return Err(wrong_type("messages", "an array of objects", other)),
    };
    let mut conversation = Conversation::default();
    for (i, message) in messages.iter().enumerate() {
        let at = format!("messages[{i}]");
        let Some(message) = message.as_object() else { return Err(wrong_type(&at, "an object", message)) };
        let role_param = format!("{at}.role");
        let role = match present(message, "role") {
            None => return Err(missing(&role_param)),
            Some(Value::String(role)) if ROLES.contains(&role.as_str()) => role.as_str(),
            Some(Value::String(role)) => {
                return Err(invalid(
                    &format!(
                        "Invalid value: '{role}'. Supported values are: 'system', 'developer', 'user', 'assistant', \
                         and 'tool'."
                    ),
                    Some(&role_param),
                    Some("invalid_value"),
                ));
            }
            Some(other) => return Err(wrong_type(&role_param, "a string", other)),
        };
        let known: &[&str] = match role {
            "assistant" => &["role", "content", "name", "refusal", "tool_calls"],
            "tool" => &["role", "content", "tool_call_id"],
            _ => &["role", "content", "name"],
        };
        if let Some(unknown) = message.keys().find(|k| !known.contains(&k.as_str())) {
            return Err(unknown_parameter(&format!("{at}.{unknown}")));
        }
        if let Some(name) = present(message, "name").filter(|n| !n.is_string()) {
            return Err(wrong_type(&format!("{at}.name"), "a string", name));
        }
        let tool_calls = match present(message, "tool_calls") {
            None => false,
            Some(Value::Array(calls)) if calls.iter().all(Value::is_object) => !calls.is_empty(),
            Some(other) => return Err(wrong_type(&format!("{at}.tool_calls"), "an array of objects", other)),
        };
        if role == "tool" {
            match present(message, "tool_call_id") {
                Some(Value::String(_)) => {}
                Some(other) => return Err(wrong_type(&format!("{at}.tool_call_id"), "a string", other)),
                None => return Err(missing(&format!("{at}.tool_call_id"))),
            }
        }
        let optional = role == "assistant" && (tool_calls || present(message, "refusal").is_some());
        let Some(text) = content_text(present(message, "content"), &at, optional)? else { continue };
        conversation.characters += text.chars().count();
        conversation.mentions_json |= text.to_lowercase().contains("json");
        if role == "user" {
            conversation.last_user = Some(text.clone());
        }
        conversation.last = text;
    }
    Ok(conversation)
}

/// `['properties', 'a']` as OpenAI writes a context: a Python tuple.
fn context(path: &[String]) -> String {
    let quoted: Vec<String> = path.iter().map(|p| format!("'{p}'")).collect();
    match quoted.len() {
        1 => format!("({},)", quoted[0]),
        _ => format!("({})", quoted.join(", ")),
    }
}

/// OpenAI's strict-mode rules, as far as the emulator checks them: every
/// object closed (`additionalProperties: false`) with all its properties required.
fn check_strict_object(schema: &Value, path: &mut Vec<String>) -> Result<(), String> {
    let Some(object) = schema.as_object() else { return Ok(()) };
    let is_object = match object.get("type") {
        Some(Value::String(kind)) => kind == "object",
        Some(Value::Array(kinds)) => kinds.iter().any(|k| k == "object"),
        _ => object.contains_key("properties"),
    };
    if is_object {
        if object.get("additionalProperties") != Some(&Value::Bool(false)) {
            return Err(format!(
                "In context={}, 'additionalProperties' is required to be supplied and to be false.",
                context(path)
            ));
        }
        let required: Vec<&str> =
            object.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
        if let Some(properties) = object.get("properties").and_then(Value::as_object)
            && let Some(missing) = properties.keys().find(|k| !required.contains(&k.as_str()))
        {
            return Err(format!(
                "In context={}, 'required' is required to be supplied and to be an array including every key in \
                 properties. Missing '{missing}'.",
                context(path)
            ));
        }
    }
    for keyword in ["properties", "$defs", "definitions"] {
        if let Some(children) = object.get(keyword).and_then(Value::as_object) {
            for (name, child) in children {
                path.extend([keyword.to_owned(), name.clone()]);
                check_strict_object(child, path)?;
                path.truncate(path.len() - 2);
            }
        }
    }
    for keyword in ["anyOf", "oneOf", "allOf", "prefixItems"] {
        if let Some(branches) = object.get(keyword).and_then(Value::as_array) {
            for (i, branch) in branches.iter().enumerate() {
                path.extend([keyword.to_owned(), i.to_string()]);
                check_strict_object(branch, path)?;
                path.truncate(path.len() - 2);
            }
        }
    }
    if let Some(items) = object.get("items") {
        path.push("items".to_owned());
        check_strict_object(items, path)?;
        path.pop();
    }
    Ok(())
}

fn check_strict(schema: &Value) -> Result<(), String> {
    let kind = schema.get("type");
    if kind.and_then(Value::as_str) != Some("object") {
        let shown = match kind {
            Some(Value::String(kind)) => kind.clone(),
            Some(other) => other.to_string(),
            None => "None".to_owned(),
        };
        return Err(format!("schema must be a JSON Schema of 'type: \"object\"', got 'type: \"{shown}\"'."));
    }
    check_strict_object(schema, &mut Vec::new())
}

fn check_json_schema(value: &Value) -> Result<String, Refusal> {
    let param = "response_format.json_schema";
    let Some(spec) = value.as_object() else { return Err(wrong_type(param, "an object", value)) };
    if let Some(unknown) = spec.keys().find(|k| !["name", "schema", "strict", "description"].contains(&k.as_str())) {
        return Err(unknown_parameter(&format!("{param}.{unknown}")));
    }
    let name = match present(spec, "name") {
        None => return Err(missing("response_format.json_schema.name")),
        Some(Value::String(name)) => name,
        Some(other) => return Err(wrong_type("response_format.json_schema.name", "a string", other)),
    };
    if name.chars().count() > 64 {
        return Err(invalid(
            "Invalid 'response_format.json_schema.name': string too long. Expected a string with maximum length 64.",
            Some("response_format.json_schema.name"),
            Some("string_above_max_length"),
        ));
    }
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        return Err(invalid(
            &format!(
                "Invalid 'response_format.json_schema.name': string does not match pattern. Expected a string that \
                 matches the pattern '^[a-zA-Z0-9_-]+$', but got '{name}' instead."
            ),
            Some("response_format.json_schema.name"),
            Some("invalid_value"),
        ));
    }
    if let Some(description) = present(spec, "description").filter(|d| !d.is_string()) {
        return Err(wrong_type("response_format.json_schema.description", "a string", description));
    }
    let strict = match present(spec, "strict") {
        None => false,
        Some(Value::Bool(strict)) => *strict,
        Some(other) => return Err(wrong_type("response_format.json_schema.strict", "a boolean", other)),
    };
    let object_schema = json!({ "type": "object" });
    let schema = match present(spec, "schema") {
        None => &object_schema,
        Some(schema @ Value::Object(_)) => schema,
        Some(other) => return Err(wrong_type("response_format.json_schema.schema", "an object", other)),
    };
    let refuse = |detail: String| {
        api_error::<Refusal>(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            &format!("Invalid schema for response_format '{name}': {detail}"),
            Some("response_format"),
            None,
        )
    };
    if strict {
        check_strict(schema).map_err(refuse)?;
    }
    let instance = schema::instance(schema).map_err(|e| refuse(format!("the emulator cannot answer it: {e}.")))?;
    Ok(instance.to_string())
}

fn check_response_format(fields: &Map<String, Value>) -> Result<Format, Refusal> {
    let Some(value) = present(fields, "response_format") else { return Ok(Format::Text) };
    let Some(spec) = value.as_object() else { return Err(wrong_type("response_format", "an object", value)) };
    let kind = match present(spec, "type") {
        None => return Err(missing("response_format.type")),
        Some(Value::String(kind)) => kind.as_str(),
        Some(other) => return Err(wrong_type("response_format.type", "a string", other)),
    };
    let known: &[&str] = match kind {
        "text" | "json_object" => &["type"],
        "json_schema" => &["type", "json_schema"],
        other => {
            return Err(invalid(
                &format!("Invalid value: '{other}'. Supported values are: 'json_object', 'json_schema', and 'text'."),
                Some("response_format.type"),
                Some("invalid_value"),
            ));
        }
    };
    if let Some(unknown) = spec.keys().find(|k| !known.contains(&k.as_str())) {
        return Err(unknown_parameter(&format!("response_format.{unknown}")));
    }
    match kind {
        "text" => Ok(Format::Text),
        "json_object" => Ok(Format::JsonObject),
        _ => match present(spec, "json_schema") {
            None => Err(missing("response_format.json_schema")),
            Some(schema) => check_json_schema(schema).map(Format::JsonSchema),
        },
    }
}

/// Whether a model takes `reasoning_effort` (the o-series and GPT-5).
fn is_reasoning(model: &str) -> bool {
    let model = model.to_ascii_lowercase();
    model.starts_with("gpt-5") || (model.starts_with('o') && model[1..].starts_with(|c: char| c.is_ascii_digit()))
}

fn unrecognized<R: From<Response>>(names: &[&str]) -> R {
    let message = match names {
        [one] => format!("Unrecognized request argument supplied: {one}"),
        many => format!("Unrecognized request arguments supplied: {}", many.join(", ")),
    };
    invalid(&message, None, None)
}

/// The model a request is for: the body's (OpenAI) or the deployment's (Azure),
/// which must be one of the configured chat models.
fn resolve_model(
    state: &OpenAiState,
    deployment: Option<&str>,
    fields: &Map<String, Value>,
) -> Result<String, Refusal> {
    let chat_models = &state.config.chat_models;
    match deployment {
        Some(deployment) => {
            let model = state.model_for(Some(deployment), None, "");
            chat_models
                .iter()
                .find(|m| m.eq_ignore_ascii_case(&model))
                .cloned()
                .ok_or_else(|| unknown_model(state, &model))
        }
        None => match present(fields, "model") {
            None => Err(invalid("you must provide a model parameter", None, None)),
            Some(Value::String(model)) if chat_models.contains(model) => Ok(model.clone()),
            Some(Value::String(model)) => Err(api_error(
                StatusCode::NOT_FOUND,
                "invalid_request_error",
                &format!("The model `{model}` does not exist or you do not have access to it."),
                None,
                Some("model_not_found"),
            )),
            Some(other) => Err(wrong_type("model", "a string", other)),
        },
    }
}

/// Checks a chat completions body (docs in the module comment).
fn check(state: &OpenAiState, deployment: Option<&str>, fields: &Map<String, Value>) -> Result<Job, Refusal> {
    let unknown: Vec<&str> = fields
        .keys()
        .map(String::as_str)
        .filter(|k| !FIELDS.contains(k) && !IGNORED.contains(k) && !NOT_EMULATED.contains(k))
        .collect();
    if !unknown.is_empty() {
        return Err(unrecognized(&unknown));
    }
    let model = resolve_model(state, deployment, fields)?;
    if present(fields, "reasoning_effort").is_some() && !is_reasoning(&model) {
        return Err(unrecognized(&["reasoning_effort"]));
    }
    let conversation = check_messages(fields)?;
    decimal(fields, "temperature", 0.0, 2.0)?;
    decimal(fields, "top_p", 0.0, 1.0)?;
    decimal(fields, "presence_penalty", -2.0, 2.0)?;
    decimal(fields, "frequency_penalty", -2.0, 2.0)?;
    let max_tokens = integer(fields, "max_tokens", Some(1))?;
    let max_completion_tokens = integer(fields, "max_completion_tokens", Some(1))?;
    if max_tokens.is_some() && max_completion_tokens.is_some() {
        return Err(invalid(
            "Setting 'max_tokens' and 'max_completion_tokens' at the same time is not supported.",
            Some("max_tokens"),
            Some("invalid_parameter_combination"),
        ));
    }
    match integer(fields, "n", Some(1))? {
        None | Some(1) => {}
        Some(n) if n > 128 => {
            return Err(invalid(
                &format!("Invalid 'n': integer above maximum value. Expected a value <= 128, but got {n} instead."),
                Some("n"),
                Some("integer_above_max_value"),
            ));
        }
        Some(_) => return Err(not_emulated("n", "More than one choice (n > 1)")),
    }
    integer(fields, "seed", None)?;
    let streaming = match present(fields, "stream") {
        None => false,
        Some(Value::Bool(stream)) => *stream,
        Some(other) => return Err(wrong_type("stream", "a boolean", other)),
    };
    if streaming {
        return Err(invalid("Streaming is not emulated.", Some("stream"), Some("unsupported_value")));
    }
    if present(fields, "stream_options").is_some() {
        return Err(invalid(
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
            Some("stream_options"),
            None,
        ));
    }
    for name in NOT_EMULATED {
        let set = match (name, present(fields, name)) {
            (_, None) | ("logprobs", Some(Value::Bool(false))) => false,
            ("modalities", Some(value)) => value != &json!(["text"]),
            _ => true,
        };
        if set {
            return Err(not_emulated(name, &format!("'{name}'")));
        }
    }
    let format = check_response_format(fields)?;
    if format == Format::JsonObject && !conversation.mentions_json {
        return Err(invalid(
            "'messages' must contain the word 'json' in some form, to use 'response_format' of type 'json_object'.",
            Some("messages"),
            None,
        ));
    }
    let mut hasher = Sha256::new();
    hasher.update(state.config.seed.to_le_bytes());
    hasher.update(model.as_bytes());
    hasher.update(serde_json::to_vec(fields).unwrap_or_default());
    Ok(Job {
        prompt: conversation.last_user.unwrap_or(conversation.last),
        prompt_tokens: tokens(conversation.characters),
        format,
        max_tokens: max_tokens.or(max_completion_tokens).map(|n| n as u64),
        digest: hasher.finalize().into(),
        model,
    })
}

/// The plain text a model answers: derived from the prompt, deterministic under the seed.
fn plain_answer(model: &str, prompt: &str, digest: &[u8; 32]) -> String {
    let snippet: String = prompt.chars().take(500).collect();
    let tag: String = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
    format!("Emulated answer from {model} ({tag}) to: {snippet}")
}

/// Azure's content filter results, nothing filtered.
fn content_filter_results() -> Value {
    let safe = json!({ "filtered": false, "severity": "safe" });
    json!({ "hate": safe, "self_harm": safe, "sexual": safe, "violence": safe })
}

/// The `chat.completion` for a checked job, or the model's refusal.
fn answer(state: &OpenAiState, job: &Job, refused: bool) -> Value {
    let (content, refusal, finish_reason) = if refused {
        (None, Some(REFUSAL.to_owned()), "stop")
    } else {
        let text = plain_answer(&job.model, &job.prompt, &job.digest);
        let mut content = match &job.format {
            Format::Text => text,
            Format::JsonObject => json!({ "response": text }).to_string(),
            Format::JsonSchema(instance) => instance.clone(),
        };
        let limit = job.max_tokens.map(|max| usize::try_from(max.saturating_mul(4)).unwrap_or(usize::MAX));
        match limit {
            Some(limit) if content.chars().count() > limit => {
                content = content.chars().take(limit).collect();
                (Some(content), None, "length")
            }
            _ => (Some(content), None, "stop"),
        }
    };
    let completion_tokens = tokens(content.as_deref().or(refusal.as_deref()).map_or(0, |t| t.chars().count()));
    let mut choice = json!({
        "index": 0,
        "message": { "role": "assistant", "content": content, "refusal": refusal, "annotations": [] },
        "logprobs": null,
        "finish_reason": finish_reason,
    });
    let mut body = json!({
        "id": format!("chatcmpl-{}", state.next_sequence()),
        "object": "chat.completion",
        "created": now_secs(),
        "model": job.model,
        "system_fingerprint": "fp_emulator",
        "choices": [],
        "usage": {
            "prompt_tokens": job.prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": job.prompt_tokens + completion_tokens,
            "prompt_tokens_details": { "cached_tokens": 0, "audio_tokens": 0 },
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        },
    });
    match state.config.flavour {
        Flavour::OpenAi => body["service_tier"] = json!("default"),
        Flavour::Azure => {
            choice["content_filter_results"] = content_filter_results();
            body["prompt_filter_results"] =
                json!([{ "prompt_index": 0, "content_filter_results": content_filter_results() }]);
        }
    }
    body["choices"] = json!([choice]);
    body
}

/// `POST …/chat/completions`.
pub(super) async fn completions(
    State(state): State<Arc<OpenAiState>>,
    deployment: Option<String>,
    request: Request,
) -> Response {
    let refused = matches!(TaskFault::of(&request), Some(Fault::GenerationFailed));
    let Ok(body) = axum::body::to_bytes(request.into_body(), BODY_LIMIT).await else {
        return invalid("The request body is too large.", None, None);
    };
    let Ok(Value::Object(fields)) = serde_json::from_slice::<Value>(&body) else {
        return invalid(
            "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP \
             library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON. If you \
             have trouble figuring out how to fix this, please contact us through our help center at \
             help.openai.com.)",
            None,
            None,
        );
    };
    match check(&state, deployment.as_deref(), &fields) {
        Ok(job) => (StatusCode::OK, Json(answer(&state, &job, refused))).into_response(),
        Err(refusal) => refusal.into_response(),
    }
}

/// Every model the emulator serves: the chat models, then the images, speech
/// and videos ones.
fn model_ids(state: &OpenAiState) -> Vec<&str> {
    let mut ids: Vec<&str> = state.config.chat_models.iter().map(String::as_str).collect();
    let others =
        ["dall-e-2", "dall-e-3"].into_iter().chain(images::GPT_MODELS).chain(speech::MODELS).chain(videos::MODELS);
    for id in others {
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    ids
}

fn model_object(id: &str) -> Value {
    json!({ "id": id, "object": "model", "created": MODEL_CREATED, "owned_by": "openai" })
}

/// `GET /v1/models`.
pub(super) async fn list_models(State(state): State<Arc<OpenAiState>>) -> Response {
    let data: Vec<Value> = model_ids(&state).into_iter().map(model_object).collect();
    Json(json!({ "object": "list", "data": data })).into_response()
}

/// `GET /v1/models/{model}`.
pub(super) async fn retrieve_model(State(state): State<Arc<OpenAiState>>, Path(model): Path<String>) -> Response {
    if model_ids(&state).contains(&model.as_str()) {
        return Json(model_object(&model)).into_response();
    }
    api_error(
        StatusCode::NOT_FOUND,
        "invalid_request_error",
        &format!("The model '{model}' does not exist"),
        Some("model"),
        Some("model_not_found"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openai::{OpenAiEmulator, OpenAiEmulatorConfig};

    fn fields(value: Value) -> Map<String, Value> {
        value.as_object().cloned().expect("object")
    }

    fn check_body(body: Value) -> Result<Job, Refusal> {
        let emulator = OpenAiEmulator::new(OpenAiEmulatorConfig::default());
        check(&emulator.state, None, &fields(body))
    }

    fn chat(extra: Value) -> Value {
        let mut body = json!({ "model": "gpt-4o-mini", "messages": [{ "role": "user", "content": "hello" }] });
        for (key, value) in extra.as_object().cloned().unwrap_or_default() {
            body[key] = value;
        }
        body
    }

    #[test]
    fn requests_are_checked() {
        for body in [
            json!({ "model": "gpt-4o-mini" }),
            json!({ "model": "gpt-4o-mini", "messages": [] }),
            json!({ "messages": [{ "role": "user", "content": "x" }] }),
            chat(json!({ "messages": [{ "role": "robot", "content": "x" }] })),
            chat(json!({ "messages": [{ "role": "user" }] })),
            chat(json!({ "messages": [{ "role": "user", "content": 3 }] })),
            chat(json!({ "messages": [{ "role": "user", "content": [] }] })),
            chat(json!({ "messages": [{ "role": "user", "content": [{ "type": "image_url", "image_url": {} }] }] })),
            chat(json!({ "messages": [{ "role": "user", "content": "x", "colour": "red" }] })),
            chat(json!({ "messages": [{ "role": "tool", "content": "x" }] })),
            chat(json!({ "temperature": 2.5 })),
            chat(json!({ "top_p": "high" })),
            chat(json!({ "max_tokens": 0 })),
            chat(json!({ "max_tokens": 5, "max_completion_tokens": 5 })),
            chat(json!({ "n": 2 })),
            chat(json!({ "stream": true })),
            chat(json!({ "tools": [] })),
            chat(json!({ "logprobs": true })),
            chat(json!({ "reasoning_effort": "low" })),
            chat(json!({ "prompt": "x" })),
            chat(json!({ "response_format": { "type": "xml" } })),
            chat(json!({ "response_format": { "type": "json_object" } })),
            chat(json!({ "response_format": { "type": "json_schema" } })),
            chat(json!({ "response_format": { "type": "json_schema", "json_schema": { "schema": {} } } })),
            chat(json!({ "response_format": { "type": "json_schema", "json_schema": { "name": "a b" } } })),
            chat(json!({ "response_format": { "type": "json_schema", "json_schema": { "name": "x".repeat(65) } } })),
        ] {
            assert!(check_body(body.clone()).is_err(), "{body}");
        }
        let ok = chat(json!({
            "messages": [
                { "role": "developer", "content": "be brief" },
                { "role": "user", "content": [{ "type": "text", "text": "first" }, { "type": "text", "text": "json" }] },
                { "role": "assistant", "content": null, "tool_calls": [{ "id": "call_1" }] },
                { "role": "tool", "content": "42", "tool_call_id": "call_1" },
            ],
            "temperature": 0, "top_p": 1, "max_completion_tokens": 10, "n": 1, "seed": 7, "stream": false,
            "logprobs": false, "modalities": ["text"], "user": "u", "stop": ["\n"],
            "response_format": { "type": "json_object" },
        }));
        let job = check_body(ok).expect("job");
        assert_eq!(
            (job.prompt.as_str(), job.format.clone(), job.max_tokens),
            ("first\njson", Format::JsonObject, Some(10))
        );
    }

    #[test]
    fn strict_schemas_follow_openais_rules() {
        let with = |schema: Value| {
            chat(json!({ "response_format": {
                "type": "json_schema", "json_schema": { "name": "page", "strict": true, "schema": schema },
            } }))
        };
        let open = json!({ "type": "object", "properties": { "a": { "type": "string" } }, "required": ["a"] });
        let partial = json!({
            "type": "object", "additionalProperties": false,
            "properties": { "a": { "type": "string" }, "b": { "type": "integer" } }, "required": ["a"],
        });
        let nested_open = json!({
            "type": "object", "additionalProperties": false, "required": ["items"],
            "properties": { "items": { "type": "array", "items": { "type": "object", "properties": {} } } },
        });
        for schema in [open.clone(), partial, nested_open, json!({ "type": "array" })] {
            assert!(check_body(with(schema.clone())).is_err(), "{schema}");
        }
        assert_eq!(
            check_strict(&json!({ "type": "object", "properties": { "x": { "type": "object" } } })),
            Err("In context=(), 'additionalProperties' is required to be supplied and to be false.".into())
        );
        let closed = json!({
            "type": "object", "additionalProperties": false, "required": ["a", "n"],
            "properties": { "a": { "type": "string" }, "n": { "type": ["integer", "null"] } },
        });
        assert_eq!(check_body(with(closed)).expect("job").format, Format::JsonSchema(r#"{"a":"text","n":0}"#.into()));
        // Without `strict`, an open schema is fine.
        let loose = chat(json!({ "response_format": {
            "type": "json_schema", "json_schema": { "name": "page", "schema": open },
        } }));
        assert_eq!(check_body(loose).expect("job").format, Format::JsonSchema(r#"{"a":"text"}"#.into()));
    }

    #[test]
    fn answers_are_cut_at_max_tokens() {
        let emulator = OpenAiEmulator::new(OpenAiEmulatorConfig::default());
        let job = check(&emulator.state, None, &fields(chat(json!({ "max_tokens": 3 })))).expect("job");
        let body = answer(&emulator.state, &job, false);
        let choice = &body["choices"][0];
        assert_eq!(choice["finish_reason"], "length");
        assert_eq!(choice["message"]["content"].as_str().map(|c| c.chars().count()), Some(12));
        assert_eq!(body["usage"]["completion_tokens"], 3);
        assert_eq!(body["usage"]["prompt_tokens"], 2, "hello: five characters");
        let refused = answer(&emulator.state, &job, true);
        assert_eq!(refused["choices"][0]["message"]["content"], Value::Null);
        assert_eq!(refused["choices"][0]["message"]["refusal"], REFUSAL);
        assert!(is_reasoning("o3-mini") && is_reasoning("gpt-5") && !is_reasoning("gpt-4o-mini"));
        assert!(!is_reasoning("omni"));
    }
}
