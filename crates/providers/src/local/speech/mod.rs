//! `local/speech`: seed 000's audio family on this machine, with no key. Two
//! engines, each saying what it is:
//!
//! - **Piper** ([`piper`]): neural speech from VITS voices on ONNX Runtime; natural,
//!   one voice per language installed (`en_US-joe-medium` by `scripts/install-models`).
//! - **espeak-ng** ([`espeak`]): formant synthesis, robotic but in about a hundred
//!   languages, Japanese and Mandarin among them.
//!
//! `engine: "auto"` takes Piper where a voice for the text's language is installed
//! and ONNX Runtime loads, espeak-ng otherwise; the normalised input records the
//! engine, voice and language chosen, so a task's record says what spoke. Text is
//! spoken sentence by sentence ([`text`]): progress moves per sentence and the
//! sentences are joined with a pause and faded edges, without clicks ([`audio`]).
//! WAV is written here; MP3, Ogg Vorbis, Opus and FLAC, and other sample rates, go
//! through ffmpeg ([`encode`]).

pub mod audio;
pub mod encode;
pub mod espeak;
pub mod piper;
pub mod text;

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use atelier_core::CoreError;
use atelier_core::catalog::{Modality, ModelSpec};
use atelier_core::ports::{ErrorClass, Job, Output, ProviderError};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{LocalEngine, SERVICE, canonical_json, parse_params, rejected, run_blocking, set_progress, to_json};
use crate::config::SpeechConfig;
use crate::kit::Named;
use encode::Format;

pub const MODEL: &str = "speech";
/// The longest text one task speaks, in characters (about five minutes of speech).
pub const MAX_CHARS: usize = 5000;
/// The environment variable naming the Piper voices directory.
pub const VOICES_DIR_ENV: &str = "ATELIER_PIPER_VOICES_DIR";
/// The environment variable `ort` itself reads for ONNX Runtime's library.
pub const ORT_DYLIB_ENV: &str = "ORT_DYLIB_PATH";
/// The sample rates offered (Opus takes only 8, 12, 16, 24 and 48 kHz).
pub const SAMPLE_RATES: [u32; 7] = [8000, 16_000, 22_050, 24_000, 32_000, 44_100, 48_000];
const OPUS_RATES: [u32; 4] = [8000, 16_000, 24_000, 48_000];

/// What went wrong speaking.
#[derive(Debug, thiserror::Error)]
pub enum SpeechError {
    /// A program this engine needs is not installed.
    #[error("{package} is not installed (Debian package {package})")]
    Missing { package: &'static str },
    /// Piper's voice or ONNX Runtime cannot be used.
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Engine(String),
}

impl From<SpeechError> for ProviderError {
    fn from(error: SpeechError) -> Self {
        // A missing program or model will not appear by retrying; the engine ran and
        // failed otherwise.
        let class = match error {
            SpeechError::Missing { .. } | SpeechError::Unavailable(_) => ErrorClass::ClientError,
            SpeechError::Engine(_) => ErrorClass::GenerationFailed,
        };
        ProviderError::new(class, error.to_string())
    }
}

/// Where the engine's files are, resolved from the config, the environment and
/// the default models directory.
#[derive(Debug, Clone)]
pub struct Installed {
    pub voices_dir: PathBuf,
    pub onnxruntime: PathBuf,
}

impl Installed {
    pub fn locate(config: &SpeechConfig) -> Self {
        use super::embed::{env_path as var, models_dir};
        let models = models_dir().unwrap_or_else(|| PathBuf::from(".cache/atelier/models"));
        Self {
            voices_dir: config
                .voices_dir
                .clone()
                .or_else(|| var(VOICES_DIR_ENV))
                .unwrap_or_else(|| models.join("piper")),
            onnxruntime: config
                .onnxruntime
                .clone()
                .or_else(|| var(ORT_DYLIB_ENV))
                .unwrap_or_else(|| models.join("onnxruntime").join("libonnxruntime.so")),
        }
    }
}

/// The input of `local/speech`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpeechParams {
    pub text: String,
    #[serde(default = "default_engine")]
    pub engine: String,
    #[serde(default)]
    pub voice: Option<String>,
    #[serde(default)]
    pub language: Option<String>,
    #[serde(default = "default_speed")]
    pub speed: f64,
    #[serde(default)]
    pub pitch: Option<u8>,
    #[serde(default = "default_format")]
    pub format: String,
    #[serde(default)]
    pub sample_rate: Option<u32>,
    #[serde(default = "default_pause")]
    pub sentence_pause: f64,
}

fn default_engine() -> String {
    "auto".into()
}
fn default_speed() -> f64 {
    1.0
}
fn default_format() -> String {
    "wav".into()
}
fn default_pause() -> f64 {
    0.25
}

/// The engines a task may name.
pub const ENGINES: [&str; 3] = ["auto", "piper", "espeak"];

pub struct Speech {
    installed: Installed,
    piper: OnceLock<Arc<[piper::Voice]>>,
}

impl Speech {
    pub fn new(config: SpeechConfig) -> Self {
        Self { installed: Installed::locate(&config), piper: OnceLock::new() }
    }

    /// The Piper voices installed (read once; installing one takes a restart).
    fn piper_voices(&self) -> &Arc<[piper::Voice]> {
        self.piper.get_or_init(|| piper::voices_in(&self.installed.voices_dir).into())
    }

    /// Piper's voices, when ONNX Runtime loads too; else why not.
    fn usable_piper(&self) -> Result<&Arc<[piper::Voice]>, String> {
        let voices = self.piper_voices();
        if voices.is_empty() {
            return Err(format!(
                "no Piper voice is installed in {} ({})",
                self.installed.voices_dir.display(),
                piper::INSTALL_HINT
            ));
        }
        if espeak::binary().is_none() {
            return Err(format!(
                "Piper reads its phonemes from espeak-ng, which is not installed (Debian package {})",
                espeak::PACKAGE
            ));
        }
        piper::runtime_loads(&self.installed.onnxruntime).map_err(|error| error.to_string())?;
        Ok(voices)
    }

    fn unavailable(message: String, install: &str) -> CoreError {
        CoreError::EngineUnavailable {
            message,
            details: json!({ "model": format!("{SERVICE}/{MODEL}"), "install": install }),
            retry_after: Duration::from_secs(60),
        }
    }

    fn resolve(&self, params: &mut SpeechParams) -> Result<(), CoreError> {
        let language = params.language.clone().unwrap_or_else(|| text::guess_language(&params.text).to_owned());
        let wants = params.engine.as_str();
        // A voice named outright picks its engine.
        if let Some(voice) = params.voice.clone() {
            if let Some(found) = self.piper_voices().iter().find(|v| v.name == voice) {
                if wants == "espeak" {
                    return Err(CoreError::invalid("voice", format!("{voice} is a Piper voice, not an espeak-ng one")));
                }
                self.usable_piper().map_err(|why| Self::unavailable(why, piper::INSTALL_HINT))?;
                params.engine = "piper".into();
                params.language = Some(params.language.clone().unwrap_or_else(|| found.language.clone()));
                return Ok(());
            }
            if wants != "piper" && espeak::voices().iter().any(|v| *v == voice.to_ascii_lowercase()) {
                params.engine = "espeak".into();
                params.voice = Some(voice.to_ascii_lowercase());
                params.language = Some(language);
                return Ok(());
            }
            if wants != "piper" && espeak::binary().is_none() && self.piper_voices().is_empty() {
                return Err(Self::unavailable(
                    format!("no speech engine is installed: install the Debian package {}", espeak::PACKAGE),
                    "apt-get install espeak-ng",
                ));
            }
            return Err(CoreError::invalid(
                "voice",
                format!("no installed voice is named {voice:?}: {}", self.voice_list()),
            ));
        }
        if wants != "espeak" {
            match self.usable_piper() {
                Ok(voices) => {
                    if let Some(voice) = voices.iter().find(|v| v.speaks(&language)) {
                        params.engine = "piper".into();
                        params.voice = Some(voice.name.clone());
                        params.language = Some(language);
                        return Ok(());
                    }
                    if wants == "piper" {
                        return Err(CoreError::invalid(
                            "language",
                            format!("no Piper voice speaks {language:?}: {}", self.voice_list()),
                        ));
                    }
                }
                Err(why) if wants == "piper" => return Err(Self::unavailable(why, piper::INSTALL_HINT)),
                Err(_) => {}
            }
        }
        if espeak::binary().is_none() {
            return Err(Self::unavailable(
                format!(
                    "espeak-ng is not installed (Debian package {}), and no Piper voice speaks {language:?}",
                    espeak::PACKAGE
                ),
                "apt-get install espeak-ng",
            ));
        }
        let Some(voice) = espeak::voice_for(&language) else {
            return Err(CoreError::invalid(
                "language",
                format!("no installed voice speaks {language:?}: {}", self.voice_list()),
            ));
        };
        params.engine = "espeak".into();
        params.voice = Some(voice);
        params.language = Some(language);
        Ok(())
    }

    fn voice_list(&self) -> String {
        let piper: Vec<String> = self.piper_voices().iter().map(|v| format!("{} ({})", v.name, v.language)).collect();
        let espeak = espeak::voices();
        format!(
            "Piper voices: {}; espeak-ng voices: {}",
            if piper.is_empty() { "none installed".to_owned() } else { piper.join(", ") },
            if espeak.is_empty() { "none (espeak-ng is not installed)".to_owned() } else { espeak.join(", ") }
        )
    }

    fn parse(&self, input: &Value) -> Result<SpeechParams, CoreError> {
        let mut params: SpeechParams = parse_params(input)?;
        params.text = params.text.trim().to_owned();
        let chars = params.text.chars().count();
        if chars == 0 || !params.text.chars().any(char::is_alphanumeric) {
            return Err(CoreError::invalid("text", "give some words to speak"));
        }
        if chars > MAX_CHARS {
            return Err(CoreError::invalid("text", format!("is {chars} characters; at most {MAX_CHARS} per task")));
        }
        if !ENGINES.contains(&params.engine.as_str()) {
            return Err(CoreError::invalid("engine", format!("must be one of {}", ENGINES.join(", "))));
        }
        if let Some(language) = &params.language {
            let valid = !language.is_empty()
                && language.len() <= 35
                && language
                    .split(['-', '_'])
                    .all(|part| !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric()));
            if !valid {
                return Err(CoreError::invalid("language", "must be a language tag such as en, en-GB, ja or zh"));
            }
        }
        if !(0.5..=2.0).contains(&params.speed) || !params.speed.is_finite() {
            return Err(CoreError::invalid("speed", "must be between 0.5 and 2.0 (1 is the voice's own pace)"));
        }
        if !(0.0..=2.0).contains(&params.sentence_pause) || !params.sentence_pause.is_finite() {
            return Err(CoreError::invalid("sentence_pause", "must be between 0 and 2 seconds"));
        }
        if params.pitch.is_some_and(|pitch| pitch > 99) {
            return Err(CoreError::invalid("pitch", "must be between 0 and 99 (50 is the voice's own)"));
        }
        let format = Format::parse(&params.format)
            .ok_or_else(|| CoreError::invalid("format", format!("must be one of {}", Format::NAMES.join(", "))))?;
        self.resolve(&mut params)?;
        let native = self.native_rate(&params);
        match params.engine.as_str() {
            "piper" if params.pitch.is_some() => {
                return Err(CoreError::invalid(
                    "pitch",
                    "Piper voices have no pitch control; leave it out, or use engine \"espeak\"",
                ));
            }
            "espeak" => params.pitch = Some(params.pitch.unwrap_or(50)),
            _ => {}
        }
        let rate = match params.sample_rate {
            Some(rate) if !SAMPLE_RATES.contains(&rate) => {
                return Err(CoreError::invalid(
                    "sample_rate",
                    format!("must be one of {}", SAMPLE_RATES.map(|r| r.to_string()).join(", ")),
                ));
            }
            Some(rate) if format == Format::Opus && !OPUS_RATES.contains(&rate) => {
                return Err(CoreError::invalid(
                    "sample_rate",
                    format!("Opus takes {} Hz", OPUS_RATES.map(|r| r.to_string()).join(", ")),
                ));
            }
            Some(rate) => rate,
            None if format == Format::Opus => 48_000,
            None => native,
        };
        params.sample_rate = Some(rate);
        if format != Format::Wav || rate != native {
            crate::kit::ffmpeg::require(
                crate::kit::ffmpeg::Tool::Ffmpeg,
                "local/speech (formats but WAV at the voice's rate)",
            )?;
            if let Some(encoder) = encode::encoder(format) {
                crate::kit::ffmpeg::require_encoder(encoder, "local/speech")?;
            }
        }
        Ok(params)
    }

    fn native_rate(&self, params: &SpeechParams) -> u32 {
        match (params.engine.as_str(), params.voice.as_deref()) {
            ("piper", Some(name)) => {
                self.piper_voices().iter().find(|v| v.name == name).map_or(22_050, |voice| voice.sample_rate)
            }
            _ => espeak::SAMPLE_RATE,
        }
    }

    fn schema(&self) -> Value {
        let mut voices: Vec<String> = self.piper_voices().iter().map(|voice| voice.name.clone()).collect();
        voices.extend(espeak::voices().iter().cloned());
        let mut voice = json!({
            "type": "string",
            "default": null,
            "description": "A Piper voice (en_US-joe-medium) or an espeak-ng voice (en-us, fr-fr, ja, cmn-latn-pinyin...); picks its engine. Unset: the best voice for the language",
        });
        if !voices.is_empty() {
            voice["enum"] = json!(voices);
        }
        json!({
            "type": "object",
            "additionalProperties": false,
            "required": ["text"],
            "properties": {
                "text": { "type": "string", "minLength": 1, "maxLength": MAX_CHARS, "description": "What to say. Spoken sentence by sentence" },
                "engine": { "type": "string", "enum": ENGINES, "default": null, "description": "piper (neural, where a voice for the language is installed), espeak (formant synthesis, robotic, about a hundred languages), or auto (unset): Piper when it can, espeak-ng otherwise. The task's input records the engine chosen" },
                "voice": voice,
                "language": { "type": "string", "maxLength": 35, "default": null, "description": "A language tag (en, en-GB, ja, zh, fr...). Unset: guessed from the script (Latin script is taken as English)" },
                "speed": { "type": "number", "minimum": 0.5, "maximum": 2.0, "default": 1.0, "description": "Pace relative to the voice's own" },
                "pitch": { "type": "integer", "minimum": 0, "maximum": 99, "default": null, "description": "espeak-ng only (filled in with 50): 50 is the voice's own (Piper voices have no pitch control)" },
                "format": { "type": "string", "enum": Format::NAMES, "default": "wav", "description": "wav (always), or through ffmpeg: mp3, ogg (Vorbis), opus (Ogg Opus), flac" },
                "sample_rate": { "type": "integer", "enum": SAMPLE_RATES, "default": null, "description": "Hz. Unset: the voice's own (22050), 48000 for Opus" },
                "sentence_pause": { "type": "number", "minimum": 0, "maximum": 2, "default": 0.25, "description": "Seconds of silence between sentences" }
            }
        })
    }
}

impl Named for Speech {
    fn name(&self) -> &str {
        MODEL
    }
}

#[async_trait]
impl LocalEngine for Speech {
    fn spec(&self) -> ModelSpec {
        ModelSpec {
            service: SERVICE.into(),
            model: MODEL.into(),
            aliases: vec!["tts".into()],
            modality: Modality::Audio,
            title: "Speech (Piper neural voices, espeak-ng formant synthesis)".into(),
            description: "Built in, no key: text to speech with Piper's neural voices where one is installed for the \
                          language (en_US-joe-medium by scripts/install-models), and espeak-ng's formant synthesis \
                          (robotic, about a hundred languages, Japanese and Mandarin among them) otherwise. The task \
                          records which engine and voice spoke."
                .into(),
            input_schema: self.schema(),
            estimated_seconds: 5,
            poll_timeout_secs: None,
            requires_config: None,
        }
    }

    fn validate(&self, input: &Value) -> Result<Value, CoreError> {
        to_json(&self.parse(input)?)
    }

    async fn run(&self, job: &Job<'_>) -> Result<Vec<Output>, ProviderError> {
        let params = self.parse(job.input).map_err(rejected)?;
        let native = self.native_rate(&params);
        let format = Format::parse(&params.format).unwrap_or(Format::Wav);
        let rate = params.sample_rate.unwrap_or(native);
        let parameters = canonical_json(&json!({ "service": SERVICE, "model": MODEL, "input": job.input }));
        let progress = job.progress.clone();
        let voices = self.piper_voices().clone();
        let library = self.installed.onnxruntime.clone();
        let task_id = job.task_id;
        run_blocking("speech", move || {
            let started = std::time::Instant::now();
            let track = speak(&params, &voices, &library, native, &progress)?;
            tracing::debug!(
                %task_id,
                engine = %params.engine,
                voice = params.voice.as_deref().unwrap_or_default(),
                audio_seconds = track.seconds(),
                elapsed_ms = started.elapsed().as_millis() as u64,
                "speech synthesised"
            );
            if track.samples.iter().all(|s| s.abs() < 1e-4) {
                return Err(ProviderError::new(ErrorClass::GenerationFailed, "the engine produced only silence"));
            }
            let wav = track.to_wav().map_err(|error| {
                ProviderError::new(ErrorClass::GenerationFailed, format!("WAV encoding failed: {error}"))
            })?;
            let bytes =
                if format == Format::Wav && rate == native { wav } else { encode::transcode(&wav, format, rate)? };
            set_progress(&progress, 1, 1);
            Ok(vec![Output::new(bytes, format.mime()).with_parameters(Some(parameters))])
        })
        .await
    }
}

/// Speaks the text sentence by sentence, moving progress after each (the last
/// step, encoding, is left for the caller).
fn speak(
    params: &SpeechParams,
    voices: &[piper::Voice],
    library: &std::path::Path,
    native: u32,
    progress: &std::sync::atomic::AtomicU8,
) -> Result<audio::Track, ProviderError> {
    let voice = params.voice.as_deref().unwrap_or_default();
    let piper_voice = match params.engine.as_str() {
        "piper" => Some(voices.iter().find(|v| v.name == voice).ok_or_else(|| {
            ProviderError::new(ErrorClass::ClientError, format!("the Piper voice {voice} is no longer installed"))
        })?),
        _ => None,
    };
    let sentences = text::sentences(&params.text);
    let mut track = audio::Track::new(native);
    for (done, sentence) in sentences.iter().enumerate() {
        let samples = match piper_voice {
            Some(piper) => piper.synthesize(library, sentence, params.speed as f32)?,
            None => espeak::synthesize(sentence, voice, params.speed as f32, params.pitch.unwrap_or(50))?.0,
        };
        track.push_sentence(samples, params.sentence_pause as f32);
        set_progress(progress, done + 1, sentences.len() + 1);
    }
    Ok(track)
}

#[cfg(test)]
mod tests;
