//! The retention cleanup's reads and deletes ([`RetentionStore`]): every read a page
//! found by an index (the hot ones are in `plans.rs`), every delete a bounded batch,
//! and the `job_leases` row that lets one instance at a time run it.

use async_trait::async_trait;
use atelier_core::ports::{EndedCandidate, RetentionStore};
use atelier_core::task::{TaskStatus, Upload};
use atelier_core::{AssetId, CoreError, TaskId, UploadId};
use sqlx::Row;

use crate::connect::{Backend, Database};
use crate::error::storage;
use crate::params::{Param, Statement, prefixed_at, uuid_at};
use crate::uploads::{UPLOAD_COLUMNS, decode_upload};

/// Takes the lease when it is free, expired or already `holder`'s: a row comes
/// back only then.
const TAKE_LEASE: &str = "INSERT INTO job_leases (name, holder, expires_at) VALUES ($1, $2, $4) \
     ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at \
     WHERE job_leases.expires_at <= $3 OR job_leases.holder = excluded.holder RETURNING holder";

const RELEASE_LEASE: &str = "DELETE FROM job_leases WHERE name = $1 AND holder = $2";

const DELETE_PROVIDER_COPIES: &str = "DELETE FROM provider_uploads WHERE (service, file_key) IN \
     (SELECT service, file_key FROM provider_uploads WHERE expires_at < $1 LIMIT $2)";
const DELETE_SIGN_IN_LINKS: &str = "DELETE FROM sign_in_links WHERE token_hash IN \
     (SELECT token_hash FROM sign_in_links WHERE expires_at < $1 LIMIT $2)";
const DELETE_SESSIONS: &str =
    "DELETE FROM sessions WHERE id IN (SELECT id FROM sessions WHERE expires_at < $1 LIMIT $2)";

/// Ids are UUIDv7: a creation-time bound is an id bound, a minute wide of it for
/// clocks that differ (as the list filters do).
const SLACK_MS: i64 = 60_000;

/// A live status's tasks' inputs, a page in id order (`tasks_status` is
/// `(status, id)`: read in order, no sort).
pub(crate) fn task_inputs_statement(
    backend: Backend,
    status: TaskStatus,
    after: Option<TaskId>,
    limit: u32,
) -> Statement {
    let sql = match backend {
        Backend::Sqlite => {
            "SELECT id, input FROM tasks INDEXED BY tasks_status WHERE status = $1 AND id > $2 ORDER BY id LIMIT $3"
        }
        Backend::Postgres => "SELECT id, input FROM tasks WHERE status = $1 AND id > $2 ORDER BY id LIMIT $3",
    };
    let after = after.map(|id| id.to_string()).unwrap_or_default();
    Statement::new(
        sql,
        vec![Param::Text(status.as_str().to_owned()), Param::Text(after), Param::Number(i64::from(limit))],
    )
}

/// The inputs of tasks made since `since` (any status), by the primary key's range.
pub(crate) fn task_inputs_since_statement(since: i64, after: Option<TaskId>, limit: u32) -> Statement {
    let from = uuid_at(since.saturating_sub(SLACK_MS));
    let after = after.map(|id| id.to_string()).filter(|after| *after > from).unwrap_or(from);
    Statement::new(
        "SELECT id, input FROM tasks WHERE id > $1 ORDER BY id LIMIT $2",
        vec![Param::Text(after), Param::Number(i64::from(limit))],
    )
}

/// Ended tasks that ended before `ended_before`, oldest first after a cursor, by
/// `tasks_completed` (`(completed_at, id)`, read in order).
pub(crate) fn ended_tasks_statement(
    backend: Backend,
    ended_before: i64,
    after: Option<(i64, TaskId)>,
    limit: u32,
) -> Statement {
    let sql = match backend {
        Backend::Sqlite => {
            "SELECT id, completed_at FROM tasks INDEXED BY tasks_completed \
             WHERE completed_at IS NOT NULL AND completed_at < $1 AND completed_at >= $2 \
             AND (completed_at > $2 OR id > $3) AND status IN ('completed', 'failed', 'cancelled', 'expired') \
             ORDER BY completed_at, id LIMIT $4"
        }
        Backend::Postgres => {
            "SELECT id, completed_at FROM tasks \
             WHERE completed_at IS NOT NULL AND completed_at < $1 AND completed_at >= $2 \
             AND (completed_at > $2 OR id > $3) AND status IN ('completed', 'failed', 'cancelled', 'expired') \
             ORDER BY completed_at, id LIMIT $4"
        }
    };
    let (at, id) = after.map_or((i64::MIN, String::new()), |(at, id)| (at, id.to_string()));
    Statement::new(
        sql,
        vec![Param::Number(ended_before), Param::Number(at), Param::Text(id), Param::Number(i64::from(limit))],
    )
}

/// The outputs of a page of tasks (`assets_task`).
pub(crate) fn outputs_of_statement(tasks: &[TaskId]) -> Statement {
    let mut params = Vec::with_capacity(tasks.len());
    let placeholders: Vec<String> = tasks.iter().map(|task| Param::push(&mut params, Param::text(task))).collect();
    let sql = format!("SELECT id, task_id FROM assets WHERE task_id IN ({})", placeholders.join(", "));
    Statement::new(sql, params)
}

/// Which of a page of tasks a run that has not ended links (`pipeline_tasks_task`).
pub(crate) fn in_live_runs_statement(tasks: &[TaskId]) -> Statement {
    let mut params = Vec::with_capacity(tasks.len());
    let placeholders: Vec<String> = tasks.iter().map(|task| Param::push(&mut params, Param::text(task))).collect();
    let sql = format!(
        "SELECT pt.task_id FROM pipeline_tasks pt JOIN pipeline_runs r ON r.id = pt.run_id \
         WHERE pt.task_id IN ({}) AND r.status NOT IN ('completed', 'failed', 'cancelled')",
        placeholders.join(", ")
    );
    Statement::new(sql, params)
}

/// Uploads made before `made_before`, oldest first after `after`, by the primary
/// key's range.
pub(crate) fn uploads_before_statement(made_before: i64, after: Option<&UploadId>, limit: u32) -> Statement {
    let sql = format!(
        "SELECT {UPLOAD_COLUMNS} FROM uploads WHERE id < $1 AND id > $2 AND +created_at < $3 ORDER BY id LIMIT $4"
    );
    Statement::new(
        sql,
        vec![
            Param::Text(prefixed_at(UploadId::PREFIX, made_before.saturating_add(SLACK_MS))),
            Param::Text(after.map(|id| id.as_str().to_owned()).unwrap_or_default()),
            Param::Number(made_before),
            Param::Number(i64::from(limit)),
        ],
    )
}

fn task_id(row: &sqlx::any::AnyRow, column: &str) -> Result<TaskId, CoreError> {
    let text: String = row.try_get(column).map_err(storage("reading a task id"))?;
    text.parse().map_err(|_| CoreError::Storage(format!("stored task id {text:?} is invalid")))
}

impl Database {
    async fn inputs_page(&self, statement: Statement) -> Result<Vec<(TaskId, String)>, CoreError> {
        let rows = statement.query().fetch_all(&self.reader).await.map_err(storage("reading tasks' inputs"))?;
        rows.iter()
            .map(|row| Ok((task_id(row, "id")?, row.try_get("input").map_err(storage("reading a task's input"))?)))
            .collect()
    }

    async fn delete_batch(&self, sql: &'static str, now: i64, limit: u32) -> Result<u64, CoreError> {
        let done = sqlx::query(sql)
            .bind(now)
            .bind(i64::from(limit))
            .execute(&self.writer)
            .await
            .map_err(storage("deleting expired rows"))?;
        Ok(done.rows_affected())
    }
}

#[async_trait]
impl RetentionStore for Database {
    async fn take_lease(&self, name: &str, holder: &str, now: i64, until: i64) -> Result<bool, CoreError> {
        let row = sqlx::query(TAKE_LEASE)
            .bind(name.to_owned())
            .bind(holder.to_owned())
            .bind(now)
            .bind(until)
            .fetch_optional(&self.writer)
            .await
            .map_err(storage("taking a job's lease"))?;
        Ok(row.is_some())
    }

    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), CoreError> {
        sqlx::query(RELEASE_LEASE)
            .bind(name.to_owned())
            .bind(holder.to_owned())
            .execute(&self.writer)
            .await
            .map_err(storage("letting a job's lease go"))?;
        Ok(())
    }

    async fn task_inputs(
        &self,
        status: TaskStatus,
        after: Option<TaskId>,
        limit: u32,
    ) -> Result<Vec<(TaskId, String)>, CoreError> {
        self.inputs_page(task_inputs_statement(self.backend, status, after, limit)).await
    }

    async fn task_inputs_since(
        &self,
        since: i64,
        after: Option<TaskId>,
        limit: u32,
    ) -> Result<Vec<(TaskId, String)>, CoreError> {
        self.inputs_page(task_inputs_since_statement(since, after, limit)).await
    }

    async fn ended_tasks_before(
        &self,
        ended_before: i64,
        after: Option<(i64, TaskId)>,
        limit: u32,
    ) -> Result<Vec<EndedCandidate>, CoreError> {
        let rows = ended_tasks_statement(self.backend, ended_before, after, limit)
            .query()
            .fetch_all(&self.reader)
            .await
            .map_err(storage("reading ended tasks"))?;
        let mut candidates = rows
            .iter()
            .map(|row| {
                let ended_at: i64 = row.try_get("completed_at").map_err(storage("reading ended tasks"))?;
                Ok(EndedCandidate { id: task_id(row, "id")?, ended_at, outputs: Vec::new(), in_live_run: false })
            })
            .collect::<Result<Vec<_>, CoreError>>()?;
        if candidates.is_empty() {
            return Ok(candidates);
        }
        let ids: Vec<TaskId> = candidates.iter().map(|candidate| candidate.id).collect();
        let outputs =
            outputs_of_statement(&ids).query().fetch_all(&self.reader).await.map_err(storage("reading outputs"))?;
        for row in &outputs {
            let task = task_id(row, "task_id")?;
            let id: String = row.try_get("id").map_err(storage("reading outputs"))?;
            if let Some(candidate) = candidates.iter_mut().find(|candidate| candidate.id == task) {
                candidate.outputs.push(AssetId(id));
            }
        }
        let live = in_live_runs_statement(&ids)
            .query()
            .fetch_all(&self.reader)
            .await
            .map_err(storage("reading runs' tasks"))?;
        for row in &live {
            let task = task_id(row, "task_id")?;
            if let Some(candidate) = candidates.iter_mut().find(|candidate| candidate.id == task) {
                candidate.in_live_run = true;
            }
        }
        Ok(candidates)
    }

    async fn uploads_before(
        &self,
        made_before: i64,
        after: Option<UploadId>,
        limit: u32,
    ) -> Result<Vec<Upload>, CoreError> {
        let rows = uploads_before_statement(made_before, after.as_ref(), limit)
            .query()
            .fetch_all(&self.reader)
            .await
            .map_err(storage("reading old uploads"))?;
        rows.iter().map(decode_upload).collect()
    }

    async fn delete_expired_provider_copies(&self, now: i64, limit: u32) -> Result<u64, CoreError> {
        self.delete_batch(DELETE_PROVIDER_COPIES, now, limit).await
    }

    async fn delete_expired_links(&self, now: i64, limit: u32) -> Result<(u64, u64), CoreError> {
        let links = self.delete_batch(DELETE_SIGN_IN_LINKS, now, limit).await?;
        let sessions = self.delete_batch(DELETE_SESSIONS, now, limit).await?;
        Ok((links, sessions))
    }
}
