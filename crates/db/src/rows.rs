//! Row shapes: the columns each query selects and their decoding.

use atelier_core::task::{Asset, OutputRole, Task, TaskError, TaskPlace, TaskStatus};
use atelier_core::{AssetId, CoreError, LocationId, PromptId, TaskId, UserId};
use sqlx::Row;
use sqlx::any::AnyRow;

/// The task columns every task query selects (a literal, so that statements built
/// with `concat!` stay `&'static str`).
macro_rules! task_columns {
    () => {
        "id, service, model, input, status, progress, attempts, max_attempts, crashes, external_id, \
         error_code, error_message, error_retryable, priority, version, idempotency_key, retry_of, \
         created_at, updated_at, started_at, completed_at, expires_at, run_after, owner_id, prompt_id, route, pool, \
         after_task, latitude, longitude, location_id, trace_context"
    };
}

macro_rules! asset_columns {
    () => {
        "id, task_id, idx, mime, bytes, width, height, sha256, blob_key, thumbnail_key, created_at, owner_id, role, media"
    };
}

pub(crate) use {asset_columns, task_columns};

pub(crate) fn corrupt(what: &str, error: impl std::fmt::Display) -> CoreError {
    CoreError::Storage(format!("stored {what} is invalid: {error}"))
}

/// A stored value that does not decode into its type (an id, a role, …).
pub(crate) fn invalid(what: &str) -> CoreError {
    CoreError::Storage(format!("stored {what} is invalid"))
}

/// A value one column holds, readable through sqlx and through rusqlite (the inline
/// reads on embedded SQLite, `inline.rs`).
pub(crate) trait Cell:
    for<'r> sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any> + rusqlite::types::FromSql
{
}

impl<T> Cell for T where T: for<'r> sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any> + rusqlite::types::FromSql {}

/// A row whose columns are read by name: sqlx's, or one read inline.
pub(crate) trait Columns {
    fn cell<T: Cell>(&self, column: &str) -> Result<T, CoreError>;
}

impl Columns for AnyRow {
    fn cell<T: Cell>(&self, column: &str) -> Result<T, CoreError> {
        self.try_get(column).map_err(|error| corrupt(column, error))
    }
}

/// One column of a row, as `T`; a value of the wrong type is a storage error
/// naming the column.
pub(crate) fn get<T: Cell>(row: &impl Columns, column: &str) -> Result<T, CoreError> {
    row.cell(column)
}

fn get_u32(row: &impl Columns, column: &str) -> Result<u32, CoreError> {
    let value: i64 = get(row, column)?;
    u32::try_from(value).map_err(|error| corrupt(column, error))
}

fn get_opt_u32(row: &impl Columns, column: &str) -> Result<Option<u32>, CoreError> {
    let value: Option<i64> = get(row, column)?;
    value.map(|v| u32::try_from(v).map_err(|error| corrupt(column, error))).transpose()
}

pub(crate) fn task_id(value: &str) -> Result<TaskId, CoreError> {
    value.parse().map_err(|error| corrupt("task id", error))
}

pub(crate) fn decode_task(row: &impl Columns) -> Result<Task, CoreError> {
    let id: String = get(row, "id")?;
    let input: String = get(row, "input")?;
    let status: String = get(row, "status")?;
    let error_code: Option<String> = get(row, "error_code")?;
    let retry_of: Option<String> = get(row, "retry_of")?;
    let progress: i64 = get(row, "progress")?;
    let priority: i64 = get(row, "priority")?;
    Ok(Task {
        id: task_id(&id)?,
        service: get(row, "service")?,
        model: get(row, "model")?,
        input: serde_json::from_str(&input).map_err(|error| corrupt("input", error))?,
        status: status.parse::<TaskStatus>().map_err(|error| corrupt("status", error))?,
        progress: progress.clamp(0, 100) as u8,
        attempts: get_u32(row, "attempts")?,
        max_attempts: get_u32(row, "max_attempts")?,
        crashes: get_u32(row, "crashes")?,
        external_id: get(row, "external_id")?,
        error: match error_code {
            Some(code) => Some(TaskError {
                code,
                message: get::<Option<String>>(row, "error_message")?.unwrap_or_default(),
                retryable: get::<Option<i64>>(row, "error_retryable")?.unwrap_or(0) != 0,
            }),
            None => None,
        },
        priority: i32::try_from(priority).map_err(|error| corrupt("priority", error))?,
        version: get(row, "version")?,
        idempotency_key: get(row, "idempotency_key")?,
        retry_of: retry_of.as_deref().map(task_id).transpose()?,
        created_at: get(row, "created_at")?,
        updated_at: get(row, "updated_at")?,
        started_at: get(row, "started_at")?,
        completed_at: get(row, "completed_at")?,
        expires_at: get(row, "expires_at")?,
        run_after: get(row, "run_after")?,
        owner: owner(get(row, "owner_id")?)?,
        prompt_id: prompt_id(get(row, "prompt_id")?)?,
        route: get::<Option<String>>(row, "route")?
            .map(|route| serde_json::from_str(&route).map_err(|error| corrupt("route", error)))
            .transpose()?,
        pool: get(row, "pool")?,
        after: get::<Option<String>>(row, "after_task")?.as_deref().map(task_id).transpose()?,
        place: task_place(row)?,
        trace_context: get(row, "trace_context")?,
        outputs: Vec::new(),
    })
}

/// A task's place: its coordinates (both or neither) and the location they came from.
fn task_place(row: &impl Columns) -> Result<Option<TaskPlace>, CoreError> {
    let (latitude, longitude): (Option<f64>, Option<f64>) = (get(row, "latitude")?, get(row, "longitude")?);
    let (Some(latitude), Some(longitude)) = (latitude, longitude) else { return Ok(None) };
    let location: Option<String> = get(row, "location_id")?;
    Ok(Some(TaskPlace {
        coordinates: atelier_places::Coordinates::new(latitude, longitude).map_err(|error| corrupt("place", error))?,
        location: location.map(|id| LocationId::parse(&id).ok_or_else(|| invalid("task location"))).transpose()?,
    }))
}

/// An owner column: a user id, or none for rows from before accounts.
pub(crate) fn owner(value: Option<String>) -> Result<Option<UserId>, CoreError> {
    value.map(|id| UserId::parse(&id).ok_or_else(|| corrupt("owner", "not a user id"))).transpose()
}

/// A prompt id column.
pub(crate) fn prompt_id(value: Option<String>) -> Result<Option<PromptId>, CoreError> {
    value.map(|id| PromptId::parse(&id).ok_or_else(|| corrupt("prompt id", "not a prompt id"))).transpose()
}

pub(crate) fn decode_asset(row: &AnyRow) -> Result<Asset, CoreError> {
    decode_prefixed_asset(row, "")
}

/// Decodes an asset whose columns carry a prefix (`a_id`, `a_task_id`, …), as in a
/// join with its task.
pub(crate) fn decode_prefixed_asset(row: &impl Columns, prefix: &str) -> Result<Asset, CoreError> {
    let column = |name: &str| format!("{prefix}{name}");
    let id: String = get(row, &column("id"))?;
    let task: String = get(row, &column("task_id"))?;
    let bytes: i64 = get(row, &column("bytes"))?;
    Ok(Asset {
        id: AssetId(id),
        task_id: task_id(&task)?,
        index: get_u32(row, &column("idx"))?,
        mime: get(row, &column("mime"))?,
        bytes: u64::try_from(bytes).map_err(|error| corrupt("bytes", error))?,
        width: get_opt_u32(row, &column("width"))?,
        height: get_opt_u32(row, &column("height"))?,
        sha256: get(row, &column("sha256"))?,
        blob_key: get(row, &column("blob_key"))?,
        thumbnail_key: get(row, &column("thumbnail_key"))?,
        created_at: get(row, &column("created_at"))?,
        tags: Vec::new(),
        owner: owner(get(row, &column("owner_id"))?)?,
        role: OutputRole::parse(&get::<String>(row, &column("role"))?).ok_or_else(|| invalid("asset role"))?,
        media: get::<Option<String>>(row, &column("media"))?
            .map(|json| serde_json::from_str(&json).map_err(|error| corrupt("asset media", error)))
            .transpose()?,
    })
}
