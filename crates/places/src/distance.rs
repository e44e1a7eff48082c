//! Great-circle distances, and the latitude/longitude box around a circle that lets a
//! SQL query use plain `BETWEEN` comparisons (and an index) before the exact
//! distance is checked.
//!
//! The Earth is taken as a sphere of mean radius 6371.0088 km (IUGG, the mean of
//! its three semi-axes). Against the WGS 84 ellipsoid this errs by up to about 0.5 %,
//! far below what a town-level gazetteer can promise.

use std::f64::consts::FRAC_PI_2;

use serde::{Deserialize, Serialize};

use crate::{Coordinates, PlaceError};

/// Mean Earth radius in kilometres (IUGG).
pub const EARTH_RADIUS_KM: f64 = 6371.0088;

/// How far the box's edges are pushed out, in degrees (about 0.1 mm): rounding in
/// the box's trigonometry must never cut off a point that the haversine, with its
/// own rounding, counts as inside.
const MARGIN_DEGREES: f64 = 1e-9;

/// The great-circle (haversine) distance between two points, in kilometres.
///
/// The haversine form stays accurate for short distances, where the spherical law
/// of cosines loses digits; the clamp keeps rounding from taking `asin` past 1 for
/// antipodal points.
pub fn distance_km(a: Coordinates, b: Coordinates) -> f64 {
    let (lat_a, lat_b) = (a.latitude().to_radians(), b.latitude().to_radians());
    let half_dlat = (lat_b - lat_a) / 2.0;
    let half_dlon = (b.longitude() - a.longitude()).to_radians() / 2.0;
    let h = half_dlat.sin().powi(2) + lat_a.cos() * lat_b.cos() * half_dlon.sin().powi(2);
    2.0 * EARTH_RADIUS_KM * h.clamp(0.0, 1.0).sqrt().asin()
}

/// An inclusive range of degrees.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DegreeRange {
    pub min: f64,
    pub max: f64,
}

impl DegreeRange {
    /// Whether `value` lies in the range, ends included.
    pub fn contains(self, value: f64) -> bool {
        self.min <= value && value <= self.max
    }
}

/// The smallest latitude/longitude box that holds every point within a radius of a
/// centre: a prefilter, to be followed by the exact [`distance_km`] test, since the
/// box's corners lie outside the circle.
///
/// As SQL: `latitude BETWEEN lat.min AND lat.max AND (longitude BETWEEN lon[0].min
/// AND lon[0].max [OR longitude BETWEEN lon[1].min AND lon[1].max])`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BoundingBox {
    /// The latitudes the circle spans, clamped to [-90, 90].
    pub latitude: DegreeRange,
    /// One range; two when the circle crosses the antimeridian, `[min, 180]` then
    /// `[-180, max]`; the whole [-180, 180] when the circle holds a pole, since every
    /// meridian passes through it.
    pub longitude: Vec<DegreeRange>,
}

impl BoundingBox {
    /// The box around the circle of `radius_km` kilometres about `center`. The
    /// radius must be finite and not negative; one that reaches a pole (or half way
    /// round the Earth) gives the whole longitude range.
    pub fn around(center: Coordinates, radius_km: f64) -> Result<Self, PlaceError> {
        if !(radius_km.is_finite() && radius_km >= 0.0) {
            return Err(PlaceError::InvalidRadius { value: radius_km });
        }
        let angle = radius_km / EARTH_RADIUS_KM;
        let lat = center.latitude().to_radians();
        let latitude = DegreeRange {
            min: ((lat - angle).to_degrees() - MARGIN_DEGREES).max(-90.0),
            max: ((lat + angle).to_degrees() + MARGIN_DEGREES).min(90.0),
        };
        if lat + angle >= FRAC_PI_2 || lat - angle <= -FRAC_PI_2 {
            return Ok(Self { latitude, longitude: vec![DegreeRange { min: -180.0, max: 180.0 }] });
        }
        // The meridians tangent to the circle: sin(dlon) = sin(angle) / cos(lat). With
        // no pole inside, angle < 90° - |lat|, so the ratio stays below 1.
        let dlon = (angle.sin() / lat.cos()).min(1.0).asin().to_degrees() + MARGIN_DEGREES;
        let (west, east) = (center.longitude() - dlon, center.longitude() + dlon);
        let longitude = if west < -180.0 {
            vec![DegreeRange { min: west + 360.0, max: 180.0 }, DegreeRange { min: -180.0, max: east }]
        } else if east > 180.0 {
            vec![DegreeRange { min: west, max: 180.0 }, DegreeRange { min: -180.0, max: east - 360.0 }]
        } else {
            vec![DegreeRange { min: west, max: east }]
        };
        Ok(Self { latitude, longitude })
    }

    /// Whether a point passes the box (the SQL prefilter's answer for it).
    pub fn contains(&self, point: Coordinates) -> bool {
        self.latitude.contains(point.latitude()) && self.longitude.iter().any(|r| r.contains(point.longitude()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(lat: f64, lon: f64) -> Coordinates {
        Coordinates::new(lat, lon).expect("a valid test point")
    }

    #[test]
    fn known_distances() {
        let paris = at(48.85341, 2.3488);
        let london = at(51.50853, -0.12574);
        let d = distance_km(paris, london);
        assert!((d - 343.9).abs() < 1.0, "Paris to London is about 344 km, got {d}");
        assert_eq!(distance_km(paris, paris), 0.0);
        let half_way_round = distance_km(at(0.0, 0.0), at(0.0, 180.0));
        assert!((half_way_round - std::f64::consts::PI * EARTH_RADIUS_KM).abs() < 1e-6);
        let pole_to_pole = distance_km(at(90.0, 0.0), at(-90.0, 123.0));
        assert!((pole_to_pole - half_way_round).abs() < 1e-6);
        // A degree of latitude is about 111.195 km on this sphere.
        assert!((distance_km(at(10.0, 20.0), at(11.0, 20.0)) - 111.195).abs() < 0.001);
    }

    #[test]
    fn distance_across_the_antimeridian_is_short() {
        let d = distance_km(at(-16.8, 179.99), at(-16.8, -179.99));
        assert!((d - 2.13).abs() < 0.01, "0.02 degrees of longitude at 16.8 S, got {d}");
    }

    #[test]
    fn a_small_box_is_one_range() {
        let paris = at(48.85341, 2.3488);
        let b = BoundingBox::around(paris, 10.0).expect("a valid radius");
        assert_eq!(b.longitude.len(), 1);
        let dlat = 10.0 / EARTH_RADIUS_KM * 180.0 / std::f64::consts::PI;
        assert!((b.latitude.max - paris.latitude() - dlat).abs() < 1e-6);
        assert!((paris.latitude() - b.latitude.min - dlat).abs() < 1e-6);
        let dlon = b.longitude[0].max - paris.longitude();
        assert!((dlon - 0.13675).abs() < 1e-4, "10 km of longitude at 48.85 N, got {dlon}");
        assert!(b.contains(paris));
        assert!(!b.contains(at(48.85341, 2.6)));
        assert_eq!(BoundingBox::around(paris, 0.0).expect("zero is a radius").longitude.len(), 1);
    }

    #[test]
    fn a_box_across_the_antimeridian_is_two_ranges() {
        let east_of_it = BoundingBox::around(at(-16.8, 179.95), 20.0).expect("a valid radius");
        let west_of_it = BoundingBox::around(at(-16.8, -179.95), 20.0).expect("a valid radius");
        for b in [&east_of_it, &west_of_it] {
            assert_eq!(b.longitude.len(), 2, "{b:?}");
            assert_eq!(b.longitude[0].max, 180.0);
            assert_eq!(b.longitude[1].min, -180.0);
            assert!(b.contains(at(-16.8, 179.95)) && b.contains(at(-16.8, -179.95)));
            assert!(b.contains(at(-16.8, 180.0)) && b.contains(at(-16.8, -180.0)));
            assert!(!b.contains(at(-16.8, 0.0)));
            assert!(!b.contains(at(-16.8, 179.0)) && !b.contains(at(-16.8, -179.0)));
        }
    }

    #[test]
    fn a_box_holding_a_pole_spans_every_longitude() {
        let north = BoundingBox::around(at(89.95, 10.0), 10.0).expect("a valid radius");
        assert_eq!(north.latitude.max, 90.0);
        assert_eq!(north.longitude, vec![DegreeRange { min: -180.0, max: 180.0 }]);
        // Across the pole: 0.05 + 0.03 degrees of arc, about 8.9 km.
        assert!(north.contains(at(89.97, -170.0)));
        assert!(!north.contains(at(89.8, 10.0)));

        let south = BoundingBox::around(at(-90.0, 0.0), 1.0).expect("a valid radius");
        assert_eq!(south.latitude.min, -90.0);
        assert!(south.latitude.max < -89.99);
        assert!(south.contains(at(-89.995, 123.0)));

        let world = BoundingBox::around(at(0.0, 0.0), 30_000.0).expect("a valid radius");
        assert_eq!((world.latitude.min, world.latitude.max), (-90.0, 90.0));
        assert_eq!(world.longitude, vec![DegreeRange { min: -180.0, max: 180.0 }]);
    }

    #[test]
    fn invalid_radii_are_refused() {
        for r in [f64::NAN, f64::INFINITY, -1.0, -0.001] {
            let err = BoundingBox::around(at(0.0, 0.0), r).expect_err("an invalid radius");
            assert_eq!(err.field(), "radius_km");
        }
    }

    /// Points at random bearings and distances up to the radius, about random
    /// centres (many near the poles and the antimeridian): every one the haversine
    /// counts as inside must pass the box, and the box stays within the globe.
    #[test]
    fn every_point_within_the_radius_passes_the_box() {
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            // xorshift64*: deterministic, no dependency.
            seed ^= seed >> 12;
            seed ^= seed << 25;
            seed ^= seed >> 27;
            (seed.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
        };
        for i in 0..2000 {
            let lat = match i % 4 {
                0 => 89.0 + next(),
                1 => -89.0 - next(),
                _ => next() * 180.0 - 90.0,
            };
            let lon = if i % 3 == 0 { 179.5 + next() - 0.5 } else { next() * 360.0 - 180.0 };
            let center = at(lat, lon.clamp(-180.0, 180.0));
            let radius = [0.5, 15.0, 200.0, 3000.0][i % 4];
            let b = BoundingBox::around(center, radius).expect("a valid radius");
            assert!(b.latitude.min >= -90.0 && b.latitude.max <= 90.0);
            assert!(b.longitude.iter().all(|r| r.min >= -180.0 && r.max <= 180.0 && r.min <= r.max), "{b:?}");
            for _ in 0..20 {
                let p = destination(center, next() * 360.0, radius * next().sqrt().min(1.0));
                if distance_km(center, p) <= radius {
                    assert!(b.contains(p), "{p:?} is within {radius} km of {center:?} but outside {b:?}");
                }
            }
            let edge = destination(center, next() * 360.0, radius);
            if distance_km(center, edge) <= radius {
                assert!(b.contains(edge), "{edge:?} on the circle about {center:?} is outside {b:?}");
            }
        }
    }

    /// The point `km` kilometres from `from` on the initial bearing `bearing` degrees.
    fn destination(from: Coordinates, bearing: f64, km: f64) -> Coordinates {
        let (lat, lon) = (from.latitude().to_radians(), from.longitude().to_radians());
        let (theta, delta) = (bearing.to_radians(), km / EARTH_RADIUS_KM);
        let lat2 = (lat.sin() * delta.cos() + lat.cos() * delta.sin() * theta.cos()).clamp(-1.0, 1.0).asin();
        let lon2 = lon + (theta.sin() * delta.sin() * lat.cos()).atan2(delta.cos() - lat.sin() * lat2.sin());
        let lon2 = (lon2.to_degrees() + 540.0).rem_euclid(360.0) - 180.0;
        at(lat2.to_degrees().clamp(-90.0, 90.0), lon2.clamp(-180.0, 180.0))
    }
}
