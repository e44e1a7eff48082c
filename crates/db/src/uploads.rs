//! Files clients upload as task inputs, and what providers hold for us (their own
//! uploads, which expire).

use async_trait::async_trait;
use atelier_core::ports::{InputCopy, ProviderUpload, UploadStore};
use atelier_core::task::Upload;
use atelier_core::{CoreError, TaskId, UploadId};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::connect::Database;
use crate::error::storage;
use crate::params::{Param, Statement};

pub(crate) const UPLOAD_COLUMNS: &str =
    "id, name, mime, bytes, width, height, sha256, blob_key, thumbnail_key, created_at, owner_id";

pub(crate) fn decode_upload(row: &AnyRow) -> Result<Upload, CoreError> {
    let corrupt = |what: &str| CoreError::Storage(format!("stored upload {what} is invalid"));
    let id: String = row.try_get("id").map_err(storage("reading an upload"))?;
    let dimension = |column: &str| -> Result<Option<u32>, CoreError> {
        let value: Option<i64> = row.try_get(column).map_err(storage("reading an upload"))?;
        value.map(|v| u32::try_from(v).map_err(|_| corrupt(column))).transpose()
    };
    let bytes: i64 = row.try_get("bytes").map_err(storage("reading an upload"))?;
    Ok(Upload {
        id: UploadId::parse(&id).ok_or_else(|| corrupt("id"))?,
        name: row.try_get("name").map_err(storage("reading an upload"))?,
        mime: row.try_get("mime").map_err(storage("reading an upload"))?,
        bytes: u64::try_from(bytes).map_err(|_| corrupt("size"))?,
        width: dimension("width")?,
        height: dimension("height")?,
        sha256: row.try_get("sha256").map_err(storage("reading an upload"))?,
        blob_key: row.try_get("blob_key").map_err(storage("reading an upload"))?,
        thumbnail_key: row.try_get("thumbnail_key").map_err(storage("reading an upload"))?,
        created_at: row.try_get("created_at").map_err(storage("reading an upload"))?,
        owner: crate::rows::owner(row.try_get("owner_id").map_err(storage("reading an upload"))?)?,
    })
}

#[async_trait]
impl UploadStore for Database {
    async fn create_upload(&self, upload: &Upload) -> Result<(), CoreError> {
        let db = self;
        sqlx::query(
            "INSERT INTO uploads (id, name, mime, bytes, width, height, sha256, blob_key, thumbnail_key, created_at, \
         owner_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(upload.id.as_str().to_owned())
        .bind(upload.name.clone())
        .bind(upload.mime.clone())
        .bind(i64::try_from(upload.bytes).unwrap_or(i64::MAX))
        .bind(upload.width.map(i64::from))
        .bind(upload.height.map(i64::from))
        .bind(upload.sha256.clone())
        .bind(upload.blob_key.clone())
        .bind(upload.thumbnail_key.clone())
        .bind(upload.created_at)
        .bind(upload.owner.as_ref().map(ToString::to_string))
        .execute(&db.writer)
        .await
        .map_err(storage("recording an upload"))?;
        Ok(())
    }

    async fn get_upload(&self, id: &UploadId) -> Result<Option<Upload>, CoreError> {
        let db = self;
        let sql = format!("SELECT {UPLOAD_COLUMNS} FROM uploads WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id.as_str().to_owned())
            .fetch_optional(&db.reader)
            .await
            .map_err(storage("reading an upload"))?;
        row.as_ref().map(decode_upload).transpose()
    }

    async fn delete_upload(&self, id: &UploadId) -> Result<Option<Upload>, CoreError> {
        let db = self;
        let sql = format!("DELETE FROM uploads WHERE id = $1 RETURNING {UPLOAD_COLUMNS}");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id.as_str().to_owned())
            .fetch_optional(&db.writer)
            .await
            .map_err(storage("deleting an upload"))?;
        row.as_ref().map(decode_upload).transpose()
    }

    async fn provider_upload(
        &self,
        service: &str,
        key: &str,
        fresh_at: i64,
    ) -> Result<Option<ProviderUpload>, CoreError> {
        let db = self;
        let row = sqlx::query(
            "SELECT url, expires_at FROM provider_uploads WHERE service = $1 AND file_key = $2 AND expires_at > $3",
        )
        .bind(service.to_owned())
        .bind(key.to_owned())
        .bind(fresh_at)
        .fetch_optional(&db.reader)
        .await
        .map_err(storage("reading a provider upload"))?;
        row.map(|row| {
            Ok(ProviderUpload {
                url: row.try_get("url").map_err(storage("reading a provider upload"))?,
                expires_at: row.try_get("expires_at").map_err(storage("reading a provider upload"))?,
            })
        })
        .transpose()
    }

    async fn remember_provider_upload(
        &self,
        service: &str,
        key: &str,
        upload: &ProviderUpload,
        now: i64,
    ) -> Result<(), CoreError> {
        let db = self;
        sqlx::query(
            "INSERT INTO provider_uploads (service, file_key, url, expires_at, created_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (service, file_key) DO UPDATE SET url = excluded.url, expires_at = excluded.expires_at, \
         created_at = excluded.created_at",
        )
        .bind(service.to_owned())
        .bind(key.to_owned())
        .bind(upload.url.clone())
        .bind(upload.expires_at)
        .bind(now)
        .execute(&db.writer)
        .await
        .map_err(storage("recording a provider upload"))?;
        Ok(())
    }

    async fn provider_copies(&self, key: &str) -> Result<Vec<(String, ProviderUpload)>, CoreError> {
        let rows =
            sqlx::query("SELECT service, url, expires_at FROM provider_uploads WHERE file_key = $1 ORDER BY service")
                .bind(key.to_owned())
                .fetch_all(&self.reader)
                .await
                .map_err(storage("reading a file's provider copies"))?;
        rows.iter()
            .map(|row| {
                let service: String = row.try_get("service").map_err(storage("reading a file's provider copies"))?;
                let url: String = row.try_get("url").map_err(storage("reading a file's provider copies"))?;
                let expires_at: i64 = row.try_get("expires_at").map_err(storage("reading a file's provider copies"))?;
                Ok((service, ProviderUpload { url, expires_at }))
            })
            .collect()
    }

    async fn record_input_copy(&self, task: &TaskId, copy: &InputCopy, now: i64) -> Result<(), CoreError> {
        sqlx::query(
            "INSERT INTO task_input_copies (task_id, position, reference, service, url, expires_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (task_id, position) DO UPDATE SET \
             reference = excluded.reference, service = excluded.service, url = excluded.url, \
             expires_at = excluded.expires_at, created_at = excluded.created_at",
        )
        .bind(task.to_string())
        .bind(i64::from(copy.position))
        .bind(copy.reference.clone())
        .bind(copy.service.clone())
        .bind(copy.url.clone())
        .bind(copy.expires_at)
        .bind(now)
        .execute(&self.writer)
        .await
        .map_err(storage("recording a task's input copy"))?;
        Ok(())
    }

    async fn input_copies(&self, tasks: &[TaskId]) -> Result<Vec<(TaskId, InputCopy)>, CoreError> {
        if tasks.is_empty() {
            return Ok(Vec::new());
        }
        let rows = input_copies_statement(tasks)
            .query()
            .fetch_all(&self.reader)
            .await
            .map_err(storage("reading tasks' input copies"))?;
        rows.iter()
            .map(|row| {
                let corrupt = |what: &str| CoreError::Storage(format!("stored input copy {what} is invalid"));
                let task: String = row.try_get("task_id").map_err(storage("reading tasks' input copies"))?;
                let position: i64 = row.try_get("position").map_err(storage("reading tasks' input copies"))?;
                let copy = InputCopy {
                    position: u32::try_from(position).map_err(|_| corrupt("position"))?,
                    reference: row.try_get("reference").map_err(storage("reading tasks' input copies"))?,
                    service: row.try_get("service").map_err(storage("reading tasks' input copies"))?,
                    url: row.try_get("url").map_err(storage("reading tasks' input copies"))?,
                    expires_at: row.try_get("expires_at").map_err(storage("reading tasks' input copies"))?,
                };
                Ok((task.parse().map_err(|_| corrupt("task id"))?, copy))
            })
            .collect()
    }
}

/// The input copies of a page of tasks, by task and position.
pub(crate) fn input_copies_statement(tasks: &[TaskId]) -> Statement {
    let mut params = Vec::with_capacity(tasks.len());
    let placeholders: Vec<String> = tasks.iter().map(|task| Param::push(&mut params, Param::text(task))).collect();
    let sql = format!(
        "SELECT task_id, position, reference, service, url, expires_at FROM task_input_copies \
         WHERE task_id IN ({}) ORDER BY task_id, position",
        placeholders.join(", ")
    );
    Statement::new(sql, params)
}
