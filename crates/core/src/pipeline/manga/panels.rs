//! Phase 5: one image per panel (seed 001 2.3.2, 2.3.4), through whichever image
//! model the run names, at most `max_parallel` at once.
//!
//! Each panel's prompt is its scene direction with the characters' fixed
//! descriptions (and their sheets as reference images where the model takes
//! them). A panel's image comes, in this order, from: the scene cache (an alike
//! scene drawn within the window), the model, the model again with a simplified
//! prompt, or a labelled placeholder of the panel's shape carrying the scene in
//! words. A failed panel never fails the page; a rate limit parks the run instead
//! (the panels already drawn are kept: the phase keeps its finished steps).
//!
//! The part is `art.panels`: one entry per panel (`id` is the panel's id) with the
//! image, where it came from, and the earlier images as `variants`.

use serde_json::{Map, Value, json};

use super::figures::figures;
use super::{DEFAULT_IMAGE_MODEL, PAGE_HEIGHT, PAGE_WIDTH, part, right_to_left, with_part};
use crate::pipeline::phase::{
    ImageFit, Phase, PhaseContext, PhaseError, Reuse, Step, StepOutcome, StepOutput, StepRequest,
};

/// The seed's `max_parallel`.
pub const DEFAULT_MAX_PARALLEL: usize = 5;
/// Failures that are not the panel's fault: the run waits (parks) rather than
/// settling for a fallback.
const WAIT_CODES: [&str; 2] = ["provider_rate_limited", "quota_exceeded"];

pub struct Panels;

/// One panel, as the phase reads it from the name.
struct PanelPlan<'a> {
    id: String,
    page: u64,
    panel: &'a Value,
}

fn plans(document: &Value) -> Vec<PanelPlan<'_>> {
    let mut plans = Vec::new();
    for (index, page) in document.get("pages").and_then(Value::as_array).into_iter().flatten().enumerate() {
        let number = page.get("number").and_then(Value::as_u64).unwrap_or(index as u64 + 1);
        for panel in page.get("panels").and_then(Value::as_array).into_iter().flatten() {
            let Some(id) = panel.get("id").and_then(Value::as_str) else { continue };
            plans.push(PanelPlan { id: id.to_owned(), page: number, panel });
        }
    }
    plans
}

fn text<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value.pointer(pointer).and_then(Value::as_str).unwrap_or_default()
}

/// The character's name and fixed description, by id.
fn character<'a>(document: &'a Value, id: &str) -> Option<&'a Value> {
    document
        .get("characters")
        .and_then(Value::as_array)?
        .iter()
        .find(|character| character.get("id").and_then(Value::as_str) == Some(id))
}

/// Width over height of a panel's frame on the page.
fn aspect(panel: &Value) -> f64 {
    let w = panel.pointer("/frame/w").and_then(Value::as_f64).unwrap_or(0.5);
    let h = panel.pointer("/frame/h").and_then(Value::as_f64).unwrap_or(0.3);
    if h <= 0.0 { 1.0 } else { (w * f64::from(PAGE_WIDTH)) / (h * f64::from(PAGE_HEIGHT)) }
}

/// What a panel's prompt is made of.
struct Prompt {
    full: String,
    simple: String,
    features: String,
    references: Vec<String>,
    scene: String,
}

fn prompt(document: &Value, plan: &PanelPlan<'_>, rtl: bool, words: &str) -> Prompt {
    let panel = plan.panel;
    let style = document.pointer("/style/art_style").and_then(Value::as_str).unwrap_or("black-and-white manga");
    let background = text(panel, "/direction/background");
    let lighting = text(panel, "/direction/lighting");
    let mood = text(panel, "/direction/mood");
    let angle = text(panel, "/direction/camera_angle");
    let shot = text(panel, "/direction/shot");
    let effects = text(panel, "/direction/effect_lines");
    let mut people = Vec::new();
    let mut names = Vec::new();
    let mut references = Vec::new();
    for figure in figures(panel, rtl) {
        let Some(character) = character(document, &figure.character) else { continue };
        let name = text(character, "/name");
        names.push(name.to_owned());
        people.push(format!("{name} ({}) on the {}", text(character, "/appearance"), figure.side));
        if let Some(sheet) = character.pointer("/sheets/0/asset_id").and_then(Value::as_str) {
            references.push(sheet.to_owned());
        }
    }
    let mut full = format!("{style} manga panel, {shot}, {angle}. Scene: {background}; {lighting}.");
    if !people.is_empty() {
        full.push_str(&format!(" Characters: {}.", people.join("; ")));
    }
    for (label, pointer) in [("Poses", "/direction/poses"), ("Expressions", "/direction/expressions")] {
        let value = text(panel, pointer);
        if !value.is_empty() {
            full.push_str(&format!(" {label}: {value}."));
        }
    }
    if !mood.is_empty() {
        full.push_str(&format!(" Mood: {mood}."));
    }
    if !effects.is_empty() && effects != "none" {
        full.push_str(&format!(" Effect lines: {effects}."));
    }
    full.push_str(" No text, no speech balloons.");
    if !words.is_empty() {
        full.push_str(&format!(" {words}"));
    }
    let simple = format!(
        "{style} manga panel: {background}, {}",
        if names.is_empty() { "no one".into() } else { names.join(", ") }
    );
    let mut cast = names.clone();
    cast.sort();
    // The prompt's own words, without what every panel's prompt repeats (the style,
    // the characters' fixed descriptions, the closing rules), which would make
    // every scene look alike and cost the embedding time.
    let poses = text(panel, "/direction/poses");
    let expressions = text(panel, "/direction/expressions");
    let features = format!(
        "setting: {background}; characters: {}; emotion: {mood}; camera: {angle}, {shot}; time of day: {lighting}; \
         prompt: {poses}. {expressions}. {effects}. {words}",
        cast.join(", ")
    );
    let scene = format!("{} · {background}", plan.id);
    Prompt { full: clip(&full, 1500), simple: clip(&simple, 500), features, references, scene }
}

fn clip(text: &str, chars: usize) -> String {
    text.chars().take(chars).collect()
}

/// The panel's entry from an output.
fn entry(plan: &PanelPlan<'_>, output: &StepOutput, model: &str, prompt: &str, source: &str) -> Option<Value> {
    let asset = output.assets.first()?;
    let mut entry = json!({
        "id": plan.id,
        "page": plan.page,
        "asset_id": asset.id,
        "task_id": output.task_id.to_string(),
        "model": model,
        "prompt": prompt,
        "source": source,
        "width": asset.width,
        "height": asset.height,
    });
    if let Some(reused) = &output.reused {
        entry["source"] = json!("reused");
        entry["reused"] = json!({ "score": reused.score, "method": reused.method });
    }
    Some(entry)
}

/// Where one panel's chain of tries stands.
enum Chain {
    /// This step is wanted (made, running or finished: the driver tells).
    Want(StepRequest),
    /// The panel has its image.
    Done(Value, StepRequest),
}

impl Phase for Panels {
    fn number(&self) -> u32 {
        5
    }
    fn name(&self) -> &'static str {
        "panels"
    }
    fn title(&self) -> &'static str {
        "Panel images"
    }
    fn parts(&self) -> &'static [&'static str] {
        &["art"]
    }
    fn schema(&self) -> Value {
        super::schema::wrapped("art", super::schema::art())
    }
    fn max_parallel(&self, run: &crate::pipeline::Run) -> usize {
        run.settings
            .options
            .get("max_parallel")
            .and_then(Value::as_u64)
            .map_or(DEFAULT_MAX_PARALLEL, |n| n.clamp(1, 10) as usize)
    }
    fn keeps_finished_steps(&self) -> bool {
        true
    }
    fn step(&self, context: &PhaseContext<'_>) -> Result<Step, PhaseError> {
        let document = context.document;
        let rtl = right_to_left(document, &context.run.settings.options);
        let model = context.run.settings.image_model.clone();
        let existing: Vec<Value> =
            document.pointer("/art/panels").and_then(Value::as_array).cloned().unwrap_or_default();
        let mut wanted = Vec::new();
        let mut entries = Vec::new();
        let mut all_done = true;
        for plan in plans(document) {
            let kept = existing.iter().find(|entry| entry.get("id").and_then(Value::as_str) == Some(plan.id.as_str()));
            let again = kept.and_then(|entry| entry.get("regenerate"));
            if let Some(kept) = kept
                && again.is_none()
                && kept.get("asset_id").and_then(Value::as_str).is_some()
            {
                entries.push(kept.clone());
                continue;
            }
            match self.chain(context, &plan, &model, rtl, again)? {
                Chain::Want(request) => {
                    all_done = false;
                    wanted.push(request);
                }
                Chain::Done(mut entry, request) => {
                    if let Some(kept) = kept {
                        // The image it replaces becomes a variant to pick again.
                        let mut variants = kept.get("variants").and_then(Value::as_array).cloned().unwrap_or_default();
                        let mut previous = kept.clone();
                        if let Some(previous) = previous.as_object_mut() {
                            for key in ["variants", "regenerate", "crop", "id", "page"] {
                                previous.remove(key);
                            }
                        }
                        if previous.get("asset_id").is_some() {
                            variants.push(previous);
                        }
                        entry["variants"] = Value::Array(variants);
                    }
                    entries.push(entry);
                    wanted.push(request);
                }
            }
        }
        if !all_done {
            return Ok(Step::Need(wanted));
        }
        let mut art = part(document, "art");
        if !art.is_object() {
            art = Value::Object(Map::new());
        }
        art["panels"] = Value::Array(entries);
        Ok(Step::Done(with_part(document, "art", art)))
    }
}

impl Panels {
    /// The panel's next step: the model, then a simplified prompt, then a
    /// placeholder; or its image.
    fn chain(
        &self,
        context: &PhaseContext<'_>,
        plan: &PanelPlan<'_>,
        model: &str,
        rtl: bool,
        again: Option<&Value>,
    ) -> Result<Chain, PhaseError> {
        // Drawn again (feedback): with its words and seed, and never from the cache.
        let words = again.and_then(|again| again.get("words")).and_then(Value::as_str).unwrap_or_default();
        let seed = again.and_then(|again| again.get("seed")).and_then(Value::as_i64);
        let prompt = prompt(context.document, plan, rtl, words);
        let aspect = aspect(plan.panel);
        let image = |references: Vec<String>| Some(ImageFit { aspect, references, seed });
        let mut first = StepRequest::new(format!("panel-{}", plan.id), model, json!({ "prompt": prompt.full }));
        first.image = image(prompt.references.clone());
        if again.is_none() {
            first.reuse = Some(Reuse { features: prompt.features.clone(), scope: context.run.id.to_string() });
        }
        let mut simple =
            StepRequest::new(format!("panel-{}-simple", plan.id), model, json!({ "prompt": prompt.simple }));
        simple.image = image(Vec::new());
        first.element = Some(plan.id.clone());
        simple.element = Some(plan.id.clone());
        let placeholder_prompt = clip(&format!("placeholder panel {}", prompt.scene), 900);
        let mut fallback = StepRequest::new(
            format!("panel-{}-placeholder", plan.id),
            DEFAULT_IMAGE_MODEL,
            json!({ "prompt": placeholder_prompt }),
        );
        fallback.image = image(Vec::new());
        fallback.element = Some(plan.id.clone());
        let mut reasons = Vec::new();
        for (request, source, prompt_text) in [
            (first, "generated", prompt.full.as_str()),
            (simple, "simplified", prompt.simple.as_str()),
            (fallback, "placeholder", placeholder_prompt.as_str()),
        ] {
            match context.outcomes.get(&request.name) {
                None | Some(StepOutcome::Waiting { .. }) => return Ok(Chain::Want(request)),
                Some(StepOutcome::Done(output)) => {
                    let model = request.model.clone();
                    let Some(mut entry) = entry(plan, output, &model, prompt_text, source) else {
                        reasons.push(format!("{}: no image", request.name));
                        continue;
                    };
                    if !reasons.is_empty() {
                        entry["fallback"] = json!({ "reasons": reasons });
                    }
                    return Ok(Chain::Done(entry, request));
                }
                // Not the panel's fault: asked again, the driver parks the run.
                Some(StepOutcome::Failed { code, .. }) if WAIT_CODES.contains(&code.as_str()) => {
                    return Ok(Chain::Want(request));
                }
                Some(StepOutcome::Failed { code, message }) => reasons.push(format!("{code}: {message}")),
            }
        }
        Err(PhaseError::new(
            "panel_failed",
            format!("panel {} could not be drawn, not even as a placeholder: {}", plan.id, reasons.join("; ")),
        ))
    }
}
