//! Thumbnails: decode a raster image, fit it in 256×256 without upscaling, encode as
//! WebP. CPU bound and synchronous; async callers run it in `spawn_blocking`.

use std::io::Cursor;

use fast_image_resize::PixelTrait;
use fast_image_resize::images::{TypedImage, TypedImageRef};
use fast_image_resize::pixels::{U8x3, U8x4};
use fast_image_resize::{FilterType, ResizeAlg, ResizeOptions, Resizer};
use image::codecs::webp::WebPEncoder;
use image::{DynamicImage, ExtendedColorType, ImageDecoder, ImageFormat, ImageReader};

/// The box every thumbnail fits in.
pub const THUMBNAIL_MAX: u32 = 256;

/// The MIME type of every thumbnail.
pub const THUMBNAIL_MIME: &str = "image/webp";

/// A thumbnail, and the size of the image it was made from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Thumbnail {
    /// WebP (lossless).
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
    #[error("could not encode the thumbnail: {0}")]
    Encode(#[source] image::ImageError),
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
    let (pixels, color) = if (width, height) == (source_width, source_height) {
        if image.color().has_alpha() {
            (image.into_rgba8().into_raw(), ExtendedColorType::Rgba8)
        } else {
            (image.into_rgb8().into_raw(), ExtendedColorType::Rgb8)
        }
    } else if image.color().has_alpha() {
        let src = image.into_rgba8();
        (resize::<U8x4>(src.as_raw(), (source_width, source_height), (width, height))?, ExtendedColorType::Rgba8)
    } else {
        let src = image.into_rgb8();
        (resize::<U8x3>(src.as_raw(), (source_width, source_height), (width, height))?, ExtendedColorType::Rgb8)
    };

    let mut out = Vec::new();
    WebPEncoder::new_lossless(&mut out).encode(&pixels, width, height, color).map_err(ThumbnailError::Encode)?;
    Ok(Thumbnail { bytes: out, width, height, source_width, source_height })
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
