//! Folding of place names for matching: case, accents, punctuation and spacing
//! are ignored, so "Zürich", "ZURICH " and "zurich" meet, and "Saint-Denis" meets
//! "saint denis".
//!
//! GeoNames' names in cities.csv are ASCII already (its `asciiname`: "Zurich",
//! "Sao Paulo", but German umlauts as "ue": "Duesseldorf"), so the table's names and a
//! query are folded by the same function; a query with an umlaut is also tried in the
//! German spelling ([`fold_german`]), which is how GeoNames wrote most of those.

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// Lower case ASCII-ish letters and digits separated by single spaces: accents
/// dropped (NFKD, then combining marks removed), letters that do not decompose
/// spelled out ("ß" as "ss", "ø" as "o"), apostrophes removed, any other
/// punctuation a space.
pub(crate) fn fold(text: &str) -> String {
    fold_with(text, false)
}

/// As [`fold`], but "ä", "ö" and "ü" become "ae", "oe" and "ue" ("Düsseldorf" as
/// "duesseldorf"). `None` when the text has no umlaut, so the variant is not a
/// second search for the same key.
pub(crate) fn fold_german(text: &str) -> Option<String> {
    let has_umlaut = text.nfd().any(|c| c == DIAERESIS);
    has_umlaut.then(|| fold_with(text, true))
}

/// U+0308, the combining mark that NFD splits off "ä", "ö", "ü".
const DIAERESIS: char = '\u{308}';

fn fold_with(text: &str, german: bool) -> String {
    // ASCII is its own NFKD: skipping the decomposition halves the time to fold the
    // table's 144 thousand names, all ASCII.
    if text.is_ascii() { fold_chars(text.chars(), german) } else { fold_chars(text.nfkd(), german) }
}

fn fold_chars(chars: impl Iterator<Item = char>, german: bool) -> String {
    let mut out = String::new();
    let mut previous = ' ';
    for c in chars {
        if german && c == DIAERESIS && matches!(previous, 'a' | 'o' | 'u') {
            out.push('e');
            continue;
        }
        if is_combining_mark(c) || matches!(c, '\'' | '’' | 'ʼ' | '`' | '´') {
            continue;
        }
        for lower in c.to_lowercase() {
            match spelled(lower) {
                Some(spelling) => out.push_str(spelling),
                None if lower.is_alphanumeric() => out.push(lower),
                None => {
                    if !out.is_empty() && !out.ends_with(' ') {
                        out.push(' ');
                    }
                }
            }
            previous = lower;
        }
    }
    if out.ends_with(' ') {
        out.pop();
    }
    out
}

/// Latin letters that NFKD leaves alone, as they are usually spelled in ASCII.
fn spelled(c: char) -> Option<&'static str> {
    Some(match c {
        'ß' => "ss",
        'æ' => "ae",
        'œ' => "oe",
        'ø' => "o",
        'ł' => "l",
        'đ' | 'ð' => "d",
        'þ' => "th",
        'ı' => "i",
        'ħ' => "h",
        'ŧ' => "t",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_accents_and_spacing_fold_away() {
        assert_eq!(fold("Zürich"), "zurich");
        assert_eq!(fold("  ZURICH "), "zurich");
        assert_eq!(fold("São Paulo"), "sao paulo");
        assert_eq!(fold("Sao\tPaulo"), "sao paulo");
        assert_eq!(fold("Saint-Denis"), "saint denis");
        assert_eq!(fold("Santa Barbara d'Oeste"), "santa barbara doeste");
        assert_eq!(fold("Kraków"), "krakow");
        assert_eq!(fold("Łódź"), "lodz");
        assert_eq!(fold("Straße"), "strasse");
        assert_eq!(fold("Ålesund"), "alesund");
        assert_eq!(fold("Tromsø"), "tromso");
        assert_eq!(fold("Zuerich (Kreis 7) / Witikon"), "zuerich kreis 7 witikon");
        assert_eq!(fold("ＴＯＫＹＯ"), "tokyo", "full-width letters are compatibility forms");
        assert_eq!(fold(" -- "), "");
    }

    #[test]
    fn decomposed_input_folds_like_composed() {
        assert_eq!(fold("Zu\u{308}rich"), fold("Zürich"));
        assert_eq!(fold_german("Du\u{308}sseldorf").as_deref(), Some("duesseldorf"));
    }

    #[test]
    fn umlauts_have_a_german_spelling() {
        assert_eq!(fold_german("Düsseldorf").as_deref(), Some("duesseldorf"));
        assert_eq!(fold_german("KÖLN").as_deref(), Some("koeln"));
        assert_eq!(fold_german("Zürich").as_deref(), Some("zuerich"));
        assert_eq!(fold_german("Paris"), None);
        assert_eq!(fold_german("Noël"), Some("noel".to_owned()), "only a, o and u take an e");
    }
}
