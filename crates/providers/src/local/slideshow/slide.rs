//! One image made ready for its frames, and each frame drawn from it.
//!
//! An image is decoded once (EXIF orientation applied) and laid on its *canvas*:
//! with `cover` the picture scaled to fill the frame (so a portrait photo's canvas
//! is taller than the frame, room for a pan), with `contain` the frame itself, the
//! picture centred on the background. Only the part of the canvas its motion will
//! show is kept, rasterised (Lanczos) at the resolution its closest view needs (so
//! every frame is a slight downscale, never a blurry upscale) and within a pixel
//! budget; the decoded picture is then dropped. Each frame is one sub-pixel crop
//! and resize of that raster (fast_image_resize's convolution, which takes
//! fractional crop boxes): pan and zoom move smoothly, without the one-pixel
//! judder of ffmpeg's `zoompan`, which rounds its window to whole pixels.

use std::io::Cursor;

use atelier_core::ports::{ErrorClass, ProviderError};
use fast_image_resize::images::{TypedImage, TypedImageRef};
use fast_image_resize::pixels::{U8x3, U8x4};
use fast_image_resize::{FilterType, PixelTrait, ResizeAlg, ResizeOptions, Resizer};
use image::DynamicImage;

use super::captions::Caption;
use super::motion::{self, Motion, Path};

/// The largest picture decoded, pixels a side.
pub const MAX_DECODED_SIDE: u32 = 12_000;
/// The most pixels an image's raster holds (a wide panorama panned at 1080p would
/// otherwise want far more); past it the raster is coarser.
const RASTER_BUDGET: f64 = 12_000_000.0;
/// The blurred background is made this small (long side), then scaled up.
const BLUR_SIDE: f64 = 48.0;
/// How dark the blurred background is (1: as the picture).
const BLUR_BRIGHTNESS: f32 = 0.6;
/// Each frame's resampling of the raster: nearly 1:1 (between 1 and the zoom's
/// 0.85), where Catmull-Rom keeps the picture sharp.
const FRAME_FILTER: FilterType = FilterType::CatmullRom;

/// How a picture meets the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fit {
    Cover,
    Contain,
}

/// What shows where the picture does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Background {
    Blur,
    Black,
    White,
}

impl Fit {
    pub fn parse(name: &str) -> Self {
        if name == "contain" { Self::Contain } else { Self::Cover }
    }
}

impl Background {
    pub fn parse(name: &str) -> Self {
        match name {
            "black" => Self::Black,
            "white" => Self::White,
            _ => Self::Blur,
        }
    }
}

/// Everything about the frames that is the same for every image.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Look {
    pub frame: (u32, u32),
    pub fit: Fit,
    pub background: Background,
    pub motion: Motion,
    pub seed: u64,
}

fn refused(index: usize, why: String) -> ProviderError {
    ProviderError::new(ErrorClass::ClientError, format!("images[{index}]: {why}"))
}

fn failed(what: &str, error: impl std::fmt::Display) -> ProviderError {
    ProviderError::new(ErrorClass::GenerationFailed, format!("the slideshow: {what}: {error}"))
}

fn reader(bytes: &[u8], index: usize) -> Result<image::ImageReader<Cursor<&[u8]>>, ProviderError> {
    let mut reader = image::ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|error| refused(index, format!("cannot be read: {error}")))?;
    if reader.format().is_none() {
        return Err(refused(index, "is not an image this engine reads (PNG, JPEG or WebP)".into()));
    }
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_DECODED_SIDE);
    limits.max_image_height = Some(MAX_DECODED_SIDE);
    reader.limits(limits);
    Ok(reader)
}

fn decode_error(index: usize, error: image::ImageError) -> ProviderError {
    match error {
        image::ImageError::Limits(_) => refused(
            index,
            format!("is too large to decode (at most {MAX_DECODED_SIDE} pixels a side and 512 MiB of pixels)"),
        ),
        other => refused(index, format!("is not an image this engine reads (PNG, JPEG or WebP): {other}")),
    }
}

/// Checks from its header that image `index` can be read (before any frame is
/// made, so a wrong file fails the task at once): its format and size.
pub fn check(bytes: &[u8], index: usize) -> Result<(), ProviderError> {
    let (width, height) = reader(bytes, index)?.into_dimensions().map_err(|error| decode_error(index, error))?;
    if width.max(height) > MAX_DECODED_SIDE {
        return Err(refused(index, format!("is larger than {MAX_DECODED_SIDE} pixels a side ({width}×{height})")));
    }
    Ok(())
}

/// Decodes image `index`, upright (its EXIF orientation applied).
pub fn decode(bytes: &[u8], index: usize) -> Result<DynamicImage, ProviderError> {
    use image::ImageDecoder;
    let mut decoder = reader(bytes, index)?.into_decoder().map_err(|error| decode_error(index, error))?;
    let orientation = decoder.orientation().map_err(|error| decode_error(index, error))?;
    let mut image = DynamicImage::from_decoder(decoder).map_err(|error| decode_error(index, error))?;
    image.apply_orientation(orientation);
    Ok(image)
}

/// A picture's pixels, 8 bits a channel, with or without alpha.
enum Pixels {
    Rgb(Vec<u8>),
    Rgba(Vec<u8>),
}

/// A rectangle in some plane: `(left, top, width, height)`.
type Rect = (f64, f64, f64, f64);

/// An image ready for its frames.
pub struct Slide {
    /// RGB, `size.0` × `size.1`, showing `shown` of the canvas.
    raster: Vec<u8>,
    size: (u32, u32),
    shown: Rect,
    canvas: (f64, f64),
    path: Path,
    frame: (u32, u32),
    caption: Option<Caption>,
}

impl std::fmt::Debug for Slide {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slide").field("size", &self.size).field("path", &self.path).finish_non_exhaustive()
    }
}

impl Slide {
    /// Lays image `index` on its canvas and keeps what its motion will show.
    pub fn new(
        image: DynamicImage,
        index: usize,
        look: &Look,
        caption: Option<Caption>,
        resizer: &mut Resizer,
    ) -> Result<Self, ProviderError> {
        let (width, height) = (f64::from(image.width().max(1)), f64::from(image.height().max(1)));
        let frame = (f64::from(look.frame.0), f64::from(look.frame.1));
        // Canvas units per picture pixel, the canvas, and where the picture lies on it.
        let (scale, canvas) = match look.fit {
            Fit::Cover => {
                let scale = (frame.0 / width).max(frame.1 / height);
                (scale, ((width * scale).max(frame.0), (height * scale).max(frame.1)))
            }
            Fit::Contain => ((frame.0 / width).min(frame.1 / height), frame),
        };
        let placed =
            ((canvas.0 - width * scale) / 2.0, (canvas.1 - height * scale) / 2.0, width * scale, height * scale);
        let path = motion::path(look.motion, index, look.seed, canvas, frame);
        let (x, y, w, h) = path.bounds(canvas, frame);
        // A unit more on each side, for the resampling filter's reach.
        let (left, top) = ((x - 1.0).max(0.0), (y - 1.0).max(0.0));
        let shown = (left, top, (x + w + 1.0).min(canvas.0) - left, (y + h + 1.0).min(canvas.1) - top);

        let has_alpha = image.color().has_alpha();
        let pixels = if has_alpha {
            Pixels::Rgba(image.into_rgba8().into_raw())
        } else {
            Pixels::Rgb(image.into_rgb8().into_raw())
        };
        let source = (width as u32, height as u32);

        // Raster pixels per canvas unit: the closest view's 1:1, within the budget,
        // and no finer than the picture itself when it alone fills the raster.
        let mut density = path.max_zoom();
        if shown.2 * shown.3 * density * density > RASTER_BUDGET {
            density = (RASTER_BUDGET / (shown.2 * shown.3)).sqrt();
        }
        if look.fit == Fit::Cover && !has_alpha {
            density = density.min(1.0 / scale);
        }
        let size = (((shown.2 * density).round() as u32).max(1), ((shown.3 * density).round() as u32).max(1));

        let needs_background = look.fit == Fit::Contain || has_alpha;
        let mut raster = if needs_background {
            background(&pixels, source, look.background, canvas, shown, size, resizer)?
        } else {
            vec![0u8; size.0 as usize * size.1 as usize * 3]
        };
        // The picture over the raster: which raster pixels it covers, whole pixels,
        // and the part of the picture they show.
        let density = (f64::from(size.0) / shown.2, f64::from(size.1) / shown.3);
        let to_raster =
            |canvas_x: f64, canvas_y: f64| ((canvas_x - shown.0) * density.0, (canvas_y - shown.1) * density.1);
        let (x0, y0) = to_raster(placed.0, placed.1);
        let (x1, y1) = to_raster(placed.0 + placed.2, placed.1 + placed.3);
        let clip = |value: f64, most: u32| value.round().clamp(0.0, f64::from(most)) as u32;
        let (dx0, dy0, dx1, dy1) = (clip(x0, size.0), clip(y0, size.1), clip(x1, size.0), clip(y1, size.1));
        if dx1 > dx0 && dy1 > dy0 {
            let to_picture = |raster_x: u32, raster_y: u32| {
                let canvas_x = shown.0 + f64::from(raster_x) / density.0;
                let canvas_y = shown.1 + f64::from(raster_y) / density.1;
                (((canvas_x - placed.0) / scale).clamp(0.0, width), ((canvas_y - placed.1) / scale).clamp(0.0, height))
            };
            let (sx0, sy0) = to_picture(dx0, dy0);
            let (sx1, sy1) = to_picture(dx1, dy1);
            let crop = (sx0, sy0, (sx1 - sx0).max(1e-3), (sy1 - sy0).max(1e-3));
            let target = (dx1 - dx0, dy1 - dy0);
            let lanczos = FilterType::Lanczos3;
            match &pixels {
                Pixels::Rgb(rgb) => {
                    let part = resize::<U8x3>(rgb, source, crop, target, lanczos, resizer)?;
                    paste_rgb(&mut raster, size.0, &part, (dx0, dy0), target);
                }
                Pixels::Rgba(rgba) => {
                    let part = resize::<U8x4>(rgba, source, crop, target, lanczos, resizer)?;
                    paste_rgba(&mut raster, size.0, &part, (dx0, dy0), target);
                }
            }
        }
        Ok(Self { raster, size, shown, canvas, path, frame: look.frame, caption })
    }

    /// Draws the frame at `progress` (0 to 1) of the image's time into `out`
    /// (RGB, the frame's size), caption included.
    pub fn render(&self, progress: f64, out: &mut [u8], resizer: &mut Resizer) -> Result<(), ProviderError> {
        let frame = (f64::from(self.frame.0), f64::from(self.frame.1));
        let (x, y, w, h) = self.path.at(progress).window(self.canvas, frame);
        let density = (f64::from(self.size.0) / self.shown.2, f64::from(self.size.1) / self.shown.3);
        let (width, height) = (f64::from(self.size.0), f64::from(self.size.1));
        let left = ((x - self.shown.0) * density.0).clamp(0.0, width);
        let top = ((y - self.shown.1) * density.1).clamp(0.0, height);
        let crop = (left, top, (w * density.0).min(width - left), (h * density.1).min(height - top));
        let source = TypedImageRef::<U8x3>::from_buffer(self.size.0, self.size.1, &self.raster)
            .map_err(|error| failed("the raster", error))?;
        let mut target = TypedImage::<U8x3>::from_buffer(self.frame.0, self.frame.1, out)
            .map_err(|error| failed("the frame", error))?;
        let options =
            ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FRAME_FILTER)).crop(crop.0, crop.1, crop.2, crop.3);
        resizer.resize_typed(&source, &mut target, &options).map_err(|error| failed("resizing", error))?;
        if let Some(caption) = &self.caption {
            caption.draw(out, self.frame.0);
        }
        Ok(())
    }
}

/// `crop` of a picture (`size`, 8-bit pixels `P`) resampled to `target`.
fn resize<P: PixelTrait<Component = u8>>(
    pixels: &[u8],
    size: (u32, u32),
    crop: Rect,
    target: (u32, u32),
    filter: FilterType,
    resizer: &mut Resizer,
) -> Result<Vec<u8>, ProviderError> {
    let source =
        TypedImageRef::<P>::from_buffer(size.0, size.1, pixels).map_err(|error| failed("the picture", error))?;
    let mut buffer = vec![0u8; target.0 as usize * target.1 as usize * P::size()];
    let mut resized =
        TypedImage::<P>::from_buffer(target.0, target.1, &mut buffer).map_err(|error| failed("resizing", error))?;
    let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(filter)).crop(crop.0, crop.1, crop.2, crop.3);
    resizer.resize_typed(&source, &mut resized, &options).map_err(|error| failed("resizing", error))?;
    Ok(buffer)
}

fn paste_rgb(raster: &mut [u8], raster_width: u32, part: &[u8], at: (u32, u32), size: (u32, u32)) {
    let row_bytes = size.0 as usize * 3;
    for row in 0..size.1 as usize {
        let start = ((at.1 as usize + row) * raster_width as usize + at.0 as usize) * 3;
        raster[start..start + row_bytes].copy_from_slice(&part[row * row_bytes..(row + 1) * row_bytes]);
    }
}

fn paste_rgba(raster: &mut [u8], raster_width: u32, part: &[u8], at: (u32, u32), size: (u32, u32)) {
    for row in 0..size.1 as usize {
        let start = ((at.1 as usize + row) * raster_width as usize + at.0 as usize) * 3;
        for column in 0..size.0 as usize {
            let source = &part[(row * size.0 as usize + column) * 4..][..4];
            let alpha = u32::from(source[3]);
            for channel in 0..3 {
                let under = &mut raster[start + column * 3 + channel];
                *under = ((u32::from(source[channel]) * alpha + u32::from(*under) * (255 - alpha) + 127) / 255) as u8;
            }
        }
    }
}

/// The background under `shown` of the canvas, at the raster's `size`: a solid
/// colour, or the picture itself filling the canvas, blurred and darkened (made
/// tiny, blurred there, scaled up: cheap, and smooth).
fn background(
    pixels: &Pixels,
    source: (u32, u32),
    kind: Background,
    canvas: (f64, f64),
    shown: Rect,
    size: (u32, u32),
    resizer: &mut Resizer,
) -> Result<Vec<u8>, ProviderError> {
    let length = size.0 as usize * size.1 as usize * 3;
    let flat = match (kind, pixels) {
        (Background::Black, _) => return Ok(vec![0; length]),
        (Background::White, _) => return Ok(vec![255; length]),
        (Background::Blur, Pixels::Rgb(rgb)) => std::borrow::Cow::Borrowed(rgb),
        // Transparent pixels count as black in the blur.
        (Background::Blur, Pixels::Rgba(rgba)) => std::borrow::Cow::Owned(
            rgba.chunks_exact(4)
                .flat_map(|p| {
                    let alpha = u32::from(p[3]);
                    [0, 1, 2].map(|c| ((u32::from(p[c]) * alpha + 127) / 255) as u8)
                })
                .collect(),
        ),
    };
    let shrink = BLUR_SIDE / canvas.0.max(canvas.1);
    let small = (((canvas.0 * shrink).round() as u32).max(1), ((canvas.1 * shrink).round() as u32).max(1));
    // The picture cropped to the canvas's shape (centred) and made tiny.
    let (width, height) = (f64::from(source.0), f64::from(source.1));
    let aspect = canvas.0 / canvas.1;
    let crop = if width / height > aspect {
        ((width - height * aspect) / 2.0, 0.0, height * aspect, height)
    } else {
        (0.0, (height - width / aspect) / 2.0, width, width / aspect)
    };
    let mut tiny = resize::<U8x3>(&flat, source, crop, small, FilterType::Box, resizer)?;
    let radius = (BLUR_SIDE * 0.05).round().max(1.0) as usize;
    for _ in 0..3 {
        box_blur(&mut tiny, small, radius);
    }
    for value in &mut tiny {
        *value = (f32::from(*value) * BLUR_BRIGHTNESS).round() as u8;
    }
    let region = (shown.0 * shrink, shown.1 * shrink, shown.2 * shrink, shown.3 * shrink);
    let region = (
        region.0.clamp(0.0, f64::from(small.0)),
        region.1.clamp(0.0, f64::from(small.1)),
        region.2.min(f64::from(small.0) - region.0.max(0.0)).max(1e-3),
        region.3.min(f64::from(small.1) - region.1.max(0.0)).max(1e-3),
    );
    resize::<U8x3>(&tiny, small, region, size, FilterType::Bilinear, resizer)
}

/// A box blur of `radius` along rows, then columns (three make a near-Gaussian).
fn box_blur(pixels: &mut [u8], size: (u32, u32), radius: usize) {
    let (width, height) = (size.0 as usize, size.1 as usize);
    let mut line = Vec::new();
    let mut blur_line = |get: &dyn Fn(usize) -> usize, count: usize, pixels: &mut [u8]| {
        line.clear();
        line.extend((0..count).flat_map(|i| {
            let at = get(i) * 3;
            [pixels[at], pixels[at + 1], pixels[at + 2]]
        }));
        for i in 0..count {
            let (from, to) = (i.saturating_sub(radius), (i + radius).min(count - 1));
            for channel in 0..3 {
                let sum: u32 = (from..=to).map(|j| u32::from(line[j * 3 + channel])).sum();
                pixels[get(i) * 3 + channel] = (sum / (to - from + 1) as u32) as u8;
            }
        }
    };
    for row in 0..height {
        blur_line(&|i| row * width + i, width, pixels);
    }
    for column in 0..width {
        blur_line(&|i| i * width + column, height, pixels);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOOK: Look =
        Look { frame: (160, 90), fit: Fit::Cover, background: Background::Blur, motion: Motion::None, seed: 1 };

    /// A picture with detail everywhere (so any move changes pixels).
    pub(crate) fn picture(width: u32, height: u32) -> DynamicImage {
        DynamicImage::ImageRgb8(image::RgbImage::from_fn(width, height, |x, y| {
            image::Rgb([((x * 7) % 256) as u8, ((y * 5) % 256) as u8, (((x / 8 + y / 8) % 2) * 255) as u8])
        }))
    }

    fn frame(slide: &Slide, progress: f64) -> Vec<u8> {
        let mut out = vec![0u8; 160 * 90 * 3];
        slide.render(progress, &mut out, &mut Resizer::new()).expect("rendered");
        out
    }

    #[test]
    fn a_still_slide_gives_the_same_frame_and_a_moving_one_does_not() {
        let still = Slide::new(picture(320, 180), 0, &LOOK, None, &mut Resizer::new()).expect("slide");
        assert_eq!(frame(&still, 0.0), frame(&still, 1.0));
        let look = Look { motion: Motion::KenBurns, ..LOOK };
        let moving = Slide::new(picture(320, 180), 0, &look, None, &mut Resizer::new()).expect("slide");
        assert_ne!(frame(&moving, 0.0), frame(&moving, 0.5));
    }

    #[test]
    fn contain_shows_the_background_beside_a_portrait_picture() {
        for (background, edge) in [(Background::Black, 0u8), (Background::White, 255u8)] {
            let look = Look { fit: Fit::Contain, background, ..LOOK };
            let slide = Slide::new(picture(90, 180), 0, &look, None, &mut Resizer::new()).expect("slide");
            let out = frame(&slide, 0.0);
            assert_eq!(&out[..3], &[edge; 3], "{background:?} at the left edge");
            assert_eq!(&out[(160 * 45 + 159) * 3..][..3], &[edge; 3], "and at the right");
        }
        let blurred = Slide::new(picture(90, 180), 0, &Look { fit: Fit::Contain, ..LOOK }, None, &mut Resizer::new())
            .expect("slide");
        let out = frame(&blurred, 0.0);
        assert!(out[..3].iter().any(|&v| v > 0 && v < 255), "a blurred, darkened picture: {:?}", &out[..3]);
    }

    #[test]
    fn a_panorama_is_kept_within_the_budget() {
        let look = Look { frame: (1920, 1080), motion: Motion::Pan, ..LOOK };
        let slide = Slide::new(picture(8000, 400), 0, &look, None, &mut Resizer::new()).expect("slide");
        assert!(f64::from(slide.size.0) * f64::from(slide.size.1) <= RASTER_BUDGET * 1.01, "{:?}", slide.size);
    }

    #[test]
    fn transparent_pixels_show_the_background() {
        let clear = DynamicImage::ImageRgba8(image::RgbaImage::from_pixel(160, 90, image::Rgba([255, 0, 0, 0])));
        let look = Look { background: Background::White, ..LOOK };
        let slide = Slide::new(clear, 0, &look, None, &mut Resizer::new()).expect("slide");
        assert!(frame(&slide, 0.5).iter().all(|&v| v == 255));
    }

    #[test]
    fn what_is_not_a_picture_is_the_inputs_fault() {
        let error = check(b"not an image", 3).expect_err("refused");
        assert_eq!(error.class, ErrorClass::ClientError);
        assert!(error.message.starts_with("images[3]:"), "{}", error.message);
        let mut png = Vec::new();
        picture(4, 4).write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png).expect("png");
        check(&png, 0).expect("a PNG");
        let truncated = &png[..png.len() / 2];
        assert_eq!(decode(truncated, 1).expect_err("truncated").class, ErrorClass::ClientError);
    }
}
