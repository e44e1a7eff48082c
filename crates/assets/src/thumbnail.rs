//! Thumbnails: decode a raster image, fit it in 256×256 without upscaling, encode as
//! lossy WebP (libwebp). CPU bound and synchronous; async callers run it in
//! `spawn_blocking`. Originals are stored as they came; only thumbnails are lossy.
//!
//! The quality was chosen by measurement (`scripts/bench --only thumbnails` prints
//! bytes and SSIM beside Pillow's and libvips'): at quality 80, libwebp's method 4,
//! noisy photo-like 1024² PNGs give thumbnails of 5,048 bytes on average with an SSIM
//! of 0.967 against the Lanczos resize they were encoded from, where Pillow's WebP at
//! its default quality 80 gives 5,034 bytes at 0.967 (libvips 5,261). Quality 75 saves
//! 18% of the bytes for an SSIM of 0.956, 70 saves 24% for 0.953; method 3 is no
//! faster, method 2 a third of the encoding time but 7% larger at a lower SSIM. The
//! lossless WebP thumbnails before averaged 127 KiB on such pictures.

use std::io::Cursor;

use fast_image_resize::PixelTrait;
use fast_image_resize::images::{TypedImage, TypedImageRef};
use fast_image_resize::pixels::{U8x3, U8x4};
use fast_image_resize::{FilterType, ResizeAlg, ResizeOptions, Resizer};
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader};

#[cfg(any(test, feature = "testing"))]
pub mod ssim;

/// The box every thumbnail fits in.
pub const THUMBNAIL_MAX: u32 = 256;

/// The MIME type of every thumbnail.
pub const THUMBNAIL_MIME: &str = "image/webp";

/// libwebp's quality (0 to 100) of every thumbnail: 80, Pillow's and libvips' default
/// for WebP too (see the module's notes for the measurement).
pub const THUMBNAIL_QUALITY: f32 = 80.0;

/// libwebp's effort (0 fastest to 6 smallest): 4 is its default.
const THUMBNAIL_METHOD: i32 = 4;

/// A thumbnail, and the size of the image it was made from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Thumbnail {
    /// WebP, lossy at [`THUMBNAIL_QUALITY`] (its alpha, when it has one, lossless).
    pub bytes: Vec<u8>,
    pub width: u32,
    pub height: u32,
    /// The decoded source image's size, after its EXIF orientation was applied.
    pub source_width: u32,
    pub source_height: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum ThumbnailError {
    #[error("could not decode the image: {0}")]
    Decode(#[source] image::ImageError),
    #[error("could not resize the image: {0}")]
    Resize(#[from] fast_image_resize::ResizeError),
    #[error("could not resize the image: {0}")]
    Buffer(#[from] fast_image_resize::ImageBufferError),
    /// libwebp's own error code, spelled out.
    #[error("could not encode the thumbnail: libwebp said {0}")]
    Encode(String),
}

/// The raster format a MIME type names, when it is one we make thumbnails for.
pub fn raster_format(mime: &str) -> Option<ImageFormat> {
    match mime_essence(mime).as_str() {
        "image/png" | "image/apng" => Some(ImageFormat::Png),
        "image/jpeg" | "image/jpg" | "image/pjpeg" => Some(ImageFormat::Jpeg),
        "image/webp" => Some(ImageFormat::WebP),
        "image/gif" => Some(ImageFormat::Gif),
        _ => None,
    }
}

/// The MIME type of a PNG, JPEG, WebP or GIF image, read from its first bytes
/// (what it is, whatever it was called).
pub fn sniff_image_mime(bytes: &[u8]) -> Option<&'static str> {
    match image::guess_format(bytes).ok()? {
        ImageFormat::Png => Some("image/png"),
        ImageFormat::Jpeg => Some("image/jpeg"),
        ImageFormat::WebP => Some("image/webp"),
        ImageFormat::Gif => Some("image/gif"),
        _ => None,
    }
}

/// The MIME type without parameters, lower case: `Image/PNG; x=y` → `image/png`.
pub(crate) fn mime_essence(mime: &str) -> String {
    mime.split(';').next().unwrap_or_default().trim().to_ascii_lowercase()
}

/// Makes a thumbnail for an output of the given MIME type: `Ok(None)` when the type
/// is not a raster image (SVG, video, audio, models, anything else).
///
/// The format is sniffed from the bytes and the MIME type is the fallback, so a PNG
/// labelled `image/jpeg` still decodes.
pub fn make_thumbnail(bytes: &[u8], mime: &str) -> Result<Option<Thumbnail>, ThumbnailError> {
    match raster_format(mime) {
        Some(format) => thumbnail_with_format(bytes, Some(format)).map(Some),
        None => Ok(None),
    }
}

/// Makes a thumbnail of whatever raster image the bytes hold, sniffing the format
/// (handy for benchmarks). `Ok(None)` when the format is not recognised.
pub fn thumbnail_for(bytes: &[u8]) -> Result<Option<Thumbnail>, ThumbnailError> {
    match image::guess_format(bytes) {
        Ok(format) => thumbnail_with_format(bytes, Some(format)).map(Some),
        Err(_) => Ok(None),
    }
}

/// The size of an image, read from its header only (no EXIF orientation applied).
/// `None` when the bytes are not an image this crate can read.
pub fn image_dimensions(bytes: &[u8]) -> Option<(u32, u32)> {
    ImageReader::new(Cursor::new(bytes)).with_guessed_format().ok()?.into_dimensions().ok()
}

/// The size a `width`×`height` image takes when fitted in the thumbnail box, keeping
/// its aspect ratio and never growing.
pub fn fit_within(width: u32, height: u32, max: u32) -> (u32, u32) {
    if width <= max && height <= max {
        return (width, height);
    }
    let (w, h, m) = (u64::from(width), u64::from(height), u64::from(max));
    // Round to nearest; never below one pixel. Results are ≤ max, so they fit in u32.
    let scaled = |num: u64, den: u64| u32::try_from(((num * m + den / 2) / den).clamp(1, m)).unwrap_or(max);
    if width >= height { (max, scaled(h, w)) } else { (scaled(w, h), max) }
}

/// Lanczos-3 resampling of 8-bit RGB or RGBA pixels (alpha premultiplied while
/// filtering). Typed to the two pixel kinds used: the untyped `Resizer::resize`
/// instantiates its filters for all thirteen, which took minutes to compile.
fn resize<P: PixelTrait<Component = u8>>(
    pixels: &[u8],
    (source_width, source_height): (u32, u32),
    (width, height): (u32, u32),
) -> Result<Vec<u8>, ThumbnailError> {
    let src = TypedImageRef::<P>::from_buffer(source_width, source_height, pixels)?;
    let mut buffer = vec![0u8; width as usize * height as usize * P::size()];
    let mut dst = TypedImage::<P>::from_buffer(width, height, &mut buffer)?;
    let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3));
    Resizer::new().resize_typed(&src, &mut dst, &options)?;
    Ok(buffer)
}

fn thumbnail_with_format(bytes: &[u8], fallback: Option<ImageFormat>) -> Result<Thumbnail, ThumbnailError> {
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| ThumbnailError::Decode(image::ImageError::IoError(e)))?;
    if reader.format().is_none()
        && let Some(format) = fallback
    {
        reader.set_format(format);
    }
    let mut decoder = reader.into_decoder().map_err(ThumbnailError::Decode)?;
    let orientation = decoder.orientation().map_err(ThumbnailError::Decode)?;
    let mut image = DynamicImage::from_decoder(decoder).map_err(ThumbnailError::Decode)?;
    image.apply_orientation(orientation);
    thumbnail_of(image)
}

/// The thumbnail of an image already decoded (a 3D model's drawing, say).
pub fn thumbnail_of(image: DynamicImage) -> Result<Thumbnail, ThumbnailError> {
    let (source_width, source_height) = (image.width(), image.height());
    let (width, height) = fit_within(source_width, source_height, THUMBNAIL_MAX);
    let alpha = image.color().has_alpha();
    let pixels = fitted_pixels(image, (width, height))?;
    let bytes = encode_webp(&pixels, width, height, alpha)?;
    Ok(Thumbnail { bytes, width, height, source_width, source_height })
}

/// The image's pixels fitted in `width`×`height` (its own size: no resize), 8-bit RGBA
/// when it has alpha, else RGB. An 8-bit RGB(A) image is not copied on the way
/// (`into_rgb8` hands over its buffer); other kinds are converted once.
///
/// The resize is one Lanczos-3 pass at full resolution: fast_image_resize's AVX2
/// Lanczos makes 1024² → 256² in 1 to 2 ms of CPU, under a tenth of the whole; a box
/// halving first (Pillow's `reducing_gap`) measured no faster (1.1 to 2.7 ms) while
/// moving the result (SSIM 0.998 against the single pass), so it is not done.
pub fn fitted_pixels(image: DynamicImage, (width, height): (u32, u32)) -> Result<Vec<u8>, ThumbnailError> {
    let source = (image.width(), image.height());
    let alpha = image.color().has_alpha();
    Ok(match (source == (width, height), alpha) {
        (true, true) => image.into_rgba8().into_raw(),
        (true, false) => image.into_rgb8().into_raw(),
        (false, true) => resize::<U8x4>(image.into_rgba8().as_raw(), source, (width, height))?,
        (false, false) => resize::<U8x3>(image.into_rgb8().as_raw(), source, (width, height))?,
    })
}

/// Lossy WebP of 8-bit RGB (or RGBA, `alpha`) pixels at [`THUMBNAIL_QUALITY`]. Alpha
/// is kept exactly (compressed losslessly, `alpha_quality` 100), so a clear
/// background stays clear.
fn encode_webp(pixels: &[u8], width: u32, height: u32, alpha: bool) -> Result<Vec<u8>, ThumbnailError> {
    let mut config = webp::WebPConfig::new()
        .map_err(|()| ThumbnailError::Encode("no configuration (library version mismatch)".to_owned()))?;
    config.lossless = 0;
    config.quality = THUMBNAIL_QUALITY;
    config.method = THUMBNAIL_METHOD;
    config.alpha_compression = 1;
    config.alpha_quality = 100;
    let encoder = if alpha {
        webp::Encoder::from_rgba(pixels, width, height)
    } else {
        webp::Encoder::from_rgb(pixels, width, height)
    };
    let encoded = encoder.encode_advanced(&config).map_err(|code| ThumbnailError::Encode(format!("{code:?}")))?;
    Ok(encoded.to_vec())
}

#[cfg(test)]
mod tests {
    use image::{ImageFormat, Rgb, RgbImage, Rgba, RgbaImage};

    use super::*;

    fn gradient_png(width: u32, height: u32) -> Vec<u8> {
        let img = RgbaImage::from_fn(width, height, |x, y| {
            Rgba([(x % 256) as u8, (y % 256) as u8, ((x + y) % 256) as u8, 200])
        });
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, ImageFormat::Png).expect("encode png");
        out.into_inner()
    }

    fn gradient_jpeg(width: u32, height: u32) -> Vec<u8> {
        let img = RgbImage::from_fn(width, height, |x, y| Rgb([(x % 256) as u8, (y % 256) as u8, 90]));
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, ImageFormat::Jpeg).expect("encode jpeg");
        out.into_inner()
    }

    fn decode_webp(bytes: &[u8]) -> DynamicImage {
        assert_eq!(image::guess_format(bytes).expect("format"), ImageFormat::WebP);
        image::load_from_memory_with_format(bytes, ImageFormat::WebP).expect("webp decodes")
    }

    #[test]
    fn fits_in_the_box_keeping_aspect_ratio() {
        assert_eq!(fit_within(1024, 512, 256), (256, 128));
        assert_eq!(fit_within(512, 1024, 256), (128, 256));
        assert_eq!(fit_within(1000, 1000, 256), (256, 256));
        assert_eq!(fit_within(300, 200, 256), (256, 171));
        assert_eq!(fit_within(10_000, 3, 256), (256, 1));
        assert_eq!(fit_within(100, 50, 256), (100, 50));
        assert_eq!(fit_within(256, 256, 256), (256, 256));
    }

    #[test]
    fn wide_png_becomes_a_256_by_128_webp() {
        let thumb = make_thumbnail(&gradient_png(1024, 512), "image/png").expect("thumbnail").expect("is raster");
        assert_eq!((thumb.width, thumb.height), (256, 128));
        assert_eq!((thumb.source_width, thumb.source_height), (1024, 512));
        let decoded = decode_webp(&thumb.bytes);
        assert_eq!((decoded.width(), decoded.height()), (256, 128));
        assert!(decoded.color().has_alpha());
    }

    /// A photo-like picture: smooth colour fields and fine waves, with noise of ±12 on
    /// every channel of every pixel (the hard case for a lossy coder).
    fn photo_like(side: u32, alpha: bool) -> DynamicImage {
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut noise = move || {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            ((state.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) % 25) as f32 - 12.0
        };
        let half = side as f32 / 2.0;
        let image = RgbaImage::from_fn(side, side, |x, y| {
            let (u, v) = (x as f32 / side as f32, y as f32 / side as f32);
            let wave = (u * 9.0 + 0.8).sin() * (v * 6.0).cos();
            let fine = (u * 80.0 + v * 35.0).sin() * (v * 60.0 - u * 20.0).cos();
            let spot = (-((u - 0.3).powi(2) + (v - 0.35).powi(2)) / 0.06).exp();
            let base = [
                40.0 + 120.0 * (1.0 - v) + 80.0 * spot + 20.0 * wave + 18.0 * fine,
                60.0 + 90.0 * v + 25.0 * wave + 12.0 * fine,
                90.0 + 100.0 * (1.0 - u) * (1.0 - v) - 15.0 * wave - 10.0 * fine,
            ];
            let [r, g, b] = base.map(|c| (c + noise()).round().clamp(0.0, 255.0) as u8);
            // With alpha: a disc, opaque inside, clear outside.
            let inside = ((x as f32 + 0.5 - half).hypot(y as f32 + 0.5 - half)) < half * 0.7;
            Rgba([r, g, b, if !alpha || inside { 255 } else { 0 }])
        });
        if alpha {
            DynamicImage::ImageRgba8(image)
        } else {
            DynamicImage::ImageRgb8(DynamicImage::ImageRgba8(image).to_rgb8())
        }
    }

    fn png_of(image: &DynamicImage) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        image.write_to(&mut out, ImageFormat::Png).expect("encode png");
        out.into_inner()
    }

    /// A noisy photo-like 1024² PNG (some 2.4 MB) gives a lossy thumbnail: at quality
    /// 80 about 5 KB (Pillow's WebP of the same is as large), where the lossless
    /// WebP of the same pixels takes some 120 KB. The bound, 12 KB, leaves room for
    /// libwebp's versions and still fails a lossless (or near-lossless) encoding by
    /// far; the SSIM floor, 0.95, is passed at quality 70 and up (0.967 at 80) and
    /// failed at 60 and below, which smear the picture visibly.
    #[test]
    fn noisy_photo_thumbnail_is_small_and_close_to_its_resize() {
        let photo = photo_like(1024, false);
        let reference = fitted_pixels(photo.clone(), (256, 256)).expect("resize");
        let thumb = make_thumbnail(&png_of(&photo), "image/png").expect("thumbnail").expect("is raster");
        assert_eq!((thumb.width, thumb.height), (256, 256));
        let decoded = decode_webp(&thumb.bytes);
        assert!(!decoded.color().has_alpha());
        let score = ssim::ssim(&reference, decoded.to_rgb8().as_raw(), 256, 256, 3).expect("same size");
        assert!(thumb.bytes.len() < 12_000, "{} bytes", thumb.bytes.len());
        assert!(score > 0.95, "SSIM {score:.4} at {} bytes", thumb.bytes.len());

        let mut lossless = Vec::new();
        image::codecs::webp::WebPEncoder::new_lossless(&mut lossless)
            .encode(&reference, 256, 256, image::ExtendedColorType::Rgb8)
            .expect("lossless webp");
        assert!(
            thumb.bytes.len() * 10 < lossless.len(),
            "{} bytes lossy, {} lossless",
            thumb.bytes.len(),
            lossless.len()
        );
    }

    /// Lossy colour, exact alpha: the clear corners stay clear, the disc opaque.
    #[test]
    fn alpha_is_kept_exactly_under_lossy_colour() {
        let photo = photo_like(512, true);
        let reference = fitted_pixels(photo.clone(), (256, 256)).expect("resize");
        let thumb = thumbnail_of(photo).expect("thumbnail");
        let decoded = decode_webp(&thumb.bytes);
        assert!(decoded.color().has_alpha());
        let decoded = decoded.to_rgba8();
        let alpha_of = |pixels: &[u8]| pixels.chunks_exact(4).map(|p| p[3]).collect::<Vec<_>>();
        assert_eq!(alpha_of(decoded.as_raw()), alpha_of(&reference));
        assert_eq!((decoded.get_pixel(0, 0).0[3], decoded.get_pixel(128, 128).0[3]), (0, 255));
        assert_ne!(decoded.as_raw(), &reference, "the colour is lossy");
    }

    #[test]
    fn small_images_are_not_upscaled() {
        let thumb = make_thumbnail(&gradient_png(64, 32), "image/png").expect("thumbnail").expect("is raster");
        assert_eq!((thumb.width, thumb.height), (64, 32));
        let decoded = decode_webp(&thumb.bytes);
        assert_eq!((decoded.width(), decoded.height()), (64, 32));
    }

    #[test]
    fn jpeg_thumbnail_is_opaque_webp() {
        let thumb = make_thumbnail(&gradient_jpeg(300, 600), "image/jpeg").expect("thumbnail").expect("is raster");
        assert_eq!((thumb.width, thumb.height), (128, 256));
        let decoded = decode_webp(&thumb.bytes);
        assert_eq!((decoded.width(), decoded.height()), (128, 256));
        assert!(!decoded.color().has_alpha());
    }

    #[test]
    fn gif_gets_a_thumbnail() {
        let img = RgbaImage::from_fn(512, 256, |x, y| Rgba([(x % 256) as u8, (y % 256) as u8, 0, 255]));
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, ImageFormat::Gif).expect("encode gif");
        let thumb = make_thumbnail(out.get_ref(), "image/gif").expect("thumbnail").expect("is raster");
        assert_eq!((thumb.width, thumb.height), (256, 128));
        decode_webp(&thumb.bytes);
    }

    #[test]
    fn sniffs_the_format_over_the_mime_type() {
        let thumb = make_thumbnail(&gradient_png(400, 100), "image/jpeg").expect("thumbnail").expect("is raster");
        assert_eq!((thumb.width, thumb.height), (256, 64));
        let thumb = thumbnail_for(&gradient_jpeg(400, 100)).expect("thumbnail").expect("is raster");
        assert_eq!((thumb.width, thumb.height), (256, 64));
    }

    #[test]
    fn non_raster_types_have_no_thumbnail() {
        assert!(make_thumbnail(b"<svg/>", "image/svg+xml").expect("no error").is_none());
        assert!(make_thumbnail(b"\0\0\0 ftypmp42", "video/mp4").expect("no error").is_none());
        assert!(thumbnail_for(b"plain text").expect("no error").is_none());
    }

    #[test]
    fn garbage_labelled_as_png_is_an_error() {
        assert!(matches!(make_thumbnail(b"definitely not a png", "image/png"), Err(ThumbnailError::Decode(_))));
    }

    #[test]
    fn reads_dimensions_from_the_header() {
        assert_eq!(image_dimensions(&gradient_png(123, 45)), Some((123, 45)));
        assert_eq!(image_dimensions(&gradient_jpeg(20, 10)), Some((20, 10)));
        assert_eq!(image_dimensions(b"nope"), None);
    }

    #[test]
    fn mime_essence_strips_parameters() {
        assert_eq!(mime_essence(" Image/PNG ; charset=x"), "image/png");
        assert_eq!(raster_format("image/gif"), Some(ImageFormat::Gif));
        assert_eq!(raster_format("image/svg+xml"), None);
    }
}
