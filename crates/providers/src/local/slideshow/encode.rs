//! ffmpeg's part: it only encodes and muxes. Frames arrive on its stdin as raw
//! RGB; it converts them to BT.709 limited-range yuv420p (tagged so, as players
//! assume for HD video: an untagged conversion with ffmpeg's BT.601 default would
//! shift every colour slightly), encodes H.264 with libx264 and writes an MP4 with
//! its index first (`+faststart`: playable while it downloads). A soundtrack is
//! encoded as AAC and cut or padded to the video's length.

use std::path::{Path, PathBuf};
use std::time::Duration;

use atelier_core::ports::{ErrorClass, ProviderError};

use crate::kit::ffmpeg::{AUDIO_DEMUXERS, Ffmpeg, FfmpegError};

/// The soundtrack's audio: AAC at this bitrate, 48 kHz (what every player takes,
/// whatever the source's rate: speech often comes at 22.05 kHz), its channels
/// kept (mono made stereo would lose 3 dB to ffmpeg's pan law, for nothing).
const AUDIO_BITRATE: &str = "160k";
/// The fade-out of a soundtrack cut short: this long, or a quarter of the video.
const FADE_OUT_SECONDS: f64 = 1.0;

/// How x264 spends bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rate {
    /// Constant quality.
    Crf(i64),
    /// An average bitrate in kbps, with a ceiling of 1.5 times it.
    Kbps(i64),
}

/// A staged soundtrack and how long it is.
#[derive(Debug, Clone, PartialEq)]
pub struct Soundtrack {
    pub path: PathBuf,
    pub seconds: f64,
}

/// What the encoder is asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct Encoding {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub frames: u64,
    pub preset: String,
    pub rate: Rate,
    pub soundtrack: Option<Soundtrack>,
}

impl Encoding {
    pub fn seconds(&self) -> f64 {
        self.frames as f64 / f64::from(self.fps)
    }

    /// How long ffmpeg may take: generous for the preset's speed, so only a stuck
    /// encoder meets it (x264 at `veryslow` on one core manages well under a
    /// megapixel a second; `ultrafast` dozens).
    pub fn deadline(&self) -> Duration {
        let megapixels_per_second = match self.preset.as_str() {
            "ultrafast" | "superfast" => 8.0,
            "veryfast" | "faster" => 4.0,
            "fast" | "medium" => 2.0,
            "slow" => 1.0,
            _ => 0.3,
        };
        let megapixels = f64::from(self.width) * f64::from(self.height) * self.frames as f64 / 1e6;
        Duration::from_secs_f64(120.0 + megapixels / megapixels_per_second)
    }

    /// The ffmpeg command that reads the frames on stdin and writes `output`.
    pub fn command(&self, output: &Path) -> Ffmpeg {
        let size = format!("{}x{}", self.width, self.height);
        let fps = self.fps.to_string();
        let mut command = Ffmpeg::new().deadline(self.deadline()).stdin_input(&[
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "-s",
            &size,
            "-framerate",
            &fps,
        ]);
        if let Some(soundtrack) = &self.soundtrack {
            command = command.input(&soundtrack.path, AUDIO_DEMUXERS, &[]).args(["-map", "0:v:0", "-map", "1:a:0"]);
        }
        command = command
            .args([
                "-vf",
                "scale=out_color_matrix=bt709:out_range=tv:flags=bicubic+accurate_rnd+full_chroma_int,format=yuv420p",
            ])
            .args(["-c:v", "libx264", "-preset", &self.preset, "-pix_fmt", "yuv420p"])
            .args(["-g", &(self.fps * 2).to_string()]);
        command = match self.rate {
            Rate::Crf(crf) => command.args(["-crf", &crf.to_string()]),
            Rate::Kbps(kbps) => command.args([
                "-b:v".to_owned(),
                format!("{kbps}k"),
                "-maxrate".to_owned(),
                format!("{}k", kbps * 3 / 2),
                "-bufsize".to_owned(),
                format!("{}k", kbps * 2),
            ]),
        };
        command = command.args([
            "-colorspace",
            "bt709",
            "-color_primaries",
            "bt709",
            "-color_trc",
            "bt709",
            "-color_range",
            "tv",
            "-movflags",
            "+faststart",
        ]);
        if let Some(soundtrack) = &self.soundtrack {
            command = command.args([
                "-c:a",
                "aac",
                "-b:a",
                AUDIO_BITRATE,
                "-ar",
                "48000",
                "-af",
                &self.audio_filter(soundtrack),
            ]);
        }
        command.args(["-f", "mp4"]).output(output)
    }

    /// The soundtrack made exactly the video's length: cut (fading out over the
    /// last second, when there was more) or followed by silence.
    fn audio_filter(&self, soundtrack: &Soundtrack) -> String {
        let seconds = self.seconds();
        let mut filter = format!("atrim=end={seconds:.6},apad=whole_dur={seconds:.6}");
        if soundtrack.seconds > seconds + 0.5 / f64::from(self.fps) + 0.01 {
            let fade = FADE_OUT_SECONDS.min(seconds / 4.0);
            filter.push_str(&format!(",afade=t=out:st={:.6}:d={fade:.6}", seconds - fade));
        }
        filter
    }
}

/// How long a staged soundtrack is, by decoding it (at most `limit` seconds):
/// exact whatever its container claims, and a file that is not audio is told
/// here, as the input's fault, before any frame is made.
pub fn soundtrack_seconds(path: &Path, limit: f64) -> Result<f64, ProviderError> {
    let limit = format!("{limit:.3}");
    let samples = Ffmpeg::new()
        .input(path, AUDIO_DEMUXERS, &["-t", &limit])
        .args(["-map", "0:a:0", "-vn", "-ac", "1", "-ar", "8000", "-f", "s16le", "pipe:1"])
        .deadline(Duration::from_secs(120))
        .run()
        .map_err(|error| error.blame_input("soundtrack"))?;
    let seconds = samples.len() as f64 / 2.0 / 8000.0;
    if seconds <= 0.0 {
        return Err(ProviderError::new(ErrorClass::ClientError, "soundtrack: has no sound (it lasts 0 s)"));
    }
    Ok(seconds)
}

/// An encoding failure is ours (the frames were made by this engine).
pub fn encoder_failed(error: FfmpegError) -> ProviderError {
    let mut error = ProviderError::from(error);
    error.message = format!("encoding the slideshow: {}", error.message);
    error
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoding() -> Encoding {
        Encoding {
            width: 160,
            height: 90,
            fps: 10,
            frames: 20,
            preset: "veryfast".into(),
            rate: Rate::Crf(23),
            soundtrack: None,
        }
    }

    fn args(encoding: &Encoding) -> String {
        encoding
            .command(Path::new("/tmp/out.mp4"))
            .arguments()
            .iter()
            .map(|arg| arg.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn the_command_encodes_tagged_h264_with_the_rate_asked() {
        let plain = args(&encoding());
        for wanted in [
            "-f rawvideo -pix_fmt rgb24 -s 160x90 -framerate 10 -protocol_whitelist file,pipe -i pipe:0",
            "-c:v libx264 -preset veryfast -pix_fmt yuv420p -g 20 -crf 23",
            "-colorspace bt709",
            "-movflags +faststart -f mp4 -y file:/tmp/out.mp4",
        ] {
            assert!(plain.contains(wanted), "{wanted} in {plain}");
        }
        assert!(!plain.contains("-c:a"), "{plain}");
        let sized = args(&Encoding { rate: Rate::Kbps(2000), ..encoding() });
        assert!(sized.contains("-b:v 2000k -maxrate 3000k -bufsize 4000k") && !sized.contains("-crf"), "{sized}");
    }

    #[test]
    fn a_soundtrack_is_cut_with_a_fade_or_padded() {
        let long = Soundtrack { path: "/tmp/s".into(), seconds: 9.0 };
        let with = args(&Encoding { soundtrack: Some(long), ..encoding() });
        assert!(with.contains("-format_whitelist wav,mp3") && with.contains("-i file:/tmp/s"), "{with}");
        assert!(with.contains("-map 0:v:0 -map 1:a:0") && with.contains("-c:a aac"), "{with}");
        assert!(
            with.contains("atrim=end=2.000000,apad=whole_dur=2.000000,afade=t=out:st=1.500000:d=0.500000"),
            "{with}"
        );
        let short = Soundtrack { path: "/tmp/s".into(), seconds: 1.0 };
        let padded = args(&Encoding { soundtrack: Some(short), ..encoding() });
        assert!(padded.contains("apad=whole_dur=2.000000 ") && !padded.contains("afade"), "{padded}");
    }

    #[test]
    fn the_deadline_grows_with_the_work() {
        let small = encoding().deadline();
        let big = Encoding { width: 1920, height: 1080, frames: 18_000, preset: "veryslow".into(), ..encoding() };
        assert!(small < Duration::from_secs(200) && big.deadline() > Duration::from_secs(3600), "{small:?}");
    }
}
