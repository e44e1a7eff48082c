use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use atelier_core::CoreError;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, ConnectOptions, Executor};

use crate::batch::{NativeFn, WriteFn, WriteQueue};
use crate::error::storage;
use crate::inline::InlineReads;
use crate::native::NativeWriter;

/// A write through sqlx's connection, given its arguments (see [`Database::write_either`]).
pub(crate) type PooledWrite<A, T> =
    for<'c> fn(&'c mut sqlx::AnyConnection, A) -> futures::future::BoxFuture<'c, Result<T, sqlx::Error>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn from_url(url: &str) -> Option<Self> {
        if url.starts_with("sqlite:") {
            Some(Self::Sqlite)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Some(Self::Postgres)
        } else {
            None
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

#[derive(Debug, Clone)]
pub struct DatabaseOptions {
    pub max_connections: u32,
    pub acquire_timeout: Duration,
}

impl Default for DatabaseOptions {
    fn default() -> Self {
        Self { max_connections: 8, acquire_timeout: Duration::from_secs(10) }
    }
}

/// The connection pools. SQLite gets one writer connection (SQLite serialises
/// writes anyway; one writer avoids lock retries) and several readers; PostgreSQL
/// uses one pool for both.
#[derive(Clone)]
pub struct Database {
    pub(crate) reader: AnyPool,
    pub(crate) writer: AnyPool,
    pub(crate) backend: Backend,
    /// SQLite's group-commit queue; `None` on PostgreSQL.
    writes: Option<WriteQueue>,
    /// Point reads on the calling thread (`inline.rs`); embedded SQLite only.
    pub(crate) inline: Option<Arc<InlineReads>>,
    url: String,
}

impl Database {
    pub async fn connect(url: &str, options: &DatabaseOptions) -> Result<Self, CoreError> {
        sqlx::any::install_default_drivers();
        let backend = Backend::from_url(url).ok_or_else(|| {
            CoreError::Storage(format!(
                "unsupported database URL {:?}: use sqlite://PATH or postgres://…",
                redact_url(url)
            ))
        })?;
        let connect_options = AnyConnectOptions::from_str(url)
            .map_err(storage("parsing the database URL"))?
            .log_statements(tracing::log::LevelFilter::Trace)
            .log_slow_statements(tracing::log::LevelFilter::Warn, Duration::from_secs(1));
        let file = match backend {
            // sqlx opens each connection of an in-memory database as a database of
            // its own: the readers would never see what the writer wrote.
            Backend::Sqlite => Some(crate::native::file_path(url).ok_or_else(|| {
                CoreError::Storage(format!(
                    "unsupported database URL {:?}: SQLite must be a file (sqlite://PATH), not in memory",
                    redact_url(url)
                ))
            })?),
            Backend::Postgres => None,
        };
        let (reader, writer) = match backend {
            Backend::Sqlite => {
                let writer = sqlite_pool(1, options).connect_with(connect_options.clone()).await;
                let writer = writer.map_err(storage("opening the SQLite database"))?;
                let reader = sqlite_pool(options.max_connections.max(1), options)
                    .connect_with(connect_options)
                    .await
                    .map_err(storage("opening the SQLite database"))?;
                (reader, writer)
            }
            Backend::Postgres => {
                let pool = AnyPoolOptions::new()
                    .max_connections(options.max_connections.max(2))
                    .acquire_timeout(options.acquire_timeout)
                    .connect_with(connect_options)
                    .await
                    .map_err(storage("connecting to PostgreSQL"))?;
                (pool.clone(), pool)
            }
        };
        let writes = file.clone().map(|path| WriteQueue::start(writer.clone(), NativeWriter::new(path)));
        let inline = file.map(|path| Arc::new(InlineReads::new(path)));
        Ok(Self { reader, writer, backend, writes, inline, url: url.to_owned() })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Runs a write in a transaction: on SQLite, together with the other writes
    /// queued meanwhile (group commit); on PostgreSQL, in its own.
    pub(crate) async fn write<T: Send + 'static>(&self, write: WriteFn<T>) -> Result<T, sqlx::Error> {
        match &self.writes {
            Some(queue) => queue.write(write).await,
            None => {
                let mut transaction = self.writer.begin().await?;
                let result = write(&mut transaction).await?;
                transaction.commit().await?;
                Ok(result)
            }
        }
    }

    /// Runs a write that has a native SQLite form (`native.rs`): `native` on
    /// SQLite, in the group commit; `pooled` on PostgreSQL. Each is given `args`.
    pub(crate) async fn write_either<A, T>(
        &self,
        args: A,
        pooled: PooledWrite<A, T>,
        native: fn(&rusqlite::Connection, A) -> Result<T, sqlx::Error>,
    ) -> Result<T, sqlx::Error>
    where
        A: Send + 'static,
        T: Send + 'static,
    {
        match &self.writes {
            Some(queue) => {
                let write: NativeFn<T> = Box::new(move |connection| native(connection, args));
                queue.write_native(write).await
            }
            None => self.write(Box::new(move |connection| pooled(connection, args))).await,
        }
    }

    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// Applies this backend's migrations.
    pub async fn migrate(&self) -> Result<(), CoreError> {
        crate::migrations::migrator(self.backend)?
            .run(&self.writer)
            .await
            .map_err(|error| CoreError::Storage(format!("migrating: {error}")))?;
        self.optimize(true).await
    }

    /// Keeps the planner's statistics fresh. SQLite keeps none by itself: on open
    /// (after the migrations) every table is checked and analysed where its
    /// statistics are missing or stale, and [`Database::maintain`] repeats the check
    /// on the tables in use. PostgreSQL's autovacuum analyses tables as they change
    /// (after 10 % of a table's rows have changed, by default), which keeps the
    /// statistics fresh as the queue turns over; only a database that was never
    /// analysed is analysed here.
    async fn optimize(&self, all_tables: bool) -> Result<(), CoreError> {
        if self.backend == Backend::Postgres {
            return if all_tables { self.analyze_stale_tables().await } else { Ok(()) };
        }
        let pragma = if all_tables { "PRAGMA optimize = 0x10002" } else { "PRAGMA optimize" };
        self.writer.execute(pragma).await.map_err(storage("refreshing the planner's statistics"))?;
        Ok(())
    }

    /// Brings the planner's statistics up to date now, as after a bulk load: every
    /// table checked on SQLite, `ANALYZE` on PostgreSQL (whose autovacuum would do
    /// the same a little later).
    pub async fn refresh_statistics(&self) -> Result<(), CoreError> {
        match self.backend {
            Backend::Sqlite => self.optimize(true).await,
            Backend::Postgres => {
                self.writer.execute("ANALYZE").await.map_err(storage("analysing the tables"))?;
                Ok(())
            }
        }
    }

    /// A restored or bulk-loaded PostgreSQL database has stale statistics (or none)
    /// until autovacuum comes round (a minute or more), and meanwhile the planner
    /// guesses: so at start the task tables are analysed when they never were, or
    /// when more of their rows changed since than autovacuum's own threshold (50
    /// rows and 10 %).
    async fn analyze_stale_tables(&self) -> Result<(), CoreError> {
        let tables: Vec<String> = sqlx::query_scalar(
            "SELECT relname::text FROM pg_stat_user_tables \
             WHERE relname IN ('tasks', 'assets', 'asset_tags', 'prompts', 'task_input_copies') \
             AND ((last_analyze IS NULL AND last_autoanalyze IS NULL AND n_live_tup > 0) \
                  OR n_mod_since_analyze > 50 + n_live_tup / 10)",
        )
        .fetch_all(&self.writer)
        .await
        .map_err(storage("reading the tables' statistics"))?;
        for table in tables {
            // The names come from the fixed list above.
            let statement = format!("ANALYZE {table}");
            self.writer.execute(sqlx::AssertSqlSafe(statement)).await.map_err(storage("analysing a table"))?;
        }
        Ok(())
    }

    /// Runs SQLite's periodic `PRAGMA optimize` every `every` until the database is
    /// closed. The claim does not depend on it (it names its index); the lists and
    /// counts choose better plans with fresh statistics.
    pub fn maintain(&self, every: Duration) -> Option<tokio::task::JoinHandle<()>> {
        if self.backend != Backend::Sqlite {
            return None;
        }
        let database = self.clone();
        Some(tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.tick().await;
            loop {
                tick.tick().await;
                if database.writer.is_closed() {
                    return;
                }
                if let Err(error) = database.optimize(false).await {
                    tracing::warn!(%error, "PRAGMA optimize failed");
                }
            }
        }))
    }

    pub async fn close(&self) {
        if let Some(inline) = &self.inline {
            inline.close();
        }
        if let Some(queue) = &self.writes {
            queue.close().await;
        }
        self.writer.close().await;
        self.reader.close().await;
    }
}

/// What every SQLite connection that writes sets (the pool's and the native
/// writer's): WAL lets readers run beside the writer; NORMAL sync is durable across
/// process crashes (only an OS crash may lose the last commits).
pub(crate) const WRITE_PRAGMAS: &str =
    "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;";

fn sqlite_pool(max_connections: u32, options: &DatabaseOptions) -> AnyPoolOptions {
    AnyPoolOptions::new()
        .max_connections(max_connections)
        .min_connections(1)
        .acquire_timeout(options.acquire_timeout)
        .after_connect(|connection, _meta| {
            Box::pin(async move {
                connection.execute(WRITE_PRAGMAS).await?;
                connection.execute("PRAGMA busy_timeout = 10000; PRAGMA analysis_limit = 1000;").await?;
                Ok(())
            })
        })
}

/// The URL without its password, for messages and logs.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("REDACTED"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_in_memory_sqlite_database_is_refused_with_a_reason() {
        let refused = Database::connect("sqlite::memory:", &DatabaseOptions::default()).await.err();
        let Some(CoreError::Storage(message)) = refused else { panic!("refused as a storage error") };
        assert!(message.contains("must be a file"), "{message}");
    }
}
