//! `LocationStore` for both backends: users' locations (seed 000's
//! `location_data`). A radius filter compares the circle's bounding box in SQL
//! (`locations_owner_latitude`) and keeps the rows within the exact great-circle
//! distance here.

use async_trait::async_trait;
use atelier_core::location::{Location, LocationPage, LocationSource, Near};
use atelier_core::ports::LocationStore;
use atelier_core::{CoreError, LocationId, UploadId, UserId};
use atelier_places::Coordinates;
use sqlx::any::AnyRow;

use crate::connect::Database;
use crate::error::storage;
use crate::params::{Filtered, Param, Statement, next_page};
use crate::rows::{get, invalid};

type Result<T> = std::result::Result<T, CoreError>;

const LOCATION_COLUMNS: &str = "id, owner_id, latitude, longitude, label, place, source, upload_id, created_at";

/// The most rows a nearest-first answer reads from the box before sorting them.
const NEAR_SCAN: u32 = 5_000;

fn decode_location(row: &AnyRow) -> Result<Location> {
    let id: String = get(row, "id")?;
    let owner: String = get(row, "owner_id")?;
    let place: String = get(row, "place")?;
    let source: String = get(row, "source")?;
    let upload: Option<String> = get(row, "upload_id")?;
    Ok(Location {
        id: LocationId::parse(&id).ok_or_else(|| invalid("location id"))?,
        owner: UserId::parse(&owner).ok_or_else(|| invalid("location owner"))?,
        coordinates: Coordinates::new(get(row, "latitude")?, get(row, "longitude")?)
            .map_err(|_| invalid("location coordinates"))?,
        label: get(row, "label")?,
        place: serde_json::from_str(&place).map_err(|_| invalid("location place"))?,
        source: LocationSource::parse(&source).ok_or_else(|| invalid("location source"))?,
        upload: upload.map(|id| UploadId::parse(&id).ok_or_else(|| invalid("location upload"))).transpose()?,
        created_at: get(row, "created_at")?,
    })
}

async fn fetch_locations(db: &Database, statement: Statement, what: &'static str) -> Result<Vec<Location>> {
    let rows = statement.query().fetch_all(&db.reader).await.map_err(storage(what))?;
    rows.iter().map(decode_location).collect()
}

#[async_trait]
impl LocationStore for Database {
    async fn create_location(&self, location: &Location) -> Result<()> {
        let place = serde_json::to_string(&location.place).map_err(|_| invalid("location place"))?;
        sqlx::query(
            "INSERT INTO locations (id, owner_id, latitude, longitude, label, place, source, upload_id, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(location.id.to_string())
        .bind(location.owner.to_string())
        .bind(location.coordinates.latitude())
        .bind(location.coordinates.longitude())
        .bind(location.label.clone())
        .bind(place)
        .bind(location.source.as_str())
        .bind(location.upload.as_ref().map(ToString::to_string))
        .bind(location.created_at)
        .execute(&self.writer)
        .await
        .map_err(|error| match &error {
            // The upload was deleted between its check and this insert.
            sqlx::Error::Database(database) if database.is_foreign_key_violation() => {
                CoreError::NotFound { what: "upload" }
            }
            _ => storage("recording a location")(error),
        })?;
        Ok(())
    }

    async fn get_location(&self, id: &LocationId) -> Result<Option<Location>> {
        let sql = format!("SELECT {LOCATION_COLUMNS} FROM locations WHERE id = $1");
        let statement = Statement::new(sql, vec![Param::text(id)]);
        Ok(fetch_locations(self, statement, "reading a location").await?.pop())
    }

    async fn list_locations(
        &self,
        owner: &UserId,
        near: Option<&Near>,
        before: Option<&LocationId>,
        limit: u32,
    ) -> Result<LocationPage> {
        let limit = limit.max(1);
        let statement = list_statement(owner, near, before, limit);
        let mut locations = fetch_locations(self, statement, "listing locations").await?;
        // The cursor is the last row read, within or not, so no row is skipped.
        let next_cursor = next_page(&mut locations, limit, |location| location.id.clone());
        if let Some(near) = near {
            locations.retain(|location| near.distance_km(location.coordinates).is_some());
        }
        Ok(LocationPage { locations, next_cursor })
    }

    async fn locations_near(&self, owner: &UserId, near: &Near, limit: u32) -> Result<Vec<(Location, f64)>> {
        let statement = list_statement(owner, Some(near), None, NEAR_SCAN);
        let locations = fetch_locations(self, statement, "finding nearby locations").await?;
        let mut within: Vec<(Location, f64)> = locations
            .into_iter()
            .filter_map(|location| near.distance_km(location.coordinates).map(|distance| (location, distance)))
            .collect();
        within.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| b.0.id.cmp(&a.0.id)));
        within.truncate(limit as usize);
        Ok(within)
    }

    async fn update_location_label(&self, id: &LocationId, label: Option<&str>) -> Result<bool> {
        let updated = sqlx::query("UPDATE locations SET label = $2 WHERE id = $1")
            .bind(id.to_string())
            .bind(label.map(str::to_owned))
            .execute(&self.writer)
            .await
            .map_err(storage("updating a location"))?;
        Ok(updated.rows_affected() == 1)
    }

    async fn delete_location(&self, id: &LocationId) -> Result<bool> {
        let deleted = sqlx::query("DELETE FROM locations WHERE id = $1")
            .bind(id.to_string())
            .execute(&self.writer)
            .await
            .map_err(storage("deleting a location"))?;
        Ok(deleted.rows_affected() == 1)
    }

    async fn upload_location(&self, upload: &UploadId) -> Result<Option<Location>> {
        let sql = format!("SELECT {LOCATION_COLUMNS} FROM locations WHERE upload_id = $1 ORDER BY id LIMIT 1");
        let statement = Statement::new(sql, vec![Param::text(upload)]);
        Ok(fetch_locations(self, statement, "reading an upload's location").await?.pop())
    }
}

/// One owner's locations, newest first, one more than `limit`; in the circle's box
/// when `near` is given.
pub(crate) fn list_statement(
    owner: &UserId,
    near: Option<&Near>,
    before: Option<&LocationId>,
    limit: u32,
) -> Statement {
    let mut query = Filtered::new(format!("SELECT {LOCATION_COLUMNS} FROM locations WHERE 1 = 1"));
    query.and("owner_id =", Param::text(owner));
    if let Some(near) = near {
        query.and_within("", near.bounds());
    }
    query.and_some("id <", before.map(Param::text));
    query.newest_first(limit)
}
