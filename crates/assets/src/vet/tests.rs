use std::io::Cursor;
use std::time::Duration;

use bytes::Bytes;
use image::{AnimationDecoder, GenericImageView, ImageFormat};

use super::*;
use crate::hostile;

/// This process's CPU time (user and system, every thread), as getrusage counts
/// it, read from /proc (in jiffies of 10 ms).
fn cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    // After the command's closing parenthesis: utime and stime are fields 14 and 15.
    let fields: Vec<&str> = stat.rsplit_once(')').expect("a stat line").1.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
    Duration::from_millis(ticks * 10)
}

fn limits() -> MediaLimits {
    MediaLimits::default()
}

/// Each hostile file is refused with its code, in well under a second of CPU (a
/// generous bound, not a speed goal: the bench measures).
#[test]
fn the_hostile_corpus_is_refused_each_with_its_code_cheaply() {
    for file in hostile::corpus() {
        let before = cpu();
        let refused = if file.mime.starts_with("video/") {
            vet_media(&file.bytes, file.mime, &limits()).map(|_| ())
        } else {
            vet_image(Bytes::from(file.bytes.clone()), &limits()).map(|_| ())
        };
        let used = cpu() - before;
        let error = refused.expect_err(file.name);
        assert_eq!(error.code(), file.code, "{}: {error}", file.name);
        assert!(used < Duration::from_secs(1), "{} took {used:?} of CPU", file.name);
        // What is refused never names an internal error, and says why.
        assert!(!error.to_string().is_empty());
    }
}

#[test]
fn truncated_files_say_they_do_not_decode() {
    for format in [ImageFormat::Png, ImageFormat::Jpeg, ImageFormat::Gif, ImageFormat::WebP] {
        let cut = hostile::truncated(&hostile::small(format));
        let error = vet_image(Bytes::from(cut), &limits()).expect_err("cut short");
        assert_eq!(error.code(), "image_undecodable", "{format:?}");
        assert!(error.to_string().starts_with("the image does not decode"), "{error}");
    }
}

#[test]
fn ordinary_images_pass_with_their_facts_and_pixels() {
    for (format, mime) in [
        (ImageFormat::Png, "image/png"),
        (ImageFormat::Jpeg, "image/jpeg"),
        (ImageFormat::Gif, "image/gif"),
        (ImageFormat::WebP, "image/webp"),
    ] {
        let vetted = vet_image(Bytes::from(hostile::small(format)), &limits()).expect(mime);
        assert_eq!(vetted.facts, ImageFacts { mime, width: 64, height: 48, frames: 1 });
        assert_eq!(vetted.image.dimensions(), (64, 48));
    }
    // A few frames are an animation, not a bomb.
    let gif = vet_image(Bytes::from(hostile::gif_frames(12)), &limits()).expect("12 frames");
    assert_eq!(gif.facts.frames, 12);
    let webp = vet_image(Bytes::from(hostile::webp_frames(7)), &limits()).expect("7 frames");
    assert_eq!(webp.facts.frames, 7);
    // Real Exif (with a GPS directory) is walked and kept.
    let exif = atelier_places::testing::exif_blob(&atelier_places::testing::GpsBlock::at(48.85, 2.35));
    let tiff = exif.strip_prefix(b"Exif\0\0").unwrap_or(&exif);
    vet_image(Bytes::from(hostile::jpeg_with_exif(tiff)), &limits()).expect("a photo with its Exif");
}

/// The generators make what they say: the bombs are valid files (at a size that
/// decodes here), the animations have their frames.
#[test]
fn the_bombs_are_real_files() {
    let png = image::load_from_memory(&hostile::png_bomb(300, 200)).expect("the PNG bomb decodes");
    assert_eq!(png.dimensions(), (300, 200));
    assert!(png.to_rgb8().pixels().all(|p| p.0 == [0, 0, 0]));
    // 30,000²: 2.7 GB of pixels in about 2.6 MB.
    let big = hostile::png_bomb(30_000, 30_000);
    assert!(big.len() < 3 << 20, "{} bytes", big.len());
    let webp = image::load_from_memory(&hostile::webp_lossless_bomb(500, 400)).expect("the WebP bomb decodes");
    assert_eq!(webp.dimensions(), (500, 400));
    assert!(hostile::webp_lossless_bomb(16_383, 16_383).len() < 64);
    let gif = image::codecs::gif::GifDecoder::new(Cursor::new(hostile::gif_frames(5))).expect("a GIF");
    assert_eq!(gif.into_frames().count(), 5);
    let webp = image::codecs::webp::WebPDecoder::new(Cursor::new(hostile::webp_frames(4))).expect("a WebP");
    assert!(webp.has_animation());
    assert_eq!(webp.into_frames().count(), 4);
    let header =
        inspect_image(&hostile::jpeg_declaring(65_000, 65_000), &MediaLimits { max_pixels: u64::MAX, ..limits() })
            .expect("only the size is wrong");
    assert_eq!((header.width, header.height), (65_000, 65_000));
}

#[test]
fn limits_are_the_configured_ones() {
    let png = Bytes::from(hostile::small(ImageFormat::Png));
    let tight = MediaLimits { max_pixels: 64 * 48 - 1, ..limits() };
    assert!(matches!(vet_image(png.clone(), &tight), Err(VetError::TooManyPixels { pixels: 3072, .. })));
    let exact = MediaLimits { max_pixels: 64 * 48, ..limits() };
    assert!(vet_image(png, &exact).is_ok());
    let frames = MediaLimits { max_frames: 11, ..limits() };
    assert!(matches!(
        vet_image(Bytes::from(hostile::gif_frames(12)), &frames),
        Err(VetError::TooManyFrames { max: 11, .. })
    ));
    assert!(vet_image(Bytes::from(hostile::gif_frames(11)), &frames).is_ok());
}

#[test]
fn a_decode_past_its_time_is_refused() {
    // 16 megapixels decode in tens of milliseconds; one is allowed.
    let png = Bytes::from(hostile::png_bomb(4_000, 4_000));
    let hurried = MediaLimits { decode_timeout: Duration::from_millis(1), ..limits() };
    assert_eq!(vet_image(png.clone(), &hurried).expect_err("too slow").code(), "decode_too_slow");
    assert!(vet_image(png, &limits()).is_ok());
    // A small image decodes on the calling thread, whatever the timeout: its size
    // bounds the work.
    let small = Bytes::from(hostile::small(ImageFormat::Png));
    let instant = MediaLimits { decode_timeout: Duration::ZERO, ..limits() };
    assert_eq!(vet_image(small, &instant).expect("a 64x48 PNG").image.width(), 64);
}

#[test]
fn polyglots_are_refused_and_harmless_tails_are_not() {
    let error = vet_image(Bytes::from(hostile::png_then(&hostile::zip_file())), &limits()).expect_err("a zip");
    assert!(matches!(error, VetError::TrailingData { .. }), "{error}");
    vet_image(Bytes::from(hostile::png_then(&[0; 16])), &limits()).expect("zero padding");
    // A JPEG may carry further JPEGs (multi-picture files) after its end.
    let mut mpf = hostile::small(ImageFormat::Jpeg);
    mpf.extend(hostile::small(ImageFormat::Jpeg));
    vet_image(Bytes::from(mpf), &limits()).expect("a multi-picture JPEG");
    let mut html = hostile::small(ImageFormat::Jpeg);
    html.extend_from_slice(b"<html></html>");
    assert_eq!(vet_image(Bytes::from(html), &limits()).expect_err("html").code(), "trailing_data");
}

#[test]
fn video_headers_are_read_without_ffprobe() {
    let mp4 = hostile::mp4_declaring((100, 100), (65_535, 65_535), (100_000, 100_000));
    assert_eq!(mp4_track_size(&mp4), Some((65_535, 65_535)));
    let mp4 = hostile::mp4_declaring((65_535, 65_535), (320, 180), (320, 176));
    assert_eq!(mp4_track_size(&mp4), Some((65_535, 65_535)));
    let sample = include_bytes!("../../../emulators/fixtures/sample.mp4");
    assert_eq!(mp4_track_size(sample), Some((320, 180)));
    let small = MediaLimits { max_video_pixels: 320 * 180 - 1, ..limits() };
    assert_eq!(vet_media(sample, "video/mp4", &small).expect_err("too large").code(), "video_too_large");
    assert!(vet_media(b"\x89PNG", "image/png", &limits()).expect("not media").is_none());
}

#[test]
fn videos_are_held_to_their_duration_and_frames() {
    let sample = include_bytes!("../../../emulators/fixtures/sample.mp4");
    if crate::media::ffprobe().is_none() {
        return atelier_core::testing::tool_missing("ffprobe");
    }
    let info = vet_media(sample, "video/mp4", &limits()).expect("an ordinary video").expect("probed");
    assert!(info.duration_secs.is_some_and(|d| d > 0.0));
    let short = MediaLimits { max_duration_secs: 0, ..limits() };
    assert_eq!(vet_media(sample, "video/mp4", &short).expect_err("too long").code(), "media_too_long");
    let few = MediaLimits { max_video_frames: 1, ..limits() };
    assert_eq!(vet_media(sample, "video/mp4", &few).expect_err("too many").code(), "too_many_frames");
    let hurried = MediaLimits { probe_timeout: Duration::ZERO, ..limits() };
    assert_eq!(vet_media(sample, "video/mp4", &hurried).expect_err("too slow").code(), "probe_too_slow");
}
