//! The text-model port's request: what a task of modality `text` asks for.
//!
//! Every text model (the built-in planner, Gemini, any OpenAI-compatible chat server)
//! takes the same input: an instruction (`prompt`), an optional `system` message, an
//! optional JSON Schema the answer must follow (`schema`), and optional structured
//! material (`context`). A language model reads the context as a JSON block after
//! the prompt ([`TextRequest::user_message`]); the rule-based planner reads it as
//! data. An answer asked for with a schema is validated on receipt
//! ([`check_answer`]): one that does not validate is asked for again once, with the
//! validation errors, then the task fails.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::error::CoreError;

/// The output's content type when a schema was given.
pub const JSON_MIME: &str = "application/json";
/// The output's content type otherwise.
pub const TEXT_MIME: &str = "text/plain; charset=utf-8";

/// The longest prompt plus context accepted, in characters (a 50,000-character
/// story with room for instructions and earlier results).
pub const MAX_REQUEST_CHARS: usize = 400_000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextRequest {
    /// The instruction.
    pub prompt: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    /// A JSON Schema the answer must validate against; the answer is then JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<Value>,
    /// A name for the schema (OpenAI's `json_schema.name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_name: Option<String>,
    /// Structured material the prompt refers to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output_tokens: Option<u32>,
}

fn invalid(field: &str, message: impl Into<String>) -> CoreError {
    let message = message.into();
    CoreError::InvalidInput {
        message: format!("{field}: {message}"),
        details: json!({ "field": field, "reason": message }),
    }
}

impl TextRequest {
    /// A request with only a prompt.
    pub fn new(prompt: impl Into<String>) -> Self {
        Self {
            prompt: prompt.into(),
            system: None,
            schema: None,
            schema_name: None,
            context: None,
            temperature: None,
            max_output_tokens: None,
        }
    }

    /// Reads and checks a task input.
    pub fn parse(input: &Value) -> Result<Self, CoreError> {
        let request: Self = serde_json::from_value(input.clone()).map_err(|error| {
            let text = error.to_string();
            let field = text
                .split('`')
                .nth(1)
                .filter(|_| text.contains("unknown field") || text.contains("missing field"))
                .unwrap_or("input")
                .to_owned();
            invalid(&field, text)
        })?;
        request.check()?;
        Ok(request)
    }

    /// Checks the fields' values (after parsing).
    pub fn check(&self) -> Result<(), CoreError> {
        if self.prompt.trim().is_empty() {
            return Err(invalid("prompt", "must not be empty"));
        }
        let context_chars = self.context.as_ref().map_or(0, |context| context.to_string().chars().count());
        let chars = self.prompt.chars().count() + context_chars;
        if chars > MAX_REQUEST_CHARS {
            return Err(invalid(
                "prompt",
                format!("prompt and context hold {chars} characters, at most {MAX_REQUEST_CHARS}"),
            ));
        }
        if let Some(schema) = &self.schema {
            if !schema.is_object() {
                return Err(invalid("schema", "must be a JSON Schema object"));
            }
            jsonschema::validator_for(schema)
                .map_err(|error| invalid("schema", format!("not a valid JSON Schema: {error}")))?;
        }
        if let Some(name) = &self.schema_name
            && (name.is_empty()
                || name.len() > 64
                || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'))
        {
            return Err(invalid("schema_name", "1 to 64 letters, digits, '_' or '-'"));
        }
        if let Some(context) = &self.context
            && !context.is_object()
        {
            return Err(invalid("context", "must be an object"));
        }
        if let Some(temperature) = self.temperature
            && !(0.0..=2.0).contains(&temperature)
        {
            return Err(invalid("temperature", "between 0 and 2"));
        }
        if let Some(tokens) = self.max_output_tokens
            && !(1..=65_536).contains(&tokens)
        {
            return Err(invalid("max_output_tokens", "between 1 and 65536"));
        }
        Ok(())
    }

    /// The request normalised, as stored.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// The user's message for a language model: the prompt, then the context as a
    /// JSON block.
    pub fn user_message(&self) -> String {
        match &self.context {
            Some(context) => format!("{}\n\nMaterial (JSON):\n```json\n{context}\n```", self.prompt),
            None => self.prompt.clone(),
        }
    }

    /// The output's content type.
    pub fn output_mime(&self) -> &'static str {
        if self.schema.is_some() { JSON_MIME } else { TEXT_MIME }
    }
}

/// Checks an answer against the schema it was asked for: `Err` lists what does not
/// validate (at most 10 points, each with its JSON pointer).
pub fn check_answer(schema: &Value, answer: &Value) -> Result<(), String> {
    let validator =
        jsonschema::validator_for(schema).map_err(|error| format!("the schema does not compile: {error}"))?;
    let errors: Vec<String> = validator
        .iter_errors(answer)
        .take(10)
        .map(|error| {
            let at = error.instance_path().to_string();
            format!("{}: {error}", if at.is_empty() { "/" } else { at.as_str() })
        })
        .collect();
    if errors.is_empty() { Ok(()) } else { Err(errors.join("; ")) }
}

/// The JSON Schema of a text task's input.
pub fn input_schema() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["prompt"],
        "properties": {
            "prompt": { "type": "string", "minLength": 1, "description": "The instruction." },
            "system": { "type": "string", "description": "A system message." },
            "schema": { "type": "object", "description": "A JSON Schema the answer must follow; the answer is then JSON, validated on receipt." },
            "schema_name": { "type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$", "description": "A name for the schema." },
            "context": { "type": "object", "description": "Structured material the prompt refers to (a language model reads it as a JSON block after the prompt)." },
            "temperature": { "type": "number", "minimum": 0, "maximum": 2 },
            "max_output_tokens": { "type": "integer", "minimum": 1, "maximum": 65536 }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_is_checked_and_normalised() {
        let request = TextRequest::parse(&json!({"prompt": "hi", "schema": {"type": "object"}})).expect("valid");
        assert_eq!(request.output_mime(), JSON_MIME);
        assert_eq!(TextRequest::parse(&request.to_value()).expect("again"), request);
        for (input, field) in [
            (json!({"prompt": " "}), "prompt"),
            (json!({"prompt": "x", "schema": {"type": 5}}), "schema"),
            (json!({"prompt": "x", "schema": []}), "schema"),
            (json!({"prompt": "x", "colour": 1}), "colour"),
            (json!({}), "prompt"),
            (json!({"prompt": "x", "temperature": 3}), "temperature"),
            (json!({"prompt": "x", "context": [1]}), "context"),
            (json!({"prompt": "x", "schema_name": "a b"}), "schema_name"),
        ] {
            let Err(CoreError::InvalidInput { details, .. }) = TextRequest::parse(&input) else { panic!("{input}") };
            assert_eq!(details["field"], field, "{input}");
        }
    }

    #[test]
    fn answers_are_checked_against_their_schema() {
        let schema = json!({"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}});
        assert!(check_answer(&schema, &json!({"name": "Taro"})).is_ok());
        let error = check_answer(&schema, &json!({"name": 5})).expect_err("a number");
        assert!(error.starts_with("/name:"), "{error}");
        assert!(check_answer(&schema, &json!({})).expect_err("missing").contains("name"));
    }

    #[test]
    fn the_context_follows_the_prompt_as_json() {
        let mut request = TextRequest::new("Summarise.");
        request.context = Some(json!({"text": "a story"}));
        assert!(request.user_message().starts_with("Summarise.\n\nMaterial (JSON):\n```json\n{\"text\":\"a story\"}"));
    }
}
