//! The engine end to end: videos made from in-memory pictures and sounds, checked
//! with ffprobe and by decoding frames back with ffmpeg (independent of the code
//! that made them). Without ffmpeg and ffprobe these tests skip, or fail under
//! `ATELIER_TEST_REQUIRE_TOOLS=1`.

use std::io::Cursor;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use atelier_core::TaskId;
use atelier_core::ports::{
    ErrorClass, InputCopy, InputFile, InputFiles, InputRef, Job, Output, ProviderError, ProviderUpload,
};
use base64::Engine as _;
use serde_json::{Value, json};

use super::*;
use crate::kit::ffmpeg::{Ffmpeg, Staging};

/// Serves `data:` URIs, as the server's input files do.
struct DataFiles;

#[async_trait]
impl InputFiles for DataFiles {
    async fn open(&self, reference: &InputRef) -> Result<InputFile, ProviderError> {
        let refused = |why: &str| ProviderError::new(ErrorClass::ClientError, why.to_owned());
        let InputRef::DataUri(uri) = reference else { return Err(refused("data: URIs only here")) };
        let (header, data) = uri.split_once(',').ok_or_else(|| refused("no comma"))?;
        let bytes = base64::engine::general_purpose::STANDARD.decode(data).map_err(|_| refused("not base64"))?;
        let mime = header.trim_start_matches("data:").trim_end_matches(";base64").to_owned();
        Ok(InputFile { bytes: bytes.into(), mime, sha256: String::new(), name: "input".into() })
    }

    async fn cached_upload(&self, _service: &str, _key: &str, _margin_ms: i64) -> Option<ProviderUpload> {
        None
    }

    async fn remember_upload(&self, _service: &str, _key: &str, _upload: &ProviderUpload) {}

    async fn record_copy(&self, _task: TaskId, _copy: &InputCopy) {}
}

fn data_uri(mime: &str, bytes: &[u8]) -> String {
    format!("data:{mime};base64,{}", base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// A picture with detail everywhere, tinted by `hue` (so pictures differ).
fn picture(width: u32, height: u32, hue: u8) -> String {
    let image = image::RgbImage::from_fn(width, height, |x, y| {
        let check = if (x / 10 + y / 10) % 2 == 0 { 40 } else { 0 };
        image::Rgb([((x * 255 / width) as u8).wrapping_add(hue), ((y * 255 / height) as u8) / 2 + check, hue])
    });
    let mut png = Vec::new();
    image.write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png).expect("png");
    data_uri("image/png", &png)
}

/// A 440 Hz sine as a 16-bit mono WAV, written by hand.
fn sine_wav(seconds: f64) -> String {
    let rate = 22_050u32;
    let samples: Vec<i16> = (0..(seconds * f64::from(rate)) as u32)
        .map(|i| ((f64::from(i) / f64::from(rate) * 440.0 * std::f64::consts::TAU).sin() * 12_000.0) as i16)
        .collect();
    let data_bytes = samples.len() as u32 * 2;
    let mut wav = Vec::new();
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&(36 + data_bytes).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    wav.extend_from_slice(&16u32.to_le_bytes());
    wav.extend_from_slice(&1u16.to_le_bytes()); // PCM
    wav.extend_from_slice(&1u16.to_le_bytes()); // mono
    wav.extend_from_slice(&rate.to_le_bytes());
    wav.extend_from_slice(&(rate * 2).to_le_bytes());
    wav.extend_from_slice(&2u16.to_le_bytes());
    wav.extend_from_slice(&16u16.to_le_bytes());
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&data_bytes.to_le_bytes());
    for sample in samples {
        wav.extend_from_slice(&sample.to_le_bytes());
    }
    data_uri("audio/wav", &wav)
}

/// Runs the engine on `input` (validated first); the output and the progress.
async fn make(input: Value) -> Result<(Output, u8), ProviderError> {
    let input = Slideshow.validate(&input).unwrap_or_else(|error| panic!("valid: {error}"));
    let progress = Arc::new(AtomicU8::new(0));
    let job = Job {
        task_id: TaskId::new(),
        model: MODEL,
        input: &input,
        attempt: 1,
        running_for: Duration::ZERO,
        progress: Arc::clone(&progress),
        files: &DataFiles,
    };
    let mut outputs = Slideshow.run(&job).await?;
    assert_eq!(outputs.len(), 1);
    Ok((outputs.remove(0), progress.load(Ordering::Relaxed)))
}

fn video(output: &Output) -> &[u8] {
    output.bytes().expect("in memory")
}

fn stream<'a>(report: &'a Value, kind: &str) -> &'a Value {
    report["streams"]
        .as_array()
        .and_then(|streams| streams.iter().find(|stream| stream["codec_type"] == kind))
        .unwrap_or_else(|| panic!("a {kind} stream in {report}"))
}

fn number(value: &Value) -> f64 {
    value.as_str().and_then(|text| text.parse().ok()).unwrap_or_else(|| panic!("a number: {value}"))
}

/// Frame `n` of a video, decoded by ffmpeg to RGB.
fn decoded_frame(mp4: &[u8], n: u32) -> Vec<u8> {
    let staging = Staging::new().expect("staging");
    let path = staging.write("video.mp4", mp4).expect("stage");
    Ffmpeg::new()
        .input(&path, "mov", &[])
        .args([
            "-vf",
            &format!("select=eq(n\\,{n})"),
            "-frames:v",
            "1",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "pipe:1",
        ])
        .run()
        .expect("a decoded frame")
}

/// The RMS level (0 to 1) of a video's sound between `from` and `to` seconds,
/// decoded by ffmpeg.
fn loudness(mp4: &[u8], from: f64, to: f64) -> f64 {
    let staging = Staging::new().expect("staging");
    let path = staging.write("video.mp4", mp4).expect("stage");
    let raw = Ffmpeg::new()
        .input(&path, "mov", &[])
        .args(["-map", "0:a:0", "-ac", "1", "-ar", "8000", "-f", "s16le", "pipe:1"])
        .run()
        .expect("decoded sound");
    let samples: Vec<f64> =
        raw.chunks_exact(2).map(|pair| f64::from(i16::from_le_bytes([pair[0], pair[1]])) / 32768.0).collect();
    let window = &samples[(from * 8000.0) as usize..((to * 8000.0) as usize).min(samples.len())];
    (window.iter().map(|sample| sample * sample).sum::<f64>() / window.len().max(1) as f64).sqrt()
}

/// The mean absolute difference of two frames over rows `rows` (of `width`-pixel rows).
fn difference(a: &[u8], b: &[u8], width: usize, rows: std::ops::Range<usize>) -> f64 {
    let range = rows.start * width * 3..rows.end * width * 3;
    let (a, b) = (&a[range.clone()], &b[range]);
    a.iter().zip(b).map(|(x, y)| f64::from(x.abs_diff(*y))).sum::<f64>() / a.len() as f64
}

/// ffmpeg and ffprobe, or a skip (a failure under `ATELIER_TEST_REQUIRE_TOOLS=1`).
fn installed() -> bool {
    atelier_core::testing::tool_present("ffmpeg") && atelier_core::testing::tool_present("ffprobe")
}

#[tokio::test]
async fn an_mp4_that_ffprobe_reads_as_asked() {
    if !installed() {
        return;
    }
    let input = json!({
        "images": [picture(320, 180, 0), picture(120, 200, 90), picture(640, 200, 180)],
        "width": 160, "height": 90, "fps": 10, "seconds_per_image": 1, "transition": 0.3,
    });
    let (output, progress) = make(input).await.expect("a video");
    assert_eq!((output.mime.as_str(), output.width, output.height), ("video/mp4", Some(160), Some(90)));
    assert_eq!(progress, 100);
    let report = atelier_core::testing::ffprobe(video(&output), "mp4").expect("ffprobe");
    let video_stream = stream(&report, "video");
    assert_eq!(video_stream["codec_name"], "h264", "{report}");
    assert_eq!(video_stream["pix_fmt"], "yuv420p");
    assert_eq!((&video_stream["width"], &video_stream["height"]), (&json!(160), &json!(90)));
    assert_eq!(video_stream["r_frame_rate"], "10/1");
    assert_eq!(video_stream["nb_read_frames"], "30", "every frame, counted by decoding");
    assert_eq!(video_stream["color_space"], "bt709");
    assert!((number(&report["format"]["duration"]) - 3.0).abs() <= 0.2, "{}", report["format"]["duration"]);
    assert_eq!(report["streams"].as_array().map(Vec::len), Some(1), "no audio without a soundtrack");
    // `+faststart`: the index before the media.
    let bytes = video(&output);
    let at = |tag: &[u8]| bytes.windows(4).position(|window| window == tag).expect("a box");
    assert!(at(b"moov") < at(b"mdat"), "the index comes first");
    let parameters: Value = serde_json::from_str(output.parameters.as_deref().expect("parameters")).expect("JSON");
    assert_eq!(parameters["video"]["frames"], 30);
}

#[tokio::test]
async fn a_soundtrack_becomes_aac_as_long_as_the_video() {
    if !installed() {
        return;
    }
    let images = [picture(160, 90, 0), picture(160, 90, 120)];
    // Shorter than the video (padded with silence) and longer (cut, faded out).
    for sound in [1.3, 5.0] {
        let input = json!({
            "images": images, "width": 160, "height": 90, "fps": 10, "duration": 2, "soundtrack": sine_wav(sound),
        });
        let (output, _) = make(input).await.expect("a video");
        let report = atelier_core::testing::ffprobe(video(&output), "mp4").expect("ffprobe");
        let audio = stream(&report, "audio");
        assert_eq!(audio["codec_name"], "aac", "{report}");
        let (audio_seconds, video_seconds) =
            (number(&audio["duration"]), number(&stream(&report, "video")["duration"]));
        assert!((video_seconds - 2.0).abs() < 0.15, "{sound} s: video {video_seconds}");
        assert!((audio_seconds - video_seconds).abs() < 0.1, "{sound} s: audio {audio_seconds}, video {video_seconds}");
        let (playing, end) = (loudness(video(&output), 0.5, 1.0), loudness(video(&output), 1.8, 1.95));
        assert!(playing > 0.2, "{sound} s: the sine plays ({playing})");
        if sound < 2.0 {
            assert!(end < 0.01, "{sound} s: silence after a short soundtrack ({end})");
        } else {
            assert!(
                end < playing * 0.4 && end > 0.0,
                "{sound} s: a cut soundtrack fades out ({end} against {playing})"
            );
        }
    }
    // The video as long as the soundtrack.
    let input = json!({
        "images": images, "width": 160, "height": 90, "fps": 10, "soundtrack": sine_wav(2.5), "length_from": "soundtrack",
    });
    let (output, _) = make(input).await.expect("a video");
    let report = atelier_core::testing::ffprobe(video(&output), "mp4").expect("ffprobe");
    assert_eq!(stream(&report, "video")["nb_read_frames"], "25", "{report}");
    assert!((number(&stream(&report, "audio")["duration"]) - 2.5).abs() < 0.1, "{report}");
}

#[tokio::test]
async fn captions_are_drawn_in_the_lower_part() {
    if !installed() {
        return;
    }
    let base = json!({
        "images": [picture(320, 180, 30)], "width": 160, "height": 90, "fps": 10, "duration": 1, "motion": "none",
    });
    let mut captioned = base.clone();
    captioned["captions"] = json!(["Hello, harbour"]);
    let (plain, _) = make(base).await.expect("a video");
    let (with_caption, _) = make(captioned).await.expect("a video");
    let (a, b) = (decoded_frame(video(&plain), 5), decoded_frame(video(&with_caption), 5));
    assert_eq!(a.len(), 160 * 90 * 3);
    let (top, bottom) = (difference(&a, &b, 160, 0..40), difference(&a, &b, 160, 55..90));
    assert!(top < 1.0, "the upper part is the picture's: {top}");
    assert!(bottom > 8.0, "the caption changes the lower part: {bottom}");
}

#[tokio::test]
async fn motion_moves_the_picture_and_none_keeps_it_still() {
    if !installed() {
        return;
    }
    for (motion, moves) in [("ken_burns", true), ("pan", true), ("zoom_out", true), ("none", false)] {
        let input = json!({
            "images": [picture(240, 180, 60)], "width": 160, "height": 90, "fps": 10, "duration": 1, "motion": motion,
        });
        let (output, _) = make(input).await.expect("a video");
        let (first, later) = (decoded_frame(video(&output), 1), decoded_frame(video(&output), 8));
        let changed = difference(&first, &later, 160, 0..90);
        if moves {
            assert!(changed > 3.0, "{motion}: consecutive views differ ({changed})");
        } else {
            assert!(changed < 0.5, "{motion}: a still picture stays ({changed})");
        }
        let next = decoded_frame(video(&output), 2);
        let step = difference(&first, &next, 160, 0..90);
        assert!(step <= changed + 0.5, "{motion}: one frame moves less than seven ({step} against {changed})");
    }
}

#[tokio::test]
async fn a_bad_file_is_the_inputs_fault_and_named() {
    if !installed() {
        return;
    }
    let text = data_uri("image/png", b"this is not a picture");
    let input = json!({ "images": [picture(160, 90, 0), text], "width": 160, "height": 90, "fps": 10, "duration": 1 });
    let error = make(input).await.expect_err("refused");
    assert_eq!(error.class, ErrorClass::ClientError);
    assert!(error.message.starts_with("images[1]:"), "{}", error.message);

    let input = json!({
        "images": [picture(160, 90, 0)], "width": 160, "height": 90, "fps": 10, "duration": 1,
        "soundtrack": data_uri("audio/wav", b"RIFF but not really a wave file"),
    });
    let error = make(input).await.expect_err("refused");
    assert_eq!(error.class, ErrorClass::ClientError);
    assert!(error.message.starts_with("soundtrack:"), "{}", error.message);
}

#[test]
fn the_engine_lists_its_files_and_spec() {
    let input = json!({ "images": ["upl_a", "https://example.com/b.png"], "soundtrack": "task:x" });
    assert_eq!(Slideshow.input_files(&input), ["upl_a", "https://example.com/b.png", "task:x"]);
    let spec = Slideshow.spec();
    assert_eq!((spec.model.as_str(), spec.modality), (MODEL, atelier_core::catalog::Modality::Video));
    assert_eq!(spec.input_schema, params::input_schema());
}

/// A realistic render, timed (not a check): 1280×720 at 30 fps, 10 s of four
/// 1600×1200 pictures (or the photographs in `ATELIER_SLIDESHOW_PICTURES`) with
/// Ken Burns, cross-fades and captions, at two presets.
/// `cargo test --release -p atelier-providers slideshow_timing -- --ignored --nocapture`
#[tokio::test]
#[ignore = "a measurement; run it by hand"]
async fn slideshow_timing() {
    if !installed() {
        return;
    }
    // Photographs, when given (`ATELIER_SLIDESHOW_PICTURES=a.jpg:b.jpg`), make a fairer
    // test of the encoder than the drawn pictures.
    let images: Vec<String> = match std::env::var_os("ATELIER_SLIDESHOW_PICTURES") {
        Some(paths) => std::env::split_paths(&paths)
            .map(|path| data_uri("image/jpeg", &std::fs::read(&path).expect("a picture")))
            .collect(),
        None => (0..4).map(|i| picture(1600, 1200, (i * 60) as u8)).collect(),
    };
    // The frames alone, without ffmpeg.
    let look = slide::Look {
        frame: (1280, 720),
        fit: slide::Fit::Cover,
        background: slide::Background::Blur,
        motion: motion::Motion::KenBurns,
        seed: 7,
    };
    let mut resizer = fast_image_resize::Resizer::new();
    let started = Instant::now();
    let (_, data) = images[0].split_once(',').expect("a data URI");
    let png = base64::engine::general_purpose::STANDARD.decode(data).expect("base64");
    let picture = slide::decode(&png, 0).expect("decoded");
    let prepared = slide::Slide::new(picture, 0, &look, None, &mut resizer).expect("a slide");
    let preparing = started.elapsed();
    let mut frame = vec![0u8; 1280 * 720 * 3];
    let started = Instant::now();
    for i in 0..300 {
        prepared.render(f64::from(i) / 299.0, &mut frame, &mut resizer).expect("a frame");
    }
    println!(
        "one picture decoded and prepared in {:.0} ms; 300 frames drawn in {:.2} s ({:.1} ms a frame)",
        preparing.as_secs_f64() * 1000.0,
        started.elapsed().as_secs_f64(),
        started.elapsed().as_secs_f64() * 1000.0 / 300.0
    );
    let captions = &["The harbour at dawn", "Boats", "", "Home again, at last"][..images.len().min(4)];
    for preset in ["veryfast", "medium"] {
        let input = json!({
            "images": images, "captions": captions,
            "duration": 10, "preset": preset,
        });
        let started = Instant::now();
        let (output, _) = make(input).await.expect("a video");
        println!(
            "{preset}: {:.2} s for 300 frames of 1280×720, {} kB",
            started.elapsed().as_secs_f64(),
            video(&output).len() / 1024
        );
        let path = std::env::temp_dir().join(format!("atelier-slideshow-{preset}.mp4"));
        if std::fs::write(&path, video(&output)).is_ok() {
            println!("  written to {}", path.display());
        }
    }
}
