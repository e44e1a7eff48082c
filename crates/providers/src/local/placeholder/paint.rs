//! Painting the placeholder's shapes. Everything writes straight into the RGB buffer,
//! row by row.

use image::RgbImage;

use super::super::SplitMix64;
use super::palette::{Palette, Rgb};

#[inline]
pub(super) fn blend_pixel(pixel: &mut [u8], color: Rgb, alpha: f32) {
    for (channel, target) in pixel.iter_mut().zip(color) {
        let value = f32::from(*channel) + (target - f32::from(*channel)) * alpha;
        *channel = (value + 0.5).clamp(0.0, 255.0) as u8;
    }
}

/// `0` at `edge0`, `1` at `edge1`, smooth in between.
#[inline]
pub(super) fn smoothstep(t: f32) -> f32 {
    let t = t.clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

fn random_direction(rng: &mut SplitMix64) -> (f32, f32) {
    loop {
        let (x, y) = (rng.range(-1.0, 1.0), rng.range(-1.0, 1.0));
        let length = (x * x + y * y).sqrt();
        if (0.2..=1.0).contains(&length) {
            return (x / length, y / length);
        }
    }
}

pub(super) fn paint_background(image: &mut RgbImage, palette: &Palette, rng: &mut SplitMix64) {
    let (width, height) = (image.width() as usize, image.height() as usize);
    let (ux, uy) = random_direction(rng);
    let (cx, cy) = (width as f32 / 2.0, height as f32 / 2.0);
    let extent = (ux.abs() * cx + uy.abs() * cy).max(1.0);
    let [from, to] = palette.background;
    let delta = [to[0] - from[0], to[1] - from[1], to[2] - from[2]];
    let buffer: &mut [u8] = image;
    for (y, row) in buffer.chunks_exact_mut(width * 3).enumerate() {
        let row_offset = (y as f32 - cy) * uy;
        for (x, pixel) in row.chunks_exact_mut(3).enumerate() {
            let t = (((x as f32 - cx) * ux + row_offset) / extent * 0.5 + 0.5).clamp(0.0, 1.0);
            pixel[0] = (from[0] + delta[0] * t + 0.5) as u8;
            pixel[1] = (from[1] + delta[1] * t + 0.5) as u8;
            pixel[2] = (from[2] + delta[2] * t + 0.5) as u8;
        }
    }
}

/// Calls `f(x, pixel)` for every pixel of rows `y0..y1` and columns `x0..x1` (clipped).
pub(super) fn for_each_in(
    image: &mut RgbImage,
    (x0, y0, x1, y1): (f32, f32, f32, f32),
    mut f: impl FnMut(f32, f32, &mut [u8]),
) {
    let (width, height) = (image.width() as usize, image.height() as usize);
    let clip = |v: f32, max: usize| (v.max(0.0) as usize).min(max);
    let (x0, x1) = (clip(x0.floor(), width), clip(x1.ceil(), width));
    let (y0, y1) = (clip(y0.floor(), height), clip(y1.ceil(), height));
    if x0 >= x1 || y0 >= y1 {
        return;
    }
    let buffer: &mut [u8] = image;
    for y in y0..y1 {
        let row = &mut buffer[(y * width + x0) * 3..(y * width + x1) * 3];
        for (i, pixel) in row.chunks_exact_mut(3).enumerate() {
            f((x0 + i) as f32 + 0.5, y as f32 + 0.5, pixel);
        }
    }
}

pub(super) fn paint_circle(image: &mut RgbImage, rng: &mut SplitMix64, color: Rgb, opacity: f32) {
    let (w, h) = (image.width() as f32, image.height() as f32);
    let min_side = w.min(h);
    let (cx, cy) = (rng.range(-0.1, 1.1) * w, rng.range(-0.1, 1.1) * h);
    let radius = rng.range(0.08, 0.38) * min_side;
    let soft = (radius * rng.range(0.08, 0.7)).max(1.0);
    let inner = (radius - soft).max(0.0);
    let (inner_sq, radius_sq) = (inner * inner, radius * radius);
    for_each_in(image, (cx - radius, cy - radius, cx + radius, cy + radius), |x, y, pixel| {
        let d_sq = (x - cx) * (x - cx) + (y - cy) * (y - cy);
        if d_sq >= radius_sq {
            return;
        }
        let alpha = if d_sq <= inner_sq { opacity } else { opacity * smoothstep((radius - d_sq.sqrt()) / soft) };
        blend_pixel(pixel, color, alpha);
    });
}

pub(super) fn paint_rect(image: &mut RgbImage, rng: &mut SplitMix64, color: Rgb, opacity: f32) {
    let (w, h) = (image.width() as f32, image.height() as f32);
    let min_side = w.min(h);
    let (rw, rh) = (rng.range(0.12, 0.55) * w, rng.range(0.08, 0.45) * h);
    let (x0, y0) = (rng.range(-0.1, 0.95) * w - rw / 2.0, rng.range(-0.1, 0.95) * h - rh / 2.0);
    let (x1, y1) = (x0 + rw, y0 + rh);
    let soft = (min_side * rng.range(0.005, 0.06)).max(1.0);
    for_each_in(image, (x0, y0, x1, y1), |x, y, pixel| {
        let edge = (x - x0).min(x1 - x).min(y - y0).min(y1 - y);
        let alpha = if edge >= soft { opacity } else { opacity * smoothstep(edge / soft) };
        blend_pixel(pixel, color, alpha);
    });
}

pub(super) fn paint_band(image: &mut RgbImage, rng: &mut SplitMix64, color: Rgb, opacity: f32) {
    let (w, h) = (image.width() as f32, image.height() as f32);
    let min_side = w.min(h);
    let (nx, ny) = random_direction(rng);
    let (px, py) = (rng.range(0.1, 0.9) * w, rng.range(0.1, 0.9) * h);
    let offset = px * nx + py * ny;
    let half = rng.range(0.02, 0.1) * min_side;
    let soft = (half * rng.range(0.1, 0.8)).max(1.0);
    for_each_in(image, (0.0, 0.0, w, h), |x, y, pixel| {
        let distance = (x * nx + y * ny - offset).abs();
        if distance >= half {
            return;
        }
        blend_pixel(pixel, color, opacity * smoothstep((half - distance) / soft));
    });
}
