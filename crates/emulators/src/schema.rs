//! A minimal JSON instance valid against a schema, shared by the emulators
//! whose text models answer in JSON: Gemini's JSON mode (`google/gemini.rs`,
//! a `responseSchema` or `responseJsonSchema`) and OpenAI's structured
//! outputs (`openai/chat.rs`, `response_format.json_schema.schema`).
//!
//! Two schema dialects are read: Gemini's OpenAPI-subset `Schema` (upper-case
//! `type`s, `nullable`, `propertyOrdering`, proto field names in either
//! spelling) and plain JSON Schema (`$ref`/`$defs`, `const`, type lists,
//! `prefixItems`, numeric `exclusiveMinimum`).
//!
//! Minimal: an object has its `required` properties only (then more, in
//! `propertyOrdering`, up to `minProperties`); an array has `minItems` items,
//! each drawn with its index so that items differ (`uniqueItems`); a string
//! is `text` (`text<i>` for the i-th item), or an example of its `format`
//! (`date-time`, `date`, `time`, `email`, `uri`, `uuid`…), padded to
//! `minLength` and cut to `maxLength`; a number is the lowest its bounds and
//! `multipleOf` allow, else 0 (plus the item index); a boolean is `false`
//! (alternating in arrays); `enum` gives its first value (the i-th in
//! arrays), `const` its value, `anyOf`/`oneOf` their first non-null branch,
//! `allOf` its branches merged. Not honoured: `pattern`, `not`,
//! `if`/`then`/`else`, `dependentRequired`, remote `$ref`s (an error).

use std::cell::Cell;

use serde_json::{Map, Value, json};

/// How deep a schema may nest (or refer to itself) before the emulator gives up.
const MAX_DEPTH: usize = 48;
/// The most items an array (or properties an object) may need.
const MAX_ITEMS: u64 = 1000;
/// The most values one instance may hold, nested arrays and all.
const MAX_VALUES: u64 = 100_000;
/// The longest string a `minLength` may ask for.
const MAX_LENGTH: u64 = 100_000;

/// A minimal value valid against `schema`, or why there is none the emulator can make.
pub(crate) fn instance(schema: &Value) -> Result<Value, String> {
    Builder { root: schema, built: Cell::new(0) }.build(schema, 0, 0)
}

struct Builder<'a> {
    root: &'a Value,
    /// Values built so far (bounded by [`MAX_VALUES`]).
    built: Cell<u64>,
}

/// A schema keyword, written either way Gemini's proto `Schema` allows
/// (`minItems` or `min_items`; `camel_name` is the lowerCamelCase one), `null`
/// counting as absent. The same reading as `google/input.rs`'s `field`.
fn field<'a>(schema: &'a Map<String, Value>, camel_name: &str) -> Option<&'a Value> {
    schema.iter().find(|(key, value)| !value.is_null() && camel(key) == camel_name).map(|(_, value)| value)
}

/// `min_items` → `minItems`.
fn camel(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = false;
    for c in name.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// A whole number: `8`, `8.0`, or, as proto JSON writes 64-bit integers, `"8"`.
fn whole_number(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn number(value: Option<&Value>) -> Option<f64> {
    value.and_then(|v| match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    })
}

/// A bound (`minimum`/`maximum`) and whether it is exclusive, in both JSON
/// Schema spellings: a numeric `exclusiveMinimum`, or a boolean next to `minimum`.
fn bound(schema: &Map<String, Value>, inclusive: &str, exclusive: &str) -> Option<(f64, bool)> {
    let plain = number(field(schema, inclusive));
    match field(schema, exclusive) {
        Some(Value::Bool(true)) => plain.map(|b| (b, true)),
        Some(other) => match (number(Some(other)), plain) {
            (Some(e), Some(p)) if p > e && inclusive == "minimum" => Some((p, false)),
            (Some(e), Some(p)) if p < e && inclusive == "maximum" => Some((p, false)),
            (Some(e), _) => Some((e, true)),
            (None, p) => p.map(|b| (b, false)),
        },
        None => plain.map(|b| (b, false)),
    }
}

/// The schema's type, lower-case: the first non-null of a list, or inferred
/// from its keywords when absent.
fn type_of(schema: &Map<String, Value>) -> Option<String> {
    match field(schema, "type") {
        Some(Value::String(t)) if !t.eq_ignore_ascii_case("TYPE_UNSPECIFIED") => Some(t.to_ascii_lowercase()),
        Some(Value::Array(types)) => {
            let types: Vec<String> = types.iter().filter_map(Value::as_str).map(str::to_ascii_lowercase).collect();
            types.iter().find(|t| *t != "null").or(types.first()).cloned()
        }
        _ if field(schema, "properties").is_some() || field(schema, "required").is_some() => Some("object".into()),
        _ if field(schema, "items").is_some() || field(schema, "prefixItems").is_some() => Some("array".into()),
        _ => None,
    }
}

/// Whether a branch of `anyOf`/`oneOf` admits only null.
fn is_null_only(schema: &Value) -> bool {
    schema.as_object().is_some_and(|s| type_of(s).as_deref() == Some("null"))
}

impl Builder<'_> {
    fn resolve(&self, reference: &str) -> Result<&Value, String> {
        let Some(pointer) = reference.strip_prefix('#') else {
            return Err(format!("only local references (#/$defs/…) are supported, got `{reference}`"));
        };
        if pointer.is_empty() {
            return Ok(self.root);
        }
        self.root.pointer(pointer).ok_or_else(|| format!("the reference `{reference}` points at nothing"))
    }

    fn build(&self, schema: &Value, depth: usize, variant: usize) -> Result<Value, String> {
        if depth > MAX_DEPTH {
            return Err("the schema nests too deep (or refers to itself without end)".into());
        }
        self.built.set(self.built.get() + 1);
        if self.built.get() > MAX_VALUES {
            return Err(format!("the instance would hold more than {MAX_VALUES} values"));
        }
        let schema = match schema {
            Value::Bool(true) => return Ok(Value::Null),
            Value::Bool(false) => return Err("the schema `false` admits no value".into()),
            Value::Object(schema) => schema,
            other => return Err(format!("a schema must be an object, got {other}")),
        };
        if let Some(reference) = field(schema, "$ref") {
            let reference = reference.as_str().ok_or("`$ref` must be a string")?;
            return self.build(self.resolve(reference)?, depth + 1, variant);
        }
        if let Some(value) = field(schema, "const") {
            return Ok(value.clone());
        }
        if let Some(Value::Array(values)) = field(schema, "enum")
            && !values.is_empty()
        {
            return Ok(values[variant % values.len()].clone());
        }
        for combinator in ["anyOf", "oneOf"] {
            if let Some(Value::Array(branches)) = field(schema, combinator)
                && let Some(first) = branches.iter().find(|b| !is_null_only(b)).or(branches.first())
            {
                return self.build(first, depth + 1, variant);
            }
        }
        if let Some(Value::Array(branches)) = field(schema, "allOf")
            && !branches.is_empty()
        {
            let mut merged: Option<Value> = None;
            for branch in branches {
                let value = self.build(branch, depth + 1, variant)?;
                merged = Some(match (merged, value) {
                    (Some(Value::Object(mut all)), Value::Object(more)) => {
                        all.extend(more);
                        Value::Object(all)
                    }
                    (Some(first), _) => first,
                    (None, value) => value,
                });
            }
            return Ok(merged.unwrap_or(Value::Null));
        }
        match type_of(schema).as_deref() {
            Some("object") => self.object(schema, depth, variant),
            Some("array") => self.array(schema, depth),
            Some("string") => string(schema, variant).map(Value::String),
            Some("integer") => integer(schema, variant).map(|n| json!(n)),
            Some("number") => Ok(json!(float(schema, variant))),
            Some("boolean") => Ok(Value::Bool(variant % 2 == 1)),
            Some("null") | None => Ok(Value::Null),
            Some(other) => Err(format!("unknown type `{other}`")),
        }
    }

    fn object(&self, schema: &Map<String, Value>, depth: usize, variant: usize) -> Result<Value, String> {
        let empty = Map::new();
        let properties = field(schema, "properties").and_then(Value::as_object).unwrap_or(&empty);
        let mut out = Map::new();
        let required = field(schema, "required").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
        for name in required {
            let name = name.as_str().ok_or("`required` must list property names")?;
            let sub = properties.get(name).unwrap_or(&Value::Bool(true));
            out.insert(name.to_owned(), self.build(sub, depth + 1, variant)?);
        }
        let min_properties = field(schema, "minProperties").and_then(whole_number).unwrap_or(0).max(0) as u64;
        if min_properties > MAX_ITEMS {
            return Err(format!("minProperties {min_properties} is more than the emulator makes ({MAX_ITEMS})"));
        }
        let min_properties = min_properties as usize;
        if out.len() < min_properties {
            let ordering = field(schema, "propertyOrdering").and_then(Value::as_array);
            let mut names: Vec<&str> =
                ordering.map(|o| o.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
            names.extend(properties.keys().map(String::as_str).filter(|n| !names.contains(n)).collect::<Vec<_>>());
            for name in names {
                if out.len() >= min_properties {
                    break;
                }
                if let Some(sub) = properties.get(name).filter(|_| !out.contains_key(name)) {
                    out.insert(name.to_owned(), self.build(sub, depth + 1, variant)?);
                }
            }
            let additional = field(schema, "additionalProperties").unwrap_or(&Value::Bool(true));
            while out.len() < min_properties {
                let value = self.build(additional, depth + 1, variant)?;
                out.insert(format!("property{}", out.len()), value);
            }
        }
        Ok(Value::Object(out))
    }

    fn array(&self, schema: &Map<String, Value>, depth: usize) -> Result<Value, String> {
        let min_items = field(schema, "minItems").and_then(whole_number).unwrap_or(0).max(0) as u64;
        if min_items > MAX_ITEMS {
            return Err(format!("minItems {min_items} is more than the emulator makes ({MAX_ITEMS})"));
        }
        let prefix = field(schema, "prefixItems").and_then(Value::as_array);
        let items = field(schema, "items");
        (0..min_items as usize)
            .map(|i| {
                let sub = match (prefix.and_then(|p| p.get(i)), items) {
                    (Some(sub), _) => sub,
                    // Draft 4's tuple form: `items` as a list.
                    (None, Some(Value::Array(tuple))) => tuple.get(i).unwrap_or(&Value::Bool(true)),
                    (None, Some(sub)) => sub,
                    (None, None) => &Value::Bool(true),
                };
                self.build(sub, depth + 1, i)
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array)
    }
}

fn string(schema: &Map<String, Value>, variant: usize) -> Result<String, String> {
    let example = match field(schema, "format").and_then(Value::as_str).unwrap_or_default() {
        "date-time" => Some("1970-01-01T00:00:00Z"),
        "date" => Some("1970-01-01"),
        "time" => Some("00:00:00"),
        "email" => Some("user@example.com"),
        "uri" | "url" | "iri" | "uri-reference" => Some("https://example.com/"),
        "uuid" => Some("00000000-0000-0000-0000-000000000000"),
        "hostname" => Some("example.com"),
        "ipv4" => Some("127.0.0.1"),
        "ipv6" => Some("::1"),
        _ => None,
    };
    let mut text = match example {
        Some(example) => example.to_owned(),
        None if variant == 0 => "text".to_owned(),
        None => format!("text{variant}"),
    };
    let min_length = field(schema, "minLength").and_then(whole_number).unwrap_or(0).max(0) as u64;
    if min_length > MAX_LENGTH {
        return Err(format!("minLength {min_length} is more than the emulator makes ({MAX_LENGTH})"));
    }
    let (min_length, length) = (min_length as usize, text.chars().count());
    if length < min_length {
        text.extend(std::iter::repeat_n('x', min_length - length));
    }
    if let Some(max) = field(schema, "maxLength").and_then(whole_number) {
        text = text.chars().take(max.max(0) as usize).collect();
    }
    Ok(text)
}

fn integer(schema: &Map<String, Value>, variant: usize) -> Result<i64, String> {
    let low = bound(schema, "minimum", "exclusiveMinimum")
        .map(|(b, exclusive)| if exclusive { b.floor() as i64 + 1 } else { b.ceil() as i64 });
    let high = bound(schema, "maximum", "exclusiveMaximum")
        .map(|(b, exclusive)| if exclusive { b.ceil() as i64 - 1 } else { b.floor() as i64 });
    let start = low.unwrap_or(if high.is_some_and(|h| h < 0) { high.unwrap_or(0) } else { 0 });
    let mut value = start.saturating_add(variant as i64);
    if let Some(step) = number(field(schema, "multipleOf")).filter(|m| *m >= 1.0 && m.fract() == 0.0) {
        let step = step as i64;
        let rounded_down = value.div_euclid(step) * step;
        value = if rounded_down == value { value } else { rounded_down.saturating_add(step) };
    }
    if let Some(high) = high
        && value > high
    {
        value = high.max(start);
    }
    match (low, high) {
        (Some(low), Some(high)) if low > high => Err(format!("no integer lies between {low} and {high}")),
        _ => Ok(value),
    }
}

fn float(schema: &Map<String, Value>, variant: usize) -> f64 {
    let low = bound(schema, "minimum", "exclusiveMinimum");
    let high = bound(schema, "maximum", "exclusiveMaximum");
    let start = match (low, high) {
        (Some((l, false)), _) => l,
        (Some((l, true)), Some((h, _))) => (l + h) / 2.0,
        (Some((l, true)), None) => l + 1.0,
        (None, Some((h, exclusive))) if h <= 0.0 => h - if exclusive { 1.0 } else { 0.0 },
        (None, _) => 0.0,
    };
    let value = start + variant as f64;
    match high {
        Some((h, false)) if value > h => h,
        Some((h, true)) if value >= h => start,
        _ => value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gemini_schemas_give_their_required_fields() {
        let schema = json!({
            "type": "OBJECT",
            "properties": {
                "title": { "type": "STRING" },
                "mood": { "type": "STRING", "format": "enum", "enum": ["calm", "tense"] },
                "panels": { "type": "ARRAY", "min_items": "2", "items": {
                    "type": "OBJECT",
                    "properties": {
                        "n": { "type": "INTEGER", "minimum": 1 },
                        "caption": { "type": "STRING", "nullable": true },
                    },
                    "required": ["n"],
                } },
                "score": { "type": "NUMBER", "minimum": 0.5, "maximum": 1 },
                "draft": { "type": "BOOLEAN" },
                "optional": { "type": "STRING" },
            },
            "required": ["title", "mood", "panels", "score", "draft"],
            "propertyOrdering": ["title", "mood", "panels", "score", "draft", "optional"],
        });
        assert_eq!(
            instance(&schema).expect("instance"),
            json!({ "title": "text", "mood": "calm", "panels": [{ "n": 1 }, { "n": 2 }], "score": 0.5, "draft": false })
        );
    }

    #[test]
    fn json_schemas_with_refs_and_bounds() {
        let schema = json!({
            "$defs": {
                "id": { "type": "string", "format": "uuid" },
                "tag": { "type": "string", "minLength": 6, "maxLength": 8 },
            },
            "type": "object",
            "properties": {
                "id": { "$ref": "#/$defs/id" },
                "tags": { "type": "array", "items": { "$ref": "#/$defs/tag" }, "minItems": 2, "uniqueItems": true },
                "kind": { "const": "page" },
                "count": { "type": ["integer", "null"], "exclusiveMinimum": 3, "multipleOf": 5 },
                "either": { "anyOf": [
                    { "type": "null" },
                    { "type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1 },
                ] },
                "all": { "allOf": [
                    { "type": "object", "required": ["a"] },
                    { "required": ["b"], "properties": { "b": { "type": "boolean" } } },
                ] },
            },
            "required": ["id", "tags", "kind", "count", "either", "all"],
            "minProperties": 6,
        });
        assert_eq!(
            instance(&schema).expect("instance"),
            json!({
                "id": "00000000-0000-0000-0000-000000000000",
                "tags": ["textxx", "text1x"],
                "kind": "page",
                "count": 5,
                "either": 0.5,
                "all": { "a": null, "b": false },
            })
        );
        let loop_schema = json!({ "$ref": "#" });
        assert!(instance(&loop_schema).is_err());
        assert!(instance(&json!({ "$ref": "https://example.com/s.json" })).is_err());
        assert!(instance(&json!({ "type": "array", "minItems": 100000 })).is_err());
        let nested = json!({ "type": "array", "minItems": 1000, "items": { "type": "array", "minItems": 1000 } });
        assert!(instance(&nested).is_err_and(|e| e.contains("values")));
        assert!(instance(&json!({ "type": "string", "minLength": 1_000_000 })).is_err());
        assert!(instance(&json!({ "type": "integer", "minimum": 3, "maximum": 2 })).is_err());
        assert_eq!(instance(&json!({ "type": "integer", "maximum": -4 })).expect("int"), json!(-4));
    }
}
