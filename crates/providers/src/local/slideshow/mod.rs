//! `local/slideshow`: pictures to an MP4 (H.264, yuv420p, BT.709), with pan and
//! zoom, cross-fades, captions and a soundtrack. Built in, no GPU; needs ffmpeg on
//! the server (Debian's `ffmpeg` package): without it, creating a task answers
//! `503 engine_unavailable` saying so, rather than accepting a task that would fail.
//!
//! The frames are made here, in Rust, and piped to ffmpeg raw, which only encodes
//! and muxes: ffmpeg's own `zoompan` rounds its window to whole pixels (slow zooms
//! judder), `xfade` chains grow with every image and need every picture open at
//! once, and `drawtext` needs font files and knows no fallback between faces.
//! Here each picture is decoded once, kept as just the part its motion shows, and
//! let go as soon as its last frame is made: memory holds at most the two pictures
//! of a cross-fade and two frames, never the video.
//!
//! The files: `params` (the input, its checks and schema), `timeline` (which
//! picture shows when), `motion` (pan and zoom), `slide` (a picture made ready, and
//! its frames), `captions` (the lower thirds), `encode` (ffmpeg's command) and
//! `render` (the frame loop); `kit::ffmpeg` runs ffmpeg.

mod captions;
mod encode;
mod motion;
mod params;
mod render;
mod slide;
#[cfg(test)]
mod tests;
mod timeline;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use atelier_core::CoreError;
use atelier_core::catalog::{Modality, ModelSpec};
use atelier_core::ports::{Job, Output, ProviderError};
use futures::{StreamExt, TryStreamExt};
use serde_json::Value;

pub use self::params::SlideshowParams;
use super::{LocalEngine, SERVICE, rejected, run_blocking, to_json};
use crate::kit::Named;
use crate::kit::ffmpeg::{self, FfmpegError, Tool};
use crate::kit::inputs::{open_input, references};

pub const MODEL: &str = "slideshow";
/// The engine as errors name it.
const ENGINE: &str = "local/slideshow";
/// How many input files are fetched at once.
const OPEN_AT_ONCE: usize = 4;

pub struct Slideshow;

impl Named for Slideshow {
    fn name(&self) -> &str {
        MODEL
    }
}

/// Set when the task's run is dropped (cancelled, or its lease lost): the frame
/// loop stops at its next frame, which kills its ffmpeg, rather than finishing a
/// video nobody waits for.
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

#[async_trait]
impl LocalEngine for Slideshow {
    fn spec(&self) -> ModelSpec {
        ModelSpec {
            service: SERVICE.into(),
            model: MODEL.into(),
            aliases: Vec::new(),
            modality: Modality::Video,
            title: "Slideshow (pictures to MP4)".into(),
            description: "Built in, no GPU: pictures (uploads, outputs, URLs) to an MP4 (H.264) with gentle pan and \
                          zoom, cross-fades, optional captions drawn with the system fonts and an optional soundtrack \
                          (such as a local/speech output). Needs ffmpeg on the server (Debian package ffmpeg)."
                .into(),
            input_schema: params::input_schema(),
            estimated_seconds: 15,
            poll_timeout_secs: None,
            requires_config: None,
        }
    }

    fn validate(&self, input: &Value) -> Result<Value, CoreError> {
        let params = params::parse(input)?;
        ffmpeg::require_encoder("libx264", ENGINE)?;
        if params.soundtrack.is_some() {
            ffmpeg::require_encoder("aac", ENGINE)?;
        }
        to_json(&params)
    }

    fn input_files(&self, input: &Value) -> Vec<String> {
        let mut files = references(input.get("images"));
        files.extend(references(input.get("soundtrack")));
        files
    }

    async fn run(&self, job: &Job<'_>) -> Result<Vec<Output>, ProviderError> {
        let params = params::parse(job.input).map_err(rejected)?;
        if Tool::Ffmpeg.path().is_none() {
            return Err(FfmpegError::Missing(Tool::Ffmpeg).into());
        }
        let files = job.files;
        let opening: Vec<_> = params
            .images
            .iter()
            .enumerate()
            .map(|(i, reference)| {
                let field = format!("images[{i}]");
                async move { open_input(files, reference, &field).await.map(|file| file.bytes) }
            })
            .collect();
        let images: Vec<bytes::Bytes> = futures::stream::iter(opening).buffered(OPEN_AT_ONCE).try_collect().await?;
        let soundtrack = match &params.soundtrack {
            Some(reference) => Some(open_input(job.files, reference, "soundtrack").await?.bytes),
            None => None,
        };
        let stop = StopOnDrop(Arc::new(AtomicBool::new(false)));
        let work = render::Work {
            params,
            images,
            soundtrack,
            progress: Arc::clone(&job.progress),
            abandoned: Arc::clone(&stop.0),
        };
        let outputs = run_blocking("slideshow", move || render::render(work).map(|output| vec![output])).await;
        drop(stop);
        outputs
    }
}
