//! Country names in English by ISO 3166-1 alpha-2 code, for the answers' `country_name`
//! and for a search qualifier such as "Paris, France".
//!
//! The table is generated (`table.rs`, by `scripts/countries.py` from Debian's
//! iso-codes, which follows the ISO 3166 Maintenance Agency) rather than taken from
//! a crate: the ISO crates on crates.io are either unmaintained or need a newer
//! compiler than the workspace's, and none knows XK, the code GeoNames gives Kosovo.

mod table;

use crate::fold::fold;
use table::COUNTRIES;

/// One row of the generated table.
#[derive(Debug)]
pub(crate) struct Country {
    /// ISO 3166-1 alpha-2 code, upper case.
    pub code: &'static str,
    /// The short English name shown in answers.
    pub name: &'static str,
    /// The alpha-3 code and the other English forms of the name, for matching.
    pub aliases: &'static [&'static str],
}

/// The English name of the country with this ISO 3166-1 alpha-2 code (either case),
/// or `None` for a code that is not in the table.
pub fn country_name(code: &str) -> Option<&'static str> {
    country(code).map(|c| c.name)
}

/// The table's row for an alpha-2 code (either case).
pub(crate) fn country(code: &str) -> Option<&'static Country> {
    position(code).and_then(|i| COUNTRIES.get(i))
}

/// The position of an alpha-2 code (either case) in the table: what the gazetteer
/// stores per place instead of the code, so a place's country is always named.
pub(crate) fn position(code: &str) -> Option<usize> {
    let code = code.to_ascii_uppercase();
    COUNTRIES.binary_search_by(|c| c.code.cmp(code.as_str())).ok()
}

/// The row at a position `position` gave.
pub(crate) fn at(position: usize) -> Option<&'static Country> {
    COUNTRIES.get(position)
}

/// The positions of the countries that a search qualifier, already folded
/// (`fold::fold`), names: by code, alpha-3 code or any English name.
pub(crate) fn named_by(folded: &str) -> Vec<usize> {
    COUNTRIES.iter().enumerate().filter(|(_, c)| names(c, folded)).map(|(i, _)| i).collect()
}

fn names(country: &Country, folded: &str) -> bool {
    fold(country.code) == folded
        || fold(country.name) == folded
        || country.aliases.iter().any(|alias| fold(alias) == folded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_sorted_by_code_and_codes_are_unique() {
        assert!(COUNTRIES.windows(2).all(|w| w[0].code < w[1].code), "binary search needs a sorted table");
        assert!(COUNTRIES.iter().all(|c| c.code.len() == 2 && c.code.bytes().all(|b| b.is_ascii_uppercase())));
    }

    #[test]
    fn names_are_found_in_either_case() {
        assert_eq!(country_name("JP"), Some("Japan"));
        assert_eq!(country_name("fr"), Some("France"));
        assert_eq!(country_name("XK"), Some("Kosovo"));
        assert_eq!(country_name("KR"), Some("South Korea"));
        assert_eq!(country_name("VG"), Some("British Virgin Islands"));
        assert_eq!(country_name("ZZ"), None);
        assert_eq!(country_name(""), None);
        assert_eq!(country_name("FRA"), None);
    }

    #[test]
    fn qualifiers_match_codes_and_english_names() {
        let us = position("US").expect("the United States are in the table");
        for q in ["us", "usa", "united states", "united states of america"] {
            assert_eq!(named_by(q), vec![us], "{q}");
        }
        assert_eq!(named_by("uk"), vec![position("GB").expect("the United Kingdom is in the table")]);
        let tr = position("TR").expect("Türkiye is in the table");
        assert_eq!(named_by(&fold("Türkiye")), vec![tr]);
        assert_eq!(named_by("turkiye"), vec![tr]);
        assert!(named_by("atlantis").is_empty());
        assert_eq!(at(us).map(|c| c.code), Some("US"));
    }
}
