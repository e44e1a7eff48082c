//! `[media]`: what a file from outside may be (uploads, data URIs, downloaded
//! inputs, providers' outputs): a pixel budget read from an image's header before
//! any decode, frame and duration caps, and time limits for decoding and ffprobe.
//! See `atelier_assets::vet`.

use std::time::Duration;

use anyhow::bail;
use atelier_assets::MediaLimits;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MediaConfig {
    /// The largest image, in pixels (width × height).
    pub max_pixels: u64,
    /// The most frames an animated GIF, WebP or PNG may have.
    pub max_frames: u32,
    /// The largest video frame, in pixels.
    pub max_video_pixels: u64,
    /// The most frames a video may have.
    pub max_video_frames: u64,
    /// The longest audio or video, in seconds.
    pub max_duration_secs: u64,
    /// How long decoding one image (or taking a video's poster frame) may take, in ms.
    pub decode_timeout_ms: u64,
    /// How long ffprobe may take over one file, in seconds.
    pub probe_timeout_secs: u64,
}

impl Default for MediaConfig {
    fn default() -> Self {
        let limits = MediaLimits::default();
        Self {
            max_pixels: limits.max_pixels,
            max_frames: limits.max_frames,
            max_video_pixels: limits.max_video_pixels,
            max_video_frames: limits.max_video_frames,
            max_duration_secs: limits.max_duration_secs,
            decode_timeout_ms: limits.decode_timeout.as_millis() as u64,
            probe_timeout_secs: limits.probe_timeout.as_secs(),
        }
    }
}

impl MediaConfig {
    pub fn validate(&self) -> anyhow::Result<()> {
        // 2^32 pixels is a 65,536² image: 16 GiB of RGBA, past any machine this runs on.
        if !(1..=1 << 32).contains(&self.max_pixels) {
            bail!("media.max_pixels must be between 1 and 4294967296");
        }
        if !(1..=1 << 32).contains(&self.max_video_pixels) {
            bail!("media.max_video_pixels must be between 1 and 4294967296");
        }
        if self.max_frames == 0 || self.max_video_frames == 0 || self.max_duration_secs == 0 {
            bail!("media.max_frames, media.max_video_frames and media.max_duration_secs must be at least 1");
        }
        if !(10..=600_000).contains(&self.decode_timeout_ms) {
            bail!("media.decode_timeout_ms must be between 10 and 600000");
        }
        if !(1..=600).contains(&self.probe_timeout_secs) {
            bail!("media.probe_timeout_secs must be between 1 and 600");
        }
        Ok(())
    }

    /// The limits the asset store and the routes vet files against.
    pub fn limits(&self) -> MediaLimits {
        MediaLimits {
            max_pixels: self.max_pixels,
            max_frames: self.max_frames,
            max_video_pixels: self.max_video_pixels,
            max_duration_secs: self.max_duration_secs,
            max_video_frames: self.max_video_frames,
            decode_timeout: Duration::from_millis(self.decode_timeout_ms),
            probe_timeout: Duration::from_secs(self.probe_timeout_secs),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_are_the_library_defaults() {
        let config = MediaConfig::default();
        config.validate().expect("valid");
        assert_eq!(config.limits(), MediaLimits::default());
        assert_eq!(config.max_pixels, 100_000_000);
    }

    #[test]
    fn nonsense_is_refused_naming_the_key() {
        for (config, key) in [
            (MediaConfig { max_pixels: 0, ..MediaConfig::default() }, "media.max_pixels"),
            (MediaConfig { max_frames: 0, ..MediaConfig::default() }, "media.max_frames"),
            (MediaConfig { decode_timeout_ms: 1, ..MediaConfig::default() }, "media.decode_timeout_ms"),
            (MediaConfig { probe_timeout_secs: 0, ..MediaConfig::default() }, "media.probe_timeout_secs"),
        ] {
            let error = config.validate().expect_err(key).to_string();
            assert!(error.contains(key), "{error}");
        }
    }
}
