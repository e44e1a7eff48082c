//! The GeoNames rows kept compactly: one fixed-size row per place, the names in one
//! string, the region names (which repeat: 3.6 thousand admin1 and 13.8 thousand
//! admin2 values over 144 thousand rows) stored once each.
//!
//! `reverse_geocoder` parses the same file into a `Record` of four `String`s per row
//! and keeps the records private (a `ReverseGeocoder` holds 40 MiB, against this
//! crate's 18 MiB for both directions), so the crate reads the file itself, with the
//! `csv` crate `reverse_geocoder` uses, and never builds a `ReverseGeocoder`.

use std::collections::HashMap;

use crate::countries;
use crate::fold::fold;
use crate::{Coordinates, Place};

/// The columns reverse_geocoder 4's cities.csv has, in order.
const HEADERS: [&str; 6] = ["lat", "lon", "name", "admin1", "admin2", "cc"];

/// One place. 40 bytes.
#[derive(Debug, Clone, Copy)]
pub(super) struct Row {
    /// Checked when the row was parsed.
    pub point: Coordinates,
    /// Byte range of the name in [`Table::names`].
    pub name_start: u32,
    pub name_len: u16,
    /// Position in the country table (`countries::at`).
    pub country: u16,
    /// Indexes into [`Table::regions`]; 0 is the empty string.
    pub admin1: u32,
    pub admin2: u32,
    /// How many other places lie within [`super::NEARBY_KM`]: the second ranking
    /// signal for places of the same name (see the crate docs).
    pub nearby: u16,
    /// Whether the place gives its name to its first-level region ("Lima" in Lima,
    /// "Buenos Aires" in "Buenos Aires F.D."): mostly regional capitals, the first
    /// ranking signal.
    pub namesake: bool,
}

/// Every place of the file, in file order.
#[derive(Debug)]
pub(super) struct Table {
    pub rows: Vec<Row>,
    names: String,
    /// admin1 and admin2 values, each once; index 0 is "".
    regions: Vec<Box<str>>,
    /// `regions` folded, for matching a search qualifier against admin1.
    regions_folded: Vec<Box<str>>,
}

impl Table {
    /// Parses cities.csv (`lat,lon,name,admin1,admin2,cc`, with a header). An error
    /// names the line: the file is compiled in, so one would be a bug found by the
    /// tests, not something a caller could cause.
    pub fn parse(csv_text: &str) -> Result<Self, String> {
        let mut reader = csv::ReaderBuilder::new().has_headers(true).from_reader(csv_text.as_bytes());
        let mut table =
            Table { rows: Vec::new(), names: String::new(), regions: Vec::new(), regions_folded: Vec::new() };
        let mut region_ids: HashMap<String, u32> = HashMap::new();
        table.region(&mut region_ids, "")?;
        let headers = reader.headers().map_err(|e| format!("reading cities.csv: {e}"))?;
        if headers.iter().ne(HEADERS) {
            return Err(format!("cities.csv has the columns {headers:?}, not {HEADERS:?}"));
        }
        let mut record = csv::StringRecord::new();
        loop {
            match reader.read_record(&mut record) {
                Ok(true) => {}
                Ok(false) => break,
                Err(e) => return Err(format!("reading cities.csv: {e}")),
            }
            let line = record.position().map_or(0, csv::Position::line);
            let row = table.row(&record, &mut region_ids).map_err(|e| format!("cities.csv line {line}: {e}"))?;
            table.rows.push(row);
        }
        if table.rows.is_empty() {
            return Err("cities.csv has no rows".to_owned());
        }
        table.rows.shrink_to_fit();
        table.names.shrink_to_fit();
        table.regions.shrink_to_fit();
        table.regions_folded.shrink_to_fit();
        Ok(table)
    }

    fn row(&mut self, record: &csv::StringRecord, region_ids: &mut HashMap<String, u32>) -> Result<Row, String> {
        let field = |i: usize, what: &str| record.get(i).ok_or_else(|| format!("no {what} column"));
        let number = |i: usize, what: &str| {
            field(i, what)?.trim().parse::<f64>().map_err(|e| format!("{what} is not a number: {e}"))
        };
        let point = Coordinates::new(number(0, "lat")?, number(1, "lon")?).map_err(|e| e.to_string())?;
        let name = field(2, "name")?;
        let code = field(5, "cc")?;
        let country = countries::position(code).ok_or_else(|| format!("country code {code:?} has no name"))?;
        let row = Row {
            point,
            name_start: u32::try_from(self.names.len()).map_err(|_| "names exceed 4 GiB".to_owned())?,
            name_len: u16::try_from(name.len()).map_err(|_| format!("name of {} bytes", name.len()))?,
            country: u16::try_from(country).map_err(|_| "country table too long".to_owned())?,
            admin1: self.region(region_ids, field(3, "admin1")?)?,
            admin2: self.region(region_ids, field(4, "admin2")?)?,
            nearby: 0,
            namesake: false,
        };
        self.names.push_str(name);
        Ok(row)
    }

    fn region(&mut self, ids: &mut HashMap<String, u32>, value: &str) -> Result<u32, String> {
        if let Some(&id) = ids.get(value) {
            return Ok(id);
        }
        let id = u32::try_from(self.regions.len()).map_err(|_| "too many regions".to_owned())?;
        ids.insert(value.to_owned(), id);
        self.regions.push(value.into());
        self.regions_folded.push(fold(value).into());
        Ok(id)
    }

    pub fn name(&self, row: &Row) -> &str {
        let start = row.name_start as usize;
        self.names.get(start..start + usize::from(row.name_len)).unwrap_or_default()
    }

    fn region_text(&self, id: u32) -> Option<&str> {
        self.regions.get(id as usize).map(|s| &**s).filter(|s| !s.is_empty())
    }

    /// admin1 folded, "" when there is none.
    pub fn admin1_folded(&self, row: &Row) -> &str {
        self.regions_folded.get(row.admin1 as usize).map_or("", |s| s)
    }

    /// The answer form of a row.
    pub fn place(&self, row: &Row) -> Place {
        let country = countries::at(usize::from(row.country));
        Place {
            name: self.name(row).to_owned(),
            admin1: self.region_text(row.admin1).map(str::to_owned),
            admin2: self.region_text(row.admin2).map(str::to_owned),
            country_code: country.map_or_else(String::new, |c| c.code.to_owned()),
            country_name: country.map_or_else(String::new, |c| c.name.to_owned()),
            coordinates: row.point,
        }
    }

    /// Heap bytes held, for the documented memory figure.
    pub fn heap_bytes(&self) -> usize {
        let strings = |v: &[Box<str>]| v.iter().map(|s| s.len()).sum::<usize>() + std::mem::size_of_val(v);
        std::mem::size_of_val(self.rows.as_slice())
            + self.names.capacity()
            + strings(&self.regions)
            + strings(&self.regions_folded)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_keep_their_fields_and_quoted_commas() {
        let csv = "lat,lon,name,admin1,admin2,cc\n\
                   48.85341,2.3488,Paris,Ile-de-France,Paris,FR\n\
                   -33.46069,-70.58024,\"Villa Presidente Frei, Nunoa\",Santiago Metropolitan,,CL\n\
                   -77.846,166.676,McMurdo Station,,,AQ\n";
        let table = Table::parse(csv).expect("a well-formed table");
        assert_eq!(table.rows.len(), 3);
        let paris = table.place(&table.rows[0]);
        assert_eq!(paris.name, "Paris");
        assert_eq!(paris.admin1.as_deref(), Some("Ile-de-France"));
        assert_eq!(paris.admin2.as_deref(), Some("Paris"));
        assert_eq!((paris.country_code.as_str(), paris.country_name.as_str()), ("FR", "France"));
        assert_eq!(paris.coordinates, Coordinates::new(48.85341, 2.3488).expect("valid"));
        assert_eq!(table.name(&table.rows[1]), "Villa Presidente Frei, Nunoa");
        let mcmurdo = table.place(&table.rows[2]);
        assert_eq!((mcmurdo.admin1, mcmurdo.admin2, mcmurdo.country_name.as_str()), (None, None, "Antarctica"));
        assert_eq!(table.admin1_folded(&table.rows[0]), "ile de france");
        assert_eq!(std::mem::size_of::<Row>(), 40);
    }

    #[test]
    fn malformed_tables_are_errors_not_panics() {
        let cases = [
            ("lat,lon,name,admin1,admin2,cc\n", "no rows"),
            ("latitude,lon,name,admin1,admin2,cc\n1,2,Paris,,,FR\n", "has the columns"),
            ("", "has the columns"),
            ("lat,lon,name,admin1,admin2,cc\nx,2,Paris,,,FR\n", "lat is not a number"),
            ("lat,lon,name,admin1,admin2,cc\n91,2,Paris,,,FR\n", "latitude must be"),
            ("lat,lon,name,admin1,admin2,cc\n1,2,Paris,,,ZZ\n", "\"ZZ\" has no name"),
            ("lat,lon,name,admin1,admin2,cc\n1,2,Paris,,,\n", "has no name"),
            ("lat,lon,name,admin1,admin2,cc\n1,2,Paris\n", "found record with 3 fields"),
        ];
        for (csv, expected) in cases {
            let err = Table::parse(csv).expect_err("a malformed table");
            assert!(err.contains(expected), "{err:?} should mention {expected:?}");
        }
    }
}
