//! `WorkerKeyStore` for both backends: the credentials of remote workers (the pull
//! protocol), with when each last asked for work.

use async_trait::async_trait;
use atelier_core::CoreError;
use atelier_core::ports::WorkerKeyStore;
use atelier_core::pull::WorkerKey;
use sqlx::any::AnyRow;

use crate::connect::Database;
use crate::error::storage;
use crate::rows::get;

type Result<T> = std::result::Result<T, CoreError>;

const COLUMNS: &str = "id, name, prefix, secret_hash, models, created_at, revoked_at, last_seen_at";

fn decode(row: &AnyRow) -> Result<WorkerKey> {
    let models: String = get(row, "models")?;
    Ok(WorkerKey {
        id: get(row, "id")?,
        name: get(row, "name")?,
        prefix: get(row, "prefix")?,
        secret_hash: get(row, "secret_hash")?,
        models: serde_json::from_str(&models)
            .map_err(|error| CoreError::Storage(format!("stored worker key models are invalid: {error}")))?,
        created_at: get(row, "created_at")?,
        revoked_at: get(row, "revoked_at")?,
        last_seen_at: get(row, "last_seen_at")?,
    })
}

#[async_trait]
impl WorkerKeyStore for Database {
    async fn create_worker_key(&self, key: &WorkerKey) -> Result<()> {
        let models = serde_json::to_string(&key.models)
            .map_err(|error| CoreError::Storage(format!("encoding worker key models: {error}")))?;
        sqlx::query(
            "INSERT INTO worker_keys (id, name, prefix, secret_hash, models, created_at, revoked_at, last_seen_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(key.id.clone())
        .bind(key.name.clone())
        .bind(key.prefix.clone())
        .bind(key.secret_hash.clone())
        .bind(models)
        .bind(key.created_at)
        .bind(key.revoked_at)
        .bind(key.last_seen_at)
        .execute(&self.writer)
        .await
        .map_err(storage("creating a worker key"))?;
        Ok(())
    }

    async fn find_worker_key(&self, prefix: &str) -> Result<Option<WorkerKey>> {
        let query = format!("SELECT {COLUMNS} FROM worker_keys WHERE prefix = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(query))
            .bind(prefix.to_owned())
            .fetch_optional(&self.reader)
            .await
            .map_err(storage("reading a worker key"))?;
        row.as_ref().map(decode).transpose()
    }

    async fn list_worker_keys(&self) -> Result<Vec<WorkerKey>> {
        let query = format!("SELECT {COLUMNS} FROM worker_keys ORDER BY created_at DESC, id DESC");
        let rows = sqlx::query(sqlx::AssertSqlSafe(query))
            .fetch_all(&self.reader)
            .await
            .map_err(storage("listing worker keys"))?;
        rows.iter().map(decode).collect()
    }

    async fn revoke_worker_key(&self, id: &str, now: i64) -> Result<bool> {
        let done = sqlx::query("UPDATE worker_keys SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1")
            .bind(id.to_owned())
            .bind(now)
            .execute(&self.writer)
            .await
            .map_err(storage("revoking a worker key"))?;
        Ok(done.rows_affected() == 1)
    }

    async fn touch_worker_key(&self, id: &str, now: i64) -> Result<()> {
        // At most one write a second per key: a busy worker claims often.
        sqlx::query(
            "UPDATE worker_keys SET last_seen_at = $2 WHERE id = $1 AND (last_seen_at IS NULL OR last_seen_at < $2 - 1000)",
        )
        .bind(id.to_owned())
        .bind(now)
        .execute(&self.writer)
        .await
        .map_err(storage("noting a worker's visit"))?;
        Ok(())
    }
}
