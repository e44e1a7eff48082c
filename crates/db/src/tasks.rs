//! Creating, reading, listing, cancelling and deleting tasks.

use std::sync::OnceLock;

use async_trait::async_trait;
use atelier_core::ports::{Created, TaskStore};
use atelier_core::quota::LimitCount;
use atelier_core::task::{NewTask, Task, TaskFilter, TaskPage};
use atelier_core::{CoreError, TaskId};
use futures::future::BoxFuture;
use rusqlite::types::ToSql;
use sqlx::Row;

use crate::assets::load_outputs;
use crate::connect::{Backend, Database};
use crate::error::storage;
use crate::inline::{Inline, InlineRow, ReadError, column_names};
use crate::native;
use crate::params::{Filtered, Param, Statement, next_page, uuid_at};
use crate::rows::{Columns, decode_prefixed_asset, decode_task, get, task_columns};
use crate::usage::{COUNT_CREATED_MODEL, COUNT_CREATED_SERVICE, owner_count};

const INSERT_TASK: &str = "INSERT INTO tasks (id, service, model, input, status, max_attempts, priority, \
     idempotency_key, request_hash, retry_of, created_at, updated_at, expires_at, run_after, owner_id, prompt_id, \
     queue_slot, route, pool, after_task, latitude, longitude, location_id, trace_context) \
     VALUES ($1, $2, $3, $4, 'pending', $5, $6, $7, $8, $9, $10, $10, $11, $16, $12, $13, $14, $15, $17, $18, $19, $20, $21, \
     $22) \
     ON CONFLICT (idempotency_key) DO NOTHING";

/// Notes on a task that another now waits for it (its completion then releases it).
const MARK_WAITED_FOR: &str = "UPDATE tasks SET has_waiters = 1 WHERE id = $1";

/// A new task's turn in its owner's lane: the lane's next turn, or the queue's clock
/// when the lane has fallen behind it (an owner who was idle, or new). A task whose
/// insert then finds its idempotency key taken leaves a gap, which costs nothing.
macro_rules! take_turn {
    ($max:literal) => {
        concat!(
            "INSERT INTO queue_lanes (owner_key, next_slot) VALUES ($1, (SELECT vtime FROM queue_clock WHERE id = 1) + 1) \
             ON CONFLICT (owner_key) DO UPDATE SET next_slot = ",
            $max,
            "(queue_lanes.next_slot, (SELECT vtime FROM queue_clock WHERE id = 1)) + 1 \
             RETURNING next_slot - 1"
        )
    };
}
const TAKE_TURN_SQLITE: &str = take_turn!("MAX");
const TAKE_TURN_POSTGRES: &str = take_turn!("GREATEST");

/// PostgreSQL's lock for creates that count the same rows, named by the limit's
/// key and held until the transaction ends.
const TAKE_LIMIT_LOCK: &str = "SELECT pg_advisory_xact_lock(hashtext($1))";

/// What a create's write did.
enum Insert {
    /// Inserted (1 row) or found its idempotency key taken (0).
    Done { rows: u64 },
    /// Refused by the limit at `index`, `used` being counted already.
    Refused { index: usize, used: u64 },
}

/// The statement counting what `count` counts on `backend`, with its values;
/// `None` for an owner's count of a task without an owner.
fn limit_count(backend: Backend, count: &LimitCount, owner: Option<&str>) -> Option<Statement> {
    Some(match count {
        LimitCount::Created { service, model: Some(model), since } => {
            Statement::new(COUNT_CREATED_MODEL, vec![Param::text(service), Param::text(model), Param::Number(*since)])
        }
        LimitCount::Created { service, model: None, since } => {
            Statement::new(COUNT_CREATED_SERVICE, vec![Param::text(service), Param::Number(*since)])
        }
        LimitCount::Owner(which) => {
            let (sql, since) = owner_count(backend, *which);
            let params = std::iter::once(Param::text(owner?)).chain(since.map(Param::Number)).collect();
            Statement::new(sql, params)
        }
    })
}

/// A count as a limit compares it.
fn used(count: i64) -> u64 {
    u64::try_from(count).unwrap_or(0)
}

/// A new task's columns, in `INSERT_TASK`'s order of placeholders ($14, the turn,
/// is taken in the same transaction).
struct TaskRow {
    id: String,
    service: String,
    model: String,
    input: String,
    max_attempts: i64,
    priority: i64,
    idempotency_key: Option<String>,
    hash: Option<String>,
    retry_of: Option<String>,
    created_at: i64,
    expires_at: Option<i64>,
    owner: Option<String>,
    prompt_id: Option<String>,
    route: Option<String>,
    run_after: i64,
    pool: String,
    after: Option<String>,
    latitude: Option<f64>,
    longitude: Option<f64>,
    location_id: Option<String>,
    trace_context: Option<String>,
}

/// What a create writes with: the row, and what it checks and takes first.
struct Insertion {
    /// PostgreSQL's advisory locks, in order.
    locks: Vec<String>,
    limits: Vec<atelier_core::quota::CreateLimit>,
    row: TaskRow,
}

fn insert_pooled(connection: &mut sqlx::AnyConnection, args: Insertion) -> BoxFuture<'_, Result<Insert, sqlx::Error>> {
    Box::pin(async move {
        let Insertion { locks, limits, row } = args;
        for lock in locks {
            sqlx::query(TAKE_LIMIT_LOCK).bind(lock).execute(&mut *connection).await?;
        }
        for (index, limit) in limits.iter().enumerate() {
            let Some(count) = limit_count(Backend::Postgres, &limit.count, row.owner.as_deref()) else { continue };
            let counted: i64 = count.query().fetch_one(&mut *connection).await?.try_get(0)?;
            if used(counted) >= limit.limit {
                return Ok(Insert::Refused { index, used: used(counted) });
            }
        }
        let lane = row.owner.clone().unwrap_or_default();
        let slot: i64 = sqlx::query_scalar(TAKE_TURN_POSTGRES).bind(lane).fetch_one(&mut *connection).await?;
        let inserted = sqlx::query(INSERT_TASK)
            .bind(row.id)
            .bind(row.service)
            .bind(row.model)
            .bind(row.input)
            .bind(row.max_attempts)
            .bind(row.priority)
            .bind(row.idempotency_key)
            .bind(row.hash)
            .bind(row.retry_of)
            .bind(row.created_at)
            .bind(row.expires_at)
            .bind(row.owner)
            .bind(row.prompt_id)
            .bind(slot)
            .bind(row.route)
            .bind(row.run_after)
            .bind(row.pool)
            .bind(row.after.clone())
            .bind(row.latitude)
            .bind(row.longitude)
            .bind(row.location_id)
            .bind(row.trace_context)
            .execute(&mut *connection)
            .await?;
        if let Some(parent) = row.after.filter(|_| inserted.rows_affected() == 1) {
            sqlx::query(MARK_WAITED_FOR).bind(parent).execute(&mut *connection).await?;
        }
        Ok(Insert::Done { rows: inserted.rows_affected() })
    })
}

fn insert_native(connection: &rusqlite::Connection, args: Insertion) -> Result<Insert, sqlx::Error> {
    let Insertion { limits, row, .. } = args;
    for (index, limit) in limits.iter().enumerate() {
        let Some(count) = limit_count(Backend::Sqlite, &limit.count, row.owner.as_deref()) else { continue };
        let values: Vec<&dyn ToSql> = count.params.iter().map(|param| param as &dyn ToSql).collect();
        let counted: i64 = native::query_one(connection, &count.sql, &values)?;
        if used(counted) >= limit.limit {
            return Ok(Insert::Refused { index, used: used(counted) });
        }
    }
    let lane = row.owner.clone().unwrap_or_default();
    let slot: i64 = native::query_one(connection, TAKE_TURN_SQLITE, &[&lane])?;
    let values: [&dyn ToSql; 22] = [
        &row.id,
        &row.service,
        &row.model,
        &row.input,
        &row.max_attempts,
        &row.priority,
        &row.idempotency_key,
        &row.hash,
        &row.retry_of,
        &row.created_at,
        &row.expires_at,
        &row.owner,
        &row.prompt_id,
        &slot,
        &row.route,
        &row.run_after,
        &row.pool,
        &row.after,
        &row.latitude,
        &row.longitude,
        &row.location_id,
        &row.trace_context,
    ];
    let rows = native::execute(connection, INSERT_TASK, &values)?;
    if let Some(parent) = row.after.as_ref().filter(|_| rows == 1) {
        native::execute(connection, MARK_WAITED_FOR, &[parent])?;
    }
    Ok(Insert::Done { rows: rows as u64 })
}

/// A key sent again with another request body.
pub(crate) fn key_reused(key: &str) -> CoreError {
    CoreError::Conflict {
        code: "idempotency_key_reused",
        message: format!("the Idempotency-Key {key:?} was already used with a different request"),
    }
}

impl Database {
    /// A task (with its outputs and their tags) and whether it has input copies.
    pub(crate) async fn read_task(&self, id: TaskId) -> Result<Option<(Task, bool)>, CoreError> {
        if let Some(inline) = &self.inline {
            match inline.read("reading a task", |connection| read_task_inline(connection, id)) {
                Inline::Done(result) => return result,
                Inline::Busy => {}
            }
        }
        let rows = sqlx::query(GET_TASK)
            .bind(id.to_string())
            .fetch_all(&self.reader)
            .await
            .map_err(storage("reading a task"))?;
        let mut read = TaskRead::default();
        for row in &rows {
            read.push(row)?;
        }
        Ok(read.finish())
    }
}

/// [`GET_TASK`] on the calling thread (embedded SQLite).
fn read_task_inline(connection: &rusqlite::Connection, id: TaskId) -> Result<Option<(Task, bool)>, ReadError> {
    static NAMES: OnceLock<Vec<String>> = OnceLock::new();
    let mut statement = connection.prepare_cached(GET_TASK)?;
    let names = column_names(&NAMES, &statement);
    let mut rows = statement.query([id.to_string()])?;
    let mut read = TaskRead::default();
    while let Some(row) = rows.next()? {
        read.push(&InlineRow { row, names: &names })?;
    }
    Ok(read.finish())
}

/// A task assembled from the rows of [`GET_TASK`]: the task on each, joined to one
/// output and one of its tags.
#[derive(Default)]
struct TaskRead {
    task: Option<Task>,
    has_input_copies: bool,
}

impl TaskRead {
    fn push(&mut self, row: &impl Columns) -> Result<(), CoreError> {
        let task = match &mut self.task {
            Some(task) => task,
            None => {
                let has_input_copies: i64 = get(row, "has_input_copies")?;
                self.has_input_copies = has_input_copies != 0;
                self.task.insert(decode_task(row)?)
            }
        };
        let asset_id: Option<String> = get(row, "a_id")?;
        let Some(asset_id) = asset_id else { return Ok(()) };
        if task.outputs.last().is_none_or(|last| last.id.0 != asset_id) {
            task.outputs.push(decode_prefixed_asset(row, "a_")?);
        }
        let tag: Option<String> = get(row, "a_tag")?;
        if let (Some(tag), Some(asset)) = (tag, task.outputs.last_mut()) {
            asset.tags.push(tag);
        }
        Ok(())
    }

    fn finish(self) -> Option<(Task, bool)> {
        self.task.map(|task| (task, self.has_input_copies))
    }
}

#[async_trait]
impl TaskStore for Database {
    async fn create_task(&self, task: NewTask) -> Result<Created, CoreError> {
        let db = self;
        let key = task.idempotency_key.clone().unwrap_or_default();
        let request_hash = task.request_hash.clone();
        let after = task.after.map(|id| id.to_string());
        let place = task.place.as_ref();
        let row = TaskRow {
            id: task.id.to_string(),
            service: task.service.clone(),
            model: task.model.clone(),
            input: task.input.to_string(),
            max_attempts: i64::from(task.max_attempts),
            priority: i64::from(task.priority),
            idempotency_key: task.idempotency_key.clone(),
            hash: request_hash.clone(),
            retry_of: task.retry_of.map(|id| id.to_string()),
            created_at: task.created_at,
            expires_at: task.expires_at,
            owner: task.owner.as_ref().map(ToString::to_string),
            prompt_id: task.prompt_id.as_ref().map(ToString::to_string),
            route: task
                .route
                .as_ref()
                .map(serde_json::to_string)
                .transpose()
                .map_err(|error| CoreError::Storage(format!("encoding a task's route: {error}")))?,
            run_after: if after.is_some() { atelier_core::task::WAITING_FOR_PARENT } else { task.created_at },
            pool: task.pool.clone(),
            after,
            latitude: place.map(|place| place.coordinates.latitude()),
            longitude: place.map(|place| place.coordinates.longitude()),
            location_id: place.and_then(|place| place.location.as_ref()).map(ToString::to_string),
            trace_context: task.trace_context.clone(),
        };
        let backend = db.backend;
        // Creates counting the same rows take turns: on PostgreSQL by a lock named
        // for what they count, held to the commit (in one order, so that two creates
        // never wait on each other); SQLite has one writer.
        let mut locks: Vec<String> = match backend {
            Backend::Postgres => task.limits.iter().map(|limit| limit.lock_key(task.owner.as_ref())).collect(),
            Backend::Sqlite => Vec::new(),
        };
        locks.sort_unstable();
        locks.dedup();
        let args = Insertion { locks, limits: task.limits.clone(), row };
        let inserted =
            db.write_either(args, insert_pooled, insert_native).await.map_err(storage("inserting a task"))?;
        let rows = match inserted {
            Insert::Done { rows } => rows,
            Insert::Refused { index, used } => {
                return Err(task.limits.get(index).map_or_else(
                    || CoreError::Storage("a limit refused a task without its limit".into()),
                    |limit| limit.refusal(used),
                ));
            }
        };
        if rows == 1 {
            // Built from what was inserted rather than read back: a worker in another
            // process may already be running it.
            return Ok(Created::New(task.into_pending_task()));
        }
        // The idempotency key is taken: answer with the task it names, if the request matches.
        let (existing, stored_hash) = db
            .find_task_by_key(&key)
            .await?
            .ok_or(CoreError::Storage("idempotency key conflict without a task".into()))?;
        if stored_hash != request_hash {
            return Err(key_reused(&key));
        }
        Ok(Created::Existing(existing))
    }

    async fn find_task_by_key(&self, key: &str) -> Result<Option<(Task, Option<String>)>, CoreError> {
        let row =
            sqlx::query(concat!("SELECT request_hash, ", task_columns!(), " FROM tasks WHERE idempotency_key = $1"))
                .bind(key)
                .fetch_optional(&self.writer)
                .await
                .map_err(storage("reading an idempotent task"))?;
        let Some(row) = row else { return Ok(None) };
        let stored_hash: Option<String> = row.try_get("request_hash").map_err(storage("reading request hash"))?;
        let mut existing = decode_task(&row)?;
        load_outputs(self, std::slice::from_mut(&mut existing)).await?;
        Ok(Some((existing, stored_hash)))
    }

    async fn get_task(&self, id: TaskId) -> Result<Option<Task>, CoreError> {
        Ok(self.read_task(id).await?.map(|(task, _)| task))
    }

    async fn list_tasks(&self, filter: &TaskFilter) -> Result<TaskPage, CoreError> {
        let db = self;
        let (statement, limit) = list_statement(filter);
        let rows = statement.query().fetch_all(&db.reader).await.map_err(storage("listing tasks"))?;
        let mut tasks = rows.iter().map(decode_task).collect::<Result<Vec<_>, _>>()?;
        let next_cursor = next_page(&mut tasks, limit, |task| task.id);
        if let Some(near) = &filter.near {
            tasks.retain(|task| task.place.as_ref().is_some_and(|place| near.distance_km(place.coordinates).is_some()));
        }
        load_outputs(db, &mut tasks).await?;
        Ok(TaskPage { tasks, next_cursor })
    }

    async fn cancel_task(&self, id: TaskId, now: i64) -> Result<Option<Task>, CoreError> {
        let db = self;
        sqlx::query(
            "UPDATE tasks SET status = 'cancelled', lease_token = NULL, worker_id = NULL, lease_expires_at = NULL, \
         completed_at = $2, updated_at = $2, version = version + 1 \
         WHERE id = $1 AND status NOT IN ('completed', 'failed', 'cancelled', 'expired')",
        )
        .bind(id.to_string())
        .bind(now)
        .execute(&db.writer)
        .await
        .map_err(storage("cancelling a task"))?;
        db.get_task(id).await
    }

    async fn delete_task(&self, id: TaskId) -> Result<Option<Vec<atelier_core::task::Asset>>, CoreError> {
        let db = self;
        let Some(task) = db.get_task(id).await? else { return Ok(None) };
        let mut transaction = db.writer.begin().await.map_err(storage("deleting a task"))?;
        sqlx::query("DELETE FROM asset_tags WHERE asset_id IN (SELECT id FROM assets WHERE task_id = $1)")
            .bind(id.to_string())
            .execute(&mut *transaction)
            .await
            .map_err(storage("deleting a task's tags"))?;
        sqlx::query("DELETE FROM assets WHERE task_id = $1")
            .bind(id.to_string())
            .execute(&mut *transaction)
            .await
            .map_err(storage("deleting a task's assets"))?;
        let deleted = sqlx::query("DELETE FROM tasks WHERE id = $1")
            .bind(id.to_string())
            .execute(&mut *transaction)
            .await
            .map_err(storage("deleting a task"))?;
        transaction.commit().await.map_err(storage("deleting a task"))?;
        Ok((deleted.rows_affected() == 1).then_some(task.outputs))
    }
}

/// A page of tasks as a filter asks, newest first, and the page's size.
pub(crate) fn list_statement(filter: &TaskFilter) -> (Statement, u32) {
    let mut query = Filtered::new(concat!("SELECT ", task_columns!(), " FROM tasks WHERE 1 = 1"));
    query.and_in("status", filter.statuses.iter().map(|status| Param::Text(status.as_str().to_owned())));
    query.and_some("service =", filter.service.as_ref().map(Param::text));
    query.and_some("model =", filter.model.as_ref().map(Param::text));
    query.and_created(filter.created_after, filter.created_before, uuid_at);
    query.and_some("owner_id =", filter.owner.as_ref().map(Param::text));
    query.and_some("prompt_id =", filter.prompt_id.as_ref().map(Param::text));
    if let Some(tag) = &filter.tag {
        query.and("id IN (SELECT task_id FROM asset_tags WHERE tag =", Param::text(tag));
        query.push_sql(")");
    }
    if let Some(near) = &filter.near {
        query.and_within("", near.bounds());
    }
    query.and_some("id <", filter.before_id.as_ref().map(Param::text));
    let limit = filter.limit.clamp(1, 500);
    (query.newest_first(limit), limit)
}

/// One task with its outputs and their tags, and whether it has input copies
/// (`task_input_copies`, read apart only then), in one query: a status read is the
/// most frequent request there is.
pub(crate) const GET_TASK: &str = concat!(
    "SELECT t.*, a.id AS a_id, a.task_id AS a_task_id, a.idx AS a_idx, a.mime AS a_mime, a.bytes AS a_bytes, \
     a.width AS a_width, a.height AS a_height, a.sha256 AS a_sha256, a.blob_key AS a_blob_key, \
     a.thumbnail_key AS a_thumbnail_key, a.created_at AS a_created_at, a.owner_id AS a_owner_id, a.role AS a_role, \
     a.media AS a_media, g.tag AS a_tag \
     FROM (SELECT ",
    task_columns!(),
    ", CASE WHEN EXISTS (SELECT 1 FROM task_input_copies c WHERE c.task_id = tasks.id) THEN 1 ELSE 0 END \
     AS has_input_copies FROM tasks WHERE id = $1) t \
     LEFT JOIN assets a ON a.task_id = t.id AND t.status = 'completed' \
     LEFT JOIN asset_tags g ON g.asset_id = a.id ORDER BY a.idx, g.tag"
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DatabaseOptions;

    /// A status read on a SQLite file runs inline; one that cannot (the database was
    /// busy, or here the inline reads were closed) is answered through the pool.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_read_that_cannot_run_inline_is_answered_through_the_pool() {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("inline.db").display());
        let db = Database::connect(&url, &DatabaseOptions::default()).await.expect("connect");
        db.migrate().await.expect("migrate");
        let new = NewTask::new("local", "placeholder", serde_json::json!({ "prompt": "a fox" }), 1_000);
        let Created::New(created) = db.create_task(new).await.expect("create") else { panic!("a new task") };
        let inline = db.inline.clone().expect("inline reads on a SQLite file");

        let read = db.get_task(created.id).await.expect("read").expect("the task");
        assert_eq!(read, created);
        assert_eq!(inline.served(), 1, "read inline");

        inline.close();
        let read = db.get_task(created.id).await.expect("read").expect("the task");
        assert_eq!(read, created);
        assert_eq!(inline.served(), 1, "read through the pool");
        assert_eq!(db.get_task(TaskId::new()).await.expect("read"), None);
        db.close().await;
    }
}
