//! VolcEngine's image models by `req_key` (protocols.md 4.4, 4.5), each with the
//! fields it takes. One parameter set covers them all, in seed 004's names where
//! seed 004 has one (`width`, `height`, `num_images`, `steps`, `scale`, `seed`)
//! and VolcEngine's own otherwise (`use_pre_llm`, `force_single`…; `image_urls` and
//! `ddim_steps` are accepted as aliases). A field the model does not take is
//! refused, naming the field and the model, never dropped.

use atelier_core::CoreError;
use atelier_core::catalog::{Modality, ModelSpec};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::kit::Named;
use crate::kit::fields::{max_chars, required_text};
use crate::kit::params::{parse_params, to_json};

/// Synchronous (`CVProcess`: the images in the answer) or asynchronous
/// (`CVSync2AsyncSubmitTask`, then `CVSync2AsyncGetResult`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Sync,
    Async,
}

/// The optional fields a model may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// `width` and `height`, both or neither.
    Size,
    /// `size`: the output's area in pixels (Jimeng 4.0).
    Area,
    NumImages,
    Steps,
    Scale,
    Seed,
    UsePreLlm,
    UseSr,
    ReqScheduleConf,
    ForceSingle,
    /// `min_ratio` and `max_ratio` (Jimeng 4.0).
    Ratios,
    /// Input images by URL (`images`, or `image_urls`).
    Images,
}

/// How a model's output size is bounded.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SizeRule {
    /// Each side within this range.
    pub side: (u32, u32),
    /// The area within this range, when the model bounds it.
    pub area: Option<(u64, u64)>,
    /// The default ratio bounds (width / height), when the model bounds it.
    pub ratio: Option<(f64, f64)>,
    /// The size VolcEngine makes when none is given.
    pub default: (u32, u32),
}

pub struct VolcModel {
    pub name: &'static str,
    pub req_key: &'static str,
    pub title: &'static str,
    pub description: &'static str,
    pub style: Style,
    pub fields: &'static [Field],
    pub size: SizeRule,
    /// `scale`'s range and VolcEngine's default.
    pub scale: (f64, f64, f64),
    /// Sent as `model_version` (General 2.1).
    pub model_version: Option<&'static str>,
    pub estimated_seconds: u32,
}

impl Named for VolcModel {
    fn name(&self) -> &str {
        self.name
    }
}

const PROMPT_MAX: usize = 800;
const MAX_IMAGES: usize = 10;
const SCHEDULES: [&str; 2] = ["general_v20_9B_pe", "general_v20_9B_rephraser"];

const GENERAL_2: &[Field] = &[
    Field::Size,
    Field::NumImages,
    Field::Steps,
    Field::Scale,
    Field::Seed,
    Field::UsePreLlm,
    Field::UseSr,
    Field::ReqScheduleConf,
];
const GENERAL_2_SIZE: SizeRule = SizeRule { side: (256, 2048), area: None, ratio: None, default: (512, 512) };

/// Every model, in the order the catalog lists them.
pub fn all() -> Vec<VolcModel> {
    vec![
        VolcModel {
            name: "jimeng_v4.0",
            req_key: "jimeng_t2i_v40",
            title: "Jimeng 4.0 (VolcEngine)",
            description: "Text to image and editing with up to 10 input images, up to 4096×4096; may make several \
                          images unless num_images is 1 (or force_single).",
            style: Style::Async,
            fields: &[
                Field::Size,
                Field::Area,
                Field::NumImages,
                Field::Scale,
                Field::ForceSingle,
                Field::Ratios,
                Field::Images,
            ],
            size: SizeRule {
                side: (1024, 4096),
                area: Some((1024 * 1024, 4096 * 4096)),
                ratio: Some((1.0 / 3.0, 3.0)),
                default: (2048, 2048),
            },
            scale: (0.0, 1.0, 0.5),
            model_version: None,
            estimated_seconds: 40,
        },
        jimeng_3("jimeng_v3.1", "jimeng_t2i_v31", "Jimeng 3.1 (VolcEngine)"),
        jimeng_3("jimeng_v3.0", "jimeng_t2i_v30", "Jimeng 3.0 (VolcEngine)"),
        VolcModel {
            name: "general_v3.0",
            req_key: "high_aes_general_v30l_zt2i",
            title: "General 3.0 (VolcEngine)",
            description: "VolcEngine's general text to image 3.0, answered in one request; sides 512 to 2048.",
            style: Style::Sync,
            fields: &[Field::Size, Field::NumImages, Field::Scale, Field::Seed, Field::UsePreLlm],
            size: SizeRule { side: (512, 2048), area: None, ratio: None, default: (1328, 1328) },
            scale: (1.0, 10.0, 2.5),
            model_version: None,
            estimated_seconds: 15,
        },
        VolcModel {
            name: "general_v2.1",
            req_key: "high_aes_general_v21_L",
            title: "General 2.1 (VolcEngine)",
            description: "VolcEngine's general text to image 2.1, answered in one request.",
            style: Style::Sync,
            fields: GENERAL_2,
            size: GENERAL_2_SIZE,
            scale: (1.0, 10.0, 3.5),
            model_version: Some("general_v2.1_L"),
            estimated_seconds: 15,
        },
        VolcModel {
            name: "general_v2.0",
            req_key: "high_aes_general_v20_L",
            title: "General 2.0 Pro (VolcEngine)",
            description: "VolcEngine's general text to image 2.0 (seed 004's general_v2.0), as an asynchronous job.",
            style: Style::Async,
            fields: GENERAL_2,
            size: GENERAL_2_SIZE,
            scale: (1.0, 10.0, 3.5),
            model_version: None,
            estimated_seconds: 30,
        },
    ]
}

/// Jimeng text to image 3.x: one set of rules for each version.
fn jimeng_3(name: &'static str, req_key: &'static str, title: &'static str) -> VolcModel {
    VolcModel {
        name,
        req_key,
        title,
        description: "Jimeng text to image, 512² to 2048² pixels, ratio 1:3 to 3:1.",
        style: Style::Async,
        fields: &[Field::Size, Field::NumImages, Field::Seed, Field::UsePreLlm],
        size: SizeRule {
            side: (512, 2048),
            area: Some((512 * 512, 2048 * 2048)),
            ratio: Some((1.0 / 3.0, 3.0)),
            default: (1328, 1328),
        },
        scale: (0.0, 0.0, 0.0),
        model_version: None,
        estimated_seconds: 30,
    }
}

/// Every field any model takes; [`VolcModel::validate`] refuses those the model lacks.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VolcParams {
    pub prompt: String,
    /// Accepted only to be refused by name when not empty: no model here has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub negative_prompt: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_images: Option<u8>,
    #[serde(default, alias = "ddim_steps", skip_serializing_if = "Option::is_none")]
    pub steps: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale: Option<f64>,
    /// -1: random.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub use_pre_llm: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub use_sr: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub req_schedule_conf: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub force_single: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_ratio: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_ratio: Option<f64>,
    #[serde(default, alias = "image_urls", skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<String>,
}

impl VolcModel {
    fn takes(&self, field: Field) -> bool {
        self.fields.contains(&field)
    }

    /// Checks an input against this model's fields and ranges; returns it
    /// normalised (the prompt trimmed, an empty negative prompt dropped, `num_images`
    /// 1 turned into Jimeng 4.0's `force_single`).
    pub fn validate(&self, input: &Value) -> Result<Value, CoreError> {
        let mut params: VolcParams = parse_params(input)?;
        params.prompt = required_text("prompt", &params.prompt)?;
        max_chars("prompt", &params.prompt, PROMPT_MAX)?;
        if params.negative_prompt.as_deref().is_some_and(|text| !text.trim().is_empty()) {
            return Err(CoreError::invalid(
                "negative_prompt",
                format!("{} takes no negative prompt (VolcEngine's {} has none): leave it out", self.name, self.title),
            ));
        }
        params.negative_prompt = None;
        let refuse = |field: &str| {
            Err(CoreError::invalid(field, format!("{} does not take {field} (see its input schema)", self.name)))
        };
        let present = [
            (Field::Size, "width", params.width.is_some() || params.height.is_some()),
            (Field::Area, "size", params.size.is_some()),
            (Field::NumImages, "num_images", params.num_images.is_some()),
            (Field::Steps, "steps", params.steps.is_some()),
            (Field::Scale, "scale", params.scale.is_some()),
            (Field::Seed, "seed", params.seed.is_some()),
            (Field::UsePreLlm, "use_pre_llm", params.use_pre_llm.is_some()),
            (Field::UseSr, "use_sr", params.use_sr.is_some()),
            (Field::ReqScheduleConf, "req_schedule_conf", params.req_schedule_conf.is_some()),
            (Field::ForceSingle, "force_single", params.force_single.is_some()),
            (Field::Ratios, "min_ratio", params.min_ratio.is_some() || params.max_ratio.is_some()),
            (Field::Images, "images", !params.images.is_empty()),
        ];
        if let Some((_, name, _)) = present.iter().find(|(field, _, given)| *given && !self.takes(*field)) {
            return refuse(name);
        }
        self.check_size(&params)?;
        match (params.width, params.height) {
            (Some(side), None) => params.height = Some(side),
            (None, Some(side)) => params.width = Some(side),
            _ => {}
        }
        if let Some(count) = params.num_images {
            if count != 1 {
                return Err(CoreError::invalid(
                    "num_images",
                    format!("{} makes one image per task: send 1, or create several tasks", self.name),
                ));
            }
            if self.takes(Field::ForceSingle) {
                if params.force_single == Some(false) {
                    return Err(CoreError::invalid("force_single", "must be true when num_images is 1"));
                }
                params.force_single = Some(true);
            }
            params.num_images = None;
        }
        if let Some(steps) = params.steps
            && !(1..=50).contains(&steps)
        {
            return Err(CoreError::invalid("steps", format!("must be between 1 and 50, got {steps}")));
        }
        if let Some(scale) = params.scale {
            let (min, max, _) = self.scale;
            if !(min..=max).contains(&scale) {
                return Err(CoreError::invalid(
                    "scale",
                    format!("must be between {min} and {max} for {}, got {scale}", self.name),
                ));
            }
        }
        if let Some(seed) = params.seed
            && !(-1..=i64::from(u32::MAX)).contains(&seed)
        {
            return Err(CoreError::invalid("seed", "must be -1 (random) or between 0 and 4294967295"));
        }
        if let Some(conf) = &params.req_schedule_conf
            && !SCHEDULES.contains(&conf.as_str())
        {
            return Err(CoreError::invalid("req_schedule_conf", format!("must be one of {}", SCHEDULES.join(", "))));
        }
        if params.images.len() > MAX_IMAGES {
            return Err(CoreError::invalid("images", format!("at most {MAX_IMAGES} input images")));
        }
        for (index, image) in params.images.iter().enumerate() {
            if !(image.starts_with("https://") || image.starts_with("http://")) {
                return Err(CoreError::invalid(
                    &format!("images[{index}]"),
                    "VolcEngine fetches input images itself: give an http(s) URL it can reach",
                ));
            }
        }
        to_json(&params)
    }

    fn check_size(&self, params: &VolcParams) -> Result<(), CoreError> {
        let rule = self.size;
        let (min_ratio, max_ratio) = match (params.min_ratio, params.max_ratio) {
            (None, None) => rule.ratio.unwrap_or((0.0, f64::INFINITY)),
            (min, max) => {
                let (default_min, default_max) = rule.ratio.unwrap_or((1.0 / 3.0, 3.0));
                let (min, max) = (min.unwrap_or(default_min), max.unwrap_or(default_max));
                for (field, value) in [("min_ratio", min), ("max_ratio", max)] {
                    if !(1.0 / 16.0..16.0).contains(&value) {
                        return Err(CoreError::invalid(field, "must be at least 1/16 and less than 16"));
                    }
                }
                if min > max {
                    return Err(CoreError::invalid("min_ratio", "must not be above max_ratio"));
                }
                (min, max)
            }
        };
        if let Some(area) = params.size {
            let (low, high) = rule.area.unwrap_or((0, u64::MAX));
            if !(low..=high).contains(&area) {
                return Err(CoreError::invalid("size", format!("must be between {low} and {high} pixels, got {area}")));
            }
        }
        let (width, height) = match (params.width, params.height) {
            (None, None) => return Ok(()),
            (Some(width), Some(height)) => (width, height),
            // VolcEngine takes both or neither: one side alone asks for a square.
            (Some(side), None) | (None, Some(side)) => (side, side),
        };
        let field = if params.width.is_some() { "width" } else { "height" };
        let (low, high) = rule.side;
        for (field, side) in [("width", params.width), ("height", params.height)] {
            let Some(side) = side else { continue };
            if !(low..=high).contains(&side) {
                return Err(CoreError::invalid(
                    field,
                    format!("must be between {low} and {high} for {}, got {side}", self.name),
                ));
            }
        }
        if let Some((low, high)) = rule.area {
            let area = u64::from(width) * u64::from(height);
            if !(low..=high).contains(&area) {
                return Err(CoreError::invalid(
                    field,
                    format!("width × height must be between {low} and {high} pixels for {}, got {area}", self.name),
                ));
            }
        }
        let ratio = f64::from(width) / f64::from(height);
        if ratio < min_ratio - 1e-9 || ratio > max_ratio + 1e-9 {
            return Err(CoreError::invalid(
                field,
                format!("width / height must be between {min_ratio:.3} and {max_ratio:.3}, got {ratio:.3}"),
            ));
        }
        Ok(())
    }

    /// The submit's body, in VolcEngine's field names, for a validated input.
    pub fn body(&self, params: &VolcParams) -> Value {
        let mut body = Map::new();
        body.insert("req_key".into(), json!(self.req_key));
        body.insert("prompt".into(), json!(params.prompt));
        if let Some(version) = self.model_version {
            body.insert("model_version".into(), json!(version));
        }
        let mut put = |key: &str, value: Option<Value>| {
            if let Some(value) = value {
                body.insert(key.to_owned(), value);
            }
        };
        put("width", params.width.map(Value::from));
        put("height", params.height.map(Value::from));
        put("size", params.size.map(Value::from));
        put("ddim_steps", params.steps.map(Value::from));
        put("scale", params.scale.map(Value::from));
        put("seed", params.seed.map(Value::from));
        put("use_pre_llm", params.use_pre_llm.map(Value::from));
        put("use_sr", params.use_sr.map(Value::from));
        put("req_schedule_conf", params.req_schedule_conf.clone().map(Value::from));
        put("force_single", params.force_single.map(Value::from));
        put("min_ratio", params.min_ratio.map(Value::from));
        put("max_ratio", params.max_ratio.map(Value::from));
        put("image_urls", (!params.images.is_empty()).then(|| json!(params.images)));
        Value::Object(body)
    }

    pub fn spec(&self, service: &str, requires_config: Option<String>) -> ModelSpec {
        let mut properties = Map::new();
        properties.insert("prompt".into(), json!({ "type": "string", "minLength": 1, "maxLength": PROMPT_MAX }));
        let (low, high) = self.size.side;
        let (default_width, default_height) = self.size.default;
        for field in self.fields {
            match field {
                Field::Size => {
                    properties.insert(
                        "width".into(),
                        json!({ "type": "integer", "minimum": low, "maximum": high,
                        "description": format!("With height ({default_width} when neither is given; alone, a square).") }),
                    );
                    properties.insert(
                        "height".into(),
                        json!({ "type": "integer", "minimum": low, "maximum": high,
                        "description": format!("With width ({default_height} when neither is given; alone, a square).") }),
                    );
                }
                Field::Area => {
                    let (low, high) = self.size.area.unwrap_or((0, u64::MAX));
                    properties.insert(
                        "size".into(),
                        json!({ "type": "integer", "minimum": low, "maximum": high,
                        "description": "The output's area in pixels (width and height override it)." }),
                    );
                }
                Field::NumImages => {
                    properties.insert(
                        "num_images".into(),
                        json!({ "type": "integer", "minimum": 1, "maximum": 1,
                        "description": "One image per task (seed 004's field)." }),
                    );
                }
                Field::Steps => {
                    properties.insert(
                        "steps".into(),
                        json!({ "type": "integer", "minimum": 1, "maximum": 50,
                        "description": "Sampling steps (VolcEngine's ddim_steps)." }),
                    );
                }
                Field::Scale => {
                    let (min, max, default) = self.scale;
                    properties.insert("scale".into(), json!({ "type": "number", "minimum": min, "maximum": max,
                        "description": format!("How closely to follow the prompt; VolcEngine's default is {default}.") }));
                }
                Field::Seed => {
                    properties.insert(
                        "seed".into(),
                        json!({ "type": "integer", "minimum": -1, "maximum": u32::MAX,
                        "description": "-1 for a random seed." }),
                    );
                }
                Field::UsePreLlm => {
                    properties.insert(
                        "use_pre_llm".into(),
                        json!({ "type": "boolean",
                        "description": "Let VolcEngine expand a short prompt." }),
                    );
                }
                Field::UseSr => {
                    properties
                        .insert("use_sr".into(), json!({ "type": "boolean", "description": "Super-resolution." }));
                }
                Field::ReqScheduleConf => {
                    properties.insert("req_schedule_conf".into(), json!({ "type": "string", "enum": SCHEDULES }));
                }
                Field::ForceSingle => {
                    properties.insert(
                        "force_single".into(),
                        json!({ "type": "boolean",
                        "description": "Exactly one image (otherwise several may come, each billed)." }),
                    );
                }
                Field::Ratios => {
                    for name in ["min_ratio", "max_ratio"] {
                        properties.insert(
                            name.into(),
                            json!({ "type": "number", "minimum": 0.0625, "exclusiveMaximum": 16 }),
                        );
                    }
                }
                Field::Images => {
                    properties.insert(
                        "images".into(),
                        json!({ "type": "array", "maxItems": MAX_IMAGES,
                        "items": { "type": "string", "pattern": "^https?://" },
                        "description": "Input images by URL, for editing and references." }),
                    );
                }
            }
        }
        ModelSpec {
            service: service.into(),
            model: self.name.into(),
            aliases: Vec::new(),
            modality: Modality::Image,
            title: self.title.into(),
            description: self.description.into(),
            input_schema: json!({
                "type": "object",
                "additionalProperties": false,
                "required": ["prompt"],
                "properties": properties,
            }),
            estimated_seconds: self.estimated_seconds,
            poll_timeout_secs: None,
            requires_config,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(name: &str) -> VolcModel {
        all().into_iter().find(|m| m.name == name).unwrap_or_else(|| panic!("{name}"))
    }

    fn field_of(error: CoreError) -> String {
        match error {
            CoreError::InvalidInput { details, .. } => details["field"].as_str().unwrap_or_default().to_owned(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn seed_004s_request_maps_to_general_2_0s_fields() {
        let general = model("general_v2.0");
        let input = json!({ "prompt": "一只可爱的猫咪", "width": 1024, "height": 1024, "num_images": 1,
                            "steps": 20, "scale": 7.5 });
        let valid = general.validate(&input).unwrap_or_else(|e| panic!("{e}"));
        let params: VolcParams = serde_json::from_value(valid).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            general.body(&params),
            json!({ "req_key": "high_aes_general_v20_L", "prompt": "一只可爱的猫咪", "width": 1024, "height": 1024,
                    "ddim_steps": 20, "scale": 7.5 })
        );
        // Its negative prompt has nowhere to go: refused by name, never dropped.
        let with_negative = json!({ "prompt": "cat", "negative_prompt": "blurry" });
        assert_eq!(field_of(general.validate(&with_negative).expect_err("refused")), "negative_prompt");
        assert!(general.validate(&json!({ "prompt": "cat", "negative_prompt": "" })).is_ok(), "empty is nothing");
        assert_eq!(
            field_of(general.validate(&json!({ "prompt": "cat", "num_images": 2 })).expect_err("one")),
            "num_images"
        );
    }

    #[test]
    fn each_model_refuses_the_fields_it_lacks() {
        let jimeng3 = model("jimeng_v3.1");
        for (field, value) in [("steps", json!(20)), ("scale", json!(0.5)), ("images", json!(["https://x/y.png"]))] {
            let input = json!({ "prompt": "p", field: value });
            assert_eq!(field_of(jimeng3.validate(&input).expect_err(field)), field);
        }
        let jimeng4 = model("jimeng_v4.0");
        assert_eq!(field_of(jimeng4.validate(&json!({ "prompt": "p", "seed": 3 })).expect_err("seed")), "seed");
    }

    #[test]
    fn jimeng_4_sizes_and_images_follow_its_rules() {
        let jimeng = model("jimeng_v4.0");
        let ok = |input: Value| jimeng.validate(&input).unwrap_or_else(|e| panic!("{input}: {e}"));
        let bad = |input: Value| field_of(jimeng.validate(&input).expect_err("refused"));
        ok(json!({ "prompt": "p", "width": 2048, "height": 2048 }));
        ok(json!({ "prompt": "p", "size": 1048576 }));
        let square = ok(json!({ "prompt": "p", "width": 2048 }));
        assert_eq!((&square["width"], &square["height"]), (&json!(2048), &json!(2048)), "one side: a square");
        assert_eq!(bad(json!({ "prompt": "p", "width": 512, "height": 512 })), "width", "area under 1024²");
        assert_eq!(bad(json!({ "prompt": "p", "width": 4096, "height": 1024 })), "width", "ratio 4 over 3");
        ok(json!({ "prompt": "p", "width": 4096, "height": 1024, "max_ratio": 4 }));
        ok(json!({ "prompt": "p", "width": 3072, "height": 1024 }));
        assert_eq!(bad(json!({ "prompt": "p", "size": 100 })), "size");
        assert_eq!(bad(json!({ "prompt": "p", "scale": 2 })), "scale", "[0, 1] for 4.0");
        assert_eq!(bad(json!({ "prompt": "p", "images": ["upl_1"] })), "images[0]", "VolcEngine fetches by URL");
        let eleven: Vec<String> = (0..11).map(|n| format!("https://example.com/{n}.png")).collect();
        assert_eq!(bad(json!({ "prompt": "p", "images": eleven })), "images");
        let single = ok(json!({ "prompt": "p", "num_images": 1, "image_urls": ["https://example.com/a.png"] }));
        assert_eq!(
            (&single["force_single"], &single["images"][0]),
            (&json!(true), &json!("https://example.com/a.png"))
        );
        assert!(single.get("num_images").is_none());
    }
}
