//! `POST …/audio/speech` (docs/providers/openai.md 2.4): JSON in, audio out.
//! The audio is a real file of the format asked for (the fixtures, a 1 s 440 Hz
//! tone); `pcm` is generated raw 24 kHz 16-bit little-endian mono samples.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

use super::{OpenAiState, Refusal, invalid, present, unknown_model};

pub(super) const MODELS: [&str; 4] = ["tts-1", "tts-1-hd", "gpt-4o-mini-tts", "gpt-4o-mini-tts-2025-12-15"];
const VOICES: [&str; 13] =
    ["alloy", "ash", "ballad", "coral", "echo", "fable", "onyx", "nova", "sage", "shimmer", "verse", "marin", "cedar"];
const FIELDS: [&str; 7] = ["model", "input", "voice", "instructions", "response_format", "speed", "stream_format"];
const FORMATS: [&str; 6] = ["mp3", "opus", "aac", "flac", "wav", "pcm"];

const MP3: &[u8] = include_bytes!("../../fixtures/tone.mp3");
const OPUS: &[u8] = include_bytes!("../../fixtures/tone.opus");
const AAC: &[u8] = include_bytes!("../../fixtures/tone.aac");
const FLAC: &[u8] = include_bytes!("../../fixtures/tone.flac");
const WAV: &[u8] = include_bytes!("../../fixtures/tone.wav");

/// One second of a 440 Hz tone, 24 kHz, 16-bit little-endian, mono.
pub(super) fn pcm_tone() -> Vec<u8> {
    (0..24_000u32)
        .flat_map(|n| {
            let t = n as f32 / 24_000.0;
            let sample = (f32::sin(2.0 * std::f32::consts::PI * 440.0 * t) * 8_000.0) as i16;
            sample.to_le_bytes()
        })
        .collect()
}

/// The audio and its content type.
fn audio(format: &str) -> (Bytes, &'static str) {
    match format {
        "opus" => (Bytes::from_static(OPUS), "audio/ogg"),
        "aac" => (Bytes::from_static(AAC), "audio/aac"),
        "flac" => (Bytes::from_static(FLAC), "audio/flac"),
        "wav" => (Bytes::from_static(WAV), "audio/wav"),
        "pcm" => (Bytes::from(pcm_tone()), "audio/pcm"),
        _ => (Bytes::from_static(MP3), "audio/mpeg"),
    }
}

fn check(model: &str, fields: &Map<String, Value>) -> Result<&'static str, Refusal> {
    if let Some(unknown) = fields.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(invalid(&format!("Unknown parameter: '{unknown}'."), Some(unknown), Some("unknown_parameter")));
    }
    let tts1 = model.starts_with("tts-1");
    match present(fields, "input") {
        Some(Value::String(text)) if text.trim().is_empty() => {
            return Err(invalid("Invalid 'input': empty string.", Some("input"), Some("empty_string")));
        }
        Some(Value::String(text)) if text.chars().count() > 4096 => {
            return Err(invalid(
                "Invalid 'input': string too long. Expected a string with maximum length 4096.",
                Some("input"),
                Some("string_above_max_length"),
            ));
        }
        Some(Value::String(_)) => {}
        Some(_) => {
            return Err(invalid("Invalid type for 'input': expected a string.", Some("input"), Some("invalid_type")));
        }
        None => {
            return Err(invalid(
                "Missing required parameter: 'input'.",
                Some("input"),
                Some("missing_required_parameter"),
            ));
        }
    }
    match present(fields, "voice") {
        Some(Value::String(voice)) if VOICES.contains(&voice.as_str()) => {}
        Some(Value::Object(custom))
            if custom.get("id").and_then(Value::as_str).is_some_and(|id| id.starts_with("voice_")) => {}
        Some(_) => return Err(invalid("Invalid value for 'voice'.", Some("voice"), Some("invalid_value"))),
        None => {
            return Err(invalid(
                "Missing required parameter: 'voice'.",
                Some("voice"),
                Some("missing_required_parameter"),
            ));
        }
    }
    if tts1 && present(fields, "instructions").is_some() {
        return Err(invalid(
            &format!("Instructions are not supported by {model}."),
            Some("instructions"),
            Some("unsupported_parameter"),
        ));
    }
    let format = match present(fields, "response_format") {
        None => "mp3",
        Some(Value::String(format)) => FORMATS.into_iter().find(|known| known == format).ok_or_else(|| {
            invalid::<Refusal>("Invalid value for 'response_format'.", Some("response_format"), Some("invalid_value"))
        })?,
        Some(_) => {
            return Err(invalid("Invalid type for 'response_format'.", Some("response_format"), Some("invalid_type")));
        }
    };
    match present(fields, "speed").map(Value::as_f64) {
        None => {}
        Some(Some(speed)) if (0.25..=4.0).contains(&speed) => {}
        Some(_) => {
            return Err(invalid(
                "Invalid 'speed': number out of range. Expected a value between 0.25 and 4.",
                Some("speed"),
                Some("decimal_out_of_range"),
            ));
        }
    }
    match present(fields, "stream_format").and_then(Value::as_str) {
        None | Some("audio") => {}
        Some("sse") if !tts1 => {
            return Err(invalid("SSE streaming is not available in this emulator.", Some("stream_format"), None));
        }
        Some(_) => {
            return Err(invalid("Invalid value for 'stream_format'.", Some("stream_format"), Some("invalid_value")));
        }
    }
    Ok(format)
}

/// `POST …/audio/speech`.
pub(super) async fn speech(
    State(state): State<Arc<OpenAiState>>,
    deployment: Option<String>,
    request: Request,
) -> Response {
    let Ok(body) = axum::body::to_bytes(request.into_body(), 1024 * 1024).await else {
        return invalid("The request body is too large.", None, None);
    };
    let Ok(Value::Object(fields)) = serde_json::from_slice::<Value>(&body) else {
        return invalid("We could not parse the JSON body of your request.", None, None);
    };
    let body_model = present(&fields, "model").and_then(Value::as_str);
    if deployment.is_none() && body_model.is_none() {
        return invalid("Missing required parameter: 'model'.", Some("model"), Some("missing_required_parameter"));
    }
    let model = state.model_for(deployment.as_deref(), body_model, "tts-1");
    if !MODELS.contains(&model.as_str()) {
        return unknown_model(&state, &model);
    }
    match check(&model, &fields) {
        Ok(format) => {
            let (bytes, content_type) = audio(format);
            (StatusCode::OK, [(header::CONTENT_TYPE, content_type)], bytes).into_response()
        }
        Err(refusal) => refusal.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn rules_per_model() {
        let fields = |value: Value| value.as_object().cloned().expect("object");
        assert_eq!(check("tts-1", &fields(json!({ "input": "hi", "voice": "alloy" }))).ok(), Some("mp3"));
        let custom =
            json!({ "input": "hi", "voice": { "id": "voice_1" }, "response_format": "pcm", "instructions": "calm" });
        assert_eq!(check("gpt-4o-mini-tts", &fields(custom)).ok(), Some("pcm"));
        for bad in [
            json!({ "input": "hi", "voice": "alloy", "instructions": "calm" }),
            json!({ "input": "hi", "voice": "robot" }),
            json!({ "input": "", "voice": "alloy" }),
            json!({ "input": "hi", "voice": "alloy", "speed": 5 }),
            json!({ "input": "hi", "voice": "alloy", "response_format": "ogg" }),
            json!({ "input": "hi" }),
        ] {
            assert!(check("tts-1", &fields(bad.clone())).is_err(), "{bad}");
        }
        assert_eq!(pcm_tone().len(), 48_000);
    }
}
