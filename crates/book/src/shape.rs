//! Shaping: a paragraph of text becomes clusters of positioned glyphs (harfrust).
//!
//! Each character gets a face (the language's faces in order, then any installed face
//! that covers it) and, in vertical text, an orientation. Runs of the same face and
//! orientation are shaped together: upright runs top to bottom, which turns on the
//! fonts' vertical alternates (`vert`/`vrt2`), and everything else left to right.
//! Glyph metrics stay in font units here; the layout scales them to the font size.

use std::ops::Range;
use std::str::FromStr;
use std::sync::Arc;

use crate::charclass::{VerticalOrientation, is_break_space, is_invisible, is_tate_chu_yoko, vertical_orientation};
use crate::error::BookError;
use crate::fonts::{FontBook, FontFace};

/// How a cluster stands in its line or column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Orientation {
    /// Horizontal text.
    Horizontal,
    /// Vertical text, the glyph upright (shaped top to bottom).
    Upright,
    /// Vertical text, the glyph turned 90° clockwise (shaped left to right).
    Rotated,
    /// Vertical text, one or two half-width characters side by side in one upright cell.
    TateChuYoko,
}

/// One glyph as the shaper placed it, in font units (y up, as in HarfBuzz).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct ShapedGlyph {
    pub(crate) id: u16,
    pub(crate) x_advance: f32,
    pub(crate) y_advance: f32,
    pub(crate) x_offset: f32,
    pub(crate) y_offset: f32,
}

/// The glyphs of one cluster: the smallest piece of text a line may break around.
#[derive(Clone, Debug)]
pub(crate) struct Cluster {
    /// The cluster's bytes in the paragraph.
    pub(crate) range: Range<usize>,
    pub(crate) face: Arc<FontFace>,
    pub(crate) orientation: Orientation,
    pub(crate) glyphs: Vec<ShapedGlyph>,
    /// The advance along the line or column, in ems.
    pub(crate) advance_em: f32,
    /// A vertical alternate replaced the horizontal glyph.
    pub(crate) vertical_form: bool,
}

/// Per-character facts used while itemizing.
#[derive(Clone, Copy)]
struct CharInfo {
    start: usize,
    face: usize,
    orientation: Orientation,
    rotate_unless_vertical_form: bool,
}

/// Shapes one paragraph (no `\n` inside) into clusters, in text order.
pub(crate) fn shape_paragraph(
    fonts: &FontBook,
    text: &str,
    language: &str,
    bold: bool,
    vertical: bool,
) -> Result<Vec<Cluster>, BookError> {
    if text.is_empty() {
        return Ok(Vec::new());
    }
    let (faces, face_of) = assign_faces(fonts, text, language, bold)?;
    if faces.is_empty() {
        return Ok(Vec::new());
    }
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let orientations = orientations(&chars, vertical);
    let infos: Vec<CharInfo> = chars
        .iter()
        .zip(face_of.iter().zip(orientations.iter()))
        .map(|(&(start, _), (&face, &(orientation, rotate)))| CharInfo {
            start,
            face,
            orientation,
            rotate_unless_vertical_form: rotate,
        })
        .collect();

    let language = harfrust::Language::from_str(language).ok();
    let mut clusters = Vec::new();
    let mut i = 0;
    while i < infos.len() {
        let mut j = i + 1;
        // A run continues while the face and orientation stay the same; a
        // tate-chu-yoko group holds two characters at most.
        while j < infos.len()
            && infos[j].face == infos[i].face
            && infos[j].orientation == infos[i].orientation
            && (infos[i].orientation != Orientation::TateChuYoko || j - i < 2)
        {
            j += 1;
        }
        let start = infos[i].start;
        let end = infos.get(j).map_or(text.len(), |c| c.start);
        let face = &faces[infos[i].face];
        let mut run = shape_run(face, &text[start..end], start, infos[i].orientation, language.as_ref())?;
        if infos[i].orientation == Orientation::Upright {
            // Brackets, dashes and the like turn when the font has no vertical form.
            for cluster in &mut run {
                let needs_turn = !cluster.vertical_form
                    && infos[i..j].iter().any(|c| c.start == cluster.range.start && c.rotate_unless_vertical_form);
                if needs_turn {
                    let piece = &text[cluster.range.clone()];
                    let turned = shape_run(face, piece, cluster.range.start, Orientation::Rotated, language.as_ref())?;
                    if let Some(turned) = merge_clusters(turned, cluster.range.clone()) {
                        *cluster = turned;
                    }
                }
            }
        }
        clusters.extend(run);
        i = j;
    }
    Ok(clusters)
}

/// The faces used by the text and, per character, the index of its face.
fn assign_faces(
    fonts: &FontBook,
    text: &str,
    language: &str,
    bold: bool,
) -> Result<(Vec<Arc<FontFace>>, Vec<usize>), BookError> {
    let chain = fonts.chain(language, bold);
    let mut loaded: Vec<Option<Arc<FontFace>>> = vec![None; chain.len()];
    let mut faces: Vec<Arc<FontFace>> = Vec::new();
    let mut choice: Vec<Option<usize>> = Vec::new();
    let mut missing: Vec<char> = Vec::new();

    let index_of = |face: &Arc<FontFace>, faces: &mut Vec<Arc<FontFace>>| -> usize {
        match faces.iter().position(|f| Arc::ptr_eq(f, face)) {
            Some(i) => i,
            None => {
                faces.push(face.clone());
                faces.len() - 1
            }
        }
    };

    for ch in text.chars() {
        if !needs_glyph(ch) {
            choice.push(None);
            continue;
        }
        let mut chosen = None;
        for (k, id) in chain.iter().enumerate() {
            if loaded[k].is_none() {
                // A face that cannot be read is skipped like one that lacks the glyph.
                loaded[k] = fonts.face(*id).ok();
            }
            if let Some(face) = &loaded[k]
                && face.covers(ch)
            {
                chosen = Some(index_of(face, &mut faces));
                break;
            }
        }
        if chosen.is_none() && !missing.contains(&ch) {
            missing.push(ch);
        }
        choice.push(chosen);
    }

    if !missing.is_empty() {
        let found = fonts.fallbacks(&missing);
        let mut uncovered = String::new();
        for (ch, slot) in text.chars().zip(choice.iter_mut()) {
            if slot.is_some() || !needs_glyph(ch) {
                continue;
            }
            match found.get(&ch).copied().flatten().and_then(|id| fonts.face(id).ok()) {
                Some(face) => *slot = Some(index_of(&face, &mut faces)),
                None => {
                    if !uncovered.contains(ch) {
                        uncovered.push(ch);
                    }
                }
            }
        }
        if !uncovered.is_empty() {
            return Err(BookError::NoFont { text: uncovered, language: language.to_string() });
        }
    }

    // Spaces, joiners and marks take their neighbour's face (the previous one, or the
    // next when they lead), so they shape with it.
    if faces.is_empty() {
        let primary = chain.iter().find_map(|id| fonts.face(*id).ok());
        match primary {
            Some(face) => faces.push(face),
            None => return Ok((Vec::new(), Vec::new())),
        }
    }
    let next_known: Vec<Option<usize>> = {
        let mut next = None;
        let mut out = vec![None; choice.len()];
        for k in (0..choice.len()).rev() {
            if choice[k].is_some() {
                next = choice[k];
            }
            out[k] = next;
        }
        out
    };
    let mut previous = None;
    let mut resolved = Vec::with_capacity(choice.len());
    for (k, slot) in choice.iter().enumerate() {
        let face = slot.or(previous).or(next_known[k]).unwrap_or(0);
        previous = Some(face);
        resolved.push(face);
    }
    Ok((faces, resolved))
}

/// Whether a character needs a glyph from a face that covers it (spaces, joiners,
/// variation selectors and combining marks go with their neighbours).
fn needs_glyph(c: char) -> bool {
    !(c.is_whitespace() || c.is_control() || is_invisible(c) || is_combining_mark(c))
}

fn is_combining_mark(c: char) -> bool {
    matches!(c as u32, 0x0300..=0x036F | 0x1AB0..=0x1AFF | 0x1DC0..=0x1DFF | 0x20D0..=0x20FF | 0xFE20..=0xFE2F | 0x3099..=0x309A)
}

/// The orientation of every character, and whether it turns when its face has no
/// vertical form for it.
fn orientations(chars: &[(usize, char)], vertical: bool) -> Vec<(Orientation, bool)> {
    if !vertical {
        return vec![(Orientation::Horizontal, false); chars.len()];
    }
    let mut out: Vec<(Orientation, bool)> = chars
        .iter()
        .map(|&(_, c)| {
            if c == ' ' {
                return (Orientation::Rotated, false);
            }
            match vertical_orientation(c) {
                VerticalOrientation::Upright | VerticalOrientation::TransformOrUpright => (Orientation::Upright, false),
                VerticalOrientation::TransformOrRotate => (Orientation::Upright, true),
                VerticalOrientation::Rotated => (Orientation::Rotated, false),
            }
        })
        .collect();
    // One or two digits (or ! and ?) standing alone stay upright side by side
    // (tate-chu-yoko); longer numbers and words turn.
    let mut k = 0;
    while k < chars.len() {
        if !is_tate_chu_yoko(chars[k].1) {
            k += 1;
            continue;
        }
        let mut end = k;
        while end < chars.len() && is_tate_chu_yoko(chars[end].1) {
            end += 1;
        }
        let alone =
            |c: Option<&(usize, char)>| c.is_none_or(|&(_, c)| !c.is_ascii_alphanumeric() && c != '.' && c != ',');
        if end - k <= 2 && alone(k.checked_sub(1).and_then(|p| chars.get(p))) && alone(chars.get(end)) {
            for slot in &mut out[k..end] {
                *slot = (Orientation::TateChuYoko, false);
            }
        }
        k = end;
    }
    // Invisible characters follow their neighbour.
    for k in 1..chars.len() {
        if is_invisible(chars[k].1) || is_combining_mark(chars[k].1) {
            out[k] = out[k - 1];
        }
    }
    out
}

/// Shapes one run of one face and orientation into clusters. `offset` is the run's
/// first byte in the paragraph.
fn shape_run(
    face: &Arc<FontFace>,
    text: &str,
    offset: usize,
    orientation: Orientation,
    language: Option<&harfrust::Language>,
) -> Result<Vec<Cluster>, BookError> {
    let font = face.font_ref().ok_or_else(|| BookError::Font(format!("cannot read {}", face.family())))?;
    let shaper = face.shaper_data().shaper(&font).build();
    let mut buffer = harfrust::UnicodeBuffer::new();
    buffer.push_str(text);
    buffer.set_direction(match orientation {
        Orientation::Upright => harfrust::Direction::TopToBottom,
        _ => harfrust::Direction::LeftToRight,
    });
    if let Some(language) = language {
        buffer.set_language(language.clone());
    }
    buffer.guess_segment_properties();
    let half_width = [harfrust::Feature::new(harfrust::Tag::new(b"hwid"), 1, ..)];
    let features: &[harfrust::Feature] =
        if orientation == Orientation::TateChuYoko && text.chars().count() == 2 { &half_width } else { &[] };
    let output = shaper.shape(buffer, harfrust::ShapeOptions::new().features(features));

    let ttf = face.ttf();
    let upem = face.units_per_em();
    let infos = output.glyph_infos();
    let positions = output.glyph_positions();
    let mut clusters: Vec<Cluster> = Vec::new();
    for (info, pos) in infos.iter().zip(positions) {
        let glyph = ShapedGlyph {
            id: u16::try_from(info.glyph_id).unwrap_or(0),
            x_advance: pos.x_advance as f32,
            y_advance: pos.y_advance as f32,
            x_offset: pos.x_offset as f32,
            y_offset: pos.y_offset as f32,
        };
        let start = offset + info.cluster as usize;
        match clusters.last_mut() {
            Some(last) if last.range.start == start => last.glyphs.push(glyph),
            _ => clusters.push(Cluster {
                range: start..start,
                face: face.clone(),
                orientation,
                glyphs: vec![glyph],
                advance_em: 0.0,
                vertical_form: false,
            }),
        }
    }
    // Each cluster ends where the next begins.
    let ends: Vec<usize> =
        clusters.iter().skip(1).map(|c| c.range.start).chain(std::iter::once(offset + text.len())).collect();
    for (cluster, end) in clusters.iter_mut().zip(ends) {
        cluster.range.end = end.max(cluster.range.start);
        let units: f32 = match orientation {
            Orientation::Upright => cluster.glyphs.iter().map(|g| -g.y_advance).sum(),
            _ => cluster.glyphs.iter().map(|g| g.x_advance).sum(),
        };
        cluster.advance_em = units / upem;
        if orientation == Orientation::Upright {
            let piece = &text[cluster.range.start - offset..cluster.range.end - offset];
            let mut chars = piece.chars();
            if let (Some(ch), None, [glyph], Some(ttf)) =
                (chars.next(), chars.next(), cluster.glyphs.as_slice(), ttf.as_ref())
            {
                let horizontal = ttf.glyph_index(ch).map(|g| g.0);
                cluster.vertical_form = horizontal.is_some_and(|h| h != glyph.id);
            }
        }
    }
    if orientation == Orientation::TateChuYoko {
        let range = offset..offset + text.len();
        return Ok(merge_clusters(clusters, range).into_iter().collect());
    }
    Ok(clusters)
}

/// Joins clusters into one covering `range` (a tate-chu-yoko group, a turned bracket).
fn merge_clusters(clusters: Vec<Cluster>, range: Range<usize>) -> Option<Cluster> {
    let mut iter = clusters.into_iter();
    let mut first = iter.next()?;
    for cluster in iter {
        first.glyphs.extend(cluster.glyphs);
        first.advance_em += cluster.advance_em;
    }
    first.range = range;
    Some(first)
}

/// Whether the cluster is a space a line may break after.
pub(crate) fn is_space_cluster(text: &str, cluster: &Cluster) -> bool {
    let piece = &text[cluster.range.clone()];
    !piece.is_empty() && piece.chars().all(is_break_space)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::fonts;

    #[test]
    fn horizontal_latin_has_one_cluster_per_letter() {
        let book = fonts();
        let clusters = shape_paragraph(book, "Hi you", "en", false, false).unwrap_or_default();
        assert_eq!(clusters.len(), 6);
        assert!(clusters.iter().all(|c| c.orientation == Orientation::Horizontal && c.advance_em > 0.0));
        assert_eq!(clusters[0].face.family(), "Comic Neue");
        assert!(is_space_cluster("Hi you", &clusters[2]));
    }

    #[test]
    fn vertical_japanese_uses_vertical_forms() {
        let book = fonts();
        let text = "猫。「ー」";
        let clusters = shape_paragraph(book, text, "ja", false, true).unwrap_or_default();
        assert_eq!(clusters.len(), 5);
        assert!(clusters.iter().all(|c| c.orientation == Orientation::Upright), "{clusters:?}");
        assert!(!clusters[0].vertical_form, "an ideograph has no vertical form");
        for c in &clusters[1..] {
            assert!(c.vertical_form, "{} should use a vertical form", &text[c.range.clone()]);
        }
        for c in &clusters {
            assert!((c.advance_em - 1.0).abs() < 0.01, "full-width cells advance one em");
        }
    }

    #[test]
    fn latin_in_vertical_text_turns_and_short_numbers_stay_upright() {
        let book = fonts();
        let text = "猫はOKと12回";
        let clusters = shape_paragraph(book, text, "ja", false, true).unwrap_or_default();
        let orientation_of =
            |piece: &str| clusters.iter().find(|c| &text[c.range.clone()] == piece).map(|c| c.orientation);
        assert_eq!(orientation_of("O"), Some(Orientation::Rotated));
        assert_eq!(orientation_of("12"), Some(Orientation::TateChuYoko));
        assert_eq!(orientation_of("猫"), Some(Orientation::Upright));
        let long = shape_paragraph(book, "2024年", "ja", false, true).unwrap_or_default();
        assert_eq!(long[0].orientation, Orientation::Rotated);
    }

    #[test]
    fn a_dash_without_a_vertical_form_turns() {
        let book = fonts();
        let clusters = shape_paragraph(book, "a—b", "en", false, true).expect("shape");
        let dash = clusters.iter().find(|c| c.range == (1..4)).expect("the dash");
        assert_eq!(dash.face.family(), "Comic Neue");
        assert_eq!(dash.orientation, Orientation::Rotated);
        // Noto Sans CJK has a vertical form for it: upright.
        let clusters = shape_paragraph(book, "猫—", "ja", false, true).expect("shape");
        assert_eq!(clusters[1].orientation, Orientation::Upright);
        assert!(clusters[1].vertical_form);
    }

    #[test]
    fn characters_fall_back_to_another_face() {
        let book = fonts();
        let clusters = shape_paragraph(book, "Cat 猫", "en", false, false).unwrap_or_default();
        assert_eq!(clusters.first().map(|c| c.face.family()), Some("Comic Neue"));
        assert!(clusters.last().is_some_and(|c| c.face.family().starts_with("Noto Sans CJK")));
    }

    #[test]
    fn uncovered_characters_are_named() {
        let book = fonts();
        let result = shape_paragraph(book, "a\u{E000}b\u{378}", "en", false, false);
        match result {
            Err(BookError::NoFont { text, language }) => {
                assert_eq!(text, "\u{E000}\u{378}");
                assert_eq!(language, "en");
            }
            other => panic!("expected NoFont, got {other:?}"),
        }
    }
}
