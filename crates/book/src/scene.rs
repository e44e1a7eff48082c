//! A page as a list of drawing operations, built once and drawn by either backend
//! (the PNG rasterizer or the PDF writer), so both show the same page.
//!
//! Drawing order: panel art (or the placeholder), speed and focus lines, panel
//! borders, sound effects, then balloons over everything.

use crate::balloon::balloon_ops;
use crate::effects::{focus_lines, speed_lines};
use crate::error::BookError;
use crate::fit::layout_in_balloon;
use crate::fonts::FontBook;
use crate::geometry::{Affine, Shape};
use crate::model::{Effect, Page, PanelArt, Rect};
use crate::typeset::{PlacedGlyph, ShapedText, TextStyle};

/// The largest page side accepted, in pixels.
pub(crate) const MAX_PAGE_SIDE: u32 = 10_000;

/// An opaque colour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Color(pub(crate) u8, pub(crate) u8, pub(crate) u8);

impl Color {
    pub(crate) const BLACK: Color = Color(0, 0, 0);
    pub(crate) const WHITE: Color = Color(255, 255, 255);
    /// The fill of a placeholder panel.
    pub(crate) const PLACEHOLDER: Color = Color(0xD8, 0xD8, 0xD8);
    /// Text on a placeholder panel.
    pub(crate) const PLACEHOLDER_TEXT: Color = Color(0x55, 0x55, 0x55);
}

/// How the ends and corners of a stroke look.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Join {
    Miter,
    Round,
}

/// One drawing operation, in page pixels.
#[derive(Debug)]
pub(crate) enum Op<'a> {
    Fill {
        shape: Shape,
        color: Color,
    },
    Stroke {
        shape: Shape,
        color: Color,
        width: f32,
        dash: Option<Vec<f32>>,
        join: Join,
    },
    /// An encoded image whose whole extent lands on `placement`, clipped to `frame`.
    Image {
        bytes: &'a [u8],
        frame: Rect,
        placement: Rect,
    },
    /// Glyphs mapped through `transform`, filled; with `halo` (colour, width) first
    /// stroked wide behind the fill.
    Text {
        glyphs: Vec<PlacedGlyph>,
        transform: Affine,
        color: Color,
        halo: Option<(Color, f32)>,
    },
    /// Everything until the matching `PopClip` is clipped to the shape.
    PushClip(Shape),
    PopClip,
}

/// Checks the page's size.
pub(crate) fn check_page(page: &Page) -> Result<(), BookError> {
    if page.width == 0 || page.height == 0 || page.width > MAX_PAGE_SIDE || page.height > MAX_PAGE_SIDE {
        return Err(BookError::Invalid(format!(
            "page size {}×{} is outside 1…{MAX_PAGE_SIDE} pixels",
            page.width, page.height
        )));
    }
    Ok(())
}

/// The width of balloon outlines on this page.
pub(crate) fn line_width(page: &Page) -> f32 {
    (page.width as f32 * 0.0022).max(1.5)
}

/// The width of panel borders on this page (0.4% of the page width).
pub(crate) fn border_width(page: &Page) -> f32 {
    (page.width as f32 * 0.004).max(1.0)
}

/// Builds the page's drawing operations.
pub(crate) fn compose<'a>(fonts: &FontBook, page: &'a Page) -> Result<Vec<Op<'a>>, BookError> {
    check_page(page)?;
    let mut ops = Vec::new();
    for (index, panel) in page.panels.iter().enumerate() {
        if !panel.frame.is_usable() {
            return Err(BookError::Invalid(format!("panel {index} has an unusable frame {:?}", panel.frame)));
        }
        panel_ops(fonts, page, panel, &mut ops)?;
    }
    for effect in &page.effects {
        match effect {
            Effect::SpeedLines { panel, angle_degrees } if panel.is_usable() => {
                ops.push(Op::PushClip(rect_shape(*panel)));
                ops.push(Op::Fill { shape: speed_lines(*panel, *angle_degrees), color: Color::BLACK });
                ops.push(Op::PopClip);
            }
            Effect::FocusLines { panel, center } if panel.is_usable() => {
                ops.push(Op::PushClip(rect_shape(*panel)));
                ops.push(Op::Fill { shape: focus_lines(*panel, *center), color: Color::BLACK });
                ops.push(Op::PopClip);
            }
            Effect::SpeedLines { panel, .. } | Effect::FocusLines { panel, .. } => {
                return Err(BookError::Invalid(format!("an effect has an unusable panel {panel:?}")));
            }
            Effect::Sfx { .. } => {}
        }
    }
    let border = border_width(page);
    for panel in &page.panels {
        ops.push(Op::Stroke {
            shape: rect_shape(panel.frame),
            color: Color::BLACK,
            width: border,
            dash: None,
            join: Join::Miter,
        });
    }
    for effect in &page.effects {
        if let Effect::Sfx { text, rect, angle_degrees, vertical } = effect {
            ops.extend(sfx_ops(fonts, &page.language, text, *rect, *angle_degrees, *vertical)?);
        }
    }
    let line = line_width(page);
    for balloon in &page.balloons {
        if !balloon.rect.is_usable() {
            return Err(BookError::Invalid(format!(
                "balloon {:?} has an unusable rect {:?}",
                balloon.id, balloon.rect
            )));
        }
        ops.extend(balloon_ops(balloon, line));
        let style = TextStyle {
            language: page.language.clone(),
            vertical: balloon.vertical,
            bold: balloon.bold,
            font_size: balloon.font_size,
        };
        let layout = layout_in_balloon(fonts, &balloon.text, balloon.kind, balloon.rect, &style)?;
        ops.push(Op::Text { glyphs: layout.glyphs, transform: Affine::IDENTITY, color: Color::BLACK, halo: None });
    }
    Ok(ops)
}

pub(crate) fn rect_shape(r: Rect) -> Shape {
    let mut s = Shape::new();
    s.rect(r);
    s
}

/// A panel's art: its image covering the frame, or a grey placeholder with its text.
fn panel_ops<'a>(fonts: &FontBook, page: &Page, panel: &'a PanelArt, ops: &mut Vec<Op<'a>>) -> Result<(), BookError> {
    let frame = panel.frame;
    if let Some(bytes) = &panel.image {
        let (w, h) = image_size(bytes)?;
        ops.push(Op::Image { bytes, frame, placement: cover_placement(frame, (w, h), panel.crop)? });
        return Ok(());
    }
    ops.push(Op::Fill { shape: rect_shape(frame), color: Color::PLACEHOLDER });
    let inner = frame.inset(frame.w.min(frame.h) * 0.06);
    let label_size = (frame.w / 40.0).clamp(9.0, 16.0);
    if let Some(text) = panel.placeholder_text.as_deref().filter(|t| !t.trim().is_empty()) {
        let size = (frame.w / 16.0).clamp(10.0, 32.0);
        let area = Rect::new(inner.x, inner.y, inner.w, (inner.h - label_size * 1.5).max(1.0));
        let layout = fit_in_rect(fonts, text, &page.language, size, area)?;
        ops.push(Op::Text { glyphs: layout, transform: Affine::IDENTITY, color: Color::PLACEHOLDER_TEXT, halo: None });
    }
    let style = TextStyle { language: page.language.clone(), vertical: false, bold: false, font_size: label_size };
    let label = ShapedText::shape(fonts, "placeholder", &style.language, false, false)?
        .layout(label_size, (f32::MAX, f32::MAX));
    let (lw, lh) = (label.width, label.height);
    let label = label.translated(inner.right() - lw, inner.bottom() - lh);
    ops.push(Op::Text {
        glyphs: label.glyphs,
        transform: Affine::IDENTITY,
        color: Color::PLACEHOLDER_TEXT,
        halo: None,
    });
    Ok(())
}

/// Horizontal text wrapped and centred in `area`, shrunk (down to 8 px) until it fits.
fn fit_in_rect(
    fonts: &FontBook,
    text: &str,
    language: &str,
    size: f32,
    area: Rect,
) -> Result<Vec<PlacedGlyph>, BookError> {
    let shaped = ShapedText::shape(fonts, text, language, false, false)?;
    let mut size = size;
    let layout = loop {
        let layout = shaped.layout(size, (area.w, area.h));
        if !layout.overflow || size <= 8.0 {
            break layout;
        }
        size = (size * 0.9).max(8.0);
    };
    let (cx, cy) = area.center();
    let (w, h) = (layout.width, layout.height);
    Ok(layout.translated(cx - w / 2.0, cy - h / 2.0).glyphs)
}

/// A sound effect: bold text as large as fits `rect`, outlined in white, turned by
/// `angle` about the rect's centre.
fn sfx_ops<'a>(
    fonts: &FontBook,
    language: &str,
    text: &str,
    rect: Rect,
    angle: f32,
    vertical: bool,
) -> Result<Vec<Op<'a>>, BookError> {
    if !rect.is_usable() {
        return Err(BookError::Invalid(format!("a sound effect has an unusable rect {rect:?}")));
    }
    let shaped = ShapedText::shape(fonts, text, language, true, vertical)?;
    let mut size = rect.w.min(rect.h).max(8.0);
    let layout = loop {
        let layout = shaped.layout(size, (rect.w, rect.h));
        if !layout.overflow || size <= 8.0 {
            break layout;
        }
        size = (size * 0.9).max(8.0);
    };
    let (cx, cy) = rect.center();
    let transform = Affine::translate(-layout.width / 2.0, -layout.height / 2.0)
        .then(&Affine::rotate(angle))
        .then(&Affine::translate(cx, cy));
    let halo = Some((Color::WHITE, size * 0.22));
    Ok(vec![Op::Text { glyphs: layout.glyphs, transform, color: Color::BLACK, halo }])
}

/// An image's width and height from its header.
pub(crate) fn image_size(bytes: &[u8]) -> Result<(u32, u32), BookError> {
    image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| BookError::Image(e.to_string()))?
        .into_dimensions()
        .map_err(|e| BookError::Image(e.to_string()))
}

/// Where a whole image of `size` lands so that its crop (fractions of the image,
/// default all of it) covers `frame`, centred.
pub(crate) fn cover_placement(frame: Rect, size: (u32, u32), crop: Option<Rect>) -> Result<Rect, BookError> {
    let (iw, ih) = (size.0 as f32, size.1 as f32);
    if iw <= 0.0 || ih <= 0.0 {
        return Err(BookError::Image("the image is empty".into()));
    }
    let crop = crop.unwrap_or(Rect::new(0.0, 0.0, 1.0, 1.0));
    let x0 = crop.x.clamp(0.0, 1.0);
    let y0 = crop.y.clamp(0.0, 1.0);
    let x1 = (crop.x + crop.w).clamp(0.0, 1.0);
    let y1 = (crop.y + crop.h).clamp(0.0, 1.0);
    if !(x1 > x0 && y1 > y0) {
        return Err(BookError::Invalid(format!("crop {crop:?} selects nothing of the image")));
    }
    let (cw, ch) = ((x1 - x0) * iw, (y1 - y0) * ih);
    let scale = (frame.w / cw).max(frame.h / ch);
    let (cx, cy) = frame.center();
    // The crop's centre lands on the frame's centre.
    let crop_center = ((x0 + x1) / 2.0 * iw, (y0 + y1) / 2.0 * ih);
    Ok(Rect::new(cx - crop_center.0 * scale, cy - crop_center.1 * scale, iw * scale, ih * scale))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cover_placement_centres_and_covers() {
        let frame = Rect::new(0.0, 0.0, 100.0, 100.0);
        let p = cover_placement(frame, (200, 100), None).expect("placement");
        assert_eq!(p, Rect::new(-50.0, 0.0, 200.0, 100.0));
        // The left half of the image, reframed.
        let p = cover_placement(frame, (200, 100), Some(Rect::new(0.0, 0.0, 0.5, 1.0))).expect("placement");
        assert_eq!(p, Rect::new(0.0, 0.0, 200.0, 100.0));
        assert!(cover_placement(frame, (200, 100), Some(Rect::new(0.5, 0.0, 0.0, 1.0))).is_err());
    }

    #[test]
    fn bad_pages_are_rejected() {
        let page = Page { width: 0, height: 10, ..Page::default() };
        assert!(matches!(check_page(&page), Err(BookError::Invalid(_))));
    }

    #[test]
    fn broken_images_are_image_errors() {
        assert!(matches!(image_size(b"not an image"), Err(BookError::Image(_))));
    }
}
