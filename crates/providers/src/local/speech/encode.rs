//! The formats speech is written in: WAV here, the rest (and other sample rates)
//! through ffmpeg, from the WAV.

use atelier_core::ports::ProviderError;

use crate::kit::ffmpeg;

/// An output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Wav,
    Mp3,
    /// Vorbis in Ogg.
    Ogg,
    /// Opus in Ogg.
    Opus,
    Flac,
}

impl Format {
    pub const NAMES: [&'static str; 5] = ["wav", "mp3", "ogg", "opus", "flac"];

    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "wav" => Self::Wav,
            "mp3" => Self::Mp3,
            "ogg" => Self::Ogg,
            "opus" => Self::Opus,
            "flac" => Self::Flac,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Wav => "wav",
            Self::Mp3 => "mp3",
            Self::Ogg => "ogg",
            Self::Opus => "opus",
            Self::Flac => "flac",
        }
    }

    /// Opus and Vorbis are both Ogg files (`audio/ogg`, as OpenAI's speech answers).
    pub fn mime(self) -> &'static str {
        match self {
            Self::Wav => "audio/wav",
            Self::Mp3 => "audio/mpeg",
            Self::Ogg | Self::Opus => "audio/ogg",
            Self::Flac => "audio/flac",
        }
    }

    /// ffmpeg's codec and muxer arguments. Speech is mono and narrow: modest
    /// bitrates keep it clear (MP3 VBR ~65 kbit/s, Vorbis q3, Opus 32 kbit/s).
    fn ffmpeg_args(self) -> &'static [&'static str] {
        match self {
            Self::Wav => &["-c:a", "pcm_s16le", "-f", "wav"],
            Self::Mp3 => &["-c:a", "libmp3lame", "-q:a", "6", "-f", "mp3"],
            Self::Ogg => &["-c:a", "libvorbis", "-q:a", "3", "-f", "ogg"],
            Self::Opus => &["-c:a", "libopus", "-b:a", "32k", "-application", "voip", "-f", "ogg"],
            Self::Flac => &["-c:a", "flac", "-f", "flac"],
        }
    }
}

/// Whether ffmpeg is installed.
pub fn ffmpeg_installed() -> bool {
    ffmpeg::Tool::Ffmpeg.path().is_some()
}

/// The ffmpeg encoder a format needs (`None`: WAV, which ffmpeg always has).
pub fn encoder(format: Format) -> Option<&'static str> {
    match format {
        Format::Wav => None,
        Format::Mp3 => Some("libmp3lame"),
        Format::Ogg => Some("libvorbis"),
        Format::Opus => Some("libopus"),
        Format::Flac => Some("flac"),
    }
}

/// A WAV in another format and/or sample rate, by ffmpeg (written to a file, not a
/// pipe: FLAC's header records the length, which a pipe cannot go back to fill).
pub fn transcode(wav: &[u8], format: Format, rate: u32) -> Result<Vec<u8>, ProviderError> {
    let rate = rate.to_string();
    let mut args: Vec<&str> = vec!["-ac", "1", "-ar", &rate];
    args.extend_from_slice(format.ffmpeg_args());
    Ok(ffmpeg::convert(wav, "wav", &args, &format!("speech.{}", format.name()), TRANSCODE_DEADLINE)?)
}

/// How long one transcode may take (minutes of speech take well under a second).
const TRANSCODE_DEADLINE: std::time::Duration = std::time::Duration::from_secs(120);
