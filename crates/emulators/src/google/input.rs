//! Reading request bodies and the media inside them: the JSON body, base64
//! (proto JSON `bytes` take standard or URL-safe base64, padded or not),
//! input images (decoded with the `image` crate, as the service must before
//! using them), and the field-name spellings proto JSON accepts.
//!
//! Gemini's `generateContent` body is a proto message, so each field may be
//! written in lowerCamelCase (`inlineData`) or as in the proto (`inline_data`);
//! Imagen's and Veo's `instances` and `parameters` are free-form
//! `google.protobuf.Value`s the model reads in lowerCamelCase only.

use std::io::Cursor;

use axum::body::Body;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use serde_json::{Map, Value};

use super::errors::{self, Refusal};

/// The most a request body may weigh (the service's inline-data limit is 20 MB).
const BODY_LIMIT: usize = 32 * 1024 * 1024;

/// The body as a JSON object, or the service's 400.
pub(super) async fn json_object(body: Body) -> Result<Map<String, Value>, Refusal> {
    let Ok(bytes) = axum::body::to_bytes(body, BODY_LIMIT).await else {
        return Err(errors::invalid("Request payload size exceeds the limit: 33554432 bytes."));
    };
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(fields)) => Ok(fields),
        Ok(_) => Err(errors::invalid("Invalid JSON payload received. Expected an object at the top level.")),
        Err(e) => Err(errors::invalid(&format!("Invalid JSON payload received. {e}"))),
    }
}

/// `inline_data` → `inlineData`: the lowerCamelCase spelling of a proto field name.
pub(super) fn camel(name: &str) -> String {
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

/// A proto message's field, written either way (`camel` is the lowerCamelCase
/// name); `null` counts as absent.
pub(super) fn field<'a>(object: &'a Map<String, Value>, camel_name: &str) -> Option<&'a Value> {
    object.iter().find(|(key, value)| !value.is_null() && camel(key) == camel_name).map(|(_, value)| value)
}

/// The first field of a proto message not in `known` (lowerCamelCase names).
pub(super) fn unknown_field<'a>(object: &'a Map<String, Value>, known: &[&str]) -> Option<&'a str> {
    object.keys().find(|key| !known.contains(&camel(key).as_str())).map(String::as_str)
}

/// Decodes proto JSON `bytes`: standard or URL-safe base64, padded or not.
pub(super) fn decode_base64(data: &str) -> Option<Vec<u8>> {
    let data = data.trim();
    [STANDARD, URL_SAFE, STANDARD_NO_PAD, URL_SAFE_NO_PAD].iter().find_map(|engine| engine.decode(data).ok())
}

/// An input image, decoded: its size, or why it could not be read.
pub(super) fn image_size(bytes: &[u8]) -> Result<(u32, u32), String> {
    let reader = image::ImageReader::new(Cursor::new(bytes)).with_guessed_format().map_err(|e| e.to_string())?;
    if reader.format().is_none() {
        return Err("not a PNG, JPEG or WebP image".into());
    }
    let decoded = reader.decode().map_err(|e| e.to_string())?;
    Ok((decoded.width(), decoded.height()))
}

/// The image mime types the emulator takes as input.
pub(super) const IMAGE_MIME_TYPES: [&str; 3] = ["image/png", "image/jpeg", "image/webp"];

/// A JSON number that is a whole number (`8`, `8.0`, or, as proto JSON writes
/// 64-bit integers, `"8"`).
pub(super) fn whole_number(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn proto_names_read_both_ways() {
        assert_eq!(camel("inline_data"), "inlineData");
        assert_eq!(camel("responseMimeType"), "responseMimeType");
        let object = json!({ "inline_data": 1, "mimeType": null }).as_object().cloned().expect("object");
        assert_eq!(field(&object, "inlineData"), Some(&json!(1)));
        assert_eq!(field(&object, "mimeType"), None);
        assert_eq!(unknown_field(&object, &["inlineData"]), Some("mimeType"));
    }

    #[test]
    fn base64_in_every_spelling() {
        for text in ["+/8=", "+/8", "-_8=", "-_8"] {
            assert_eq!(decode_base64(text), Some(vec![0xfb, 0xff]), "{text}");
        }
        assert_eq!(decode_base64("not base64!"), None);
        assert_eq!(whole_number(&json!(8.0)), Some(8));
        assert_eq!(whole_number(&json!("4")), Some(4));
        assert_eq!(whole_number(&json!(6.5)), None);
    }
}
