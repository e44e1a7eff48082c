//! Seed 001's manga pipeline. Phases 1 to 4 are here: concept and world,
//! characters (with reference sheets), plot and structure, and the name
//! (storyboard). Phases 5 to 7 have their own modules: panel images (`panels`),
//! lettering (`lettering`), and the final check and book (`book`).
//!
//! Each phase asks the run's text model for its part of the document, constrained
//! by the part's JSON Schema, with the story and the earlier parts as material
//! (`context`). The built-in planner (`local/planner`) answers from the same
//! material by rules; a language model reads it as JSON after the instruction.
//! The document is one JSON object: `concept`, `characters`, `plot`, `pages`,
//! `art`, `lettering`, `report`, `book` and `style` (set by style feedback).

pub mod book;
pub mod figures;
mod layout;
pub mod lettering;
pub mod panels;
pub mod preview;
pub mod schema;

use serde_json::{Map, Value, json};

use super::phase::{ImageFit, Phase, PhaseContext, PhaseError, Pipeline, Step, StepOutcome, StepRequest};
use crate::text::TextRequest;

pub use layout::lay_out_page;

/// The pipeline's name in runs and routes.
pub const NAME: &str = "manga";
/// The text model that runs with no key: the rule-based planner.
pub const DEFAULT_TEXT_MODEL: &str = "local/planner";
/// The image model of character sheets with no key: labelled placeholders.
pub const DEFAULT_IMAGE_MODEL: &str = "local/placeholder";
/// Characters that get a reference sheet (the most present ones).
pub const MAX_SHEETS: usize = 6;
/// A page's size in pixels as the letterer and binder draw it (B5's proportions).
pub const PAGE_WIDTH: u32 = 1200;
pub const PAGE_HEIGHT: u32 = 1700;

/// The manga pipeline's phases.
pub fn pipeline() -> Pipeline {
    Pipeline {
        name: NAME,
        phases: vec![
            Box::new(Concept),
            Box::new(Characters),
            Box::new(Plot),
            Box::new(Name),
            Box::new(panels::Panels),
            Box::new(lettering::Lettering),
            Box::new(book::Book),
        ],
    }
}

const SYSTEM: &str = "You are a manga editor and storyboard artist. Answer with JSON that follows the given schema \
     exactly. Write every text value in the language of the story.";

fn text_step(context: &PhaseContext<'_>, task: &str, instruction: &str, schema: Value, material: Value) -> Step {
    let mut request = TextRequest::new(instruction);
    request.system = Some(SYSTEM.to_owned());
    request.schema_name = Some(task.replace('.', "_"));
    request.schema = Some(schema);
    let mut material = match material {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    material.insert("task".into(), json!(task));
    material.insert("options".into(), context.run.settings.options.clone());
    material.insert("ai_auto_settings".into(), json!(context.run.settings.ai_auto_settings));
    request.context = Some(Value::Object(material));
    Step::Need(vec![StepRequest::new("text", context.run.settings.text_model.clone(), request.to_value())])
}

/// The part a text step answered (`{"<key>": …}`).
fn answered(context: &PhaseContext<'_>, key: &str) -> Result<Option<Value>, PhaseError> {
    let Some(output) = context.done("text") else { return Ok(None) };
    let Some(json) = &output.json else {
        return Err(PhaseError::new("invalid_answer", format!("the text model answered no JSON for {key}")));
    };
    json.get(key)
        .cloned()
        .map(Some)
        .ok_or_else(|| PhaseError::new("invalid_answer", format!("the text model's answer has no {key}")))
}

fn with_part(document: &Value, key: &str, part: Value) -> Value {
    let mut next = document.as_object().cloned().unwrap_or_default();
    next.insert(key.to_owned(), part);
    Value::Object(next)
}

fn part(document: &Value, key: &str) -> Value {
    document.get(key).cloned().unwrap_or(Value::Null)
}

/// The reading direction: the options', else the concept's, else right to left
/// for Japanese and left to right otherwise.
pub fn right_to_left(document: &Value, options: &Value) -> bool {
    let chosen = options
        .get("reading_direction")
        .and_then(Value::as_str)
        .or_else(|| document.pointer("/concept/reading_direction").and_then(Value::as_str));
    match chosen {
        Some(direction) => direction == "rtl",
        None => document.pointer("/concept/language").and_then(Value::as_str).is_none_or(|language| language == "ja"),
    }
}

/// The story's language as the concept gives it (`ja` when it does not).
pub fn language(document: &Value) -> String {
    document.pointer("/concept/language").and_then(Value::as_str).unwrap_or("ja").to_owned()
}

/// Gives every item of a list an id `<prefix><n>` when its own is missing, not of
/// that shape, or taken by an earlier item (a model may answer `C1`, or none).
fn number_ids(items: &mut [Value], prefix: char) {
    let mut seen = std::collections::HashSet::new();
    for (index, item) in items.iter_mut().enumerate() {
        let Some(object) = item.as_object_mut() else { continue };
        let id = object.get("id").and_then(Value::as_str).unwrap_or_default().to_owned();
        let shaped = id
            .strip_prefix(prefix)
            .is_some_and(|digits| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()));
        let id = if shaped && !seen.contains(&id) { id } else { format!("{prefix}{}", index + 1) };
        seen.insert(id.clone());
        object.insert("id".into(), json!(id));
    }
}

/// Characters without their sheets (material for later phases).
fn characters_brief(document: &Value) -> Value {
    let mut characters = part(document, "characters");
    if let Some(list) = characters.as_array_mut() {
        for character in list {
            if let Some(object) = character.as_object_mut() {
                object.remove("sheets");
            }
        }
    }
    characters
}

struct Concept;

impl Phase for Concept {
    fn number(&self) -> u32 {
        1
    }
    fn name(&self) -> &'static str {
        "concept"
    }
    fn title(&self) -> &'static str {
        "Concept and world"
    }
    fn parts(&self) -> &'static [&'static str] {
        &["concept"]
    }
    fn schema(&self) -> Value {
        schema::wrapped("concept", schema::concept())
    }
    fn step(&self, context: &PhaseContext<'_>) -> Result<Step, PhaseError> {
        let Some(mut concept) = answered(context, "concept")? else {
            return Ok(text_step(
                context,
                "manga.concept",
                "Read the story and decide the manga's concept: title, theme, genre, target readers, world, tone, \
                 page count, reading direction and the story's language; offer alternatives for title and genre.",
                self.schema(),
                json!({ "text": context.run.text }),
            ));
        };
        // The request's own choices win when the analysis is not to choose them.
        if !context.run.settings.ai_auto_settings
            && let (Some(concept), Some(options)) = (concept.as_object_mut(), context.run.settings.options.as_object())
        {
            for key in ["genre", "page_count", "reading_direction", "target_readers", "tone"] {
                if let Some(value) = options.get(key) {
                    concept.insert(key.to_owned(), value.clone());
                }
            }
        }
        Ok(Step::Done(with_part(context.document, "concept", concept)))
    }
}

struct Characters;

impl Phase for Characters {
    fn number(&self) -> u32 {
        2
    }
    fn name(&self) -> &'static str {
        "characters"
    }
    fn title(&self) -> &'static str {
        "Characters"
    }
    fn parts(&self) -> &'static [&'static str] {
        &["characters"]
    }
    fn schema(&self) -> Value {
        schema::wrapped("characters", schema::characters())
    }
    fn step(&self, context: &PhaseContext<'_>) -> Result<Step, PhaseError> {
        let Some(mut characters) = answered(context, "characters")? else {
            return Ok(text_step(
                context,
                "manga.characters",
                "List the story's characters (ids c1, c2, ... by importance): name, role, age, appearance, \
                 personality and speech style, as a character designer would brief them.",
                self.schema(),
                json!({ "text": context.run.text, "concept": part(context.document, "concept") }),
            ));
        };
        let Some(list) = characters.as_array_mut() else {
            return Err(PhaseError::new("invalid_answer", "characters is not a list"));
        };
        number_ids(list, 'c');
        let style = context.document.pointer("/style/art_style").and_then(Value::as_str).unwrap_or("manga");
        let mut needed = Vec::new();
        for character in list.iter_mut().take(MAX_SHEETS) {
            let id = character.get("id").and_then(Value::as_str).unwrap_or_default().to_owned();
            let step = format!("sheet-{id}");
            let fallback = format!("sheet-{id}-placeholder");
            let field = |key: &str| character.get(key).and_then(Value::as_str).unwrap_or_default().to_owned();
            let prompt = format!(
                "Character sheet, {style} style, front view and three-quarter view on a plain background: {}, {}. {}",
                field("name"),
                field("role"),
                field("appearance")
            );
            // A sheet the model could not draw (seed 001 2.3.4) becomes a labelled
            // placeholder; a rate limit is asked again, so that the run waits.
            let failed = matches!(
                context.outcomes.get(&step),
                Some(StepOutcome::Failed { code, .. }) if !matches!(code.as_str(), "provider_rate_limited" | "quota_exceeded")
            );
            let (step, model, prompt) = if failed {
                (fallback, DEFAULT_IMAGE_MODEL.to_owned(), format!("placeholder character sheet: {}", field("name")))
            } else {
                (step, context.run.settings.image_model.clone(), prompt)
            };
            match context.done(&step) {
                Some(output) => {
                    let sheets: Vec<Value> = output
                        .assets
                        .iter()
                        .take(2)
                        .map(|asset| json!({ "asset_id": asset.id, "task_id": output.task_id.to_string(), "model": model }))
                        .collect();
                    if let Some(object) = character.as_object_mut() {
                        object.insert("sheets".into(), Value::Array(sheets));
                    }
                }
                None => {
                    let mut request = StepRequest::new(
                        step,
                        model,
                        json!({ "prompt": prompt.chars().take(1000).collect::<String>() }),
                    );
                    request.image = Some(ImageFit { aspect: 1.0, references: Vec::new(), seed: None });
                    needed.push(request);
                }
            }
        }
        if !needed.is_empty() {
            return Ok(Step::Need(needed));
        }
        Ok(Step::Done(with_part(context.document, "characters", characters)))
    }
}

struct Plot;

impl Phase for Plot {
    fn number(&self) -> u32 {
        3
    }
    fn name(&self) -> &'static str {
        "plot"
    }
    fn title(&self) -> &'static str {
        "Plot and structure"
    }
    fn parts(&self) -> &'static [&'static str] {
        &["plot"]
    }
    fn schema(&self) -> Value {
        schema::wrapped("plot", schema::plot())
    }
    fn step(&self, context: &PhaseContext<'_>) -> Result<Step, PhaseError> {
        let Some(mut plot) = answered(context, "plot")? else {
            return Ok(text_step(
                context,
                "manga.plot",
                "Structure the story for the manga: acts, and scenes (ids s1, s2, ...) with setting, time of day, \
                 the characters present (their ids), emotion, summary, importance (0 to 1), the pages they fall \
                 on within the page count, and their dialogue with its speaker's id.",
                self.schema(),
                json!({
                    "text": context.run.text,
                    "concept": part(context.document, "concept"),
                    "characters": characters_brief(context.document),
                }),
            ));
        };
        if let Some(scenes) = plot.get_mut("scenes").and_then(Value::as_array_mut) {
            number_ids(scenes, 's');
        }
        Ok(Step::Done(with_part(context.document, "plot", plot)))
    }
}

struct Name;

impl Phase for Name {
    fn number(&self) -> u32 {
        4
    }
    fn name(&self) -> &'static str {
        "name"
    }
    fn title(&self) -> &'static str {
        "Name (storyboard)"
    }
    fn parts(&self) -> &'static [&'static str] {
        &["pages"]
    }
    fn schema(&self) -> Value {
        schema::wrapped("pages", schema::pages())
    }
    fn step(&self, context: &PhaseContext<'_>) -> Result<Step, PhaseError> {
        let right_to_left = right_to_left(context.document, &context.run.settings.options);
        let Some(mut pages) = answered(context, "pages")? else {
            return Ok(text_step(
                context,
                "manga.name",
                "Draw the name (storyboard) page by page: the panel count and panel sizes from each scene's \
                 importance (large for key moments, emphasis panels marked), and for each panel the scene \
                 direction (characters' placement fore/mid/back, camera angle such as 俯瞰, アオリ, 正面, shot such as \
                 bust shot, expressions, poses, background, effect lines, lighting and mood) and its dialogue (speaker \
                 id, text, balloon kind) in reading order.",
                self.schema(),
                json!({
                    "concept": part(context.document, "concept"),
                    "characters": characters_brief(context.document),
                    "plot": part(context.document, "plot"),
                    "reading_direction": if right_to_left { "rtl" } else { "ltr" },
                }),
            ));
        };
        let Some(list) = pages.as_array_mut() else {
            return Err(PhaseError::new("invalid_answer", "pages is not a list"));
        };
        for (index, page) in list.iter_mut().enumerate() {
            if let Some(object) = page.as_object_mut() {
                object.insert("number".into(), json!(index + 1));
                object.entry("reading_flow").or_insert(json!(if right_to_left { "rtl" } else { "ltr" }));
            }
            lay_out_page(page, right_to_left);
        }
        Ok(Step::Done(with_part(context.document, "pages", pages)))
    }
}

/// Every phase's schema together: the document as far as `phase` (for checking a
/// person's change).
pub fn document_schema(pipeline: &Pipeline, up_to: u32) -> Value {
    let mut properties = Map::new();
    let mut required = Vec::new();
    for phase in pipeline.phases.iter().filter(|phase| phase.number() <= up_to) {
        let schema = phase.schema();
        for key in phase.parts() {
            if let Some(part) = schema.pointer(&format!("/properties/{key}")) {
                properties.insert((*key).to_owned(), part.clone());
                required.push(json!(key));
            }
        }
    }
    json!({ "type": "object", "required": required, "properties": properties })
}
