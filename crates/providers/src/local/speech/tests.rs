//! `local/speech` end to end: validation, the engine chosen, and the files checked
//! by independent tools (hound, ffprobe, sox).

use std::io::Cursor;

use serde_json::{Value, json};

use super::*;
use crate::local::test_support::{error_field, job};

fn speech() -> Speech {
    Speech::new(SpeechConfig::default())
}

fn espeak_installed() -> bool {
    atelier_core::testing::tool_present("espeak-ng")
}

fn piper_installed(engine: &Speech) -> bool {
    match engine.usable_piper() {
        Ok(_) => true,
        Err(why) => {
            atelier_core::testing::tool_missing(&format!("Piper ({why})"));
            false
        }
    }
}

async fn run(engine: &Speech, input: Value) -> (Value, Vec<u8>, String) {
    let normalised = engine.validate(&input).expect("valid input");
    let job = job(MODEL, &normalised);
    let mut outputs = engine.run(&job).await.expect("speech");
    assert_eq!(job.progress.load(std::sync::atomic::Ordering::Relaxed), 100);
    assert_eq!(outputs.len(), 1);
    let output = outputs.remove(0);
    let mime = output.mime.clone();
    let bytes = match output.data {
        atelier_core::ports::OutputData::Bytes(bytes) => bytes.to_vec(),
        atelier_core::ports::OutputData::Stream(_) => panic!("speech is held in memory"),
    };
    (normalised, bytes, mime)
}

fn stream(probe: &Value) -> &Value {
    &probe["streams"][0]
}

fn duration(probe: &Value) -> f64 {
    probe["format"]["duration"].as_str().and_then(|d| d.parse().ok()).expect("a duration")
}

#[test]
fn bad_inputs_name_their_field() {
    let engine = speech();
    let cases = [
        (json!({}), "text"),
        (json!({"text": "   "}), "text"),
        (json!({"text": "..."}), "text"),
        (json!({"text": "x".repeat(MAX_CHARS + 1)}), "text"),
        (json!({"text": "hi", "engine": "festival"}), "engine"),
        (json!({"text": "hi", "speed": 3.0}), "speed"),
        (json!({"text": "hi", "speed": 0.1}), "speed"),
        (json!({"text": "hi", "pitch": 100}), "pitch"),
        (json!({"text": "hi", "format": "aiff"}), "format"),
        (json!({"text": "hi", "sample_rate": 12345}), "sample_rate"),
        (json!({"text": "hi", "language": "not a tag!"}), "language"),
        (json!({"text": "hi", "sentence_pause": -1}), "sentence_pause"),
        (json!({"text": "hi", "colour": "blue"}), "colour"),
    ];
    for (input, field) in cases {
        let error = engine.validate(&input).expect_err("invalid");
        assert_eq!(error_field(&error), field, "{input}: {error}");
    }
}

#[test]
fn espeak_inputs_are_normalised_and_checked() {
    if !espeak_installed() {
        return;
    }
    let engine = speech();
    let normalised = engine
        .validate(&json!({"text": "Bonjour tout le monde", "engine": "espeak", "language": "fr"}))
        .expect("valid");
    assert_eq!(normalised["engine"], "espeak");
    assert!(normalised["voice"].as_str().is_some_and(|voice| voice.starts_with("fr")), "{normalised}");
    assert_eq!(normalised["pitch"], 50);
    assert_eq!(normalised["sample_rate"], 22_050);
    assert_eq!(normalised["format"], "wav");
    // Numbers stay the numbers given (not a 32-bit float's 1.2000000476837158).
    let paced = engine.validate(&json!({"text": "hi", "engine": "espeak", "speed": 1.2})).expect("valid");
    assert_eq!(paced["speed"], json!(1.2));
    // Validating the normalised input again changes nothing.
    assert_eq!(engine.validate(&normalised).expect("still valid"), normalised);
    // Japanese and Chinese text go to espeak-ng's voices for them.
    let japanese = engine.validate(&json!({"text": "こんにちは、世界"})).expect("valid");
    assert_eq!((japanese["engine"].as_str(), japanese["voice"].as_str()), (Some("espeak"), Some("ja")));
    let chinese = engine.validate(&json!({"text": "你好，世界"})).expect("valid");
    assert_eq!(chinese["voice"], "cmn-latn-pinyin");
    let error = engine.validate(&json!({"text": "hi", "voice": "no-such-voice"})).expect_err("unknown voice");
    assert_eq!(error_field(&error), "voice");
    let error = engine.validate(&json!({"text": "hi", "language": "tlh"})).expect_err("no Klingon");
    assert_eq!(error_field(&error), "language");
    let error = engine.validate(&json!({"text": "hi", "format": "opus", "sample_rate": 22050})).expect_err("opus");
    assert_eq!(error_field(&error), "sample_rate");
}

#[tokio::test]
async fn espeak_speaks_a_wav_that_independent_tools_read() {
    if !espeak_installed() {
        return;
    }
    let engine = speech();
    let text = "The quick brown fox jumps over the lazy dog. It was not amused! Was it?";
    let (normalised, wav, mime) = run(&engine, json!({"text": text, "engine": "espeak"})).await;
    assert_eq!(mime, "audio/wav");
    assert_eq!(normalised["voice"], "en-us");
    let reader = hound::WavReader::new(Cursor::new(&wav)).expect("hound reads it");
    assert_eq!((reader.spec().channels, reader.spec().sample_rate, reader.spec().bits_per_sample), (1, 22_050, 16));
    let seconds = f64::from(reader.duration()) / 22_050.0;
    // 16 words at espeak-ng's 175 words a minute, two pauses between sentences.
    assert!((3.0..9.0).contains(&seconds), "{seconds} s for 16 words");
    if let Some(probe) = atelier_core::testing::ffprobe(&wav, "wav") {
        assert_eq!(stream(&probe)["codec_name"], "pcm_s16le");
        assert_eq!(stream(&probe)["channels"], 1);
        assert!((duration(&probe) - seconds).abs() < 0.05);
    }
    if let Some(stat) = atelier_core::testing::sox_stat(&wav, "wav") {
        let rms = stat.iter().find(|(name, _)| name == "RMS     amplitude").map(|(_, v)| *v).expect("RMS");
        assert!(rms > 0.02, "RMS amplitude {rms}: silent");
    }
    // Faster speech is shorter; a higher pitch is a different file.
    let (_, fast, _) = run(&engine, json!({"text": text, "engine": "espeak", "speed": 2.0})).await;
    assert!(fast.len() < wav.len() * 3 / 4, "{} vs {}", fast.len(), wav.len());
}

#[tokio::test]
async fn every_format_comes_out_as_its_codec() {
    if !espeak_installed() || !atelier_core::testing::tool_present("ffmpeg") {
        return;
    }
    let engine = speech();
    let cases = [
        ("mp3", "mp3", "audio/mpeg", 44_100),
        ("ogg", "vorbis", "audio/ogg", 22_050),
        ("opus", "opus", "audio/ogg", 48_000),
        ("flac", "flac", "audio/flac", 16_000),
        ("wav", "pcm_s16le", "audio/wav", 8000),
    ];
    for (format, codec, want_mime, rate) in cases {
        let input = json!({"text": "Hello from Atelier.", "engine": "espeak", "format": format, "sample_rate": rate});
        let (_, bytes, mime) = run(&engine, input).await;
        assert_eq!(mime, want_mime);
        let Some(probe) = atelier_core::testing::ffprobe(&bytes, format) else { return };
        assert_eq!(stream(&probe)["codec_name"], codec, "{format}");
        assert_eq!(stream(&probe)["sample_rate"], rate.to_string(), "{format}");
        assert_eq!(stream(&probe)["channels"], 1, "{format}");
        let seconds = duration(&probe);
        assert!((0.5..3.0).contains(&seconds), "{format}: {seconds} s");
    }
}

#[tokio::test]
async fn piper_speaks_english_by_default() {
    let engine = speech();
    if !piper_installed(&engine) {
        return;
    }
    let text = "Atelier speaks with a neural voice. Each sentence is spoken on its own, then joined.";
    let normalised = engine.validate(&json!({"text": text})).expect("valid");
    assert_eq!(
        (normalised["engine"].as_str(), normalised["voice"].as_str()),
        (Some("piper"), Some("en_US-joe-medium"))
    );
    assert_eq!(normalised["language"], "en");
    let error = engine.validate(&json!({"text": text, "pitch": 60})).expect_err("Piper has no pitch");
    assert_eq!(error_field(&error), "pitch");
    let (_, wav, _) = run(&engine, json!({"text": text})).await;
    let reader = hound::WavReader::new(Cursor::new(&wav)).expect("hound reads it");
    let seconds = f64::from(reader.duration()) / f64::from(reader.spec().sample_rate);
    // 15 words: a natural pace is two to three words a second.
    assert!((3.0..10.0).contains(&seconds), "{seconds} s for 15 words");
    if let Some(stat) = atelier_core::testing::sox_stat(&wav, "wav") {
        let rms = stat.iter().find(|(name, _)| name == "RMS     amplitude").map(|(_, v)| *v).expect("RMS");
        assert!(rms > 0.02, "RMS amplitude {rms}: silent");
    }
    // Japanese still goes to espeak-ng: no Piper voice speaks it here.
    let japanese = engine.validate(&json!({"text": "こんにちは"})).expect("valid");
    assert_eq!(japanese["engine"], "espeak");
    let error =
        engine.validate(&json!({"text": "こんにちは", "engine": "piper"})).expect_err("no Japanese Piper voice");
    assert_eq!(error_field(&error), "language");
}

#[test]
fn a_missing_piper_install_is_engine_unavailable() {
    let engine = Speech::new(SpeechConfig {
        voices_dir: Some("/nonexistent/voices".into()),
        onnxruntime: Some("/nonexistent/libonnxruntime.so".into()),
    });
    let error = engine.validate(&json!({"text": "hello", "engine": "piper"})).expect_err("no Piper");
    assert!(matches!(error, CoreError::EngineUnavailable { .. }), "{error:?}");
    assert!(error.to_string().contains("install-models"), "{error}");
}
