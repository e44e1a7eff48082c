//! The form fields of the three generate endpoints (the providers' protocol
//! notes, section 7), checked the way the service checks them: every invalid
//! field is reported, each error naming its field (`prompt: …`).
//!
//! Unconfirmed, the emulator's choices: the output sizes (about one megapixel
//! in the asked ratio, the same for every endpoint, though Ultra's real images
//! are bigger); Ultra's image-to-image keeps the asked `aspect_ratio` (SD3's
//! takes the input image's size, as the notes say); `strength` without an
//! image, `style_preset` on SD3, `mode`/`model`/`cfg_scale` outside SD3 and any
//! unknown field are ignored; an empty text field counts as absent (but an
//! empty `prompt` is refused); a repeated field's first value wins; the
//! messages' wording.

use axum::body::Bytes;

use super::faults::Endpoint;
use crate::input_image::{self, InputImage};
use crate::openai::multipart::Part;
use crate::render::Encoding;

/// The aspect ratios and the sizes they answer (width, height).
pub(super) const ASPECT_RATIOS: [(&str, u32, u32); 9] = [
    ("16:9", 1344, 768),
    ("1:1", 1024, 1024),
    ("21:9", 1536, 640),
    ("2:3", 832, 1216),
    ("3:2", 1216, 832),
    ("4:5", 896, 1088),
    ("5:4", 1088, 896),
    ("9:16", 768, 1344),
    ("9:21", 640, 1536),
];

/// The style presets Core (and, unconfirmed, Ultra) take.
pub(super) const STYLE_PRESETS: [&str; 17] = [
    "3d-model",
    "analog-film",
    "anime",
    "cinematic",
    "comic-book",
    "digital-art",
    "enhance",
    "fantasy-art",
    "isometric",
    "line-art",
    "low-poly",
    "modeling-compound",
    "neon-punk",
    "origami",
    "photographic",
    "pixel-art",
    "tile-texture",
];

/// SD3's models; the first is the default.
pub(super) const SD3_MODELS: [&str; 6] =
    ["sd3.5-large", "sd3.5-large-turbo", "sd3.5-medium", "sd3-large", "sd3-large-turbo", "sd3-medium"];

/// The largest seed the service takes.
pub(super) const MAX_SEED: u64 = 4_294_967_294;

/// The longest prompt (and negative prompt), in characters.
const MAX_PROMPT_CHARS: usize = 10_000;

/// The smallest side of an input image (unconfirmed).
const MIN_INPUT_SIDE: u32 = 64;

/// The most pixels of an input image (unconfirmed).
const MAX_INPUT_PIXELS: u64 = 9_437_184;

/// An output format: its encoding, its `content-type` and its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum OutputFormat {
    Png,
    Jpeg,
    Webp,
}

impl OutputFormat {
    pub(super) fn encoding(self) -> Encoding {
        match self {
            OutputFormat::Png => Encoding::Png,
            // Unconfirmed: the service's JPEG quality.
            OutputFormat::Jpeg => Encoding::Jpeg(90),
            OutputFormat::Webp => Encoding::Webp,
        }
    }

    pub(super) fn mime(self) -> &'static str {
        match self {
            OutputFormat::Png => "image/png",
            OutputFormat::Jpeg => "image/jpeg",
            OutputFormat::Webp => "image/webp",
        }
    }
}

/// A checked request.
#[derive(Debug, Clone)]
pub(super) struct Generate {
    pub(super) prompt: String,
    pub(super) negative_prompt: String,
    pub(super) style_preset: Option<String>,
    /// SD3's model (`None` elsewhere).
    pub(super) model: Option<&'static str>,
    /// 0: pick one at random.
    pub(super) seed: u64,
    pub(super) width: u32,
    pub(super) height: u32,
    pub(super) format: OutputFormat,
    /// The input image (Ultra's and SD3's image-to-image) and its strength.
    pub(super) image: Option<(InputImage, f64)>,
    pub(super) cfg_scale: Option<f64>,
}

/// The form as sent: text fields and files by name, the first of each name.
struct Form<'a> {
    parts: &'a [Part],
}

impl<'a> Form<'a> {
    fn part(&self, name: &str) -> Option<&'a Part> {
        self.parts.iter().find(|part| part.name == name)
    }

    /// A text field, trimmed of nothing; `None` when absent or empty.
    fn text(&self, name: &str, errors: &mut Vec<String>) -> Option<&'a str> {
        let part = self.part(name)?;
        match part.text() {
            Some("") => None,
            Some(text) => Some(text),
            None => {
                errors.push(format!("{name}: must be UTF-8 text"));
                None
            }
        }
    }

    fn file(&self, name: &str) -> Option<&'a Bytes> {
        self.part(name).map(|part| &part.data).filter(|data| !data.is_empty())
    }
}

/// Checks the form sent to `endpoint`: the request, or every error found.
pub(super) fn check(endpoint: Endpoint, parts: &[Part]) -> Result<Generate, Vec<String>> {
    let form = Form { parts };
    let mut errors = Vec::new();

    let prompt = match form.part("prompt") {
        None => {
            errors.push("prompt: is required".to_owned());
            String::new()
        }
        Some(_) => match form.text("prompt", &mut errors) {
            None => {
                errors.push("prompt: cannot be empty".to_owned());
                String::new()
            }
            Some(text) => {
                if text.trim().is_empty() {
                    errors.push("prompt: cannot be blank".to_owned());
                } else if text.chars().count() > MAX_PROMPT_CHARS {
                    errors.push(format!("prompt: must be at most {MAX_PROMPT_CHARS} characters"));
                }
                text.to_owned()
            }
        },
    };
    let negative_prompt = form.text("negative_prompt", &mut errors).unwrap_or_default().to_owned();
    if negative_prompt.chars().count() > MAX_PROMPT_CHARS {
        errors.push(format!("negative_prompt: must be at most {MAX_PROMPT_CHARS} characters"));
    }

    let aspect_ratio = form.text("aspect_ratio", &mut errors).unwrap_or("1:1");
    let (mut width, mut height) = match ASPECT_RATIOS.iter().find(|(name, _, _)| *name == aspect_ratio) {
        Some((_, w, h)) => (*w, *h),
        None => {
            let known: Vec<&str> = ASPECT_RATIOS.iter().map(|(name, _, _)| *name).collect();
            errors.push(format!("aspect_ratio: must be one of {}", known.join(", ")));
            (1024, 1024)
        }
    };

    let seed = match form.text("seed", &mut errors) {
        None => 0,
        Some(text) => match text.trim().parse::<u64>() {
            Ok(seed) if seed <= MAX_SEED => seed,
            _ => {
                errors.push(format!("seed: must be a whole number between 0 and {MAX_SEED}"));
                0
            }
        },
    };

    let style_preset = match endpoint {
        Endpoint::Sd3 => None,
        _ => form.text("style_preset", &mut errors).and_then(|preset| {
            if STYLE_PRESETS.contains(&preset) {
                Some(preset.to_owned())
            } else {
                errors.push(format!("style_preset: must be one of {}", STYLE_PRESETS.join(", ")));
                None
            }
        }),
    };

    let allowed: &[(&str, OutputFormat)] = match endpoint {
        Endpoint::Sd3 => &[("png", OutputFormat::Png), ("jpeg", OutputFormat::Jpeg)],
        _ => &[("png", OutputFormat::Png), ("jpeg", OutputFormat::Jpeg), ("webp", OutputFormat::Webp)],
    };
    let format = match form.text("output_format", &mut errors) {
        None => OutputFormat::Png,
        Some(name) => match allowed.iter().find(|(n, _)| *n == name) {
            Some((_, format)) => *format,
            None => {
                let names: Vec<&str> = allowed.iter().map(|(n, _)| *n).collect();
                errors.push(format!("output_format: must be one of {}", names.join(", ")));
                OutputFormat::Png
            }
        },
    };

    let (mut model, mut cfg_scale) = (None, None);
    let wants_image = match endpoint {
        Endpoint::Ultra => form.file("image").is_some(),
        Endpoint::Sd3 => {
            model = match form.text("model", &mut errors) {
                None => Some(SD3_MODELS[0]),
                Some(name) => SD3_MODELS.iter().find(|m| **m == name).copied().or_else(|| {
                    errors.push(format!("model: must be one of {}", SD3_MODELS.join(", ")));
                    None
                }),
            };
            cfg_scale = form.text("cfg_scale", &mut errors).and_then(|text| match text.trim().parse::<f64>() {
                Ok(scale) if (1.0..=10.0).contains(&scale) => Some(scale),
                _ => {
                    errors.push("cfg_scale: must be a number between 1 and 10".to_owned());
                    None
                }
            });
            match form.text("mode", &mut errors).unwrap_or("text-to-image") {
                "text-to-image" => false,
                "image-to-image" => {
                    if form.file("image").is_none() {
                        errors.push("image: is required when mode is image-to-image".to_owned());
                    }
                    true
                }
                _ => {
                    errors.push("mode: must be one of text-to-image, image-to-image".to_owned());
                    false
                }
            }
        }
        _ => false,
    };

    let mut image = None;
    if wants_image {
        let input = form.file("image").map(|bytes| input_image::from_bytes(bytes));
        let strength = match form.text("strength", &mut errors) {
            None => {
                errors.push("strength: is required when an image is provided".to_owned());
                None
            }
            Some(text) => match text.trim().parse::<f64>() {
                Ok(strength) if (0.0..=1.0).contains(&strength) => Some(strength),
                _ => {
                    errors.push("strength: must be a number between 0 and 1".to_owned());
                    None
                }
            },
        };
        match input {
            Some(Err(e)) => errors.push(format!("image: is not a PNG, JPEG or WebP image ({e})")),
            Some(Ok(input)) if input.width < MIN_INPUT_SIDE || input.height < MIN_INPUT_SIDE => {
                errors.push(format!("image: each side must be at least {MIN_INPUT_SIDE} pixels"));
            }
            Some(Ok(input)) if u64::from(input.width) * u64::from(input.height) > MAX_INPUT_PIXELS => {
                errors.push(format!("image: must have at most {MAX_INPUT_PIXELS} pixels"));
            }
            Some(Ok(input)) => {
                if endpoint == Endpoint::Sd3 {
                    (width, height) = (input.width, input.height);
                }
                image = strength.map(|strength| (input, strength));
            }
            None => {}
        }
    }

    if errors.is_empty() {
        Ok(Generate { prompt, negative_prompt, style_preset, model, seed, width, height, format, image, cfg_scale })
    } else {
        Err(errors)
    }
}
