//! The generation parameters every API family ends up with (sd-server's
//! `SDGenerationParams`), the native field names that set them (the
//! `/sdcpp/v1` body and `<sd_cpp_extra_args>`), how they resolve and what
//! makes them invalid, and the output options.
//!
//! Confirmed (`examples/common/common.cpp`, `examples/server/*.cpp` @
//! 97d29908): native fields are read only when their JSON type is right
//! (`"width": "512"` is ignored, not refused); unknown sampler and scheduler
//! names are ignored; resolving draws a random seed for a negative one, clamps
//! `batch_count` to 1–8 and `sample_steps` to 1–100; `strength` outside 0–1 or
//! a negative `txt_cfg` make the request invalid; an image field that does not
//! decode is invalid too (native) or skipped (the compatibility APIs); an unset
//! size takes the init image's, else 512×512; the defaults are seed 42, 20
//! steps, CFG 7, strength 0.75; output formats are `png`, `jpeg` and (but for
//! the edits) `webp`, `output_compression` clamped to 0–100.
//!
//! Unconfirmed, the emulator's choices: a width or height above 4096 (the
//! capabilities' `limits`) is invalid; the default sampler reads `euler_a`
//! and the default scheduler `discrete`; WebP is lossless whatever the
//! compression.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::input_image::{self, InputImage};
use crate::render::Encoding;

/// The sampling methods, as the native API names them.
pub(super) const SAMPLE_METHODS: [&str; 21] = [
    "euler",
    "euler_a",
    "heun",
    "dpm2",
    "dpm++2s_a",
    "dpm++2m",
    "dpm++2mv2",
    "ipndm",
    "ipndm_v",
    "lcm",
    "ddim_trailing",
    "tcd",
    "res_multistep",
    "res_2s",
    "er_sde",
    "euler_cfg_pp",
    "euler_a_cfg_pp",
    "euler_ge",
    "dpm++2m_sde",
    "dpm++2m_sde_bt",
    "lms",
];

/// The schedulers, as the native API names them.
pub(super) const SCHEDULERS: [&str; 16] = [
    "discrete",
    "karras",
    "exponential",
    "ays",
    "gits",
    "sgm_uniform",
    "simple",
    "smoothstep",
    "kl_optimal",
    "lcm",
    "bong_tangent",
    "ltx2",
    "logit_normal",
    "flux2",
    "flux",
    "beta",
];

/// The WebUI's sampler names (lower case) the `sdapi` family maps to native ones.
const WEBUI_SAMPLERS: [(&str, &str); 24] = [
    ("euler a", "euler_a"),
    ("k_euler_a", "euler_a"),
    ("euler", "euler"),
    ("k_euler", "euler"),
    ("heun", "heun"),
    ("k_heun", "heun"),
    ("dpm2", "dpm2"),
    ("k_dpm_2", "dpm2"),
    ("lcm", "lcm"),
    ("ddim", "ddim_trailing"),
    ("dpm++ 2m", "dpm++2m"),
    ("k_dpmpp_2m", "dpm++2m"),
    ("dpm++ 2m sde", "dpm++2m_sde"),
    ("k_dpmpp_2m_sde", "dpm++2m_sde"),
    ("dpm++ 2m sde gpu", "dpm++2m_sde_bt"),
    ("k_dpmpp_2m_sde_gpu", "dpm++2m_sde_bt"),
    ("res multistep", "res_multistep"),
    ("k_res_multistep", "res_multistep"),
    ("res 2s", "res_2s"),
    ("k_res_2s", "res_2s"),
    ("euler_cfg_pp", "euler_cfg_pp"),
    ("k_euler_cfg_pp", "euler_cfg_pp"),
    ("euler_a_cfg_pp", "euler_cfg_pp"),
    ("k_euler_a_cfg_pp", "euler_cfg_pp"),
];

/// The largest width or height.
pub(super) const MAX_SIZE: i64 = 4096;
/// The most images one request makes.
pub(super) const MAX_BATCH: i64 = 8;
/// The default sampling steps.
pub(super) const DEFAULT_STEPS: i64 = 20;

/// A native sampling method's name, if it is one.
pub(super) fn sample_method(name: &str) -> Option<&'static str> {
    SAMPLE_METHODS.iter().find(|m| **m == name).copied()
}

/// A native scheduler's name, if it is one.
pub(super) fn scheduler(name: &str) -> Option<&'static str> {
    SCHEDULERS.iter().find(|s| **s == name).copied()
}

/// A sampler as the `sdapi` family names it: native, or one of the WebUI's names.
pub(super) fn webui_sampler(name: &str) -> Option<&'static str> {
    sample_method(name).or_else(|| {
        let lower = name.to_ascii_lowercase();
        WEBUI_SAMPLERS.iter().find(|(webui, _)| *webui == lower).map(|(_, native)| *native)
    })
}

/// Generation parameters before they resolve.
#[derive(Debug, Clone)]
pub(super) struct Gen {
    pub(super) prompt: String,
    pub(super) negative_prompt: String,
    pub(super) clip_skip: i64,
    /// 0 or less: unset.
    pub(super) width: i64,
    pub(super) height: i64,
    pub(super) seed: i64,
    pub(super) batch_count: i64,
    pub(super) steps: i64,
    pub(super) txt_cfg: f64,
    pub(super) sample_method: Option<&'static str>,
    pub(super) scheduler: Option<&'static str>,
    pub(super) strength: f64,
    pub(super) init: Option<InputImage>,
    pub(super) mask: Option<InputImage>,
    pub(super) refs: Vec<InputImage>,
}

impl Default for Gen {
    fn default() -> Self {
        Self {
            prompt: String::new(),
            negative_prompt: String::new(),
            clip_skip: -1,
            width: -1,
            height: -1,
            seed: 42,
            batch_count: 1,
            steps: DEFAULT_STEPS,
            txt_cfg: 7.0,
            sample_method: None,
            scheduler: None,
            strength: 0.75,
            init: None,
            mask: None,
            refs: Vec::new(),
        }
    }
}

/// Resolved parameters: what a generation runs with.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Resolved {
    pub(super) prompt: String,
    pub(super) negative_prompt: String,
    pub(super) clip_skip: i64,
    pub(super) width: u32,
    pub(super) height: u32,
    pub(super) seed: i64,
    pub(super) count: u32,
    pub(super) steps: u32,
    pub(super) txt_cfg: f64,
    pub(super) sample_method: &'static str,
    pub(super) scheduler: &'static str,
    pub(super) strength: f64,
    /// Whether an init image came (the info's `denoising_strength`).
    pub(super) img2img: bool,
    /// What makes these parameters' images their own (not the seed).
    pub(super) digest: [u8; 32],
}

/// An integer field, only when the JSON holds an integer.
fn int(body: &Map<String, Value>, name: &str) -> Option<i64> {
    body.get(name).and_then(Value::as_i64)
}

/// A number field, any JSON number.
fn number(body: &Map<String, Value>, name: &str) -> Option<f64> {
    body.get(name).and_then(Value::as_f64)
}

/// A string field, only when the JSON holds a string.
fn string<'a>(body: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    body.get(name).and_then(Value::as_str)
}

/// An image field: absent or `null` is none; a string must decode.
fn image(body: &Map<String, Value>, name: &str) -> Result<Option<InputImage>, ()> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) if text.trim().is_empty() => Ok(None),
        Some(Value::String(text)) => input_image::from_text(text).map(Some).map_err(|_| ()),
        Some(_) => Ok(None),
    }
}

/// Applies native (`/sdcpp/v1`, `<sd_cpp_extra_args>`) fields over `spec`:
/// each read only when its JSON type is right. `Err` when an image does not decode.
pub(super) fn apply_native(spec: &mut Gen, body: &Map<String, Value>) -> Result<(), ()> {
    if let Some(prompt) = string(body, "prompt") {
        spec.prompt = prompt.to_owned();
    }
    if let Some(negative) = string(body, "negative_prompt") {
        spec.negative_prompt = negative.to_owned();
    }
    for (slot, name) in [
        (&mut spec.clip_skip, "clip_skip"),
        (&mut spec.width, "width"),
        (&mut spec.height, "height"),
        (&mut spec.batch_count, "batch_count"),
        (&mut spec.seed, "seed"),
    ] {
        if let Some(value) = int(body, name) {
            *slot = value;
        }
    }
    if let Some(strength) = number(body, "strength") {
        spec.strength = strength;
    }
    if let Some(Value::Object(sample)) = body.get("sample_params") {
        if let Some(steps) = int(sample, "sample_steps") {
            spec.steps = steps;
        }
        if let Some(method) = string(sample, "sample_method").and_then(sample_method) {
            spec.sample_method = Some(method);
        }
        if let Some(found) = string(sample, "scheduler").and_then(scheduler) {
            spec.scheduler = Some(found);
        }
        if let Some(cfg) = sample.get("guidance").and_then(Value::as_object).and_then(|g| number(g, "txt_cfg")) {
            spec.txt_cfg = cfg;
        }
    }
    if let Some(init) = image(body, "init_image")? {
        spec.init = Some(init);
    }
    if let Some(mask) = image(body, "mask_image")? {
        spec.mask = Some(mask);
    }
    if let Some(Value::Array(refs)) = body.get("ref_images") {
        spec.refs.clear();
        for item in refs.iter().filter_map(Value::as_str) {
            spec.refs.push(input_image::from_text(item).map_err(|_| ())?);
        }
    }
    Ok(())
}

impl Gen {
    /// Resolves and validates, as `resolve_and_validate(IMG_GEN, …, strict)`
    /// does; `random` draws the seed for a negative one. `Err` when invalid.
    pub(super) fn resolve(self, model: &str, random: impl FnOnce() -> i64) -> Result<Resolved, ()> {
        if !(0.0..=1.0).contains(&self.strength) || self.txt_cfg < 0.0 || !self.txt_cfg.is_finite() {
            return Err(());
        }
        let (width, height) = if self.width > 0 && self.height > 0 {
            (self.width, self.height)
        } else {
            let from = self.init.as_ref().or(self.mask.as_ref()).or(self.refs.first());
            let (w, h) = from.map_or((512, 512), |image| (i64::from(image.width), i64::from(image.height)));
            (if self.width > 0 { self.width } else { w }, if self.height > 0 { self.height } else { h })
        };
        if width > MAX_SIZE || height > MAX_SIZE {
            return Err(());
        }
        let seed = if self.seed < 0 { random() } else { self.seed };
        let sample_method = self.sample_method.unwrap_or("euler_a");
        let scheduler = self.scheduler.unwrap_or("discrete");
        let steps = self.steps.clamp(1, 100) as u32;

        let mut hasher = Sha256::new();
        let mut field = |bytes: &[u8]| {
            hasher.update((bytes.len() as u64).to_le_bytes());
            hasher.update(bytes);
        };
        field(model.as_bytes());
        field(self.prompt.as_bytes());
        field(self.negative_prompt.as_bytes());
        field(&steps.to_le_bytes());
        field(&self.txt_cfg.to_le_bytes());
        field(sample_method.as_bytes());
        field(scheduler.as_bytes());
        field(&self.strength.to_le_bytes());
        for image in self.init.iter().chain(&self.mask).chain(&self.refs) {
            field(&image.digest);
        }
        Ok(Resolved {
            prompt: self.prompt,
            negative_prompt: self.negative_prompt,
            clip_skip: self.clip_skip,
            width: u32::try_from(width).unwrap_or(512),
            height: u32::try_from(height).unwrap_or(512),
            seed,
            count: self.batch_count.clamp(1, MAX_BATCH) as u32,
            steps,
            txt_cfg: self.txt_cfg,
            sample_method,
            scheduler,
            strength: self.strength,
            img2img: self.init.is_some(),
            digest: hasher.finalize().into(),
        })
    }
}

/// How a result is encoded, and the format's name as answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Output {
    pub(super) format: &'static str,
    pub(super) encoding: Encoding,
}

/// The output options: `format` (any case) one of png, jpeg (and webp when
/// `allow_webp`), `compression` clamped to 0–100 (JPEG's quality). `Err` is
/// the server's message.
pub(super) fn output(format: &str, compression: i64, allow_webp: bool) -> Result<Output, String> {
    let quality = compression.clamp(0, 100) as u8;
    match format.to_ascii_lowercase().as_str() {
        "png" => Ok(Output { format: "png", encoding: Encoding::Png }),
        "jpeg" => Ok(Output { format: "jpeg", encoding: Encoding::Jpeg(quality.max(1)) }),
        "webp" if allow_webp => Ok(Output { format: "webp", encoding: Encoding::Webp }),
        _ => Err(if allow_webp {
            "invalid output_format, must be one of [png, jpeg, webp]".into()
        } else {
            "invalid output_format, must be one of [png, jpeg]".into()
        }),
    }
}

/// Takes the first `<sd_cpp_extra_args>{…}</sd_cpp_extra_args>` block out of
/// `prompt` (every block is removed), and answers its text.
pub(super) fn take_extra_args(prompt: &mut String) -> Option<String> {
    const OPEN: &str = "<sd_cpp_extra_args>";
    const CLOSE: &str = "</sd_cpp_extra_args>";
    let mut first = None;
    while let Some(start) = prompt.find(OPEN) {
        let Some(length) = prompt[start + OPEN.len()..].find(CLOSE) else { break };
        let inner = prompt[start + OPEN.len()..start + OPEN.len() + length].to_owned();
        prompt.replace_range(start..start + OPEN.len() + length + CLOSE.len(), "");
        first.get_or_insert(inner);
    }
    first
}

/// Applies a prompt's `<sd_cpp_extra_args>` block, if any. `Err` when the block
/// is not a JSON object or does not apply ("invalid sd_cpp_extra_args").
pub(super) fn apply_extra_args(spec: &mut Gen) -> Result<(), ()> {
    let Some(extra) = take_extra_args(&mut spec.prompt) else { return Ok(()) };
    let prompt = spec.prompt.clone();
    match serde_json::from_str::<Value>(&extra) {
        Ok(Value::Object(fields)) => {
            apply_native(spec, &fields)?;
            if !fields.contains_key("prompt") {
                spec.prompt = prompt;
            }
            Ok(())
        }
        _ => Err(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(value: Value) -> Map<String, Value> {
        value.as_object().cloned().expect("an object")
    }

    #[test]
    fn native_fields_apply_only_with_their_type() {
        let mut spec = Gen::default();
        let body = object(json!({
            "prompt": "a cat", "width": "640", "height": 384, "seed": 7, "batch_count": 20,
            "sample_params": { "sample_steps": 500, "sample_method": "dpm++2m", "scheduler": "nope",
                               "guidance": { "txt_cfg": 4.5 } },
        }));
        apply_native(&mut spec, &body).expect("applies");
        let resolved = spec.resolve("model", || 1).expect("valid");
        assert_eq!((resolved.width, resolved.height), (512, 384), "a string width is ignored");
        assert_eq!((resolved.seed, resolved.count, resolved.steps), (7, 8, 100));
        assert_eq!((resolved.sample_method, resolved.scheduler, resolved.txt_cfg), ("dpm++2m", "discrete", 4.5));
        let mut bad = Gen::default();
        assert!(apply_native(&mut bad, &object(json!({ "init_image": "not an image" }))).is_err());
        let invalid = Gen { strength: 1.5, ..Gen::default() };
        assert!(invalid.resolve("model", || 1).is_err());
        let random = Gen { seed: -1, ..Gen::default() }.resolve("model", || 99).expect("valid");
        assert_eq!(random.seed, 99);
    }

    #[test]
    fn extra_args_come_out_of_the_prompt() {
        let mut prompt =
            "a cat <sd_cpp_extra_args>{\"seed\":3}</sd_cpp_extra_args> on a mat<sd_cpp_extra_args>x</sd_cpp_extra_args>"
                .to_owned();
        assert_eq!(take_extra_args(&mut prompt).as_deref(), Some("{\"seed\":3}"));
        assert_eq!(prompt, "a cat  on a mat");
        let mut spec = Gen { prompt: "x <sd_cpp_extra_args>{\"seed\":3}</sd_cpp_extra_args>".into(), ..Gen::default() };
        apply_extra_args(&mut spec).expect("applies");
        assert_eq!((spec.prompt.as_str(), spec.seed), ("x ", 3));
        let mut broken = Gen { prompt: "<sd_cpp_extra_args>[</sd_cpp_extra_args>".into(), ..Gen::default() };
        assert!(apply_extra_args(&mut broken).is_err());
    }

    #[test]
    fn output_formats_and_sampler_names() {
        assert_eq!(output("JPEG", 250, true).map(|o| o.encoding), Ok(Encoding::Jpeg(100)));
        assert!(output("webp", 100, false).is_err_and(|e| e.ends_with("[png, jpeg]")));
        assert_eq!(webui_sampler("Euler a"), Some("euler_a"));
        assert_eq!(webui_sampler("dpm++2m"), Some("dpm++2m"));
        assert_eq!(webui_sampler("UniPC"), None);
    }
}
