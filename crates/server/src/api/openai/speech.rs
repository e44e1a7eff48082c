//! `POST /v1/audio/speech`: text to speech with any Atelier speech model, the audio
//! file as the answer. OpenAI's voice names (`alloy`…) reach a model that lists
//! other voices as its default voice; `pcm` is 24 kHz 16-bit mono samples, as
//! OpenAI sends them, cut from a WAV when the model makes no raw PCM itself.

use atelier_core::catalog::Modality;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::error::OpenAiError;
use super::fit::Fit;
use super::run;
use crate::api::auth::Caller;
use crate::app::AppState;

/// OpenAI's voices: a model with voices of its own speaks these in its default one.
const OPENAI_VOICES: [&str; 13] =
    ["alloy", "ash", "ballad", "coral", "echo", "fable", "onyx", "nova", "sage", "shimmer", "verse", "marin", "cedar"];

/// The rate of OpenAI's `pcm`.
const PCM_RATE: u32 = 24_000;

#[derive(Debug, Deserialize)]
pub struct SpeechRequest {
    pub model: Option<String>,
    pub input: Option<String>,
    pub voice: Option<Value>,
    pub response_format: Option<String>,
    pub speed: Option<Value>,
    pub instructions: Option<Value>,
    pub stream_format: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

pub async fn speak(
    State(state): State<AppState>,
    Caller(caller): Caller,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, OpenAiError> {
    let request: SpeechRequest = super::json_body(&headers, &body)?;
    let spec = run::resolve(&state, request.model.as_deref(), Modality::Audio)?;
    let (input, pcm) = fit(&spec.input_schema, request)?;
    let task = run::create(&state, &caller, &headers, &spec, input).await?;
    let task = run::finish(&state, &caller, task).await?;
    let asset =
        run::primary(&task).find(|asset| asset.mime.starts_with("audio/")).ok_or_else(|| run::failure(&task))?;
    let bytes = run::read(&state, asset).await?;
    let (bytes, mime) = if pcm && bytes.starts_with(b"RIFF") {
        let samples = wav_samples(&bytes).ok_or_else(|| {
            OpenAiError::new(
                axum::http::StatusCode::BAD_GATEWAY,
                "server_error",
                "the model's WAV could not be read as PCM",
            )
            .code("malformed_response")
            .no_retry()
        })?;
        (bytes.slice_ref(samples), "audio/pcm".to_owned())
    } else if pcm {
        (bytes, "audio/pcm".to_owned())
    } else {
        (bytes, asset.mime.clone())
    };
    let mut response = bytes.into_response();
    if let Ok(value) = HeaderValue::from_str(&mime) {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    if let Ok(value) = HeaderValue::from_str(&task.id.to_string()) {
        response.headers_mut().insert("x-atelier-task", value);
    }
    Ok(response)
}

/// The model's input, and whether the answer is cut to raw PCM.
fn fit(schema: &Value, request: SpeechRequest) -> Result<(Value, bool), OpenAiError> {
    if request.stream_format.as_deref().is_some_and(|format| format != "audio") {
        return Err(OpenAiError::invalid("stream_format", "only stream_format audio (the whole file) is offered"));
    }
    let text = request.input.as_deref().map(str::trim).filter(|text| !text.is_empty());
    let Some(text) = text else { return Err(OpenAiError::invalid("input", "input is required: the text to speak")) };
    let mut fit = Fit::new(schema);
    if !fit.set_first(&["input", "text", "prompt"], json!(text)) {
        return Err(OpenAiError::invalid("model", "this model takes no text"));
    }
    if let Some(voice) = request.voice.filter(|voice| !voice.is_null()) {
        let name = voice.as_str().unwrap_or_default();
        let listed = schema.pointer("/properties/voice/enum").and_then(Value::as_array);
        match listed {
            Some(listed) if !listed.iter().any(|choice| choice.as_str() == Some(name)) => {
                if !OPENAI_VOICES.contains(&name) {
                    let some: Vec<&str> = listed.iter().filter_map(Value::as_str).take(12).collect();
                    return Err(OpenAiError::invalid(
                        "voice",
                        format!("voice {name:?} is not one of this model's ({}, …)", some.join(", ")),
                    ));
                }
            }
            _ => fit.set_if_taken("voice", Some(voice)),
        }
    }
    let format = request.response_format.as_deref().unwrap_or("mp3");
    let pcm = format == "pcm";
    let formats_field = if fit.has("response_format") { "response_format" } else { "format" };
    let offered = schema.pointer(&format!("/properties/{formats_field}/enum")).and_then(Value::as_array);
    let offers = |name: &str| offered.is_none_or(|list| list.iter().any(|choice| choice.as_str() == Some(name)));
    if offers(format) {
        fit.set_first(&[formats_field], json!(format));
    } else if pcm && offers("wav") {
        fit.set_first(&[formats_field], json!("wav"));
        fit.set_if_taken("sample_rate", Some(json!(PCM_RATE)));
    } else {
        return Err(OpenAiError::invalid("response_format", format!("this model makes no {format}")));
    }
    fit.set_if_taken("speed", request.speed);
    fit.set_if_taken("instructions", request.instructions);
    fit.extras(request.extra)?;
    Ok((fit.finish(), pcm))
}

/// The sample bytes of a WAV's `data` chunk.
fn wav_samples(wav: &[u8]) -> Option<&[u8]> {
    if wav.len() < 12 || &wav[..4] != b"RIFF" || &wav[8..12] != b"WAVE" {
        return None;
    }
    let mut at = 12;
    while at + 8 <= wav.len() {
        let id = &wav[at..at + 4];
        let size = u32::from_le_bytes(wav[at + 4..at + 8].try_into().ok()?) as usize;
        let start = at + 8;
        if id == b"data" {
            // A streamed WAV may carry a placeholder size: take what is there.
            return Some(&wav[start..wav.len().min(start.saturating_add(size))]);
        }
        at = start.checked_add(size)?.checked_add(size % 2)?;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local_speech() -> Value {
        json!({ "properties": {
            "text": {}, "voice": { "enum": ["en_US-joe-medium", "en-us", "ja"] },
            "format": { "enum": ["wav", "mp3", "ogg", "opus", "flac"] }, "sample_rate": {}, "speed": {}
        }})
    }

    fn request(body: Value) -> SpeechRequest {
        serde_json::from_value(body).expect("request")
    }

    #[test]
    fn openai_voices_and_formats_map_onto_a_local_voice() {
        let (input, pcm) =
            fit(&local_speech(), request(json!({ "input": "Hello", "voice": "alloy", "speed": 1.5 }))).expect("fits");
        assert_eq!(input, json!({ "text": "Hello", "format": "mp3", "speed": 1.5 }));
        assert!(!pcm);
        let (input, pcm) =
            fit(&local_speech(), request(json!({ "input": "Hi", "voice": "ja", "response_format": "pcm" })))
                .expect("pcm");
        assert_eq!(input, json!({ "text": "Hi", "voice": "ja", "format": "wav", "sample_rate": 24000 }));
        assert!(pcm);
        let refused = fit(&local_speech(), request(json!({ "input": "Hi", "voice": "klingon" }))).expect_err("voice");
        assert_eq!(refused.param.as_deref(), Some("voice"));
        let aac = fit(&local_speech(), request(json!({ "input": "Hi", "response_format": "aac" }))).expect_err("aac");
        assert_eq!(aac.param.as_deref(), Some("response_format"));
        assert_eq!(
            fit(&local_speech(), request(json!({ "voice": "alloy" }))).expect_err("no input").param.as_deref(),
            Some("input")
        );
    }

    #[test]
    fn openais_own_models_get_the_request_as_it_is() {
        let tts = json!({ "properties": { "input": {}, "voice": {}, "speed": {},
            "response_format": { "enum": ["mp3", "opus", "aac", "flac", "wav", "pcm"] } } });
        let (input, pcm) =
            fit(&tts, request(json!({ "input": "Hi", "voice": "alloy", "response_format": "pcm" }))).expect("fits");
        assert_eq!(input, json!({ "input": "Hi", "voice": "alloy", "response_format": "pcm" }));
        assert!(pcm);
    }

    #[test]
    fn a_wavs_samples_are_found_past_its_other_chunks() {
        let mut wav = b"RIFF\0\0\0\0WAVE".to_vec();
        wav.extend_from_slice(b"LIST\x03\0\0\0abc\0");
        wav.extend_from_slice(b"data\x04\0\0\0\x01\x02\x03\x04");
        assert_eq!(wav_samples(&wav), Some(&[1u8, 2, 3, 4][..]));
        assert_eq!(wav_samples(b"not a wav"), None);
    }
}
