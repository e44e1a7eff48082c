//! Text to speech (docs/providers/openai.md 2.4): `POST /audio/speech` with JSON, answered
//! with the audio itself. Models `tts-1`, `tts-1-hd`, `gpt-4o-mini-tts`.
//!
//! The output's type comes from the format asked for, not from the answer's
//! `Content-Type` (which the protocol notes leave unconfirmed); the bytes are
//! checked to be that format where it has a signature. `pcm` is raw 16-bit samples.

use atelier_core::CoreError;
use atelier_core::catalog::{Modality, ModelSpec};
use atelier_core::ports::{ErrorClass, Output, ProviderError};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::client::{Api, OpenAiClient, Phase};
use super::{OpenAi, OpenAiModel};
use crate::kit::Named;
use crate::kit::fields::{max_chars, optional_max_chars, required_text};
use crate::kit::params::{parse_params, to_json};
use async_trait::async_trait;
use atelier_core::ports::{Job, Submitted};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpeechModel {
    Tts1,
    Tts1Hd,
    Gpt4oMiniTts,
}

impl SpeechModel {
    pub const ALL: [Self; 3] = [Self::Tts1, Self::Tts1Hd, Self::Gpt4oMiniTts];

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|model| model.name().eq_ignore_ascii_case(name))
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Tts1 => "tts-1",
            Self::Tts1Hd => "tts-1-hd",
            Self::Gpt4oMiniTts => "gpt-4o-mini-tts",
        }
    }

    /// `instructions` steer only the GPT speech model.
    fn takes_instructions(self) -> bool {
        self == Self::Gpt4oMiniTts
    }
}

pub const VOICES: [&str; 13] =
    ["alloy", "ash", "ballad", "coral", "echo", "fable", "onyx", "nova", "sage", "shimmer", "verse", "marin", "cedar"];
const MAX_INPUT: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AudioFormat {
    Mp3,
    Opus,
    Aac,
    Flac,
    Wav,
    Pcm,
}

impl AudioFormat {
    pub fn mime(self) -> &'static str {
        match self {
            Self::Mp3 => "audio/mpeg",
            // Opus in an Ogg container.
            Self::Opus => "audio/ogg",
            Self::Aac => "audio/aac",
            Self::Flac => "audio/flac",
            Self::Wav => "audio/wav",
            Self::Pcm => "audio/pcm",
        }
    }

    /// Whether `bytes` start as this format does (pcm has no signature).
    pub fn looks_like(self, bytes: &[u8]) -> bool {
        let sync = |b: &[u8]| b.len() >= 2 && b[0] == 0xFF && b[1] & 0xE0 == 0xE0;
        match self {
            Self::Mp3 => bytes.starts_with(b"ID3") || sync(bytes),
            Self::Opus => bytes.starts_with(b"OggS"),
            // ADTS frames, or an MP4 container.
            Self::Aac => (sync(bytes) && bytes[1] & 0x06 == 0) || bytes.get(4..8) == Some(b"ftyp"),
            Self::Flac => bytes.starts_with(b"fLaC"),
            Self::Wav => bytes.starts_with(b"RIFF") && bytes.get(8..12) == Some(b"WAVE"),
            Self::Pcm => bytes.len().is_multiple_of(2) && !bytes.starts_with(b"{"),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpeechParams {
    /// The text to speak (`input` on the wire); at most 4096 characters. `prompt`
    /// is accepted for it, as every other model names its text so.
    #[serde(alias = "prompt")]
    pub input: String,
    /// A built-in voice, or a custom voice id (`voice_…`).
    #[serde(default = "default_voice")]
    pub voice: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instructions: Option<String>,
    #[serde(default = "default_format")]
    pub response_format: AudioFormat,
    #[serde(default = "default_speed")]
    pub speed: f64,
}

fn default_voice() -> String {
    "alloy".into()
}

fn default_format() -> AudioFormat {
    AudioFormat::Mp3
}

fn default_speed() -> f64 {
    1.0
}

pub fn validate(model: SpeechModel, input: &Value) -> Result<Value, CoreError> {
    let mut params: SpeechParams = parse_params(input)?;
    // The text is spoken as written, spaces included: checked, not trimmed.
    required_text("input", &params.input)?;
    max_chars("input", &params.input, MAX_INPUT)?;
    params.voice = params.voice.trim().to_owned();
    let lower = params.voice.to_ascii_lowercase();
    if VOICES.contains(&lower.as_str()) {
        params.voice = lower;
    } else if !params.voice.starts_with("voice_") {
        return Err(CoreError::invalid(
            "voice",
            format!("must be one of {}, or a custom voice id voice_…", VOICES.join(", ")),
        ));
    }
    if params.instructions.is_some() && !model.takes_instructions() {
        return Err(CoreError::invalid("instructions", format!("are not taken by {}", model.name())));
    }
    optional_max_chars("instructions", params.instructions.as_deref(), MAX_INPUT)?;
    if !(0.25..=4.0).contains(&params.speed) {
        return Err(CoreError::invalid("speed", "must be between 0.25 and 4.0"));
    }
    to_json(&params)
}

/// The JSON body of `POST /audio/speech`.
pub fn body(wire_model: &str, params: &SpeechParams) -> Value {
    let voice = if params.voice.starts_with("voice_") { json!({ "id": params.voice }) } else { json!(params.voice) };
    let mut body = json!({
        "model": wire_model,
        "input": params.input,
        "voice": voice,
        "response_format": params.response_format,
        "speed": params.speed,
    });
    if let Some(instructions) = &params.instructions {
        body["instructions"] = json!(instructions);
    }
    body
}

pub async fn speak(client: &OpenAiClient, model: SpeechModel, params: &SpeechParams) -> Result<Output, ProviderError> {
    let wire_model = client.target().deployment(model.name());
    let answer = client.post_json(&Api::Speech, model.name(), &body(&wire_model, params), Phase::Submit).await?;
    let format = params.response_format;
    if answer.body.is_empty() || !format.looks_like(&answer.body) {
        return Err(ProviderError::new(
            ErrorClass::MalformedResponse,
            format!("the provider answered with something that is not {format:?} audio"),
        ));
    }
    Ok(Output::new(answer.body, format.mime()))
}

pub fn spec(service: &str, provider_title: &str, model: SpeechModel, requires_config: Option<String>) -> ModelSpec {
    let mut properties = json!({
        "input": { "type": "string", "minLength": 1, "maxLength": MAX_INPUT, "description": "The text to speak." },
        "prompt": { "type": "string", "minLength": 1, "maxLength": MAX_INPUT, "description": "Another name for input." },
        "voice": { "type": "string", "default": "alloy",
            "description": format!("One of {}, or a custom voice id voice_….", VOICES.join(", ")) },
        "response_format": { "type": "string", "enum": ["mp3", "opus", "aac", "flac", "wav", "pcm"], "default": "mp3",
            "description": "pcm: raw 24 kHz 16-bit little-endian mono samples." },
        "speed": { "type": "number", "minimum": 0.25, "maximum": 4.0, "default": 1.0 },
    });
    if model.takes_instructions() {
        properties["instructions"] = json!({ "type": ["string", "null"], "maxLength": MAX_INPUT,
            "description": "How to speak: tone, pace, accent." });
    }
    ModelSpec {
        service: service.to_owned(),
        model: model.name().to_owned(),
        aliases: Vec::new(),
        modality: Modality::Audio,
        title: format!("{} text to speech ({provider_title})", model.name()),
        description: format!("Speech from text with {} through {provider_title}.", model.name()),
        input_schema: json!({
            "type": "object",
            "additionalProperties": false,
            "oneOf": [{ "required": ["input"] }, { "required": ["prompt"] }],
            "properties": properties,
        }),
        estimated_seconds: 5,
        poll_timeout_secs: None,
        requires_config,
    }
}

impl Named for SpeechModel {
    fn name(&self) -> &str {
        SpeechModel::name(*self)
    }
}

#[async_trait]
impl OpenAiModel for SpeechModel {
    fn spec(&self, service: &str, provider_title: &str, requires_config: Option<String>) -> ModelSpec {
        spec(service, provider_title, *self, requires_config)
    }

    fn validate(&self, input: &Value) -> Result<Value, CoreError> {
        validate(*self, input)
    }

    /// Speech answers at once, with the audio.
    async fn submit(&self, openai: &OpenAi<'_>, job: &Job<'_>) -> Result<Submitted, ProviderError> {
        let params: SpeechParams = parse_params(job.input).map_err(super::invalid)?;
        Ok(Submitted::Finished(vec![speak(openai.client, *self, &params).await?]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(model: SpeechModel, input: Value) -> String {
        crate::kit::schema::error_field(&validate(model, &input).expect_err("invalid"))
    }

    #[test]
    fn validation_names_the_field() {
        use SpeechModel::*;
        assert_eq!(field_of(Tts1, json!({ "input": "" })), "input");
        assert_eq!(field_of(Tts1, json!({ "input": "x".repeat(4097) })), "input");
        assert_eq!(field_of(Tts1, json!({ "input": "x", "voice": "robot" })), "voice");
        assert_eq!(field_of(Tts1, json!({ "input": "x", "speed": 4.5 })), "speed");
        assert_eq!(field_of(Tts1Hd, json!({ "input": "x", "speed": 0.2 })), "speed");
        assert_eq!(field_of(Tts1, json!({ "input": "x", "response_format": "ogg" })), "response_format");
        assert_eq!(field_of(Tts1, json!({ "input": "x", "instructions": "calm" })), "instructions");
        assert_eq!(field_of(Tts1Hd, json!({ "input": "x", "instructions": "calm" })), "instructions");
        assert_eq!(field_of(Gpt4oMiniTts, json!({ "text": "x" })), "text");
        assert_eq!(field_of(Tts1, json!({ "input": "x", "prompt": "y" })), "input");
        let prompt = validate(Tts1, &json!({ "prompt": "hello" })).expect("prompt is input");
        assert_eq!(prompt["input"], "hello");
        let ok =
            validate(Gpt4oMiniTts, &json!({ "input": "hi", "voice": "Coral", "instructions": "calm" })).expect("ok");
        assert_eq!(
            ok,
            json!({ "input": "hi", "voice": "coral", "instructions": "calm", "response_format": "mp3", "speed": 1.0 })
        );
    }

    #[test]
    fn bodies_use_the_wire_names() {
        let params: SpeechParams = serde_json::from_value(
            json!({ "input": "hi", "voice": "voice_123", "response_format": "pcm", "speed": 1.5 }),
        )
        .expect("params");
        assert_eq!(
            body("tts-1-hd", &params),
            json!({ "model": "tts-1-hd", "input": "hi", "voice": { "id": "voice_123" }, "response_format": "pcm", "speed": 1.5 })
        );
    }

    #[test]
    fn formats_are_recognised_by_their_bytes() {
        assert!(AudioFormat::Mp3.looks_like(b"ID3\x04"));
        assert!(AudioFormat::Opus.looks_like(b"OggS\0"));
        assert!(AudioFormat::Flac.looks_like(b"fLaC\0"));
        assert!(AudioFormat::Wav.looks_like(b"RIFF\0\0\0\0WAVEfmt "));
        assert!(AudioFormat::Aac.looks_like(&[0xFF, 0xF1, 0x50]));
        assert!(AudioFormat::Pcm.looks_like(&[0, 1, 2, 3]));
        for format in [AudioFormat::Mp3, AudioFormat::Opus, AudioFormat::Flac, AudioFormat::Wav, AudioFormat::Pcm] {
            assert!(!format.looks_like(b"{\"error\":"), "{format:?}");
        }
    }
}
