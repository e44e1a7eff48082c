use atelier_places::{BoundingBox, Coordinates, NearestPlace, PlaceError};
use serde::{Deserialize, Serialize};

use crate::error::CoreError;
use crate::ids::{LocationId, UploadId, UserId};
use crate::time::Millis;

/// A label is at most this many characters (trimmed; blank is none).
pub const MAX_LABEL_CHARS: usize = 200;
/// A place-name search answers at most this many candidates.
pub const MAX_SEARCH: u32 = 50;
/// A nearby search answers at most this many places (and as many stored locations).
pub const MAX_NEARBY: u32 = 200;

/// Where a location came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LocationSource {
    /// Coordinates the user gave.
    Manual,
    /// A place name the user searched for: the best candidate's coordinates.
    Search,
    /// A photo's Exif GPS, read when it was uploaded.
    Exif,
}

impl LocationSource {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Manual => "manual",
            Self::Search => "search",
            Self::Exif => "exif",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "manual" => Some(Self::Manual),
            "search" => Some(Self::Search),
            "exif" => Some(Self::Exif),
            _ => None,
        }
    }
}

/// A stored location.
#[derive(Debug, Clone, PartialEq)]
pub struct Location {
    pub id: LocationId,
    pub owner: UserId,
    pub coordinates: Coordinates,
    /// The user's name for it, trimmed, never blank.
    pub label: Option<String>,
    /// The populated place nearest to it when it was stored (a town or a city's
    /// district, never a street address), with its distance.
    pub place: NearestPlace,
    pub source: LocationSource,
    /// The upload whose Exif it came from; deleting the upload deletes it.
    pub upload: Option<UploadId>,
    pub created_at: Millis,
}

/// Where a new location is: coordinates, or a place name whose best candidate is
/// taken.
#[derive(Debug, Clone)]
pub enum LocationAt {
    Coordinates(Coordinates),
    Query(String),
}

/// A request to store a location.
#[derive(Debug, Clone)]
pub struct NewLocation {
    pub at: LocationAt,
    pub label: Option<String>,
}

/// A page of locations, newest first.
#[derive(Debug, Clone)]
pub struct LocationPage {
    pub locations: Vec<Location>,
    /// The cursor for the next page, when there may be one.
    pub next_cursor: Option<LocationId>,
}

/// A circle on the globe: a radius filter. The box around it is what SQL compares
/// (`BETWEEN` on indexed columns); [`Near::distance_km`] is the exact test after.
#[derive(Debug, Clone, PartialEq)]
pub struct Near {
    center: Coordinates,
    radius_km: f64,
    bounds: BoundingBox,
}

impl Near {
    /// Fails (naming `radius_km`) for a radius that is negative or not finite.
    pub fn new(center: Coordinates, radius_km: f64) -> Result<Self, PlaceError> {
        let bounds = BoundingBox::around(center, radius_km)?;
        Ok(Self { center, radius_km, bounds })
    }

    pub fn center(&self) -> Coordinates {
        self.center
    }

    pub fn radius_km(&self) -> f64 {
        self.radius_km
    }

    /// The latitude range and one or two longitude ranges that hold the circle.
    pub fn bounds(&self) -> &BoundingBox {
        &self.bounds
    }

    /// The great-circle distance to `point` when it lies within the circle.
    pub fn distance_km(&self, point: Coordinates) -> Option<f64> {
        let distance = self.center.distance_km(point);
        (distance <= self.radius_km).then_some(distance)
    }
}

/// What lies within a radius: gazetteer places and the caller's locations, each
/// nearest first with its distance in km.
#[derive(Debug, Clone)]
pub struct Nearby {
    pub places: Vec<NearestPlace>,
    pub locations: Vec<(Location, f64)>,
}

impl From<PlaceError> for CoreError {
    fn from(error: PlaceError) -> Self {
        CoreError::invalid(error.field(), error.to_string())
    }
}
