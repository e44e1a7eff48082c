//! What the gazetteer answers: a populated place, and for a reverse lookup how far
//! it lies from the point asked about.

use serde::{Deserialize, Serialize};

use crate::Coordinates;

/// A populated place from GeoNames: a town of at least about a thousand people, or
/// a district of a larger city (never a street address).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Place {
    /// GeoNames' ASCII name ("Zurich", "Sao Paulo", "Duesseldorf").
    pub name: String,
    /// First-level division: state, region, province ("Illinois", "Ile-de-France").
    /// `None` where GeoNames gives none (Antarctic stations, some city states).
    pub admin1: Option<String>,
    /// Second-level division: county, district ("Edgar County"), often `None`.
    pub admin2: Option<String>,
    /// ISO 3166-1 alpha-2 code ("FR"; "XK" for Kosovo, as GeoNames has it).
    pub country_code: String,
    /// The country's short English name ("France").
    pub country_name: String,
    /// Where GeoNames puts the place (its centre, roughly).
    pub coordinates: Coordinates,
}

/// The populated place nearest to a point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NearestPlace {
    #[serde(flatten)]
    pub place: Place,
    /// Great-circle distance from the point asked about to the place, in km.
    pub distance_km: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nearest_place_serialises_flat() {
        let nearest = NearestPlace {
            place: Place {
                name: "Tokyo".to_owned(),
                admin1: Some("Tokyo".to_owned()),
                admin2: None,
                country_code: "JP".to_owned(),
                country_name: "Japan".to_owned(),
                coordinates: Coordinates::new(35.6895, 139.69171).expect("valid"),
            },
            distance_km: 0.5,
        };
        let json = serde_json::to_value(&nearest).expect("serialises");
        assert_eq!(
            json,
            serde_json::json!({
                "name": "Tokyo", "admin1": "Tokyo", "admin2": null, "country_code": "JP", "country_name": "Japan",
                "coordinates": {"latitude": 35.6895, "longitude": 139.69171}, "distance_km": 0.5
            })
        );
        assert_eq!(serde_json::from_value::<NearestPlace>(json).expect("deserialises"), nearest);
    }
}
