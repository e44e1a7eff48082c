//! The location store: users' locations (seed 000's `location_data`).

use async_trait::async_trait;

use crate::error::Result;
use crate::ids::{LocationId, UploadId, UserId};
use crate::location::{Location, LocationPage, Near};

#[async_trait]
pub trait LocationStore: Send + Sync + 'static {
    /// Stores a location; one naming an upload that is gone is "not found".
    async fn create_location(&self, location: &Location) -> Result<()>;
    async fn get_location(&self, id: &LocationId) -> Result<Option<Location>>;
    /// One owner's locations, newest first, older than `before`, at most `limit`.
    /// With `near`, only those within the circle: the store reads a page of rows in
    /// its box and keeps those within, so such a page may hold fewer than `limit`
    /// while a next one exists (follow `next_cursor`).
    async fn list_locations(
        &self,
        owner: &UserId,
        near: Option<&Near>,
        before: Option<&LocationId>,
        limit: u32,
    ) -> Result<LocationPage>;
    /// One owner's locations within the circle, nearest first, each with its
    /// distance in km; at most `limit`.
    async fn locations_near(&self, owner: &UserId, near: &Near, limit: u32) -> Result<Vec<(Location, f64)>>;
    /// Sets or clears a location's label; false when it is gone.
    async fn update_location_label(&self, id: &LocationId, label: Option<&str>) -> Result<bool>;
    /// Deletes a location; false when it was gone.
    async fn delete_location(&self, id: &LocationId) -> Result<bool>;
    /// The location read from an upload's Exif, if there is one.
    async fn upload_location(&self, upload: &UploadId) -> Result<Option<Location>>;
}
