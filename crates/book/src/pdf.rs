//! Binding pages into a PDF (krilla): one PDF page per page, 1 px = 0.75 pt (96 px
//! per inch), with the panel images embedded, balloons and effects as vector paths,
//! and the text as real text in embedded, subset fonts (Noto Sans CJK becomes a CID
//! font), placed glyph by glyph exactly as [`typeset`](crate::typeset) placed it, so
//! vertical text keeps its vertical forms and turned Latin runs.
//!
//! The document's title, author, language and summary go into the info dictionary
//! and XMP metadata; a right-to-left book declares `/ViewerPreferences << /Direction
//! /R2L >>` in the catalog.

use std::collections::HashMap;

use krilla::Document;
use krilla::color::rgb;
use krilla::geom::{PathBuilder, Point, Size, Transform};
use krilla::image::Image;
use krilla::metadata::{Metadata, TextDirection};
use krilla::num::NormalizedF32;
use krilla::page::PageSettings;
use krilla::paint::{Fill, FillRule, LineCap, LineJoin, Stroke, StrokeDash};
use krilla::surface::Surface;
use krilla::text::{Font, GlyphId, KrillaGlyph};

use crate::error::BookError;
use crate::fonts::FontBook;
use crate::geometry::{Affine, Seg, Shape};
use crate::model::{BookMeta, Page, Rect};
use crate::scene::{Color, Join, Op, compose};
use crate::typeset::PlacedGlyph;

/// Points per pixel.
pub const POINTS_PER_PIXEL: f32 = 0.75;

/// Binds pages into a PDF: one PDF page per page at the page's aspect (1 px =
/// 0.75 pt), the text as real text in embedded subset fonts, the metadata in the
/// info dictionary and XMP, and `/Direction /R2L` for right-to-left books.
pub fn render_pdf(fonts: &FontBook, pages: &[Page], meta: &BookMeta) -> Result<Vec<u8>, BookError> {
    let mut book = PdfBook::new();
    for page in pages {
        book.add_page(fonts, page)?;
    }
    book.finish(meta)
}

/// A PDF bound page by page, so a long book's pages need not all be held at once
/// (the document keeps each page's drawing and its images, compressed, until
/// [`PdfBook::finish`]).
pub struct PdfBook {
    document: Document,
    writer: Writer,
    pages: usize,
}

impl Default for PdfBook {
    fn default() -> Self {
        Self::new()
    }
}

impl PdfBook {
    pub fn new() -> Self {
        Self { document: Document::new(), writer: Writer { fonts: HashMap::new(), clips: 0 }, pages: 0 }
    }

    /// Draws the next page.
    pub fn add_page(&mut self, fonts: &FontBook, page: &Page) -> Result<(), BookError> {
        let ops = compose(fonts, page)?;
        let (w, h) = (page.width as f32 * POINTS_PER_PIXEL, page.height as f32 * POINTS_PER_PIXEL);
        let settings =
            PageSettings::from_wh(w, h).ok_or_else(|| BookError::Invalid(format!("page size {w}×{h} pt")))?;
        let writer = &mut self.writer;
        let mut pdf_page = self.document.start_page_with(settings);
        let mut surface = pdf_page.surface();
        surface.push_transform(&Transform::from_scale(POINTS_PER_PIXEL, POINTS_PER_PIXEL));
        let drawn = ops.iter().try_for_each(|op| writer.draw(&mut surface, op));
        // Every push is popped, even when drawing failed part way (krilla panics on an
        // unbalanced surface).
        for _ in 0..std::mem::take(&mut writer.clips) {
            surface.pop();
        }
        surface.pop();
        surface.finish();
        pdf_page.finish();
        self.pages += 1;
        drawn
    }

    /// The PDF, with the book's metadata.
    pub fn finish(mut self, meta: &BookMeta) -> Result<Vec<u8>, BookError> {
        if self.pages == 0 {
            return Err(BookError::Invalid("a book needs at least one page".into()));
        }
        let mut metadata = Metadata::new()
            .title(meta.title.clone())
            .language(meta.language.clone())
            .creator("Atelier".to_string())
            .producer(format!("atelier-book {}", env!("CARGO_PKG_VERSION")));
        if let Some(writer) = meta.writer.as_ref().filter(|w| !w.is_empty()) {
            metadata = metadata.authors(vec![writer.clone()]);
        }
        if let Some(summary) = meta.summary.as_ref().filter(|s| !s.is_empty()) {
            metadata = metadata.description(summary.clone());
        }
        if !meta.characters.is_empty() {
            metadata = metadata.keywords(meta.characters.clone());
        }
        metadata = metadata.text_direction(if meta.right_to_left {
            TextDirection::RightToLeft
        } else {
            TextDirection::LeftToRight
        });
        self.document.set_metadata(metadata);
        self.document.finish().map_err(|e| BookError::Pdf(format!("{e:?}")))
    }
}

struct Writer {
    /// One krilla font per face, so each face is embedded (and subset) once.
    fonts: HashMap<fontdb::ID, Font>,
    /// Clips pushed and not popped yet on the current page.
    clips: usize,
}

impl Writer {
    fn draw(&mut self, surface: &mut Surface<'_>, op: &Op<'_>) -> Result<(), BookError> {
        match op {
            Op::Fill { shape, color } => {
                if let Some(path) = to_path(shape) {
                    surface.set_stroke(None);
                    surface.set_fill(Some(fill(*color)));
                    surface.draw_path(&path);
                }
            }
            Op::Stroke { shape, color, width, dash, join } => {
                if let Some(path) = to_path(shape) {
                    surface.set_fill(None);
                    surface.set_stroke(Some(stroke(*color, *width, dash.as_deref(), *join)));
                    surface.draw_path(&path);
                }
            }
            Op::Image { bytes, frame, placement } => draw_image(surface, bytes, *frame, *placement)?,
            Op::Text { glyphs, transform, color, halo } => {
                if let Some((halo_color, width)) = halo {
                    surface.set_fill(None);
                    surface.set_stroke(Some(stroke(*halo_color, *width, None, Join::Round)));
                    self.draw_glyphs(surface, glyphs, transform, true)?;
                }
                surface.set_stroke(None);
                surface.set_fill(Some(fill(*color)));
                self.draw_glyphs(surface, glyphs, transform, false)?;
            }
            Op::PushClip(shape) => {
                // An empty clip hides everything: clip to a speck off the page.
                let path = match to_path(shape) {
                    Some(path) => path,
                    None => {
                        let mut pb = PathBuilder::new();
                        pb.push_rect(krilla_rect(Rect::new(-2.0, -2.0, 1.0, 1.0))?);
                        pb.finish().ok_or_else(|| BookError::Pdf("empty clip".into()))?
                    }
                };
                surface.push_clip_path(&path, &FillRule::NonZero);
                self.clips += 1;
            }
            Op::PopClip => {
                if self.clips > 0 {
                    surface.pop();
                    self.clips -= 1;
                }
            }
        }
        Ok(())
    }

    /// Draws glyphs as text (or, `outlined`, as their outlines: the halo of a sound
    /// effect, which must not be extracted as text twice). Each cluster is one run at
    /// its first glyph's origin, turned with it.
    fn draw_glyphs(
        &mut self,
        surface: &mut Surface<'_>,
        glyphs: &[PlacedGlyph],
        transform: &Affine,
        outlined: bool,
    ) -> Result<(), BookError> {
        let mut start = 0;
        while start < glyphs.len() {
            let mut end = start + 1;
            while end < glyphs.len() && glyphs[end].text.is_empty() && same_face(&glyphs[start], &glyphs[end]) {
                end += 1;
            }
            let cluster = &glyphs[start..end];
            start = end;
            let first = &cluster[0];
            let font = self.font(first)?;
            let size = first.font_size;
            let turn = if first.rotated { Affine::rotate(90.0) } else { Affine::IDENTITY };
            let place = turn.then(&Affine::translate(first.origin.0, first.origin.1)).then(transform);
            // Later glyphs of the cluster, relative to the first, in the glyph's own frame.
            let undo_turn = if first.rotated { Affine::rotate(-90.0) } else { Affine::IDENTITY };
            let text = if first.text.is_empty() { " " } else { first.text.as_str() };
            let run: Vec<KrillaGlyph> = cluster
                .iter()
                .map(|g| {
                    let (dx, dy) = undo_turn.apply((g.origin.0 - first.origin.0, g.origin.1 - first.origin.1));
                    KrillaGlyph {
                        glyph_id: GlyphId::new(u32::from(g.glyph_id)),
                        text_range: 0..text.len(),
                        x_advance: 0.0,
                        x_offset: dx / size,
                        y_offset: -dy / size,
                        y_advance: 0.0,
                        location: None,
                    }
                })
                .collect();
            surface.push_transform(&place.to_krilla());
            surface.draw_glyphs(Point::from_xy(0.0, 0.0), &run, font, text, size, outlined);
            surface.pop();
        }
        Ok(())
    }

    fn font(&mut self, glyph: &PlacedGlyph) -> Result<Font, BookError> {
        let id = glyph.face.id();
        if let Some(font) = self.fonts.get(&id) {
            return Ok(font.clone());
        }
        let font = Font::new(glyph.face.shared_data().into(), glyph.face.index())
            .ok_or_else(|| BookError::Pdf(format!("cannot embed the font {}", glyph.face.family())))?;
        self.fonts.insert(id, font.clone());
        Ok(font)
    }
}

fn same_face(a: &PlacedGlyph, b: &PlacedGlyph) -> bool {
    a.face.id() == b.face.id() && a.font_size == b.font_size && a.rotated == b.rotated
}

/// Embeds an image and draws it on `placement`, clipped to `frame`. JPEG is embedded as
/// it is; PNG through krilla's decoder; anything else (WebP) decoded to pixels first.
fn draw_image(surface: &mut Surface<'_>, bytes: &[u8], frame: Rect, placement: Rect) -> Result<(), BookError> {
    let image = if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Image::from_jpeg(bytes.to_vec().into(), true).map_err(BookError::Image)?
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Image::from_png(bytes.to_vec().into(), true).map_err(BookError::Image)?
    } else {
        let decoded = image::load_from_memory(bytes).map_err(|e| BookError::Image(e.to_string()))?.to_rgba8();
        let (w, h) = decoded.dimensions();
        Image::from_rgba8(decoded.into_raw(), w, h)
    };
    let size = Size::from_wh(placement.w, placement.h)
        .ok_or_else(|| BookError::Image(format!("cannot draw an image at {placement:?}")))?;
    let mut clip = PathBuilder::new();
    clip.push_rect(krilla_rect(frame)?);
    let clip = clip.finish().ok_or_else(|| BookError::Pdf("empty panel frame".into()))?;
    surface.push_clip_path(&clip, &FillRule::NonZero);
    surface.push_transform(&Transform::from_translate(placement.x, placement.y));
    surface.draw_image(image, size);
    surface.pop();
    surface.pop();
    Ok(())
}

fn krilla_rect(r: Rect) -> Result<krilla::geom::Rect, BookError> {
    krilla::geom::Rect::from_xywh(r.x, r.y, r.w, r.h).ok_or_else(|| BookError::Invalid(format!("rectangle {r:?}")))
}

fn fill(color: Color) -> Fill {
    Fill {
        paint: rgb::Color::new(color.0, color.1, color.2).into(),
        opacity: NormalizedF32::ONE,
        rule: FillRule::NonZero,
    }
}

fn stroke(color: Color, width: f32, dash: Option<&[f32]>, join: Join) -> Stroke {
    Stroke {
        paint: rgb::Color::new(color.0, color.1, color.2).into(),
        width,
        miter_limit: 8.0,
        line_cap: match join {
            Join::Miter => LineCap::Butt,
            Join::Round => LineCap::Round,
        },
        line_join: match join {
            Join::Miter => LineJoin::Miter,
            Join::Round => LineJoin::Round,
        },
        opacity: NormalizedF32::ONE,
        dash: dash.map(|array| StrokeDash { array: array.to_vec(), offset: 0.0 }),
    }
}

fn to_path(shape: &Shape) -> Option<krilla::geom::Path> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::sample_page;
    use crate::testing::{fonts, run_tool};
    use crate::typeset::typeset;

    fn meta(rtl: bool) -> BookMeta {
        BookMeta {
            title: "吾輩は猫である".into(),
            writer: Some("Natsume Soseki".into()),
            language: "ja".into(),
            right_to_left: rtl,
            summary: Some("A cat watches people.".into()),
            characters: vec!["Neko".into()],
        }
    }

    fn write_pdf(dir: &std::path::Path, name: &str, rtl: bool) -> String {
        let pages = vec![sample_page("ja"), sample_page("en")];
        let pdf = render_pdf(fonts(), &pages, &meta(rtl)).expect("pdf");
        assert!(pdf.starts_with(b"%PDF-"));
        let path = dir.join(name);
        std::fs::write(&path, pdf).expect("write pdf");
        path.to_str().expect("utf-8 temp path").to_string()
    }

    fn stdout(output: &std::process::Output) -> String {
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    #[test]
    fn a_book_passes_the_pdf_tools() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = write_pdf(dir.path(), "book.pdf", true);

        if let Some(out) = run_tool("qpdf", &["--check", &path]) {
            assert!(out.status.success(), "qpdf --check: {}{}", stdout(&out), String::from_utf8_lossy(&out.stderr));
        }

        if let Some(out) = run_tool("pdffonts", &[&path]) {
            assert!(out.status.success());
            let text = stdout(&out);
            // Rows read from the right: … type… encoding emb sub uni object gen.
            let rows: Vec<Vec<&str>> = text.lines().skip(2).map(|l| l.split_whitespace().collect()).collect();
            assert!(!rows.is_empty(), "no fonts listed: {text}");
            let mut cid = 0;
            for row in &rows {
                assert!(row.len() >= 8, "{row:?}");
                let emb = row[row.len() - 5];
                assert_eq!(emb, "yes", "font not embedded: {row:?}");
                if row[1] == "CID" {
                    cid += 1;
                }
            }
            assert!(cid >= 1, "no CID font for the Japanese text: {text}");
            assert!(text.contains("NotoSansCJK"), "{text}");
        }

        if let Some(out) = run_tool("pdfinfo", &[&path]) {
            let text = stdout(&out);
            assert!(text.lines().any(|l| l.starts_with("Pages:") && l.ends_with(" 2")), "{text}");
            assert!(text.lines().any(|l| l.starts_with("Title:") && l.contains("吾輩は猫である")), "{text}");
            assert!(text.lines().any(|l| l.starts_with("Author:") && l.contains("Natsume Soseki")), "{text}");
            // 900 × 1272 px at 0.75 pt per px.
            assert!(text.contains("675 x 954 pts"), "{text}");
        }

        let prefix = dir.path().join("page");
        let prefix = prefix.to_str().expect("utf-8");
        if let Some(out) = run_tool("pdftoppm", &["-png", "-r", "30", "-f", "1", "-l", "1", &path, prefix]) {
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            let rendered = std::fs::read_dir(dir.path())
                .expect("dir")
                .filter_map(|e| e.ok())
                .find(|e| {
                    e.file_name().to_string_lossy().starts_with("page")
                        && e.file_name().to_string_lossy().ends_with(".png")
                })
                .expect("pdftoppm wrote page 1");
            let bytes = std::fs::read(rendered.path()).expect("read render");
            let (w, h) = crate::scene::image_size(&bytes).expect("png");
            // 675 pt at 30 dpi.
            assert!((w as i32 - 281).abs() <= 1 && (h as i32 - 398).abs() <= 1, "{w}×{h}");
        }

        let qdf = dir.path().join("qdf.pdf");
        let qdf = qdf.to_str().expect("utf-8");
        if let Some(out) = run_tool("qpdf", &["--qdf", "--object-streams=disable", &path, qdf]) {
            assert!(out.status.success() || out.status.code() == Some(3));
            let raw = std::fs::read(qdf).expect("qdf");
            let raw = String::from_utf8_lossy(&raw);
            assert!(raw.contains("/Direction /R2L"), "no R2L direction in the catalog");
        }
    }

    #[test]
    fn left_to_right_books_do_not_declare_r2l() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = write_pdf(dir.path(), "ltr.pdf", false);
        let qdf = dir.path().join("qdf.pdf");
        let qdf = qdf.to_str().expect("utf-8");
        if let Some(out) = run_tool("qpdf", &["--qdf", "--object-streams=disable", &path, qdf]) {
            assert!(out.status.success() || out.status.code() == Some(3));
            let raw = String::from_utf8_lossy(&std::fs::read(qdf).expect("qdf")).into_owned();
            assert!(!raw.contains("/R2L"));
        }
    }

    #[test]
    fn vertical_text_is_placed_as_typeset() {
        // One balloon of vertical text; pdftotext's word boxes must match the layout.
        let text = "吾輩は猫である。";
        let layout = typeset(fonts(), text, "ja", true, 40.0, (400.0, 400.0)).expect("typeset");
        let page = Page {
            width: 400,
            height: 400,
            balloons: vec![crate::model::Balloon {
                id: "v".into(),
                kind: crate::model::BalloonKind::Narration,
                text: text.into(),
                rect: Rect::new(0.0, 0.0, 400.0, 400.0),
                tail: None,
                vertical: true,
                font_size: 40.0,
                bold: false,
            }],
            language: "ja".into(),
            ..Page::default()
        };
        let pdf = render_pdf(fonts(), std::slice::from_ref(&page), &meta(true)).expect("pdf");
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("v.pdf");
        std::fs::write(&path, pdf).expect("write");
        let path = path.to_str().expect("utf-8");
        let html = dir.path().join("v.html");
        let Some(out) = run_tool("pdftotext", &["-bbox", path, html.to_str().expect("utf-8")]) else { return };
        assert!(out.status.success());
        let html = std::fs::read_to_string(&html).expect("bbox html");
        // Each glyph is one word in pdftotext's output: (text, xMin, yMin) in points.
        let words: Vec<(String, f32, f32)> = html
            .lines()
            .filter(|l| l.trim_start().starts_with("<word"))
            .filter_map(|l| {
                let attr = |name: &str| {
                    let start = l.find(&format!("{name}=\""))? + name.len() + 2;
                    l[start..].split('"').next()?.parse::<f32>().ok()
                };
                let word = l.split('>').nth(1)?.split('<').next()?.to_string();
                Some((word, attr("xMin")?, attr("yMin")?))
            })
            .collect();
        let placed = crate::fit::layout_in_balloon(
            fonts(),
            text,
            crate::model::BalloonKind::Narration,
            page.balloons[0].rect,
            &crate::typeset::TextStyle { language: "ja".into(), vertical: true, bold: false, font_size: 40.0 },
        )
        .expect("layout");
        assert_eq!(placed.glyphs.len(), layout.glyphs.len());
        assert_eq!(words.len(), placed.glyphs.len(), "{words:?}");
        // Word boxes are em boxes: the same cells as the layout's, in points.
        for glyph in &placed.glyphs {
            let (word, x, y) = words.iter().find(|w| w.0 == glyph.text).expect("the glyph is in the PDF's text");
            let (ex, ey) = (glyph.x * POINTS_PER_PIXEL, glyph.y * POINTS_PER_PIXEL);
            assert!((x - ex).abs() < 1.0 && (y - ey).abs() < 1.0, "{word}: pdf ({x}, {y}) vs layout ({ex}, {ey})");
        }
    }
}
