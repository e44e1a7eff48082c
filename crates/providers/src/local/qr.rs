//! `local/qr`: a QR code of some text, as PNG or SVG.
//!
//! The PNG is exactly `size`×`size`: the code (with its quiet zone) is scaled by the
//! largest whole number of pixels per module that fits and centred on the background.
//! The SVG is `size`×`size` with one user unit per module. Both are deterministic.

use atelier_core::CoreError;
use atelier_core::catalog::{Modality, ModelSpec};
use atelier_core::ports::{ErrorClass, Output, ProviderError};
use qrcode::{Color, EcLevel, QrCode};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::LocalEngine;
use super::{SERVICE, check_range, encode_png_rgb, output_parameters, parse_params, png_output, to_json};
use crate::kit::Named;
use async_trait::async_trait;
use atelier_core::ports::Job;

pub const MODEL: &str = "qr";

/// The most a QR code holds (version 40, level L, bytes).
const MAX_TEXT_BYTES: usize = 2953;
const MIN_SIZE: i64 = 64;
const MAX_SIZE: i64 = 2048;
const MAX_MARGIN: i64 = 16;
/// The least WCAG contrast ratio between the colours that scanners read reliably.
const MIN_CONTRAST: f64 = 3.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ErrorCorrection {
    L,
    M,
    Q,
    H,
}

impl ErrorCorrection {
    fn level(self) -> EcLevel {
        match self {
            Self::L => EcLevel::L,
            Self::M => EcLevel::M,
            Self::Q => EcLevel::Q,
            Self::H => EcLevel::H,
        }
    }

    /// The most bytes of arbitrary text the level holds (version 40).
    fn max_bytes(self) -> usize {
        match self {
            Self::L => 2953,
            Self::M => 2331,
            Self::Q => 1663,
            Self::H => 1273,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    #[default]
    Png,
    Svg,
}

/// The input of `local/qr`. After [`parse`], every field is in range and the colours
/// are lower-case `#rrggbb`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QrParams {
    pub text: String,
    #[serde(default = "default_size")]
    pub size: i64,
    #[serde(default = "default_error_correction")]
    pub error_correction: ErrorCorrection,
    #[serde(default = "default_margin")]
    pub margin: i64,
    #[serde(default = "default_foreground")]
    pub foreground: String,
    #[serde(default = "default_background")]
    pub background: String,
    #[serde(default)]
    pub format: Format,
}

fn default_size() -> i64 {
    512
}

fn default_error_correction() -> ErrorCorrection {
    ErrorCorrection::M
}

fn default_margin() -> i64 {
    4
}

fn default_foreground() -> String {
    "#000000".to_owned()
}

fn default_background() -> String {
    "#ffffff".to_owned()
}

pub fn spec() -> ModelSpec {
    ModelSpec {
        service: SERVICE.to_owned(),
        model: MODEL.to_owned(),
        aliases: Vec::new(),
        modality: Modality::Image,
        title: "QR code".to_owned(),
        description: "A QR code of the given text, as a PNG exactly size×size pixels or as an SVG. Runs offline; \
                      the same input always gives the same bytes."
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
        "title": "local/qr input",
        "additionalProperties": false,
        "required": ["text"],
        "properties": {
            "text": {
                "type": "string",
                "minLength": 1,
                "maxLength": MAX_TEXT_BYTES,
                "description": "The text to encode: 1 to 2953 bytes of UTF-8. Less fits at higher error correction levels (M 2331, Q 1663, H 1273 bytes of arbitrary text)."
            },
            "size": {
                "type": "integer", "minimum": MIN_SIZE, "maximum": MAX_SIZE, "default": 512,
                "description": "Width and height of the image in pixels; it must leave at least one pixel per module."
            },
            "error_correction": {
                "type": "string", "enum": ["L", "M", "Q", "H"], "default": "M",
                "description": "Error correction level: about 7%, 15%, 25% or 30% of the code can be damaged."
            },
            "margin": {
                "type": "integer", "minimum": 0, "maximum": MAX_MARGIN, "default": 4,
                "description": "Quiet zone around the code, in modules."
            },
            "foreground": {
                "type": "string", "pattern": "^#[0-9A-Fa-f]{6}$", "default": "#000000",
                "description": "Colour of the dark modules, #RRGGBB."
            },
            "background": {
                "type": "string", "pattern": "^#[0-9A-Fa-f]{6}$", "default": "#ffffff",
                "description": "Colour of the light modules and quiet zone, #RRGGBB; it must contrast with the foreground (at least 3:1)."
            },
            "format": {
                "type": "string", "enum": ["png", "svg"], "default": "png",
                "description": "png (image/png) or svg (image/svg+xml)."
            }
        }
    })
}

fn parse_hex(field: &str, value: &str) -> Result<[u8; 3], CoreError> {
    let bad = || CoreError::invalid(field, format!("must be a colour written #RRGGBB, got {value:?}"));
    let hex = value.strip_prefix('#').ok_or_else(bad)?;
    if hex.len() != 6 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad());
    }
    let channel = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).map_err(|_| bad());
    Ok([channel(0)?, channel(2)?, channel(4)?])
}

fn relative_luminance(color: [u8; 3]) -> f64 {
    let linear = |c: u8| {
        let c = f64::from(c) / 255.0;
        if c <= 0.039_28 { c / 12.92 } else { ((c + 0.055) / 1.055).powf(2.4) }
    };
    0.2126 * linear(color[0]) + 0.7152 * linear(color[1]) + 0.0722 * linear(color[2])
}

fn contrast_ratio(a: [u8; 3], b: [u8; 3]) -> f64 {
    let (la, lb) = (relative_luminance(a), relative_luminance(b));
    (la.max(lb) + 0.05) / (la.min(lb) + 0.05)
}

fn hex(color: [u8; 3]) -> String {
    format!("#{:02x}{:02x}{:02x}", color[0], color[1], color[2])
}

fn encode(params: &QrParams) -> Result<QrCode, CoreError> {
    let level = params.error_correction;
    QrCode::with_error_correction_level(params.text.as_bytes(), level.level()).map_err(|_| {
        CoreError::invalid(
            "text",
            format!(
                "is too long for a QR code at error correction level {level:?} ({} bytes; at most {} bytes of \
                 arbitrary text fit, more for digits only)",
                params.text.len(),
                level.max_bytes()
            ),
        )
    })
}

/// Parses and normalises an input, checking that the text fits a QR code at the
/// chosen level and that the code fits the size.
pub fn parse(input: &Value) -> Result<QrParams, CoreError> {
    let mut params: QrParams = parse_params(input)?;
    if params.text.is_empty() {
        return Err(CoreError::invalid("text", "must not be empty"));
    }
    if params.text.len() > MAX_TEXT_BYTES {
        return Err(CoreError::invalid(
            "text",
            format!("must be at most {MAX_TEXT_BYTES} bytes, got {}", params.text.len()),
        ));
    }
    check_range("size", params.size, MIN_SIZE, MAX_SIZE)?;
    check_range("margin", params.margin, 0, MAX_MARGIN)?;
    let foreground = parse_hex("foreground", &params.foreground)?;
    let background = parse_hex("background", &params.background)?;
    if foreground == background {
        return Err(CoreError::invalid("foreground", "must differ from background"));
    }
    let ratio = contrast_ratio(foreground, background);
    if ratio < MIN_CONTRAST {
        return Err(CoreError::invalid(
            "foreground",
            format!("contrasts too little with background ({ratio:.2}:1; scanners need at least {MIN_CONTRAST}:1)"),
        ));
    }
    params.foreground = hex(foreground);
    params.background = hex(background);
    let code = encode(&params)?;
    let modules = code.width() as i64 + 2 * params.margin;
    if params.format == Format::Png && modules > params.size {
        return Err(CoreError::invalid(
            "size",
            format!("must be at least {modules} pixels for this text and margin (one pixel per module)"),
        ));
    }
    Ok(params)
}

pub fn validate(input: &Value) -> Result<Value, CoreError> {
    to_json(&parse(input)?)
}

fn failed(error: CoreError) -> ProviderError {
    ProviderError::new(ErrorClass::ClientError, error.to_string())
}

/// Renders a parsed input.
pub fn render(params: &QrParams) -> Result<Output, ProviderError> {
    let code = encode(params).map_err(failed)?;
    let foreground = parse_hex("foreground", &params.foreground).map_err(failed)?;
    let background = parse_hex("background", &params.background).map_err(failed)?;
    let size = params.size.clamp(MIN_SIZE, MAX_SIZE) as u32;
    let margin = params.margin.clamp(0, MAX_MARGIN) as usize;
    let input = to_json(params).map_err(failed)?;
    let parameters = output_parameters(MODEL, &input, 0);
    match params.format {
        Format::Png => {
            let pixels = render_pixels(&code, size, margin, foreground, background).map_err(failed)?;
            let bytes = encode_png_rgb(size, size, &pixels)?;
            Ok(png_output(size, size, bytes, parameters))
        }
        Format::Svg => {
            let svg = render_svg(&code, size, margin, &params.foreground, &params.background);
            Ok(Output::new(svg, "image/svg+xml").with_size(size, size).with_parameters(Some(parameters)))
        }
    }
}

/// RGB pixels of a `size`×`size` image with the code centred at an integer scale.
fn render_pixels(
    code: &QrCode,
    size: u32,
    margin: usize,
    foreground: [u8; 3],
    background: [u8; 3],
) -> Result<Vec<u8>, CoreError> {
    let width = code.width();
    let colors = code.to_colors();
    let size = size as usize;
    let modules = width + 2 * margin;
    let scale = size / modules;
    if scale == 0 {
        return Err(CoreError::invalid("size", format!("must be at least {modules} pixels")));
    }
    let offset = (size - modules * scale) / 2 + margin * scale;
    let mut pixels: Vec<u8> = background.iter().copied().cycle().take(size * size * 3).collect();
    let mut row = vec![0u8; width * scale * 3];
    for (y, line) in colors.chunks_exact(width).enumerate() {
        for (x, color) in line.iter().enumerate() {
            let rgb = if *color == Color::Dark { foreground } else { background };
            for pixel in row[x * scale * 3..(x + 1) * scale * 3].chunks_exact_mut(3) {
                pixel.copy_from_slice(&rgb);
            }
        }
        for dy in 0..scale {
            let start = ((offset + y * scale + dy) * size + offset) * 3;
            pixels[start..start + row.len()].copy_from_slice(&row);
        }
    }
    Ok(pixels)
}

/// An SVG with one user unit per module; dark modules merged into horizontal runs.
fn render_svg(code: &QrCode, size: u32, margin: usize, foreground: &str, background: &str) -> String {
    use std::fmt::Write as _;
    let width = code.width();
    let modules = width + 2 * margin;
    let mut path = String::new();
    for (y, line) in code.to_colors().chunks_exact(width).enumerate() {
        let mut x = 0;
        while x < width {
            if line[x] != Color::Dark {
                x += 1;
                continue;
            }
            let start = x;
            while x < width && line[x] == Color::Dark {
                x += 1;
            }
            let _ = write!(path, "M{} {}h{}v1h-{}z", start + margin, y + margin, x - start, x - start);
        }
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" \
         width=\"{size}\" height=\"{size}\" viewBox=\"0 0 {modules} {modules}\" shape-rendering=\"crispEdges\">\
         <rect width=\"{modules}\" height=\"{modules}\" fill=\"{background}\"/>\
         <path fill=\"{foreground}\" d=\"{path}\"/></svg>\n"
    )
}

/// `local/qr`.
pub struct Qr;

impl Named for Qr {
    fn name(&self) -> &str {
        MODEL
    }
}

#[async_trait]
impl LocalEngine for Qr {
    fn spec(&self) -> ModelSpec {
        spec()
    }

    fn validate(&self, input: &Value) -> Result<Value, CoreError> {
        validate(input)
    }

    async fn run(&self, job: &Job<'_>) -> Result<Vec<Output>, ProviderError> {
        let params = parse(job.input).map_err(super::rejected)?;
        let progress = job.progress.clone();
        super::run_blocking(MODEL, move || {
            let output = render(&params)?;
            super::set_progress(&progress, 1, 1);
            Ok(vec![output])
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kit::schema::{check_schema_matches, error_field};

    fn render_input(input: Value) -> Output {
        render(&parse(&input).expect("valid input")).expect("rendered")
    }

    fn scan(output: &Output) -> String {
        let image = image::load_from_memory_with_format(output.bytes().expect("in memory"), image::ImageFormat::Png)
            .expect("a PNG")
            .to_luma8();
        let mut prepared = rqrr::PreparedImage::prepare(image);
        let grids = prepared.detect_grids();
        assert_eq!(grids.len(), 1, "one QR code");
        let (_, content) = grids[0].decode().expect("decodes");
        content
    }

    #[test]
    fn schema_matches_the_struct() {
        check_schema_matches(&spec().input_schema, validate, &json!({ "text": "hello" }));
    }

    #[test]
    fn text_round_trips_at_every_level() {
        let text = "https://example.com/atelier?q=qr&n=42 — ünïcødé 你好";
        for level in ["L", "M", "Q", "H"] {
            let output = render_input(json!({ "text": text, "size": 300, "error_correction": level }));
            assert_eq!(output.mime, "image/png");
            assert_eq!((output.width, output.height), (Some(300), Some(300)));
            assert_eq!(scan(&output), text, "level {level}");
        }
    }

    #[test]
    fn colours_and_margins_still_scan_and_size_is_exact() {
        let output = render_input(json!({
            "text": "colour", "size": 257, "margin": 1, "foreground": "#1A237E", "background": "#FFF8E1"
        }));
        let image = image::load_from_memory(output.bytes().expect("in memory")).expect("PNG").to_rgb8();
        assert_eq!(image.dimensions(), (257, 257));
        assert_eq!(image.get_pixel(0, 0).0, [0xff, 0xf8, 0xe1]);
        assert_eq!(scan(&output), "colour");
        let normalised = validate(&json!({ "text": "x", "foreground": "#1A237E" })).expect("valid");
        assert_eq!(normalised["foreground"], "#1a237e");
    }

    #[test]
    fn svg_output() {
        let output = render_input(json!({ "text": "vector", "format": "svg", "size": 200 }));
        assert_eq!(output.mime, "image/svg+xml");
        assert_eq!((output.width, output.height), (Some(200), Some(200)));
        let svg = std::str::from_utf8(output.bytes().expect("in memory")).expect("UTF-8");
        assert!(svg.contains("<svg"));
        assert!(svg.contains("width=\"200\""));
        assert!(svg.contains("fill=\"#000000\""));
    }

    #[test]
    fn rendering_is_deterministic() {
        let input = json!({ "text": "same", "size": 128 });
        assert_eq!(render_input(input.clone()).bytes(), render_input(input).bytes());
    }

    #[test]
    fn bad_inputs_name_the_field() {
        let long_h = "x".repeat(1300);
        let cases = [
            (json!({ "text": "" }), "text"),
            (json!({ "text": "x".repeat(2954) }), "text"),
            (json!({ "text": long_h, "error_correction": "H" }), "text"),
            (json!({ "text": "x", "size": 63 }), "size"),
            (json!({ "text": "x", "size": 2049 }), "size"),
            (json!({ "text": "x".repeat(1000), "size": 64 }), "size"),
            (json!({ "text": "x", "margin": 17 }), "margin"),
            (json!({ "text": "x", "error_correction": "m" }), "error_correction"),
            (json!({ "text": "x", "format": "gif" }), "format"),
            (json!({ "text": "x", "foreground": "black" }), "foreground"),
            (json!({ "text": "x", "foreground": "#12345" }), "foreground"),
            (json!({ "text": "x", "background": "#gggggg" }), "background"),
            (json!({ "text": "x", "foreground": "#ffffff" }), "foreground"),
            (json!({ "text": "x", "foreground": "#777777", "background": "#888888" }), "foreground"),
            (json!({ "text": "x", "colour": "red" }), "colour"),
        ];
        for (input, field) in cases {
            let error = validate(&input).expect_err("invalid");
            assert_eq!(error_field(&error), field, "{input}");
        }
        assert!(validate(&json!({ "text": "x".repeat(2953), "error_correction": "L", "size": 2048 })).is_ok());
        // An SVG scales freely, so a small size is fine.
        assert!(validate(&json!({ "text": "x".repeat(1000), "size": 64, "format": "svg" })).is_ok());
    }
}
