//! Audio and video outputs are probed when stored (seed 000's `audio_data` and
//! `video_data`): duration, codec, sample rate and channels, frame rate and frame
//! count, bit rate. ffprobe reads every format when it is installed; without it a
//! WAV is still read from its header, and other files are stored without a probe
//! (nothing fails).

use std::io::Write;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use atelier_core::task::MediaInfo;
use serde_json::Value;

use crate::thumbnail::mime_essence;

/// The ffprobe binary on `PATH`, looked up once.
pub fn ffprobe() -> Option<&'static PathBuf> {
    static FFPROBE: OnceLock<Option<PathBuf>> = OnceLock::new();
    FFPROBE.get_or_init(|| crate::poster::on_path("ffprobe")).as_ref()
}

/// Whether a MIME type is audio or video.
pub fn is_media(mime: &str) -> bool {
    let essence = mime_essence(mime);
    essence.starts_with("audio/") || essence.starts_with("video/")
}

/// What a probe finds in an audio or video file; `None` for other files, for
/// files no probe can read, and (WAV aside) without ffprobe. Synchronous; ffprobe
/// gets the default `[media] probe_timeout_secs` ([`crate::vet::vet_media`] also
/// checks the limits).
pub fn probe(bytes: &[u8], mime: &str) -> Option<MediaInfo> {
    if !is_media(mime) {
        return None;
    }
    match ffprobe() {
        Some(ffprobe) => match run_ffprobe(ffprobe, bytes, crate::vet::MediaLimits::default().probe_timeout) {
            Ok(json) => Some(from_ffprobe(&json)),
            Err(error) => {
                tracing::warn!(%error, mime, "ffprobe could not read a media output; stored without its details");
                wav_header(bytes)
            }
        },
        None => wav_header(bytes),
    }
}

/// ffprobe's JSON for a file, killed past `deadline` (then the error is
/// [`PosterError::TooSlow`](crate::poster::PosterError::TooSlow)). The file is
/// staged in a temporary file, removed when this returns.
pub(crate) fn run_ffprobe(
    ffprobe: &PathBuf,
    bytes: &[u8],
    deadline: Duration,
) -> Result<Value, crate::poster::PosterError> {
    use crate::poster::PosterError;
    let mut staged = tempfile::NamedTempFile::new()?;
    staged.write_all(bytes)?;
    staged.flush()?;
    let mut file = std::ffi::OsString::from("file:");
    file.push(staged.path().as_os_str());
    let output = crate::poster::run_with_deadline(
        std::process::Command::new(ffprobe)
            .args(["-v", "error", "-protocol_whitelist", "file", "-show_streams", "-show_format", "-of", "json", "-i"])
            .arg(file),
        deadline,
    )?;
    serde_json::from_slice(&output).map_err(|e| PosterError::Ffmpeg(format!("ffprobe's answer is not JSON: {e}")))
}

/// ffprobe's `-show_streams -show_format` JSON as a [`MediaInfo`]: the first video
/// stream, else the first audio stream, describes the file.
pub fn from_ffprobe(json: &Value) -> MediaInfo {
    let streams = json["streams"].as_array().map(Vec::as_slice).unwrap_or_default();
    let of_type = |kind: &str| streams.iter().find(|stream| stream["codec_type"] == kind);
    let video = of_type("video").filter(|stream| stream["disposition"]["attached_pic"] != 1);
    let audio = of_type("audio");
    let main = video.or(audio);
    let number = |value: &Value| -> Option<f64> {
        value.as_f64().or_else(|| value.as_str().and_then(|text| text.parse().ok())).filter(|n| n.is_finite())
    };
    let duration = number(&json["format"]["duration"]).or_else(|| main.and_then(|s| number(&s["duration"])));
    let fps = video.and_then(|stream| {
        let rate = stream["avg_frame_rate"].as_str().filter(|r| *r != "0/0").or(stream["r_frame_rate"].as_str())?;
        let (num, den) = rate.split_once('/')?;
        let (num, den): (f64, f64) = (num.parse().ok()?, den.parse().ok()?);
        (den > 0.0 && num > 0.0).then(|| (num / den * 1000.0).round() / 1000.0)
    });
    MediaInfo {
        duration_secs: duration.map(|d| (d * 1000.0).round() / 1000.0),
        codec: main.and_then(|s| s["codec_name"].as_str()).map(str::to_owned),
        sample_rate: audio.and_then(|s| number(&s["sample_rate"])).map(|rate| rate as u32),
        channels: audio.and_then(|s| s["channels"].as_u64()).map(|channels| channels as u32),
        fps,
        frames: video.and_then(|s| number(&s["nb_frames"])).map(|frames| frames as u64),
        bit_rate: number(&json["format"]["bit_rate"]).map(|rate| rate as u64),
        has_audio: video.map(|_| audio.is_some()),
    }
}

/// A PCM WAV's details from its header alone (no ffprobe needed).
pub fn wav_header(bytes: &[u8]) -> Option<MediaInfo> {
    if bytes.len() < 12 || &bytes[0..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return None;
    }
    let (mut at, mut format) = (12usize, None);
    while at.checked_add(8)? <= bytes.len() {
        let id = &bytes[at..at + 4];
        let size = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().ok()?) as usize;
        let body = at + 8;
        if id == b"fmt " {
            let fmt = bytes.get(body..body + 16)?;
            let channels = u16::from_le_bytes([fmt[2], fmt[3]]);
            let rate = u32::from_le_bytes([fmt[4], fmt[5], fmt[6], fmt[7]]);
            let byte_rate = u32::from_le_bytes([fmt[8], fmt[9], fmt[10], fmt[11]]);
            let bits = u16::from_le_bytes([fmt[14], fmt[15]]);
            format = Some((channels, rate, byte_rate, bits));
        } else if id == b"data" {
            let (channels, rate, byte_rate, bits) = format?;
            let data = size.min(bytes.len() - body) as f64;
            return Some(MediaInfo {
                duration_secs: (byte_rate > 0).then(|| (data / f64::from(byte_rate) * 1000.0).round() / 1000.0),
                codec: Some(format!("pcm_s{bits}le")),
                sample_rate: Some(rate),
                channels: Some(u32::from(channels)),
                bit_rate: Some(u64::from(byte_rate) * 8),
                ..MediaInfo::default()
            });
        }
        at = body.checked_add(size)?.checked_add(size % 2)?;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wav(seconds: f64, rate: u32) -> Vec<u8> {
        let samples = (seconds * f64::from(rate)) as u32;
        let mut out = Vec::new();
        out.extend_from_slice(b"RIFF");
        out.extend_from_slice(&(36 + samples * 2).to_le_bytes());
        out.extend_from_slice(b"WAVEfmt ");
        out.extend_from_slice(&16u32.to_le_bytes());
        out.extend_from_slice(&1u16.to_le_bytes());
        out.extend_from_slice(&1u16.to_le_bytes());
        out.extend_from_slice(&rate.to_le_bytes());
        out.extend_from_slice(&(rate * 2).to_le_bytes());
        out.extend_from_slice(&2u16.to_le_bytes());
        out.extend_from_slice(&16u16.to_le_bytes());
        out.extend_from_slice(b"data");
        out.extend_from_slice(&(samples * 2).to_le_bytes());
        for i in 0..samples {
            let value = ((f64::from(i) * 0.05).sin() * 8000.0) as i16;
            out.extend_from_slice(&value.to_le_bytes());
        }
        out
    }

    #[test]
    fn a_wav_header_is_read_without_ffprobe() {
        let info = wav_header(&wav(1.5, 16_000)).expect("a WAV");
        assert_eq!(info.duration_secs, Some(1.5));
        assert_eq!(
            (info.sample_rate, info.channels, info.codec.as_deref()),
            (Some(16_000), Some(1), Some("pcm_s16le"))
        );
        assert_eq!(wav_header(b"RIFF\0\0\0\0WAVE"), None);
        assert_eq!(wav_header(b"not a wav"), None);
    }

    #[test]
    fn audio_and_video_are_probed_and_other_files_are_not() {
        assert_eq!(probe(b"\x89PNG", "image/png"), None);
        let audio = probe(&wav(2.0, 22_050), "audio/wav").expect("probed");
        assert_eq!(audio.duration_secs, Some(2.0));
        assert_eq!(audio.sample_rate, Some(22_050));
        let video = include_bytes!("../../emulators/fixtures/sample.mp4");
        match ffprobe() {
            Some(_) => {
                let info = probe(video, "video/mp4").expect("probed");
                assert_eq!(info.codec.as_deref(), Some("h264"));
                assert!(info.fps.is_some_and(|fps| fps > 0.0), "{info:?}");
                assert!(info.duration_secs.is_some_and(|d| d > 0.0), "{info:?}");
                assert!(info.frames.is_some_and(|f| f > 0), "{info:?}");
                assert!(info.has_audio.is_some());
                // Bytes that are not media are stored without a probe.
                assert_eq!(probe(b"not a video", "video/mp4"), None);
            }
            None => {
                atelier_core::testing::tool_missing("ffprobe");
                assert_eq!(probe(video, "video/mp4"), None);
            }
        }
    }
}
