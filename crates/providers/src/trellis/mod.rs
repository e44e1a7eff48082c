//! The `trellis` service: Microsoft TRELLIS (image to 3D, text to 3D) on GPU
//! machines, served by remote workers through the pull protocol
//! (`atelier_core::pull`; the reference worker is `workers/trellis/`). This server
//! never runs these models itself: it checks their inputs, queues their tasks in
//! their own pools, and stores what the workers send back.
//!
//! Inputs follow seed 002 (`image` or `prompt`, `quality`, `output_formats`) with
//! TRELLIS's own seed (protocols.md section 6); the worker maps `quality` to the
//! pipeline's sampler steps, mesh simplification and texture size.

use async_trait::async_trait;
use atelier_core::CoreError;
use atelier_core::catalog::{Modality, ModelSpec};
use atelier_core::ports::{ErrorClass, InputRef, Job, Polled, Provider, ProviderError, Submitted};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::kit::params::{parse_params, to_json};

pub const SERVICE: &str = "trellis";
/// `microsoft/TRELLIS-image-large` (1.2B).
pub const IMAGE_MODEL: &str = "trellis-image-large";
/// `microsoft/TRELLIS-text-xlarge` (2.0B).
pub const TEXT_MODEL: &str = "trellis-text-xlarge";
/// The qualities of seed 002.
pub const QUALITIES: [&str; 3] = ["fast", "balanced", "high"];
/// The formats the reference worker writes.
pub const FORMATS: [&str; 2] = ["glb", "obj"];
/// TRELLIS's seed range (its UI's).
const MAX_SEED: u64 = (1 << 31) - 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ImageParams {
    image: String,
    #[serde(default = "balanced")]
    quality: String,
    #[serde(default = "seed_formats")]
    output_formats: Vec<String>,
    #[serde(default)]
    seed: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TextParams {
    prompt: String,
    #[serde(default = "balanced")]
    quality: String,
    #[serde(default = "seed_formats")]
    output_formats: Vec<String>,
    #[serde(default)]
    seed: u64,
}

fn balanced() -> String {
    "balanced".into()
}

/// Seed 002's default: `["glb", "obj"]`.
fn seed_formats() -> Vec<String> {
    FORMATS.iter().map(|format| (*format).to_owned()).collect()
}

/// The checks both models share; each format kept once, in the order asked.
fn check_common(quality: &str, formats: &mut Vec<String>, seed: u64) -> Result<(), CoreError> {
    if !QUALITIES.contains(&quality) {
        return Err(CoreError::invalid("quality", format!("must be one of {}", QUALITIES.join(", "))));
    }
    if formats.is_empty() {
        return Err(CoreError::invalid("output_formats", "name at least one format"));
    }
    if let Some(unknown) = formats.iter().find(|format| !FORMATS.contains(&format.as_str())) {
        return Err(CoreError::invalid(
            "output_formats",
            format!("{unknown:?} is not a format TRELLIS's worker writes ({})", FORMATS.join(", ")),
        ));
    }
    let mut kept: Vec<String> = Vec::new();
    for format in std::mem::take(formats) {
        if !kept.contains(&format) {
            kept.push(format);
        }
    }
    *formats = kept;
    if seed > MAX_SEED {
        return Err(CoreError::invalid("seed", format!("must be 0 to {MAX_SEED}")));
    }
    Ok(())
}

fn common_properties() -> serde_json::Map<String, Value> {
    let mut properties = serde_json::Map::new();
    properties.insert(
        "quality".into(),
        json!({
            "type": "string", "enum": QUALITIES, "default": "balanced",
            "description": "fast, balanced or high: sampler steps, mesh simplification and texture size (the worker's presets)",
        }),
    );
    properties.insert(
        "output_formats".into(),
        json!({
            "type": "array", "items": { "type": "string", "enum": FORMATS }, "minItems": 1, "uniqueItems": true,
            "default": FORMATS, "description": "glb (binary glTF, textured) and obj (OBJ + MTL + texture)",
        }),
    );
    properties.insert(
        "seed".into(),
        json!({ "type": "integer", "minimum": 0, "maximum": MAX_SEED, "default": 0, "description": "TRELLIS's sampling seed" }),
    );
    properties
}

pub struct TrellisProvider;

impl TrellisProvider {
    fn spec(model: &str) -> ModelSpec {
        let mut properties = common_properties();
        let (title, description, required) = if model == IMAGE_MODEL {
            properties.insert(
                "image".into(),
                json!({
                    "type": "string", "minLength": 1,
                    "description": "The picture: an upload id (upl_…), an output id (img_…), task:<task id>, an http(s) URL or a data: URI",
                }),
            );
            (
                "TRELLIS image to 3D (microsoft/TRELLIS-image-large, on a GPU worker)",
                "A textured 3D model from one picture, by Microsoft TRELLIS on a remote GPU worker (the pull protocol). \
                 Runs only while a worker serving it is connected.",
                "image",
            )
        } else {
            properties.insert(
                "prompt".into(),
                json!({ "type": "string", "minLength": 1, "maxLength": 2000, "description": "What to model" }),
            );
            (
                "TRELLIS text to 3D (microsoft/TRELLIS-text-xlarge, on a GPU worker)",
                "A textured 3D model from a description, by Microsoft TRELLIS on a remote GPU worker. TRELLIS's own \
                 advice is that text → image → image-to-3D gives better models; seed 002's text-to-3d route does that.",
                "prompt",
            )
        };
        ModelSpec {
            service: SERVICE.into(),
            model: model.into(),
            aliases: Vec::new(),
            modality: Modality::Model3d,
            title: title.into(),
            description: description.into(),
            input_schema: json!({
                "type": "object", "additionalProperties": false, "required": [required], "properties": properties,
            }),
            estimated_seconds: 60,
            poll_timeout_secs: None,
            requires_config: None,
        }
    }
}

#[async_trait]
impl Provider for TrellisProvider {
    fn service(&self) -> &str {
        SERVICE
    }

    fn models(&self) -> Vec<ModelSpec> {
        vec![Self::spec(IMAGE_MODEL), Self::spec(TEXT_MODEL)]
    }

    fn served_by_pull(&self) -> bool {
        true
    }

    fn validate(&self, model: &str, input: &Value) -> Result<Value, CoreError> {
        match model {
            IMAGE_MODEL => {
                let mut params: ImageParams = parse_params(input)?;
                InputRef::parse(&params.image).map_err(|reason| CoreError::invalid("image", reason))?;
                check_common(&params.quality, &mut params.output_formats, params.seed)?;
                to_json(&params)
            }
            TEXT_MODEL => {
                let mut params: TextParams = parse_params(input)?;
                let prompt = params.prompt.trim();
                if prompt.is_empty() || prompt.chars().count() > 2000 {
                    return Err(CoreError::invalid("prompt", "write 1 to 2000 characters"));
                }
                params.prompt = prompt.to_owned();
                check_common(&params.quality, &mut params.output_formats, params.seed)?;
                to_json(&params)
            }
            _ => Err(CoreError::NotFound { what: "model" }),
        }
    }

    fn submit_is_costly(&self) -> bool {
        // A self-hosted GPU: running a task again costs time, not money.
        false
    }

    fn input_files(&self, model: &str, input: &Value) -> Vec<String> {
        if model == IMAGE_MODEL { crate::kit::inputs::references(input.get("image")) } else { Vec::new() }
    }

    async fn submit(&self, _job: &Job<'_>) -> Result<Submitted, ProviderError> {
        Err(not_here())
    }

    async fn poll(&self, _job: &Job<'_>, _external_id: &str) -> Result<Polled, ProviderError> {
        Err(not_here())
    }

    async fn cancel(&self, _external_id: &str) -> Result<(), ProviderError> {
        Ok(())
    }
}

/// These tasks are pulled by remote workers; this server never runs them (its
/// workers claim another pool), so reaching here is a wiring fault.
fn not_here() -> ProviderError {
    ProviderError::new(
        ErrorClass::ClientError,
        "TRELLIS runs on remote GPU workers (the pull protocol), not in this server",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_take_the_seeds_defaults_and_are_checked() {
        let provider = TrellisProvider;
        let image = provider.validate(IMAGE_MODEL, &json!({ "image": "https://example.com/a.png" })).expect("valid");
        assert_eq!(
            image,
            json!({ "image": "https://example.com/a.png", "quality": "balanced", "output_formats": ["glb", "obj"], "seed": 0 })
        );
        let text = provider
            .validate(TEXT_MODEL, &json!({ "prompt": " a chair ", "output_formats": ["obj", "obj"] }))
            .expect("valid");
        assert_eq!(text["prompt"], "a chair");
        assert_eq!(text["output_formats"], json!(["obj"]));
        for (model, bad, field) in [
            (IMAGE_MODEL, json!({}), "image"),
            (IMAGE_MODEL, json!({ "image": "x", "quality": "fast" }), "image"),
            (IMAGE_MODEL, json!({ "image": "https://e.com/a.png", "quality": "ultra" }), "quality"),
            (IMAGE_MODEL, json!({ "image": "https://e.com/a.png", "output_formats": ["fbx"] }), "output_formats"),
            (IMAGE_MODEL, json!({ "image": "https://e.com/a.png", "seed": 1u64 << 40 }), "seed"),
            (TEXT_MODEL, json!({ "prompt": "  " }), "prompt"),
        ] {
            let Err(CoreError::InvalidInput { details, .. }) = provider.validate(model, &bad) else {
                panic!("{bad} refused")
            };
            assert_eq!(details["field"], field, "{bad}");
        }
    }
}
