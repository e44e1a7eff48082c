//! `local/letterer`: one manga page lettered and drawn as a PNG, with a JSON
//! layout that says how each balloon's text fit.

use async_trait::async_trait;
use atelier_core::CoreError;
use atelier_core::catalog::{Modality, ModelSpec};
use atelier_core::ports::{ErrorClass, Job, Output, ProviderError};
use serde_json::{Value, json};

use super::{PageSpec, book_error, build_page, chunks, fonts, open_images};
use crate::kit::Named;
use crate::local::{LocalEngine, SERVICE, parse_params, rejected, run_blocking, to_json};

pub const MODEL: &str = "letterer";

pub struct Letterer;

impl Named for Letterer {
    fn name(&self) -> &str {
        MODEL
    }
}

pub fn spec() -> ModelSpec {
    ModelSpec {
        service: SERVICE.to_owned(),
        model: MODEL.to_owned(),
        aliases: Vec::new(),
        modality: Modality::Image,
        title: "Manga letterer".to_owned(),
        description: "Letters one manga page: the panel images in their frames, balloons of five kinds (speech, \
                      thought, shout, whisper, narration) with tails, text set with a real shaper (vertical for \
                      Japanese, with kinsoku and vertical punctuation), sound effects and effect lines. Answers the \
                      page as a PNG and a JSON layout saying how each balloon's text fit. Runs offline; the manga \
                      pipeline's phase 6 uses it."
            .to_owned(),
        input_schema: schema(),
        estimated_seconds: 1,
        poll_timeout_secs: None,
        requires_config: None,
    }
}

pub(super) fn page_schema() -> Value {
    let frame = json!({
        "type": "object", "required": ["x", "y", "w", "h"],
        "properties": { "x": { "type": "number" }, "y": { "type": "number" }, "w": { "type": "number" }, "h": { "type": "number" } }
    });
    let point = json!({ "type": "object", "required": ["x", "y"], "properties": { "x": { "type": "number" }, "y": { "type": "number" } } });
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["width", "height", "language", "panels"],
        "properties": {
            "width": { "type": "integer", "minimum": 64, "maximum": 4000 },
            "height": { "type": "integer", "minimum": 64, "maximum": 4000 },
            "language": { "type": "string", "description": "ja, zh, en, ... (picks the fonts)" },
            "right_to_left": { "type": "boolean", "default": false },
            "panels": { "type": "array", "maxItems": 24, "items": {
                "type": "object", "required": ["frame"],
                "properties": {
                    "id": { "type": "string" },
                    "frame": frame,
                    "image": { "type": ["string", "null"], "description": "An output (img_…) or upload (upl_…) id." },
                    "crop": { "oneOf": [frame, { "type": "null" }] },
                    "placeholder_text": { "type": ["string", "null"] }
                }
            } },
            "balloons": { "type": "array", "maxItems": 200, "default": [], "items": {
                "type": "object", "required": ["id", "kind", "text", "frame", "font_size"],
                "properties": {
                    "id": { "type": "string" },
                    "kind": { "type": "string", "enum": ["speech", "thought", "shout", "whisper", "narration"] },
                    "text": { "type": "string" },
                    "frame": frame,
                    "tail": { "oneOf": [point, { "type": "null" }] },
                    "vertical": { "type": "boolean" },
                    "font_size": { "type": "number", "description": "A fraction of the page's width." },
                    "bold": { "type": "boolean" }
                }
            } },
            "effects": { "type": "array", "default": [], "items": { "type": "object", "required": ["kind", "frame"] } },
            "min_font_size": { "type": "number", "default": 0.017, "description": "The smallest text, a fraction of the width." },
            "chunks": { "type": "object", "default": {}, "description": "PNG text chunks to write.", "additionalProperties": true }
        }
    })
}

fn schema() -> Value {
    let mut schema = page_schema();
    schema["title"] = json!("local/letterer input");
    schema
}

#[async_trait]
impl LocalEngine for Letterer {
    fn spec(&self) -> ModelSpec {
        spec()
    }

    fn validate(&self, input: &Value) -> Result<Value, CoreError> {
        let page: PageSpec = parse_params(input)?;
        page.check("")?;
        to_json(&page)
    }

    fn input_files(&self, input: &Value) -> Vec<String> {
        serde_json::from_value::<PageSpec>(input.clone()).map(|page| page.images()).unwrap_or_default()
    }

    async fn run(&self, job: &Job<'_>) -> Result<Vec<Output>, ProviderError> {
        let page: PageSpec = parse_params(job.input).map_err(rejected)?;
        let images = open_images(&page, job.files).await?;
        let fonts = fonts()?;
        run_blocking("letterer", move || {
            let (drawn, fits) = build_page(&page, images, &fonts)?;
            let png = atelier_book::render_png(&fonts, &drawn, &chunks(&page)).map_err(book_error)?;
            let layout =
                serde_json::to_vec_pretty(&json!({ "width": page.width, "height": page.height, "balloons": fits }))
                    .map_err(|error| {
                        ProviderError::new(ErrorClass::GenerationFailed, format!("encoding the layout: {error}"))
                    })?;
            Ok(vec![
                Output::new(layout, atelier_core::text::JSON_MIME),
                Output::new(png, "image/png").with_size(page.width, page.height),
            ])
        })
        .await
    }
}
