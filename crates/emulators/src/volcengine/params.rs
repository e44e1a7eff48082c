//! The `req_key`s the emulator serves, how each is called, and the checks of
//! its fields (the providers' protocol notes, 4.4 and 4.5), into a [`Job`]:
//! what to draw. Also the output options every result takes ([`Output`]:
//! `return_url`, `logo_info`, `aigc_meta`), read from a CVProcess body or a
//! GetResult's `req_json`.
//!
//! | req_key | call | fields checked |
//! |---|---|---|
//! | `jimeng_t2i_v40` | async | `prompt` (required), `image_urls` (0–10), `size` [1024², 4096²] (default 2048²), `width`+`height` (both or neither; area as `size`, ratio in [`min_ratio`, `max_ratio`]), `scale` [0, 1], `force_single`, `min_ratio` [1/16, 16), `max_ratio` (1/16, 16] |
//! | `jimeng_t2i_v30`, `jimeng_t2i_v31` | async | `prompt` (≤ 800 chars), `use_pre_llm`, `seed`, `width`/`height` (default 1328; area [512², 2048²]; ratio [1/3, 3]) |
//! | `high_aes_general_v30l_zt2i` | CVProcess | `prompt`, `use_pre_llm`, `seed`, `scale` [1, 10], `width`/`height` each [512, 2048] (default 1328) |
//! | `high_aes_general_v21_L` | CVProcess | `prompt`, `model_version` (`general_v2.1_L`), `req_schedule_conf`, `seed`, `scale`, `ddim_steps`, `width`/`height` (default 512), `use_pre_llm`, `use_sr` |
//! | `high_aes_general_v20_L` | async | as 2.1, `model_version` `general_v2.0_L` |
//!
//! Unknown fields are ignored, as a lenient service would. Jimeng 4.0 without
//! width and height draws a square of side ⌊√size⌋; it answers one image with
//! `force_single`, otherwise 1 to 4 (drawn from a digest of the request, so the
//! same request gets the same count), at most 15 − inputs. The general 2.x
//! ranges are not documented where we looked; the emulator takes `scale`
//! [1, 10], `ddim_steps` [1, 200] and sides [256, 2048] (its own choice), and
//! `use_sr` changes nothing in the drawing.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// How a `req_key` is called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Style {
    /// `CVProcess`.
    Sync,
    /// `CVSync2AsyncSubmitTask` then `CVSync2AsyncGetResult`.
    Async,
}

/// A `req_key` the emulator serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum ReqKey {
    JimengT2iV40,
    JimengT2iV30,
    JimengT2iV31,
    GeneralV30,
    GeneralV21L,
    GeneralV20L,
}

impl ReqKey {
    const ALL: [ReqKey; 6] = [
        ReqKey::JimengT2iV40,
        ReqKey::JimengT2iV30,
        ReqKey::JimengT2iV31,
        ReqKey::GeneralV30,
        ReqKey::GeneralV21L,
        ReqKey::GeneralV20L,
    ];

    pub(super) fn parse(name: &str) -> Option<ReqKey> {
        ReqKey::ALL.into_iter().find(|key| key.as_str() == name)
    }

    pub(super) fn as_str(self) -> &'static str {
        match self {
            ReqKey::JimengT2iV40 => "jimeng_t2i_v40",
            ReqKey::JimengT2iV30 => "jimeng_t2i_v30",
            ReqKey::JimengT2iV31 => "jimeng_t2i_v31",
            ReqKey::GeneralV30 => "high_aes_general_v30l_zt2i",
            ReqKey::GeneralV21L => "high_aes_general_v21_L",
            ReqKey::GeneralV20L => "high_aes_general_v20_L",
        }
    }

    pub(super) fn style(self) -> Style {
        match self {
            ReqKey::GeneralV30 | ReqKey::GeneralV21L => Style::Sync,
            ReqKey::JimengT2iV40 | ReqKey::JimengT2iV30 | ReqKey::JimengT2iV31 | ReqKey::GeneralV20L => Style::Async,
        }
    }
}

/// A checked request: what to draw.
#[derive(Debug, Clone)]
pub(super) struct Job {
    pub(super) req_key: ReqKey,
    pub(super) width: u32,
    pub(super) height: u32,
    pub(super) count: u32,
    /// A digest of the request's fields: the same request draws the same images.
    pub(super) digest: [u8; 32],
}

/// How a result is handed back.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Output {
    /// URLs (`/files/<id>.png`) instead of base64.
    pub(super) return_url: bool,
    /// `logo_info.add_logo`: recorded, not drawn.
    pub(super) add_logo: bool,
    /// An `aigc_meta` was given (and checked): recorded.
    pub(super) aigc_meta: bool,
}

const SIDE_1K: i64 = 1024;
const SIDE_4K: i64 = 4096;

/// Checks `fields` for `req_key`; the error names what is wrong.
pub(super) fn check(req_key: ReqKey, fields: &Map<String, Value>) -> Result<Job, String> {
    let digest = digest(req_key, fields);
    let (width, height, count) = match req_key {
        ReqKey::JimengT2iV40 => jimeng_v40(fields, &digest)?,
        ReqKey::JimengT2iV30 | ReqKey::JimengT2iV31 => jimeng_v3(fields)?,
        ReqKey::GeneralV30 => general_v30(fields)?,
        ReqKey::GeneralV21L | ReqKey::GeneralV20L => general_v2(req_key, fields)?,
    };
    Ok(Job { req_key, width, height, count, digest })
}

fn digest(req_key: ReqKey, fields: &Map<String, Value>) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(req_key.as_str().as_bytes());
    // serde_json's map is ordered by key: the same fields give the same bytes.
    hasher.update(serde_json::to_vec(fields).unwrap_or_default());
    hasher.finalize().into()
}

fn jimeng_v40(fields: &Map<String, Value>, digest: &[u8; 32]) -> Result<(u32, u32, u32), String> {
    prompt(fields, None)?;
    let inputs = urls(fields, "image_urls", 10)?;
    let size = int(fields, "size")?.unwrap_or(2048 * 2048);
    let area = SIDE_1K * SIDE_1K..=SIDE_4K * SIDE_4K;
    if !area.contains(&size) {
        return Err(format!("size must be within [1024*1024, 4096*4096], got {size}"));
    }
    let min_ratio = float(fields, "min_ratio")?.unwrap_or(1.0 / 3.0);
    let max_ratio = float(fields, "max_ratio")?.unwrap_or(3.0);
    if !(1.0 / 16.0..16.0).contains(&min_ratio) {
        return Err(format!("min_ratio must be within [1/16, 16), got {min_ratio}"));
    }
    if !(max_ratio > 1.0 / 16.0 && max_ratio <= 16.0) {
        return Err(format!("max_ratio must be within (1/16, 16], got {max_ratio}"));
    }
    if min_ratio > max_ratio {
        return Err(format!("min_ratio ({min_ratio}) must not exceed max_ratio ({max_ratio})"));
    }
    let (width, height) = match (int(fields, "width")?, int(fields, "height")?) {
        (Some(width), Some(height)) => {
            if width < 1 || height < 1 || !area.contains(&width.saturating_mul(height)) {
                return Err(format!("width*height must be within [1024*1024, 4096*4096], got {width}x{height}"));
            }
            let ratio = width as f64 / height as f64;
            if ratio < min_ratio || ratio > max_ratio {
                return Err(format!(
                    "width/height ({ratio:.3}) must be within [min_ratio, max_ratio] = [{min_ratio:.3}, {max_ratio:.3}]"
                ));
            }
            (width, height)
        }
        (None, None) => {
            let side = size.isqrt();
            (side, side)
        }
        _ => return Err("width and height must be given together".to_owned()),
    };
    if let Some(scale) = float(fields, "scale")?
        && !(0.0..=1.0).contains(&scale)
    {
        return Err(format!("scale must be within [0, 1], got {scale}"));
    }
    let force_single = boolean(fields, "force_single")?.unwrap_or(false);
    let most = 15 - inputs as u32;
    let count = if force_single { 1 } else { (1 + u32::from(digest[31] % 4)).min(most) };
    Ok((side(width)?, side(height)?, count))
}

fn jimeng_v3(fields: &Map<String, Value>) -> Result<(u32, u32, u32), String> {
    prompt(fields, Some(800))?;
    boolean(fields, "use_pre_llm")?;
    seed(fields)?;
    let width = int(fields, "width")?.unwrap_or(1328);
    let height = int(fields, "height")?.unwrap_or(1328);
    if width < 1 || height < 1 || !(512 * 512..=2048 * 2048).contains(&width.saturating_mul(height)) {
        return Err(format!("width*height must be within [512*512, 2048*2048], got {width}x{height}"));
    }
    let ratio = width as f64 / height as f64;
    if !(1.0 / 3.0..=3.0).contains(&ratio) {
        return Err(format!("width/height must be within [1/3, 3], got {width}x{height}"));
    }
    Ok((side(width)?, side(height)?, 1))
}

fn general_v30(fields: &Map<String, Value>) -> Result<(u32, u32, u32), String> {
    prompt(fields, None)?;
    boolean(fields, "use_pre_llm")?;
    seed(fields)?;
    in_range(float(fields, "scale")?, "scale", 1.0, 10.0)?;
    let width = side_in(fields, "width", 1328, 512, 2048)?;
    let height = side_in(fields, "height", 1328, 512, 2048)?;
    Ok((width, height, 1))
}

fn general_v2(req_key: ReqKey, fields: &Map<String, Value>) -> Result<(u32, u32, u32), String> {
    prompt(fields, None)?;
    let version = if req_key == ReqKey::GeneralV21L { "general_v2.1_L" } else { "general_v2.0_L" };
    match string(fields, "model_version")? {
        Some(given) if given != version => {
            return Err(format!("model_version must be `{version}` for {}, got `{given}`", req_key.as_str()));
        }
        _ => {}
    }
    match string(fields, "req_schedule_conf")? {
        Some(conf) if !["general_v20_9B_pe", "general_v20_9B_rephraser"].contains(&conf) => {
            return Err(format!(
                "req_schedule_conf must be general_v20_9B_pe or general_v20_9B_rephraser, got `{conf}`"
            ));
        }
        _ => {}
    }
    seed(fields)?;
    in_range(float(fields, "scale")?, "scale", 1.0, 10.0)?;
    if let Some(steps) = int(fields, "ddim_steps")?
        && !(1..=200).contains(&steps)
    {
        return Err(format!("ddim_steps must be within [1, 200], got {steps}"));
    }
    boolean(fields, "use_pre_llm")?;
    boolean(fields, "use_sr")?;
    let width = side_in(fields, "width", 512, 256, 2048)?;
    let height = side_in(fields, "height", 512, 256, 2048)?;
    Ok((width, height, 1))
}

/// The output options of a CVProcess body or a GetResult `req_json`.
pub(super) fn output(fields: &Map<String, Value>) -> Result<Output, String> {
    let return_url = boolean(fields, "return_url")?.unwrap_or(false);
    let add_logo = match object(fields, "logo_info")? {
        None => false,
        Some(logo) => {
            if let Some(position) = int(&logo, "position")?
                && !(0..=3).contains(&position)
            {
                return Err(format!("logo_info.position must be 0, 1, 2 or 3, got {position}"));
            }
            if let Some(language) = int(&logo, "language")?
                && !(0..=1).contains(&language)
            {
                return Err(format!("logo_info.language must be 0 or 1, got {language}"));
            }
            in_range(float(&logo, "opacity")?, "logo_info.opacity", 0.0, 1.0)?;
            string(&logo, "logo_text_content")?;
            boolean(&logo, "add_logo")?.unwrap_or(false)
        }
    };
    let aigc_meta = match object(fields, "aigc_meta")? {
        None => false,
        Some(meta) => {
            if string(&meta, "producer_id")?.is_none_or(str::is_empty) {
                return Err("aigc_meta.producer_id is required".to_owned());
            }
            for name in ["content_producer", "content_propagator", "propagate_id"] {
                string(&meta, name)?;
            }
            true
        }
    };
    Ok(Output { return_url, add_logo, aigc_meta })
}

/// A GetResult's `req_json`: a JSON object written as a string (absent: the defaults).
pub(super) fn req_json(fields: &Map<String, Value>) -> Result<Output, String> {
    match string(fields, "req_json")? {
        None => Ok(Output::default()),
        Some(text) if text.trim().is_empty() => Ok(Output::default()),
        Some(text) => match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(options)) => output(&options),
            _ => Err("req_json must be a JSON object written as a string".to_owned()),
        },
    }
}

/// A field's value unless absent or null.
fn present<'a>(fields: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    fields.get(name).filter(|v| !v.is_null())
}

pub(super) fn string<'a>(fields: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>, String> {
    match present(fields, name) {
        None => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(other) => Err(format!("{name} must be a string, got {other}")),
    }
}

fn int(fields: &Map<String, Value>, name: &str) -> Result<Option<i64>, String> {
    match present(fields, name) {
        None => Ok(None),
        Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(|| format!("{name} must be an integer, got {n}")),
        Some(other) => Err(format!("{name} must be an integer, got {other}")),
    }
}

fn float(fields: &Map<String, Value>, name: &str) -> Result<Option<f64>, String> {
    match present(fields, name) {
        None => Ok(None),
        Some(Value::Number(n)) => n.as_f64().map(Some).ok_or_else(|| format!("{name} must be a number, got {n}")),
        Some(other) => Err(format!("{name} must be a number, got {other}")),
    }
}

fn boolean(fields: &Map<String, Value>, name: &str) -> Result<Option<bool>, String> {
    match present(fields, name) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(other) => Err(format!("{name} must be a boolean, got {other}")),
    }
}

/// An object field, or a JSON object written as a string (as callback-mode fields are).
fn object(fields: &Map<String, Value>, name: &str) -> Result<Option<Map<String, Value>>, String> {
    match present(fields, name) {
        None => Ok(None),
        Some(Value::Object(object)) => Ok(Some(object.clone())),
        Some(Value::String(text)) => match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(object)) => Ok(Some(object)),
            _ => Err(format!("{name} must be an object")),
        },
        Some(other) => Err(format!("{name} must be an object, got {other}")),
    }
}

/// `prompt`: a required, non-blank string of at most `max` characters.
fn prompt(fields: &Map<String, Value>, max: Option<usize>) -> Result<(), String> {
    match string(fields, "prompt")? {
        None => Err("prompt is required".to_owned()),
        Some(text) if text.trim().is_empty() => Err("prompt must not be empty".to_owned()),
        Some(text) if max.is_some_and(|max| text.chars().count() > max) => {
            Err(format!("prompt must be at most {} characters", max.unwrap_or_default()))
        }
        Some(_) => Ok(()),
    }
}

/// `seed`: an integer, -1 for random.
fn seed(fields: &Map<String, Value>) -> Result<(), String> {
    match int(fields, "seed")? {
        Some(seed) if seed < -1 => Err(format!("seed must be -1 (random) or a non-negative integer, got {seed}")),
        _ => Ok(()),
    }
}

fn in_range(value: Option<f64>, name: &str, min: f64, max: f64) -> Result<(), String> {
    match value {
        Some(v) if !(min..=max).contains(&v) => Err(format!("{name} must be within [{min}, {max}], got {v}")),
        _ => Ok(()),
    }
}

/// A side within `min..=max`, `default` when absent.
fn side_in(fields: &Map<String, Value>, name: &str, default: i64, min: i64, max: i64) -> Result<u32, String> {
    let value = int(fields, name)?.unwrap_or(default);
    if !(min..=max).contains(&value) {
        return Err(format!("{name} must be within [{min}, {max}], got {value}"));
    }
    side(value)
}

fn side(value: i64) -> Result<u32, String> {
    u32::try_from(value).map_err(|_| format!("{value} is not a valid side"))
}

/// A list of at most `max` http(s) URLs; returns how many.
fn urls(fields: &Map<String, Value>, name: &str, max: usize) -> Result<usize, String> {
    match present(fields, name) {
        None => Ok(0),
        Some(Value::Array(items)) => {
            if items.len() > max {
                return Err(format!("{name} takes at most {max} images, got {}", items.len()));
            }
            for item in items {
                match item.as_str() {
                    Some(url) if url.starts_with("http://") || url.starts_with("https://") => {}
                    _ => return Err(format!("{name} must hold http(s) URLs, got {item}")),
                }
            }
            Ok(items.len())
        }
        Some(other) => Err(format!("{name} must be an array of URLs, got {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(value: Value) -> Map<String, Value> {
        value.as_object().cloned().expect("object")
    }

    #[test]
    fn jimeng_40_sizes_ratios_and_counts() {
        let v40 = |value: Value| check(ReqKey::JimengT2iV40, &fields(value));
        let job = v40(json!({ "prompt": "fox" })).expect("defaults");
        assert_eq!((job.width, job.height), (2048, 2048));
        assert!((1..=4).contains(&job.count));
        let job = v40(json!({ "prompt": "fox", "size": 1_500_000, "force_single": true })).expect("size only");
        assert_eq!((job.width, job.height, job.count), (1224, 1224, 1));
        let job =
            v40(json!({ "prompt": "fox", "width": 2560, "height": 1440, "size": 1_048_576 })).expect("width wins");
        assert_eq!((job.width, job.height), (2560, 1440));
        let inputs: Vec<String> = (0..10).map(|i| format!("https://example.com/{i}.png")).collect();
        assert!(v40(json!({ "prompt": "fox", "image_urls": inputs })).expect("ten inputs").count <= 5);
        for refused in [
            json!({ "width": 1024, "height": 1024 }),
            json!({ "prompt": "fox", "width": 1024 }),
            json!({ "prompt": "fox", "height": 1024 }),
            json!({ "prompt": "fox", "width": 512, "height": 512 }),
            json!({ "prompt": "fox", "width": 5000, "height": 4000 }),
            json!({ "prompt": "fox", "width": 4000, "height": 1000 }),
            json!({ "prompt": "fox", "width": 2048, "height": 1024, "max_ratio": 1.5 }),
            json!({ "prompt": "fox", "size": 1_000_000 }),
            json!({ "prompt": "fox", "size": "big" }),
            json!({ "prompt": "fox", "scale": 1.5 }),
            json!({ "prompt": "fox", "min_ratio": 2, "max_ratio": 1 }),
            json!({ "prompt": "fox", "image_urls": vec!["https://example.com/a.png"; 11] }),
            json!({ "prompt": "fox", "image_urls": ["file:///etc/passwd"] }),
            json!({ "prompt": "fox", "force_single": "yes" }),
        ] {
            assert!(v40(refused.clone()).is_err(), "{refused}");
        }
        let same = json!({ "prompt": "fox", "width": 1024, "height": 1024 });
        assert_eq!(v40(same.clone()).expect("ok").digest, v40(same).expect("ok").digest);
    }

    #[test]
    fn other_keys_keep_their_ranges() {
        let ok = |key, value: Value| check(key, &fields(value)).map(|job| (job.width, job.height, job.count));
        assert_eq!(ok(ReqKey::JimengT2iV31, json!({ "prompt": "x" })), Ok((1328, 1328, 1)));
        assert!(ok(ReqKey::JimengT2iV30, json!({ "prompt": "x", "width": 400, "height": 400 })).is_err());
        assert!(ok(ReqKey::JimengT2iV30, json!({ "prompt": "x", "width": 2048, "height": 512 })).is_err());
        assert!(ok(ReqKey::JimengT2iV30, json!({ "prompt": "x".repeat(801) })).is_err());
        assert_eq!(ok(ReqKey::GeneralV30, json!({ "prompt": "x", "width": 512 })), Ok((512, 1328, 1)));
        assert!(ok(ReqKey::GeneralV30, json!({ "prompt": "x", "scale": 0.5 })).is_err());
        assert!(ok(ReqKey::GeneralV30, json!({ "prompt": "x", "seed": -2 })).is_err());
        assert_eq!(
            ok(ReqKey::GeneralV21L, json!({ "prompt": "x", "model_version": "general_v2.1_L" })),
            Ok((512, 512, 1))
        );
        assert!(ok(ReqKey::GeneralV20L, json!({ "prompt": "x", "model_version": "general_v2.1_L" })).is_err());
        assert!(ok(ReqKey::GeneralV21L, json!({ "prompt": "x", "req_schedule_conf": "fast" })).is_err());
        assert_eq!(ReqKey::parse("high_aes_general_v20_L").map(ReqKey::style), Some(Style::Async));
        assert_eq!(ReqKey::parse("nope"), None);
    }

    #[test]
    fn output_options_from_a_body_or_req_json() {
        let options = output(&fields(json!({
            "return_url": true,
            "logo_info": { "add_logo": true, "position": 3, "language": 1, "opacity": 0.5 },
            "aigc_meta": { "producer_id": "p-1" },
        })))
        .expect("ok");
        assert_eq!(options, Output { return_url: true, add_logo: true, aigc_meta: true });
        let text = json!({ "req_json": r#"{"return_url":true,"logo_info":"{\"add_logo\":false}"}"# });
        assert_eq!(req_json(&fields(text)), Ok(Output { return_url: true, ..Output::default() }));
        for refused in [
            json!({ "req_json": "not json" }),
            json!({ "req_json": r#"{"logo_info":{"position":4}}"# }),
            json!({ "req_json": r#"{"aigc_meta":{"content_producer":"x"}}"# }),
            json!({ "req_json": r#"{"return_url":"yes"}"# }),
        ] {
            assert!(req_json(&fields(refused.clone())).is_err(), "{refused}");
        }
    }
}
