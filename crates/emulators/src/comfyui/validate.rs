//! How `POST /prompt` checks a workflow before queueing it: ComfyUI's
//! `execution.validate_prompt` and `validate_inputs` (confirmed), step for step.
//!
//! 1. Every node needs a `class_type` (400 `invalid_prompt`, "Cannot execute
//!    because a node is missing the class_type property.") naming a known class
//!    (400 `invalid_prompt`, "Cannot execute because node X does not exist.",
//!    details `Node ID '#<id>'`).
//! 2. At least one output node (`SaveImage`, `PreviewImage`), else 400
//!    `prompt_no_outputs`.
//! 3. Each output is checked with everything it links to: each input of the
//!    class is there (`required_input_missing`); a link is `[node_id, index]`
//!    (`bad_linked_input`) to an output of the right type
//!    (`return_type_mismatch`); a value converts as Python's `int()`,
//!    `float()` or `str()` would (`invalid_input_type`; the converted value
//!    replaces the sent one in the queued prompt), lies within `min`/`max`
//!    (`value_smaller_than_min`, `value_bigger_than_max`) and, for a combo, is
//!    one of its choices (`value_not_in_list`, the list quoted, or "(list of
//!    length n)" past 20 choices); `LoadImage` checks its file exists
//!    (`custom_validation_failed`, "image - Invalid image file: x"). A link to
//!    a node that is not there raises (`exception_during_validation` on the
//!    output, `exception_during_inner_validation` on the node in between).
//! 4. Errors are reported by node in `node_errors` (`{"errors":[…],
//!    "dependent_outputs":[…],"class_type":…}`), only on the nodes that have
//!    some. When no output is valid: 400 `prompt_outputs_failed_validation`
//!    whose `details` lists the outputs' own errors ("" when the faults are
//!    upstream); when some are, the prompt runs those, and the 200 carries the
//!    others' `node_errors`.
//!
//! Unconfirmed: the order in which outputs are checked (Python walks a set;
//! the emulator goes by node id), the tracebacks' text.

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value, json};

use super::errors::prompt_error;
use super::files::{Files, annotated};
use super::nodes::{self, Class, Kind, Lists};
use super::python::{self, Exception};

/// What the check makes of a workflow.
#[derive(Debug)]
pub(super) enum Checked {
    /// Runnable: the workflow with its values converted, the outputs to
    /// execute, and the errors of the outputs left out.
    Valid { prompt: Map<String, Value>, outputs: Vec<String>, node_errors: Value },
    /// Refused (400): `error` and `node_errors`.
    Refused { error: Value, node_errors: Value },
}

/// Orders node ids as numbers where they are numbers.
pub(super) fn by_id(a: &str, b: &str) -> Ordering {
    match (a.parse::<u64>(), b.parse::<u64>()) {
        (Ok(x), Ok(y)) => x.cmp(&y),
        (Ok(_), Err(_)) => Ordering::Less,
        (Err(_), Ok(_)) => Ordering::Greater,
        (Err(_), Err(_)) => a.cmp(b),
    }
}

/// The class of a node, if it names a known one.
pub(super) fn class_of(node: &Value) -> Option<&'static Class> {
    node.get("class_type").and_then(Value::as_str).and_then(nodes::class)
}

/// A traceback, as `traceback.format_tb` writes one.
fn traceback(function: &str, line: u32, code: &str) -> Value {
    json!([format!("  File \"/ComfyUI/execution.py\", line {line}, in {function}\n    {code}\n")])
}

/// How deep links are followed before the check gives up as Python does at its
/// recursion limit (lower here: the emulator recurses on a small stack).
const MAX_DEPTH: usize = 128;

/// Checks `prompt` (ComfyUI's `validate_prompt`).
pub(super) fn validate(prompt: &Map<String, Value>, lists: &Lists<'_>, files: &Files) -> Checked {
    let mut outputs = Vec::new();
    for (id, node) in prompt {
        let Some(class_type) = node.get("class_type") else {
            let error = prompt_error(
                "invalid_prompt",
                "Cannot execute because a node is missing the class_type property.",
                &format!("Node ID '#{id}'"),
            );
            return Checked::Refused { error, node_errors: json!({}) };
        };
        let Some(class) = class_type.as_str().and_then(nodes::class) else {
            let error = prompt_error(
                "invalid_prompt",
                &format!("Cannot execute because node {} does not exist.", python::str_of(class_type)),
                &format!("Node ID '#{id}'"),
            );
            return Checked::Refused { error, node_errors: json!({}) };
        };
        if class.output_node {
            outputs.push(id.clone());
        }
    }
    if outputs.is_empty() {
        let error = prompt_error("prompt_no_outputs", "Prompt has no outputs", "");
        return Checked::Refused { error, node_errors: json!({}) };
    }
    outputs.sort_by(|a, b| by_id(a, b));

    let mut checker = Checker {
        prompt,
        converted: prompt.clone(),
        lists,
        files,
        validated: HashMap::new(),
        order: Vec::new(),
        visiting: HashSet::new(),
    };
    let mut good = Vec::new();
    let mut failed: Vec<Vec<Value>> = Vec::new();
    let mut node_errors = Map::new();
    for output in &outputs {
        let (valid, reasons) = match checker.validate_inputs(output) {
            Ok(valid) => (valid, checker.validated.get(output).map(|(_, r)| r.clone()).unwrap_or_default()),
            Err(ex) => {
                let reasons = vec![json!({
                    "type": "exception_during_validation",
                    "message": "Exception when validating node",
                    "details": ex.message,
                    "extra_info": {
                        "exception_type": ex.kind,
                        "traceback": traceback(
                            "validate_prompt",
                            1357,
                            "m = await validate_inputs(prompt_id, prompt, o, validated)",
                        ),
                    },
                })];
                checker.record(output, false, reasons.clone());
                (false, reasons)
            }
        };
        if valid {
            good.push(output.clone());
            continue;
        }
        failed.push(reasons);
        for node_id in &checker.order {
            let Some((false, reasons)) = checker.validated.get(node_id) else { continue };
            if reasons.is_empty() {
                continue;
            }
            let entry = node_errors.entry(node_id.clone()).or_insert_with(|| {
                let class_type = prompt.get(node_id).and_then(|n| n.get("class_type")).cloned().unwrap_or(Value::Null);
                json!({ "errors": reasons, "dependent_outputs": [], "class_type": class_type })
            });
            if let Some(dependents) = entry.get_mut("dependent_outputs").and_then(Value::as_array_mut) {
                dependents.push(json!(output));
            }
        }
    }
    if good.is_empty() {
        let details: Vec<String> = failed
            .iter()
            .flatten()
            .map(|e| format!("{}: {}", e["message"].as_str().unwrap_or(""), e["details"].as_str().unwrap_or("")))
            .collect();
        let error =
            prompt_error("prompt_outputs_failed_validation", "Prompt outputs failed validation", &details.join("\n"));
        return Checked::Refused { error, node_errors: Value::Object(node_errors) };
    }
    Checked::Valid { prompt: checker.converted, outputs: good, node_errors: Value::Object(node_errors) }
}

struct Checker<'a> {
    prompt: &'a Map<String, Value>,
    /// The workflow with its values converted.
    converted: Map<String, Value>,
    lists: &'a Lists<'a>,
    files: &'a Files,
    /// Each checked node: valid, and its own errors.
    validated: HashMap<String, (bool, Vec<Value>)>,
    /// The checked nodes, in the order first checked (Python's dict order).
    order: Vec<String>,
    /// The nodes being checked now, down the links (a cycle, or a chain past
    /// Python's recursion limit, raises `RecursionError`).
    visiting: HashSet<String>,
}

impl Checker<'_> {
    fn record(&mut self, id: &str, valid: bool, reasons: Vec<Value>) {
        if !self.validated.contains_key(id) {
            self.order.push(id.to_owned());
        }
        self.validated.insert(id.to_owned(), (valid, reasons));
    }

    fn set_converted(&mut self, id: &str, input: &str, value: Value) {
        if let Some(inputs) =
            self.converted.get_mut(id).and_then(|n| n.get_mut("inputs")).and_then(Value::as_object_mut)
        {
            inputs.insert(input.to_owned(), value);
        }
    }

    /// ComfyUI's `validate_inputs`: whether node `id` and what it links to are
    /// valid; its errors go to `validated`. An `Err` is an exception raised
    /// while checking (a link to a node that is not there).
    fn validate_inputs(&mut self, id: &str) -> Result<bool, Exception> {
        if let Some((valid, _)) = self.validated.get(id) {
            return Ok(*valid);
        }
        if self.visiting.contains(id) || self.visiting.len() >= MAX_DEPTH {
            return Err(Exception::new("RecursionError", "maximum recursion depth exceeded"));
        }
        self.visiting.insert(id.to_owned());
        let checked = self.check_node(id);
        self.visiting.remove(id);
        checked
    }

    fn check_node(&mut self, id: &str) -> Result<bool, Exception> {
        let prompt = self.prompt;
        let node = prompt.get(id).ok_or_else(|| Exception::new("KeyError", python::repr_str(id)))?;
        let inputs =
            node.get("inputs").and_then(Value::as_object).ok_or_else(|| Exception::new("KeyError", "'inputs'"))?;
        let class = class_of(node).ok_or_else(|| Exception::new("KeyError", "'class_type'"))?;

        let mut errors: Vec<Value> = Vec::new();
        let mut valid = true;
        for input in class.inputs {
            let name = input.name;
            let config = self.lists.config(input);
            let Some(mut value) = inputs.get(name) else {
                errors.push(json!({
                    "type": "required_input_missing",
                    "message": "Required input is missing",
                    "details": name,
                    "extra_info": { "input_name": name },
                }));
                continue;
            };
            if let Some(wrapped) = value.get("__value__") {
                value = wrapped;
            }
            if let Value::Array(link) = value {
                if link.len() != 2 {
                    errors.push(json!({
                        "type": "bad_linked_input",
                        "message": "Bad linked input, must be a length-2 list of [node_id, slot_index]",
                        "details": name,
                        "extra_info": { "input_name": name, "input_config": config, "received_value": value },
                    }));
                    continue;
                }
                let (from, received_type) = linked_output(prompt, &link[0], &link[1])?;
                let expected = input_type(input, self.lists);
                if !type_matches(received_type, &expected) {
                    errors.push(json!({
                        "type": "return_type_mismatch",
                        "message": "Return type mismatch between linked nodes",
                        "details": format!(
                            "{name}, received_type({received_type}) mismatch input_type({})",
                            python::str_of(&expected)
                        ),
                        "extra_info": {
                            "input_name": name,
                            "input_config": config,
                            "received_type": received_type,
                            "linked_node": value,
                        },
                    }));
                    continue;
                }
                match self.validate_inputs(&from) {
                    Ok(true) => {}
                    Ok(false) => valid = false,
                    Err(ex) => {
                        valid = false;
                        let reason = json!({
                            "type": "exception_during_inner_validation",
                            "message": "Exception when validating inner node",
                            "details": ex.message,
                            "extra_info": {
                                "input_name": name,
                                "input_config": config,
                                "exception_message": ex.message,
                                "exception_type": ex.kind,
                                "traceback": traceback(
                                    "validate_inputs",
                                    1185,
                                    "o_class_type = prompt[o_id]['class_type']",
                                ),
                                "linked_node": value,
                            },
                        });
                        self.record(&from, false, vec![reason]);
                    }
                }
                continue;
            }
            match self.check_value(class, input, value, &config) {
                Ok(converted) => {
                    if let Some(converted) = converted {
                        self.set_converted(id, name, converted);
                    }
                }
                Err(error) => errors.push(error),
            }
        }
        if class.name == "LoadImage"
            && let Some(image) = inputs.get("image").filter(|v| !v.is_array())
        {
            let exists = image
                .as_str()
                .and_then(annotated)
                .is_some_and(|(folder, subfolder, name)| self.files.get(folder, &subfolder, &name).is_some());
            if !exists {
                errors.push(json!({
                    "type": "custom_validation_failed",
                    "message": "Custom validation failed for node",
                    "details": format!("image - Invalid image file: {}", python::str_of(image)),
                    "extra_info": { "input_name": "image" },
                }));
            }
        }
        let valid = valid && errors.is_empty();
        self.record(id, valid, errors);
        Ok(valid)
    }

    /// A widget value: converted (`Some` when it changes), or its error.
    fn check_value(
        &self,
        class: &Class,
        input: &nodes::Input,
        value: &Value,
        config: &Value,
    ) -> Result<Option<Value>, Value> {
        let name = input.name;
        let invalid_type = |ex: Exception, kind: &str| {
            json!({
                "type": "invalid_input_type",
                "message": format!("Failed to convert an input value to a {kind} value"),
                "details": format!("{name}, {}, {}", python::str_of(value), ex.message),
                "extra_info": {
                    "input_name": name,
                    "input_config": config,
                    "received_value": value,
                    "exception_message": ex.message,
                },
            })
        };
        let out_of_range = |kind: &str, message: String, received: &Value| {
            json!({
                "type": kind,
                "message": message,
                "details": name,
                "extra_info": { "input_name": name, "input_config": config, "received_value": received },
            })
        };
        match input.kind {
            Kind::Int { min, max, .. } => {
                let v = python::to_int(value).map_err(|ex| invalid_type(ex, "INT"))?;
                let converted = python::int_json(v);
                if v < min {
                    return Err(out_of_range(
                        "value_smaller_than_min",
                        format!("Value {v} smaller than min of {min}"),
                        &converted,
                    ));
                }
                if v > max {
                    return Err(out_of_range(
                        "value_bigger_than_max",
                        format!("Value {v} bigger than max of {max}"),
                        &converted,
                    ));
                }
                Ok(Some(converted))
            }
            Kind::Float { min, max, .. } => {
                let v = python::to_float(value).map_err(|ex| invalid_type(ex, "FLOAT"))?;
                let converted = json!(v);
                let (written, min_written, max_written) = (python::float(v), python::float(min), python::float(max));
                if v < min {
                    return Err(out_of_range(
                        "value_smaller_than_min",
                        format!("Value {written} smaller than min of {min_written}"),
                        &converted,
                    ));
                }
                if v > max {
                    return Err(out_of_range(
                        "value_bigger_than_max",
                        format!("Value {written} bigger than max of {max_written}"),
                        &converted,
                    ));
                }
                Ok(Some(converted))
            }
            Kind::Text { .. } => Ok(Some(Value::String(python::str_of(value)))),
            // LoadImage checks its image itself (VALIDATE_INPUTS), not against the list.
            Kind::Combo(_) if class.name == "LoadImage" => Ok(None),
            Kind::Combo(choices) => {
                let list = self.lists.choices(choices);
                if value.as_str().is_some_and(|v| list.iter().any(|choice| choice == v)) {
                    return Ok(None);
                }
                let (list_info, input_config) = if list.len() > 20 {
                    (format!("(list of length {})", list.len()), Value::Null)
                } else {
                    (python::list_of_str(&list), config.clone())
                };
                Err(json!({
                    "type": "value_not_in_list",
                    "message": "Value not in list",
                    "details": format!("{name}: '{}' not in {list_info}", python::str_of(value)),
                    "extra_info": { "input_name": name, "input_config": input_config, "received_value": value },
                }))
            }
            Kind::Link(_) => Ok(None),
        }
    }
}

/// The node a link points at and the type of the output it names, or the
/// exception Python raises looking them up (`prompt[o_id]`, `RETURN_TYPES[i]`).
fn linked_output(
    prompt: &Map<String, Value>,
    node: &Value,
    index: &Value,
) -> Result<(String, &'static str), Exception> {
    let (key, missing) = match node {
        Value::String(s) => (s.clone(), python::repr_str(s)),
        other => (python::str_of(other), python::repr(other)),
    };
    let from = prompt.get(&key).filter(|_| node.is_string()).ok_or_else(|| Exception::new("KeyError", missing))?;
    let class = class_of(from).ok_or_else(|| Exception::new("KeyError", "'class_type'"))?;
    let outputs = class.outputs;
    let index = match index {
        Value::Number(n) if n.is_i64() || n.is_u64() => n.as_i64().unwrap_or(i64::MAX),
        Value::Bool(b) => i64::from(*b),
        other => {
            return Err(Exception::new(
                "TypeError",
                format!("tuple indices must be integers or slices, not {}", python::type_name(other)),
            ));
        }
    };
    let len = outputs.len() as i64;
    let at = if index < 0 { index + len } else { index };
    let kind = usize::try_from(at)
        .ok()
        .and_then(|at| outputs.get(at))
        .ok_or_else(|| Exception::new("IndexError", "tuple index out of range"))?;
    Ok((key, kind))
}

/// The type an input takes, as ComfyUI compares it (`"INT"`, or a combo's list).
fn input_type(input: &nodes::Input, lists: &Lists<'_>) -> Value {
    match input.kind {
        Kind::Int { .. } => json!("INT"),
        Kind::Float { .. } => json!("FLOAT"),
        Kind::Text { .. } => json!("STRING"),
        Kind::Combo(choices) => json!(lists.choices(choices)),
        Kind::Link(kind) => json!(kind),
    }
}

/// `validate_node_input`: the same type, `*`, or comma-separated unions that meet.
fn type_matches(received: &str, expected: &Value) -> bool {
    let Some(expected) = expected.as_str() else { return false };
    if received == expected || received == "*" || expected == "*" {
        return true;
    }
    let received: Vec<&str> = received.split(',').map(str::trim).collect();
    expected.split(',').map(str::trim).any(|t| received.contains(&t))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::comfyui::ComfyUiEmulatorConfig;

    fn txt2img() -> Map<String, Value> {
        let workflow = json!({
            "3": { "class_type": "KSampler", "inputs": {
                "seed": 5, "steps": "20", "cfg": 7, "sampler_name": "euler", "scheduler": "normal", "denoise": 1,
                "model": ["4", 0], "positive": ["6", 0], "negative": ["7", 0], "latent_image": ["5", 0]
            } },
            "4": { "class_type": "CheckpointLoaderSimple", "inputs": { "ckpt_name": "v1-5-pruned-emaonly.safetensors" } },
            "5": { "class_type": "EmptyLatentImage", "inputs": { "width": 512, "height": 512, "batch_size": 1 } },
            "6": { "class_type": "CLIPTextEncode", "inputs": { "text": "a fox", "clip": ["4", 1] } },
            "7": { "class_type": "CLIPTextEncode", "inputs": { "text": 12, "clip": ["4", 1] } },
            "8": { "class_type": "VAEDecode", "inputs": { "samples": ["3", 0], "vae": ["4", 2] } },
            "9": { "class_type": "SaveImage", "inputs": { "filename_prefix": "ComfyUI", "images": ["8", 0] } }
        });
        workflow.as_object().cloned().unwrap_or_default()
    }

    fn check(prompt: &Map<String, Value>) -> Checked {
        let config = ComfyUiEmulatorConfig::default();
        let lists = Lists { config: &config, input_images: Vec::new() };
        validate(prompt, &lists, &Files::default())
    }

    #[test]
    fn a_valid_workflow_is_converted_and_runs_its_outputs() {
        let Checked::Valid { prompt, outputs, node_errors } = check(&txt2img()) else { panic!("valid") };
        assert_eq!(outputs, ["9"]);
        assert_eq!(node_errors, json!({}));
        assert_eq!(prompt["3"]["inputs"]["steps"], json!(20));
        assert_eq!(prompt["3"]["inputs"]["cfg"], json!(7.0));
        assert_eq!(prompt["7"]["inputs"]["text"], json!("12"));
    }

    #[test]
    fn errors_are_reported_by_node() {
        let mut prompt = txt2img();
        prompt["4"]["inputs"]["ckpt_name"] = json!("x.safetensors");
        prompt["3"]["inputs"]["steps"] = json!(0);
        prompt["3"]["inputs"]["sampler_name"] = json!("nope");
        let Checked::Refused { error, node_errors } = check(&prompt) else { panic!("refused") };
        assert_eq!(error["type"], "prompt_outputs_failed_validation");
        assert_eq!(error["details"], "", "the output's own errors only");
        let ckpt = &node_errors["4"];
        assert_eq!(ckpt["class_type"], "CheckpointLoaderSimple");
        assert_eq!(ckpt["dependent_outputs"], json!(["9"]));
        assert_eq!(ckpt["errors"][0]["type"], "value_not_in_list");
        assert_eq!(
            ckpt["errors"][0]["details"],
            "ckpt_name: 'x.safetensors' not in ['v1-5-pruned-emaonly.safetensors', 'sd_xl_base_1.0.safetensors', \
             'sd_xl_refiner_1.0.safetensors']"
        );
        let sampler = &node_errors["3"]["errors"];
        assert_eq!(sampler[0]["message"], "Value 0 smaller than min of 1");
        assert_eq!(sampler[1]["details"], "sampler_name: 'nope' not in (list of length 37)");
        assert_eq!(sampler[1]["extra_info"]["input_config"], Value::Null);
        assert!(node_errors.get("9").is_none(), "downstream nodes carry no errors");
    }

    #[test]
    fn structure_errors_come_first() {
        let mut prompt = txt2img();
        prompt["5"]["class_type"] = json!("Nope");
        let Checked::Refused { error, .. } = check(&prompt) else { panic!("refused") };
        assert_eq!(error["message"], "Cannot execute because node Nope does not exist.");
        assert_eq!(error["details"], "Node ID '#5'");

        let mut prompt = txt2img();
        prompt.remove("9");
        let Checked::Refused { error, .. } = check(&prompt) else { panic!("refused") };
        assert_eq!(error["type"], "prompt_no_outputs");

        let mut prompt = txt2img();
        prompt["9"]["inputs"]["images"] = json!(["99", 0]);
        let Checked::Refused { error, node_errors } = check(&prompt) else { panic!("refused") };
        assert_eq!(error["details"], "Exception when validating node: '99'");
        assert_eq!(node_errors["9"]["errors"][0]["type"], "exception_during_validation");

        let mut prompt = txt2img();
        prompt["8"]["inputs"]["vae"] = json!(["4", 0]);
        prompt["3"]["inputs"].as_object_mut().map(|i| i.remove("positive"));
        let Checked::Refused { node_errors, .. } = check(&prompt) else { panic!("refused") };
        assert_eq!(node_errors["8"]["errors"][0]["details"], "vae, received_type(MODEL) mismatch input_type(VAE)");
        assert_eq!(node_errors["3"]["errors"][0]["type"], "required_input_missing");
    }
}
