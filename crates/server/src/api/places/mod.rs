//! `/api/v1/locations` and `/api/v1/places` (seed 000's location service): a
//! user's stored locations (coordinates, a place name's best candidate, or a
//! photo's Exif GPS, each with the nearest populated place), and the offline
//! gazetteer (GeoNames' towns of about a thousand people or more) both ways and
//! within a radius. Answers name the nearest town or district, never an address.

mod create;
mod delete;
mod get;
mod list;
mod nearby;
mod reverse;
mod search;
mod update;

use atelier_core::LocationId;
use atelier_core::location::Location;
use atelier_places::{NearestPlace, Place};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::error::ApiError;
use crate::api::views::timestamp;
use crate::app::AppState;

pub use create::CreateLocationRequest;
pub use update::UpdateLocationRequest;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create::create_location, list::list_locations))
        .routes(routes!(get::get_location, update::update_location, delete::delete_location))
        .routes(routes!(reverse::reverse_place))
        .routes(routes!(search::search_places))
        .routes(routes!(nearby::nearby_places))
}

/// Parses a location id from a path; a malformed id is simply not found.
pub(crate) fn parse_location_id(id: &str) -> Result<LocationId, ApiError> {
    LocationId::parse(id).ok_or_else(|| ApiError::not_found("location"))
}

/// A populated place from GeoNames (attribution: GeoNames, geonames.org; CC BY 4.0).
#[derive(Debug, Serialize, ToSchema)]
pub struct PlaceView {
    /// GeoNames' ASCII name (`Zurich`, `Sao Paulo`).
    pub name: String,
    /// First-level division: state, region, province; null where there is none.
    pub admin1: Option<String>,
    /// Second-level division: county, district; often null.
    pub admin2: Option<String>,
    /// ISO 3166-1 alpha-2 (`FR`).
    pub country_code: String,
    /// The country's short English name (`France`).
    pub country_name: String,
    /// The place's centre, roughly.
    pub latitude: f64,
    pub longitude: f64,
    /// Great-circle kilometres from the point asked about (reverse and nearby
    /// answers, and a stored location's place).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub distance_km: Option<f64>,
}

impl From<&Place> for PlaceView {
    fn from(place: &Place) -> Self {
        Self {
            name: place.name.clone(),
            admin1: place.admin1.clone(),
            admin2: place.admin2.clone(),
            country_code: place.country_code.clone(),
            country_name: place.country_name.clone(),
            latitude: place.coordinates.latitude(),
            longitude: place.coordinates.longitude(),
            distance_km: None,
        }
    }
}

impl From<&NearestPlace> for PlaceView {
    fn from(nearest: &NearestPlace) -> Self {
        Self { distance_km: Some(round_km(nearest.distance_km)), ..Self::from(&nearest.place) }
    }
}

/// Kilometres to the metre: past that the gazetteer promises nothing.
pub(crate) fn round_km(km: f64) -> f64 {
    (km * 1000.0).round() / 1000.0
}

/// A stored location.
#[derive(Debug, Serialize, ToSchema)]
pub struct LocationView {
    /// `loc_…`
    pub id: String,
    pub latitude: f64,
    pub longitude: f64,
    pub label: Option<String>,
    /// `manual` (coordinates given), `search` (a place name's best candidate) or
    /// `exif` (a photo's GPS, read when it was uploaded).
    pub source: String,
    /// The upload it was read from (`exif`); it is deleted with the upload.
    pub upload_id: Option<String>,
    /// The populated place nearest to it when it was stored, and how far.
    pub place: PlaceView,
    /// ISO 8601.
    pub created_at: String,
    /// Kilometres from the centre of a nearby search.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub distance_km: Option<f64>,
}

impl From<&Location> for LocationView {
    fn from(location: &Location) -> Self {
        Self {
            id: location.id.to_string(),
            latitude: location.coordinates.latitude(),
            longitude: location.coordinates.longitude(),
            label: location.label.clone(),
            source: location.source.as_str().to_owned(),
            upload_id: location.upload.as_ref().map(ToString::to_string),
            place: PlaceView::from(&location.place),
            created_at: timestamp(location.created_at),
            distance_km: None,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LocationListView {
    /// Your locations, newest first.
    pub locations: Vec<LocationView>,
    /// Pass as `cursor` for the next page; absent on the last page. With `near`,
    /// a page may hold fewer than `limit` (even none) while more follow.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}
