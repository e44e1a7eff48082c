//! The frame loop: each frame made from at most two prepared pictures, written to
//! ffmpeg as it is made, progress told as it goes.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

use atelier_core::ports::{ErrorClass, Output, ProviderError, short_reference};
use bytes::Bytes;
use fast_image_resize::Resizer;
use tokio::io::AsyncReadExt;

use super::super::text::FontSet;
use super::super::{SERVICE, canonical_json, set_progress, to_json};
use super::MODEL;
use super::captions::{Caption, caption};
use super::encode::{Encoding, Rate, Soundtrack, encoder_failed, soundtrack_seconds};
use super::motion::Motion;
use super::params::{self, MAX_FRAMES, MAX_SECONDS, SlideshowParams};
use super::slide::{self, Background, Fit, Look, Slide};
use super::timeline::{Shown, Timeline};
use crate::kit::ffmpeg::{FfmpegError, Staging};

const MIME: &str = "video/mp4";
/// Videos up to this size are held in memory; larger ones are streamed.
const IN_MEMORY_MAX: u64 = 256 * 1024 * 1024;
const STREAM_CHUNK: usize = 1024 * 1024;

/// A slideshow to make, its files opened.
pub struct Work {
    pub params: SlideshowParams,
    pub images: Vec<Bytes>,
    pub soundtrack: Option<Bytes>,
    pub progress: Arc<AtomicU8>,
    pub abandoned: Arc<AtomicBool>,
}

fn client(message: String) -> ProviderError {
    ProviderError::new(ErrorClass::ClientError, message)
}

/// Makes the video. Synchronous and CPU-bound: run it on the blocking pool.
pub fn render(work: Work) -> Result<Output, ProviderError> {
    let Work { params, images, soundtrack, progress, abandoned } = work;
    // Every picture readable, before any work.
    for (i, bytes) in images.iter().enumerate() {
        slide::check(bytes, i)?;
    }
    let fps = u32::try_from(params.fps).map_err(|_| client(format!("fps: {} is out of range", params.fps)))?;
    let staging = Staging::new().map_err(encoder_failed)?;
    let soundtrack = match soundtrack {
        Some(bytes) => {
            let path = staging.write("soundtrack", &bytes).map_err(encoder_failed)?;
            // Decoded only as far as it matters: to the cap, or a second past the video.
            let limit = match params.duration {
                Some(duration) if !params::length_from_soundtrack(&params) => duration + 1.0,
                _ => MAX_SECONDS + 1.0,
            };
            let seconds = soundtrack_seconds(&path, limit)?;
            Some(Soundtrack { path, seconds })
        }
        None => None,
    };
    let frames = match (&soundtrack, params.frames) {
        (Some(soundtrack), _) if params::length_from_soundtrack(&params) => {
            frames_for_soundtrack(soundtrack.seconds, fps, images.len())?
        }
        (_, Some(frames)) => u64::try_from(frames).map_err(|_| client(format!("frames: {frames} is out of range")))?,
        (_, None) => return Err(client("frames: missing from a validated input".into())),
    };
    let transition = params.transition.unwrap_or(params::DEFAULT_TRANSITION);
    let timeline = Timeline::new(images.len(), frames, f64::from(fps), transition);
    let (width, height) = (side(params.width)?, side(params.height)?);
    let encoding = Encoding {
        width,
        height,
        fps,
        frames,
        preset: params.preset.clone(),
        rate: match params.bitrate.as_ref().and_then(serde_json::Value::as_i64) {
            Some(kbps) => Rate::Kbps(kbps),
            None => Rate::Crf(params.crf.unwrap_or(params::DEFAULT_CRF)),
        },
        soundtrack,
    };
    let parameters = parameters(&params, &timeline, encoding.soundtrack.as_ref())?;

    let output = staging.path("slideshow.mp4");
    let mut encoder = encoding.command(&output).spawn().map_err(encoder_failed)?;
    let look = Look {
        frame: (width, height),
        fit: Fit::parse(&params.fit),
        background: Background::parse(&params.background),
        motion: Motion::parse(&params.motion),
        seed: params.seed.and_then(|seed| u64::try_from(seed).ok()).unwrap_or(0),
    };
    let mut pictures = Pictures {
        images: &images,
        captions: &params.captions,
        fonts: params.captions.iter().any(|text| !text.is_empty()).then(FontSet::system),
        look,
        slides: images.iter().map(|_| None).collect(),
        resizer: Resizer::new(),
    };
    let bytes = width as usize * height as usize * 3;
    let (mut frame, mut under) = (vec![0u8; bytes], vec![0u8; bytes]);
    // The last percent waits for ffmpeg to finish the file.
    let total =
        usize::try_from(frames).unwrap_or(usize::MAX).saturating_add(usize::try_from(frames / 99 + 1).unwrap_or(1));
    for index in 0..frames {
        if abandoned.load(Ordering::Relaxed) {
            return Err(ProviderError::new(ErrorClass::GenerationFailed, "the slideshow was abandoned"));
        }
        pictures.draw(timeline.at(index), &mut frame, &mut under)?;
        encoder.write(&frame).map_err(encoder_failed)?;
        set_progress(&progress, usize::try_from(index + 1).unwrap_or(usize::MAX), total);
    }
    drop(pictures);
    encoder.finish().map_err(encoder_failed)?;
    let video = video_output(staging, &output, IN_MEMORY_MAX)?;
    progress.store(100, Ordering::Relaxed);
    Ok(video.with_size(width, height).with_parameters(Some(parameters)))
}

/// The MP4, in memory (the server then probes it and takes a poster), or, past
/// `in_memory_max` bytes (a long video at a high bitrate can be gigabytes),
/// streamed from its file, which is removed once the stream is dropped.
fn video_output(staging: Staging, path: &std::path::Path, in_memory_max: u64) -> Result<Output, ProviderError> {
    let size = std::fs::metadata(path).map_err(|error| encoder_failed(FfmpegError::Staging(error)))?.len();
    if size <= in_memory_max {
        let bytes = std::fs::read(path).map_err(|error| encoder_failed(FfmpegError::Staging(error)))?;
        return Ok(Output::new(bytes, MIME));
    }
    let file = std::fs::File::open(path).map_err(|error| encoder_failed(FfmpegError::Staging(error)))?;
    let state = Some((tokio::fs::File::from_std(file), staging));
    let stream = futures::stream::unfold(state, |state| async move {
        let (mut file, staging) = state?;
        let mut buffer = vec![0u8; STREAM_CHUNK];
        match file.read(&mut buffer).await {
            Ok(0) => None,
            Ok(read) => {
                buffer.truncate(read);
                Some((Ok(Bytes::from(buffer)), Some((file, staging))))
            }
            // Told once; the stream ends after it.
            Err(error) => Some((Err(error), None)),
        }
    });
    Ok(Output::stream(Box::pin(stream), MIME))
}

/// The pictures, each prepared when first shown and let go when done with.
struct Pictures<'a> {
    images: &'a [Bytes],
    captions: &'a [String],
    fonts: Option<&'static FontSet>,
    look: Look,
    slides: Vec<Option<Slide>>,
    resizer: Resizer,
}

impl Pictures<'_> {
    /// Draws what a frame shows into `frame` (`under` holds the picture fading out).
    fn draw(&mut self, shown: Shown, frame: &mut [u8], under: &mut [u8]) -> Result<(), ProviderError> {
        for done in &mut self.slides[..shown.first_image()] {
            *done = None;
        }
        match shown {
            Shown::One { image, progress } => self.draw_one(image, progress, frame),
            Shown::Fade { to, alpha, from_progress, to_progress } => {
                self.draw_one(to - 1, from_progress, under)?;
                self.draw_one(to, to_progress, frame)?;
                blend(frame, under, alpha);
                Ok(())
            }
        }
    }

    fn draw_one(&mut self, image: usize, progress: f64, out: &mut [u8]) -> Result<(), ProviderError> {
        let slot = &mut self.slides[image];
        if slot.is_none() {
            let picture = slide::decode(&self.images[image], image)?;
            let caption: Option<Caption> = match (self.captions.get(image), self.fonts) {
                (Some(text), Some(fonts)) => caption(text, self.look.frame, fonts),
                _ => None,
            };
            *slot = Some(Slide::new(picture, image, &self.look, caption, &mut self.resizer)?);
        }
        match slot {
            Some(slide) => slide.render(progress, out, &mut self.resizer),
            None => Err(ProviderError::new(ErrorClass::GenerationFailed, "a picture went missing")),
        }
    }
}

fn side(value: i64) -> Result<u32, ProviderError> {
    u32::try_from(value).map_err(|_| client(format!("a side of {value} pixels is out of range")))
}

/// The frames of a video as long as its soundtrack.
fn frames_for_soundtrack(seconds: f64, fps: u32, images: usize) -> Result<u64, ProviderError> {
    if seconds > MAX_SECONDS + 0.5 / f64::from(fps) {
        return Err(client(format!(
            "soundtrack: lasts more than {MAX_SECONDS} s, the longest slideshow: give length_from images and a \
             duration to cut it"
        )));
    }
    let frames = (seconds * f64::from(fps)).round() as u64;
    if frames > MAX_FRAMES as u64 {
        return Err(client(format!(
            "soundtrack: its {seconds:.2} s at {fps} fps would be {frames} frames, more than {MAX_FRAMES}: ask for \
             fewer fps"
        )));
    }
    if frames < images as u64 {
        return Err(client(format!(
            "soundtrack: lasts {seconds:.3} s, too short for {images} images at {fps} fps (a frame each at least)"
        )));
    }
    Ok(frames)
}

/// `over` ← `under` blended towards `over` by `alpha`.
fn blend(over: &mut [u8], under: &[u8], alpha: f64) {
    let weight = (alpha.clamp(0.0, 1.0) * 256.0).round() as u32;
    for (top, bottom) in over.iter_mut().zip(under) {
        *top = ((u32::from(*top) * weight + u32::from(*bottom) * (256 - weight) + 128) >> 8) as u8;
    }
}

/// What made the video: the input, and what was worked out from it.
fn parameters(
    params: &SlideshowParams,
    timeline: &Timeline,
    soundtrack: Option<&Soundtrack>,
) -> Result<String, ProviderError> {
    let mut input = to_json(params).map_err(|error| client(error.to_string()))?;
    // A data URI as its type and size, not its megabytes.
    if let Some(images) = input.get_mut("images").and_then(serde_json::Value::as_array_mut) {
        for image in images.iter_mut() {
            if let Some(text) = image.as_str() {
                *image = short_reference(text).into();
            }
        }
    }
    if let Some(text) = input.get("soundtrack").and_then(serde_json::Value::as_str) {
        input["soundtrack"] = short_reference(text).into();
    }
    Ok(canonical_json(&serde_json::json!({
        "service": SERVICE,
        "model": MODEL,
        "input": input,
        "video": {
            "frames": timeline.frames(),
            "duration": timeline.duration(),
            "transition": timeline.transition(),
            "soundtrack_seconds": soundtrack.map(|soundtrack| soundtrack.seconds),
        },
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blend_goes_from_under_to_over() {
        let mut over = vec![200u8, 0, 100];
        blend(&mut over, &[0, 200, 100], 0.0);
        assert_eq!(over, [0, 200, 100]);
        let mut over = vec![200u8, 0, 100];
        blend(&mut over, &[0, 200, 100], 1.0);
        assert_eq!(over, [200, 0, 100]);
        let mut over = vec![200u8];
        blend(&mut over, &[0], 0.5);
        assert_eq!(over, [100]);
    }

    #[tokio::test]
    async fn a_large_video_is_streamed_from_its_file() {
        use futures::TryStreamExt;
        let staging = Staging::new().expect("staging");
        let path = staging.write("slideshow.mp4", &[7u8; 3000]).expect("written");
        let small = video_output(Staging::new().expect("staging"), &path, 3000).expect("in memory");
        assert_eq!(small.bytes().map(|bytes| bytes.len()), Some(3000));
        let dir = path.parent().map(std::path::Path::to_path_buf).expect("its directory");
        let large = video_output(staging, &path, 2999).expect("streamed");
        assert_eq!(large.mime, MIME);
        let atelier_core::ports::OutputData::Stream(stream) = large.data else { panic!("a stream") };
        let chunks: Vec<Bytes> = stream.try_collect().await.expect("read");
        assert_eq!(chunks.concat(), vec![7u8; 3000]);
        assert!(!dir.exists(), "the file goes with the stream");
    }

    #[test]
    fn an_abandoned_render_stops_before_its_first_frame() {
        let params =
            params::parse(&serde_json::json!({ "images": ["https://example.com/a.png"], "width": 64, "height": 64 }))
                .expect("valid");
        let mut png = Vec::new();
        image::RgbImage::new(8, 8).write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png).expect("png");
        let work = Work {
            params,
            images: vec![png.into()],
            soundtrack: None,
            progress: Arc::new(AtomicU8::new(0)),
            abandoned: Arc::new(AtomicBool::new(true)),
        };
        let error = render(work).map(|_| ()).expect_err("an abandoned render makes no video");
        // Without ffmpeg the encoder cannot start: that is the error instead.
        let no_ffmpeg = crate::kit::ffmpeg::Tool::Ffmpeg.path().is_none();
        assert!(error.message.contains("abandoned") || no_ffmpeg, "{}", error.message);
    }

    #[test]
    fn a_soundtrack_sets_a_length_within_limits() {
        assert_eq!(frames_for_soundtrack(2.54, 10, 2).expect("fits"), 25);
        assert_eq!(frames_for_soundtrack(0.1, 10, 2).expect_err("short").class, ErrorClass::ClientError);
        assert!(frames_for_soundtrack(601.0, 30, 2).expect_err("long").message.starts_with("soundtrack:"));
        assert!(frames_for_soundtrack(590.0, 60, 2).is_err(), "too many frames");
    }
}
