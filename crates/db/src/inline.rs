//! Point reads on the embedded SQLite database, run on the calling thread.
//!
//! sqlx's SQLite driver gives each connection a thread of its own and hands every
//! statement across to it: a channel send, a wake-up, and the rows handed back the
//! same way. For a read by primary key the handoff costs more than the query (the
//! profile of `GET /api/v1/tasks/{id}` under load spent about half its time in the
//! kernel switching threads, and a sixth parked in the driver's thread). The hottest
//! point reads therefore run here instead, through rusqlite on the same SQLite
//! library (`libsqlite3-sys`, one copy in the build), on connections kept in a
//! small idle list.
//!
//! Invariants:
//! - Only short reads by key run inline: each blocks its async worker for the
//!   query's duration (microseconds on a warm cache), as a JSON encode would. Lists,
//!   counts and anything that scans stay on sqlx's pool.
//! - Connections are read-only (`query_only`), in the database's WAL mode: a read
//!   sees the last committed state, as a read through the pool does, and never
//!   waits for the writer.
//! - A read that finds the database busy or locked (a WAL reset in progress) does
//!   not wait on the async thread: it returns [`Inline::Busy`] and the caller reads
//!   through the pool instead.
//! - PostgreSQL has no inline reads.

use std::borrow::Cow;
use std::path::PathBuf;
#[cfg(test)]
use std::sync::atomic::AtomicU64;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::Duration;

use atelier_core::CoreError;
use atelier_core::storage::StoragePart;
use rusqlite::{Connection, ErrorCode, OpenFlags};

use crate::rows::{Cell, Columns, corrupt};

/// Idle connections kept. An inline read holds its async worker thread until it
/// ends, so no more connections are in use at once than the runtime has threads;
/// a connection beyond this number is closed when it comes back.
const MAX_IDLE: usize = 8;

/// Each connection's page cache, in KiB: a point read touches a few pages of each
/// B-tree (SQLite's default is 2 MiB a connection).
const CACHE_KIB: u32 = 1024;

/// How long a read waits on a lock before it gives way to the pool.
const BUSY_TIMEOUT: Duration = Duration::from_millis(20);

pub(crate) struct InlineReads {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    closed: AtomicBool,
    /// Reads answered inline (for the tests; no shared counter on the hot path).
    #[cfg(test)]
    served: AtomicU64,
}

/// The outcome of an inline read.
pub(crate) enum Inline<T> {
    Done(Result<T, CoreError>),
    /// The database was busy: read through the pool instead.
    Busy,
}

/// What an inline read can fail with: SQLite itself, or decoding what it returned.
pub(crate) enum ReadError {
    Sqlite(rusqlite::Error),
    Decode(CoreError),
}

impl From<rusqlite::Error> for ReadError {
    fn from(error: rusqlite::Error) -> Self {
        Self::Sqlite(error)
    }
}

impl From<CoreError> for ReadError {
    fn from(error: CoreError) -> Self {
        Self::Decode(error)
    }
}

impl InlineReads {
    /// Inline reads of the SQLite file at `path`.
    pub(crate) fn new(path: PathBuf) -> Self {
        Self {
            path,
            idle: Mutex::new(Vec::new()),
            closed: AtomicBool::new(false),
            #[cfg(test)]
            served: AtomicU64::new(0),
        }
    }

    /// Runs `read` on an idle connection (or a new one).
    pub(crate) fn read<T>(
        &self,
        what: &'static str,
        read: impl FnOnce(&Connection) -> Result<T, ReadError>,
    ) -> Inline<T> {
        if self.closed.load(Ordering::Acquire) {
            return Inline::Busy;
        }
        let connection = match self.take() {
            Ok(connection) => connection,
            Err(error) => return failed(what, ReadError::Sqlite(error)),
        };
        let outcome = read(&connection);
        self.give_back(connection);
        #[cfg(test)]
        self.served.fetch_add(1, Ordering::Relaxed);
        match outcome {
            Ok(value) => Inline::Done(Ok(value)),
            Err(error) => failed(what, error),
        }
    }

    /// Closes the idle connections; later reads go through the pool (which is
    /// closed too, and says so).
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.idle.lock().unwrap_or_else(PoisonError::into_inner).clear();
    }

    /// Reads answered inline so far.
    #[cfg(test)]
    pub(crate) fn served(&self) -> u64 {
        self.served.load(Ordering::Relaxed)
    }

    fn take(&self) -> rusqlite::Result<Connection> {
        let idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner).pop();
        match idle {
            Some(connection) => Ok(connection),
            None => self.open(),
        }
    }

    fn give_back(&self, connection: Connection) {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < MAX_IDLE && !self.closed.load(Ordering::Acquire) {
            idle.push(connection);
        }
    }

    fn open(&self) -> rusqlite::Result<Connection> {
        // No mutex inside SQLite: a connection is used by one thread at a time here.
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
        let connection = Connection::open_with_flags(&self.path, flags)?;
        connection.busy_timeout(BUSY_TIMEOUT)?;
        connection.execute_batch(&format!("PRAGMA query_only = ON; PRAGMA cache_size = -{CACHE_KIB};"))?;
        connection.set_prepared_statement_cache_capacity(8);
        Ok(connection)
    }
}

fn failed<T>(what: &'static str, error: ReadError) -> Inline<T> {
    match error {
        ReadError::Decode(error) => Inline::Done(Err(error)),
        ReadError::Sqlite(error) => match error.sqlite_error_code() {
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => Inline::Busy,
            Some(ErrorCode::DiskFull) => Inline::Done(Err(CoreError::StorageFull {
                part: StoragePart::Database,
                detail: format!("{what}: {error}"),
            })),
            _ => Inline::Done(Err(CoreError::Storage(format!("{what}: {error}")))),
        },
    }
}

/// A row read inline, its columns found by name as sqlx's rows are.
pub(crate) struct InlineRow<'a, 'stmt> {
    pub(crate) row: &'a rusqlite::Row<'stmt>,
    pub(crate) names: &'a [String],
}

impl Columns for InlineRow<'_, '_> {
    fn cell<T: Cell>(&self, column: &str) -> Result<T, CoreError> {
        let index = self
            .names
            .iter()
            .position(|name| name == column)
            .ok_or_else(|| CoreError::Storage(format!("no column {column:?} in the row")))?;
        self.row.get(index).map_err(|error| corrupt(column, error))
    }
}

/// The column names of a prepared statement, for [`InlineRow`]: read from the first
/// statement prepared and kept in `names` (a static per statement) after that, since
/// the same SQL on the same schema has the same columns (the migrations run before
/// the first read). Reading them on each read cost 48 allocations. A statement whose
/// column count differs (a database of another schema version in the same process)
/// has its names read afresh.
pub(crate) fn column_names<'n>(
    names: &'n OnceLock<Vec<String>>,
    statement: &rusqlite::Statement<'_>,
) -> Cow<'n, [String]> {
    let read = || statement.column_names().into_iter().map(str::to_owned).collect::<Vec<_>>();
    let kept = names.get_or_init(read);
    if kept.len() == statement.column_count() { Cow::Borrowed(kept) } else { Cow::Owned(read()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_names_are_kept_and_read_afresh_when_the_columns_differ() {
        let connection = Connection::open_in_memory().expect("open");
        connection.execute_batch("CREATE TABLE t (a INTEGER, b TEXT)").expect("create");
        let statement = connection.prepare("SELECT * FROM t").expect("prepare");
        let kept = OnceLock::new();
        assert!(matches!(column_names(&kept, &statement), Cow::Borrowed(names) if names == ["a", "b"]));
        // Another schema's statement of the same text has other columns.
        let older = OnceLock::from(vec!["a".to_owned()]);
        assert!(matches!(column_names(&older, &statement), Cow::Owned(names) if names == ["a", "b"]));
    }

    #[test]
    fn a_busy_database_gives_way_and_other_errors_are_storage_errors() {
        let busy = rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(5), None);
        assert!(matches!(failed::<()>("reading", ReadError::Sqlite(busy)), Inline::Busy));
        let full = rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(13), None);
        assert!(matches!(
            failed::<()>("reading", ReadError::Sqlite(full)),
            Inline::Done(Err(CoreError::StorageFull { .. }))
        ));
        let other = rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(11), None);
        match failed::<()>("reading a task", ReadError::Sqlite(other)) {
            Inline::Done(Err(CoreError::Storage(message))) => assert!(message.starts_with("reading a task: ")),
            _ => panic!("a corrupt database is a storage error"),
        }
    }
}
