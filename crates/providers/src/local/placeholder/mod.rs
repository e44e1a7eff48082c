//! `local/placeholder`: a placeholder image, not AI.
//!
//! A seed-driven abstract composition (a gradient and soft circles, rectangles and
//! bands) whose palette follows the colour words of the prompt (English, Chinese and
//! Japanese), with the prompt written on it, a "PLACEHOLDER" label band across the
//! top and a line naming the engine, seed and size. The same normalised input gives
//! byte-identical PNGs: a hand-written RNG, no clocks, no map iteration, one thread
//! per image.

use std::sync::atomic::AtomicU8;

use atelier_core::CoreError;
use atelier_core::catalog::{Modality, ModelSpec};
use atelier_core::ports::{Output, ProviderError};
use image::RgbImage;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use self::labels::draw_labels;
use self::paint::{paint_background, paint_band, paint_circle, paint_rect};
use self::palette::palette;
use super::LocalEngine;
use super::text::FontSet;
use super::{
    SERVICE, SplitMix64, canonical_json, check_range, encode_png_rgb, output_parameters, parse_params, png_output,
    set_progress, sha256, to_json,
};
use crate::kit::Named;
use crate::kit::fields::{max_chars, required_text};
use async_trait::async_trait;
use atelier_core::ports::Job;

mod labels;
mod paint;
mod palette;

pub const MODEL: &str = "placeholder";

const MAX_PROMPT_CHARS: usize = 4000;
const MIN_SIDE: i64 = 64;
const MAX_SIDE: i64 = 2048;
const MAX_IMAGES: i64 = 4;
const MAX_STEPS: i64 = 150;
const MAX_SCALE: f64 = 30.0;

/// The input of `local/placeholder`. After [`parse`], every field is in range, the
/// prompts are trimmed and `seed` is set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlaceholderParams {
    pub prompt: String,
    #[serde(default)]
    pub negative_prompt: String,
    #[serde(default = "default_side")]
    pub width: i64,
    #[serde(default = "default_side")]
    pub height: i64,
    /// `None` (or JSON null): derived from the other parameters.
    #[serde(default)]
    pub seed: Option<i64>,
    #[serde(default = "default_num_images")]
    pub num_images: i64,
    #[serde(default = "default_steps")]
    pub steps: i64,
    #[serde(default = "default_scale")]
    pub scale: f64,
}

fn default_side() -> i64 {
    1024
}

fn default_num_images() -> i64 {
    1
}

fn default_steps() -> i64 {
    20
}

fn default_scale() -> f64 {
    7.5
}

pub fn spec() -> ModelSpec {
    ModelSpec {
        service: SERVICE.to_owned(),
        model: MODEL.to_owned(),
        aliases: Vec::new(),
        modality: Modality::Image,
        title: "Placeholder image (not AI)".to_owned(),
        description: "A placeholder image, not AI-generated: a seed-driven abstract composition whose palette \
                      follows the colour words of the prompt, with the prompt written on it and a PLACEHOLDER \
                      label. Runs offline; the same input always gives the same bytes."
            .to_owned(),
        input_schema: input_schema(),
        estimated_seconds: 1,
        poll_timeout_secs: None,
        requires_config: None,
    }
}

fn input_schema() -> Value {
    json!({
        "type": "object",
        "title": "local/placeholder input",
        "additionalProperties": false,
        "required": ["prompt"],
        "properties": {
            "prompt": {
                "type": "string",
                "minLength": 1,
                "maxLength": MAX_PROMPT_CHARS,
                "description": "Written on the image (trimmed; must not be blank). Colour words such as red, blue, 红, 青 choose the palette."
            },
            "negative_prompt": {
                "type": "string",
                "maxLength": MAX_PROMPT_CHARS,
                "default": "",
                "description": "Recorded; colour words in it are left out of the palette."
            },
            "width": { "type": "integer", "minimum": MIN_SIDE, "maximum": MAX_SIDE, "default": 1024, "description": "Width in pixels." },
            "height": { "type": "integer", "minimum": MIN_SIDE, "maximum": MAX_SIDE, "default": 1024, "description": "Height in pixels." },
            "seed": {
                "type": ["integer", "null"],
                "minimum": 0,
                "maximum": u32::MAX,
                "default": null,
                "description": "Image i uses seed + i. When null, a seed is derived from the other parameters (so the same input gives the same image) and stored."
            },
            "num_images": { "type": "integer", "minimum": 1, "maximum": MAX_IMAGES, "default": 1, "description": "How many images." },
            "steps": {
                "type": "integer", "minimum": 1, "maximum": MAX_STEPS, "default": 20,
                "description": "Accepted for compatibility; only tweaks the composition (more shapes)."
            },
            "scale": {
                "type": "number", "minimum": 0.0, "maximum": MAX_SCALE, "default": 7.5,
                "description": "Guidance scale, accepted for compatibility; only tweaks the composition (contrast)."
            }
        }
    })
}

/// Parses and normalises an input: ranges checked, prompts trimmed, seed derived when
/// absent. Parsing a normalised input gives it back unchanged.
pub fn parse(input: &Value) -> Result<PlaceholderParams, CoreError> {
    let mut params: PlaceholderParams = parse_params(input)?;
    params.prompt = required_text("prompt", &params.prompt)?;
    max_chars("prompt", &params.prompt, MAX_PROMPT_CHARS)?;
    params.negative_prompt = params.negative_prompt.trim().to_owned();
    max_chars("negative_prompt", &params.negative_prompt, MAX_PROMPT_CHARS)?;
    check_range("width", params.width, MIN_SIDE, MAX_SIDE)?;
    check_range("height", params.height, MIN_SIDE, MAX_SIDE)?;
    check_range("num_images", params.num_images, 1, MAX_IMAGES)?;
    check_range("steps", params.steps, 1, MAX_STEPS)?;
    if !(0.0..=MAX_SCALE).contains(&params.scale) {
        return Err(CoreError::invalid("scale", format!("must be between 0 and {MAX_SCALE}, got {}", params.scale)));
    }
    match params.seed {
        Some(seed) => check_range("seed", seed, 0, i64::from(u32::MAX))?,
        None => {
            let digest = sha256(canonical_json(&to_json(&params)?).as_bytes());
            let derived = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]);
            params.seed = Some(i64::from(derived));
        }
    }
    Ok(params)
}

pub fn validate(input: &Value) -> Result<Value, CoreError> {
    to_json(&parse(input)?)
}

/// Renders every image of a parsed input as PNG outputs, updating `progress`.
pub(crate) fn render_all(params: &PlaceholderParams, progress: &AtomicU8) -> Result<Vec<Output>, ProviderError> {
    let input =
        to_json(params).map_err(|e| ProviderError::new(atelier_core::ports::ErrorClass::ClientError, e.to_string()))?;
    let fonts = FontSet::system();
    let total = usize::try_from(params.num_images).unwrap_or(1).max(1);
    let base_seed = params.seed.and_then(|s| u32::try_from(s).ok()).unwrap_or(0);
    let mut outputs = Vec::with_capacity(total);
    for index in 0..total {
        let seed = base_seed.wrapping_add(index as u32);
        let image = render_image(params, seed, fonts);
        let (width, height) = image.dimensions();
        let bytes = encode_png_rgb(width, height, image.as_raw())?;
        outputs.push(png_output(width, height, bytes, output_parameters(MODEL, &input, index)));
        set_progress(progress, index + 1, total);
    }
    Ok(outputs)
}

/// Renders one image with the given seed (image `i` of an input uses `seed + i`).
pub fn render_image(params: &PlaceholderParams, seed: u32, fonts: &FontSet) -> RgbImage {
    let width = params.width.clamp(1, MAX_SIDE) as u32;
    let height = params.height.clamp(1, MAX_SIDE) as u32;
    let mut rng = SplitMix64::new(u64::from(seed) ^ 0x706C_6163_6568_6C64);
    let palette = palette(&params.prompt, &params.negative_prompt, &mut rng);
    let mut image = RgbImage::new(width, height);
    paint_background(&mut image, &palette, &mut rng);

    // steps only adds shapes, scale only changes their contrast.
    let shape_count = 4 + (params.steps.clamp(1, MAX_STEPS) / 30) as usize;
    let contrast = (0.6 + params.scale.clamp(0.0, MAX_SCALE) as f32 / MAX_SCALE as f32 * 0.8).min(1.4);
    for i in 0..shape_count {
        let color = palette.accents[i % palette.accents.len()];
        let opacity = (rng.range(0.25, 0.6) * contrast).min(0.9);
        match rng.below(5) {
            0 | 1 => paint_circle(&mut image, &mut rng, color, opacity),
            2 | 3 => paint_rect(&mut image, &mut rng, color, opacity),
            _ => paint_band(&mut image, &mut rng, color, opacity * 0.8),
        }
    }

    draw_labels(&mut image, params, seed, fonts);
    image
}

/// `local/placeholder`.
pub struct Placeholder;

impl Named for Placeholder {
    fn name(&self) -> &str {
        MODEL
    }
}

#[async_trait]
impl LocalEngine for Placeholder {
    fn spec(&self) -> ModelSpec {
        spec()
    }

    fn validate(&self, input: &Value) -> Result<Value, CoreError> {
        validate(input)
    }

    async fn run(&self, job: &Job<'_>) -> Result<Vec<Output>, ProviderError> {
        let params = parse(job.input).map_err(super::rejected)?;
        let progress = job.progress.clone();
        super::run_blocking(MODEL, move || render_all(&params, &progress)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kit::schema::{check_schema_matches, error_field};

    fn decode(bytes: &[u8]) -> image::RgbImage {
        image::load_from_memory_with_format(bytes, image::ImageFormat::Png).expect("a PNG").to_rgb8()
    }

    fn render(input: Value) -> Vec<Output> {
        let params = parse(&input).expect("valid input");
        render_all(&params, &AtomicU8::new(0)).expect("rendered")
    }

    fn mean(image: &RgbImage, channel: usize) -> f64 {
        let sum: u64 = image.pixels().map(|p| u64::from(p.0[channel])).sum();
        sum as f64 / f64::from(image.width() * image.height())
    }

    #[test]
    fn schema_matches_the_struct() {
        check_schema_matches(&spec().input_schema, validate, &json!({ "prompt": "a cat" }));
    }

    #[test]
    fn defaults_are_filled_in_and_the_seed_is_derived() {
        let normalised = validate(&json!({ "prompt": "  a cat  " })).expect("valid");
        assert_eq!(normalised["prompt"], "a cat");
        assert_eq!(normalised["width"], 1024);
        assert_eq!(normalised["num_images"], 1);
        assert_eq!(normalised["scale"], 7.5);
        let seed = normalised["seed"].as_u64().expect("a derived seed");
        assert!(seed <= u64::from(u32::MAX));
        let again = validate(&json!({ "prompt": "a cat", "seed": null })).expect("valid");
        assert_eq!(again["seed"], normalised["seed"], "the derived seed is deterministic");
        let other = validate(&json!({ "prompt": "a dog" })).expect("valid");
        assert_ne!(other["seed"], normalised["seed"]);
    }

    #[test]
    fn bounds_errors_name_the_field() {
        let cases = [
            (json!({ "prompt": "x", "width": 63 }), "width"),
            (json!({ "prompt": "x", "width": 2049 }), "width"),
            (json!({ "prompt": "x", "height": 10 }), "height"),
            (json!({ "prompt": "x", "num_images": 0 }), "num_images"),
            (json!({ "prompt": "x", "num_images": 5 }), "num_images"),
            (json!({ "prompt": "x", "seed": -1 }), "seed"),
            (json!({ "prompt": "x", "seed": 4_294_967_296u64 }), "seed"),
            (json!({ "prompt": "x", "steps": 151 }), "steps"),
            (json!({ "prompt": "x", "scale": 30.5 }), "scale"),
            (json!({ "prompt": "x", "width": "wide" }), "width"),
            (json!({ "prompt": "x", "width": 512.5 }), "width"),
            (json!({ "prompt": "x", "foo": 1 }), "foo"),
            (json!({ "prompt": "   " }), "prompt"),
            (json!({ "prompt": "" }), "prompt"),
            (json!({ "prompt": "x".repeat(4001) }), "prompt"),
            (json!({ "prompt": 5 }), "prompt"),
            (json!({}), "prompt"),
        ];
        for (input, field) in cases {
            let error = validate(&input).expect_err("invalid");
            assert_eq!(error_field(&error), field, "{input}");
        }
        let error = validate(&json!({ "prompt": " " })).expect_err("empty");
        assert_eq!(error.to_string(), "prompt: must not be empty");
        assert!(validate(&json!({ "prompt": "x".repeat(4000) })).is_ok());
    }

    #[test]
    fn rendering_is_deterministic() {
        let input = json!({ "prompt": "a quiet harbour at dawn", "width": 160, "height": 120, "seed": 42 });
        let first = render(input.clone());
        let second = render(input.clone());
        assert_eq!(first[0].bytes().expect("in memory"), second[0].bytes().expect("in memory"));
        let mut other = input;
        other["seed"] = json!(43);
        assert_ne!(render(other)[0].bytes().expect("in memory"), first[0].bytes().expect("in memory"));
        // A derived seed is just as stable.
        let derived = json!({ "prompt": "no seed here", "width": 96, "height": 96 });
        assert_eq!(
            render(derived.clone())[0].bytes().expect("in memory"),
            render(derived)[0].bytes().expect("in memory")
        );
    }

    #[test]
    fn outputs_have_the_asked_size_and_parameters() {
        let outputs =
            render(json!({ "prompt": "two of them", "width": 200, "height": 96, "seed": 7, "num_images": 2 }));
        assert_eq!(outputs.len(), 2);
        for (i, output) in outputs.iter().enumerate() {
            assert_eq!(output.mime, "image/png");
            assert_eq!((output.width, output.height), (Some(200), Some(96)));
            let image = decode(output.bytes().expect("in memory"));
            assert_eq!(image.dimensions(), (200, 96));
            let parameters: Value =
                serde_json::from_str(output.parameters.as_deref().expect("parameters")).expect("JSON");
            assert_eq!(parameters["service"], "local");
            assert_eq!(parameters["model"], "placeholder");
            assert_eq!(parameters["image_index"], i);
            assert_eq!(parameters["input"]["seed"], 7);
            assert_eq!(parameters["input"]["negative_prompt"], "");
        }
        assert_ne!(
            outputs[0].bytes().expect("in memory"),
            outputs[1].bytes().expect("in memory"),
            "image i uses seed + i"
        );
        // Image 1 of seed 7 is image 0 of seed 8.
        let eight = render(json!({ "prompt": "two of them", "width": 200, "height": 96, "seed": 8 }));
        assert_eq!(decode(eight[0].bytes().expect("in memory")), decode(outputs[1].bytes().expect("in memory")));
    }

    #[test]
    fn progress_reaches_100() {
        let params = parse(&json!({ "prompt": "p", "width": 64, "height": 64, "num_images": 3 })).expect("valid");
        let progress = AtomicU8::new(0);
        render_all(&params, &progress).expect("rendered");
        assert_eq!(progress.load(std::sync::atomic::Ordering::Relaxed), 100);
    }

    #[test]
    fn colour_words_choose_the_palette() {
        let red = render(json!({ "prompt": "a red fox", "width": 128, "height": 128, "seed": 1 }));
        let blue = render(json!({ "prompt": "a blue lake", "width": 128, "height": 128, "seed": 1 }));
        let (red, blue) = (decode(red[0].bytes().expect("in memory")), decode(blue[0].bytes().expect("in memory")));
        assert!(mean(&red, 0) > mean(&blue, 0) + 30.0, "{} vs {}", mean(&red, 0), mean(&blue, 0));
        assert!(mean(&blue, 2) > mean(&red, 2) + 30.0);

        let hong = render(json!({ "prompt": "一只红色的狐狸", "width": 128, "height": 128, "seed": 1 }));
        let lan = render(json!({ "prompt": "蓝色的湖", "width": 128, "height": 128, "seed": 1 }));
        let (hong, lan) = (decode(hong[0].bytes().expect("in memory")), decode(lan[0].bytes().expect("in memory")));
        assert!(mean(&hong, 0) > mean(&lan, 0) + 30.0);
    }

    #[test]
    fn negative_colours_are_left_out() {
        let mut rng = SplitMix64::new(3);
        let palette = palette("red and blue", "red", &mut rng);
        for accent in &palette.accents {
            assert!(accent[2] > accent[0], "only blue is left: {accent:?}");
        }
    }

    #[test]
    fn cjk_and_tiny_images_render() {
        for (width, height) in [(64, 64), (64, 2048), (2048, 64), (65, 97)] {
            let outputs = render(json!({
                "prompt": "一只红色的狐狸在雪地里 — 赤い狐 🦊 with a very long tail that goes on and on and on",
                "width": width, "height": height, "seed": 5,
            }));
            assert_eq!(decode(outputs[0].bytes().expect("in memory")).dimensions(), (width, height));
        }
    }

    #[test]
    fn renders_without_fonts() {
        let params =
            parse(&json!({ "prompt": "no fonts at all", "width": 256, "height": 256, "seed": 1 })).expect("ok");
        let image = render_image(&params, 1, &FontSet::empty());
        assert_eq!(image.dimensions(), (256, 256));
    }
}
