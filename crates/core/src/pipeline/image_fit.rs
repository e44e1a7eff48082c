//! A phase's wish for an image (its shape, its reference images) in the words of
//! the model that makes it: every image model names these differently (`width` and
//! `height`, `aspect_ratio` from a list, `size` as `WxH`, `images` or
//! `reference_images`). Read from the model's input schema, so a model added later
//! is fitted the same way.

use serde_json::{Value, json};

use super::phase::ImageFit;

/// The pixel area a free-size model is asked for (about a megapixel).
const AREA: f64 = 1024.0 * 1024.0;

/// `input` with the shape and references set in the fields `schema` offers (fields
/// the input already sets are kept).
pub fn fit_image_input(schema: &Value, mut input: Value, fit: &ImageFit) -> Value {
    let Some(properties) = schema.get("properties").and_then(Value::as_object) else { return input };
    let Some(object) = input.as_object_mut() else { return input };
    let aspect = if fit.aspect.is_finite() && fit.aspect > 0.0 { fit.aspect.clamp(0.25, 4.0) } else { 1.0 };
    if let (Some(width), Some(height)) = (properties.get("width"), properties.get("height"))
        && !object.contains_key("width")
        && !object.contains_key("height")
    {
        let side = |schema: &Value, want: f64| {
            let min = schema.get("minimum").and_then(Value::as_f64).unwrap_or(64.0);
            let max = schema.get("maximum").and_then(Value::as_f64).unwrap_or(2048.0);
            let step = schema.get("multipleOf").and_then(Value::as_f64).unwrap_or(64.0).max(1.0);
            ((want / step).round() * step).clamp(min, max) as i64
        };
        let w = (AREA * aspect).sqrt();
        object.insert("width".into(), json!(side(width, w)));
        object.insert("height".into(), json!(side(height, w / aspect)));
    } else if let Some(choices) = enum_of(properties.get("aspect_ratio"))
        && !object.contains_key("aspect_ratio")
    {
        if let Some(best) = closest(&choices, aspect, ':') {
            object.insert("aspect_ratio".into(), json!(best));
        }
    } else if let Some(choices) = enum_of(properties.get("size"))
        && !object.contains_key("size")
        && let Some(best) = closest(&choices, aspect, 'x')
    {
        object.insert("size".into(), json!(best));
    }
    if let Some(seed) = fit.seed
        && properties.contains_key("seed")
    {
        object.insert("seed".into(), json!(seed));
    }
    // A model whose reference mode is a task type (Midjourney's omni reference,
    // one image of the character) switches to it.
    let mut most = usize::MAX;
    if !fit.references.is_empty()
        && !object.contains_key("task_type")
        && let Some(omni) = enum_of(properties.get("task_type"))
            .and_then(|choices| choices.into_iter().find(|choice| choice.ends_with("omni_reference")))
    {
        object.insert("task_type".into(), json!(omni));
        most = 1;
    }
    if !fit.references.is_empty() {
        for field in ["images", "reference_images"] {
            let Some(property) = properties.get(field) else { continue };
            if object.contains_key(field) || property.get("type").and_then(Value::as_str) != Some("array") {
                continue;
            }
            let max = (property.get("maxItems").and_then(Value::as_u64).unwrap_or(4) as usize).min(most);
            let references: Vec<Value> = fit.references.iter().take(max).map(|id| json!(id)).collect();
            object.insert(field.into(), Value::Array(references));
            break;
        }
    }
    input
}

/// Whether the model takes reference images at all.
pub fn takes_references(schema: &Value) -> bool {
    ["images", "reference_images"]
        .iter()
        .any(|field| schema.pointer(&format!("/properties/{field}/type")).and_then(Value::as_str) == Some("array"))
}

fn enum_of(property: Option<&Value>) -> Option<Vec<String>> {
    let list = property?.get("enum")?.as_array()?;
    Some(list.iter().filter_map(Value::as_str).map(str::to_owned).collect())
}

/// The choice (`16:9`, `1024x1536`) whose ratio is nearest `aspect` (by log ratio).
pub fn closest(choices: &[String], aspect: f64, separator: char) -> Option<String> {
    choices
        .iter()
        .filter_map(|choice| {
            let (w, h) = choice.split_once(separator)?;
            let (w, h) = (w.trim().parse::<f64>().ok()?, h.trim().parse::<f64>().ok()?);
            (w > 0.0 && h > 0.0).then(|| (choice, ((w / h) / aspect).ln().abs()))
        })
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(choice, _)| choice.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fit(aspect: f64, references: &[&str]) -> ImageFit {
        ImageFit { aspect, references: references.iter().map(|id| (*id).to_owned()).collect(), seed: None }
    }

    #[test]
    fn free_sizes_keep_the_aspect_in_the_models_steps() {
        let schema = json!({ "properties": {
            "width": { "type": "integer", "minimum": 64, "maximum": 2048, "multipleOf": 8 },
            "height": { "type": "integer", "minimum": 64, "maximum": 2048, "multipleOf": 8 },
        }});
        let input = fit_image_input(&schema, json!({ "prompt": "p" }), &fit(0.5, &[]));
        let (w, h) = (input["width"].as_i64().expect("w"), input["height"].as_i64().expect("h"));
        assert_eq!((w % 8, h % 8), (0, 0));
        assert!((w as f64 / h as f64 - 0.5).abs() < 0.02, "{w}x{h}");
        let kept = fit_image_input(&schema, json!({ "prompt": "p", "width": 512, "height": 512 }), &fit(0.5, &[]));
        assert_eq!(kept["width"], 512);
    }

    #[test]
    fn listed_ratios_and_sizes_take_the_nearest() {
        let ratios = json!({ "properties": { "aspect_ratio": { "enum": ["1:1", "9:16", "16:9", "3:4", "4:3"] } } });
        assert_eq!(fit_image_input(&ratios, json!({}), &fit(0.7, &[]))["aspect_ratio"], "3:4");
        assert_eq!(fit_image_input(&ratios, json!({}), &fit(2.0, &[]))["aspect_ratio"], "16:9");
        let sizes = json!({ "properties": { "size": { "enum": ["auto", "1024x1024", "1536x1024", "1024x1536"] } } });
        assert_eq!(fit_image_input(&sizes, json!({}), &fit(0.6, &[]))["size"], "1024x1536");
    }

    #[test]
    fn references_go_where_the_model_takes_them() {
        let schema = json!({ "properties": { "images": { "type": "array", "maxItems": 1 } } });
        let input = fit_image_input(&schema, json!({}), &fit(1.0, &["img_a", "img_b"]));
        assert_eq!(input["images"], json!(["img_a"]));
        assert!(takes_references(&schema));
        let none = json!({ "properties": { "prompt": { "type": "string" } } });
        assert_eq!(fit_image_input(&none, json!({}), &fit(1.0, &["img_a"])), json!({}));
        assert!(!takes_references(&none));
        let midjourney = json!({ "properties": {
            "task_type": { "enum": ["mj_txt2img", "mj_img2img", "mj_omni_reference"] },
            "images": { "type": "array" }
        }});
        let input = fit_image_input(&midjourney, json!({}), &fit(1.0, &["img_a", "img_b"]));
        assert_eq!(
            (input["task_type"].as_str(), input["images"].clone()),
            (Some("mj_omni_reference"), json!(["img_a"]))
        );
        assert!(fit_image_input(&midjourney, json!({}), &fit(1.0, &[])).get("task_type").is_none());
    }
}
