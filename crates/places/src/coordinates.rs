//! A point on the Earth in WGS 84 degrees, valid by construction: everything else in
//! the crate (distances, the k-d tree, bounding boxes) can then trust its numbers.

use serde::{Deserialize, Serialize};

use crate::PlaceError;

/// Latitude and longitude in decimal degrees (WGS 84, as GPS and GeoNames give them).
///
/// Only [`Coordinates::new`] (and deserialising, which goes through it) makes one,
/// so a value always holds finite numbers with the latitude in [-90, 90] and the
/// longitude in [-180, 180]. Serialised as `{"latitude": .., "longitude": ..}`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "Unchecked")]
pub struct Coordinates {
    latitude: f64,
    longitude: f64,
}

impl Coordinates {
    /// Checks and makes coordinates. The error names the field that is not a finite
    /// number or lies outside its range.
    pub fn new(latitude: f64, longitude: f64) -> Result<Self, PlaceError> {
        check("latitude", latitude, 90.0)?;
        check("longitude", longitude, 180.0)?;
        Ok(Self { latitude, longitude })
    }

    /// Degrees north of the equator (negative south), in [-90, 90].
    pub fn latitude(self) -> f64 {
        self.latitude
    }

    /// Degrees east of Greenwich (negative west), in [-180, 180].
    pub fn longitude(self) -> f64 {
        self.longitude
    }

    /// The great-circle distance to `other` in kilometres ([`crate::distance_km`]).
    pub fn distance_km(self, other: Coordinates) -> f64 {
        crate::distance_km(self, other)
    }
}

/// Fails unless `value` is finite and within [-limit, limit] (NaN is outside every
/// range, since it compares false both ways).
fn check(field: &'static str, value: f64, limit: f64) -> Result<(), PlaceError> {
    if value.is_finite() && (-limit..=limit).contains(&value) {
        Ok(())
    } else {
        Err(PlaceError::OutOfRange { field, min: -limit, max: limit, value })
    }
}

/// The wire form, checked by `TryFrom` so that deserialising cannot skip validation.
#[derive(Deserialize)]
struct Unchecked {
    latitude: f64,
    longitude: f64,
}

impl TryFrom<Unchecked> for Coordinates {
    type Error = PlaceError;

    fn try_from(raw: Unchecked) -> Result<Self, PlaceError> {
        Coordinates::new(raw.latitude, raw.longitude)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ranges_include_their_ends() {
        for (lat, lon) in [(90.0, 180.0), (-90.0, -180.0), (0.0, 0.0), (35.6895, 139.6917)] {
            let c = Coordinates::new(lat, lon).expect("a valid point");
            assert_eq!((c.latitude(), c.longitude()), (lat, lon));
        }
    }

    #[test]
    fn invalid_values_name_their_field() {
        let cases = [
            (f64::NAN, 0.0, "latitude"),
            (0.0, f64::NAN, "longitude"),
            (f64::INFINITY, 0.0, "latitude"),
            (0.0, f64::NEG_INFINITY, "longitude"),
            (91.0, 0.0, "latitude"),
            (-90.000_001, 0.0, "latitude"),
            (0.0, -181.0, "longitude"),
            (0.0, 180.5, "longitude"),
        ];
        for (lat, lon, field) in cases {
            let err = Coordinates::new(lat, lon).expect_err("an invalid point");
            assert_eq!(err.field(), field, "({lat}, {lon})");
        }
        let err = Coordinates::new(0.0, -181.0).expect_err("an invalid longitude");
        assert_eq!(err.to_string(), "longitude must be a finite number from -180 to 180 degrees, got -181");
    }

    #[test]
    fn serde_round_trips_and_validates() {
        let c = Coordinates::new(48.85341, 2.3488).expect("Paris");
        let json = serde_json::to_string(&c).expect("serialises");
        assert_eq!(json, r#"{"latitude":48.85341,"longitude":2.3488}"#);
        assert_eq!(serde_json::from_str::<Coordinates>(&json).expect("deserialises"), c);
        let err = serde_json::from_str::<Coordinates>(r#"{"latitude":91,"longitude":0}"#).expect_err("out of range");
        assert!(err.to_string().contains("latitude must be"), "{err}");
    }
}
