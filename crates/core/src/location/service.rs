//! The location operations the API offers: stored locations (the caller's own;
//! another user's is "not found", admins see any by id), and the gazetteer's
//! answers both ways and within a radius.

use std::sync::Arc;

use atelier_places::{Coordinates, Gazetteer, NearestPlace, Place};

use super::{
    Location, LocationAt, LocationPage, LocationSource, MAX_LABEL_CHARS, MAX_NEARBY, MAX_SEARCH, Near, Nearby,
    NewLocation,
};
use crate::account::Principal;
use crate::error::{CoreError, Result};
use crate::ids::{LocationId, UploadId, UserId};
use crate::ports::LocationStore;
use crate::task::require_write;
use crate::time::now_millis;

pub struct LocationService {
    store: Arc<dyn LocationStore>,
}

impl LocationService {
    pub fn new(store: Arc<dyn LocationStore>) -> Self {
        Self { store }
    }

    /// Stores a location owned by the caller, with the place nearest to it. A
    /// place name takes its best candidate (422 naming `query` when none matches).
    pub async fn create(&self, caller: &Principal, request: NewLocation) -> Result<Location> {
        require_write(caller)?;
        let label = clean_label(request.label)?;
        let (coordinates, source) = match request.at {
            LocationAt::Coordinates(coordinates) => (coordinates, LocationSource::Manual),
            LocationAt::Query(query) => {
                let best = Gazetteer::global().search(&query, 1)?.into_iter().next();
                let place = best.ok_or_else(|| CoreError::invalid("query", "no place of that name is known"))?;
                (place.coordinates, LocationSource::Search)
            }
        };
        self.store_new(caller.user_id.clone(), coordinates, label, source, None).await
    }

    /// Stores the position a photo's Exif carried, owned by its uploader and
    /// linked to the upload (deleted with it).
    pub async fn record_photo(&self, owner: &UserId, upload: &UploadId, at: Coordinates) -> Result<Location> {
        self.store_new(owner.clone(), at, None, LocationSource::Exif, Some(upload.clone())).await
    }

    async fn store_new(
        &self,
        owner: UserId,
        coordinates: Coordinates,
        label: Option<String>,
        source: LocationSource,
        upload: Option<UploadId>,
    ) -> Result<Location> {
        let location = Location {
            id: LocationId::new(),
            owner,
            coordinates,
            label,
            place: Gazetteer::global().reverse(coordinates),
            source,
            upload,
            created_at: now_millis(),
        };
        self.store.create_location(&location).await?;
        Ok(location)
    }

    /// A location the caller may see: its own, or any for an admin.
    pub async fn get(&self, caller: &Principal, id: &LocationId) -> Result<Location> {
        self.store
            .get_location(id)
            .await?
            .filter(|location| caller.may_see(Some(&location.owner)))
            .ok_or(CoreError::NotFound { what: "location" })
    }

    /// The caller's own locations, newest first; with `near`, those within it.
    pub async fn list(
        &self,
        caller: &Principal,
        near: Option<&Near>,
        before: Option<&LocationId>,
        limit: u32,
    ) -> Result<LocationPage> {
        self.store.list_locations(&caller.user_id, near, before, limit.clamp(1, 500)).await
    }

    /// Sets (or, with `None` or a blank one, clears) a location's label.
    pub async fn update_label(&self, caller: &Principal, id: &LocationId, label: Option<String>) -> Result<Location> {
        let mut location = self.get(caller, id).await?;
        require_write(caller)?;
        location.label = clean_label(label)?;
        if !self.store.update_location_label(id, location.label.as_deref()).await? {
            return Err(CoreError::NotFound { what: "location" });
        }
        Ok(location)
    }

    pub async fn delete(&self, caller: &Principal, id: &LocationId) -> Result<()> {
        self.get(caller, id).await?;
        require_write(caller)?;
        if !self.store.delete_location(id).await? {
            return Err(CoreError::NotFound { what: "location" });
        }
        Ok(())
    }

    /// The location read from an upload's Exif, if any (the caller sees the upload).
    pub async fn of_upload(&self, upload: &UploadId) -> Result<Option<Location>> {
        self.store.upload_location(upload).await
    }

    /// The populated place nearest to a point.
    pub fn reverse(&self, at: Coordinates) -> NearestPlace {
        Gazetteer::global().reverse(at)
    }

    /// Places whose name matches, best first: 1 to [`MAX_SEARCH`].
    pub fn search(&self, query: &str, limit: u32) -> Result<Vec<Place>> {
        check_limit(limit, MAX_SEARCH)?;
        Ok(Gazetteer::global().search(query, limit as usize)?)
    }

    /// Gazetteer places within the circle, nearest first, and the caller's own
    /// locations within it: at most `limit` (1 to [`MAX_NEARBY`]) of each.
    pub async fn nearby(&self, caller: &Principal, near: &Near, limit: u32) -> Result<Nearby> {
        check_limit(limit, MAX_NEARBY)?;
        let places = Gazetteer::global().nearby(near.center(), near.radius_km(), limit as usize)?;
        let locations = self.store.locations_near(&caller.user_id, near, limit).await?;
        Ok(Nearby { places, locations })
    }
}

fn check_limit(limit: u32, max: u32) -> Result<()> {
    if (1..=max).contains(&limit) {
        Ok(())
    } else {
        Err(CoreError::invalid("limit", format!("must be between 1 and {max}")))
    }
}

/// A label trimmed; blank is none; past [`MAX_LABEL_CHARS`] refused.
fn clean_label(label: Option<String>) -> Result<Option<String>> {
    let Some(label) = label else { return Ok(None) };
    let label = label.trim();
    if label.chars().count() > MAX_LABEL_CHARS {
        return Err(CoreError::invalid("label", format!("at most {MAX_LABEL_CHARS} characters")));
    }
    Ok((!label.is_empty()).then(|| label.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_trimmed_and_bounded() {
        assert_eq!(clean_label(Some("  home ".into())).ok(), Some(Some("home".into())));
        assert_eq!(clean_label(Some("   ".into())).ok(), Some(None));
        assert_eq!(clean_label(None).ok(), Some(None));
        assert!(clean_label(Some("x".repeat(MAX_LABEL_CHARS + 1))).is_err());
    }

    #[test]
    fn place_errors_name_their_field() {
        let error = CoreError::from(atelier_places::PlaceError::InvalidRadius { value: -1.0 });
        let CoreError::InvalidInput { details, .. } = error else { panic!("a validation error") };
        assert_eq!(details["field"], "radius_km");
    }
}
