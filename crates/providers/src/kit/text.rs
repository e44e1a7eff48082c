//! What every language-model adapter shares: an answer asked for with a JSON
//! Schema is read as JSON (a ```json fence or words around it tolerated) and
//! validated on receipt; one that does not validate is asked for again once, with
//! the validation errors, and then the task fails. The answer becomes the task's
//! output: JSON with a schema, text without.

use std::future::Future;

use atelier_core::ports::{ErrorClass, Output, ProviderError};
use atelier_core::text::{self, TextRequest};
use serde_json::Value;

/// What to send with the second try: the first answer, and what was wrong with it.
pub struct Correction {
    pub previous: String,
    pub message: String,
}

/// The JSON in a model's answer: the whole text, or a fenced block, or the span
/// from the first `{`/`[` to the last `}`/`]`.
pub fn extract_json(answer: &str) -> Option<Value> {
    let trimmed = answer.trim();
    if let Ok(value) = serde_json::from_str(trimmed) {
        return Some(value);
    }
    let fenced =
        trimmed.split("```").nth(1).map(|block| block.trim_start_matches("json").trim_start_matches("JSON").trim());
    if let Some(value) = fenced.and_then(|block| serde_json::from_str(block).ok()) {
        return Some(value);
    }
    let start = trimmed.find(['{', '['])?;
    let end = trimmed.rfind(['}', ']'])?;
    (end > start).then(|| serde_json::from_str(&trimmed[start..=end]).ok()).flatten()
}

/// Asks (`ask(None)`), checks the answer against the request's schema, asks once
/// more with a correction when it does not fit, and gives the output.
pub async fn answer_checked<F, Fut>(
    request: &TextRequest,
    provider: &str,
    mut ask: F,
) -> Result<Vec<Output>, ProviderError>
where
    F: FnMut(Option<Correction>) -> Fut,
    Fut: Future<Output = Result<String, ProviderError>>,
{
    let Some(schema) = &request.schema else {
        let answer = ask(None).await?;
        return Ok(vec![Output::new(answer.into_bytes(), text::TEXT_MIME)]);
    };
    let mut correction = None;
    loop {
        let second_try = correction.is_some();
        let answer = ask(correction.take()).await?;
        let problem = match extract_json(&answer) {
            Some(value) => match text::check_answer(schema, &value) {
                Ok(()) => {
                    let bytes = serde_json::to_vec_pretty(&value).map_err(|error| {
                        ProviderError::new(
                            ErrorClass::MalformedResponse,
                            format!("encoding {provider}'s answer: {error}"),
                        )
                    })?;
                    return Ok(vec![Output::new(bytes, text::JSON_MIME)]);
                }
                Err(errors) => format!("it does not follow the schema: {errors}"),
            },
            None => "it is not JSON".to_owned(),
        };
        if second_try {
            return Err(ProviderError::new(
                ErrorClass::GenerationFailed,
                format!("{provider}'s answer did not follow the requested schema, twice; last: {problem}"),
            )
            .with_max_attempts(1));
        }
        correction = Some(Correction {
            message: format!(
                "Your answer cannot be used: {problem}. Answer again with only the JSON, following the schema exactly."
            ),
            previous: answer,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::Mutex;

    #[test]
    fn json_is_found_in_fences_and_words() {
        assert_eq!(extract_json(" {\"a\": 1} "), Some(json!({"a": 1})));
        assert_eq!(extract_json("Here:\n```json\n{\"a\": 2}\n```"), Some(json!({"a": 2})));
        assert_eq!(extract_json("Sure! {\"a\": [3]} Hope that helps."), Some(json!({"a": [3]})));
        assert_eq!(extract_json("no json here"), None);
    }

    fn request() -> TextRequest {
        let mut request = TextRequest::new("name a fox");
        request.schema =
            Some(json!({"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}}));
        request
    }

    #[tokio::test]
    async fn an_answer_that_does_not_fit_is_asked_for_again_once() {
        let answers = Mutex::new(vec!["{\"name\": \"Foxy\"}".to_owned(), "{\"name\": 5}".to_owned()]);
        let corrections = Mutex::new(Vec::new());
        let outputs = answer_checked(&request(), "Test", |correction| {
            if let Some(correction) = correction {
                corrections.lock().expect("lock").push(correction.message);
            }
            let next = answers.lock().expect("lock").pop().unwrap_or_default();
            async move { Ok(next) }
        })
        .await
        .expect("the second answer fits");
        assert_eq!(
            outputs[0].bytes().map(|bytes| serde_json::from_slice::<Value>(bytes).expect("json")),
            Some(json!({"name": "Foxy"}))
        );
        let corrections = corrections.lock().expect("lock");
        assert_eq!(corrections.len(), 1);
        assert!(corrections[0].contains("/name"), "{}", corrections[0]);
    }

    #[tokio::test]
    async fn two_answers_that_do_not_fit_fail_the_task() {
        let calls = Mutex::new(0);
        let error = answer_checked(&request(), "Test", |_| {
            *calls.lock().expect("lock") += 1;
            async { Ok("not json".to_owned()) }
        })
        .await
        .expect_err("never fits");
        assert_eq!(error.class, ErrorClass::GenerationFailed);
        assert_eq!(*calls.lock().expect("lock"), 2);
    }
}
