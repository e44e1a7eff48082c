//! The txt2img and img2img bodies (the providers' protocol notes, 5.1): every
//! field optional, read the way FastAPI and pydantic 1 read them, then
//! checked, then turned into a [`Job`].
//!
//! Types: each known field is coerced as pydantic 1 does (an integer field
//! takes `512`, `512.9` and `"512"`, a string field takes numbers, a boolean
//! field `0`/`1`/`"yes"`…); what cannot be coerced answers FastAPI's 422 with
//! every such field listed. `null` stands for the field's default. Unknown
//! fields are ignored, as the WebUI ignores them.
//!
//! Checks (the emulator's, unconfirmed: the WebUI itself checks no ranges and
//! fails later, or runs out of memory), answered as pydantic's constraint
//! errors (422): `width`/`height` are floored to a multiple of 8, as the WebUI's
//! latents do, and must then be 64–2048; `steps` 1–150; `batch_size` 1–8 and
//! `n_iter` 1–100 (the UI's sliders); `cfg_scale` 0–30; `denoising_strength`
//! 0–1. Then, as the WebUI does: `sampler_name` (else `sampler_index`,
//! `"Euler"` by default) must name a sampler (404 "Sampler not found"; a name,
//! an alias, any case, or an older `"<sampler> <scheduler>"` name);
//! `override_settings.sd_model_checkpoint` must name a checkpoint (the
//! emulator answers 404 "Model not found"; WebUI 1.10 ignores an unknown one);
//! img2img's `init_images` must be there (404 "Init image not found") and
//! non-empty (500 `IndexError`), each entry and the `mask` an image in base64
//! or a data URL (500 "Invalid encoded image"; URLs are not fetched: 500
//! "Requests not allowed").
//!
//! img2img's output takes the first init image's size (floored to 8, kept
//! within 64–2048) unless `width`/`height` are given (the brief's choice;
//! WebUI 1.10 answers `width`×`height`, 512×512 by default, whatever the
//! init image), and samples `int(min(denoising_strength, 0.999) × steps) + 1`
//! steps, as the WebUI does with `img2img_fix_steps` off.
//!
//! `parameters` in the answer echoes every known field, the request's values
//! over the defaults (img2img's `init_images` and `mask` are `null` unless
//! `include_init_images`).

use serde_json::{Map, Number, Value, json};
use sha2::{Digest, Sha256};

use super::A1111State;
use super::catalog::{self, Checkpoint};
use super::errors::{self, Invalid, Refusal};
use crate::input_image;

/// How pydantic reads a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Int,
    Float,
    Str,
    Bool,
    /// A list of strings.
    Strings,
    /// A list of anything.
    List,
    Dict,
}

/// The fields txt2img and img2img share: name, type, default (JSON).
const COMMON: [(&str, Kind, &str); 42] = [
    ("prompt", Kind::Str, "\"\""),
    ("negative_prompt", Kind::Str, "\"\""),
    ("styles", Kind::Strings, "null"),
    ("seed", Kind::Int, "-1"),
    ("subseed", Kind::Int, "-1"),
    ("subseed_strength", Kind::Float, "0"),
    ("seed_resize_from_h", Kind::Int, "-1"),
    ("seed_resize_from_w", Kind::Int, "-1"),
    ("sampler_name", Kind::Str, "null"),
    ("scheduler", Kind::Str, "null"),
    ("batch_size", Kind::Int, "1"),
    ("n_iter", Kind::Int, "1"),
    ("steps", Kind::Int, "50"),
    ("cfg_scale", Kind::Float, "7.0"),
    ("width", Kind::Int, "512"),
    ("height", Kind::Int, "512"),
    ("restore_faces", Kind::Bool, "null"),
    ("tiling", Kind::Bool, "null"),
    ("do_not_save_samples", Kind::Bool, "false"),
    ("do_not_save_grid", Kind::Bool, "false"),
    ("eta", Kind::Float, "null"),
    ("denoising_strength", Kind::Float, "null"),
    ("s_min_uncond", Kind::Float, "null"),
    ("s_churn", Kind::Float, "null"),
    ("s_tmax", Kind::Float, "null"),
    ("s_tmin", Kind::Float, "null"),
    ("s_noise", Kind::Float, "null"),
    ("override_settings", Kind::Dict, "null"),
    ("override_settings_restore_afterwards", Kind::Bool, "true"),
    ("refiner_checkpoint", Kind::Str, "null"),
    ("refiner_switch_at", Kind::Float, "null"),
    ("disable_extra_networks", Kind::Bool, "false"),
    ("firstpass_image", Kind::Str, "null"),
    ("comments", Kind::Dict, "null"),
    ("sampler_index", Kind::Str, "\"Euler\""),
    ("script_name", Kind::Str, "null"),
    ("script_args", Kind::List, "[]"),
    ("send_images", Kind::Bool, "true"),
    ("save_images", Kind::Bool, "false"),
    ("alwayson_scripts", Kind::Dict, "{}"),
    ("force_task_id", Kind::Str, "null"),
    ("infotext", Kind::Str, "null"),
];

/// txt2img's own fields (hires fix).
const TXT2IMG: [(&str, Kind, &str); 13] = [
    ("enable_hr", Kind::Bool, "false"),
    ("firstphase_width", Kind::Int, "0"),
    ("firstphase_height", Kind::Int, "0"),
    ("hr_scale", Kind::Float, "2.0"),
    ("hr_upscaler", Kind::Str, "null"),
    ("hr_second_pass_steps", Kind::Int, "0"),
    ("hr_resize_x", Kind::Int, "0"),
    ("hr_resize_y", Kind::Int, "0"),
    ("hr_checkpoint_name", Kind::Str, "null"),
    ("hr_sampler_name", Kind::Str, "null"),
    ("hr_scheduler", Kind::Str, "null"),
    ("hr_prompt", Kind::Str, "\"\""),
    ("hr_negative_prompt", Kind::Str, "\"\""),
];

/// img2img's own fields (its `denoising_strength` defaults to 0.75).
const IMG2IMG: [(&str, Kind, &str); 16] = [
    ("init_images", Kind::Strings, "null"),
    ("resize_mode", Kind::Int, "0"),
    ("image_cfg_scale", Kind::Float, "null"),
    ("mask", Kind::Str, "null"),
    ("mask_blur_x", Kind::Int, "4"),
    ("mask_blur_y", Kind::Int, "4"),
    ("mask_blur", Kind::Int, "null"),
    ("mask_round", Kind::Bool, "true"),
    ("inpainting_fill", Kind::Int, "0"),
    ("inpaint_full_res", Kind::Bool, "true"),
    ("inpaint_full_res_padding", Kind::Int, "0"),
    ("inpainting_mask_invert", Kind::Int, "0"),
    ("initial_noise_multiplier", Kind::Float, "null"),
    ("latent_mask", Kind::Str, "null"),
    ("include_init_images", Kind::Bool, "false"),
    ("denoising_strength", Kind::Float, "0.75"),
];

/// The smallest and largest width or height (after flooring to 8).
pub(super) const MIN_SIZE: i64 = 64;
pub(super) const MAX_SIZE: i64 = 2048;

/// Which endpoint a job came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    Txt2Img,
    Img2Img,
}

impl Mode {
    /// The progress `job` the WebUI shows while it runs.
    pub(super) fn job_name(self) -> &'static str {
        match self {
            Mode::Txt2Img => "scripts_txt2img",
            Mode::Img2Img => "scripts_img2img",
        }
    }
}

/// One checked request.
#[derive(Debug, Clone)]
pub(super) struct Job {
    pub(super) mode: Mode,
    pub(super) prompt: String,
    pub(super) negative_prompt: String,
    pub(super) width: u32,
    pub(super) height: u32,
    /// The requested steps.
    pub(super) steps: u32,
    /// The steps each batch samples (img2img: fewer, after `denoising_strength`).
    pub(super) sampling_steps: u32,
    pub(super) cfg_scale: f64,
    pub(super) sampler: String,
    pub(super) scheduler: &'static str,
    /// `None`: drawn at random when the generation starts.
    pub(super) seed: Option<i64>,
    pub(super) subseed: Option<i64>,
    pub(super) batch_size: u32,
    pub(super) n_iter: u32,
    /// The checkpoint the request overrides, and whether the override outlives it.
    pub(super) checkpoint: Option<usize>,
    pub(super) keep_checkpoint: bool,
    pub(super) denoising_strength: Option<f64>,
    /// The init images' and the mask's digests (img2img).
    pub(super) inputs: Vec<[u8; 32]>,
    pub(super) send_images: bool,
    pub(super) styles: Vec<String>,
    /// The `parameters` echo.
    pub(super) parameters: Value,
}

impl Job {
    /// What makes this request's images its own (not the seed: each image has its own).
    pub(super) fn digest(&self, checkpoint: &Checkpoint) -> [u8; 32] {
        let mut hasher = Sha256::new();
        let mut field = |bytes: &[u8]| {
            hasher.update((bytes.len() as u64).to_le_bytes());
            hasher.update(bytes);
        };
        field(self.mode.job_name().as_bytes());
        field(self.prompt.as_bytes());
        field(self.negative_prompt.as_bytes());
        field(&self.steps.to_le_bytes());
        field(&self.cfg_scale.to_le_bytes());
        field(self.sampler.as_bytes());
        field(self.scheduler.as_bytes());
        field(checkpoint.sha256.as_bytes());
        field(&self.denoising_strength.unwrap_or(-1.0).to_le_bytes());
        for input in &self.inputs {
            field(input);
        }
        hasher.finalize().into()
    }
}

/// Coerces one field as pydantic 1 would; `Ok(None)` for `null`.
fn coerce(name: &str, kind: Kind, value: &Value) -> Result<Option<Value>, Invalid> {
    if value.is_null() {
        return Ok(None);
    }
    let invalid = |msg: &str, kind: &'static str| Invalid::field(name, msg, kind);
    let coerced = match kind {
        Kind::Int => match value {
            Value::Number(n) => n.as_i64().map(Value::from).or_else(|| {
                n.as_f64().filter(|f| f.is_finite() && f.abs() < 9.0e18).map(|f| Value::from(f.trunc() as i64))
            }),
            Value::Bool(b) => Some(Value::from(i64::from(*b))),
            Value::String(s) => s.trim().parse::<i64>().ok().map(Value::from),
            _ => None,
        }
        .ok_or_else(|| invalid("value is not a valid integer", "type_error.integer"))?,
        Kind::Float => match value {
            Value::Number(n) => n.as_f64().and_then(Number::from_f64).map(Value::Number),
            Value::Bool(b) => Some(json!(if *b { 1.0 } else { 0.0 })),
            Value::String(s) => s.trim().parse::<f64>().ok().and_then(Number::from_f64).map(Value::Number),
            _ => None,
        }
        .ok_or_else(|| invalid("value is not a valid float", "type_error.float"))?,
        Kind::Str => match value {
            Value::String(_) => value.clone(),
            Value::Number(n) => Value::String(n.to_string()),
            Value::Bool(b) => Value::String(if *b { "True" } else { "False" }.into()),
            _ => return Err(invalid("str type expected", "type_error.str")),
        },
        Kind::Bool => match value {
            Value::Bool(b) => Value::Bool(*b),
            Value::Number(n) if n.as_f64() == Some(0.0) => Value::Bool(false),
            Value::Number(n) if n.as_f64() == Some(1.0) => Value::Bool(true),
            Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
                "0" | "off" | "f" | "false" | "n" | "no" => Value::Bool(false),
                "1" | "on" | "t" | "true" | "y" | "yes" => Value::Bool(true),
                _ => return Err(invalid("value could not be parsed to a boolean", "type_error.bool")),
            },
            _ => return Err(invalid("value could not be parsed to a boolean", "type_error.bool")),
        },
        Kind::Strings | Kind::List => {
            let Value::Array(items) = value else {
                return Err(invalid("value is not a valid list", "type_error.list"));
            };
            if kind == Kind::Strings
                && let Some(at) = items.iter().position(|item| !item.is_string())
            {
                return Err(Invalid {
                    loc: vec![json!("body"), json!(name), json!(at)],
                    msg: "str type expected".into(),
                    kind: "type_error.str",
                    ctx: None,
                });
            }
            value.clone()
        }
        Kind::Dict => {
            if !value.is_object() {
                return Err(invalid("value is not a valid dict", "type_error.dict"));
            }
            value.clone()
        }
    };
    Ok(Some(coerced))
}

/// The known fields of `mode`, coerced over their defaults: the `parameters`
/// echo, or every field that does not coerce.
fn typed(mode: Mode, body: &Map<String, Value>) -> Result<Map<String, Value>, Vec<Invalid>> {
    let own: &[(&str, Kind, &str)] = match mode {
        Mode::Txt2Img => &TXT2IMG,
        Mode::Img2Img => &IMG2IMG,
    };
    let mut echo = Map::new();
    let mut invalid = Vec::new();
    // img2img's own fields come last, so its `denoising_strength` default wins.
    for (name, kind, default) in COMMON.iter().chain(own) {
        let default = serde_json::from_str(default).unwrap_or(Value::Null);
        match body.get(*name).map(|value| coerce(name, *kind, value)) {
            None | Some(Ok(None)) => {
                echo.insert((*name).to_owned(), default);
            }
            Some(Ok(Some(value))) => {
                echo.insert((*name).to_owned(), value);
            }
            Some(Err(e)) => {
                invalid.retain(|i: &Invalid| i.loc != e.loc);
                invalid.push(e);
            }
        }
    }
    if invalid.is_empty() { Ok(echo) } else { Err(invalid) }
}

fn int(echo: &Map<String, Value>, name: &str) -> Option<i64> {
    echo.get(name).and_then(Value::as_i64)
}

fn float(echo: &Map<String, Value>, name: &str) -> Option<f64> {
    echo.get(name).and_then(Value::as_f64)
}

fn string<'a>(echo: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    echo.get(name).and_then(Value::as_str)
}

fn boolean(echo: &Map<String, Value>, name: &str, default: bool) -> bool {
    echo.get(name).and_then(Value::as_bool).unwrap_or(default)
}

/// Checks `value` against `min..=max`, as pydantic's `ge`/`le`.
fn within(name: &str, value: f64, min: f64, max: f64, shown: impl Fn(f64) -> Value) -> Option<Invalid> {
    if value < min {
        Some(Invalid::not_ge(name, shown(min)))
    } else if value > max {
        Some(Invalid::not_le(name, shown(max)))
    } else {
        None
    }
}

fn whole(limit: f64) -> Value {
    json!(limit as i64)
}

fn real(limit: f64) -> Value {
    json!(limit)
}

/// A size (floored to 8), or its range error.
fn size(name: &str, value: i64) -> Result<u32, Invalid> {
    let floored = value - value.rem_euclid(8);
    match within(name, floored as f64, MIN_SIZE as f64, MAX_SIZE as f64, whole) {
        Some(e) => Err(e),
        None => Ok(u32::try_from(floored).unwrap_or(MIN_SIZE as u32)),
    }
}

/// An input image's size as an output size: floored to 8, kept within range.
fn derived_size(value: u32) -> u32 {
    let value = i64::from(value);
    (value - value.rem_euclid(8)).clamp(MIN_SIZE, MAX_SIZE) as u32
}

/// Reads an `init_images` entry or the `mask`.
fn input(text: &str) -> Result<input_image::InputImage, Refusal> {
    let trimmed = text.trim();
    if trimmed.starts_with("http://") || trimmed.starts_with("https://") {
        return Err(errors::http_exception(500, "Requests not allowed"));
    }
    input_image::from_text(trimmed).map_err(|_| errors::invalid_image())
}

/// Reads and checks a txt2img or img2img body.
pub(super) fn read(state: &A1111State, mode: Mode, body: &Map<String, Value>) -> Result<Job, Refusal> {
    let mut echo = typed(mode, body).map_err(|invalid| errors::validation::<Refusal>(&invalid))?;

    // Ranges (the emulator's).
    let mut invalid = Vec::new();
    let explicit = |name: &str| body.get(name).is_some_and(|v| !v.is_null());
    let mut sizes = [512u32; 2];
    for (slot, name) in sizes.iter_mut().zip(["width", "height"]) {
        if mode == Mode::Img2Img && !explicit(name) {
            continue;
        }
        match size(name, int(&echo, name).unwrap_or(512)) {
            Ok(value) => *slot = value,
            Err(e) => invalid.push(e),
        }
    }
    let steps = int(&echo, "steps").unwrap_or(50);
    let batch_size = int(&echo, "batch_size").unwrap_or(1);
    let n_iter = int(&echo, "n_iter").unwrap_or(1);
    let cfg_scale = float(&echo, "cfg_scale").unwrap_or(7.0);
    let denoising = float(&echo, "denoising_strength");
    invalid.extend(within("steps", steps as f64, 1.0, 150.0, whole));
    invalid.extend(within("batch_size", batch_size as f64, 1.0, 8.0, whole));
    invalid.extend(within("n_iter", n_iter as f64, 1.0, 100.0, whole));
    invalid.extend(within("cfg_scale", cfg_scale, 0.0, 30.0, real));
    if let Some(d) = denoising {
        invalid.extend(within("denoising_strength", d, 0.0, 1.0, real));
    }
    if !invalid.is_empty() {
        return Err(errors::validation(&invalid));
    }

    // The sampler: `sampler_name`, else `sampler_index`.
    let requested = string(&echo, "sampler_name").filter(|s| !s.is_empty()).or_else(|| string(&echo, "sampler_index"));
    let (sampler, named_scheduler) = requested
        .and_then(|name| state.catalog.sampler(name))
        .map(|(sampler, scheduler)| (sampler.to_owned(), scheduler))
        .ok_or_else(|| errors::http_exception::<Refusal>(404, "Sampler not found"))?;
    let scheduler = named_scheduler.unwrap_or_else(|| catalog::scheduler(string(&echo, "scheduler")));

    // The checkpoint override.
    let override_name = echo.get("override_settings").and_then(|o| o.get("sd_model_checkpoint")).cloned();
    let checkpoint = match override_name {
        None | Some(Value::Null) => None,
        Some(Value::String(name)) => Some(
            state.catalog.checkpoint(&name).ok_or_else(|| errors::http_exception::<Refusal>(404, "Model not found"))?,
        ),
        Some(_) => return Err(errors::http_exception(404, "Model not found")),
    };

    // img2img's images.
    let mut inputs = Vec::new();
    if mode == Mode::Img2Img {
        if let Some(mask) = string(&echo, "mask").filter(|m| !m.is_empty()) {
            inputs.push(input(mask)?.digest);
        }
        let init_images: Vec<String> = match echo.get("init_images") {
            Some(Value::Array(items)) => items.iter().filter_map(|i| i.as_str().map(str::to_owned)).collect(),
            _ => return Err(errors::http_exception(404, "Init image not found")),
        };
        if init_images.is_empty() {
            return Err(errors::raised("IndexError", "list index out of range"));
        }
        let mut first = None;
        for text in &init_images {
            let image = input(text)?;
            first.get_or_insert((image.width, image.height));
            inputs.push(image.digest);
        }
        if let Some((width, height)) = first {
            if !explicit("width") {
                sizes[0] = derived_size(width);
            }
            if !explicit("height") {
                sizes[1] = derived_size(height);
            }
        }
        if !boolean(&echo, "include_init_images", false) {
            echo.insert("init_images".into(), Value::Null);
            echo.insert("mask".into(), Value::Null);
        }
    }

    let steps = u32::try_from(steps).unwrap_or(1);
    let sampling_steps = match (mode, denoising) {
        (Mode::Img2Img, Some(d)) => (d.min(0.999) * f64::from(steps)) as u32 + 1,
        (Mode::Img2Img, None) => steps,
        (Mode::Txt2Img, _) => steps,
    };
    let styles = match echo.get("styles") {
        Some(Value::Array(items)) => items.iter().filter_map(|s| s.as_str().map(str::to_owned)).collect(),
        _ => Vec::new(),
    };
    let seed = int(&echo, "seed").filter(|s| *s != -1);
    let subseed = int(&echo, "subseed").filter(|s| *s != -1);
    Ok(Job {
        mode,
        prompt: string(&echo, "prompt").unwrap_or_default().to_owned(),
        negative_prompt: string(&echo, "negative_prompt").unwrap_or_default().to_owned(),
        width: sizes[0],
        height: sizes[1],
        steps,
        sampling_steps,
        cfg_scale,
        sampler,
        scheduler,
        seed,
        subseed,
        batch_size: u32::try_from(batch_size).unwrap_or(1),
        n_iter: u32::try_from(n_iter).unwrap_or(1),
        checkpoint,
        keep_checkpoint: !boolean(&echo, "override_settings_restore_afterwards", true),
        denoising_strength: if mode == Mode::Img2Img { denoising } else { None },
        inputs,
        send_images: boolean(&echo, "send_images", true),
        styles,
        parameters: Value::Object(echo),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(value: Value) -> Map<String, Value> {
        value.as_object().cloned().expect("an object")
    }

    #[test]
    fn fields_coerce_as_pydantic_does() {
        let echo = typed(
            Mode::Txt2Img,
            &object(json!({
                "width": "640", "height": 512.9, "steps": true, "cfg_scale": "5.5",
                "prompt": 7, "enable_hr": "yes", "unknown": [1], "seed": null
            })),
        )
        .expect("coerces");
        assert_eq!(
            (echo["width"].clone(), echo["height"].clone(), echo["steps"].clone()),
            (json!(640), json!(512), json!(1))
        );
        assert_eq!((echo["cfg_scale"].clone(), echo["prompt"].clone()), (json!(5.5), json!("7")));
        assert_eq!((echo["enable_hr"].clone(), echo["seed"].clone()), (json!(true), json!(-1)));
        assert!(!echo.contains_key("unknown"));
        assert!(!echo.contains_key("init_images"), "img2img's fields are not txt2img's");

        let errors = typed(
            Mode::Img2Img,
            &object(json!({ "width": "wide", "prompt": {}, "init_images": ["a", 3], "send_images": "maybe" })),
        )
        .expect_err("refused");
        let found: Vec<(&str, &str)> = errors.iter().map(|e| (e.loc[1].as_str().unwrap_or_default(), e.kind)).collect();
        assert_eq!(
            found,
            [
                ("prompt", "type_error.str"),
                ("width", "type_error.integer"),
                ("send_images", "type_error.bool"),
                ("init_images", "type_error.str")
            ]
        );
        assert_eq!(errors[3].loc, vec![json!("body"), json!("init_images"), json!(1)]);
        let img2img = typed(Mode::Img2Img, &Map::new()).expect("defaults");
        assert_eq!(img2img["denoising_strength"], json!(0.75));
    }

    #[test]
    fn sizes_floor_to_eight_within_range() {
        assert_eq!(size("width", 519), Ok(512));
        assert_eq!(size("width", 64), Ok(64));
        assert!(size("width", 63).is_err_and(|e| e.kind == "value_error.number.not_ge"));
        assert!(size("height", 2056).is_err_and(|e| e.kind == "value_error.number.not_le"));
        assert_eq!(derived_size(1000), 1000);
        assert_eq!(derived_size(333), 328);
        assert_eq!(derived_size(20), 64);
        assert_eq!(derived_size(5000), 2048);
    }
}
