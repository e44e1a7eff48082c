//! espeak-ng, the Debian package, through its command line: formant synthesis in
//! some hundred languages (robotic but intelligible, and tiny), and the phonemes
//! Piper's voices are trained on (IPA, as `piper-phonemize` asks espeak-ng for).
//!
//! Japanese: espeak-ng 1.51 reads kana but spells each kanji out as "Chinese
//! letter", so Japanese text goes through `kakasi` (Debian package) first when it
//! is installed, turning kanji into hiragana (readings chosen by its dictionary,
//! without context: a particle は is read "ha"). Mandarin uses espeak-ng's
//! `cmn-latn-pinyin` voice: the plain `cmn` voice of 1.51 reads the tone numbers of
//! its own pinyin as English digits.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use super::SpeechError;

/// The Debian package to install for this engine.
pub const PACKAGE: &str = "espeak-ng";
/// The rate espeak-ng speaks at.
pub const SAMPLE_RATE: u32 = 22_050;
/// espeak-ng's own speaking rate, words per minute, at `speed` 1.
const BASE_WPM: f32 = 175.0;

/// A program on `PATH`, looked up once.
fn on_path(name: &'static str, cell: &'static OnceLock<Option<PathBuf>>) -> Option<&'static Path> {
    cell.get_or_init(|| crate::kit::ffmpeg::find_on_path(name, std::env::var_os("PATH").as_deref())).as_deref()
}

/// The espeak-ng binary, when installed.
pub fn binary() -> Option<&'static Path> {
    static CELL: OnceLock<Option<PathBuf>> = OnceLock::new();
    on_path("espeak-ng", &CELL)
}

fn kakasi() -> Option<&'static Path> {
    static CELL: OnceLock<Option<PathBuf>> = OnceLock::new();
    on_path("kakasi", &CELL)
}

/// The voices espeak-ng lists (`espeak-ng --voices`): their language names
/// (`en-us`, `fr-fr`, `ja`, `cmn-latn-pinyin`...), read once.
pub fn voices() -> &'static [String] {
    static VOICES: OnceLock<Vec<String>> = OnceLock::new();
    VOICES.get_or_init(|| {
        let Some(binary) = binary() else { return Vec::new() };
        let Ok(output) = Command::new(binary).arg("--voices").stdin(Stdio::null()).output() else {
            return Vec::new();
        };
        let mut names: Vec<String> = String::from_utf8_lossy(&output.stdout)
            .lines()
            .skip(1)
            .filter_map(|line| line.split_whitespace().nth(1).map(str::to_ascii_lowercase))
            .collect();
        names.sort();
        names.dedup();
        names
    })
}

/// The espeak-ng voice for a language tag (`en`, `en-GB`, `zh`, `ja`...), when
/// espeak-ng has one.
pub fn voice_for(language: &str) -> Option<String> {
    let tag = language.to_ascii_lowercase().replace('_', "-");
    let preferred = match tag.as_str() {
        "en" => "en-us",
        "zh" | "zh-cn" | "zh-hans" | "cmn" | "zh-cmn" => "cmn-latn-pinyin",
        "zh-hk" | "zh-yue" | "yue" => "yue",
        "zh-tw" | "zh-hant" => "cmn-latn-pinyin",
        other => other,
    };
    let voices = voices();
    if voices.iter().any(|voice| voice == preferred) {
        return Some(preferred.to_owned());
    }
    // `fr` -> `fr-fr`; `pt-br` -> `pt-br`; `de-at` -> `de`.
    let primary = preferred.split('-').next().unwrap_or(preferred);
    voices
        .iter()
        .find(|voice| voice.as_str() == primary)
        .or_else(|| voices.iter().find(|voice| voice.split('-').next() == Some(primary)))
        .cloned()
}

/// Japanese with its kanji made hiragana by kakasi, when installed (else as is).
fn readable(text: &str, voice: &str) -> String {
    if voice != "ja" || !super::text::has_han(text) {
        return text.to_owned();
    }
    let Some(kakasi) = kakasi() else { return text.to_owned() };
    match run(kakasi, &["-JH", "-i", "utf8", "-o", "utf8"], text) {
        Ok(bytes) => String::from_utf8(bytes).unwrap_or_else(|_| text.to_owned()),
        Err(error) => {
            tracing::warn!(%error, "kakasi failed: the kanji go to espeak-ng as they are");
            text.to_owned()
        }
    }
}

/// Runs a program with `input` on stdin and returns its stdout.
fn run(program: &Path, args: &[&str], input: &str) -> Result<Vec<u8>, SpeechError> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|error| SpeechError::Engine(format!("cannot start {}: {error}", program.display())))?;
    // Written from a thread: a large input would otherwise fill the pipe while the
    // program's output fills the other.
    let mut stdin = child.stdin.take();
    let input = input.to_owned();
    let writer = std::thread::spawn(move || {
        if let Some(stdin) = stdin.as_mut() {
            let _ = stdin.write_all(input.as_bytes());
        }
    });
    let output = child
        .wait_with_output()
        .map_err(|error| SpeechError::Engine(format!("{} failed: {error}", program.display())))?;
    let _ = writer.join();
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(SpeechError::Engine(format!(
            "{} exited with {}: {}",
            program.display(),
            output.status,
            stderr.trim()
        )));
    }
    Ok(output.stdout)
}

fn require() -> Result<&'static Path, SpeechError> {
    binary().ok_or(SpeechError::Missing { package: PACKAGE })
}

/// A clause's phonemes in IPA with stress marks, as Piper's voices were trained on
/// (espeak-ng may break a clause further: its lines are joined with spaces).
pub fn phonemes(clause: &str, voice: &str) -> Result<String, SpeechError> {
    let binary = require()?;
    let text = readable(clause, voice);
    let out = run(binary, &["-q", "--ipa", "-v", voice, "--stdin"], &text)?;
    let text = String::from_utf8_lossy(&out);
    Ok(text.lines().map(str::trim).filter(|line| !line.is_empty()).collect::<Vec<_>>().join(" "))
}

/// Speech for one sentence: mono samples in [-1, 1] at espeak-ng's rate.
pub fn synthesize(sentence: &str, voice: &str, speed: f32, pitch: u8) -> Result<(Vec<f32>, u32), SpeechError> {
    let binary = require()?;
    let wpm = (BASE_WPM * speed).round().clamp(80.0, 450.0) as u32;
    let text = readable(sentence, voice);
    let wav =
        run(binary, &["-v", voice, "-s", &wpm.to_string(), "-p", &pitch.to_string(), "--stdout", "--stdin"], &text)?;
    super::audio::read_wav_lenient(&wav)
        .ok_or_else(|| SpeechError::Engine("espeak-ng's output is not the WAV it should be".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn installed() -> bool {
        atelier_core::testing::tool_present("espeak-ng")
    }

    #[test]
    fn languages_map_to_voices() {
        if !installed() {
            return;
        }
        assert_eq!(voice_for("en").as_deref(), Some("en-us"));
        assert_eq!(voice_for("en-GB").as_deref(), Some("en-gb"));
        assert_eq!(voice_for("zh").as_deref(), Some("cmn-latn-pinyin"));
        assert_eq!(voice_for("ja").as_deref(), Some("ja"));
        assert!(voice_for("fr").is_some_and(|voice| voice.starts_with("fr")));
        assert_eq!(voice_for("tlh"), None);
    }

    #[test]
    fn phonemes_are_ipa() {
        if !installed() {
            return;
        }
        assert_eq!(phonemes("Hello world", "en-us").expect("phonemes"), "həlˈoʊ wˈɜːld");
        // Mandarin through the pinyin voice: tones as digits, no English words.
        let mandarin = phonemes("你好", "cmn-latn-pinyin").expect("phonemes");
        assert!(!mandarin.contains("(en)"), "{mandarin}");
    }

    #[test]
    fn a_sentence_is_spoken() {
        if !installed() {
            return;
        }
        let (samples, rate) = synthesize("Hello there.", "en-us", 1.0, 50).expect("speech");
        assert_eq!(rate, 22_050);
        let seconds = samples.len() as f32 / rate as f32;
        assert!((0.4..3.0).contains(&seconds), "{seconds} s");
        assert!(samples.iter().any(|s| s.abs() > 0.05), "silent");
        let (fast, _) = synthesize("Hello there.", "en-us", 2.0, 50).expect("speech");
        assert!(fast.len() < samples.len());
    }
}
