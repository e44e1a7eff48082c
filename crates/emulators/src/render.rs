//! Result images, for every emulator that answers with pictures: a seeded,
//! deterministic drawing (a diagonal gradient with a few discs and bars) of any
//! size, encoded as a real PNG. What makes two images differ is the run's seed,
//! a `salt` (Kie's task id, VolcEngine's `req_key`, Google's model), a digest
//! of the request and the image's index. PNG everywhere; JPEG too where a
//! protocol lets the client ask for it (Google's Imagen, sd.cpp), and WebP
//! (lossless) where one asks for that (sd.cpp, AUTOMATIC1111's `samples_format`).

use std::io::Cursor;

use image::codecs::jpeg::JpegEncoder;
use image::{ImageFormat, Rgb, RgbImage};
use sha2::{Digest, Sha256};

/// How a result image is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Encoding {
    Png,
    /// JPEG at this quality (1–100).
    Jpeg(u8),
    /// Lossless WebP (the encoder at hand writes no lossy WebP).
    Webp,
}

/// Draws one result image of `width`×`height` and encodes it as PNG.
pub(crate) fn render_png(
    width: u32,
    height: u32,
    seed: u64,
    salt: &str,
    digest: &[u8; 32],
    index: u32,
) -> Result<Vec<u8>, image::ImageError> {
    render(width, height, seed, salt, digest, index, Encoding::Png)
}

/// Draws one result image of `width`×`height` and encodes it as asked.
pub(crate) fn render(
    width: u32,
    height: u32,
    seed: u64,
    salt: &str,
    digest: &[u8; 32],
    index: u32,
    encoding: Encoding,
) -> Result<Vec<u8>, image::ImageError> {
    let mut hasher = Sha256::new();
    hasher.update(seed.to_le_bytes());
    hasher.update((salt.len() as u64).to_le_bytes());
    hasher.update(salt.as_bytes());
    hasher.update(digest);
    hasher.update(index.to_le_bytes());
    let d: [u8; 32] = hasher.finalize().into();

    let (from, to) = ([d[0], d[1], d[2]], [d[3], d[4], d[5]]);
    let span = (width + height).max(1) as f32;
    let mut img = RgbImage::from_fn(width, height, |x, y| {
        let t = (x + y) as f32 / span;
        Rgb(std::array::from_fn(|c| (f32::from(from[c]) * (1.0 - t) + f32::from(to[c]) * t) as u8))
    });

    // Four shapes, each from six bytes: kind, centre x, centre y, size, and a hue pair.
    for shape in d[6..30].chunks_exact(6) {
        let cx = u32::from(shape[1]) * width / 255;
        let cy = u32::from(shape[2]) * height / 255;
        let size = width.min(height) / 10 + u32::from(shape[3]) * width.min(height) / 1020;
        let color = Rgb([shape[4], shape[5], shape[0] ^ shape[4]]);
        let (x0, x1) = (cx.saturating_sub(size), (cx + size).min(width));
        let (y0, y1) = (cy.saturating_sub(size), (cy + size).min(height));
        for y in y0..y1 {
            for x in x0..x1 {
                let inside = if shape[0] % 2 == 0 {
                    let (dx, dy) = (i64::from(x) - i64::from(cx), i64::from(y) - i64::from(cy));
                    dx * dx + dy * dy <= i64::from(size) * i64::from(size)
                } else {
                    // A bar: full width of the box, a third of its height.
                    y.abs_diff(cy) <= size / 3
                };
                if inside {
                    img.put_pixel(x, y, color);
                }
            }
        }
    }

    let mut out = Cursor::new(Vec::new());
    match encoding {
        Encoding::Png => img.write_to(&mut out, ImageFormat::Png)?,
        Encoding::Jpeg(quality) => JpegEncoder::new_with_quality(&mut out, quality.clamp(1, 100)).encode_image(&img)?,
        Encoding::Webp => img.write_to(&mut out, ImageFormat::WebP)?,
    }
    Ok(out.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_are_deterministic_pngs_of_the_asked_size() {
        let hash = [7u8; 32];
        let a = render_png(640, 360, 1, "task_google_1_1", &hash, 0).expect("png");
        let b = render_png(640, 360, 1, "task_google_1_1", &hash, 0).expect("png");
        let c = render_png(640, 360, 1, "task_google_1_1", &hash, 1).expect("png");
        assert_eq!(a, b);
        assert_ne!(a, c);
        let decoded = image::load_from_memory_with_format(&a, ImageFormat::Png).expect("decodes");
        assert_eq!((decoded.width(), decoded.height()), (640, 360));
        let jpeg = render(64, 48, 1, "imagen", &hash, 0, Encoding::Jpeg(80)).expect("jpeg");
        assert_eq!(image::guess_format(&jpeg).expect("a format"), ImageFormat::Jpeg);
        let webp = render(64, 48, 1, "sdcpp", &hash, 0, Encoding::Webp).expect("webp");
        let decoded = image::load_from_memory_with_format(&webp, ImageFormat::WebP).expect("decodes");
        assert_eq!((decoded.width(), decoded.height()), (64, 48));
    }
}
