//! `PipelineStore` for both backends: runs, their version trees and their tasks.
//! JSON (settings, errors, documents, changes) is text, as everywhere here.

use async_trait::async_trait;
use atelier_core::pipeline::scene_cache::{SceneEntry, vector_from_bytes, vector_to_bytes};
use atelier_core::pipeline::{Reused, Run, RunError, RunSettings, RunStatus, RunTask, Version, VersionKind};
use atelier_core::ports::PipelineStore;
use atelier_core::{CoreError, RunId, TaskId, UserId, VersionId};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::AssertSqlSafe;
use sqlx::any::AnyRow;

use crate::connect::Database;
use crate::error::storage;
use crate::params::{Param, next_page};
use crate::rows::{get, invalid};

type Result<T> = std::result::Result<T, CoreError>;

const RUN_COLUMNS: &str = "id, owner_id, pipeline, request_id, status, phase, head_id, phase_try, wake_at, \
     deadline_at, text, settings, error, note, progress, created_at, updated_at, completed_at, paused_at, revision";
const VERSION_COLUMNS: &str =
    "id, run_id, parent_id, phase, kind, document, description, changes, elapsed_ms, created_at";
/// The statuses of runs that have not ended.
const ACTIVE: &str = "('running', 'waiting_input', 'parked', 'paused')";

fn encode<T: Serialize>(value: &T, what: &str) -> Result<String> {
    serde_json::to_string(value).map_err(|error| CoreError::Storage(format!("encoding {what}: {error}")))
}

fn decode<T: DeserializeOwned>(text: &str, what: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|_| invalid(what))
}

fn number<T: TryFrom<i64>>(row: &AnyRow, column: &str) -> Result<T> {
    let value: i64 = get(row, column)?;
    T::try_from(value).map_err(|_| invalid(column))
}

fn decode_run(row: &AnyRow) -> Result<Run> {
    let id: String = get(row, "id")?;
    let owner: String = get(row, "owner_id")?;
    let status: String = get(row, "status")?;
    let head: Option<String> = get(row, "head_id")?;
    let settings: String = get(row, "settings")?;
    let error: Option<String> = get(row, "error")?;
    Ok(Run {
        id: RunId::parse(&id).ok_or_else(|| invalid("run id"))?,
        owner: UserId::parse(&owner).ok_or_else(|| invalid("run owner"))?,
        pipeline: get(row, "pipeline")?,
        request_id: get(row, "request_id")?,
        status: RunStatus::parse(&status).ok_or_else(|| invalid("run status"))?,
        phase: number(row, "phase")?,
        head: head.as_deref().map(|head| VersionId::parse(head).ok_or_else(|| invalid("run head"))).transpose()?,
        phase_try: number(row, "phase_try")?,
        wake_at: get(row, "wake_at")?,
        deadline_at: get(row, "deadline_at")?,
        text: get(row, "text")?,
        settings: decode::<RunSettings>(&settings, "run settings")?,
        error: error.as_deref().map(|error| decode::<RunError>(error, "run error")).transpose()?,
        note: get(row, "note")?,
        progress: number(row, "progress")?,
        created_at: get(row, "created_at")?,
        updated_at: get(row, "updated_at")?,
        completed_at: get(row, "completed_at")?,
        paused_at: get(row, "paused_at")?,
        revision: get(row, "revision")?,
    })
}

fn decode_version(row: &AnyRow) -> Result<Version> {
    let id: String = get(row, "id")?;
    let run: String = get(row, "run_id")?;
    let parent: Option<String> = get(row, "parent_id")?;
    let kind: String = get(row, "kind")?;
    let document: String = get(row, "document")?;
    let changes: String = get(row, "changes")?;
    Ok(Version {
        id: VersionId::parse(&id).ok_or_else(|| invalid("version id"))?,
        run_id: RunId::parse(&run).ok_or_else(|| invalid("version run"))?,
        parent: parent
            .as_deref()
            .map(|parent| VersionId::parse(parent).ok_or_else(|| invalid("version parent")))
            .transpose()?,
        phase: number(row, "phase")?,
        kind: VersionKind::parse(&kind).ok_or_else(|| invalid("version kind"))?,
        document: decode(&document, "version document")?,
        description: get(row, "description")?,
        changes: decode(&changes, "version changes")?,
        elapsed_ms: get(row, "elapsed_ms")?,
        created_at: get(row, "created_at")?,
    })
}

/// A run's mutable columns, bound in the order of `UPDATE_RUN`.
struct RunWrite {
    status: &'static str,
    phase: i64,
    head: Option<String>,
    phase_try: i64,
    wake_at: Option<i64>,
    deadline_at: i64,
    error: Option<String>,
    note: Option<String>,
    progress: i64,
    updated_at: i64,
    completed_at: Option<i64>,
    paused_at: Option<i64>,
    id: String,
    revision: i64,
}

impl RunWrite {
    fn of(run: &Run) -> Result<Self> {
        Ok(Self {
            status: run.status.as_str(),
            phase: i64::from(run.phase),
            head: run.head.as_ref().map(ToString::to_string),
            phase_try: i64::from(run.phase_try),
            wake_at: run.wake_at,
            deadline_at: run.deadline_at,
            error: run.error.as_ref().map(|error| encode(error, "a run's error")).transpose()?,
            note: run.note.clone(),
            progress: i64::from(run.progress),
            updated_at: run.updated_at,
            completed_at: run.completed_at,
            paused_at: run.paused_at,
            id: run.id.to_string(),
            revision: run.revision,
        })
    }

    fn query(self) -> sqlx::query::Query<'static, sqlx::Any, sqlx::any::AnyArguments> {
        sqlx::query(
            "UPDATE pipeline_runs SET status = $1, phase = $2, head_id = $3, phase_try = $4, wake_at = $5, \
             deadline_at = $6, error = $7, note = $8, progress = $9, updated_at = $10, completed_at = $11, \
             paused_at = $12, revision = revision + 1 WHERE id = $13 AND revision = $14",
        )
        .bind(self.status)
        .bind(self.phase)
        .bind(self.head)
        .bind(self.phase_try)
        .bind(self.wake_at)
        .bind(self.deadline_at)
        .bind(self.error)
        .bind(self.note)
        .bind(self.progress)
        .bind(self.updated_at)
        .bind(self.completed_at)
        .bind(self.paused_at)
        .bind(self.id)
        .bind(self.revision)
    }
}

async fn fetch_runs(db: &Database, sql: String, binds: Vec<String>, what: &'static str) -> Result<Vec<Run>> {
    let mut query = sqlx::query(AssertSqlSafe(sql));
    for bind in binds {
        query = query.bind(bind);
    }
    let rows = query.fetch_all(&db.reader).await.map_err(storage(what))?;
    rows.iter().map(decode_run).collect()
}

#[async_trait]
impl PipelineStore for Database {
    async fn create_run(&self, run: &Run) -> Result<()> {
        let settings = encode(&run.settings, "a run's settings")?;
        sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO pipeline_runs ({RUN_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, \
             $13, $14, $15, $16, $17, $18, $19, $20)"
        )))
        .bind(run.id.to_string())
        .bind(run.owner.to_string())
        .bind(run.pipeline.clone())
        .bind(run.request_id.clone())
        .bind(run.status.as_str())
        .bind(i64::from(run.phase))
        .bind(run.head.as_ref().map(ToString::to_string))
        .bind(i64::from(run.phase_try))
        .bind(run.wake_at)
        .bind(run.deadline_at)
        .bind(run.text.clone())
        .bind(settings)
        .bind(run.error.as_ref().map(|error| encode(error, "a run's error")).transpose()?)
        .bind(run.note.clone())
        .bind(i64::from(run.progress))
        .bind(run.created_at)
        .bind(run.updated_at)
        .bind(run.completed_at)
        .bind(run.paused_at)
        .bind(run.revision)
        .execute(&self.writer)
        .await
        .map_err(storage("recording a run"))?;
        Ok(())
    }

    async fn get_run(&self, id: &RunId) -> Result<Option<Run>> {
        let sql = format!("SELECT {RUN_COLUMNS} FROM pipeline_runs WHERE id = $1");
        // Read from the writer: a run is read to be written, and must be current.
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(id.to_string())
            .fetch_optional(&self.writer)
            .await
            .map_err(storage("reading a run"))?;
        row.as_ref().map(decode_run).transpose()
    }

    async fn find_run_by_request(&self, owner: &UserId, request_id: &str) -> Result<Option<Run>> {
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM pipeline_runs WHERE owner_id = $1 AND request_id = $2 ORDER BY id DESC LIMIT 1"
        );
        let mut runs = fetch_runs(self, sql, vec![owner.to_string(), request_id.to_owned()], "finding a run").await?;
        Ok(runs.pop())
    }

    async fn list_runs(
        &self,
        owner: Option<&UserId>,
        before: Option<&RunId>,
        limit: u32,
    ) -> Result<(Vec<Run>, Option<RunId>)> {
        let mut conditions = Vec::new();
        let mut binds = Vec::new();
        if let Some(owner) = owner {
            binds.push(owner.to_string());
            conditions.push(format!("owner_id = ${}", binds.len()));
        }
        if let Some(before) = before {
            binds.push(before.to_string());
            conditions.push(format!("id < ${}", binds.len()));
        }
        let filter = if conditions.is_empty() { String::new() } else { format!("WHERE {}", conditions.join(" AND ")) };
        let sql = format!("SELECT {RUN_COLUMNS} FROM pipeline_runs {filter} ORDER BY id DESC LIMIT {}", limit + 1);
        let mut runs = fetch_runs(self, sql, binds, "listing runs").await?;
        let next = next_page(&mut runs, limit, |run| run.id.clone());
        Ok((runs, next))
    }

    async fn update_run(&self, run: &Run) -> Result<bool> {
        let write = RunWrite::of(run)?;
        let done = self
            .write(Box::new(move |connection| Box::pin(async move { write.query().execute(&mut *connection).await })))
            .await
            .map_err(storage("writing a run"))?;
        Ok(done.rows_affected() == 1)
    }

    async fn add_version(&self, run: &Run, version: &Version) -> Result<bool> {
        let write = RunWrite::of(run)?;
        let (id, run_id, parent) =
            (version.id.to_string(), version.run_id.to_string(), version.parent.as_ref().map(ToString::to_string));
        let (phase, kind) = (i64::from(version.phase), version.kind.as_str());
        let document = encode(&version.document, "a version's document")?;
        let changes = encode(&version.changes, "a version's changes")?;
        let (description, elapsed_ms, created_at) =
            (version.description.clone(), version.elapsed_ms, version.created_at);
        self.write(Box::new(move |connection| {
            Box::pin(async move {
                // The run moves first: when its revision moved, nothing is written.
                if write.query().execute(&mut *connection).await?.rows_affected() != 1 {
                    return Ok(false);
                }
                sqlx::query(AssertSqlSafe(format!(
                    "INSERT INTO pipeline_versions ({VERSION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
                )))
                .bind(id)
                .bind(run_id)
                .bind(parent)
                .bind(phase)
                .bind(kind)
                .bind(document)
                .bind(description)
                .bind(changes)
                .bind(elapsed_ms)
                .bind(created_at)
                .execute(&mut *connection)
                .await?;
                Ok(true)
            })
        }))
        .await
        .map_err(storage("recording a version"))
    }

    async fn get_version(&self, id: &VersionId) -> Result<Option<Version>> {
        let sql = format!("SELECT {VERSION_COLUMNS} FROM pipeline_versions WHERE id = $1");
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(id.to_string())
            .fetch_optional(&self.writer)
            .await
            .map_err(storage("reading a version"))?;
        row.as_ref().map(decode_version).transpose()
    }

    async fn list_versions(&self, run: &RunId) -> Result<Vec<Version>> {
        let sql = format!("SELECT {VERSION_COLUMNS} FROM pipeline_versions WHERE run_id = $1 ORDER BY id");
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(run.to_string())
            .fetch_all(&self.reader)
            .await
            .map_err(storage("listing versions"))?;
        rows.iter().map(decode_version).collect()
    }

    async fn link_task(&self, link: &RunTask) -> Result<()> {
        let (run, key, task) = (link.run_id.to_string(), link.key.clone(), link.task_id.to_string());
        let reused = link.reused.clone();
        self.write(Box::new(move |connection| {
            Box::pin(async move {
                // Two statements: a NULL float bound through sqlx's Any driver is not
                // read as a float by PostgreSQL.
                match reused {
                    None => {
                        sqlx::query(
                            "INSERT INTO pipeline_tasks (run_id, step_key, task_id) VALUES ($1, $2, $3) \
                             ON CONFLICT (run_id, step_key) DO NOTHING",
                        )
                        .bind(run)
                        .bind(key)
                        .bind(task)
                        .execute(&mut *connection)
                        .await
                    }
                    Some(reused) => {
                        sqlx::query(
                            "INSERT INTO pipeline_tasks (run_id, step_key, task_id, reuse_score, reuse_method) \
                             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (run_id, step_key) DO NOTHING",
                        )
                        .bind(run)
                        .bind(key)
                        .bind(task)
                        .bind(reused.score)
                        .bind(reused.method)
                        .execute(&mut *connection)
                        .await
                    }
                }
            })
        }))
        .await
        .map_err(storage("recording a run's task"))?;
        Ok(())
    }

    async fn run_tasks(&self, run: &RunId, key_prefix: &str) -> Result<Vec<RunTask>> {
        // A prefix match without LIKE's wildcards: the range [prefix, prefix + U+FFFF).
        let upper = format!("{key_prefix}\u{ffff}");
        let rows = sqlx::query(
            "SELECT run_id, step_key, task_id, reuse_score, reuse_method FROM pipeline_tasks \
             WHERE run_id = $1 AND step_key >= $2 AND step_key < $3 ORDER BY step_key",
        )
        .bind(run.to_string())
        .bind(key_prefix.to_owned())
        .bind(upper)
        .fetch_all(&self.writer)
        .await
        .map_err(storage("reading a run's tasks"))?;
        rows.iter()
            .map(|row| {
                let task: String = get(row, "task_id")?;
                let score: Option<f64> = get(row, "reuse_score")?;
                let method: Option<String> = get(row, "reuse_method")?;
                Ok(RunTask {
                    run_id: run.clone(),
                    key: get(row, "step_key")?,
                    task_id: task.parse::<TaskId>().map_err(|_| invalid("run task id"))?,
                    reused: score.zip(method).map(|(score, method)| Reused { score, method }),
                })
            })
            .collect()
    }

    async fn run_for_task(&self, task: TaskId) -> Result<Option<RunId>> {
        let run: Option<String> = sqlx::query_scalar("SELECT run_id FROM pipeline_tasks WHERE task_id = $1 LIMIT 1")
            .bind(task.to_string())
            .fetch_optional(&self.reader)
            .await
            .map_err(storage("finding a task's run"))?;
        run.map(|run| RunId::parse(&run).ok_or_else(|| invalid("run id"))).transpose()
    }

    async fn due_runs(&self, now: i64, limit: u32) -> Result<Vec<RunId>> {
        // Runs whose time has come, and runs at work past their deadline:
        // two index range scans rather than one OR.
        let mut ids: Vec<String> = Vec::new();
        for sql in [
            "SELECT id FROM pipeline_runs WHERE status IN ('running', 'waiting_input', 'parked') AND wake_at <= $1 \
             ORDER BY wake_at LIMIT $2",
            "SELECT id FROM pipeline_runs WHERE status = 'running' AND deadline_at <= $1 ORDER BY deadline_at LIMIT $2",
        ] {
            let found: Vec<String> = sqlx::query_scalar(sql)
                .bind(now)
                .bind(i64::from(limit))
                .fetch_all(&self.reader)
                .await
                .map_err(storage("finding due runs"))?;
            for id in found {
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
        }
        ids.truncate(limit as usize);
        ids.iter().map(|id| RunId::parse(id).ok_or_else(|| invalid("run id"))).collect()
    }

    async fn any_running_run(&self) -> Result<bool> {
        // The deadline index holds exactly the running runs.
        let found: Option<i64> = sqlx::query_scalar("SELECT 1 FROM pipeline_runs WHERE status = 'running' LIMIT 1")
            .fetch_optional(&self.reader)
            .await
            .map_err(storage("looking for a running run"))?;
        Ok(found.is_some())
    }

    async fn count_active_runs(&self, owner: &UserId) -> Result<u64> {
        let count: i64 = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM pipeline_runs WHERE owner_id = $1 AND status IN {ACTIVE}"
        )))
        .bind(owner.to_string())
        .fetch_one(&self.reader)
        .await
        .map_err(storage("counting runs"))?;
        Ok(count.max(0) as u64)
    }

    async fn count_runs_since(&self, owner: &UserId, since: i64) -> Result<u64> {
        let count: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM pipeline_runs WHERE owner_id = $1 AND created_at >= $2")
                .bind(owner.to_string())
                .bind(since)
                .fetch_one(&self.reader)
                .await
                .map_err(storage("counting runs"))?;
        Ok(count.max(0) as u64)
    }

    async fn remember_scene(&self, entry: &SceneEntry) -> Result<()> {
        let entry = entry.clone();
        let vector = BASE64.encode(vector_to_bytes(&entry.vector));
        self.write(Box::new(move |connection| {
            Box::pin(async move {
                sqlx::query(
                    "INSERT INTO scene_cache (task_id, owner_id, model, scope, features, vector, method, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (task_id) DO NOTHING",
                )
                .bind(entry.task_id.to_string())
                .bind(entry.owner.to_string())
                .bind(entry.model)
                .bind(entry.scope)
                .bind(entry.features)
                .bind(vector)
                .bind(entry.method)
                .bind(entry.created_at)
                .execute(&mut *connection)
                .await
            })
        }))
        .await
        .map_err(storage("remembering a scene"))?;
        Ok(())
    }

    async fn scene_candidates(&self, owner: &UserId, model: &str, since: i64, limit: u32) -> Result<Vec<SceneEntry>> {
        let rows = sqlx::query(
            "SELECT s.task_id, s.owner_id, s.model, s.scope, s.features, s.vector, s.method, s.created_at \
             FROM scene_cache s JOIN tasks t ON t.id = s.task_id \
             WHERE s.owner_id = $1 AND s.model = $2 AND s.created_at >= $3 AND t.status = 'completed' \
             ORDER BY s.created_at DESC LIMIT $4",
        )
        .bind(owner.to_string())
        .bind(model.to_owned())
        .bind(since)
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await
        .map_err(storage("reading the scene cache"))?;
        rows.iter()
            .map(|row| {
                let task: String = get(row, "task_id")?;
                let owner: String = get(row, "owner_id")?;
                let vector: String = get(row, "vector")?;
                Ok(SceneEntry {
                    task_id: task.parse::<TaskId>().map_err(|_| invalid("scene task id"))?,
                    owner: UserId::parse(&owner).ok_or_else(|| invalid("scene owner"))?,
                    model: get(row, "model")?,
                    scope: get(row, "scope")?,
                    features: get(row, "features")?,
                    vector: vector_from_bytes(&BASE64.decode(vector).map_err(|_| invalid("scene vector"))?),
                    method: get(row, "method")?,
                    created_at: get(row, "created_at")?,
                })
            })
            .collect()
    }

    async fn runs_to_retain(&self, ended_before: i64, stage: u8, limit: u32) -> Result<Vec<(Run, u8)>> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {RUN_COLUMNS}, retained FROM pipeline_runs \
             WHERE status IN ('completed', 'failed', 'cancelled') AND completed_at <= $1 AND retained < $2 \
             ORDER BY completed_at LIMIT $3"
        )))
        .bind(ended_before)
        .bind(i64::from(stage))
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await
        .map_err(storage("finding runs to let go of"))?;
        rows.iter()
            .map(|row| {
                let retained: i64 = get(row, "retained")?;
                Ok((decode_run(row)?, u8::try_from(retained).map_err(|_| invalid("retained"))?))
            })
            .collect()
    }

    async fn retain_run(&self, run: &Run, keep: Option<&[VersionId]>, stage: u8) -> Result<bool> {
        let (id, revision) = (run.id.to_string(), run.revision);
        let keep: Option<Vec<String>> = keep.map(|keep| keep.iter().map(ToString::to_string).collect());
        self.write(Box::new(move |connection| {
            Box::pin(async move {
                // Only a run still as it was read: one branched or drawn again since is
                // in use again.
                let marked = sqlx::query(
                    "UPDATE pipeline_runs SET retained = $1 WHERE id = $2 AND revision = $3 \
                     AND status IN ('completed', 'failed', 'cancelled')",
                )
                .bind(i64::from(stage))
                .bind(id.clone())
                .bind(revision)
                .execute(&mut *connection)
                .await?;
                if marked.rows_affected() != 1 {
                    return Ok(false);
                }
                if let Some(keep) = keep {
                    // The run's other versions, in one statement.
                    let mut params = Vec::with_capacity(keep.len() + 1);
                    let mut sql = format!(
                        "DELETE FROM pipeline_versions WHERE run_id = {}",
                        Param::push(&mut params, Param::text(&id))
                    );
                    if !keep.is_empty() {
                        let kept: Vec<String> =
                            keep.into_iter().map(|version| Param::push(&mut params, Param::Text(version))).collect();
                        sql.push_str(&format!(" AND id NOT IN ({})", kept.join(", ")));
                    }
                    Param::bind_all(sql, params).execute(&mut *connection).await?;
                }
                Ok(true)
            })
        }))
        .await
        .map_err(storage("letting go of a run's data"))
    }

    async fn task_linked_elsewhere(&self, task: TaskId, run: &RunId) -> Result<bool> {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM pipeline_tasks WHERE task_id = $1 AND run_id <> $2")
            .bind(task.to_string())
            .bind(run.to_string())
            .fetch_one(&self.reader)
            .await
            .map_err(storage("reading a task's runs"))?;
        Ok(count > 0)
    }
}
