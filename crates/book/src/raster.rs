//! Drawing a page into pixels (tiny-skia) and encoding it as PNG with text chunks.

use std::collections::HashMap;

use tiny_skia::{FillRule, Mask, Paint, PathBuilder, Pixmap, Transform};

use crate::error::BookError;
use crate::fonts::{FontBook, FontFace};
use crate::geometry::{Seg, Shape};
use crate::model::{Page, Rect};
use crate::scene::{Color, Join, Op, compose};
use crate::typeset::PlacedGlyph;

/// Renders a page to PNG: a white page, the panels' art cover-fit and clipped to their
/// frames with black borders (placeholder panels light grey with their text and a
/// small "placeholder" label), the effects, then the balloons and their text (glyph
/// outlines, black).
///
/// `text_chunks` are written as PNG text chunks (`tEXt` when the text is ASCII, else
/// `iTXt`), for example `("atelier:run", id)`. A keyword must be 1 to 79 printable
/// Latin-1 characters without leading or trailing spaces.
pub fn render_png(fonts: &FontBook, page: &Page, text_chunks: &[(String, String)]) -> Result<Vec<u8>, BookError> {
    for (keyword, _) in text_chunks {
        check_keyword(keyword)?;
    }
    let pixmap = render_pixmap(fonts, page)?;
    encode_png(&pixmap, text_chunks)
}

/// Renders a page to RGBA pixels (width × height × 4 bytes, opaque).
pub fn render_rgba(fonts: &FontBook, page: &Page) -> Result<Vec<u8>, BookError> {
    Ok(render_pixmap(fonts, page)?.take())
}

fn render_pixmap(fonts: &FontBook, page: &Page) -> Result<Pixmap, BookError> {
    let ops = compose(fonts, page)?;
    let mut canvas = Canvas::new(page.width, page.height)?;
    for op in &ops {
        canvas.draw(op)?;
    }
    Ok(canvas.pixmap)
}

struct Canvas {
    pixmap: Pixmap,
    clips: Vec<Mask>,
    outlines: HashMap<(fontdb::ID, u16), Option<Shape>>,
}

impl Canvas {
    fn new(width: u32, height: u32) -> Result<Canvas, BookError> {
        let mut pixmap = Pixmap::new(width, height)
            .ok_or_else(|| BookError::Invalid(format!("cannot draw a {width}×{height} page")))?;
        pixmap.fill(tiny_skia::Color::WHITE);
        Ok(Canvas { pixmap, clips: Vec::new(), outlines: HashMap::new() })
    }

    fn draw(&mut self, op: &Op<'_>) -> Result<(), BookError> {
        match op {
            Op::Fill { shape, color } => {
                if let Some(path) = to_path(shape) {
                    let paint = solid(*color);
                    self.pixmap.fill_path(&path, &paint, FillRule::Winding, Transform::identity(), self.clips.last());
                }
            }
            Op::Stroke { shape, color, width, dash, join } => {
                if let Some(path) = to_path(shape) {
                    let stroke = stroke(*width, dash.as_deref(), *join);
                    self.pixmap.stroke_path(&path, &solid(*color), &stroke, Transform::identity(), self.clips.last());
                }
            }
            Op::Image { bytes, frame, placement } => self.draw_image(bytes, *frame, *placement)?,
            Op::Text { glyphs, transform, color, halo } => {
                let mut all = Shape::new();
                for glyph in glyphs {
                    if let Some(outline) = self.glyph_outline(glyph) {
                        all.extend(&outline.transformed(&glyph.outline_transform().then(transform)));
                    }
                }
                if let Some(path) = to_path(&all) {
                    if let Some((halo_color, width)) = halo {
                        let stroke = stroke(*width, None, Join::Round);
                        self.pixmap.stroke_path(
                            &path,
                            &solid(*halo_color),
                            &stroke,
                            Transform::identity(),
                            self.clips.last(),
                        );
                    }
                    self.pixmap.fill_path(
                        &path,
                        &solid(*color),
                        FillRule::Winding,
                        Transform::identity(),
                        self.clips.last(),
                    );
                }
            }
            Op::PushClip(shape) => {
                let mut mask = Mask::new(self.pixmap.width(), self.pixmap.height())
                    .ok_or_else(|| BookError::Invalid("cannot make a clip mask".into()))?;
                if let Some(path) = to_path(shape) {
                    mask.fill_path(&path, FillRule::Winding, true, Transform::identity());
                }
                if let Some(outer) = self.clips.last() {
                    for (m, o) in mask.data_mut().iter_mut().zip(outer.data()) {
                        *m = ((u16::from(*m) * u16::from(*o)) / 255) as u8;
                    }
                }
                self.clips.push(mask);
            }
            Op::PopClip => {
                self.clips.pop();
            }
        }
        Ok(())
    }

    /// A glyph's outline in font units, parsed once per render.
    fn glyph_outline(&mut self, glyph: &PlacedGlyph) -> Option<Shape> {
        self.outlines
            .entry((glyph.face.id(), glyph.glyph_id))
            .or_insert_with(|| glyph.face.ttf().and_then(|face| FontFace::outline(&face, glyph.glyph_id)))
            .clone()
    }

    /// Draws an image so that it lands on `placement`, clipped to `frame`. Only the
    /// part of the image inside the frame is resized (smoothly, once) to its drawn size,
    /// then copied.
    fn draw_image(&mut self, bytes: &[u8], frame: Rect, placement: Rect) -> Result<(), BookError> {
        let decoded = image::load_from_memory(bytes).map_err(|e| BookError::Image(e.to_string()))?.to_rgba8();
        let (iw, ih) = decoded.dimensions();
        let scale = placement.w / iw as f32;
        if !(scale.is_finite() && scale > 0.0) {
            return Err(BookError::Image("the image cannot be scaled to its panel".into()));
        }
        // The source pixels that land inside the frame.
        let sx0 = ((frame.x - placement.x) / scale).floor().clamp(0.0, iw as f32) as u32;
        let sy0 = ((frame.y - placement.y) / scale).floor().clamp(0.0, ih as f32) as u32;
        let sx1 = ((frame.right() - placement.x) / scale).ceil().clamp(0.0, iw as f32) as u32;
        let sy1 = ((frame.bottom() - placement.y) / scale).ceil().clamp(0.0, ih as f32) as u32;
        if sx1 <= sx0 || sy1 <= sy0 {
            return Ok(());
        }
        let target_w = (((sx1 - sx0) as f32) * scale).round().max(1.0) as u32;
        let target_h = (((sy1 - sy0) as f32) * scale).round().max(1.0) as u32;
        if target_w.saturating_mul(target_h) > 256_000_000 {
            return Err(BookError::Image(format!("the image would be drawn {target_w}×{target_h} pixels")));
        }
        let data =
            resize_premultiplied(decoded.into_raw(), (iw, ih), (sx0, sy0, sx1 - sx0, sy1 - sy0), (target_w, target_h))?;
        let size =
            tiny_skia::IntSize::from_wh(target_w, target_h).ok_or_else(|| BookError::Image("empty image".into()))?;
        let image = Pixmap::from_vec(data, size).ok_or_else(|| BookError::Image("cannot hold the image".into()))?;
        let origin = (placement.x + sx0 as f32 * scale, placement.y + sy0 as f32 * scale);
        let pattern = tiny_skia::Pattern::new(
            image.as_ref(),
            tiny_skia::SpreadMode::Pad,
            tiny_skia::FilterQuality::Bilinear,
            1.0,
            Transform::from_translate(origin.0, origin.1),
        );
        let paint = Paint { shader: pattern, anti_alias: true, ..Paint::default() };
        if let Some(rect) = tiny_skia::Rect::from_xywh(frame.x, frame.y, frame.w, frame.h) {
            self.pixmap.fill_rect(rect, &paint, Transform::identity(), self.clips.last());
        }
        Ok(())
    }
}

/// The pixels of `crop` (x, y, width, height) in an RGBA image, resampled to
/// `target` with a bilinear filter, then premultiplied by alpha (as tiny-skia
/// draws them). fast_image_resize, typed to RGBA: `image::imageops::resize` took an
/// eighth of a manga book's CPU time.
fn resize_premultiplied(
    rgba: Vec<u8>,
    (width, height): (u32, u32),
    (x, y, crop_w, crop_h): (u32, u32, u32, u32),
    (target_w, target_h): (u32, u32),
) -> Result<Vec<u8>, BookError> {
    use fast_image_resize::images::{TypedImage, TypedImageRef};
    use fast_image_resize::pixels::U8x4;
    use fast_image_resize::{FilterType, ResizeAlg, ResizeOptions, Resizer};

    let fail = |e: &dyn std::fmt::Display| BookError::Image(format!("the image cannot be scaled: {e}"));
    let src = TypedImageRef::<U8x4>::from_buffer(width, height, &rgba).map_err(|e| fail(&e))?;
    let mut buffer = vec![0u8; target_w as usize * target_h as usize * 4];
    let mut dst = TypedImage::<U8x4>::from_buffer(target_w, target_h, &mut buffer).map_err(|e| fail(&e))?;
    let options = ResizeOptions::new()
        .resize_alg(ResizeAlg::Convolution(FilterType::Bilinear))
        .crop(f64::from(x), f64::from(y), f64::from(crop_w), f64::from(crop_h))
        .use_alpha(false);
    Resizer::new().resize_typed(&src, &mut dst, &options).map_err(|e| fail(&e))?;
    for px in buffer.chunks_exact_mut(4) {
        let a = u16::from(px[3]);
        for c in &mut px[..3] {
            *c = ((u16::from(*c) * a + 127) / 255) as u8;
        }
    }
    Ok(buffer)
}

fn solid(color: Color) -> Paint<'static> {
    let mut paint = Paint::default();
    paint.set_color_rgba8(color.0, color.1, color.2, 255);
    paint.anti_alias = true;
    paint
}

fn stroke(width: f32, dash: Option<&[f32]>, join: Join) -> tiny_skia::Stroke {
    tiny_skia::Stroke {
        width,
        line_join: match join {
            Join::Miter => tiny_skia::LineJoin::Miter,
            Join::Round => tiny_skia::LineJoin::Round,
        },
        line_cap: match join {
            Join::Miter => tiny_skia::LineCap::Butt,
            Join::Round => tiny_skia::LineCap::Round,
        },
        miter_limit: 8.0,
        dash: dash.and_then(|d| tiny_skia::StrokeDash::new(d.to_vec(), 0.0)),
    }
}

fn to_path(shape: &Shape) -> Option<tiny_skia::Path> {
    let mut pb = PathBuilder::new();
    for seg in &shape.segs {
        match *seg {
            Seg::MoveTo(x, y) => pb.move_to(x, y),
            Seg::LineTo(x, y) => pb.line_to(x, y),
            Seg::QuadTo(x1, y1, x, y) => pb.quad_to(x1, y1, x, y),
            Seg::CubicTo(x1, y1, x2, y2, x, y) => pb.cubic_to(x1, y1, x2, y2, x, y),
            Seg::Close => pb.close(),
        }
    }
    pb.finish()
}

/// Whether a PNG text keyword is valid: 1–79 printable Latin-1 characters, no leading,
/// trailing or doubled spaces.
fn check_keyword(keyword: &str) -> Result<(), BookError> {
    let count = keyword.chars().count();
    let printable = keyword.chars().all(|c| matches!(c as u32, 0x20..=0x7E | 0xA1..=0xFF));
    if (1..=79).contains(&count)
        && printable
        && !keyword.starts_with(' ')
        && !keyword.ends_with(' ')
        && !keyword.contains("  ")
    {
        Ok(())
    } else {
        Err(BookError::Invalid(format!("{keyword:?} is not a valid PNG text keyword")))
    }
}

fn encode_png(pixmap: &Pixmap, text_chunks: &[(String, String)]) -> Result<Vec<u8>, BookError> {
    let rgb: Vec<u8> = pixmap.data().chunks_exact(4).flat_map(|px| [px[0], px[1], px[2]]).collect();
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, pixmap.width(), pixmap.height());
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        encoder.set_compression(png::Compression::Fast);
        for (keyword, text) in text_chunks {
            let added = if text.is_ascii() {
                encoder.add_text_chunk(keyword.clone(), text.clone())
            } else {
                encoder.add_itxt_chunk(keyword.clone(), text.clone())
            };
            added.map_err(|e| BookError::Png(e.to_string()))?;
        }
        let mut writer = encoder.write_header().map_err(|e| BookError::Png(e.to_string()))?;
        writer.write_image_data(&rgb).map_err(|e| BookError::Png(e.to_string()))?;
        writer.finish().map_err(|e| BookError::Png(e.to_string()))?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{sample_page, tiny_png};
    use crate::model::{Balloon, BalloonKind, PanelArt};
    use crate::testing::fonts;

    struct Decoded {
        width: u32,
        height: u32,
        rgb: Vec<u8>,
        texts: Vec<(String, String)>,
    }

    impl Decoded {
        fn pixel(&self, x: f32, y: f32) -> (u8, u8, u8) {
            let i = ((y as u32 * self.width + x as u32) * 3) as usize;
            (self.rgb[i], self.rgb[i + 1], self.rgb[i + 2])
        }
    }

    fn decode(png_bytes: &[u8]) -> Decoded {
        let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
        let mut reader = decoder.read_info().expect("png header");
        let mut buf = vec![0; reader.output_buffer_size().expect("buffer size")];
        let frame = reader.next_frame(&mut buf).expect("png frame");
        assert_eq!(frame.color_type, png::ColorType::Rgb);
        buf.truncate(frame.buffer_size());
        let info = reader.info();
        let mut texts: Vec<(String, String)> =
            info.uncompressed_latin1_text.iter().map(|t| (t.keyword.clone(), t.text.clone())).collect();
        for t in &info.utf8_text {
            texts.push((t.keyword.clone(), t.get_text().expect("itxt")));
        }
        Decoded { width: frame.width, height: frame.height, rgb: buf, texts }
    }

    fn dark((r, g, b): (u8, u8, u8)) -> bool {
        u16::from(r) + u16::from(g) + u16::from(b) < 200
    }

    #[test]
    fn a_page_renders_with_its_text_chunks() {
        let page = sample_page("ja");
        let chunks = vec![
            ("atelier:run".to_string(), "run-123".to_string()),
            ("atelier:version".to_string(), "v-7".to_string()),
            ("Title".to_string(), "吾輩は猫".to_string()),
        ];
        let png_bytes = render_png(fonts(), &page, &chunks).expect("render");
        let decoded = decode(&png_bytes);
        assert_eq!((decoded.width, decoded.height), (page.width, page.height));
        for chunk in &chunks {
            assert!(decoded.texts.contains(chunk), "{chunk:?} missing from {:?}", decoded.texts);
        }
    }

    #[test]
    fn balloons_are_white_inside_and_outlined() {
        let rect = Rect::new(100.0, 100.0, 300.0, 200.0);
        let page = Page {
            width: 500,
            height: 400,
            panels: vec![PanelArt {
                frame: Rect::new(20.0, 20.0, 460.0, 360.0),
                image: Some(tiny_png(32, 24)),
                ..PanelArt::default()
            }],
            balloons: vec![Balloon {
                id: "a".into(),
                kind: BalloonKind::Speech,
                text: "Hi".into(),
                rect,
                tail: Some((250.0, 380.0)),
                vertical: false,
                font_size: 24.0,
                bold: false,
            }],
            effects: Vec::new(),
            language: "en".into(),
        };
        let d = decode(&render_png(fonts(), &page, &[]).expect("render"));
        let (cx, cy) = rect.center();
        // Inside, away from the text, the balloon is white over the art.
        assert_eq!(d.pixel(cx - 110.0, cy), (255, 255, 255));
        assert_eq!(d.pixel(cx, cy - 70.0), (255, 255, 255));
        // The outline is dark at the ellipse's left and top edges.
        let lw = line_width_of(&page);
        let left = (rect.x + lw / 2.0 - 0.5, cy);
        let top = (cx, rect.y + lw / 2.0 - 0.5);
        assert!(dark(d.pixel(left.0, left.1)) || dark(d.pixel(left.0 + 1.0, left.1)), "{:?}", d.pixel(left.0, left.1));
        assert!(dark(d.pixel(top.0, top.1)) || dark(d.pixel(top.0, top.1 + 1.0)), "{:?}", d.pixel(top.0, top.1));
        // The text is drawn (dark pixels near the centre).
        let mut ink = 0;
        for y in (cy as i32 - 15)..(cy as i32 + 15) {
            for x in (cx as i32 - 30)..(cx as i32 + 30) {
                if dark(d.pixel(x as f32, y as f32)) {
                    ink += 1;
                }
            }
        }
        assert!(ink > 30, "{ink} dark pixels of text");
        // The tail is white inside, below the ellipse.
        assert_eq!(d.pixel(cx, rect.bottom() + 20.0), (255, 255, 255));
        // Outside the balloon, the art shows (not white).
        assert_ne!(d.pixel(60.0, 60.0), (255, 255, 255));
    }

    fn line_width_of(page: &Page) -> f32 {
        crate::scene::line_width(page)
    }

    #[test]
    fn placeholder_panels_are_grey() {
        let page = Page {
            width: 400,
            height: 300,
            panels: vec![PanelArt {
                frame: Rect::new(10.0, 10.0, 380.0, 280.0),
                placeholder_text: Some("A cat sits on a wall".into()),
                ..PanelArt::default()
            }],
            language: "en".into(),
            ..Page::default()
        };
        let d = decode(&render_png(fonts(), &page, &[]).expect("render"));
        let Color(r, g, b) = Color::PLACEHOLDER;
        assert_eq!(d.pixel(30.0, 30.0), (r, g, b));
        // The border is black, the page outside white.
        assert!(dark(d.pixel(10.0, 150.0)));
        assert_eq!(d.pixel(3.0, 3.0), (255, 255, 255));
    }

    #[test]
    fn bad_keywords_are_rejected() {
        let page = Page { width: 10, height: 10, language: "en".into(), ..Page::default() };
        for bad in ["", " lead", "x".repeat(80).as_str(), "日本"] {
            let result = render_png(fonts(), &page, &[(bad.to_string(), "v".to_string())]);
            assert!(matches!(result, Err(BookError::Invalid(_))), "{bad:?}");
        }
    }

    #[test]
    fn a_bad_image_is_an_error() {
        let page = Page {
            width: 100,
            height: 100,
            panels: vec![PanelArt {
                frame: Rect::new(0.0, 0.0, 100.0, 100.0),
                image: Some(b"junk".to_vec()),
                ..PanelArt::default()
            }],
            language: "en".into(),
            ..Page::default()
        };
        assert!(matches!(render_png(fonts(), &page, &[]), Err(BookError::Image(_))));
    }

    #[test]
    fn uncovered_text_is_no_font_not_a_panic() {
        let mut page = sample_page("en");
        page.balloons[0].text = "\u{E000}".into();
        assert!(matches!(render_png(fonts(), &page, &[]), Err(BookError::NoFont { .. })));
    }
}
