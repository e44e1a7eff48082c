//! A workflow template: a ComfyUI workflow in API format with named inputs that
//! Atelier fills (docs/providers/sdapi.md 5.3). Each input names its node and
//! field, and a type that says how a task's value is checked and written:
//! `string`, `integer`, `number`, `boolean`, `seed` (random when absent),
//! `checkpoint`, `sampler`, `scheduler` and `upscale_model` (one of the server's,
//! once known), `image` (a file Atelier uploads to ComfyUI first).

use std::collections::BTreeMap;

use atelier_core::CoreError;
use serde::Deserialize;
use serde_json::{Map, Value, json};

#[derive(Debug, Clone, Deserialize)]
pub struct Template {
    pub title: String,
    #[serde(default)]
    pub description: String,
    pub inputs: BTreeMap<String, Slot>,
    pub workflow: Value,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Slot {
    pub node: String,
    pub field: String,
    #[serde(rename = "type")]
    pub kind: SlotKind,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub minimum: Option<f64>,
    #[serde(default)]
    pub maximum: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SlotKind {
    String,
    Integer,
    Number,
    Boolean,
    Seed,
    Checkpoint,
    Sampler,
    Scheduler,
    UpscaleModel,
    Image,
}

/// What the server offers, from its `/object_info` (empty until known).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Choices {
    pub checkpoints: Vec<String>,
    pub samplers: Vec<String>,
    pub schedulers: Vec<String>,
    pub upscale_models: Vec<String>,
}

impl Choices {
    fn of(&self, kind: SlotKind) -> Option<&[String]> {
        let list = match kind {
            SlotKind::Checkpoint => &self.checkpoints,
            SlotKind::Sampler => &self.samplers,
            SlotKind::Scheduler => &self.schedulers,
            SlotKind::UpscaleModel => &self.upscale_models,
            _ => return None,
        };
        (!list.is_empty()).then_some(list.as_slice())
    }
}

impl Template {
    /// Parses a template and checks that every input names a node and a field of
    /// its workflow.
    pub fn parse(text: &str) -> Result<Self, String> {
        let template: Template = serde_json::from_str(text).map_err(|error| format!("not a template: {error}"))?;
        if !template.workflow.is_object() {
            return Err("`workflow` must be a workflow in ComfyUI's API format (an object of nodes)".into());
        }
        for (name, slot) in &template.inputs {
            let node = &template.workflow[&slot.node];
            if !node["class_type"].is_string() {
                return Err(format!("input {name}: the workflow has no node {:?}", slot.node));
            }
            if node["inputs"].get(&slot.field).is_none() {
                return Err(format!("input {name}: node {} has no input {:?}", slot.node, slot.field));
            }
        }
        Ok(template)
    }

    /// Checks a task's input against the template's inputs (and the server's choices).
    pub fn validate(&self, input: &Value, choices: &Choices) -> Result<Value, CoreError> {
        let Some(given) = input.as_object() else { return Err(CoreError::invalid("input", "must be a JSON object")) };
        if let Some(unknown) = given.keys().find(|key| !self.inputs.contains_key(*key)) {
            let known: Vec<&String> = self.inputs.keys().collect();
            return Err(CoreError::invalid(unknown, format!("unknown field; this workflow takes {known:?}")));
        }
        let mut valid = Map::new();
        for (name, slot) in &self.inputs {
            let value = match given.get(name) {
                None | Some(Value::Null) if slot.required => return Err(CoreError::invalid(name, "is required")),
                None | Some(Value::Null) => continue,
                Some(value) => value,
            };
            valid.insert(name.clone(), check(name, slot, value, choices)?);
        }
        Ok(Value::Object(valid))
    }

    /// The JSON Schema of the template's inputs.
    pub fn schema(&self, choices: &Choices) -> Value {
        let mut properties = Map::new();
        for (name, slot) in &self.inputs {
            let mut property = match slot.kind {
                SlotKind::String => json!({ "type": "string" }),
                SlotKind::Integer => json!({ "type": "integer" }),
                SlotKind::Number => json!({ "type": "number" }),
                SlotKind::Boolean => json!({ "type": "boolean" }),
                SlotKind::Seed => json!({ "type": "integer", "minimum": 0, "maximum": u32::MAX,
                    "description": "Random when absent." }),
                SlotKind::Image => json!({ "type": "string",
                    "description": "An upload (upl_…), an output (img_…), a data URI or a URL: uploaded to ComfyUI first." }),
                SlotKind::Checkpoint | SlotKind::Sampler | SlotKind::Scheduler | SlotKind::UpscaleModel => {
                    json!({ "type": "string" })
                }
            };
            if let Some(list) = choices.of(slot.kind) {
                property["enum"] = json!(list);
            }
            if slot.kind == SlotKind::String && slot.required {
                property["minLength"] = json!(1);
            }
            if let Some(minimum) = slot.minimum {
                property["minimum"] = number(slot.kind, minimum);
            }
            if let Some(maximum) = slot.maximum {
                property["maximum"] = number(slot.kind, maximum);
            }
            properties.insert(name.clone(), property);
        }
        let required: Vec<&String> =
            self.inputs.iter().filter(|(_, slot)| slot.required).map(|(name, _)| name).collect();
        json!({ "type": "object", "additionalProperties": false, "required": required, "properties": properties })
    }

    /// The input files a task names (its `image` inputs).
    pub fn files(&self, input: &Value) -> Vec<(String, String)> {
        self.inputs
            .iter()
            .filter(|(_, slot)| slot.kind == SlotKind::Image)
            .filter_map(|(name, _)| input.get(name).and_then(Value::as_str).map(|file| (name.clone(), file.to_owned())))
            .collect()
    }

    /// The workflow with a task's values written in (`uploaded`: the name ComfyUI
    /// gave each image input; `seed`: for seed inputs left out).
    pub fn fill(&self, input: &Value, uploaded: &BTreeMap<String, String>, seed: u32) -> Value {
        let mut workflow = self.workflow.clone();
        for (name, slot) in &self.inputs {
            let value = match slot.kind {
                SlotKind::Image => uploaded.get(name).map(|file| json!(file)),
                SlotKind::Seed => Some(input.get(name).cloned().unwrap_or(json!(seed))),
                _ => input.get(name).cloned(),
            };
            if let Some(value) = value {
                workflow[&slot.node]["inputs"][&slot.field] = value;
            }
        }
        workflow
    }
}

fn number(kind: SlotKind, value: f64) -> Value {
    if matches!(kind, SlotKind::Integer | SlotKind::Seed) { json!(value as i64) } else { json!(value) }
}

fn check(name: &str, slot: &Slot, value: &Value, choices: &Choices) -> Result<Value, CoreError> {
    let wrong = |what: &str| CoreError::invalid(name, format!("must be {what}"));
    let bounded = |number: f64| -> Result<(), CoreError> {
        if slot.minimum.is_some_and(|minimum| number < minimum) || slot.maximum.is_some_and(|maximum| number > maximum)
        {
            let (low, high) = (slot.minimum.unwrap_or(f64::MIN), slot.maximum.unwrap_or(f64::MAX));
            return Err(CoreError::invalid(name, format!("must be between {low} and {high}, got {number}")));
        }
        Ok(())
    };
    match slot.kind {
        SlotKind::String => {
            let text = value.as_str().ok_or_else(|| wrong("a string"))?;
            if slot.required && text.trim().is_empty() {
                return Err(CoreError::invalid(name, "must not be empty"));
            }
            Ok(json!(text.trim()))
        }
        SlotKind::Integer | SlotKind::Seed => {
            let number = value.as_i64().ok_or_else(|| wrong("an integer"))?;
            if slot.kind == SlotKind::Seed && !(0..=i64::from(u32::MAX)).contains(&number) {
                return Err(CoreError::invalid(name, "must be between 0 and 4294967295"));
            }
            bounded(number as f64)?;
            Ok(json!(number))
        }
        SlotKind::Number => {
            let number = value.as_f64().ok_or_else(|| wrong("a number"))?;
            bounded(number)?;
            Ok(json!(number))
        }
        SlotKind::Boolean => Ok(json!(value.as_bool().ok_or_else(|| wrong("true or false"))?)),
        SlotKind::Image => {
            let reference = value.as_str().ok_or_else(|| wrong("a file reference"))?;
            atelier_core::ports::InputRef::parse(reference).map_err(|reason| CoreError::invalid(name, reason))?;
            Ok(json!(reference))
        }
        SlotKind::Checkpoint | SlotKind::Sampler | SlotKind::Scheduler | SlotKind::UpscaleModel => {
            let choice = value.as_str().ok_or_else(|| wrong("a string"))?;
            if let Some(list) = choices.of(slot.kind)
                && !list.iter().any(|known| known == choice)
            {
                return Err(CoreError::invalid(name, format!("must be one of the server's: {}", list.join(", "))));
            }
            Ok(json!(choice))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BUILT_IN: [&str; 3] = [
        include_str!("templates/txt2img.json"),
        include_str!("templates/img2img.json"),
        include_str!("templates/upscale.json"),
    ];

    #[test]
    fn the_shipped_templates_name_real_nodes_and_fill_them() {
        for text in BUILT_IN {
            Template::parse(text).unwrap_or_else(|error| panic!("{error}"));
        }
        let template = Template::parse(BUILT_IN[0]).unwrap_or_else(|error| panic!("{error}"));
        let choices = Choices { checkpoints: vec!["sd_xl_base_1.0.safetensors".into()], ..Choices::default() };
        let input = json!({ "prompt": " a fox ", "width": 768, "checkpoint": "sd_xl_base_1.0.safetensors" });
        let valid = template.validate(&input, &choices).unwrap_or_else(|error| panic!("{error}"));
        let workflow = template.fill(&valid, &BTreeMap::new(), 42);
        assert_eq!(workflow["6"]["inputs"]["text"], "a fox");
        assert_eq!(workflow["5"]["inputs"]["width"], 768);
        assert_eq!(workflow["3"]["inputs"]["seed"], 42, "a random seed when none is given");
        assert_eq!(workflow["4"]["inputs"]["ckpt_name"], "sd_xl_base_1.0.safetensors");
        let field = |input: Value| match template.validate(&input, &choices) {
            Err(CoreError::InvalidInput { details, .. }) => details["field"].as_str().unwrap_or_default().to_owned(),
            other => panic!("{other:?}"),
        };
        assert_eq!(field(json!({ "prompt": "x", "checkpoint": "other.ckpt" })), "checkpoint");
        assert_eq!(field(json!({ "prompt": "x", "steps": 0 })), "steps");
        assert_eq!(field(json!({ "prompt": "x", "colour": "red" })), "colour");
        assert_eq!(field(json!({})), "prompt");
        let broken = r#"{"title":"t","inputs":{"p":{"node":"9","field":"text","type":"string"}},"workflow":{"1":{"class_type":"X","inputs":{}}}}"#;
        assert!(Template::parse(broken).is_err(), "an input naming no node is refused at load");
    }
}
