//! Outputs of completed tasks and their tags (seed 004's images and user_tags).

use std::collections::HashMap;

use async_trait::async_trait;
use atelier_core::ports::AssetIndex;
use atelier_core::task::{Asset, AssetFilter, AssetPage, Task, TaskStatus};
use atelier_core::{AssetId, CoreError};
use sqlx::Row;

use crate::connect::Database;
use crate::error::storage;
use crate::params::{Filtered, Param, Statement, next_page, prefixed_at};
use crate::rows::{asset_columns, decode_asset};

fn placeholders(count: usize) -> String {
    (1..=count).map(|n| format!("${n}")).collect::<Vec<_>>().join(", ")
}

/// Loads the outputs of completed tasks (only completed tasks have any), then their
/// tags: two key lookups, rather than one join that a planner may answer by reading
/// every tag.
pub(crate) async fn load_outputs(db: &Database, tasks: &mut [Task]) -> Result<(), CoreError> {
    let ids: Vec<String> =
        tasks.iter().filter(|task| task.status == TaskStatus::Completed).map(|task| task.id.to_string()).collect();
    if ids.is_empty() {
        return Ok(());
    }
    let rows = outputs_statement(ids).query().fetch_all(&db.reader).await.map_err(storage("reading outputs"))?;
    let mut assets = rows.iter().map(decode_asset).collect::<Result<Vec<_>, _>>()?;
    load_tags(db, &mut assets).await?;
    for asset in assets {
        if let Some(task) = tasks.iter_mut().find(|task| task.id == asset.task_id) {
            task.outputs.push(asset);
        }
    }
    Ok(())
}

async fn load_tags(db: &Database, assets: &mut [Asset]) -> Result<(), CoreError> {
    if assets.is_empty() {
        return Ok(());
    }
    let ids = assets.iter().map(|asset| asset.id.0.clone()).collect();
    let rows = tags_statement(ids).query().fetch_all(&db.reader).await.map_err(storage("reading tags"))?;
    let mut by_asset: HashMap<String, Vec<String>> = HashMap::new();
    for row in rows {
        let asset_id: String = row.try_get("asset_id").map_err(storage("reading tags"))?;
        let tag: String = row.try_get("tag").map_err(storage("reading tags"))?;
        by_asset.entry(asset_id).or_default().push(tag);
    }
    for asset in assets.iter_mut() {
        asset.tags = by_asset.remove(&asset.id.0).unwrap_or_default();
    }
    Ok(())
}

#[async_trait]
impl AssetIndex for Database {
    async fn get_asset(&self, id: &AssetId) -> Result<Option<Asset>, CoreError> {
        let db = self;
        let row = sqlx::query(concat!("SELECT ", asset_columns!(), " FROM assets WHERE id = $1"))
            .bind(id.0.clone())
            .fetch_optional(&db.reader)
            .await
            .map_err(storage("reading an asset"))?;
        let Some(row) = row else { return Ok(None) };
        let mut asset = [decode_asset(&row)?];
        load_tags(db, &mut asset).await?;
        let [asset] = asset;
        Ok(Some(asset))
    }

    async fn list_assets(&self, filter: &AssetFilter) -> Result<AssetPage, CoreError> {
        let db = self;
        let (statement, limit) = list_statement(filter);
        let rows = statement.query().fetch_all(&db.reader).await.map_err(storage("listing assets"))?;
        let mut assets = rows.iter().map(decode_asset).collect::<Result<Vec<_>, _>>()?;
        let next_cursor = next_page(&mut assets, limit, |asset| asset.id.clone());
        if let Some(near) = &filter.near {
            within_near(db, near, &mut assets).await?;
        }
        load_tags(db, &mut assets).await?;
        Ok(AssetPage { assets, next_cursor })
    }

    async fn delete_asset(&self, id: &AssetId) -> Result<Option<Asset>, CoreError> {
        let db = self;
        let Some(asset) = db.get_asset(id).await? else { return Ok(None) };
        let mut transaction = db.writer.begin().await.map_err(storage("deleting an asset"))?;
        sqlx::query("DELETE FROM asset_tags WHERE asset_id = $1")
            .bind(id.0.clone())
            .execute(&mut *transaction)
            .await
            .map_err(storage("deleting an asset's tags"))?;
        let deleted = sqlx::query("DELETE FROM assets WHERE id = $1")
            .bind(id.0.clone())
            .execute(&mut *transaction)
            .await
            .map_err(storage("deleting an asset"))?;
        transaction.commit().await.map_err(storage("deleting an asset"))?;
        Ok((deleted.rows_affected() == 1).then_some(asset))
    }

    async fn count_blob_refs(&self, blob_key: &str) -> Result<u64, CoreError> {
        let db = self;
        let count: i64 = sqlx::query_scalar(
        "SELECT (SELECT COUNT(*) FROM assets WHERE blob_key = $1) + (SELECT COUNT(*) FROM uploads WHERE blob_key = $1)",
    )
    .bind(blob_key.to_owned())
    .fetch_one(&db.writer)
    .await
    .map_err(storage("counting blob references"))?;
        Ok(count.max(0) as u64)
    }

    async fn add_tag(&self, id: &AssetId, tag: &str, now: i64) -> Result<bool, CoreError> {
        let db = self;
        let exists: Option<i64> = sqlx::query_scalar("SELECT 1 FROM assets WHERE id = $1")
            .bind(id.0.clone())
            .fetch_optional(&db.writer)
            .await
            .map_err(storage("tagging an asset"))?;
        if exists.is_none() {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO asset_tags (asset_id, tag, created_at, task_id) \
             VALUES ($1, $2, $3, (SELECT task_id FROM assets WHERE id = $1)) ON CONFLICT DO NOTHING",
        )
        .bind(id.0.clone())
        .bind(tag.to_owned())
        .bind(now)
        .execute(&db.writer)
        .await
        .map_err(storage("tagging an asset"))?;
        Ok(true)
    }

    async fn remove_tag(&self, id: &AssetId, tag: &str) -> Result<bool, CoreError> {
        let db = self;
        let deleted = sqlx::query("DELETE FROM asset_tags WHERE asset_id = $1 AND tag = $2")
            .bind(id.0.clone())
            .bind(tag.to_owned())
            .execute(&db.writer)
            .await
            .map_err(storage("untagging an asset"))?;
        Ok(deleted.rows_affected() == 1)
    }
}

/// The outputs of a page of tasks, in order.
pub(crate) fn outputs_statement(task_ids: Vec<String>) -> Statement {
    let sql = format!(
        concat!("SELECT ", asset_columns!(), " FROM assets WHERE task_id IN ({}) ORDER BY task_id, idx"),
        placeholders(task_ids.len())
    );
    Statement::new(sql, task_ids.into_iter().map(Param::Text).collect())
}

/// The tags of a page of outputs.
pub(crate) fn tags_statement(asset_ids: Vec<String>) -> Statement {
    let sql = format!(
        "SELECT asset_id, tag FROM asset_tags WHERE asset_id IN ({}) ORDER BY tag",
        placeholders(asset_ids.len())
    );
    Statement::new(sql, asset_ids.into_iter().map(Param::Text).collect())
}

/// Keeps the outputs whose task's place lies within the circle (the page was read
/// in its box): one read of those tasks' coordinates.
async fn within_near(
    db: &Database,
    near: &atelier_core::location::Near,
    assets: &mut Vec<Asset>,
) -> Result<(), CoreError> {
    let mut ids: Vec<String> = assets.iter().map(|asset| asset.task_id.to_string()).collect();
    ids.sort();
    ids.dedup();
    if ids.is_empty() {
        return Ok(());
    }
    let mut query = Filtered::new("SELECT id, latitude, longitude FROM tasks WHERE latitude IS NOT NULL");
    query.and_in("id", ids.into_iter().map(Param::Text));
    let rows = query.into_statement().query().fetch_all(&db.reader).await.map_err(storage("reading tasks' places"))?;
    let mut within = std::collections::HashSet::new();
    for row in &rows {
        let id: String = crate::rows::get(row, "id")?;
        let (latitude, longitude): (f64, f64) =
            (crate::rows::get(row, "latitude")?, crate::rows::get(row, "longitude")?);
        let inside =
            atelier_places::Coordinates::new(latitude, longitude).is_ok_and(|at| near.distance_km(at).is_some());
        if inside {
            within.insert(id);
        }
    }
    assets.retain(|asset| within.contains(&asset.task_id.to_string()));
    Ok(())
}

/// A page of outputs as a filter asks, newest first, and the page's size.
pub(crate) fn list_statement(filter: &AssetFilter) -> (Statement, u32) {
    let mut query = Filtered::new(concat!("SELECT ", asset_columns!(), " FROM assets WHERE 1 = 1"));
    if let Some(tag) = &filter.tag {
        query.and("id IN (SELECT asset_id FROM asset_tags WHERE tag =", Param::text(tag));
        query.push_sql(")");
    }
    // The model is the task's: an asset names its task. Each output of the
    // newest-first walk looks its task up (a key read), rather than every task of
    // the model being gathered and the outputs found sorted.
    if filter.service.is_some() || filter.model.is_some() {
        query.push_sql(" AND EXISTS (SELECT 1 FROM tasks t WHERE t.id = assets.task_id");
        query.and_some("t.service =", filter.service.as_ref().map(Param::text));
        query.and_some("t.model =", filter.model.as_ref().map(Param::text));
        query.push_sql(")");
    }
    // The place is the task's, read the same way: the circle's box here, the exact
    // distance on the page read (`within_near`).
    if let Some(near) = &filter.near {
        query.push_sql(" AND EXISTS (SELECT 1 FROM tasks t WHERE t.id = assets.task_id");
        query.and_within("t.", near.bounds());
        query.push_sql(")");
    }
    query.and_created(filter.created_after, filter.created_before, |millis| prefixed_at("img_", millis));
    query.and_some("owner_id =", filter.owner.as_ref().map(Param::text));
    // A residual condition on the rows the newest-first walk reads (MIME types are
    // written lower-case by the store).
    query.and_some("mime LIKE", filter.kind.map(|kind| Param::text(format!("{}%", kind.mime_prefix()))));
    query.and_some("id <", filter.before_id.as_ref().map(|cursor| Param::text(&cursor.0)));
    let limit = filter.limit.clamp(1, 500);
    (query.newest_first(limit), limit)
}
