//! The placeholder's text: a "PLACEHOLDER" band across the top, the prompt, and a line
//! naming the engine, seed and size.

use image::RgbImage;

use super::super::SERVICE;
use super::super::text::{FontSet, fill_rect};
use super::{MODEL, PlaceholderParams};

const LABEL_COLOR: [u8; 3] = [255, 214, 10];
const TEXT_COLOR: [u8; 3] = [255, 255, 255];
const INFO_COLOR: [u8; 3] = [228, 228, 228];

/// The largest size not above `px` at which `text` fits in `max_width`.
fn fit(fonts: &FontSet, text: &str, px: f32, max_width: f32) -> f32 {
    let width = fonts.measure(text, px);
    if width <= max_width || width <= 0.0 { px } else { px * max_width / width }
}

fn draw_centered(fonts: &FontSet, image: &mut RgbImage, text: &str, center_y: f32, px: f32, color: [u8; 3]) {
    let (ascent, descent) = fonts.line_metrics(px);
    let x = (image.width() as f32 - fonts.measure(text, px)) / 2.0;
    let baseline = center_y + (ascent - descent) / 2.0;
    fonts.draw(image, text, (x, baseline), px, color, 1.0);
}

pub(super) fn draw_labels(image: &mut RgbImage, params: &PlaceholderParams, seed: u32, fonts: &FontSet) {
    let (w, h) = (image.width() as f32, image.height() as f32);
    let min_side = w.min(h);

    // The label band across the top, with a yellow rule under it.
    let band = (min_side * 0.1).max(12.0).min(h / 3.0).round();
    fill_rect(image, 0, 0, w as i64, band as i64, [0, 0, 0], 0.62);
    let rule = (band / 14.0).round().max(1.0);
    fill_rect(image, 0, band as i64, w as i64, (band + rule) as i64, LABEL_COLOR, 1.0);
    let title = "PLACEHOLDER";
    let title_px = fit(fonts, title, band * 0.58, w * 0.9);
    if title_px >= 5.0 {
        draw_centered(fonts, image, title, band / 2.0, title_px, LABEL_COLOR);
    }

    // The info line along the bottom.
    let info_px = min_side * 0.03;
    let mut bottom = h;
    if info_px >= 6.0 {
        let info = format!("{SERVICE}/{MODEL} · seed {seed} · {}×{}", image.width(), image.height());
        let info_px = fit(fonts, &info, info_px, w - info_px * 2.0);
        let info_band = (min_side * 0.03 * 2.2).round();
        bottom = h - info_band;
        fill_rect(image, 0, bottom as i64, w as i64, h as i64, [0, 0, 0], 0.55);
        if info_px >= 5.0 {
            draw_centered(fonts, image, &info, h - info_band / 2.0, info_px, INFO_COLOR);
        }
    }

    // The prompt, wrapped, on a translucent panel in the middle.
    let prompt_px = min_side * 0.055;
    if prompt_px < 7.0 {
        return;
    }
    let top = band + rule;
    let line_height = prompt_px * 1.35;
    let room = ((bottom - top - prompt_px) / line_height).floor().max(0.0) as usize;
    let max_lines = room.min(if h > w * 1.3 { 5 } else { 3 });
    let lines = fonts.wrap(&params.prompt, prompt_px, w * 0.82, max_lines);
    if lines.is_empty() {
        return;
    }
    let widest = lines.iter().map(|line| fonts.measure(line, prompt_px)).fold(0.0f32, f32::max);
    let pad = prompt_px * 0.6;
    let block = lines.len() as f32 * line_height;
    let center = (top + bottom) / 2.0;
    let (x0, y0) = ((w - widest) / 2.0 - pad, center - block / 2.0 - pad);
    fill_rect(
        image,
        x0.floor() as i64,
        y0.floor() as i64,
        (x0 + widest + 2.0 * pad).ceil() as i64,
        (y0 + block + 2.0 * pad).ceil() as i64,
        [0, 0, 0],
        0.45,
    );
    for (i, line) in lines.iter().enumerate() {
        let line_center = center - block / 2.0 + (i as f32 + 0.5) * line_height;
        draw_centered(fonts, image, line, line_center, prompt_px, TEXT_COLOR);
    }
}
