//! Locations (seed 000's `location_data`): points a user keeps, each with the
//! populated place nearest to it, from coordinates, a place name, or a photo's Exif
//! GPS. The gazetteer, distances and Exif work are `atelier-places`'; this module
//! holds the records' rules: who owns and sees them, labels, and radius filters.

mod model;
mod service;

pub use model::{
    Location, LocationAt, LocationPage, LocationSource, MAX_LABEL_CHARS, MAX_NEARBY, MAX_SEARCH, Near, Nearby,
    NewLocation,
};
pub use service::LocationService;
