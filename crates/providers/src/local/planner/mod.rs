//! `local/planner`: the text model that runs with no key. A rule-based planner, not
//! a language model: it reads a story by paragraphs, scene breaks, time and place
//! markers, quotation marks, name frequencies and word lists (Japanese, Chinese and
//! English), and fills the same JSON shapes the manga phases ask a language model
//! for (`context.task`: `manga.concept`, `manga.characters`, `manga.plot`,
//! `manga.name`, `manga.revise`). Any other request is refused, saying so.

mod manga;
mod revise;
mod story;

use async_trait::async_trait;
use atelier_core::CoreError;
use atelier_core::catalog::{Modality, ModelSpec};
use atelier_core::ports::{ErrorClass, Job, Output, ProviderError};
use atelier_core::text::{self, TextRequest};
use serde_json::{Value, json};

use super::{LocalEngine, SERVICE};
use crate::kit::Named;
use crate::kit::params::parse_params;

pub const MODEL: &str = "planner";

/// The tasks the planner answers.
pub const TASKS: [&str; 5] = ["manga.concept", "manga.characters", "manga.plot", "manga.name", "manga.revise"];

pub struct Planner;

fn spec() -> ModelSpec {
    ModelSpec {
        service: SERVICE.to_owned(),
        model: MODEL.to_owned(),
        aliases: Vec::new(),
        modality: Modality::Text,
        title: "Rule-based story planner (not a language model)".to_owned(),
        description: "Offline and deterministic: splits a story into scenes, extracts dialogue and characters, and \
                      picks genre and mood from word lists, answering the manga pipeline's phases in their JSON \
                      shapes; understands a small set of change requests in words. It answers only requests whose \
                      context.task is one of manga.concept, manga.characters, manga.plot, manga.name, manga.revise."
            .to_owned(),
        input_schema: text::input_schema(),
        estimated_seconds: 1,
        poll_timeout_secs: None,
        requires_config: None,
    }
}

fn refuse(message: String) -> ProviderError {
    ProviderError::new(ErrorClass::ClientError, message)
}

fn context_text<'a>(context: &'a Value, key: &str) -> Result<&'a str, ProviderError> {
    context.get(key).and_then(Value::as_str).ok_or_else(|| refuse(format!("the planner needs context.{key} (text)")))
}

/// Answers one request.
pub fn answer(request: &TextRequest) -> Result<Value, ProviderError> {
    let context = request.context.clone().unwrap_or_else(|| json!({}));
    let task = context.get("task").and_then(Value::as_str).unwrap_or_default();
    let options = context.get("options").cloned().unwrap_or_else(|| json!({}));
    let answer = match task {
        "manga.concept" => {
            json!({ "concept": manga::concept(context_text(&context, "text")?, &manga::read(context_text(&context, "text")?, &options)) })
        }
        "manga.characters" => {
            json!({ "characters": manga::characters(&manga::read(context_text(&context, "text")?, &options)) })
        }
        "manga.plot" => {
            let mut options = options.clone();
            if let Some(pages) = context.pointer("/concept/page_count").cloned()
                && let Some(object) = options.as_object_mut()
            {
                object.entry("page_count").or_insert(pages);
            }
            let reading = manga::read(context_text(&context, "text")?, &options);
            let characters = context.get("characters").cloned().unwrap_or_else(|| json!([]));
            json!({ "plot": manga::plot(&reading, &characters) })
        }
        "manga.name" => {
            let plot = context.get("plot").cloned().unwrap_or_else(|| json!({}));
            let characters = context.get("characters").cloned().unwrap_or_else(|| json!([]));
            let pages = context.pointer("/concept/page_count").and_then(Value::as_u64).unwrap_or(8) as usize;
            let right_to_left = context.get("reading_direction").and_then(Value::as_str) != Some("ltr");
            json!({ "pages": manga::name(&plot, &characters, pages, right_to_left) })
        }
        "manga.revise" => {
            let document = context.get("document").cloned().unwrap_or_else(|| json!({}));
            revise::revise(&document, context_text(&context, "request")?)
        }
        other => {
            return Err(refuse(format!(
                "local/planner is a rule-based planner, not a language model: it answers only context.task {} (got {other:?})",
                TASKS.join(", ")
            )));
        }
    };
    if let Some(schema) = &request.schema
        && let Err(errors) = text::check_answer(schema, &answer)
    {
        return Err(ProviderError::new(
            ErrorClass::GenerationFailed,
            format!("the planner's answer does not fit the schema: {errors}"),
        ));
    }
    Ok(answer)
}

impl Named for Planner {
    fn name(&self) -> &str {
        MODEL
    }
}

#[async_trait]
impl LocalEngine for Planner {
    fn spec(&self) -> ModelSpec {
        spec()
    }

    fn validate(&self, input: &Value) -> Result<Value, CoreError> {
        let request: TextRequest = parse_params(input)?;
        request.check()?;
        Ok(request.to_value())
    }

    async fn run(&self, job: &Job<'_>) -> Result<Vec<Output>, ProviderError> {
        let request: TextRequest = parse_params(job.input).map_err(super::rejected)?;
        let answer = tokio::task::spawn_blocking(move || answer(&request)).await.map_err(|error| {
            ProviderError::new(ErrorClass::GenerationFailed, format!("the planner failed: {error}"))
        })??;
        let bytes = serde_json::to_vec_pretty(&answer).map_err(|error| {
            ProviderError::new(ErrorClass::GenerationFailed, format!("encoding the answer: {error}"))
        })?;
        Ok(vec![Output::new(bytes, text::JSON_MIME)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use atelier_core::pipeline::manga;

    fn story(name: &str) -> String {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../server/tests/data").join(name);
        std::fs::read_to_string(path).expect("the test story")
    }

    fn ask(task: &str, schema: Value, context: Value) -> Value {
        let mut request = TextRequest::new("plan");
        request.schema = Some(schema);
        let mut context = context;
        context["task"] = json!(task);
        request.context = Some(context);
        answer(&request).expect(task)
    }

    /// The four phases' answers for a story, each checked against its phase's schema.
    fn plan(text: &str) -> Value {
        let pipeline = manga::pipeline();
        let schema = |number: u32| pipeline.phase(number).expect("phase").schema();
        let concept = ask("manga.concept", schema(1), json!({ "text": text }))["concept"].clone();
        let characters =
            ask("manga.characters", schema(2), json!({ "text": text, "concept": concept }))["characters"].clone();
        let plot = ask("manga.plot", schema(3), json!({ "text": text, "concept": concept, "characters": characters }))
            ["plot"]
            .clone();
        let direction = if concept["reading_direction"] == "rtl" { "rtl" } else { "ltr" };
        let pages = ask(
            "manga.name",
            schema(4),
            json!({ "concept": concept, "characters": characters, "plot": plot, "reading_direction": direction }),
        )["pages"]
            .clone();
        json!({ "concept": concept, "characters": characters, "plot": plot, "pages": pages })
    }

    fn names(document: &Value) -> Vec<String> {
        document["characters"]
            .as_array()
            .expect("characters")
            .iter()
            .map(|c| c["name"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    #[test]
    fn a_japanese_story_is_planned_right_to_left_with_its_characters() {
        let document = plan(&story("rashomon.txt"));
        assert_eq!(document["concept"]["language"], "ja");
        assert_eq!(document["concept"]["reading_direction"], "rtl");
        assert_eq!(document["concept"]["title"], "羅生門");
        let names = names(&document);
        assert_eq!(names.first().map(String::as_str), Some("下人"), "{names:?}");
        assert!(names.iter().any(|name| name == "老婆"), "{names:?}");
        let scenes = document["plot"]["scenes"].as_array().expect("scenes");
        assert!(scenes.len() >= 3, "{} scenes", scenes.len());
        let lines: Vec<&Value> =
            scenes.iter().flat_map(|scene| scene["dialogue"].as_array().into_iter().flatten()).collect();
        assert!(lines.iter().any(|line| line["text"] == "おのれ、どこへ行く。"), "the dialogue is extracted");
        let pages = document["pages"].as_array().expect("pages");
        assert_eq!(pages.len() as u64, document["concept"]["page_count"].as_u64().expect("pages"));
    }

    #[test]
    fn an_english_story_is_planned_left_to_right_with_speakers() {
        let document = plan(&story("gift-of-the-magi.txt"));
        assert_eq!(
            (document["concept"]["language"].as_str(), document["concept"]["reading_direction"].as_str()),
            (Some("en"), Some("ltr"))
        );
        let names = names(&document);
        assert_eq!(names.iter().take(2).map(String::as_str).collect::<Vec<_>>(), ["Della", "Jim"], "{names:?}");
        let said: Vec<&Value> = document["plot"]["scenes"]
            .as_array()
            .expect("scenes")
            .iter()
            .flat_map(|scene| scene["dialogue"].as_array().into_iter().flatten())
            .filter(|line| line["text"] == "Will you buy my hair?")
            .collect();
        assert_eq!(said.first().map(|line| line["speaker"].clone()), Some(json!("c1")), "Della (c1) asks");
    }

    #[test]
    fn other_requests_are_refused_saying_what_the_planner_is() {
        let error = answer(&TextRequest::new("Write a poem")).expect_err("not a manga task");
        assert_eq!(error.class, ErrorClass::ClientError);
        assert!(error.message.contains("not a language model"), "{}", error.message);
    }
}
