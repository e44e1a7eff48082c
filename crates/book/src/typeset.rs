//! Laying text out in a box: lines left to right and top to bottom, or vertical
//! columns (縦書き) top to bottom, ordered right to left.
//!
//! Lines break at spaces in Latin text (word wrap) and between any two characters in
//! CJK text, subject to kinsoku (禁則): no line or column starts with 、。？！ー」 or a
//! small kana, and none ends with 「『（. Kinsoku is kept by **pushing out** (追い出し):
//! the character before a forbidden break is carried to the next line with the mark,
//! so the text never leaves the box; punctuation never hangs (no burasage). A word
//! longer than a whole line is broken where it must.
//!
//! In vertical text, upright glyphs use the font's vertical alternates (so 、。 sit at
//! the top right of their cell and brackets and ー turn), Latin words and longer numbers
//! are turned 90° clockwise, and one or two digits (or `!?`) stand upright side by side
//! in one cell (tate-chu-yoko). Horizontal lines are centred; vertical columns start
//! at the top.

use std::sync::Arc;

use crate::charclass::{is_cjk, is_inseparable, is_no_end, is_no_start};
use crate::error::BookError;
use crate::fonts::{FontBook, FontFace};
use crate::geometry::Affine;
use crate::model::Rect;
use crate::shape::{Cluster, Orientation, is_space_cluster, shape_paragraph};

/// Line pitch of horizontal Latin text, in ems.
const LINE_PITCH_LATIN: f32 = 1.25;
/// Line pitch of horizontal CJK text, in ems.
const LINE_PITCH_CJK: f32 = 1.45;
/// Column pitch of vertical text, in ems (a one-em column and half an em between).
const COLUMN_PITCH: f32 = 1.5;
/// Rounding slack when comparing lengths, in pixels.
const EPSILON: f32 = 0.01;

/// How text is set.
#[derive(Clone, Debug, PartialEq)]
pub struct TextStyle {
    /// The language (BCP 47), which picks the fonts.
    pub language: String,
    /// Vertical writing (縦書き).
    pub vertical: bool,
    /// The bold face.
    pub bold: bool,
    /// The font size in pixels.
    pub font_size: f32,
}

/// One glyph placed in a text layout.
#[derive(Clone, Debug)]
pub struct PlacedGlyph {
    /// The cluster's characters (on the cluster's first glyph; empty on the others).
    pub text: String,
    /// Left of the glyph's em cell, relative to the layout box.
    pub x: f32,
    /// Top of the glyph's em cell, relative to the layout box.
    pub y: f32,
    /// How far the cluster advances along its line or column (0 on a cluster's later glyphs).
    pub advance: f32,
    /// Drawn turned 90° clockwise (Latin runs in vertical text, and ー or brackets when
    /// the font has no vertical form for them).
    pub rotated: bool,
    /// A vertical alternate glyph from the font's `vert`/`vrt2` feature was used.
    pub vertical_form: bool,
    /// The glyph in its face.
    pub glyph_id: u16,
    /// The face the glyph comes from.
    pub face: Arc<FontFace>,
    /// The font size in pixels.
    pub font_size: f32,
    /// Where the glyph's origin (its pen position on the baseline) lands, relative to
    /// the layout box; a rotated glyph is turned about this point.
    pub origin: (f32, f32),
    /// The line (or column) the glyph is on, from 0.
    pub line: usize,
}

impl PlacedGlyph {
    /// Maps the glyph's outline (font units, y up) into layout coordinates.
    pub(crate) fn outline_transform(&self) -> Affine {
        let scale = self.font_size / self.face.units_per_em();
        let turn = if self.rotated { Affine::rotate(90.0) } else { Affine::IDENTITY };
        Affine::scale(scale, -scale).then(&turn).then(&Affine::translate(self.origin.0, self.origin.1))
    }

    /// The glyph's ink: the bounding box of its outline, in layout coordinates (none
    /// for a glyph with no outline, such as a space).
    pub fn ink_bounds(&self) -> Option<Rect> {
        let face = self.face.ttf()?;
        let b = face.glyph_bounding_box(ttf_parser::GlyphId(self.glyph_id))?;
        let t = self.outline_transform();
        let corners = [
            (f32::from(b.x_min), f32::from(b.y_min)),
            (f32::from(b.x_max), f32::from(b.y_min)),
            (f32::from(b.x_max), f32::from(b.y_max)),
            (f32::from(b.x_min), f32::from(b.y_max)),
        ]
        .map(|p| t.apply(p));
        crate::geometry::bounds_of(&corners)
    }

    /// The glyph's em cell: `x`, `y` and one em square.
    pub fn cell(&self) -> Rect {
        Rect::new(self.x, self.y, self.font_size, self.font_size)
    }
}

/// Text laid out in a box.
#[derive(Clone, Debug)]
pub struct TextLayout {
    /// The glyphs, in text order.
    pub glyphs: Vec<PlacedGlyph>,
    /// The width the text takes.
    pub width: f32,
    /// The height the text takes.
    pub height: f32,
    /// How many lines (columns, in vertical text).
    pub lines: usize,
    /// The text does not fit the box it was given.
    pub overflow: bool,
    /// How many lines had to break where no break is allowed (inside a word, or
    /// against kinsoku) because the box is too narrow.
    pub forced_breaks: usize,
    /// The font size the text was set at.
    pub font_size: f32,
    /// Whether the text is vertical.
    pub vertical: bool,
}

impl TextLayout {
    /// The layout moved by `(dx, dy)`.
    pub fn translated(mut self, dx: f32, dy: f32) -> TextLayout {
        for g in &mut self.glyphs {
            g.x += dx;
            g.y += dy;
            g.origin = (g.origin.0 + dx, g.origin.1 + dy);
        }
        self
    }

    /// The text back from the glyphs (line breaks not included).
    pub fn text(&self) -> String {
        self.glyphs.iter().map(|g| g.text.as_str()).collect()
    }
}

/// Lays text out inside a box of `max` (width, height) pixels: horizontal (left to
/// right, lines top to bottom, centred) or vertical (columns top to bottom, ordered
/// right to left). `\n` forces a new line or column. `overflow` is set when the text
/// does not fit.
///
/// Fails with [`BookError::NoFont`] when no installed font covers some character.
pub fn typeset(
    fonts: &FontBook,
    text: &str,
    language: &str,
    vertical: bool,
    font_size: f32,
    max: (f32, f32),
) -> Result<TextLayout, BookError> {
    let style = TextStyle { language: language.to_string(), vertical, bold: false, font_size };
    typeset_styled(fonts, text, &style, max)
}

/// [`typeset`] with the bold face when `style.bold` is set.
pub fn typeset_styled(
    fonts: &FontBook,
    text: &str,
    style: &TextStyle,
    max: (f32, f32),
) -> Result<TextLayout, BookError> {
    check_size(style.font_size)?;
    check_box(max)?;
    let shaped = ShapedText::shape(fonts, text, &style.language, style.bold, style.vertical)?;
    Ok(shaped.layout(style.font_size, max))
}

pub(crate) fn check_size(font_size: f32) -> Result<(), BookError> {
    if font_size.is_finite() && font_size > 0.0 {
        Ok(())
    } else {
        Err(BookError::Invalid(format!("font size {font_size} is not a positive number")))
    }
}

pub(crate) fn check_box(max: (f32, f32)) -> Result<(), BookError> {
    if max.0.is_finite() && max.1.is_finite() && max.0 >= 0.0 && max.1 >= 0.0 {
        Ok(())
    } else {
        Err(BookError::Invalid(format!("box {max:?} is not a finite, non-negative size")))
    }
}

/// One paragraph, shaped, with where its lines may break.
struct Paragraph {
    text: String,
    clusters: Vec<Cluster>,
    /// Whether a line may break before each cluster.
    breakable: Vec<bool>,
    /// Whether each cluster is a space.
    space: Vec<bool>,
    /// Whether a line may break before each cluster by kinsoku alone (the last resort).
    kinsoku_ok: Vec<bool>,
}

/// Text shaped once, ready to be laid out at any size and measure.
pub(crate) struct ShapedText {
    paragraphs: Vec<Paragraph>,
    vertical: bool,
    em_ascent: f32,
    line_pitch: f32,
}

impl ShapedText {
    pub(crate) fn shape(
        fonts: &FontBook,
        text: &str,
        language: &str,
        bold: bool,
        vertical: bool,
    ) -> Result<ShapedText, BookError> {
        let normalized: String = text
            .replace("\r\n", "\n")
            .chars()
            .map(|c| if c == '\t' || c == '\r' { ' ' } else { c })
            .filter(|&c| c == '\n' || !c.is_control())
            .collect();
        let mut paragraphs = Vec::new();
        let mut uncovered = String::new();
        for line in normalized.split('\n') {
            match shape_paragraph(fonts, line, language, bold, vertical) {
                Ok(clusters) => paragraphs.push(Paragraph::new(line, clusters)),
                Err(BookError::NoFont { text, .. }) => {
                    for c in text.chars() {
                        if !uncovered.contains(c) {
                            uncovered.push(c);
                        }
                    }
                }
                Err(e) => return Err(e),
            }
        }
        if !uncovered.is_empty() {
            return Err(BookError::NoFont { text: uncovered, language: language.to_string() });
        }
        let em_ascent = paragraphs
            .iter()
            .find_map(|p| p.clusters.first().map(|c| c.face.clone()))
            .or_else(|| fonts.primary_face(language, bold).ok())
            .map_or(0.88, |f| f.em_ascent());
        let cjk = normalized.chars().any(is_cjk);
        let line_pitch = if vertical {
            COLUMN_PITCH
        } else if cjk {
            LINE_PITCH_CJK
        } else {
            LINE_PITCH_LATIN
        };
        Ok(ShapedText { paragraphs, vertical, em_ascent, line_pitch })
    }

    /// Lays the text out at `font_size` in a box of `max` (width, height).
    pub(crate) fn layout(&self, font_size: f32, max: (f32, f32)) -> TextLayout {
        let (measure, cross_max) = if self.vertical { (max.1, max.0) } else { (max.0, max.1) };
        let mut lines: Vec<(usize, std::ops::Range<usize>, f32)> = Vec::new();
        let mut overflow = false;
        let mut forced_breaks = 0;
        for (p, paragraph) in self.paragraphs.iter().enumerate() {
            let (ranges, forced) = paragraph.break_lines(measure, font_size);
            forced_breaks += forced;
            for range in ranges {
                let length = paragraph.length(range.clone(), font_size);
                overflow |= length > measure + EPSILON;
                lines.push((p, range, length));
            }
        }
        let pitch = self.line_pitch * font_size;
        let count = lines.len();
        let cross = if count == 0 { 0.0 } else { (count - 1) as f32 * pitch + font_size };
        overflow |= cross > cross_max + EPSILON;
        let longest = lines.iter().map(|l| l.2).fold(0.0f32, f32::max);
        let (width, height) = if self.vertical { (cross, longest) } else { (longest, cross) };

        let mut glyphs = Vec::new();
        for (index, (p, range, length)) in lines.iter().enumerate() {
            let paragraph = &self.paragraphs[*p];
            let line_start = index as f32 * pitch;
            let mut pen = if self.vertical { 0.0 } else { (width - length) / 2.0 };
            for cluster in &paragraph.clusters[range.clone()] {
                let text = &paragraph.text[cluster.range.clone()];
                let line = LinePosition { index, start: line_start, width, font_size, em_ascent: self.em_ascent };
                pen = place_cluster(cluster, text, pen, &line, &mut glyphs);
            }
        }
        TextLayout { glyphs, width, height, lines: count, overflow, forced_breaks, font_size, vertical: self.vertical }
    }
}

/// Where a line (or column) lies.
struct LinePosition {
    index: usize,
    /// The line's top (horizontal) or the column's left edge counted from the right (vertical).
    start: f32,
    /// The layout's width.
    width: f32,
    font_size: f32,
    em_ascent: f32,
}

/// Places a cluster's glyphs at `pen` (along the line) and returns the pen after it.
fn place_cluster(cluster: &Cluster, text: &str, pen: f32, line: &LinePosition, out: &mut Vec<PlacedGlyph>) -> f32 {
    let size = line.font_size;
    let scale = size / cluster.face.units_per_em();
    let advance = match cluster.orientation {
        Orientation::TateChuYoko => size,
        _ => cluster.advance_em * size,
    };
    // Vertical columns: the first is the rightmost.
    let column_center = line.width - line.start - size / 2.0;
    let (cell_x, cell_y) = match cluster.orientation {
        Orientation::Horizontal => (pen, line.start),
        _ => (column_center - size / 2.0, pen),
    };
    let tcy_width: f32 = cluster.glyphs.iter().map(|g| g.x_advance).sum::<f32>() * scale;
    let mut along = 0.0;
    for (k, g) in cluster.glyphs.iter().enumerate() {
        let (origin, rotated) = match cluster.orientation {
            Orientation::Horizontal => {
                let baseline = line.start + line.em_ascent * size;
                ((pen + along + g.x_offset * scale, baseline - g.y_offset * scale), false)
            }
            Orientation::Upright => ((column_center + g.x_offset * scale, pen + along - g.y_offset * scale), false),
            Orientation::Rotated => {
                let middle = cluster.face.em_middle() * size;
                ((column_center - middle + g.y_offset * scale, pen + along + g.x_offset * scale), true)
            }
            Orientation::TateChuYoko => {
                let baseline = pen + cluster.face.em_ascent() * size;
                ((column_center - tcy_width / 2.0 + along + g.x_offset * scale, baseline - g.y_offset * scale), false)
            }
        };
        along += match cluster.orientation {
            Orientation::Upright => -g.y_advance * scale,
            _ => g.x_advance * scale,
        };
        out.push(PlacedGlyph {
            text: if k == 0 { text.to_string() } else { String::new() },
            x: cell_x,
            y: cell_y,
            advance: if k == 0 { advance } else { 0.0 },
            rotated,
            vertical_form: cluster.vertical_form,
            glyph_id: g.id,
            face: cluster.face.clone(),
            font_size: size,
            origin,
            line: line.index,
        });
    }
    pen + advance
}

impl Paragraph {
    fn new(text: &str, clusters: Vec<Cluster>) -> Paragraph {
        let space: Vec<bool> = clusters.iter().map(|c| is_space_cluster(text, c)).collect();
        let first = |c: &Cluster| text[c.range.clone()].chars().next();
        let last = |c: &Cluster| text[c.range.clone()].chars().next_back();
        let mut breakable = vec![false; clusters.len()];
        let mut kinsoku_ok = vec![false; clusters.len()];
        for k in 1..clusters.len() {
            let (Some(a), Some(b)) = (last(&clusters[k - 1]), first(&clusters[k])) else { continue };
            let kinsoku = !(is_no_start(b) || is_no_end(a) || (is_inseparable(a) && a == b));
            kinsoku_ok[k] = kinsoku;
            breakable[k] = !space[k]
                && kinsoku
                && (space[k - 1] || is_cjk(a) || is_cjk(b) || ((a == '-' || a == '/') && b.is_alphanumeric()));
        }
        Paragraph { text: text.to_string(), clusters, breakable, space, kinsoku_ok }
    }

    fn advance(&self, k: usize, font_size: f32) -> f32 {
        match self.clusters[k].orientation {
            Orientation::TateChuYoko => font_size,
            _ => self.clusters[k].advance_em * font_size,
        }
    }

    /// The length of a line, trailing spaces left out.
    fn length(&self, range: std::ops::Range<usize>, font_size: f32) -> f32 {
        let mut end = range.end;
        while end > range.start && self.space[end - 1] {
            end -= 1;
        }
        (range.start..end).map(|k| self.advance(k, font_size)).sum()
    }

    /// Greedy line breaking: each line takes as many clusters as fit in `measure`,
    /// breaking at the last allowed place. Also counts the breaks made where none is
    /// allowed.
    fn break_lines(&self, measure: f32, font_size: f32) -> (Vec<std::ops::Range<usize>>, usize) {
        let n = self.clusters.len();
        let mut lines = Vec::new();
        let mut forced = 0;
        let mut start = 0;
        if n == 0 {
            lines.push(0..0);
            return (lines, 0);
        }
        while start < n {
            if !lines.is_empty() {
                while start < n && self.space[start] {
                    start += 1;
                }
                if start == n {
                    break;
                }
            }
            let mut width = 0.0;
            let mut candidate = None;
            let mut end = n;
            let mut k = start;
            while k < n {
                if k > start && self.breakable[k] {
                    candidate = Some(k);
                }
                let advance = self.advance(k, font_size);
                if k > start && !self.space[k] && width + advance > measure + EPSILON {
                    end = match candidate {
                        Some(end) => end,
                        None => {
                            forced += 1;
                            self.forced_break(start, k)
                        }
                    };
                    break;
                }
                width += advance;
                k += 1;
            }
            lines.push(start..end);
            start = end;
        }
        (lines, forced)
    }

    /// Where to break a line that has no allowed break: as late as kinsoku allows,
    /// or right before `k` when nothing does.
    fn forced_break(&self, start: usize, k: usize) -> usize {
        (start + 1..=k).rev().find(|&j| self.kinsoku_ok[j]).unwrap_or(k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::fonts;

    fn layout(text: &str, language: &str, vertical: bool, size: f32, max: (f32, f32)) -> TextLayout {
        typeset(fonts(), text, language, vertical, size, max).expect("typeset")
    }

    /// The text of each line.
    fn lines_of(layout: &TextLayout) -> Vec<String> {
        let mut lines = vec![String::new(); layout.lines];
        for g in &layout.glyphs {
            lines[g.line].push_str(&g.text);
        }
        lines
    }

    #[test]
    fn vertical_japanese_columns_run_right_to_left_and_down() {
        let text = "吾輩は猫である。名前はまだ無い。";
        let size = 20.0;
        let l = layout(text, "ja", true, size, (400.0, 8.0 * size));
        assert!(l.vertical && !l.overflow, "{l:?}");
        let cols = lines_of(&l);
        assert!(cols.len() >= 2, "{cols:?}");
        for col in &cols {
            assert!(col.chars().count() <= 8, "{cols:?}");
            assert!(!col.starts_with('。') && !col.starts_with('、'), "{cols:?}");
        }
        // The first column is the rightmost; within a column y grows downwards.
        let col_x = |line: usize| l.glyphs.iter().find(|g| g.line == line).map(|g| g.x).unwrap_or(f32::NAN);
        for c in 1..l.lines {
            assert!(col_x(c) < col_x(c - 1), "column {c} should be left of column {}", c - 1);
        }
        for pair in l.glyphs.windows(2) {
            if pair[0].line == pair[1].line {
                assert!(pair[1].y > pair[0].y, "{} should be below {}", pair[1].text, pair[0].text);
                assert!((pair[1].x - pair[0].x).abs() < 0.01);
            }
        }
        // 。 uses its vertical form and sits in the top-right quarter of its cell.
        let maru: Vec<&PlacedGlyph> = l.glyphs.iter().filter(|g| g.text == "。").collect();
        assert_eq!(maru.len(), 2);
        for g in maru {
            assert!(g.vertical_form);
            let ink = g.ink_bounds().expect("。 has an outline");
            let cell = g.cell();
            let (cx, cy) = ink.center();
            assert!(cx > cell.x + cell.w / 2.0, "ink {ink:?} should be right of the middle of {cell:?}");
            assert!(cy < cell.y + cell.h / 2.0, "ink {ink:?} should be above the middle of {cell:?}");
        }
        // The glyph id differs from the horizontal shaping.
        let h = layout("。", "ja", false, size, (100.0, 100.0));
        let v = layout("。", "ja", true, size, (100.0, 100.0));
        assert_ne!(h.glyphs[0].glyph_id, v.glyphs[0].glyph_id);
    }

    #[test]
    fn kinsoku_pushes_the_previous_character_out() {
        // Seven per column: a naive break would start the second column with 。.
        let size = 10.0;
        let text = "あいうえおかき。くけこ";
        let l = layout(text, "ja", true, size, (100.0, 7.0 * size));
        let cols = lines_of(&l);
        assert_eq!(cols, vec!["あいうえおか", "き。くけこ"]);
        // Horizontal too, and with 、 and a closing bracket.
        let l = layout("あいうえお、かきくけ」こ", "ja", false, size, (5.0 * size, 100.0));
        let lines = lines_of(&l);
        assert_eq!(lines[0], "あいうえ");
        for line in &lines {
            assert!(!line.starts_with(['、', '」', '。']), "{lines:?}");
        }
        // No line ends with an opening bracket.
        let l = layout("あいうえ「おかき」", "ja", false, size, (5.0 * size, 100.0));
        for line in lines_of(&l) {
            assert!(!line.ends_with('「'), "{line}");
        }
    }

    #[test]
    fn english_wraps_on_spaces() {
        let text = "The quick brown fox jumps over the lazy dog near the riverbank";
        let size = 16.0;
        let l = layout(text, "en", false, size, (160.0, 400.0));
        assert!(!l.overflow);
        assert!(l.lines > 2);
        let words: Vec<&str> = text.split(' ').collect();
        for line in lines_of(&l) {
            for word in line.split(' ').filter(|w| !w.is_empty()) {
                assert!(words.contains(&word), "{word:?} is not a whole word: line {line:?}");
            }
        }
        assert_eq!(lines_of(&l).join(" ").split_whitespace().collect::<Vec<_>>(), words);
        assert!(l.width <= 160.0 + EPSILON);
        // Lines are centred: as much room on the left as on the right.
        for line in 0..l.lines {
            let ink: Vec<&PlacedGlyph> = l.glyphs.iter().filter(|g| g.line == line && g.text != " ").collect();
            let left = ink.iter().map(|g| g.x).fold(f32::MAX, f32::min);
            let right = ink.iter().map(|g| g.x + g.advance).fold(f32::MIN, f32::max);
            assert!((left - (l.width - right)).abs() < 0.5, "line {line}: {left} vs {}", l.width - right);
        }
    }

    #[test]
    fn a_word_longer_than_the_line_is_broken() {
        let l = layout("Supercalifragilistic", "en", false, 20.0, (60.0, 400.0));
        assert!(l.lines > 1);
        assert!(!l.overflow);
        assert_eq!(l.forced_breaks, l.lines - 1);
        let fine = layout("Two words", "en", false, 20.0, (60.0, 400.0));
        assert_eq!(fine.forced_breaks, 0);
    }

    #[test]
    fn overflow_when_the_box_is_too_small() {
        let l = layout("吾輩は猫である。名前はまだ無い。", "ja", true, 20.0, (30.0, 60.0));
        assert!(l.overflow);
        let fits = layout("猫", "ja", true, 20.0, (30.0, 60.0));
        assert!(!fits.overflow);
    }

    #[test]
    fn newlines_force_breaks_and_empty_text_is_empty() {
        let l = layout("Hi\nthere", "en", false, 12.0, (500.0, 500.0));
        assert_eq!(lines_of(&l), vec!["Hi", "there"]);
        let empty = layout("", "en", false, 12.0, (500.0, 500.0));
        assert!(empty.glyphs.is_empty());
    }

    #[test]
    fn latin_in_vertical_text_is_rotated() {
        let size = 40.0;
        let l = layout("猫はIH", "ja", true, size, (200.0, 400.0));
        let i = l.glyphs.iter().find(|g| g.text == "I").expect("I");
        assert!(i.rotated);
        // An upright I is a tall stroke; turned a quarter it lies across the column,
        // inside the column's width.
        let ink = i.ink_bounds().expect("ink");
        assert!(ink.w > 2.0 * ink.h, "{ink:?}");
        assert!(ink.x >= i.x - 1.0 && ink.right() <= i.x + size + 1.0, "{ink:?} outside the column at {}", i.x);
        let h = l.glyphs.iter().find(|g| g.text == "H").expect("H");
        assert!(h.y > i.y && (h.x - i.x).abs() < 0.01, "H comes below I in the same column");
        // The upright ideograph keeps its shape.
        let neko = l.glyphs.iter().find(|g| g.text == "猫").expect("猫");
        assert!(!neko.rotated && !neko.vertical_form);
    }

    #[test]
    fn tate_chu_yoko_sits_in_one_cell() {
        let l = layout("第12話", "ja", true, 20.0, (200.0, 400.0));
        let tcy = l.glyphs.iter().find(|g| g.text == "12").expect("12 as one cluster");
        assert!(!tcy.rotated);
        assert!((tcy.advance - 20.0).abs() < 0.01);
        let last = l.glyphs.last().expect("話");
        assert!((last.y - 40.0).abs() < 0.5, "話 is the third cell: {}", last.y);
    }

    #[test]
    fn bad_sizes_are_rejected() {
        assert!(matches!(typeset(fonts(), "a", "en", false, 0.0, (10.0, 10.0)), Err(BookError::Invalid(_))));
        assert!(matches!(typeset(fonts(), "a", "en", false, 10.0, (f32::NAN, 10.0)), Err(BookError::Invalid(_))));
    }

    #[test]
    fn a_book_without_fonts_gives_no_font() {
        let dir = tempfile::tempdir().expect("temp dir");
        let empty = FontBook::from_dirs(&[dir.path().to_path_buf()]).expect("empty font book");
        let result = typeset(&empty, "abc", "en", false, 12.0, (100.0, 100.0));
        assert!(matches!(result, Err(BookError::NoFont { ref text, .. }) if text == "abc"), "{result:?}");
    }

    #[test]
    fn missing_glyphs_give_no_font() {
        let result = typeset(fonts(), "猫\u{E000}", "ja", true, 20.0, (100.0, 100.0));
        assert!(matches!(result, Err(BookError::NoFont { ref text, .. }) if text == "\u{E000}"), "{result:?}");
    }
}
