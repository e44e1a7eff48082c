//! An OpenAI request's parameters in the words of the Atelier model it names, read
//! from that model's input schema: `n` is `n` or `num_images`, `size` is `size`,
//! `width` and `height`, or the nearest `aspect_ratio`, the text to speak is `input`
//! or `text`, and so on. OpenAI's own optional parameters a model lacks (`quality`,
//! `style`, `user`…) are left out, so code written for OpenAI runs unchanged;
//! any other field the model's schema has passes through (the SDKs' `extra_body`),
//! and one it lacks is refused naming it, as OpenAI refuses an unknown argument.

use serde_json::{Map, Value, json};

use super::error::OpenAiError;

/// Builds one model input.
pub struct Fit<'a> {
    properties: Option<&'a Map<String, Value>>,
    input: Map<String, Value>,
}

impl<'a> Fit<'a> {
    pub fn new(schema: &'a Value) -> Self {
        Self { properties: schema.get("properties").and_then(Value::as_object), input: Map::new() }
    }

    /// Whether the model takes `field`.
    pub fn has(&self, field: &str) -> bool {
        self.properties.is_some_and(|properties| properties.contains_key(field))
    }

    fn property(&self, field: &str) -> Option<&'a Value> {
        self.properties.and_then(|properties| properties.get(field))
    }

    /// Sets the first of `fields` the model takes; false when it takes none.
    pub fn set_first(&mut self, fields: &[&str], value: Value) -> bool {
        match fields.iter().find(|field| self.has(field)) {
            Some(field) => {
                self.input.insert((*field).to_owned(), value);
                true
            }
            None => false,
        }
    }

    /// Sets `field` when the model takes it (an OpenAI option others lack).
    pub fn set_if_taken(&mut self, field: &str, value: Option<Value>) {
        if let Some(value) = value.filter(|value| !value.is_null())
            && self.has(field)
        {
            self.input.insert(field.to_owned(), value);
        }
    }

    /// The prompt, in the model's field for it (`prompt`, or `text` for a QR code).
    pub fn prompt(&mut self, prompt: Option<&str>, param: &str) -> Result<(), OpenAiError> {
        match prompt {
            Some(prompt) if !self.set_first(&["prompt", "text", "input"], json!(prompt)) => {
                Err(OpenAiError::invalid(param, "this model takes no prompt"))
            }
            _ => Ok(()),
        }
    }

    /// How many outputs: `n` or `num_images`; more than one from a model that makes
    /// one per call is refused.
    pub fn count(&mut self, n: Option<u64>) -> Result<(), OpenAiError> {
        let Some(n) = n else { return Ok(()) };
        if n == 0 {
            return Err(OpenAiError::invalid("n", "n must be at least 1"));
        }
        if !self.set_first(&["n", "num_images"], json!(n)) && n > 1 {
            return Err(OpenAiError::invalid("n", "this model makes one output per call: n must be 1"));
        }
        Ok(())
    }

    /// `size` (`WxH`, or `auto`): the model's `size` as given, its `width` and
    /// `height`, or the `aspect_ratio` (and `resolution`) nearest it.
    pub fn size(&mut self, size: Option<&str>) -> Result<(), OpenAiError> {
        let Some(size) = size.map(str::trim).filter(|size| !size.is_empty() && *size != "auto") else { return Ok(()) };
        if self.has("size") && self.accepts("size", size) {
            self.input.insert("size".into(), json!(size));
            return Ok(());
        }
        let (w, h) = parse_size(size).ok_or_else(|| {
            OpenAiError::invalid("size", format!("size {size:?} is not WIDTHxHEIGHT (1024x1024) or auto"))
        })?;
        if self.has("width") && self.has("height") {
            self.input.insert("width".into(), json!(w));
            self.input.insert("height".into(), json!(h));
            return Ok(());
        }
        let aspect = f64::from(w) / f64::from(h);
        let mut fitted = false;
        for (field, separator) in [("aspect_ratio", ':'), ("size", 'x')] {
            if let Some(choices) = self.choices(field)
                && let Some(best) = atelier_core::pipeline::image_fit::closest(&choices, aspect, separator)
            {
                self.input.insert(field.into(), json!(best));
                fitted = true;
                break;
            }
        }
        if let Some(choices) = self.choices("resolution") {
            let short = w.min(h).to_string();
            if let Some(resolution) = choices.iter().find(|choice| choice.trim_end_matches('p') == short) {
                self.input.insert("resolution".into(), json!(resolution));
                fitted = true;
            }
        }
        if fitted {
            Ok(())
        } else {
            Err(OpenAiError::invalid(
                "size",
                format!("this model does not take a size; leave size out or send auto (got {size})"),
            ))
        }
    }

    /// Whether `value` is one of the field's listed choices (or the field lists none).
    fn accepts(&self, field: &str, value: &str) -> bool {
        match self.choices(field) {
            Some(choices) => choices.iter().any(|choice| choice == value),
            None => true,
        }
    }

    fn choices(&self, field: &str) -> Option<Vec<String>> {
        let list = self.property(field)?.get("enum")?.as_array()?;
        let choices: Vec<String> = list.iter().filter_map(Value::as_str).map(str::to_owned).collect();
        (!choices.is_empty()).then_some(choices)
    }

    /// Input files (upload ids) in the model's field for them: a list (`images`,
    /// `reference_images`) or one (`image`, `input_reference`).
    pub fn files(&mut self, ids: Vec<String>, param: &str) -> Result<(), OpenAiError> {
        if ids.is_empty() {
            return Ok(());
        }
        for field in ["images", "reference_images"] {
            if self.property(field).and_then(|p| p.get("type")).and_then(Value::as_str) == Some("array") {
                self.input.insert(field.into(), json!(ids));
                return Ok(());
            }
        }
        if ids.len() == 1 && self.set_first(&["image", "input_reference", "input_image"], json!(ids[0])) {
            return Ok(());
        }
        let message = if self.has("image") || self.has("input_reference") {
            "this model takes one input image"
        } else {
            "this model takes no input image"
        };
        Err(OpenAiError::invalid(param, message))
    }

    /// Fields beyond OpenAI's (the SDKs' `extra_body`): passed when the model takes
    /// them, refused naming them otherwise.
    pub fn extras(&mut self, extra: Map<String, Value>) -> Result<(), OpenAiError> {
        for (field, value) in extra {
            if !self.has(&field) {
                return Err(OpenAiError::invalid(&field, format!("Unrecognized request argument supplied: {field}"))
                    .code("unknown_parameter"));
            }
            self.input.insert(field, value);
        }
        Ok(())
    }

    pub fn finish(self) -> Value {
        Value::Object(self.input)
    }
}

/// `1024x1536` as (1024, 1536).
pub fn parse_size(size: &str) -> Option<(u32, u32)> {
    let (w, h) = size.split_once(['x', 'X', '×'])?;
    let (w, h) = (w.trim().parse::<u32>().ok()?, h.trim().parse::<u32>().ok()?);
    (w > 0 && h > 0).then_some((w, h))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn placeholder() -> Value {
        json!({ "properties": {
            "prompt": { "type": "string" }, "width": { "type": "integer" }, "height": { "type": "integer" },
            "num_images": { "type": "integer" }, "seed": { "type": ["integer", "null"] }
        }})
    }

    #[test]
    fn openai_images_parameters_land_in_each_models_fields() {
        let schema = placeholder();
        let mut fit = Fit::new(&schema);
        fit.prompt(Some("a fox"), "prompt").expect("prompt");
        fit.count(Some(2)).expect("n");
        fit.size(Some("1536x1024")).expect("size");
        fit.set_if_taken("quality", Some(json!("hd")));
        fit.extras(Map::from_iter([("seed".to_owned(), json!(7))])).expect("seed passes");
        assert_eq!(
            fit.finish(),
            json!({ "prompt": "a fox", "num_images": 2, "width": 1536, "height": 1024, "seed": 7 })
        );

        let gpt_image = json!({ "properties": {
            "prompt": {}, "n": {}, "quality": {}, "size": { "enum": ["auto", "1024x1024", "1536x1024", "1024x1536"] }
        }});
        let mut fit = Fit::new(&gpt_image);
        fit.size(Some("1024x1536")).expect("listed size");
        fit.count(Some(3)).expect("n");
        fit.set_if_taken("quality", Some(json!("high")));
        assert_eq!(fit.finish(), json!({ "size": "1024x1536", "n": 3, "quality": "high" }));

        let ratios = json!({ "properties": { "prompt": {}, "aspect_ratio": { "enum": ["1:1", "16:9", "9:16"] },
            "resolution": { "enum": ["720p", "1080p"] } } });
        let mut fit = Fit::new(&ratios);
        fit.size(Some("1280x720")).expect("nearest ratio");
        assert_eq!(fit.finish(), json!({ "aspect_ratio": "16:9", "resolution": "720p" }));
    }

    #[test]
    fn what_a_model_cannot_take_is_refused_naming_the_parameter() {
        let schema = json!({ "properties": { "prompt": {} } });
        let mut fit = Fit::new(&schema);
        assert_eq!(fit.count(Some(2)).expect_err("one per call").param.as_deref(), Some("n"));
        assert!(fit.count(Some(1)).is_ok());
        assert_eq!(fit.size(Some("512x512")).expect_err("no size").param.as_deref(), Some("size"));
        assert!(fit.size(Some("auto")).is_ok());
        let unknown = fit.extras(Map::from_iter([("steps".to_owned(), json!(4))])).expect_err("unknown");
        assert_eq!((unknown.param.as_deref(), unknown.code.as_deref()), (Some("steps"), Some("unknown_parameter")));
        assert_eq!(fit.files(vec!["upl_1".into()], "image").expect_err("no images").param.as_deref(), Some("image"));
        let sized = placeholder();
        assert_eq!(Fit::new(&sized).size(Some("big")).expect_err("malformed").param.as_deref(), Some("size"));
    }

    #[test]
    fn files_go_where_the_model_takes_them() {
        let list = json!({ "properties": { "images": { "type": "array" } } });
        let mut fit = Fit::new(&list);
        fit.files(vec!["upl_1".into(), "upl_2".into()], "image").expect("list");
        assert_eq!(fit.finish(), json!({ "images": ["upl_1", "upl_2"] }));
        let one = json!({ "properties": { "input_reference": { "type": ["string", "null"] } } });
        let mut fit = Fit::new(&one);
        assert!(fit.files(vec!["upl_1".into(), "upl_2".into()], "input_reference").is_err());
        fit.files(vec!["upl_1".into()], "input_reference").expect("one");
        assert_eq!(fit.finish(), json!({ "input_reference": "upl_1" }));
        assert_eq!(parse_size("1024X768"), Some((1024, 768)));
        assert_eq!(parse_size("0x768"), None);
    }
}
