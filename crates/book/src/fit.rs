//! Sizing a balloon to its text, and placing text inside a balloon.
//!
//! Text sits in the balloon's inner box: for an ellipse the box is 0.72 of the
//! balloon's width and height (the largest rectangle inside an ellipse is 0.707), for
//! a cloud 0.64, for a burst 0.58, and a narration box keeps the whole rectangle; on top
//! of that each kind keeps a margin of a fraction of an em around the text.

use crate::error::BookError;
use crate::fonts::FontBook;
use crate::model::{BalloonKind, Rect};
use crate::typeset::{ShapedText, TextLayout, TextStyle, check_box, check_size};

/// How much a font shrinks per step while fitting.
const SHRINK: f32 = 0.92;

/// A balloon sized to its text.
#[derive(Clone, Debug)]
pub struct Fit {
    /// The balloon's outer width.
    pub width: f32,
    /// The balloon's outer height.
    pub height: f32,
    /// The font size the text fits at.
    pub font_size: f32,
    /// Even the smallest font size allowed does not fit.
    pub overflow: bool,
    /// The text laid out at that size, relative to the text box (the balloon's inner
    /// box, centred in the balloon).
    pub layout: TextLayout,
}

/// The share of the balloon's box the text may use, and the margin kept around the
/// text in ems.
pub(crate) fn padding(kind: BalloonKind) -> (f32, f32) {
    match kind {
        BalloonKind::Speech | BalloonKind::Whisper => (0.72, 0.25),
        BalloonKind::Thought => (0.64, 0.3),
        BalloonKind::Shout => (0.58, 0.25),
        BalloonKind::Narration => (1.0, 0.6),
    }
}

/// The box text goes in, inside a balloon of `rect`, at `font_size`.
pub fn inner_box(kind: BalloonKind, rect: Rect, font_size: f32) -> Rect {
    let (ratio, margin) = padding(kind);
    rect.scaled_about_center(ratio, ratio).inset(margin * font_size)
}

/// The balloon's outer size for a text block of `text` (width, height).
fn outer_size(kind: BalloonKind, text: (f32, f32), font_size: f32) -> (f32, f32) {
    let (ratio, margin) = padding(kind);
    ((text.0 + 2.0 * margin * font_size) / ratio, (text.1 + 2.0 * margin * font_size) / ratio)
}

/// Sizes a balloon to its text: the smallest balloon (text box plus the kind's
/// padding) that fits the text at `font_size` within `max` (width, height); the font
/// shrinks (8% a step) down to `min_font_size` when it must. `overflow` is set when
/// even that does not fit; the balloon is then as large as `max` allows.
///
/// Among the line lengths that fit, the one giving the smallest balloon wins, with a
/// penalty for shapes far from a comfortable one (wider than tall for horizontal
/// text, taller than wide for vertical text), so balloons come out rounded rather than
/// a thin strip of one line.
#[allow(clippy::too_many_arguments)]
pub fn fit_balloon(
    fonts: &FontBook,
    text: &str,
    language: &str,
    kind: BalloonKind,
    vertical: bool,
    font_size: f32,
    min_font_size: f32,
    max: (f32, f32),
) -> Result<Fit, BookError> {
    let style = TextStyle { language: language.to_string(), vertical, bold: false, font_size };
    fit_balloon_styled(fonts, text, kind, &style, min_font_size, max)
}

/// [`fit_balloon`] with the bold face when `style.bold` is set; `style.font_size` is
/// the size to start from.
pub fn fit_balloon_styled(
    fonts: &FontBook,
    text: &str,
    kind: BalloonKind,
    style: &TextStyle,
    min_font_size: f32,
    max: (f32, f32),
) -> Result<Fit, BookError> {
    check_size(style.font_size)?;
    check_size(min_font_size)?;
    check_box(max)?;
    let shaped = ShapedText::shape(fonts, text, &style.language, style.bold, style.vertical)?;
    let target = if style.vertical { 0.8 } else { 1.35 };
    let (ratio, margin) = padding(kind);
    let mut size = style.font_size;
    let min = min_font_size.min(style.font_size);
    loop {
        let inner = (max.0 * ratio - 2.0 * margin * size, max.1 * ratio - 2.0 * margin * size);
        // A smaller font comes before a break inside a word or against kinsoku; at the
        // smallest size such a break is taken.
        let last_try = size <= min;
        if inner.0 > 0.0 && inner.1 > 0.0 {
            let outer = |l: &TextLayout| outer_size(kind, (l.width, l.height), size);
            let best = pick(candidates(&shaped, size, inner, style.vertical), last_try, |l| score(outer(l), target));
            if let Some(layout) = best {
                let (width, height) = outer(&layout);
                return Ok(Fit {
                    width: width.min(max.0),
                    height: height.min(max.1),
                    font_size: size,
                    overflow: false,
                    layout,
                });
            }
        }
        if last_try {
            break;
        }
        size = (size * SHRINK).max(min);
    }
    let inner = ((max.0 * ratio - 2.0 * margin * min).max(0.0), (max.1 * ratio - 2.0 * margin * min).max(0.0));
    let layout = shaped.layout(min, inner);
    let (width, height) = outer_size(kind, (layout.width, layout.height), min);
    Ok(Fit { width: width.min(max.0), height: height.min(max.1), font_size: min, overflow: true, layout })
}

/// The best-scoring layout without forced breaks, or (when `allow_forced`) with the
/// fewest.
fn pick(layouts: Vec<TextLayout>, allow_forced: bool, score: impl Fn(&TextLayout) -> f32) -> Option<TextLayout> {
    let fewest = layouts.iter().map(|l| l.forced_breaks).min()?;
    if fewest > 0 && !allow_forced {
        return None;
    }
    layouts.into_iter().filter(|l| l.forced_breaks == fewest).min_by(|a, b| score(a).total_cmp(&score(b)))
}

/// Layouts that fit `inner` at `size`, for line lengths from a third of the box to all of it.
fn candidates(shaped: &ShapedText, size: f32, inner: (f32, f32), vertical: bool) -> Vec<TextLayout> {
    let full = if vertical { inner.1 } else { inner.0 };
    let mut out = Vec::new();
    for step in 0..=8 {
        let measure = (full * (0.3 + 0.7 * step as f32 / 8.0)).max(size.min(full));
        let max = if vertical { (inner.0, measure) } else { (measure, inner.1) };
        let layout = shaped.layout(size, max);
        if !layout.overflow && layout.width <= inner.0 + 0.01 && layout.height <= inner.1 + 0.01 {
            out.push(layout);
        }
    }
    out
}

/// Smaller is better: the area, made worse the further the shape is from `target`
/// (width over height).
fn score((w, h): (f32, f32), target: f32) -> f32 {
    let aspect = if h > 0.0 { w / h } else { 1.0 };
    w * h * (1.0 + 0.5 * (aspect / target).ln().abs())
}

/// Lays a balloon's text out inside its inner box, centred, in page coordinates: the
/// balloon's font size when the text fits, else smaller (down to half) until it does.
pub(crate) fn layout_in_balloon(
    fonts: &FontBook,
    text: &str,
    kind: BalloonKind,
    rect: Rect,
    style: &TextStyle,
) -> Result<TextLayout, BookError> {
    check_size(style.font_size)?;
    let shaped = ShapedText::shape(fonts, text, &style.language, style.bold, style.vertical)?;
    let floor = style.font_size * 0.5;
    let mut size = style.font_size;
    let layout = loop {
        let inner = inner_box(kind, rect, size);
        let target = if inner.h > 0.0 { inner.w / inner.h } else { 1.0 };
        let last_try = size <= floor;
        let fitting = candidates(&shaped, size, (inner.w, inner.h), style.vertical);
        if let Some(layout) = pick(fitting, last_try, |l| score((l.width, l.height), target)) {
            break layout;
        }
        if last_try {
            break shaped.layout(size, (inner.w.max(0.0), inner.h.max(0.0)));
        }
        size = (size * SHRINK).max(floor);
    };
    let inner = inner_box(kind, rect, layout.font_size);
    let (cx, cy) = inner.center();
    let (w, h) = (layout.width, layout.height);
    Ok(layout.translated(cx - w / 2.0, cy - h / 2.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::fonts;

    #[test]
    fn a_short_line_gets_a_small_balloon() {
        let fit =
            fit_balloon(fonts(), "Hi!", "en", BalloonKind::Speech, false, 20.0, 10.0, (400.0, 300.0)).expect("fit");
        assert!(!fit.overflow);
        assert_eq!(fit.font_size, 20.0);
        assert!(fit.width < 120.0 && fit.height < 80.0, "{fit:?}");
        assert!(fit.width >= fit.layout.width / 0.72);
    }

    #[test]
    fn long_text_wraps_into_a_rounded_balloon() {
        let text = "I told you already, the treasure is buried under the old oak tree by the river!";
        let fit =
            fit_balloon(fonts(), text, "en", BalloonKind::Speech, false, 18.0, 10.0, (500.0, 400.0)).expect("fit");
        assert!(!fit.overflow);
        assert!(fit.layout.lines >= 3, "{} lines", fit.layout.lines);
        let aspect = fit.width / fit.height;
        assert!((0.8..2.5).contains(&aspect), "aspect {aspect}");
    }

    #[test]
    fn the_font_shrinks_then_overflows() {
        let text = "吾輩は猫である。名前はまだ無い。どこで生れたかとんと見当がつかぬ。";
        let fit = fit_balloon(fonts(), text, "ja", BalloonKind::Speech, true, 30.0, 12.0, (200.0, 200.0)).expect("fit");
        assert!(!fit.overflow);
        assert!(fit.font_size < 30.0 && fit.font_size >= 12.0);
        assert!(fit.width <= 200.0 && fit.height <= 200.0);
        let fit = fit_balloon(fonts(), text, "ja", BalloonKind::Speech, true, 30.0, 20.0, (80.0, 80.0)).expect("fit");
        assert!(fit.overflow);
        assert_eq!(fit.font_size, 20.0);
    }

    #[test]
    fn kinds_pad_differently() {
        let size = |kind| {
            fit_balloon(fonts(), "Wait!", "en", kind, false, 20.0, 10.0, (600.0, 600.0)).map(|f| f.width).unwrap_or(0.0)
        };
        assert!(size(BalloonKind::Shout) > size(BalloonKind::Speech));
        assert!(size(BalloonKind::Narration) < size(BalloonKind::Speech));
    }

    #[test]
    fn balloon_text_is_centred_in_the_balloon() {
        let rect = Rect::new(100.0, 100.0, 200.0, 300.0);
        let style = TextStyle { language: "ja".into(), vertical: true, bold: false, font_size: 20.0 };
        let layout = layout_in_balloon(fonts(), "猫です。", BalloonKind::Speech, rect, &style).expect("layout");
        let inner = inner_box(BalloonKind::Speech, rect, layout.font_size);
        for g in &layout.glyphs {
            assert!(inner.contains((g.x + 1.0, g.y + 1.0)), "{g:?} outside {inner:?}");
        }
    }
}
