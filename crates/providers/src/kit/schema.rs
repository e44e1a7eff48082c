//! Test support: a model's hand-written JSON Schema checked against what its
//! validation really does, for every model of every service (see
//! `registry::tests`), and the field an input error names.

use atelier_core::CoreError;
use serde_json::{Value, json};

/// The `field` named by an `InvalidInput` error.
pub fn error_field(error: &CoreError) -> String {
    match error {
        CoreError::InvalidInput { details, .. } => {
            details.get("field").and_then(Value::as_str).unwrap_or_default().to_owned()
        }
        other => panic!("expected InvalidInput, got {other:?}"),
    }
}

/// A smallest input the schema asks for: each required field with a plain value.
pub fn minimal_input(schema: &Value) -> Value {
    let mut input = json!({});
    for name in required(schema) {
        let property = &schema["properties"][name];
        let value = match property.get("enum").and_then(Value::as_array).and_then(|values| values.first()) {
            Some(first) => first.clone(),
            None if has_type(property, "integer") => property.get("minimum").cloned().unwrap_or(json!(1)),
            // A nested object: its own smallest; a list that may not be empty: that
            // many smallest items.
            None if has_type(property, "object") => minimal_input(property),
            None if has_type(property, "array") => {
                let count = property.get("minItems").and_then(Value::as_u64).unwrap_or(0) as usize;
                let is_file = |p: &Value| p["description"].as_str().is_some_and(|text| text.contains("upl_"));
                match property.get("items") {
                    Some(items) if count > 0 && has_type(items, "object") => json!(vec![minimal_input(items); count]),
                    // Input files (a slideshow's pictures).
                    Some(items) if count > 0 && (is_file(items) || is_file(property)) => {
                        json!(vec!["https://example.com/a.png"; count])
                    }
                    _ => json!([]),
                }
            }
            // An input file (the studio tells them the same way: `upl_` in the description).
            None if property["description"].as_str().is_some_and(|text| text.contains("upl_")) => {
                json!("https://example.com/a.png")
            }
            None => json!("a red fox at dawn"),
        };
        input[name] = value;
    }
    input
}

/// The required fields: `required`, or the first alternative's when the schema
/// offers several (`oneOf`: `input` or its alias `prompt`).
fn required(schema: &Value) -> Vec<&str> {
    let names = schema.get("required").or_else(|| schema.pointer("/oneOf/0/required"));
    names.and_then(Value::as_array).map(|names| names.iter().filter_map(Value::as_str).collect()).unwrap_or_default()
}

fn has_type(property: &Value, name: &str) -> bool {
    property["type"] == name || property["type"].as_array().is_some_and(|types| types.contains(&Value::from(name)))
}

/// Checks a hand-written schema against its parameters' validation:
/// - every field of a normalised input is one of its `properties`, and nothing
///   else is accepted (an unknown field is refused, naming it);
/// - every `required` field is refused when missing, naming it; an optional
///   property's `default` is what validation fills in, and one without a default is
///   left out (or null);
/// - every `enum` value is accepted as the field's own value (a refusal may only
///   name another field: a rule between fields), and a value outside it is refused
///   naming the field; every `minimum`/`maximum` is accepted at the bound and
///   refused beyond it, naming the field; a wrong type is refused, naming it;
/// - validating a normalised input gives it back unchanged.
pub fn check_schema_matches(schema: &Value, validate: impl Fn(&Value) -> Result<Value, CoreError>, minimal: &Value) {
    assert_eq!(schema["type"], "object");
    assert_eq!(schema["additionalProperties"], false);
    let properties = schema["properties"].as_object().expect("properties");
    let required = required(schema);
    // Other names for a required field (`oneOf` alternatives past the first).
    let aliases: Vec<&str> = schema["oneOf"]
        .as_array()
        .into_iter()
        .flatten()
        .skip(1)
        .filter_map(|alternative| alternative["required"].as_array())
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let normalised = validate(minimal).expect("the minimal input is valid");
    let fields = normalised.as_object().expect("a normalised input is an object");
    for name in fields.keys() {
        assert!(properties.contains_key(name), "{name} is in a normalised input but not in the schema");
    }

    for name in &required {
        let mut input = minimal.clone();
        input.as_object_mut().expect("object").remove(*name);
        let error = validate(&input).expect_err("a required field is missing");
        assert_eq!(error_field(&error), *name);
    }
    // A value the schema allows must be accepted in some input: alone, or beside
    // one other field's enum value, input files given (rules between fields, such
    // as `auto` only with the `standard` variant, or `motion` for videos of an image).
    let own_value_accepted = |name: &str, value: &Value| {
        let mut input = minimal.clone();
        input[name] = value.clone();
        let Err(error) = validate(&input) else { return };
        if error_field(&error) != name {
            return;
        }
        let mut with_files = input.clone();
        for (array, property) in properties.iter().filter(|(array, p)| array.as_str() != name && has_type(p, "array")) {
            if property.get("items").is_some_and(|items| items["type"] == "string") {
                with_files[array.as_str()] = json!(["https://example.com/a.png"]);
            }
        }
        let with_another = properties.iter().filter(|(other, _)| other.as_str() != name).any(|(other, property)| {
            property.get("enum").and_then(Value::as_array).into_iter().flatten().any(|other_value| {
                [&input, &with_files].into_iter().any(|base| {
                    let mut input = base.clone();
                    input[other.as_str()] = other_value.clone();
                    validate(&input).is_ok()
                })
            })
        });
        assert!(with_another, "{name}={value} is in the schema but refused in every input: {error}");
    };
    let refused_naming = |name: &str, value: Value, what: &str| {
        let mut input = minimal.clone();
        input[name] = value.clone();
        let error = validate(&input).expect_err(what);
        assert_eq!(error_field(&error), name, "{name}={value}: {what}");
    };

    for (name, property) in properties {
        let filled = fields.get(name).unwrap_or(&Value::Null);
        if let Some(default) = property.get("default") {
            // A null default means "derived when absent" (the placeholder's seed).
            if !default.is_null() {
                assert_eq!(filled, default, "the default of {name} is what validation fills in");
            }
            assert!(!required.contains(&name.as_str()), "{name} has a default but is required");
        } else if !required.contains(&name.as_str()) {
            assert!(filled.is_null(), "{name} has no default in the schema, but validation fills in {filled}");
        }
        if let Some(values) = property.get("enum").and_then(Value::as_array) {
            for value in values {
                own_value_accepted(name, value);
            }
            refused_naming(name, json!("definitely-not-allowed"), "a value outside the enum");
        }
        let is_integer = has_type(property, "integer");
        for (bound, step) in [("minimum", -1.0), ("maximum", 1.0)] {
            let Some(limit) = property.get(bound).and_then(Value::as_f64) else { continue };
            let (at, beyond) = if is_integer {
                let limit = property[bound].as_i64().expect("an integer bound");
                (Value::from(limit), Value::from(limit + step as i64))
            } else {
                (Value::from(limit), Value::from(limit + step))
            };
            own_value_accepted(name, &at);
            refused_naming(name, beyond, "a value out of bounds");
        }
        let wrong_type = if has_type(property, "object") { json!([]) } else { json!({ "not": "this" }) };
        if aliases.contains(&name.as_str()) {
            // An alias is reported under the name it stands for.
            let mut input = minimal.clone();
            input[name.as_str()] = wrong_type;
            assert!(validate(&input).is_err(), "{name}: a wrong type");
        } else {
            refused_naming(name, wrong_type, "a wrong type");
        }
    }
    refused_naming("foo", json!(1), "an unknown field");
    let again = validate(&normalised).expect("a normalised input is valid");
    assert_eq!(again, normalised, "validation is idempotent");
}
