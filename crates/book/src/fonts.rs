//! Finding fonts: the installed fonts are scanned once (fontdb), the faces a language
//! needs are picked by family, and a character no chosen face covers falls back to any
//! installed face that has it.
//!
//! | language            | face (bold: the family's bold face)        |
//! |---------------------|--------------------------------------------|
//! | `ja`                | Noto Sans CJK JP                           |
//! | `zh`, `zh-Hans`     | Noto Sans CJK SC                           |
//! | `zh-Hant`, `zh-TW`  | Noto Sans CJK TC (`zh-HK`: HK)             |
//! | `ko`                | Noto Sans CJK KR                           |
//! | anything else       | Comic Neue, then DejaVu Sans               |
//!
//! After those come Comic Neue, DejaVu Sans and the Noto Sans CJK faces, then every
//! other installed face. A face is read from disk the first time it is needed and kept
//! (its bytes in an [`Arc`], its shaping tables and character coverage computed once).

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::error::BookError;
use crate::geometry::Shape;

/// A font file's bytes, shared.
pub(crate) type FontData = Arc<dyn AsRef<[u8]> + Send + Sync>;

/// Fonts tried after a language's own, in order.
const COMMON_FALLBACKS: [&str; 7] = [
    "Comic Neue",
    "DejaVu Sans",
    "Noto Sans CJK JP",
    "Noto Sans CJK SC",
    "Noto Sans CJK TC",
    "Noto Sans CJK KR",
    "Noto Sans CJK HK",
];

/// One face of an installed font, loaded and ready to shape and draw with.
pub struct FontFace {
    id: fontdb::ID,
    family: String,
    data: FontData,
    index: u32,
    units_per_em: f32,
    ascender: f32,
    descender: f32,
    weight: u16,
    coverage: Vec<u64>,
    shaper: harfrust::ShaperData,
}

impl fmt::Debug for FontFace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FontFace")
            .field("family", &self.family)
            .field("index", &self.index)
            .field("weight", &self.weight)
            .finish_non_exhaustive()
    }
}

impl FontFace {
    fn load(id: fontdb::ID, family: String, weight: u16, data: FontData, index: u32) -> Result<FontFace, BookError> {
        let bytes: &[u8] = (*data).as_ref();
        let face = ttf_parser::Face::parse(bytes, index)
            .map_err(|e| BookError::Font(format!("{family} (face {index}): {e}")))?;
        let units_per_em = f32::from(face.units_per_em());
        let ascender = f32::from(face.typographic_ascender().unwrap_or_else(|| face.ascender()));
        let descender = f32::from(face.typographic_descender().unwrap_or_else(|| face.descender()));
        let mut coverage = Vec::new();
        if let Some(cmap) = face.tables().cmap {
            for subtable in cmap.subtables {
                if subtable.is_unicode() {
                    subtable.codepoints(|cp| {
                        let word = (cp / 64) as usize;
                        if word >= coverage.len() {
                            coverage.resize(word + 1, 0u64);
                        }
                        coverage[word] |= 1 << (cp % 64);
                    });
                }
            }
        }
        let font_ref = harfrust::FontRef::from_index(bytes, index)
            .map_err(|e| BookError::Font(format!("{family} (face {index}): {e}")))?;
        let shaper = harfrust::ShaperData::new(&font_ref);
        let (ascender, descender) = if ascender > 0.0 && ascender > descender {
            (ascender, descender)
        } else {
            (0.88 * units_per_em, -0.12 * units_per_em)
        };
        Ok(FontFace { id, family, data, index, units_per_em, ascender, descender, weight, coverage, shaper })
    }

    /// The family name the face was chosen by (or its first name).
    pub fn family(&self) -> &str {
        &self.family
    }

    /// The face's index in its font file (a collection holds several).
    pub fn index(&self) -> u32 {
        self.index
    }

    /// The weight (400 regular, 700 bold).
    pub fn weight(&self) -> u16 {
        self.weight
    }

    /// The font file's bytes.
    pub fn data(&self) -> &[u8] {
        (*self.data).as_ref()
    }

    pub(crate) fn shared_data(&self) -> FontData {
        self.data.clone()
    }

    /// The face's key in the font database.
    pub(crate) fn id(&self) -> fontdb::ID {
        self.id
    }

    /// Font units per em.
    pub fn units_per_em(&self) -> f32 {
        self.units_per_em
    }

    /// Whether the face has a glyph for `c`.
    pub fn covers(&self, c: char) -> bool {
        let cp = c as u32;
        cp != 0xFFFF && self.coverage.get((cp / 64) as usize).is_some_and(|w| w & (1 << (cp % 64)) != 0)
    }

    /// The part of the em box above the baseline, as a fraction of the em (0.88 for the
    /// CJK faces' ideographic em box).
    pub(crate) fn em_ascent(&self) -> f32 {
        self.ascender / (self.ascender - self.descender)
    }

    /// The middle of the em box above the baseline, as a fraction of the em (0.38 for
    /// the CJK faces): the line a turned glyph is centred on.
    pub(crate) fn em_middle(&self) -> f32 {
        (self.ascender + self.descender) / 2.0 / (self.ascender - self.descender)
    }

    pub(crate) fn ttf(&self) -> Option<ttf_parser::Face<'_>> {
        ttf_parser::Face::parse(self.data(), self.index).ok()
    }

    pub(crate) fn shaper_data(&self) -> &harfrust::ShaperData {
        &self.shaper
    }

    pub(crate) fn font_ref(&self) -> Option<harfrust::FontRef<'_>> {
        harfrust::FontRef::from_index(self.data(), self.index).ok()
    }

    /// The glyph's outline in font units (y up), if it has one.
    pub(crate) fn outline(face: &ttf_parser::Face<'_>, glyph_id: u16) -> Option<Shape> {
        let mut builder = OutlineToShape(Shape::new());
        face.outline_glyph(ttf_parser::GlyphId(glyph_id), &mut builder)?;
        Some(builder.0)
    }
}

struct OutlineToShape(Shape);

impl ttf_parser::OutlineBuilder for OutlineToShape {
    fn move_to(&mut self, x: f32, y: f32) {
        self.0.move_to(x, y);
    }
    fn line_to(&mut self, x: f32, y: f32) {
        self.0.line_to(x, y);
    }
    fn quad_to(&mut self, x1: f32, y1: f32, x: f32, y: f32) {
        self.0.quad_to(x1, y1, x, y);
    }
    fn curve_to(&mut self, x1: f32, y1: f32, x2: f32, y2: f32, x: f32, y: f32) {
        self.0.cubic_to(x1, y1, x2, y2, x, y);
    }
    fn close(&mut self) {
        self.0.close();
    }
}

/// The installed fonts, scanned once, with the faces loaded so far.
///
/// Cheap to share between threads (`Send + Sync`); put it in an [`Arc`] and keep it for
/// the life of the process.
pub struct FontBook {
    db: fontdb::Database,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    faces: HashMap<fontdb::ID, Arc<FontFace>>,
    files: HashMap<PathBuf, FontData>,
    chains: HashMap<(String, bool), Arc<[fontdb::ID]>>,
    fallbacks: HashMap<char, Option<fontdb::ID>>,
}

impl fmt::Debug for FontBook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FontBook").field("faces", &self.db.len()).finish_non_exhaustive()
    }
}

impl FontBook {
    /// The fonts installed on this system (fontconfig's directories and the usual
    /// places).
    pub fn system() -> Result<FontBook, BookError> {
        let mut db = fontdb::Database::new();
        db.load_system_fonts();
        Ok(FontBook::from_database(db))
    }

    /// The fonts in these directories (searched recursively) only.
    pub fn from_dirs(dirs: &[PathBuf]) -> Result<FontBook, BookError> {
        let mut db = fontdb::Database::new();
        for dir in dirs {
            if !dir.is_dir() {
                return Err(BookError::Font(format!("{} is not a directory", dir.display())));
            }
            db.load_fonts_dir(dir);
        }
        Ok(FontBook::from_database(db))
    }

    fn from_database(db: fontdb::Database) -> FontBook {
        FontBook { db, state: Mutex::new(State::default()) }
    }

    /// How many faces were found.
    pub fn len(&self) -> usize {
        self.db.len()
    }

    /// Whether no font was found at all.
    pub fn is_empty(&self) -> bool {
        self.db.is_empty()
    }

    /// The family names of every installed face, sorted, without repeats.
    pub fn families(&self) -> Vec<String> {
        let mut names: Vec<String> =
            self.db.faces().flat_map(|f| f.families.iter().map(|(name, _)| name.clone())).collect();
        names.sort();
        names.dedup();
        names
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while the lock was held leaves only caches behind, which stay valid.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The face text in `language` is set in, first choice (before any per-character
    /// fallback).
    pub fn primary_face(&self, language: &str, bold: bool) -> Result<Arc<FontFace>, BookError> {
        let chain = self.chain(language, bold);
        match chain.first() {
            Some(&id) => self.face(id),
            None => Err(BookError::NoFont { text: String::new(), language: language.to_string() }),
        }
    }

    /// The faces tried for `language`, in order (ids of installed faces only).
    pub(crate) fn chain(&self, language: &str, bold: bool) -> Arc<[fontdb::ID]> {
        let key = (language.trim().to_ascii_lowercase().replace('_', "-"), bold);
        if let Some(chain) = self.lock().chains.get(&key) {
            return chain.clone();
        }
        let mut ids: Vec<fontdb::ID> = Vec::new();
        for family in language_families(&key.0).iter().chain(COMMON_FALLBACKS.iter()) {
            let query = fontdb::Query {
                families: &[fontdb::Family::Name(family)],
                weight: if bold { fontdb::Weight::BOLD } else { fontdb::Weight::NORMAL },
                stretch: fontdb::Stretch::Normal,
                style: fontdb::Style::Normal,
            };
            if let Some(id) = self.db.query(&query)
                && !ids.contains(&id)
            {
                ids.push(id);
            }
        }
        let chain: Arc<[fontdb::ID]> = ids.into();
        self.lock().chains.insert(key, chain.clone());
        chain
    }

    /// The loaded face for a database id, loading it the first time.
    pub(crate) fn face(&self, id: fontdb::ID) -> Result<Arc<FontFace>, BookError> {
        let mut state = self.lock();
        if let Some(face) = state.faces.get(&id) {
            return Ok(face.clone());
        }
        let info = self.db.face(id).ok_or_else(|| BookError::Font(format!("no face with id {id}")))?;
        let family =
            info.families.first().map(|(name, _)| name.clone()).unwrap_or_else(|| info.post_script_name.clone());
        let data: FontData = match &info.source {
            fontdb::Source::Binary(data) => data.clone(),
            fontdb::Source::SharedFile(_, data) => data.clone(),
            fontdb::Source::File(path) => match state.files.get(path) {
                Some(data) => data.clone(),
                None => {
                    let bytes = read_font_file(path)?;
                    let data: FontData = Arc::new(bytes);
                    state.files.insert(path.clone(), data.clone());
                    data
                }
            },
        };
        let face = Arc::new(FontFace::load(id, family, info.weight.0, data, info.index)?);
        state.faces.insert(id, face.clone());
        Ok(face)
    }

    /// For each character, an installed face that covers it, searching every face in
    /// the database (regular upright faces first). Remembered per character.
    pub(crate) fn fallbacks(&self, chars: &[char]) -> HashMap<char, Option<fontdb::ID>> {
        let mut found: HashMap<char, Option<fontdb::ID>> = HashMap::new();
        let mut missing: Vec<char> = Vec::new();
        {
            let state = self.lock();
            for &c in chars {
                match state.fallbacks.get(&c) {
                    Some(known) => {
                        found.insert(c, *known);
                    }
                    None if !missing.contains(&c) => missing.push(c),
                    None => {}
                }
            }
        }
        if missing.is_empty() {
            return found;
        }
        let mut faces: Vec<&fontdb::FaceInfo> = self.db.faces().collect();
        faces.sort_by_key(|f| (f.style != fontdb::Style::Normal, f.weight.0.abs_diff(400), f.monospaced));
        for info in faces {
            if missing.is_empty() {
                break;
            }
            let covered: Vec<char> = self
                .db
                .with_face_data(info.id, |data, index| match ttf_parser::Face::parse(data, index) {
                    Ok(face) => {
                        missing.iter().copied().filter(|&c| face.glyph_index(c).is_some_and(|g| g.0 != 0)).collect()
                    }
                    Err(_) => Vec::new(),
                })
                .unwrap_or_default();
            for c in covered {
                found.insert(c, Some(info.id));
                missing.retain(|&m| m != c);
            }
        }
        for c in missing {
            found.insert(c, None);
        }
        let mut state = self.lock();
        for (c, id) in &found {
            state.fallbacks.insert(*c, *id);
        }
        found
    }
}

fn read_font_file(path: &Path) -> Result<Vec<u8>, BookError> {
    std::fs::read(path).map_err(|e| BookError::Font(format!("cannot read {}: {e}", path.display())))
}

/// The families a language is set in, best first.
fn language_families(tag: &str) -> &'static [&'static str] {
    let mut parts = tag.split('-');
    let primary = parts.next().unwrap_or_default();
    let rest: Vec<&str> = parts.collect();
    match primary {
        "ja" => &["Noto Sans CJK JP"],
        "ko" => &["Noto Sans CJK KR"],
        "zh" if rest.contains(&"hk") => &["Noto Sans CJK HK", "Noto Sans CJK TC"],
        "zh" if rest.iter().any(|p| matches!(*p, "hant" | "tw" | "mo")) => &["Noto Sans CJK TC"],
        "zh" => &["Noto Sans CJK SC"],
        _ => &["Comic Neue", "DejaVu Sans"],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::fonts;

    #[test]
    fn font_book_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<FontBook>();
        check::<FontFace>();
    }

    #[test]
    fn language_picks_the_family() {
        assert_eq!(language_families("ja"), &["Noto Sans CJK JP"]);
        assert_eq!(language_families("zh-hant"), &["Noto Sans CJK TC"]);
        assert_eq!(language_families("zh-tw"), &["Noto Sans CJK TC"]);
        assert_eq!(language_families("zh"), &["Noto Sans CJK SC"]);
        assert_eq!(language_families("en-us"), &["Comic Neue", "DejaVu Sans"]);
    }

    #[test]
    fn faces_for_languages() {
        let book = fonts();
        let ja = book.primary_face("ja", false).ok();
        assert_eq!(ja.as_ref().map(|f| f.family()), Some("Noto Sans CJK JP"));
        let ja_bold = book.primary_face("ja", true).ok();
        assert!(ja_bold.as_ref().is_some_and(|f| f.weight() >= 700), "{ja_bold:?}");
        let zh = book.primary_face("zh-CN", false).ok();
        assert_eq!(zh.as_ref().map(|f| f.family()), Some("Noto Sans CJK SC"));
        let en = book.primary_face("en", true).ok();
        assert_eq!(en.as_ref().map(|f| (f.family(), f.weight())), Some(("Comic Neue", 700)));
        assert!(ja.is_some_and(|f| f.covers('猫') && f.covers('A') && !f.covers('\u{E000}')));
    }

    #[test]
    fn faces_are_loaded_once() {
        let book = fonts();
        let (Ok(a), Ok(b)) = (book.primary_face("ja", false), book.primary_face("ja", false)) else {
            panic!("no Japanese face");
        };
        assert!(Arc::ptr_eq(&a, &b));
        // The Chinese face is in the same collection file: its bytes are shared.
        if let Ok(zh) = book.primary_face("zh", false) {
            assert!(std::ptr::eq(zh.data().as_ptr(), a.data().as_ptr()));
        }
    }

    #[test]
    fn fallback_finds_a_face_or_none() {
        let book = fonts();
        let found = book.fallbacks(&['猫', '\u{E000}']);
        assert!(found.get(&'猫').is_some_and(|id| id.is_some()));
        assert_eq!(found.get(&'\u{E000}'), Some(&None));
    }

    #[test]
    fn missing_directory_is_an_error() {
        let result = FontBook::from_dirs(&[PathBuf::from("/no/such/fonts")]);
        assert!(matches!(result, Err(BookError::Font(_))));
    }

    #[test]
    fn empty_directory_gives_an_empty_book() {
        let Ok(dir) = tempfile::tempdir() else { return };
        let book = FontBook::from_dirs(&[dir.path().to_path_buf()]);
        assert!(book.is_ok_and(|b| b.is_empty()));
    }
}
