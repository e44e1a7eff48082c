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

use super::LocalEngine;
use super::text::{FontSet, fill_rect};
use super::{
    SERVICE, SplitMix64, canonical_json, check_range, encode_png_rgb, output_parameters, parse_params, png_output,
    set_progress, sha256, to_json,
};
use crate::kit::Named;
use crate::kit::fields::{max_chars, required_text};
use async_trait::async_trait;
use atelier_core::ports::Job;

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

// ---------------------------------------------------------------------------------
// Palette.
// ---------------------------------------------------------------------------------

type Rgb = [f32; 3];

struct Palette {
    /// Gradient ends.
    background: [Rgb; 2],
    accents: Vec<Rgb>,
}

const RED: Rgb = [214.0, 40.0, 40.0];
const ORANGE: Rgb = [242.0, 133.0, 30.0];
const YELLOW: Rgb = [245.0, 212.0, 48.0];
const GREEN: Rgb = [46.0, 160.0, 72.0];
const BLUE: Rgb = [36.0, 88.0, 214.0];
const PURPLE: Rgb = [128.0, 58.0, 186.0];
const PINK: Rgb = [238.0, 128.0, 178.0];
const BROWN: Rgb = [128.0, 80.0, 42.0];
const BLACK: Rgb = [18.0, 18.0, 22.0];
const WHITE: Rgb = [246.0, 245.0, 240.0];
const GRAY: Rgb = [128.0, 128.0, 132.0];
const GOLD: Rgb = [212.0, 172.0, 52.0];
const SILVER: Rgb = [192.0, 194.0, 202.0];
const TEAL: Rgb = [0.0, 128.0, 128.0];
const CYAN: Rgb = [0.0, 196.0, 220.0];
const MAGENTA: Rgb = [208.0, 38.0, 160.0];

fn english_colour(word: &str) -> Option<Rgb> {
    Some(match word {
        "red" | "reddish" | "crimson" | "scarlet" | "ruby" => RED,
        "orange" | "orangey" | "amber" | "tangerine" => ORANGE,
        "yellow" | "yellowish" | "lemon" => YELLOW,
        "green" | "greenish" | "emerald" | "lime" | "olive" => GREEN,
        "blue" | "bluish" | "navy" | "azure" | "sapphire" | "cobalt" => BLUE,
        "purple" | "purplish" | "violet" | "lavender" | "indigo" | "lilac" => PURPLE,
        "pink" | "pinkish" | "rosy" => PINK,
        "brown" | "brownish" | "chocolate" | "tan" => BROWN,
        "black" => BLACK,
        "white" => WHITE,
        "gray" | "grey" | "greyish" | "grayish" => GRAY,
        "gold" | "golden" => GOLD,
        "silver" => SILVER,
        "teal" | "turquoise" => TEAL,
        "cyan" | "aqua" => CYAN,
        "magenta" | "fuchsia" => MAGENTA,
        _ => return None,
    })
}

fn cjk_colour(c: char) -> Option<Rgb> {
    Some(match c {
        '红' | '紅' | '赤' => RED,
        '橙' => ORANGE,
        '黄' | '黃' => YELLOW,
        '绿' | '綠' | '緑' => GREEN,
        '蓝' | '藍' | '青' => BLUE,
        '紫' => PURPLE,
        '粉' => PINK,
        '棕' | '褐' => BROWN,
        '黑' | '黒' => BLACK,
        '白' => WHITE,
        '灰' => GRAY,
        '金' => GOLD,
        '银' | '銀' => SILVER,
        _ => return None,
    })
}

/// The colours named in `text`, in order of first appearance, without repeats.
fn named_colours(text: &str) -> Vec<Rgb> {
    let mut found: Vec<(usize, Rgb)> = Vec::new();
    let mut word_start: Option<usize> = None;
    let lower = text.to_lowercase();
    let push_word = |start: usize, end: usize, found: &mut Vec<(usize, Rgb)>| {
        if let Some(colour) = english_colour(&lower[start..end]) {
            found.push((start, colour));
        }
    };
    for (i, c) in lower.char_indices() {
        if c.is_ascii_alphabetic() {
            word_start.get_or_insert(i);
            continue;
        }
        if let Some(start) = word_start.take() {
            push_word(start, i, &mut found);
        }
        if let Some(colour) = cjk_colour(c) {
            found.push((i, colour));
        }
    }
    if let Some(start) = word_start {
        push_word(start, lower.len(), &mut found);
    }
    found.sort_by_key(|(position, _)| *position);
    let mut colours: Vec<Rgb> = Vec::new();
    for (_, colour) in found {
        if !colours.contains(&colour) {
            colours.push(colour);
        }
    }
    colours
}

fn mix(a: Rgb, b: Rgb, t: f32) -> Rgb {
    [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t]
}

fn hsv(h: f32, s: f32, v: f32) -> Rgb {
    let h = (h.rem_euclid(1.0)) * 6.0;
    let sector = h.floor();
    let f = h - sector;
    let (p, q, t) = (v * (1.0 - s), v * (1.0 - s * f), v * (1.0 - s * (1.0 - f)));
    let (r, g, b) = match sector as u8 {
        0 => (v, t, p),
        1 => (q, v, p),
        2 => (p, v, t),
        3 => (p, q, v),
        4 => (t, p, v),
        _ => (v, p, q),
    };
    [r * 255.0, g * 255.0, b * 255.0]
}

fn palette(prompt: &str, negative_prompt: &str, rng: &mut SplitMix64) -> Palette {
    let unwanted = named_colours(negative_prompt);
    let named: Vec<Rgb> = named_colours(prompt).into_iter().filter(|c| !unwanted.contains(c)).collect();
    if !named.is_empty() {
        let first = named[0];
        let second = named.get(1).copied().unwrap_or(first);
        let background = [mix(first, BLACK, rng.range(0.2, 0.45)), mix(second, WHITE, rng.range(0.05, 0.25))];
        let accents = (0..6)
            .map(|i| {
                let base = named[i % named.len()];
                if rng.next_f32() < 0.5 {
                    mix(base, WHITE, rng.range(0.1, 0.5))
                } else {
                    mix(base, BLACK, rng.range(0.1, 0.5))
                }
            })
            .collect();
        return Palette { background, accents };
    }
    let hue = rng.next_f32();
    let offsets: &[f32] = match rng.below(3) {
        0 => &[0.0, 0.08, -0.08, 0.5],
        1 => &[0.0, 0.5, 0.45, 0.05],
        _ => &[0.0, 1.0 / 3.0, 2.0 / 3.0, 0.1],
    };
    let saturation = rng.range(0.45, 0.85);
    let background = [
        hsv(hue, saturation, rng.range(0.22, 0.38)),
        hsv(hue + offsets[1] * 0.5, saturation * 0.8, rng.range(0.6, 0.8)),
    ];
    let accents = (0..6)
        .map(|i| {
            let offset = offsets[i % offsets.len()];
            hsv(hue + offset + rng.range(-0.03, 0.03), rng.range(0.45, 0.9), rng.range(0.55, 0.98))
        })
        .collect();
    Palette { background, accents }
}

// ---------------------------------------------------------------------------------
// Painting. Everything writes straight into the RGB buffer, row by row.
// ---------------------------------------------------------------------------------

#[inline]
fn blend_pixel(pixel: &mut [u8], color: Rgb, alpha: f32) {
    for (channel, target) in pixel.iter_mut().zip(color) {
        let value = f32::from(*channel) + (target - f32::from(*channel)) * alpha;
        *channel = (value + 0.5).clamp(0.0, 255.0) as u8;
    }
}

/// `0` at `edge0`, `1` at `edge1`, smooth in between.
#[inline]
fn smoothstep(t: f32) -> f32 {
    let t = t.clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

fn random_direction(rng: &mut SplitMix64) -> (f32, f32) {
    loop {
        let (x, y) = (rng.range(-1.0, 1.0), rng.range(-1.0, 1.0));
        let length = (x * x + y * y).sqrt();
        if (0.2..=1.0).contains(&length) {
            return (x / length, y / length);
        }
    }
}

fn paint_background(image: &mut RgbImage, palette: &Palette, rng: &mut SplitMix64) {
    let (width, height) = (image.width() as usize, image.height() as usize);
    let (ux, uy) = random_direction(rng);
    let (cx, cy) = (width as f32 / 2.0, height as f32 / 2.0);
    let extent = (ux.abs() * cx + uy.abs() * cy).max(1.0);
    let [from, to] = palette.background;
    let delta = [to[0] - from[0], to[1] - from[1], to[2] - from[2]];
    let buffer: &mut [u8] = image;
    for (y, row) in buffer.chunks_exact_mut(width * 3).enumerate() {
        let row_offset = (y as f32 - cy) * uy;
        for (x, pixel) in row.chunks_exact_mut(3).enumerate() {
            let t = (((x as f32 - cx) * ux + row_offset) / extent * 0.5 + 0.5).clamp(0.0, 1.0);
            pixel[0] = (from[0] + delta[0] * t + 0.5) as u8;
            pixel[1] = (from[1] + delta[1] * t + 0.5) as u8;
            pixel[2] = (from[2] + delta[2] * t + 0.5) as u8;
        }
    }
}

/// Calls `f(x, pixel)` for every pixel of rows `y0..y1` and columns `x0..x1` (clipped).
fn for_each_in(image: &mut RgbImage, (x0, y0, x1, y1): (f32, f32, f32, f32), mut f: impl FnMut(f32, f32, &mut [u8])) {
    let (width, height) = (image.width() as usize, image.height() as usize);
    let clip = |v: f32, max: usize| (v.max(0.0) as usize).min(max);
    let (x0, x1) = (clip(x0.floor(), width), clip(x1.ceil(), width));
    let (y0, y1) = (clip(y0.floor(), height), clip(y1.ceil(), height));
    if x0 >= x1 || y0 >= y1 {
        return;
    }
    let buffer: &mut [u8] = image;
    for y in y0..y1 {
        let row = &mut buffer[(y * width + x0) * 3..(y * width + x1) * 3];
        for (i, pixel) in row.chunks_exact_mut(3).enumerate() {
            f((x0 + i) as f32 + 0.5, y as f32 + 0.5, pixel);
        }
    }
}

fn paint_circle(image: &mut RgbImage, rng: &mut SplitMix64, color: Rgb, opacity: f32) {
    let (w, h) = (image.width() as f32, image.height() as f32);
    let min_side = w.min(h);
    let (cx, cy) = (rng.range(-0.1, 1.1) * w, rng.range(-0.1, 1.1) * h);
    let radius = rng.range(0.08, 0.38) * min_side;
    let soft = (radius * rng.range(0.08, 0.7)).max(1.0);
    let inner = (radius - soft).max(0.0);
    let (inner_sq, radius_sq) = (inner * inner, radius * radius);
    for_each_in(image, (cx - radius, cy - radius, cx + radius, cy + radius), |x, y, pixel| {
        let d_sq = (x - cx) * (x - cx) + (y - cy) * (y - cy);
        if d_sq >= radius_sq {
            return;
        }
        let alpha = if d_sq <= inner_sq { opacity } else { opacity * smoothstep((radius - d_sq.sqrt()) / soft) };
        blend_pixel(pixel, color, alpha);
    });
}

fn paint_rect(image: &mut RgbImage, rng: &mut SplitMix64, color: Rgb, opacity: f32) {
    let (w, h) = (image.width() as f32, image.height() as f32);
    let min_side = w.min(h);
    let (rw, rh) = (rng.range(0.12, 0.55) * w, rng.range(0.08, 0.45) * h);
    let (x0, y0) = (rng.range(-0.1, 0.95) * w - rw / 2.0, rng.range(-0.1, 0.95) * h - rh / 2.0);
    let (x1, y1) = (x0 + rw, y0 + rh);
    let soft = (min_side * rng.range(0.005, 0.06)).max(1.0);
    for_each_in(image, (x0, y0, x1, y1), |x, y, pixel| {
        let edge = (x - x0).min(x1 - x).min(y - y0).min(y1 - y);
        let alpha = if edge >= soft { opacity } else { opacity * smoothstep(edge / soft) };
        blend_pixel(pixel, color, alpha);
    });
}

fn paint_band(image: &mut RgbImage, rng: &mut SplitMix64, color: Rgb, opacity: f32) {
    let (w, h) = (image.width() as f32, image.height() as f32);
    let min_side = w.min(h);
    let (nx, ny) = random_direction(rng);
    let (px, py) = (rng.range(0.1, 0.9) * w, rng.range(0.1, 0.9) * h);
    let offset = px * nx + py * ny;
    let half = rng.range(0.02, 0.1) * min_side;
    let soft = (half * rng.range(0.1, 0.8)).max(1.0);
    for_each_in(image, (0.0, 0.0, w, h), |x, y, pixel| {
        let distance = (x * nx + y * ny - offset).abs();
        if distance >= half {
            return;
        }
        blend_pixel(pixel, color, opacity * smoothstep((half - distance) / soft));
    });
}

// ---------------------------------------------------------------------------------
// Labels.
// ---------------------------------------------------------------------------------

const LABEL_COLOR: [u8; 3] = [255, 214, 10];
const TEXT_COLOR: [u8; 3] = [255, 255, 255];
const INFO_COLOR: [u8; 3] = [228, 228, 228];

/// The largest size not above `px` at which `text` fits in `max_width`.
fn fit(fonts: &FontSet, text: &str, px: f32, max_width: f32) -> f32 {
    let width = fonts.measure(text, px);
    if width <= max_width || width <= 0.0 { px } else { px * max_width / width }
}

fn draw_centered(fonts: &FontSet, image: &mut RgbImage, text: &str, center_y: f32, px: f32, color: [u8; 3]) {
    let (ascent, descent) = fonts.line_metrics(px);
    let x = (image.width() as f32 - fonts.measure(text, px)) / 2.0;
    let baseline = center_y + (ascent - descent) / 2.0;
    fonts.draw(image, text, (x, baseline), px, color, 1.0);
}

fn draw_labels(image: &mut RgbImage, params: &PlaceholderParams, seed: u32, fonts: &FontSet) {
    let (w, h) = (image.width() as f32, image.height() as f32);
    let min_side = w.min(h);

    // The label band across the top, with a yellow rule under it.
    let band = (min_side * 0.1).max(12.0).min(h / 3.0).round();
    fill_rect(image, 0, 0, w as i64, band as i64, [0, 0, 0], 0.62);
    let rule = (band / 14.0).round().max(1.0);
    fill_rect(image, 0, band as i64, w as i64, (band + rule) as i64, LABEL_COLOR, 1.0);
    let title = "PLACEHOLDER";
    let title_px = fit(fonts, title, band * 0.58, w * 0.9);
    if title_px >= 5.0 {
        draw_centered(fonts, image, title, band / 2.0, title_px, LABEL_COLOR);
    }

    // The info line along the bottom.
    let info_px = min_side * 0.03;
    let mut bottom = h;
    if info_px >= 6.0 {
        let info = format!("{SERVICE}/{MODEL} · seed {seed} · {}×{}", image.width(), image.height());
        let info_px = fit(fonts, &info, info_px, w - info_px * 2.0);
        let info_band = (min_side * 0.03 * 2.2).round();
        bottom = h - info_band;
        fill_rect(image, 0, bottom as i64, w as i64, h as i64, [0, 0, 0], 0.55);
        if info_px >= 5.0 {
            draw_centered(fonts, image, &info, h - info_band / 2.0, info_px, INFO_COLOR);
        }
    }

    // The prompt, wrapped, on a translucent panel in the middle.
    let prompt_px = min_side * 0.055;
    if prompt_px < 7.0 {
        return;
    }
    let top = band + rule;
    let line_height = prompt_px * 1.35;
    let room = ((bottom - top - prompt_px) / line_height).floor().max(0.0) as usize;
    let max_lines = room.min(if h > w * 1.3 { 5 } else { 3 });
    let lines = fonts.wrap(&params.prompt, prompt_px, w * 0.82, max_lines);
    if lines.is_empty() {
        return;
    }
    let widest = lines.iter().map(|line| fonts.measure(line, prompt_px)).fold(0.0f32, f32::max);
    let pad = prompt_px * 0.6;
    let block = lines.len() as f32 * line_height;
    let center = (top + bottom) / 2.0;
    let (x0, y0) = ((w - widest) / 2.0 - pad, center - block / 2.0 - pad);
    fill_rect(
        image,
        x0.floor() as i64,
        y0.floor() as i64,
        (x0 + widest + 2.0 * pad).ceil() as i64,
        (y0 + block + 2.0 * pad).ceil() as i64,
        [0, 0, 0],
        0.45,
    );
    for (i, line) in lines.iter().enumerate() {
        let line_center = center - block / 2.0 + (i as f32 + 0.5) * line_height;
        draw_centered(fonts, image, line, line_center, prompt_px, TEXT_COLOR);
    }
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
    fn colour_words_are_found_in_order() {
        assert_eq!(named_colours("Blue sky, RED barn and blue again"), vec![BLUE, RED]);
        assert_eq!(named_colours("bored credit"), Vec::<Rgb>::new());
        assert_eq!(named_colours("赤い花と青い空"), vec![RED, BLUE]);
        assert_eq!(named_colours("金色の夕日 grey"), vec![GOLD, GRAY]);
        assert_eq!(named_colours("green"), vec![GREEN]);
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
