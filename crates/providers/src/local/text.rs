//! Font discovery and text drawing.
//!
//! Fonts are found at run time with `fontdb` (the system fonts, plus the directories
//! listed in `ATELIER_FONT_DIRS`, colon-separated). The index is built once, lazily;
//! a face is only parsed and loaded for drawing (with `ab_glyph`) the first time a
//! character needs it, and the choice of face per character is cached.
//!
//! Faces are ranked once, deterministically (DejaVu Sans, then other sans faces with
//! the CJK ones ordered SC, JP, TC, KR, then everything else; regular upright faces
//! first), and each character is drawn with the first face that has a glyph for it.
//! A character that no face covers is drawn as an outlined box ("tofu"); with no fonts
//! at all, every character is a box. Nothing here panics on any text.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{LazyLock, Mutex, OnceLock, PoisonError};

use ab_glyph::{Font, FontRef, FontVec, GlyphId, PxScale, ScaleFont, point};
use image::RgbImage;
use serde::Serialize;

/// Extra font directories, colon-separated (as `PATH`).
pub const FONT_DIRS_ENV: &str = "ATELIER_FONT_DIRS";

/// What fonts this process found, for the server's system information.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FontReport {
    /// Font faces indexed (a `.ttc` collection counts each face).
    pub faces: usize,
    /// Distinct family names.
    pub families: usize,
    /// The family used first for drawing text, if any.
    pub primary_family: Option<String>,
    /// Whether some face covers basic Latin.
    pub latin: bool,
    /// Whether some face covers CJK ideographs and kana (中, 日, あ).
    pub cjk: bool,
}

/// The fonts of this process (system fonts plus `ATELIER_FONT_DIRS`), built on first use.
///
/// The first call scans the font directories: call it from a blocking context.
pub fn font_report() -> FontReport {
    FontSet::system().report()
}

/// Indexed font faces, loaded lazily, with a per-character face choice cache.
pub struct FontSet {
    db: fontdb::Database,
    /// Face ids in preference order.
    order: Vec<fontdb::ID>,
    /// The `ab_glyph` font for `order[i]`, loaded on first use (`None`: unloadable).
    loaded: Vec<OnceLock<Option<FontVec>>>,
    /// Which slot of `order` draws a character (`None`: no face covers it).
    picks: Mutex<HashMap<char, Option<usize>>>,
}

impl std::fmt::Debug for FontSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FontSet").field("faces", &self.order.len()).finish_non_exhaustive()
    }
}

static SYSTEM: LazyLock<FontSet> = LazyLock::new(|| {
    let started = std::time::Instant::now();
    let mut db = fontdb::Database::new();
    db.load_system_fonts();
    if let Some(dirs) = std::env::var_os(FONT_DIRS_ENV) {
        for dir in std::env::split_paths(&dirs) {
            if !dir.as_os_str().is_empty() {
                db.load_fonts_dir(dir);
            }
        }
    }
    let set = FontSet::from_database(db);
    tracing::debug!(faces = set.order.len(), elapsed_ms = started.elapsed().as_millis() as u64, "fonts indexed");
    if set.order.is_empty() {
        tracing::warn!("no fonts found: placeholder text will be drawn as boxes (set {FONT_DIRS_ENV})");
    }
    set
});

/// The preferred families, best first; anything else ranks after them.
const PREFERRED_FAMILIES: &[&str] = &[
    "DejaVu Sans",
    "Noto Sans",
    "Liberation Sans",
    "Arial",
    "Helvetica",
    "Noto Sans CJK SC",
    "Noto Sans CJK JP",
    "Noto Sans CJK TC",
    "Noto Sans CJK KR",
    "Noto Sans CJK HK",
    "Source Han Sans SC",
    "Source Han Sans",
    "WenQuanYi Micro Hei",
    "WenQuanYi Zen Hei",
    "Droid Sans Fallback",
];

fn family_of(info: &fontdb::FaceInfo) -> &str {
    info.families.first().map(|(name, _)| name.as_str()).unwrap_or("")
}

fn source_path(info: &fontdb::FaceInfo) -> PathBuf {
    match &info.source {
        fontdb::Source::File(path) | fontdb::Source::SharedFile(path, _) => path.clone(),
        fontdb::Source::Binary(_) => PathBuf::new(),
    }
}

type RankKey = (usize, u8, u16, u16, String, PathBuf, u32);

fn rank(info: &fontdb::FaceInfo) -> RankKey {
    let family = family_of(info);
    let class = match PREFERRED_FAMILIES.iter().position(|f| *f == family) {
        Some(i) => i,
        None => {
            let lower = family.to_ascii_lowercase();
            let mono = info.monospaced || lower.contains("mono");
            let sans = lower.contains("sans") && !lower.contains("serif");
            let symbolic = lower.contains("math") || lower.contains("symbol") || lower.contains("emoji");
            PREFERRED_FAMILIES.len()
                + match (sans, mono, symbolic) {
                    (true, false, false) => 0,
                    (false, false, false) => 1,
                    (_, true, false) => 2,
                    (_, _, true) => 3,
                }
        }
    };
    let upright = u8::from(info.style != fontdb::Style::Normal);
    let weight = info.weight.0.abs_diff(400);
    let stretch = info.stretch.to_number().abs_diff(fontdb::Stretch::Normal.to_number());
    (class, upright, weight, stretch, family.to_owned(), source_path(info), info.index)
}

impl FontSet {
    /// The process-wide set (system fonts plus `ATELIER_FONT_DIRS`).
    pub fn system() -> &'static FontSet {
        &SYSTEM
    }

    /// A set over the fonts of the given directories only (no system fonts).
    pub fn from_dirs<P: AsRef<Path>>(dirs: &[P]) -> Self {
        let mut db = fontdb::Database::new();
        for dir in dirs {
            db.load_fonts_dir(dir);
        }
        Self::from_database(db)
    }

    /// A set with no fonts: every character is drawn as a box.
    pub fn empty() -> Self {
        Self::from_database(fontdb::Database::new())
    }

    pub fn from_database(db: fontdb::Database) -> Self {
        let mut ranked: Vec<(RankKey, fontdb::ID)> = db.faces().map(|info| (rank(info), info.id)).collect();
        ranked.sort_by(|a, b| a.0.cmp(&b.0));
        let order: Vec<fontdb::ID> = ranked.into_iter().map(|(_, id)| id).collect();
        let loaded = order.iter().map(|_| OnceLock::new()).collect();
        Self { db, order, loaded, picks: Mutex::new(HashMap::new()) }
    }

    pub fn report(&self) -> FontReport {
        let families: BTreeSet<&str> = self.db.faces().map(family_of).collect();
        let primary_family = self.order.first().and_then(|id| self.db.face(*id)).map(|info| family_of(info).to_owned());
        FontReport {
            faces: self.order.len(),
            families: families.len(),
            primary_family,
            latin: "Aa".chars().all(|c| self.covers(c)),
            cjk: "中日あ".chars().all(|c| self.covers(c)),
        }
    }

    /// Whether some face has a glyph for `c`. Only asks the faces (memory-mapped, as
    /// [`FontSet::slot_has_glyph`] does): a face is loaded when it draws, not when the
    /// server reports what it could draw (loading a CJK collection to answer
    /// `/system/info` held 22 MB).
    pub fn covers(&self, c: char) -> bool {
        if let Some(pick) = self.picks.lock().unwrap_or_else(PoisonError::into_inner).get(&c) {
            return pick.is_some();
        }
        (0..self.order.len()).any(|slot| self.slot_has_glyph(slot, c))
    }

    fn font(&self, slot: usize) -> Option<&FontVec> {
        let id = *self.order.get(slot)?;
        self.loaded
            .get(slot)?
            .get_or_init(|| {
                let font = self
                    .db
                    .with_face_data(id, |data, index| FontVec::try_from_vec_and_index(data.to_vec(), index).ok())
                    .flatten();
                if font.is_none() {
                    tracing::warn!(face = ?self.db.face(id).map(source_path), "cannot load a font face");
                }
                font
            })
            .as_ref()
    }

    fn slot_has_glyph(&self, slot: usize, c: char) -> bool {
        if let Some(Some(font)) = self.loaded.get(slot).and_then(OnceLock::get) {
            return font.glyph_id(c).0 != 0;
        }
        let Some(id) = self.order.get(slot) else {
            return false;
        };
        // Not loaded yet: look at the (memory-mapped) face without copying it.
        self.db
            .with_face_data(*id, |data, index| {
                FontRef::try_from_slice_and_index(data, index).is_ok_and(|font| font.glyph_id(c).0 != 0)
            })
            .unwrap_or(false)
    }

    /// The slot whose face draws `c`, loading that face if needed.
    fn pick(&self, c: char) -> Option<usize> {
        if let Some(pick) = self.picks.lock().unwrap_or_else(PoisonError::into_inner).get(&c) {
            return *pick;
        }
        let pick = (0..self.order.len()).find(|&slot| self.slot_has_glyph(slot, c) && self.font(slot).is_some());
        self.picks.lock().unwrap_or_else(PoisonError::into_inner).insert(c, pick);
        pick
    }

    /// Lays out one line of text at `px` pixels per em.
    fn layout(&self, text: &str, px: f32) -> Vec<Placed> {
        let mut placed = Vec::with_capacity(text.len());
        let mut x = 0.0f32;
        let mut previous: Option<(usize, GlyphId)> = None;
        for c in text.chars() {
            let c = if c.is_whitespace() { ' ' } else { c };
            if c.is_control() {
                continue;
            }
            match self.pick(c).and_then(|slot| Some((slot, self.font(slot)?))) {
                Some((slot, font)) => {
                    let scaled = font.as_scaled(scale_for(font, px));
                    let id = font.glyph_id(c);
                    if let Some((previous_slot, previous_id)) = previous
                        && previous_slot == slot
                    {
                        x += scaled.kern(previous_id, id);
                    }
                    placed.push(Placed { x, glyph: Drawn::Glyph { slot, id } });
                    x += scaled.h_advance(id);
                    previous = Some((slot, id));
                }
                None if c == ' ' => {
                    x += px * 0.33;
                    previous = None;
                }
                None => {
                    placed.push(Placed { x, glyph: Drawn::Tofu });
                    x += px * TOFU_ADVANCE;
                    previous = None;
                }
            }
        }
        placed.push(Placed { x, glyph: Drawn::End });
        placed
    }

    /// The width of `text` in pixels at `px` pixels per em.
    pub fn measure(&self, text: &str, px: f32) -> f32 {
        self.layout(text, px).last().map_or(0.0, |end| end.x)
    }

    /// Draws one line of text starting at `origin` (x, baseline y).
    pub fn draw(&self, image: &mut RgbImage, text: &str, origin: (f32, f32), px: f32, color: [u8; 3], opacity: f32) {
        let (x, baseline) = origin;
        if px < 1.0 || !px.is_finite() {
            return;
        }
        for placed in self.layout(text, px) {
            let origin = x + placed.x;
            match placed.glyph {
                Drawn::Glyph { slot, id } => {
                    let Some(font) = self.font(slot) else {
                        continue;
                    };
                    let glyph = id.with_scale_and_position(scale_for(font, px), point(origin, baseline));
                    let Some(outlined) = font.outline_glyph(glyph) else {
                        continue;
                    };
                    let bounds = outlined.px_bounds();
                    let (left, top) = (bounds.min.x as i64, bounds.min.y as i64);
                    outlined.draw(|gx, gy, coverage| {
                        blend(image, left + i64::from(gx), top + i64::from(gy), color, coverage * opacity);
                    });
                }
                Drawn::Tofu => draw_tofu(image, origin, baseline, px, color, opacity),
                Drawn::End => {}
            }
        }
    }

    /// Wraps `text` into at most `max_lines` lines no wider than `max_width`, breaking
    /// at spaces (and anywhere in a word too long for a line, or between CJK
    /// characters). When the text does not fit, the last line ends with an ellipsis.
    pub fn wrap(&self, text: &str, px: f32, max_width: f32, max_lines: usize) -> Vec<String> {
        if max_lines == 0 {
            return Vec::new();
        }
        let words: Vec<&str> = text.split_whitespace().collect();
        let mut lines: Vec<String> = Vec::new();
        let mut current = String::new();
        let mut truncated = false;
        'words: for word in words {
            for piece in split_cjk(word) {
                let candidate = if current.is_empty() || piece.joiner.is_empty() {
                    format!("{current}{}", piece.text)
                } else {
                    format!("{current}{}{}", piece.joiner, piece.text)
                };
                if self.measure(&candidate, px) <= max_width {
                    current = candidate;
                    continue;
                }
                // The piece does not fit on this line.
                if !current.is_empty() {
                    if lines.len() + 1 >= max_lines {
                        truncated = true;
                        break 'words;
                    }
                    lines.push(std::mem::take(&mut current));
                }
                // Break a piece too long for a whole line character by character.
                for c in piece.text.chars() {
                    let candidate = format!("{current}{c}");
                    if self.measure(&candidate, px) <= max_width || current.is_empty() {
                        current = candidate;
                    } else {
                        if lines.len() + 1 >= max_lines {
                            truncated = true;
                            break 'words;
                        }
                        lines.push(std::mem::take(&mut current));
                        current.push(c);
                    }
                }
            }
        }
        if !current.is_empty() {
            lines.push(current);
        }
        if truncated && let Some(last) = lines.last_mut() {
            *last = self.with_ellipsis(last, px, max_width);
        }
        lines
    }

    fn with_ellipsis(&self, line: &str, px: f32, max_width: f32) -> String {
        let ellipsis = if self.covers('…') { "…" } else { "..." };
        let mut chars: Vec<char> = line.trim_end().chars().collect();
        loop {
            let candidate: String = chars.iter().collect::<String>().trim_end().to_owned() + ellipsis;
            if chars.is_empty() || self.measure(&candidate, px) <= max_width {
                return candidate;
            }
            chars.pop();
        }
    }

    /// Ascent and descent (positive, below the baseline) in pixels at `px` per em,
    /// from the primary face (or typical proportions when there is none).
    pub fn line_metrics(&self, px: f32) -> (f32, f32) {
        match self.pick('A').and_then(|slot| self.font(slot)) {
            Some(font) => {
                let scaled = font.as_scaled(scale_for(font, px));
                (scaled.ascent(), -scaled.descent())
            }
            None => (px * 0.8, px * 0.2),
        }
    }
}

struct Piece<'a> {
    /// What goes before this piece when it follows other text on a line.
    joiner: &'static str,
    text: &'a str,
}

/// Splits a whitespace-free word so that CJK characters can each start a line.
fn split_cjk(word: &str) -> Vec<Piece<'_>> {
    let mut pieces = Vec::new();
    let mut start = 0;
    let mut joiner = " ";
    for (i, c) in word.char_indices() {
        if is_cjk(c) {
            if start < i {
                pieces.push(Piece { joiner, text: &word[start..i] });
                joiner = "";
            }
            let end = i + c.len_utf8();
            pieces.push(Piece { joiner, text: &word[i..end] });
            joiner = "";
            start = end;
        }
    }
    if start < word.len() {
        pieces.push(Piece { joiner, text: &word[start..] });
    }
    pieces
}

fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x2E80..=0x2FDF | 0x3000..=0x30FF | 0x3100..=0x31FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF
        | 0xAC00..=0xD7AF | 0xF900..=0xFAFF | 0xFF00..=0xFFEF | 0x20000..=0x2FFFF)
}

const TOFU_ADVANCE: f32 = 0.6;

struct Placed {
    x: f32,
    glyph: Drawn,
}

enum Drawn {
    Glyph {
        slot: usize,
        id: GlyphId,
    },
    Tofu,
    /// The pen position after the last character: the line's width.
    End,
}

/// `PxScale` is relative to the face's height; this makes `px` mean pixels per em for
/// every face, so that mixed faces line up.
fn scale_for(font: &FontVec, px: f32) -> PxScale {
    let units_per_em = font.units_per_em().filter(|u| *u > 0.0).unwrap_or(1000.0);
    let height = font.height_unscaled();
    if height > 0.0 { PxScale::from(px * height / units_per_em) } else { PxScale::from(px) }
}

/// Blends `color` over one pixel with the given alpha; out-of-image pixels are skipped.
pub(crate) fn blend(image: &mut RgbImage, x: i64, y: i64, color: [u8; 3], alpha: f32) {
    let (Ok(x), Ok(y)) = (u32::try_from(x), u32::try_from(y)) else {
        return;
    };
    let alpha = alpha.clamp(0.0, 1.0);
    if alpha <= 0.0 {
        return;
    }
    if let Some(pixel) = image.get_pixel_mut_checked(x, y) {
        for (channel, target) in pixel.0.iter_mut().zip(color) {
            let value = f32::from(*channel) + (f32::from(target) - f32::from(*channel)) * alpha;
            *channel = value.round().clamp(0.0, 255.0) as u8;
        }
    }
}

/// Blends `color` over a rectangle `[x0, x1) × [y0, y1)` (clipped to the image).
pub(crate) fn fill_rect(image: &mut RgbImage, x0: i64, y0: i64, x1: i64, y1: i64, color: [u8; 3], alpha: f32) {
    let (width, height) = (i64::from(image.width()), i64::from(image.height()));
    let (x0, x1) = (x0.clamp(0, width), x1.clamp(0, width));
    let (y0, y1) = (y0.clamp(0, height), y1.clamp(0, height));
    for y in y0..y1 {
        for x in x0..x1 {
            blend(image, x, y, color, alpha);
        }
    }
}

/// An outlined box standing for a character no font covers.
fn draw_tofu(image: &mut RgbImage, x: f32, baseline: f32, px: f32, color: [u8; 3], opacity: f32) {
    let stroke = (px / 14.0).round().max(1.0) as i64;
    let left = (x + px * 0.08).round() as i64;
    let right = (x + px * (TOFU_ADVANCE - 0.08)).round() as i64;
    let top = (baseline - px * 0.72).round() as i64;
    let bottom = baseline.round() as i64;
    if right - left < 2 || bottom - top < 2 {
        fill_rect(image, left, top, right.max(left + 1), bottom.max(top + 1), color, opacity);
        return;
    }
    fill_rect(image, left, top, right, top + stroke, color, opacity);
    fill_rect(image, left, bottom - stroke, right, bottom, color, opacity);
    fill_rect(image, left, top + stroke, left + stroke, bottom - stroke, color, opacity);
    fill_rect(image, right - stroke, top + stroke, right, bottom - stroke, color, opacity);
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEJAVU_DIR: &str = "/usr/share/fonts/truetype/dejavu";
    const NOTO_CJK_DIR: &str = "/usr/share/fonts/opentype/noto";

    fn ink(image: &RgbImage) -> usize {
        image.pixels().filter(|p| p.0 != [0, 0, 0]).count()
    }

    #[test]
    fn an_empty_set_draws_boxes_and_covers_nothing() {
        let set = FontSet::empty();
        assert!(!set.covers('A'));
        let report = set.report();
        assert_eq!(report.faces, 0);
        assert!(!report.latin && !report.cjk);
        let mut image = RgbImage::new(200, 40);
        set.draw(&mut image, "Hi 中", (4.0, 30.0), 20.0, [255, 255, 255], 1.0);
        assert!(ink(&image) > 0, "boxes are drawn");
        assert!(set.measure("Hi", 20.0) > 0.0);
    }

    #[test]
    fn dejavu_covers_latin_and_not_cjk() {
        if !Path::new(DEJAVU_DIR).exists() {
            return;
        }
        let set = FontSet::from_dirs(&[DEJAVU_DIR]);
        assert!(set.covers('A'));
        assert!(set.covers('é'));
        assert!(!set.covers('中'));
        let report = set.report();
        assert_eq!(report.primary_family.as_deref(), Some("DejaVu Sans"));
        assert!(report.latin);
        assert!(!report.cjk);
    }

    #[test]
    fn cjk_coverage_comes_from_noto_when_installed() {
        if !Path::new(NOTO_CJK_DIR).join("NotoSansCJK-Regular.ttc").exists() {
            return;
        }
        let set = FontSet::from_dirs(&[DEJAVU_DIR, NOTO_CJK_DIR]);
        assert!(set.covers('中') && set.covers('あ'));
        assert!(set.report().cjk);
        // Asking what the faces cover loads none of them (a CJK collection is ~20 MB).
        assert!(set.loaded.iter().all(|face| face.get().is_none()), "a face was loaded to be asked");
        let mut image = RgbImage::new(200, 40);
        set.draw(&mut image, "红色的狐狸", (4.0, 30.0), 20.0, [255, 255, 255], 1.0);
        assert!(ink(&image) > 0);
    }

    #[test]
    fn system_report_does_not_panic() {
        let report = font_report();
        assert!(report.families <= report.faces);
    }

    #[test]
    fn wrapping_fits_and_ellipsises() {
        let set = FontSet::system();
        let text = "a very long prompt about a red fox jumping over a lazy dog in the golden evening light";
        let lines = set.wrap(text, 16.0, 120.0, 3);
        assert!(!lines.is_empty() && lines.len() <= 3);
        for line in &lines {
            assert!(set.measure(line, 16.0) <= 120.0 || line.chars().count() <= 2, "{line:?}");
        }
        let last = lines.last().expect("a line");
        assert!(last.ends_with('…') || last.ends_with("..."), "{last:?}");
        let short = set.wrap("short", 16.0, 400.0, 3);
        assert_eq!(short, ["short"]);
        let cjk = set.wrap("一二三四五六七八九十一二三四五六七八九十", 16.0, 60.0, 2);
        assert_eq!(cjk.len(), 2);
        assert!(set.wrap("", 16.0, 60.0, 2).is_empty());
        // Absurd sizes do not panic.
        let _ = set.wrap("abc", 500.0, 1.0, 1);
        let _ = set.wrap("abc", 0.5, 1.0, 0);
    }

    #[test]
    fn split_cjk_keeps_latin_words_whole() {
        let pieces: Vec<(&str, &str)> = split_cjk("abc中文def").iter().map(|p| (p.joiner, p.text)).collect();
        assert_eq!(pieces, [(" ", "abc"), ("", "中"), ("", "文"), ("", "def")]);
    }
}
