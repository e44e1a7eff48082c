//! The queue side of the task table: claims under a lease, and every write a worker
//! makes, each conditioned on the lease token it holds.

use async_trait::async_trait;
use atelier_core::ports::{Claimed, LeaseToken, QueueStore, ReclaimReport, WaitingReport};
use atelier_core::task::{NewAsset, TaskError};
use atelier_core::{CoreError, TaskId};
use std::sync::OnceLock;

use futures::future::BoxFuture;
use rusqlite::types::ToSql;
use sqlx::Row;

use crate::connect::{Backend, Database};
use crate::error::{storage, undecodable};
use crate::inline::InlineRow;
use crate::native;
use crate::rows::{Columns, decode_task, get, task_columns, task_id};

/// The claim: the runnable tasks of one pool (this server's workers', or a model's
/// that remote workers serve; migration 0013) by priority, then by turn (fair among
/// owners, see migration 0006), taken under a new lease in one statement. `$index` is how the
/// backend names the index to walk, `$lock` what it adds to the inner select.
macro_rules! claim_sql {
    ($index:literal, $lock:literal) => {
        concat!(
            "UPDATE tasks SET status = 'processing', lease_token = $1, worker_id = $2, lease_expires_at = $3, \
             attempts = attempts + CASE WHEN external_id IS NULL THEN 1 ELSE 0 END, \
             started_at = COALESCE(started_at, $4), updated_at = $4, version = version + 1 \
             WHERE id IN (SELECT id FROM tasks",
            $index,
            " WHERE pool = $6 AND lease_token IS NULL \
                 AND status IN ('pending', 'retrying', 'processing') AND run_after <= $4 \
                 ORDER BY priority DESC, queue_slot, id LIMIT $5",
            $lock,
            ") RETURNING queue_slot, ",
            task_columns!()
        )
    };
}

/// SQLite picks the claim's index from statistics, and without them (a new or a
/// restored database) it sorts the whole backlog on every claim: so the claim
/// names its index.
const CLAIM_SQLITE: &str = claim_sql!(" INDEXED BY tasks_runnable", "");
/// Concurrent claimers skip each other's rows instead of waiting on them.
const CLAIM_POSTGRES: &str = claim_sql!("", " FOR UPDATE SKIP LOCKED");

/// Moves the lanes' clock to the latest turn claimed and counts the tasks that left
/// the queue (the drain rate is read from it).
const ADVANCE_CLOCK_SQLITE: &str = "UPDATE queue_clock SET vtime = MAX(vtime, $1), started = started + $2 WHERE id = 1";
const ADVANCE_CLOCK_POSTGRES: &str =
    "UPDATE queue_clock SET vtime = GREATEST(vtime, $1), started = started + $2 WHERE id = 1";

/// Renews a lease.
pub(crate) const HEARTBEAT: &str = "UPDATE tasks SET lease_expires_at = $3 WHERE id = $1 AND lease_token = $2";

/// Fails the tasks whose lease expired once too often.
pub(crate) const RECLAIM_FAIL: &str = "UPDATE tasks SET status = 'failed', crashes = crashes + 1, lease_token = NULL, worker_id = NULL, \
         lease_expires_at = NULL, error_code = 'worker_crashed', \
         error_message = 'the worker running this task stopped responding too many times', error_retryable = 0, \
         completed_at = $1, updated_at = $1, version = version + 1 \
         WHERE lease_token IS NOT NULL AND lease_expires_at < $1 AND crashes + 1 >= $2 RETURNING id";

/// Puts the tasks whose lease expired back in the queue.
pub(crate) const RECLAIM_REQUEUE: &str = "UPDATE tasks SET status = CASE WHEN external_id IS NULL THEN 'pending' ELSE 'processing' END, \
         crashes = crashes + 1, lease_token = NULL, worker_id = NULL, lease_expires_at = NULL, run_after = $1, \
         updated_at = $1, version = version + 1 \
         WHERE lease_token IS NOT NULL AND lease_expires_at < $1 RETURNING id";

/// Expires the tasks that waited too long, found through their own partial index
/// (SQLite is told it: it prefers the status index, which walks every pending task).
macro_rules! expire_pending {
    ($index:literal) => {
        concat!(
            "UPDATE tasks",
            $index,
            " SET status = 'expired', completed_at = $1, updated_at = $1, version = version + 1, \
             error_code = 'expired', error_message = 'the task waited longer than the queue allows', \
             error_retryable = 0 \
             WHERE status = 'pending' AND lease_token IS NULL AND expires_at IS NOT NULL AND expires_at < $1 \
             RETURNING id"
        )
    };
}
const EXPIRE_PENDING_SQLITE: &str = expire_pending!(" INDEXED BY tasks_pending_expiry");
const EXPIRE_PENDING_POSTGRES: &str = expire_pending!("");

/// Each backend's claim.
pub(crate) fn claim_sql(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres => CLAIM_POSTGRES,
        // On SQLite the claim runs in the group-commit transaction, which begins
        // IMMEDIATE: the write lock is taken first, so a second process on the same
        // file waits instead of failing half-way.
        Backend::Sqlite => CLAIM_SQLITE,
    }
}

/// Each backend's expiry of pending tasks.
pub(crate) fn expire_pending_sql(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => EXPIRE_PENDING_SQLITE,
        Backend::Postgres => EXPIRE_PENDING_POSTGRES,
    }
}

/// Makes a task waiting on its provider due now (a callback came).
pub(crate) const POLL_NOW: &str = "UPDATE tasks SET run_after = $3 WHERE service = $1 AND external_id = $2 AND status = 'processing' \
         AND lease_token IS NULL RETURNING id";

/// Completes a task while its lease holds.
pub(crate) const COMPLETE: &str = "UPDATE tasks SET status = 'completed', progress = 100, lease_token = NULL, worker_id = NULL, \
                 lease_expires_at = NULL, submitting = 0, error_code = NULL, error_message = NULL, \
                 error_retryable = NULL, completed_at = $3, updated_at = $3, version = version + 1 \
                 WHERE id = $1 AND lease_token = $2 RETURNING has_waiters";

/// Makes the tasks that waited for a task that just completed due now (run only
/// when the completed task `has_waiters`).
pub(crate) const RELEASE_WAITING: &str = "UPDATE tasks SET run_after = $2, updated_at = $2, version = version + 1 \
     WHERE after_task = $1 AND status = 'pending'";

/// The tasks still waiting for another whose task completed: due now.
pub(crate) const RELEASE_ORPHANED_WAITING: &str = "UPDATE tasks SET run_after = $1, updated_at = $1, version = version + 1 \
     WHERE after_task IS NOT NULL AND status = 'pending' AND run_after > $1 \
     AND EXISTS (SELECT 1 FROM tasks parent WHERE parent.id = tasks.after_task AND parent.status = 'completed') \
     RETURNING id";

/// The tasks still waiting for another that ended without an output, or is gone.
pub(crate) const FAIL_WAITING: &str = "UPDATE tasks SET status = 'failed', completed_at = $1, updated_at = $1, \
     version = version + 1, error_code = 'upstream_failed', \
     error_message = 'the task this one takes its input from ended without an output', error_retryable = 0 \
     WHERE after_task IS NOT NULL AND status = 'pending' AND lease_token IS NULL \
     AND NOT EXISTS (SELECT 1 FROM tasks parent WHERE parent.id = tasks.after_task \
                     AND parent.status IN ('pending', 'retrying', 'processing', 'completed')) \
     RETURNING id";

/// Records an output of a task that completed.
const INSERT_ASSET: &str = "INSERT INTO assets (id, task_id, idx, mime, bytes, width, height, sha256, blob_key, \
     thumbnail_key, created_at, owner_id, role, media) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)";

/// What a claim writes with.
struct ClaimArgs {
    token: String,
    worker_id: String,
    lease_until: i64,
    now: i64,
    limit: i64,
    pool: String,
}

/// A claimed task and its turn.
type ClaimedRow = (i64, atelier_core::task::Task);

/// The turn a claimed task had, and whether it starts an attempt (a task that
/// waits on its provider resumes one).
fn turn_of(row: &impl Columns) -> Result<(i64, bool), CoreError> {
    let slot: i64 = get(row, "queue_slot")?;
    let external: Option<String> = get(row, "external_id")?;
    Ok((slot, external.is_none()))
}

/// The lanes' clock after a claim: the latest turn claimed, and how many attempts started.
fn clock_after(claimed: &[(i64, bool)]) -> Option<(i64, i64)> {
    let latest = claimed.iter().map(|(slot, _)| *slot).max()?;
    Some((latest, claimed.iter().filter(|(_, starts)| *starts).count() as i64))
}

fn claim_pooled(
    connection: &mut sqlx::AnyConnection,
    args: ClaimArgs,
) -> BoxFuture<'_, Result<Vec<ClaimedRow>, sqlx::Error>> {
    Box::pin(async move {
        let rows = sqlx::query(CLAIM_POSTGRES)
            .bind(args.token)
            .bind(args.worker_id)
            .bind(args.lease_until)
            .bind(args.now)
            .bind(args.limit)
            .bind(args.pool)
            .fetch_all(&mut *connection)
            .await?;
        let mut turns = Vec::with_capacity(rows.len());
        let mut claimed = Vec::with_capacity(rows.len());
        for row in &rows {
            let turn = turn_of(row).map_err(undecodable)?;
            claimed.push((turn.0, decode_task(row).map_err(undecodable)?));
            turns.push(turn);
        }
        if let Some((latest, started)) = clock_after(&turns) {
            sqlx::query(ADVANCE_CLOCK_POSTGRES).bind(latest).bind(started).execute(&mut *connection).await?;
        }
        Ok(claimed)
    })
}

fn claim_native(connection: &rusqlite::Connection, args: ClaimArgs) -> Result<Vec<ClaimedRow>, sqlx::Error> {
    static NAMES: OnceLock<Vec<String>> = OnceLock::new();
    let values: [&dyn ToSql; 6] = [&args.token, &args.worker_id, &args.lease_until, &args.now, &args.limit, &args.pool];
    let (mut turns, mut claimed) = (Vec::new(), Vec::new());
    native::for_each_row(connection, CLAIM_SQLITE, &values, &NAMES, |row, names| {
        let row = InlineRow { row, names };
        let turn = turn_of(&row).map_err(undecodable)?;
        claimed.push((turn.0, decode_task(&row).map_err(undecodable)?));
        turns.push(turn);
        Ok(())
    })?;
    if let Some((latest, started)) = clock_after(&turns) {
        native::execute(connection, ADVANCE_CLOCK_SQLITE, &[&latest, &started])?;
    }
    Ok(claimed)
}

/// What a completion writes.
struct Completion {
    task_id: String,
    token: String,
    outputs: Vec<NewAsset>,
    now: i64,
}

/// An output's columns that are not plain text or numbers, as stored.
fn asset_cells(asset: &NewAsset) -> (i64, Option<String>, Option<String>) {
    let bytes = i64::try_from(asset.bytes).unwrap_or(i64::MAX);
    let owner = asset.owner.as_ref().map(ToString::to_string);
    let media = asset.media.as_ref().and_then(|media| serde_json::to_string(media).ok());
    (bytes, owner, media)
}

fn complete_pooled(connection: &mut sqlx::AnyConnection, args: Completion) -> BoxFuture<'_, Result<bool, sqlx::Error>> {
    Box::pin(async move {
        let Completion { task_id, token, outputs, now } = args;
        let completed: Option<i64> = sqlx::query_scalar(COMPLETE)
            .bind(task_id.clone())
            .bind(token)
            .bind(now)
            .fetch_optional(&mut *connection)
            .await?;
        let Some(has_waiters) = completed else { return Ok(false) };
        for asset in outputs {
            let (bytes, owner, media) = asset_cells(&asset);
            sqlx::query(INSERT_ASSET)
                .bind(asset.id.0)
                .bind(task_id.clone())
                .bind(i64::from(asset.index))
                .bind(asset.mime)
                .bind(bytes)
                .bind(asset.width.map(i64::from))
                .bind(asset.height.map(i64::from))
                .bind(asset.sha256)
                .bind(asset.blob_key)
                .bind(asset.thumbnail_key)
                .bind(asset.created_at)
                .bind(owner)
                .bind(asset.role.as_str())
                .bind(media)
                .execute(&mut *connection)
                .await?;
        }
        if has_waiters != 0 {
            sqlx::query(RELEASE_WAITING).bind(task_id).bind(now).execute(&mut *connection).await?;
        }
        Ok(true)
    })
}

fn complete_native(connection: &rusqlite::Connection, args: Completion) -> Result<bool, sqlx::Error> {
    let Completion { task_id, token, outputs, now } = args;
    let completed: Option<i64> = native::query_optional(connection, COMPLETE, &[&task_id, &token, &now])?;
    let Some(has_waiters) = completed else { return Ok(false) };
    for asset in &outputs {
        let (bytes, owner, media) = asset_cells(asset);
        let (index, width, height) = (i64::from(asset.index), asset.width.map(i64::from), asset.height.map(i64::from));
        let values: [&dyn ToSql; 14] = [
            &asset.id.0,
            &task_id,
            &index,
            &asset.mime,
            &bytes,
            &width,
            &height,
            &asset.sha256,
            &asset.blob_key,
            &asset.thumbnail_key,
            &asset.created_at,
            &owner,
            &asset.role.as_str(),
            &media,
        ];
        native::execute(connection, INSERT_ASSET, &values)?;
    }
    if has_waiters != 0 {
        native::execute(connection, RELEASE_WAITING, &[&task_id, &now])?;
    }
    Ok(true)
}

#[async_trait]
impl QueueStore for Database {
    async fn claim(
        &self,
        pool: &str,
        worker_id: &str,
        limit: u32,
        now: i64,
        lease_until: i64,
    ) -> Result<Vec<Claimed>, CoreError> {
        let db = self;
        let pool = pool.to_owned();
        let lease = LeaseToken::new();
        let args = ClaimArgs {
            token: lease.0.clone(),
            worker_id: worker_id.to_owned(),
            lease_until,
            now,
            limit: i64::from(limit),
            pool,
        };
        let claimed = db.write_either(args, claim_pooled, claim_native).await.map_err(storage("claiming tasks"))?;
        let mut claims: Vec<_> =
            claimed.into_iter().map(|(slot, task)| (slot, Claimed { task, lease: lease.clone() })).collect();
        // In the claim's own order (RETURNING keeps none).
        claims.sort_by(|(a_slot, a), (b_slot, b)| {
            b.task.priority.cmp(&a.task.priority).then(a_slot.cmp(b_slot)).then(a.task.id.cmp(&b.task.id))
        });
        Ok(claims.into_iter().map(|(_, claimed)| claimed).collect())
    }

    async fn heartbeat(&self, id: TaskId, lease: &LeaseToken, until: i64) -> Result<bool, CoreError> {
        let db = self;
        leased_update(db, HEARTBEAT, id, lease, |q| q.bind(until), "renewing a lease").await
    }

    async fn set_progress(&self, id: TaskId, lease: &LeaseToken, progress: u8) -> Result<bool, CoreError> {
        let db = self;
        leased_update(
            db,
            "UPDATE tasks SET progress = $3, version = version + 1 WHERE id = $1 AND lease_token = $2",
            id,
            lease,
            |q| q.bind(i64::from(progress)),
            "storing progress",
        )
        .await
    }

    async fn record_external_id(&self, id: TaskId, lease: &LeaseToken, external_id: &str) -> Result<bool, CoreError> {
        let db = self;
        leased_update(
        db,
        "UPDATE tasks SET external_id = $3, submitting = 0, version = version + 1 WHERE id = $1 AND lease_token = $2",
        id,
        lease,
        |q| q.bind(external_id.to_owned()),
        "recording the external id",
    )
    .await
    }

    async fn mark_submitting(&self, id: TaskId, lease: &LeaseToken) -> Result<bool, CoreError> {
        let db = self;
        leased_update(
            db,
            "UPDATE tasks SET submitting = 1 WHERE id = $1 AND lease_token = $2",
            id,
            lease,
            |q| q,
            "marking a submit",
        )
        .await
    }

    async fn submit_was_interrupted(&self, id: TaskId) -> Result<bool, CoreError> {
        let db = self;
        let submitting: Option<i64> =
            sqlx::query_scalar("SELECT submitting FROM tasks WHERE id = $1 AND external_id IS NULL")
                .bind(id.to_string())
                .fetch_optional(&db.writer)
                .await
                .map_err(storage("reading the submit mark"))?;
        Ok(submitting.unwrap_or(0) != 0)
    }

    async fn park(&self, id: TaskId, lease: &LeaseToken, progress: u8, run_after: i64) -> Result<bool, CoreError> {
        let db = self;
        leased_update(
            db,
            "UPDATE tasks SET lease_token = NULL, worker_id = NULL, lease_expires_at = NULL, progress = $3, \
         run_after = $4, version = version + 1 WHERE id = $1 AND lease_token = $2",
            id,
            lease,
            |q| q.bind(i64::from(progress)).bind(run_after),
            "parking a task between polls",
        )
        .await
    }

    async fn complete(
        &self,
        id: TaskId,
        lease: &LeaseToken,
        outputs: Vec<NewAsset>,
        now: i64,
    ) -> Result<bool, CoreError> {
        let args = Completion { task_id: id.to_string(), token: lease.0.clone(), outputs, now };
        self.write_either(args, complete_pooled, complete_native).await.map_err(storage("completing a task"))
    }

    async fn fail(&self, id: TaskId, lease: &LeaseToken, error: &TaskError, now: i64) -> Result<bool, CoreError> {
        let db = self;
        leased_update(
            db,
            "UPDATE tasks SET status = 'failed', lease_token = NULL, worker_id = NULL, lease_expires_at = NULL, \
         error_code = $3, error_message = $4, error_retryable = $5, completed_at = $6, updated_at = $6, \
         version = version + 1 WHERE id = $1 AND lease_token = $2",
            id,
            lease,
            |q| q.bind(error.code.clone()).bind(error.message.clone()).bind(i64::from(error.retryable)).bind(now),
            "failing a task",
        )
        .await
    }

    async fn schedule_retry(
        &self,
        id: TaskId,
        lease: &LeaseToken,
        error: &TaskError,
        run_after: i64,
    ) -> Result<bool, CoreError> {
        let db = self;
        leased_update(
            db,
            "UPDATE tasks SET status = 'retrying', lease_token = NULL, worker_id = NULL, lease_expires_at = NULL, \
         submitting = 0, external_id = NULL, error_code = $3, error_message = $4, error_retryable = 1, \
         run_after = $5, version = version + 1 WHERE id = $1 AND lease_token = $2",
            id,
            lease,
            |q| q.bind(error.code.clone()).bind(error.message.clone()).bind(run_after),
            "scheduling a retry",
        )
        .await
    }

    async fn poll_now(&self, service: &str, external_id: &str, now: i64) -> Result<Option<TaskId>, CoreError> {
        let db = self;
        let row = sqlx::query(POLL_NOW)
            .bind(service.to_owned())
            .bind(external_id.to_owned())
            .bind(now)
            .fetch_optional(&db.writer)
            .await
            .map_err(storage("scheduling a poll"))?;
        row.map(|row| {
            let id: String = row.try_get("id").map_err(storage("reading a task id"))?;
            task_id(&id)
        })
        .transpose()
    }

    async fn release(&self, id: TaskId, lease: &LeaseToken, run_after: i64) -> Result<bool, CoreError> {
        let db = self;
        leased_update(
            db,
            "UPDATE tasks SET status = CASE WHEN external_id IS NULL THEN 'pending' ELSE 'processing' END, \
         attempts = CASE WHEN external_id IS NULL AND attempts > 0 THEN attempts - 1 ELSE attempts END, \
         lease_token = NULL, worker_id = NULL, lease_expires_at = NULL, run_after = $3, version = version + 1 \
         WHERE id = $1 AND lease_token = $2",
            id,
            lease,
            |q| q.bind(run_after),
            "releasing a lease",
        )
        .await
    }

    async fn wait_for_storage(
        &self,
        id: TaskId,
        lease: &LeaseToken,
        error: &TaskError,
        run_after: i64,
    ) -> Result<bool, CoreError> {
        leased_update(
            self,
            "UPDATE tasks SET status = CASE WHEN external_id IS NULL THEN 'retrying' ELSE 'processing' END, \
         attempts = CASE WHEN external_id IS NULL AND attempts > 0 THEN attempts - 1 ELSE attempts END, \
         submitting = CASE WHEN external_id IS NULL THEN 0 ELSE submitting END, \
         lease_token = NULL, worker_id = NULL, lease_expires_at = NULL, \
         error_code = $3, error_message = $4, error_retryable = 1, run_after = $5, version = version + 1 \
         WHERE id = $1 AND lease_token = $2",
            id,
            lease,
            |q| q.bind(error.code.clone()).bind(error.message.clone()).bind(run_after),
            "giving a task back until storage returns",
        )
        .await
    }

    async fn wait_for_lost_submit(
        &self,
        id: TaskId,
        lease: &LeaseToken,
        note: &TaskError,
        run_after: i64,
    ) -> Result<bool, CoreError> {
        leased_update(
            self,
            // A callback may have named the job meanwhile (attached under the
            // lease): then it is polled now, with no note.
            "UPDATE tasks SET status = 'processing', lease_token = NULL, worker_id = NULL, lease_expires_at = NULL, \
         error_code = CASE WHEN external_id IS NULL THEN $3 END, \
         error_message = CASE WHEN external_id IS NULL THEN $4 END, \
         error_retryable = CASE WHEN external_id IS NULL THEN 1 END, \
         run_after = CASE WHEN external_id IS NULL THEN $5 ELSE 0 END, version = version + 1 \
         WHERE id = $1 AND lease_token = $2",
            id,
            lease,
            |q| q.bind(note.code.clone()).bind(note.message.clone()).bind(run_after),
            "waiting for a lost submit's callback",
        )
        .await
    }

    async fn attach_lost_submit(
        &self,
        id: TaskId,
        service: &str,
        external_id: &str,
        now: i64,
    ) -> Result<bool, CoreError> {
        let done = sqlx::query(
            "UPDATE tasks SET status = 'processing', external_id = $3, submitting = 0, error_code = NULL, \
             error_message = NULL, error_retryable = NULL, completed_at = NULL, run_after = $4, updated_at = $4, \
             version = version + 1 \
             WHERE id = $1 AND service = $2 AND external_id IS NULL AND submitting = 1 \
               AND (status = 'processing' \
                    OR (status = 'failed' AND error_code IN ('submit_unknown', 'malformed_response')))",
        )
        .bind(id.to_string())
        .bind(service.to_owned())
        .bind(external_id.to_owned())
        .bind(now)
        .execute(&self.writer)
        .await
        .map_err(storage("attaching a provider id to a lost submit"))?;
        Ok(done.rows_affected() == 1)
    }

    async fn probe_write(&self) -> Result<(), CoreError> {
        self.probe_write_row().await
    }

    async fn free_space(&self) -> Option<u64> {
        self.free_bytes().await
    }

    async fn reclaim_expired(&self, now: i64, max_crashes: u32) -> Result<ReclaimReport, CoreError> {
        let db = self;
        let failed = sqlx::query(RECLAIM_FAIL)
            .bind(now)
            .bind(i64::from(max_crashes.max(1)))
            .fetch_all(&db.writer)
            .await
            .map_err(storage("failing crashed tasks"))?;
        let requeued = sqlx::query(RECLAIM_REQUEUE)
            .bind(now)
            .fetch_all(&db.writer)
            .await
            .map_err(storage("requeueing expired leases"))?;
        Ok(ReclaimReport { requeued: ids(&requeued)?, failed: ids(&failed)? })
    }

    async fn expire_pending(&self, now: i64) -> Result<Vec<TaskId>, CoreError> {
        let db = self;
        let sql = expire_pending_sql(db.backend);
        let rows = sqlx::query(sql).bind(now).fetch_all(&db.writer).await.map_err(storage("expiring pending tasks"))?;
        ids(&rows)
    }

    async fn settle_waiting(&self, now: i64) -> Result<WaitingReport, CoreError> {
        let db = self;
        let released = sqlx::query(RELEASE_ORPHANED_WAITING)
            .bind(now)
            .fetch_all(&db.writer)
            .await
            .map_err(storage("releasing waiting tasks"))?;
        let failed = sqlx::query(FAIL_WAITING)
            .bind(now)
            .fetch_all(&db.writer)
            .await
            .map_err(storage("failing waiting tasks"))?;
        Ok(WaitingReport { released: ids(&released)?, failed: ids(&failed)? })
    }
}

/// Runs a lease-conditioned update; true when the lease held.
async fn leased_update(
    db: &Database,
    sql: &'static str,
    id: TaskId,
    lease: &LeaseToken,
    bind: impl FnOnce(
        sqlx::query::Query<'_, sqlx::Any, sqlx::any::AnyArguments>,
    ) -> sqlx::query::Query<'_, sqlx::Any, sqlx::any::AnyArguments>,
    context: &'static str,
) -> Result<bool, CoreError> {
    let query = sqlx::query(sql).bind(id.to_string()).bind(lease.0.clone());
    let done = bind(query).execute(&db.writer).await.map_err(storage(context))?;
    Ok(done.rows_affected() == 1)
}

fn ids(rows: &[sqlx::any::AnyRow]) -> Result<Vec<TaskId>, CoreError> {
    rows.iter()
        .map(|row| {
            let id: String = row.try_get("id").map_err(storage("reading a task id"))?;
            task_id(&id)
        })
        .collect()
}
