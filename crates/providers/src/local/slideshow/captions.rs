//! Captions: a lower third, drawn once per image with the system fonts (CJK
//! included: the font set picks a face per character), then laid on each of the
//! image's frames before any cross-fade, so a caption fades with its picture.
//!
//! Legible on any picture: white text with a thin dark outline on a translucent
//! dark band with rounded corners, centred near the bottom, wrapped to the frame's
//! width (at most three lines; a line break in the caption starts a new line; what
//! does not fit ends with an ellipsis). Drawn in Rust rather than by ffmpeg's
//! `drawtext`, which needs a font file path, knows no fallback between faces, and is
//! missing from some ffmpeg builds.

use image::RgbImage;

use super::super::text::FontSet;

const MAX_LINES: usize = 3;
const BAND_OPACITY: f32 = 0.55;

/// A caption ready to lay on frames: premultiplied RGBA over a box of the frame.
#[derive(Debug, Clone)]
pub struct Caption {
    left: u32,
    top: u32,
    width: u32,
    height: u32,
    pixels: Vec<u8>,
}

/// The caption for `text` on frames of `frame` pixels; `None` for an empty text.
pub fn caption(text: &str, frame: (u32, u32), fonts: &FontSet) -> Option<Caption> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let (frame_width, frame_height) = (frame.0 as f32, frame.1 as f32);
    let px = (frame_width.min(frame_height) * 0.055).max(10.0);
    let (pad_x, pad_y, line_height) = (px * 0.6, px * 0.35, px * 1.3);
    let max_width = (frame_width * 0.9 - 2.0 * pad_x).max(px);
    let lines = wrap(text, fonts, px, max_width);
    if lines.is_empty() {
        return None;
    }
    let widest = lines.iter().map(|line| fonts.measure(line, px)).fold(0.0f32, f32::max).min(max_width);
    let width = ((widest + 2.0 * pad_x).ceil() as u32).clamp(1, frame.0);
    let height = ((lines.len() as f32 * line_height + 2.0 * pad_y).ceil() as u32).clamp(1, frame.1);

    // The text's coverage, drawn white on black.
    let mut text_mask = RgbImage::new(width, height);
    let (ascent, descent) = fonts.line_metrics(px);
    for (i, line) in lines.iter().enumerate() {
        let x = (width as f32 - fonts.measure(line, px)) / 2.0;
        let center = pad_y + (i as f32 + 0.5) * line_height;
        fonts.draw(&mut text_mask, line, (x, center + (ascent - descent) / 2.0), px, [255, 255, 255], 1.0);
    }
    let text_mask: Vec<u8> = text_mask.pixels().map(|pixel| pixel.0[0]).collect();
    let outline = dilate(&text_mask, width, height, (px / 14.0).round().max(1.0) as i64);
    let corner = px * 0.3;

    let mut pixels = Vec::with_capacity(text_mask.len() * 4);
    for y in 0..height {
        for x in 0..width {
            let i = (y * width + x) as usize;
            let (text, outline) = (f32::from(text_mask[i]) / 255.0, f32::from(outline[i]) / 255.0);
            let mut alpha = BAND_OPACITY * rounded_box_coverage(x, y, width, height, corner);
            let mut color = 0.0f32;
            // The outline (black) over the band, then the text (white) over both.
            color *= 1.0 - outline;
            alpha = outline + alpha * (1.0 - outline);
            color = 255.0 * text + color * (1.0 - text);
            alpha = text + alpha * (1.0 - text);
            let color = color.round().clamp(0.0, 255.0) as u8;
            pixels.extend_from_slice(&[color, color, color, (alpha * 255.0).round().clamp(0.0, 255.0) as u8]);
        }
    }
    let left = (frame.0 - width) / 2;
    let margin = (frame_height * 0.07).round() as u32;
    let top = frame.1.saturating_sub(margin + height);
    Some(Caption { left, top, width, height, pixels })
}

impl Caption {
    /// Lays the caption on an RGB frame `frame_width` pixels wide.
    pub fn draw(&self, frame: &mut [u8], frame_width: u32) {
        for y in 0..self.height {
            let row = ((self.top + y) * frame_width + self.left) as usize * 3;
            let source = (y * self.width) as usize * 4;
            for x in 0..self.width as usize {
                let [color, _, _, alpha] = [
                    self.pixels[source + x * 4],
                    self.pixels[source + x * 4 + 1],
                    self.pixels[source + x * 4 + 2],
                    self.pixels[source + x * 4 + 3],
                ];
                if alpha == 0 {
                    continue;
                }
                let keep = 255 - u32::from(alpha);
                for channel in &mut frame[row + x * 3..row + x * 3 + 3] {
                    *channel = (u32::from(color) + (u32::from(*channel) * keep + 127) / 255).min(255) as u8;
                }
            }
        }
    }

    /// The box it covers: `(left, top, width, height)`.
    #[cfg(test)]
    pub fn area(&self) -> (u32, u32, u32, u32) {
        (self.left, self.top, self.width, self.height)
    }
}

/// The caption's lines: each paragraph wrapped, at most [`MAX_LINES`] in all, the
/// last ending with an ellipsis when text was left out.
fn wrap(text: &str, fonts: &FontSet, px: f32, max_width: f32) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let paragraphs: Vec<&str> = text.lines().map(str::trim).filter(|line| !line.is_empty()).collect();
    for (i, paragraph) in paragraphs.iter().enumerate() {
        let room = MAX_LINES - lines.len();
        lines.extend(fonts.wrap(paragraph, px, max_width, room));
        if lines.len() >= MAX_LINES && i + 1 < paragraphs.len() {
            if let Some(last) = lines.last_mut() {
                *last = with_ellipsis(last, fonts, px, max_width);
            }
            break;
        }
    }
    lines
}

fn with_ellipsis(line: &str, fonts: &FontSet, px: f32, max_width: f32) -> String {
    if line.ends_with('…') || line.ends_with("...") {
        return line.to_owned();
    }
    let mut chars: Vec<char> = line.trim_end().chars().collect();
    loop {
        let candidate = format!("{}…", chars.iter().collect::<String>().trim_end());
        if chars.is_empty() || fonts.measure(&candidate, px) <= max_width {
            return candidate;
        }
        chars.pop();
    }
}

/// The mask grown by `radius` pixels (a disc): the text's outline.
fn dilate(mask: &[u8], width: u32, height: u32, radius: i64) -> Vec<u8> {
    let (w, h) = (i64::from(width), i64::from(height));
    let mut grown = vec![0u8; mask.len()];
    for y in 0..h {
        for x in 0..w {
            let mut most = 0u8;
            for dy in -radius..=radius {
                for dx in -radius..=radius {
                    let (sx, sy) = (x + dx, y + dy);
                    if dx * dx + dy * dy <= radius * radius && (0..w).contains(&sx) && (0..h).contains(&sy) {
                        most = most.max(mask[(sy * w + sx) as usize]);
                    }
                }
            }
            grown[(y * w + x) as usize] = most;
        }
    }
    grown
}

/// How much of pixel `(x, y)` a `width`×`height` box with corners of `radius` covers.
fn rounded_box_coverage(x: u32, y: u32, width: u32, height: u32, radius: f32) -> f32 {
    let (px, py) = (x as f32 + 0.5, y as f32 + 0.5);
    let (w, h) = (width as f32, height as f32);
    let cx = if px < radius {
        radius
    } else if px > w - radius {
        w - radius
    } else {
        return 1.0;
    };
    let cy = if py < radius {
        radius
    } else if py > h - radius {
        h - radius
    } else {
        return 1.0;
    };
    let distance = ((px - cx).powi(2) + (py - cy).powi(2)).sqrt();
    (radius - distance + 0.5).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_caption_is_a_lower_third_that_darkens_and_writes() {
        let fonts = FontSet::system();
        let caption = caption("The harbour at dawn", (320, 180), fonts).expect("a caption");
        let (left, top, width, height) = caption.area();
        assert!(top > 90 && top + height <= 180, "in the lower half: {top} {height}");
        assert!(left + width <= 320 && width > 40, "{left} {width}");
        let mut frame = vec![128u8; 320 * 180 * 3];
        caption.draw(&mut frame, 320);
        let at = |x: u32, y: u32| frame[((y * 320 + x) * 3) as usize];
        assert_eq!(at(5, 5), 128, "the top is untouched");
        let inside: Vec<u8> = (top + 1..top + height - 1)
            .flat_map(|y| (left + 2..left + width - 2).map(move |x| (x, y)))
            .map(|(x, y)| at(x, y))
            .collect();
        assert!(inside.iter().any(|&v| v < 100), "the band darkens");
        assert!(inside.iter().any(|&v| v > 200), "the text is light");
    }

    #[test]
    fn long_captions_wrap_and_stop_at_three_lines() {
        let fonts = FontSet::system();
        let long = "a caption long enough to need several lines on a small frame, and then some more words";
        let lines = wrap(long, fonts, 10.0, 120.0);
        assert!(lines.len() == MAX_LINES, "{lines:?}");
        let paragraphs = wrap("one\ntwo\nthree\nfour", fonts, 10.0, 120.0);
        assert_eq!(paragraphs.len(), MAX_LINES, "{paragraphs:?}");
        assert!(paragraphs[2].ends_with('…'), "{paragraphs:?}");
        assert!(caption("  ", (320, 180), fonts).is_none());
        // Tiny frames and no fonts at all still draw something, within the frame.
        let boxes = caption("中文 and more", (64, 64), &FontSet::empty()).expect("boxes");
        let (left, top, width, height) = boxes.area();
        assert!(left + width <= 64 && top + height <= 64);
    }

    #[test]
    fn the_outline_grows_the_mask() {
        let mut mask = vec![0u8; 25];
        mask[12] = 255;
        let grown = dilate(&mask, 5, 5, 1);
        assert_eq!(grown.iter().filter(|&&v| v == 255).count(), 5, "a plus sign: {grown:?}");
        assert_eq!(rounded_box_coverage(0, 0, 20, 20, 6.0), 0.0);
        assert_eq!(rounded_box_coverage(10, 10, 20, 20, 6.0), 1.0);
    }
}
