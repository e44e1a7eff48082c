//! The embedded SQLite database's write connection for the writes that come once
//! per task (creates, claims, completions), run through rusqlite on the group-commit
//! writer's own thread.
//!
//! sqlx's SQLite driver hands every statement to a thread of the connection's own
//! and back (`inline.rs` says what that costs a read). The group-commit writer
//! (`batch.rs`) runs one batch at a time, so each handoff there is time the whole
//! queue waits: under a flood of instant tasks the machine sat a third idle while
//! the writer waited on its statements. These writes run here instead, on the
//! same SQLite library, with no thread between the writer and SQLite.
//!
//! Invariants:
//! - One process-wide writer still: a native batch runs only while the writer task
//!   holds the pool's single write connection, so a write through the pool (the
//!   rarer writes, which stay on sqlx) never races a native batch for the lock.
//! - The connection sets the pool's `WRITE_PRAGMAS` (WAL, `synchronous = NORMAL`,
//!   foreign keys): a commit here is as durable as one through the pool.
//! - Does not wait on another process's lock on the async thread: `BEGIN IMMEDIATE`
//!   finds that lock busy at once (no busy timeout while it runs), and the writer
//!   retries after an async sleep, up to the pool's own ten seconds. Inside the
//!   transaction, which holds the write lock, a statement waits at most
//!   [`IN_TRANSACTION_PATIENCE`] (a WAL reset or recovery by another connection).
//! - SQLite is always a file here: `Database::connect` refuses an in-memory database
//!   (each of sqlx's connections would open its own). PostgreSQL's writes run
//!   through sqlx.

use std::borrow::Cow;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::OnceLock;
use std::time::Duration;

use rusqlite::types::ToSql;
use rusqlite::{Connection, ErrorCode, OpenFlags, Statement};
use sqlx::error::{DatabaseError, ErrorKind};

use crate::inline::column_names;

/// How long a batch waits, in all, for another process's write lock (the pool's
/// `busy_timeout`).
const LOCK_PATIENCE: Duration = Duration::from_secs(10);

/// How long a statement inside a transaction waits on a lock.
const IN_TRANSACTION_PATIENCE: Duration = Duration::from_millis(100);

/// Prepared statements kept: the few statements of the hot writes.
const STATEMENT_CACHE: usize = 32;

/// Where the native writer's connection opens, and the connection once open.
pub(crate) struct NativeWriter {
    path: PathBuf,
    connection: Option<Connection>,
}

impl NativeWriter {
    /// The writer of the SQLite file at `path`; it opens on the first write.
    pub(crate) fn new(path: PathBuf) -> Self {
        Self { path, connection: None }
    }

    /// Begins a write transaction (`BEGIN IMMEDIATE`), waiting asynchronously for
    /// another process's write lock, and returns the connection to write on.
    pub(crate) async fn begin(&mut self) -> Result<&Connection, sqlx::Error> {
        let begun = std::time::Instant::now();
        loop {
            let connection = self.connection()?;
            let begin =
                connection.busy_timeout(Duration::ZERO).and_then(|()| connection.execute_batch("BEGIN IMMEDIATE"));
            match begin {
                Ok(()) => break,
                Err(error) if is_busy(&error) && begun.elapsed() < LOCK_PATIENCE => {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                Err(error) => {
                    // A connection in an unknown state is not kept.
                    self.connection = None;
                    return Err(to_sqlx(error));
                }
            }
        }
        let connection = self.connection()?;
        if let Err(error) = connection.busy_timeout(IN_TRANSACTION_PATIENCE) {
            let _ = connection.execute_batch("ROLLBACK");
            return Err(to_sqlx(error));
        }
        Ok(connection)
    }

    /// Ends the transaction [`NativeWriter::begin`] began: commits it, or rolls it
    /// back when `commit` is false (a write failed) or the commit fails.
    pub(crate) fn end(&mut self, commit: bool) -> Result<(), sqlx::Error> {
        let connection = self.connection()?;
        let committed = if commit { connection.execute_batch("COMMIT").map_err(to_sqlx) } else { Ok(()) };
        if !commit || committed.is_err() {
            // A failed COMMIT leaves the transaction open.
            if connection.execute_batch("ROLLBACK").is_err() && !connection.is_autocommit() {
                // Still in a transaction that will not end: start afresh.
                self.connection = None;
            }
        }
        committed
    }

    fn connection(&mut self) -> Result<&Connection, sqlx::Error> {
        if self.connection.is_none() {
            self.connection = Some(open(&self.path).map_err(to_sqlx)?);
        }
        self.connection.as_ref().ok_or_else(|| sqlx::Error::Protocol("no SQLite write connection".into()))
    }

    /// Closes the connection (the database is closing); a later write opens it again.
    pub(crate) fn close(&mut self) {
        self.connection = None;
    }
}

fn open(path: &std::path::Path) -> rusqlite::Result<Connection> {
    // No mutex inside SQLite: the writer task is the connection's only user.
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
    let connection = Connection::open_with_flags(path, flags)?;
    connection.execute_batch(crate::connect::WRITE_PRAGMAS)?;
    connection.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(connection)
}

/// The file a SQLite URL names; `None` for an in-memory database or a URL sqlx
/// would not open.
pub(crate) fn file_path(url: &str) -> Option<PathBuf> {
    let options = sqlx::sqlite::SqliteConnectOptions::from_str(url).ok()?;
    let path = options.get_filename().to_path_buf();
    let in_memory = url.contains(":memory:")
        || url.contains("mode=memory")
        || path.to_string_lossy().starts_with("file:sqlx-in-memory");
    (!in_memory).then_some(path)
}

fn is_busy(error: &rusqlite::Error) -> bool {
    matches!(error.sqlite_error_code(), Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked))
}

/// Binds `values` to a statement written with sqlx's `$1`, `$2`, … placeholders:
/// each placeholder takes the value its number names, wherever it appears and
/// however often (SQLite itself would number them by first appearance).
pub(crate) fn bind_numbered(statement: &mut Statement<'_>, values: &[&dyn ToSql]) -> rusqlite::Result<()> {
    for index in 1..=statement.parameter_count() {
        let number = statement
            .parameter_name(index)
            .and_then(|name| name.strip_prefix('$'))
            .and_then(|number| number.parse::<usize>().ok())
            .ok_or(rusqlite::Error::InvalidParameterCount(index, values.len()))?;
        let value = number
            .checked_sub(1)
            .and_then(|at| values.get(at))
            .ok_or(rusqlite::Error::InvalidParameterCount(number, values.len()))?;
        statement.raw_bind_parameter(index, value)?;
    }
    Ok(())
}

/// Runs a statement written with numbered placeholders (cached); returns the rows
/// it changed.
pub(crate) fn execute(connection: &Connection, sql: &str, values: &[&dyn ToSql]) -> Result<usize, sqlx::Error> {
    let mut statement = connection.prepare_cached(sql).map_err(to_sqlx)?;
    bind_numbered(&mut statement, values).map_err(to_sqlx)?;
    statement.raw_execute().map_err(to_sqlx)
}

/// Runs a statement written with numbered placeholders (cached) and hands each row
/// it returns to `each`, with the statement's column names (kept in `names`, see
/// `inline::column_names`).
pub(crate) fn for_each_row(
    connection: &Connection,
    sql: &str,
    values: &[&dyn ToSql],
    names: &OnceLock<Vec<String>>,
    mut each: impl FnMut(&rusqlite::Row<'_>, &[String]) -> Result<(), sqlx::Error>,
) -> Result<(), sqlx::Error> {
    let mut statement = connection.prepare_cached(sql).map_err(to_sqlx)?;
    bind_numbered(&mut statement, values).map_err(to_sqlx)?;
    let names = column_names(names, &statement);
    let mut rows = statement.raw_query();
    while let Some(row) = rows.next().map_err(to_sqlx)? {
        each(row, &names)?;
    }
    Ok(())
}

/// The first column of the first row a statement returns, if it returns one.
pub(crate) fn query_optional<T: rusqlite::types::FromSql>(
    connection: &Connection,
    sql: &str,
    values: &[&dyn ToSql],
) -> Result<Option<T>, sqlx::Error> {
    let mut statement = connection.prepare_cached(sql).map_err(to_sqlx)?;
    bind_numbered(&mut statement, values).map_err(to_sqlx)?;
    let mut rows = statement.raw_query();
    let value = match rows.next().map_err(to_sqlx)? {
        Some(row) => Some(row.get(0).map_err(to_sqlx)?),
        None => None,
    };
    // Stepped to the end: a statement with RETURNING finishes its changes.
    while rows.next().map_err(to_sqlx)?.is_some() {}
    Ok(value)
}

/// The first column of the one row a statement returns.
pub(crate) fn query_one<T: rusqlite::types::FromSql>(
    connection: &Connection,
    sql: &str,
    values: &[&dyn ToSql],
) -> Result<T, sqlx::Error> {
    query_optional(connection, sql, values)?.ok_or(sqlx::Error::RowNotFound)
}

/// A rusqlite error as the sqlx error the write path speaks: a database error with
/// SQLite's extended code, so that a full disk stays one (`error::is_disk_full`).
pub(crate) fn to_sqlx(error: rusqlite::Error) -> sqlx::Error {
    match error {
        rusqlite::Error::SqliteFailure(failure, message) => {
            let message = message.unwrap_or_else(|| failure.to_string());
            sqlx::Error::Database(Box::new(SqliteFailure { code: failure.extended_code, message }))
        }
        other => sqlx::Error::Protocol(other.to_string()),
    }
}

/// SQLite's failure, as a [`DatabaseError`].
#[derive(Debug)]
struct SqliteFailure {
    code: std::ffi::c_int,
    message: String,
}

impl std::fmt::Display for SqliteFailure {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "(code: {}) {}", self.code, self.message)
    }
}

impl std::error::Error for SqliteFailure {}

impl DatabaseError for SqliteFailure {
    fn message(&self) -> &str {
        &self.message
    }

    fn code(&self) -> Option<Cow<'_, str>> {
        Some(Cow::Owned(self.code.to_string()))
    }

    fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
        self
    }

    fn kind(&self) -> ErrorKind {
        // SQLite's extended constraint codes.
        match self.code {
            2067 | 1555 => ErrorKind::UniqueViolation,
            787 => ErrorKind::ForeignKeyViolation,
            1299 => ErrorKind::NotNullViolation,
            275 => ErrorKind::CheckViolation,
            _ => ErrorKind::Other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbered_placeholders_take_the_value_their_number_names() {
        let connection = Connection::open_in_memory().expect("open");
        let mut statement = connection.prepare("SELECT $2, $1, $2 || $3").expect("prepare");
        bind_numbered(&mut statement, &[&"a", &"b", &"c"]).expect("bind");
        let mut rows = statement.raw_query();
        let row = rows.next().expect("step").expect("a row");
        let values: (String, String, String) = (row.get(0).expect("0"), row.get(1).expect("1"), row.get(2).expect("2"));
        assert_eq!(values, ("b".into(), "a".into(), "bc".into()));
    }

    #[test]
    fn a_placeholder_without_a_value_is_an_error_not_a_null() {
        let connection = Connection::open_in_memory().expect("open");
        let mut statement = connection.prepare("SELECT $1, $3").expect("prepare");
        assert!(bind_numbered(&mut statement, &[&1, &2]).is_err());
        let mut named = connection.prepare("SELECT :name").expect("prepare");
        assert!(bind_numbered(&mut named, &[&1]).is_err());
    }

    #[test]
    fn a_full_disk_stays_recognisable_and_constraints_keep_their_kind() {
        let full = rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(13), None);
        assert!(crate::error::is_disk_full(&to_sqlx(full)));
        let connection = Connection::open_in_memory().expect("open");
        connection.execute_batch("CREATE TABLE t (k TEXT PRIMARY KEY)").expect("create");
        connection.execute("INSERT INTO t VALUES ('a')", []).expect("insert");
        let duplicate = connection.execute("INSERT INTO t VALUES ('a')", []).expect_err("a duplicate key");
        let sqlx::Error::Database(error) = to_sqlx(duplicate) else { panic!("a database error") };
        assert!(error.is_unique_violation());
        assert!(!crate::error::is_disk_full(&sqlx::Error::Database(error)));
    }

    #[test]
    fn a_sqlite_url_names_its_file_and_an_in_memory_database_has_none() {
        assert_eq!(file_path("sqlite::memory:"), None);
        assert_eq!(file_path("sqlite://shared?mode=memory"), None);
        assert_eq!(file_path("sqlite:///tmp/x/atelier.db?mode=rwc"), Some(PathBuf::from("/tmp/x/atelier.db")));
    }
}
