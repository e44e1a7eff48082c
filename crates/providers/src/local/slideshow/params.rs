//! The slideshow's input: its typed params, the checks, the normalisation (every
//! default filled in, the length stated three ways that agree) and the JSON Schema
//! that says the same.
//!
//! The length: a video is `frames` frames at `fps`; each image has an equal share
//! of it (`seconds_per_image`), cross-fades centred on the cuts, so the whole lasts
//! `duration` = images × seconds_per_image. Any one of the three may be given (or
//! none: 3 s an image); the normalised input states all three, so several are
//! accepted together when they agree to within half a frame, and refused, naming
//! the field, when they do not. With `length_from: soundtrack` the length is the
//! soundtrack's, known only when it is read: the three are then left out.

use atelier_core::CoreError;
use atelier_core::ports::InputRef;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::super::{canonical_json, check_range, parse_params, sha256};
use crate::kit::fields::max_chars;

pub const MAX_IMAGES: usize = 50;
pub const MAX_CAPTION_CHARS: usize = 200;
/// The longest video, in seconds and in frames (600 s at 30 fps; 300 s at 60).
pub const MAX_SECONDS: f64 = 600.0;
pub const MAX_FRAMES: i64 = 18_000;
/// The shortest share of an image, and the shortest video, in seconds.
pub const MIN_SECONDS: f64 = 0.1;
pub const DEFAULT_SECONDS_PER_IMAGE: f64 = 3.0;
pub const DEFAULT_TRANSITION: f64 = 0.5;
pub const MIN_SIDE: i64 = 64;
pub const MAX_SIDE: i64 = 1920;
pub const MAX_FPS: i64 = 60;
pub const MIN_KBPS: i64 = 100;
pub const MAX_KBPS: i64 = 50_000;
pub const DEFAULT_CRF: i64 = 23;
pub const MAX_CRF: i64 = 51;

pub const MOTIONS: [&str; 5] = ["ken_burns", "zoom_in", "zoom_out", "pan", "none"];
pub const FITS: [&str; 2] = ["cover", "contain"];
pub const BACKGROUNDS: [&str; 3] = ["blur", "black", "white"];
/// x264's presets, fastest first.
pub const PRESETS: [&str; 9] =
    ["ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow"];
/// `veryfast`, not x264's own `medium`: see [`default_preset`].
pub const DEFAULT_PRESET: &str = "veryfast";
pub const LENGTH_FROM: [&str; 2] = ["images", "soundtrack"];

/// The input of `local/slideshow`. After `parse` every field is checked and
/// filled (the length's three fields too, unless `length_from` is `soundtrack`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlideshowParams {
    pub images: Vec<String>,
    #[serde(default)]
    pub captions: Vec<String>,
    #[serde(default)]
    pub seconds_per_image: Option<f64>,
    #[serde(default)]
    pub duration: Option<f64>,
    #[serde(default)]
    pub frames: Option<i64>,
    #[serde(default = "default_fps")]
    pub fps: i64,
    /// `None` when absent: 0.5 s, or a quarter of an image's share when shorter.
    #[serde(default)]
    pub transition: Option<f64>,
    #[serde(default = "default_motion")]
    pub motion: String,
    #[serde(default)]
    pub seed: Option<i64>,
    #[serde(default = "default_width")]
    pub width: i64,
    #[serde(default = "default_height")]
    pub height: i64,
    #[serde(default = "default_fit")]
    pub fit: String,
    #[serde(default = "default_background")]
    pub background: String,
    /// kbps as an integer, or a text such as `"2M"`; normalised to kbps.
    #[serde(default)]
    pub bitrate: Option<Value>,
    /// `None` when absent: 23 without a bitrate.
    #[serde(default)]
    pub crf: Option<i64>,
    #[serde(default = "default_preset")]
    pub preset: String,
    #[serde(default)]
    pub soundtrack: Option<String>,
    #[serde(default = "default_length_from")]
    pub length_from: String,
}

fn default_fps() -> i64 {
    30
}

fn default_motion() -> String {
    "ken_burns".into()
}

fn default_width() -> i64 {
    1280
}

fn default_height() -> i64 {
    720
}

fn default_fit() -> String {
    "cover".into()
}

fn default_background() -> String {
    "blur".into()
}

/// `veryfast` rather than x264's `medium`: this engine shares the server's CPU with
/// every other task, and a slideshow (still pictures, slow zooms, fades) is the
/// easy case for x264, where the slower presets' finer motion search buys little.
/// Measured on three photographs, 1280×720, 10 s at 30 fps, two cores: `veryfast`
/// encoded in about 4 s and `medium` in about 9.5 s; at equal quality (SSIM
/// 0.9875 against a lossless encode: `veryfast` at CRF 21, `medium` at 25) the
/// `medium` file was 12% smaller. Whoever wants that asks for `medium` or slower.
fn default_preset() -> String {
    DEFAULT_PRESET.into()
}

fn default_length_from() -> String {
    "images".into()
}

/// Whether the video's length follows the soundtrack's.
pub fn length_from_soundtrack(params: &SlideshowParams) -> bool {
    params.length_from == "soundtrack"
}

/// Parses and normalises an input. Parsing a normalised input gives it back unchanged.
pub fn parse(input: &Value) -> Result<SlideshowParams, CoreError> {
    let mut params: SlideshowParams = parse_params(input)?;
    params.images = params.images.iter().map(|image| image.trim().to_owned()).collect();
    check_images(&params.images)?;
    params.captions = check_captions(&params.captions, params.images.len())?;
    check_range("fps", params.fps, 1, MAX_FPS)?;
    check_side("width", params.width)?;
    check_side("height", params.height)?;
    one_of("motion", &params.motion, &MOTIONS)?;
    one_of("fit", &params.fit, &FITS)?;
    one_of("background", &params.background, &BACKGROUNDS)?;
    one_of("preset", &params.preset, &PRESETS)?;
    one_of("length_from", &params.length_from, &LENGTH_FROM)?;
    if let Some(soundtrack) = &params.soundtrack {
        let trimmed = soundtrack.trim().to_owned();
        InputRef::parse(&trimmed).map_err(|reason| CoreError::invalid("soundtrack", reason))?;
        params.soundtrack = Some(trimmed);
    }
    normalise_rate(&mut params)?;
    normalise_length(&mut params)?;
    if let Some(seed) = params.seed {
        check_range("seed", seed, 0, i64::from(u32::MAX))?;
    } else {
        // Derived from the pictures alone: the same pictures move the same way
        // whatever the length, size or encoding asked.
        let digest = sha256(canonical_json(&json!(params.images)).as_bytes());
        params.seed = Some(i64::from(u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])));
    }
    Ok(params)
}

fn check_images(images: &[String]) -> Result<(), CoreError> {
    if images.is_empty() {
        return Err(CoreError::invalid("images", "name at least one image"));
    }
    if images.len() > MAX_IMAGES {
        return Err(CoreError::invalid("images", format!("at most {MAX_IMAGES} images, got {}", images.len())));
    }
    for (i, image) in images.iter().enumerate() {
        InputRef::parse(image).map_err(|reason| CoreError::invalid(&format!("images[{i}]"), reason))?;
    }
    Ok(())
}

/// Trimmed, at most one per image; an empty one leaves its image without.
fn check_captions(captions: &[String], images: usize) -> Result<Vec<String>, CoreError> {
    if captions.len() > images {
        return Err(CoreError::invalid(
            "captions",
            format!("{} captions for {images} images: at most one per image", captions.len()),
        ));
    }
    captions
        .iter()
        .enumerate()
        .map(|(i, caption)| {
            let caption = caption.trim().to_owned();
            max_chars(&format!("captions[{i}]"), &caption, MAX_CAPTION_CHARS)?;
            Ok(caption)
        })
        .collect()
}

fn check_side(field: &str, value: i64) -> Result<(), CoreError> {
    check_range(field, value, MIN_SIDE, MAX_SIDE)?;
    if value % 2 != 0 {
        return Err(CoreError::invalid(field, format!("must be even (H.264 in yuv420p halves it), got {value}")));
    }
    Ok(())
}

fn one_of(field: &str, value: &str, allowed: &[&str]) -> Result<(), CoreError> {
    if allowed.contains(&value) {
        Ok(())
    } else {
        Err(CoreError::invalid(field, format!("must be one of {}, got {value:?}", allowed.join(", "))))
    }
}

/// `bitrate` to kbps, or `crf` (23 by default): x264 aims at a size or a quality.
fn normalise_rate(params: &mut SlideshowParams) -> Result<(), CoreError> {
    let kbps = match params.bitrate.take() {
        None | Some(Value::Null) => None,
        Some(value) => Some(parse_bitrate(&value)?),
    };
    params.bitrate = kbps.map(Value::from);
    match (kbps, params.crf) {
        (Some(_), Some(_)) => Err(CoreError::invalid("crf", "give crf (a quality) or bitrate (a size), not both")),
        (Some(_), None) => Ok(()),
        (None, crf) => {
            let crf = crf.unwrap_or(DEFAULT_CRF);
            check_range("crf", crf, 0, MAX_CRF)?;
            params.crf = Some(crf);
            Ok(())
        }
    }
}

/// kbps from `2500`, `"2500"`, `"800k"`, `"2.5M"`, `"2Mbps"` (any case).
pub fn parse_bitrate(value: &Value) -> Result<i64, CoreError> {
    let invalid =
        || CoreError::invalid("bitrate", "must be kbps as an integer (2500) or a text such as \"800k\" or \"2.5M\"");
    let kbps = match value {
        Value::Number(number) => number.as_i64().ok_or_else(invalid)?,
        Value::String(text) => {
            let lower = text.trim().to_ascii_lowercase();
            let lower = lower.strip_suffix("bps").unwrap_or(&lower).trim_end();
            let (number, factor) = match lower.strip_suffix('m') {
                Some(number) => (number, 1000.0),
                None => (lower.strip_suffix('k').unwrap_or(lower), 1.0),
            };
            let number: f64 = number.trim().parse().map_err(|_| invalid())?;
            let kbps = (number * factor).round();
            if !kbps.is_finite() || kbps.abs() > 1e12 {
                return Err(invalid());
            }
            kbps as i64
        }
        _ => return Err(invalid()),
    };
    check_range("bitrate", kbps, MIN_KBPS, MAX_KBPS)?;
    Ok(kbps)
}

/// Rounds seconds to microseconds, so a stored length reads cleanly and parses back
/// to the same frame count.
fn micro(seconds: f64) -> f64 {
    (seconds * 1e6).round() / 1e6
}

fn check_seconds(field: &str, value: Option<f64>) -> Result<(), CoreError> {
    match value {
        Some(seconds) if !seconds.is_finite() || !(MIN_SECONDS..=MAX_SECONDS).contains(&seconds) => {
            Err(CoreError::invalid(
                field,
                format!("must be between {MIN_SECONDS} and {MAX_SECONDS} seconds, got {seconds}"),
            ))
        }
        _ => Ok(()),
    }
}

/// The three ways of saying the length, made one, and the transition's default.
fn normalise_length(params: &mut SlideshowParams) -> Result<(), CoreError> {
    check_seconds("seconds_per_image", params.seconds_per_image)?;
    check_seconds("duration", params.duration)?;
    if let Some(frames) = params.frames {
        check_range("frames", frames, 1, MAX_FRAMES)?;
    }
    if let Some(transition) = params.transition
        && (!transition.is_finite() || transition < 0.0)
    {
        return Err(CoreError::invalid("transition", "must be 0 (cuts) or more seconds"));
    }
    if length_from_soundtrack(params) {
        if params.soundtrack.is_none() {
            return Err(CoreError::invalid("soundtrack", "is required when length_from is soundtrack"));
        }
        for (field, given) in [
            ("seconds_per_image", params.seconds_per_image.is_some()),
            ("duration", params.duration.is_some()),
            ("frames", params.frames.is_some()),
        ] {
            if given {
                return Err(CoreError::invalid(
                    field,
                    "the length follows the soundtrack (length_from is soundtrack): leave seconds_per_image, \
                     duration and frames out",
                ));
            }
        }
        // Checked against the images' shares once the soundtrack's length is known.
        params.transition = Some(params.transition.unwrap_or(DEFAULT_TRANSITION));
        return Ok(());
    }

    let images = params.images.len() as f64;
    let fps = params.fps as f64;
    let (frames, from) = match (params.frames, params.duration, params.seconds_per_image) {
        (Some(frames), _, _) => (frames, "frames"),
        (None, Some(duration), _) => ((duration * fps).round() as i64, "duration"),
        (None, None, per_image) => {
            ((per_image.unwrap_or(DEFAULT_SECONDS_PER_IMAGE) * images * fps).round() as i64, "seconds_per_image")
        }
    };
    // What was also given must say the same, to within half a frame.
    let agrees = |seconds: f64| (seconds * fps - frames as f64).abs() <= 0.5 + 1e-6;
    if let (Some(duration), "frames") = (params.duration, from)
        && !agrees(duration)
    {
        return Err(CoreError::invalid(
            "duration",
            format!(
                "{duration} s at {fps} fps is {} frames, not the {frames} frames asked: give one of duration, \
                 frames or seconds_per_image",
                (duration * fps).round()
            ),
        ));
    }
    if let Some(per_image) = params.seconds_per_image
        && from != "seconds_per_image"
        && !agrees(per_image * images)
    {
        return Err(CoreError::invalid(
            "seconds_per_image",
            format!(
                "{per_image} s for each of {images} images is {} s, but the {from} asked make {} s: give one of \
                 duration, frames or seconds_per_image",
                micro(per_image * images),
                micro(frames as f64 / fps)
            ),
        ));
    }
    if frames > MAX_FRAMES || frames as f64 / fps > MAX_SECONDS + 1e-9 {
        return Err(CoreError::invalid(
            from,
            format!(
                "the video would be {frames} frames ({} s at {fps} fps): at most {MAX_FRAMES} frames and \
                 {MAX_SECONDS} s",
                micro(frames as f64 / fps)
            ),
        ));
    }
    if frames < params.images.len() as i64 {
        return Err(CoreError::invalid(
            from,
            format!("{frames} frames for {images} images: each image needs at least one frame"),
        ));
    }
    let per_image = frames as f64 / fps / images;
    params.frames = Some(frames);
    params.duration = Some(micro(frames as f64 / fps));
    params.seconds_per_image = Some(micro(per_image));
    params.transition = Some(match params.transition {
        Some(transition) if transition > per_image / 2.0 + 1e-9 => {
            return Err(CoreError::invalid(
                "transition",
                format!(
                    "{transition} s is more than half of each image's {} s: at most {} s, or 0 for cuts",
                    micro(per_image),
                    micro(per_image / 2.0)
                ),
            ));
        }
        Some(transition) => transition,
        // A quarter of a short share, in whole milliseconds.
        None => DEFAULT_TRANSITION.min((per_image / 4.0 * 1000.0).floor() / 1000.0),
    });
    Ok(())
}

/// The JSON Schema of the input; it says what [`parse`] does.
pub fn input_schema() -> Value {
    json!({
        "type": "object",
        "title": "local/slideshow input",
        "additionalProperties": false,
        "required": ["images"],
        "properties": {
            "images": {
                "type": "array",
                "minItems": 1,
                "maxItems": MAX_IMAGES,
                "items": { "type": "string", "minLength": 1 },
                "description": "The pictures, in order: upload ids (upl_…), output ids (img_…), task:<id>, http(s) URLs or data: URIs (PNG, JPEG or WebP; EXIF orientation applied)",
            },
            "captions": {
                "type": "array",
                "maxItems": MAX_IMAGES,
                "items": { "type": "string", "maxLength": MAX_CAPTION_CHARS },
                "default": [],
                "description": "A caption per image, drawn as a lower third with the system fonts (wrapped, at most 3 lines; a line break starts a new line). Fewer captions than images, or an empty one, leave images without",
            },
            "seconds_per_image": {
                "type": ["number", "null"],
                "minimum": MIN_SECONDS,
                "maximum": MAX_SECONDS,
                "default": DEFAULT_SECONDS_PER_IMAGE,
                "description": "Each image's share of the video. Give this, duration or frames (several only when they agree); filled in from the others",
            },
            "duration": {
                "type": ["number", "null"],
                "minimum": MIN_SECONDS,
                "maximum": MAX_SECONDS,
                "default": null,
                "description": "The whole video's length in seconds (images × seconds_per_image); filled in",
            },
            "frames": {
                "type": ["integer", "null"],
                "minimum": 1,
                "maximum": MAX_FRAMES,
                "default": null,
                "description": "The whole video's frame count (duration × fps), at least one per image; filled in",
            },
            "fps": { "type": "integer", "minimum": 1, "maximum": MAX_FPS, "default": 30, "description": "Frames per second" },
            "transition": {
                "type": "number",
                "minimum": 0,
                "default": DEFAULT_TRANSITION,
                "description": "Cross-fade seconds, centred on each cut (0: cuts); at most half of seconds_per_image. When absent, 0.5 or a quarter of seconds_per_image if that is shorter",
            },
            "motion": {
                "type": "string",
                "enum": MOTIONS,
                "default": "ken_burns",
                "description": "ken_burns: gentle zooms, in and out by turns, drifting towards a point chosen from the seed; zoom_in, zoom_out: to or from the centre; pan: across the picture's longer free side (a portrait photo top to bottom); none: still",
            },
            "seed": {
                "type": ["integer", "null"],
                "minimum": 0,
                "maximum": u32::MAX,
                "default": null,
                "description": "Chooses the Ken Burns moves. When null, derived from the images (the same pictures move the same way whatever the length, size or encoding) and stored",
            },
            "width": { "type": "integer", "minimum": MIN_SIDE, "maximum": MAX_SIDE, "multipleOf": 2, "default": 1280, "description": "Width in pixels (even)" },
            "height": { "type": "integer", "minimum": MIN_SIDE, "maximum": MAX_SIDE, "multipleOf": 2, "default": 720, "description": "Height in pixels (even)" },
            "fit": {
                "type": "string",
                "enum": FITS,
                "default": "cover",
                "description": "cover: the picture fills the frame, cropped; contain: the whole picture, on the background",
            },
            "background": {
                "type": "string",
                "enum": BACKGROUNDS,
                "default": "blur",
                "description": "What shows where the picture does not (contain's bars, transparent pixels): the picture itself blurred and darkened, black or white",
            },
            "bitrate": {
                "type": ["integer", "string", "null"],
                "minimum": MIN_KBPS,
                "maximum": MAX_KBPS,
                "default": null,
                "description": "Video bitrate in kbps (2500), or a text (\"800k\", \"2.5M\"); stored as kbps. When null, crf sets the quality instead",
            },
            "crf": {
                "type": ["integer", "null"],
                "minimum": 0,
                "maximum": MAX_CRF,
                "default": DEFAULT_CRF,
                "description": "x264's constant quality (lower is better and larger; 18 looks lossless, 28 is small) when no bitrate is given; null with a bitrate",
            },
            "preset": {
                "type": "string",
                "enum": PRESETS,
                "default": DEFAULT_PRESET,
                "description": "x264's speed against size: slower presets make smaller files at the same quality, for more time",
            },
            "soundtrack": {
                "type": ["string", "null"],
                "default": null,
                "description": "An audio file (upl_…, an output such as local/speech's, task:<id>, a URL or a data: URI): WAV, MP3, Ogg, FLAC, AAC/M4A, WebM. Muxed as AAC; with length_from images it is cut to the video with a fade-out (1 s, or a quarter of the video if shorter) or followed by silence",
            },
            "length_from": {
                "type": "string",
                "enum": LENGTH_FROM,
                "default": "images",
                "description": "images: the length is seconds_per_image, duration or frames; soundtrack: the video lasts as long as the soundtrack (at most 600 s), the images sharing it equally",
            },
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kit::schema::{check_schema_matches, error_field};
    use crate::local::to_json;

    const A: &str = "https://example.com/a.png";
    const B: &str = "https://example.com/b.jpg";

    fn valid(input: Value) -> Value {
        to_json(&parse(&input).unwrap_or_else(|error| panic!("{input}: {error}"))).expect("json")
    }

    fn refused(input: Value) -> String {
        let error = parse(&input).expect_err(&format!("{input} refused"));
        error_field(&error)
    }

    #[test]
    fn every_default_is_filled_in() {
        let done = valid(json!({ "images": [A] }));
        let seed = done["seed"].as_i64().expect("a seed");
        assert_eq!(
            done,
            json!({
                "images": [A], "captions": [], "seconds_per_image": 3.0, "duration": 3.0, "frames": 90,
                "fps": 30, "transition": 0.5, "motion": "ken_burns", "seed": seed, "width": 1280, "height": 720,
                "fit": "cover", "background": "blur", "bitrate": null, "crf": 23, "preset": "veryfast",
                "soundtrack": null, "length_from": "images",
            })
        );
        assert_eq!(valid(done.clone()), done, "idempotent");
        assert_eq!(valid(json!({ "images": [A] }))["seed"], seed, "the derived seed is stable");
        assert_ne!(valid(json!({ "images": [B] }))["seed"], seed, "and follows the pictures");
        assert_eq!(valid(json!({ "images": [A], "preset": "slow", "duration": 9 }))["seed"], seed, "and them alone");
    }

    #[test]
    fn the_length_is_said_three_ways_that_agree() {
        let by_duration = valid(json!({ "images": [A, B], "duration": 10, "fps": 24 }));
        assert_eq!(
            (&by_duration["frames"], &by_duration["seconds_per_image"], &by_duration["duration"]),
            (&json!(240), &json!(5.0), &json!(10.0))
        );
        let by_frames = valid(json!({ "images": [A, B, A], "frames": 100 }));
        assert_eq!(by_frames["duration"], json!(3.333333));
        assert_eq!(by_frames["seconds_per_image"], json!(1.111111));
        assert_eq!(valid(by_frames.clone()), by_frames, "a normalised length parses back to itself");
        let by_share = valid(json!({ "images": [A, B], "seconds_per_image": 1.5, "fps": 10 }));
        assert_eq!(by_share["frames"], 30);
        // Several, when they agree.
        assert!(parse(&json!({ "images": [A, B], "duration": 3, "frames": 90, "seconds_per_image": 1.5 })).is_ok());
        // A short share gets a shorter default cross-fade.
        assert_eq!(valid(json!({ "images": [A, B], "duration": 1 }))["transition"], json!(0.125));
        assert_eq!(valid(json!({ "images": [A], "transition": 0 }))["transition"], json!(0.0));
    }

    #[test]
    fn contradictions_and_limits_name_the_field() {
        for (input, field) in [
            (json!({}), "images"),
            (json!({ "images": [] }), "images"),
            (json!({ "images": vec![A; 51] }), "images"),
            (json!({ "images": [A, "nonsense"] }), "images[1]"),
            (json!({ "images": A }), "images"),
            (json!({ "images": [A], "captions": ["a", "b"] }), "captions"),
            (json!({ "images": [A, B], "captions": ["ok", "x".repeat(201)] }), "captions[1]"),
            (json!({ "images": [A], "duration": 10, "frames": 200 }), "duration"),
            (json!({ "images": [A, B], "duration": 10, "seconds_per_image": 3 }), "seconds_per_image"),
            (json!({ "images": [A, B], "frames": 90, "seconds_per_image": 2 }), "seconds_per_image"),
            (json!({ "images": [A], "duration": 601 }), "duration"),
            (json!({ "images": [A], "duration": 0.05 }), "duration"),
            (json!({ "images": [A], "seconds_per_image": 0 }), "seconds_per_image"),
            (json!({ "images": [A, B], "seconds_per_image": 400 }), "seconds_per_image"),
            (json!({ "images": [A], "fps": 60, "duration": 400 }), "duration"),
            (json!({ "images": [A, B, A], "frames": 2 }), "frames"),
            (json!({ "images": [A], "frames": 18_001 }), "frames"),
            (json!({ "images": [A], "fps": 0 }), "fps"),
            (json!({ "images": [A], "fps": 61 }), "fps"),
            (json!({ "images": [A], "fps": 29.97 }), "fps"),
            (json!({ "images": [A], "transition": 2 }), "transition"),
            (json!({ "images": [A], "transition": -1 }), "transition"),
            (json!({ "images": [A], "motion": "spin" }), "motion"),
            (json!({ "images": [A], "width": 641 }), "width"),
            (json!({ "images": [A], "height": 2000 }), "height"),
            (json!({ "images": [A], "fit": "stretch" }), "fit"),
            (json!({ "images": [A], "background": "red" }), "background"),
            (json!({ "images": [A], "bitrate": 50 }), "bitrate"),
            (json!({ "images": [A], "bitrate": "fast" }), "bitrate"),
            (json!({ "images": [A], "bitrate": 2.5 }), "bitrate"),
            (json!({ "images": [A], "bitrate": "2M", "crf": 20 }), "crf"),
            (json!({ "images": [A], "crf": 52 }), "crf"),
            (json!({ "images": [A], "preset": "placebo" }), "preset"),
            (json!({ "images": [A], "soundtrack": "/etc/passwd" }), "soundtrack"),
            (json!({ "images": [A], "length_from": "soundtrack" }), "soundtrack"),
            (json!({ "images": [A], "length_from": "soundtrack", "soundtrack": B, "frames": 10 }), "frames"),
            (json!({ "images": [A], "seed": -1 }), "seed"),
            (json!({ "images": [A], "volume": 1 }), "volume"),
        ] {
            assert_eq!(refused(input.clone()), field, "{input}");
        }
    }

    #[test]
    fn rates_are_kbps_or_a_quality() {
        for (given, kbps) in [
            (json!(2500), 2500),
            (json!("2500"), 2500),
            (json!("800k"), 800),
            (json!("2.5M"), 2500),
            (json!("2Mbps"), 2000),
            (json!(" 1.2 m "), 1200),
        ] {
            let done = valid(json!({ "images": [A], "bitrate": given }));
            assert_eq!((done["bitrate"].as_i64(), &done["crf"]), (Some(kbps), &Value::Null), "{given}");
            assert_eq!(valid(done.clone()), done);
        }
        assert_eq!(valid(json!({ "images": [A], "crf": 18 }))["crf"], 18);
    }

    #[test]
    fn a_soundtrack_can_set_the_length() {
        let done = valid(json!({ "images": [A, B], "soundtrack": format!(" {B} "), "length_from": "soundtrack" }));
        assert_eq!(done["soundtrack"], B);
        assert_eq!(
            (&done["frames"], &done["duration"], &done["seconds_per_image"]),
            (&Value::Null, &Value::Null, &Value::Null)
        );
        assert_eq!(done["transition"], 0.5);
        assert_eq!(valid(done.clone()), done);
    }

    #[test]
    fn the_schema_matches_the_validation() {
        let validate = |input: &Value| parse(input).and_then(|params| to_json(&params));
        check_schema_matches(&input_schema(), validate, &json!({ "images": [A] }));
    }
}
