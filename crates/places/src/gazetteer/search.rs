//! Forward lookup: a place name, with optional qualifiers after commas, to the
//! places it may mean, best first.
//!
//! Names are matched folded (`crate::fold`): case, accents and punctuation aside.
//! Places whose whole name matches come before places whose name only starts with
//! the query. Among equals, a place that gives its name to its region comes first,
//! then the place with more GeoNames places within 15 km, then file order (see the
//! crate docs for why these stand in for population, and how well).

use std::cmp::Reverse;
use std::collections::HashSet;

use super::Gazetteer;
use super::table::{Row, Table};
use crate::fold::{fold, fold_german};
use crate::{MAX_QUERY_CHARS, Place, PlaceError, countries};

/// The folded names, sorted, so that every name starting with a prefix is one
/// contiguous run found by binary search.
#[derive(Debug)]
pub(super) struct NameIndex {
    keys: String,
    entries: Vec<Entry>,
}

/// A folded name (a byte range of `keys`) and its row. 12 bytes.
#[derive(Debug, Clone, Copy)]
struct Entry {
    start: u32,
    len: u16,
    row: u32,
}

impl NameIndex {
    /// Indexes every row's folded name, and marks the rows that are their region's
    /// namesake (which needs the folded name too).
    pub fn build(table: &mut Table) -> Self {
        let mut keys = String::new();
        let mut entries = Vec::with_capacity(table.rows.len());
        for row in 0..table.rows.len() {
            let place = table.rows[row];
            let key = fold(table.name(&place));
            let region = table.admin1_folded(&place);
            table.rows[row].namesake = !key.is_empty()
                && region.strip_prefix(key.as_str()).is_some_and(|rest| rest.is_empty() || rest.starts_with(' '));
            // A name of more than 64 KiB or past 4 GiB of keys cannot occur in the
            // compiled-in table (its longest name is 59 bytes); such a row is left
            // out of the index rather than mis-indexed.
            let (Ok(start), Ok(len), Ok(row)) =
                (u32::try_from(keys.len()), u16::try_from(key.len()), u32::try_from(row))
            else {
                continue;
            };
            if !key.is_empty() {
                entries.push(Entry { start, len, row });
                keys.push_str(&key);
            }
        }
        let mut index = Self { keys, entries };
        let mut entries = std::mem::take(&mut index.entries);
        entries.sort_unstable_by(|a, b| index.key(a).cmp(index.key(b)).then(a.row.cmp(&b.row)));
        entries.shrink_to_fit();
        index.entries = entries;
        index.keys.shrink_to_fit();
        index
    }

    fn key(&self, entry: &Entry) -> &str {
        let start = entry.start as usize;
        self.keys.get(start..start + usize::from(entry.len)).unwrap_or_default()
    }

    /// The entries whose key starts with `prefix`; those equal to it come first,
    /// since a string sorts before every longer string it begins.
    fn starting_with(&self, prefix: &str) -> &[Entry] {
        let from = self.entries.partition_point(|e| self.key(e) < prefix);
        let rest = self.entries.get(from..).unwrap_or_default();
        let len = rest.partition_point(|e| self.key(e).starts_with(prefix));
        rest.get(..len).unwrap_or_default()
    }

    pub fn heap_bytes(&self) -> usize {
        self.keys.capacity() + std::mem::size_of_val(self.entries.as_slice())
    }
}

/// A parsed query: the name's folded forms and the qualifiers after commas.
struct Query {
    keys: Vec<String>,
    qualifiers: Vec<Qualifier>,
}

/// One comma-separated qualifier: a country (code, alpha-3 or English name) or a
/// first-level region ("Illinois", "Ile-de-France").
struct Qualifier {
    folded: String,
    countries: Vec<usize>,
}

impl Query {
    fn parse(text: &str) -> Result<Self, PlaceError> {
        let text = text.trim();
        let length = text.chars().count();
        if length > MAX_QUERY_CHARS {
            return Err(PlaceError::QueryTooLong { length, max: MAX_QUERY_CHARS });
        }
        let mut parts = text.split(',');
        let name = parts.next().unwrap_or_default();
        let folded = fold(name);
        if folded.is_empty() {
            return Err(PlaceError::BlankQuery);
        }
        let mut keys = vec![folded];
        keys.extend(fold_german(name).filter(|german| !keys.contains(german)));
        let qualifiers = parts
            .map(fold)
            .filter(|q| !q.is_empty())
            .map(|folded| Qualifier { countries: countries::named_by(&folded), folded })
            .collect();
        Ok(Self { keys, qualifiers })
    }
}

impl Qualifier {
    fn admits(&self, table: &Table, row: &Row) -> bool {
        self.countries.contains(&usize::from(row.country)) || table.admin1_folded(row) == self.folded
    }
}

/// A matching row and what it is ranked by, in this order.
struct Hit {
    prefix_only: bool,
    namesake: bool,
    nearby: u16,
    row: u32,
}

impl Gazetteer {
    /// Up to `limit` places that `query` may name, best first; empty when none does.
    ///
    /// `query` is a place name ("Zürich", "sao paulo"), optionally followed by
    /// qualifiers after commas that must all hold: a country code ("Paris, US"), an
    /// alpha-3 code or English country name ("Paris, France"), or a first-level
    /// region ("Springfield, Illinois"). US state abbreviations ("Paris, TX") are
    /// not known. A name containing a comma cannot be searched for whole.
    ///
    /// Fails when the query is blank (or has no letters or digits) before the first
    /// comma, or is longer than [`MAX_QUERY_CHARS`] characters once trimmed.
    pub fn search(&self, query: &str, limit: usize) -> Result<Vec<Place>, PlaceError> {
        let query = Query::parse(query)?;
        let mut hits = Vec::new();
        for key in &query.keys {
            for entry in self.names.starting_with(key) {
                let Some(row) = self.table.rows.get(entry.row as usize) else { continue };
                if query.qualifiers.iter().all(|q| q.admits(&self.table, row)) {
                    let prefix_only = self.names.key(entry) != key;
                    hits.push(Hit { prefix_only, namesake: row.namesake, nearby: row.nearby, row: entry.row });
                }
            }
        }
        hits.sort_unstable_by_key(|h| (h.prefix_only, !h.namesake, Reverse(h.nearby), h.row));
        let mut seen = HashSet::new();
        Ok(hits
            .into_iter()
            .filter(|hit| seen.insert(hit.row))
            .filter_map(|hit| self.table.rows.get(hit.row as usize))
            .take(limit)
            .map(|row| self.table.place(row))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_trimmed_split_and_folded() {
        let q = Query::parse("  São Paulo , BR ").expect("a valid query");
        assert_eq!(q.keys, vec!["sao paulo"]);
        assert_eq!(q.qualifiers.len(), 1);
        assert_eq!(q.qualifiers[0].folded, "br");
        let q = Query::parse("Düsseldorf").expect("a valid query");
        assert_eq!(q.keys, vec!["dusseldorf", "duesseldorf"]);
        let q = Query::parse("Springfield, Illinois, US").expect("a valid query");
        assert_eq!(q.qualifiers.len(), 2);
        assert!(Query::parse("Paris,,").expect("empty qualifiers are dropped").qualifiers.is_empty());
    }

    #[test]
    fn blank_and_long_queries_are_refused() {
        for blank in ["", "   ", "\t\n", ", FR", " ,", "!!!"] {
            assert_eq!(Query::parse(blank).err(), Some(PlaceError::BlankQuery), "{blank:?}");
        }
        let long = "a".repeat(MAX_QUERY_CHARS + 1);
        assert_eq!(Query::parse(&long).err(), Some(PlaceError::QueryTooLong { length: 201, max: 200 }));
        assert!(Query::parse(&"a".repeat(MAX_QUERY_CHARS)).is_ok());
        let padded = format!("  {}  ", "é".repeat(MAX_QUERY_CHARS));
        assert!(Query::parse(&padded).is_ok(), "characters are counted, not bytes, after trimming");
    }
}
