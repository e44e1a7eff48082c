//! Backups of the SQLite database while the server runs, and what a backup's
//! database holds.
//!
//! [`Database::snapshot_to`] writes a consistent copy with `VACUUM INTO`: one read
//! transaction, so the copy is the database as committed at one instant, while
//! writers go on (WAL mode: readers do not block the writer). [`Snapshot`] opens
//! such a copy read-only and says what it holds: its schema version, its counts,
//! and every file key its rows name (what a backup must carry beside it).
//!
//! PostgreSQL is backed up with its own tools (`pg_dump`), not here.

use std::path::Path;

use atelier_core::CoreError;
use futures::TryStreamExt as _;
use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Row};

use crate::connect::{Backend, Database};
use crate::error::storage;

/// Every file key a database names: outputs and uploads, their thumbnails.
const FILE_KEYS: &str = "SELECT blob_key AS file_key FROM assets \
     UNION SELECT thumbnail_key FROM assets WHERE thumbnail_key IS NOT NULL \
     UNION SELECT blob_key FROM uploads \
     UNION SELECT thumbnail_key FROM uploads WHERE thumbnail_key IS NOT NULL";

/// What a database holds, as a backup's manifest records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotFacts {
    /// The last migration applied.
    pub schema_version: i64,
    pub tasks: u64,
    pub assets: u64,
    pub uploads: u64,
}

/// The newest schema version this build knows (its last migration).
pub fn latest_schema_version() -> i64 {
    crate::migrations::latest_version()
}

impl Database {
    /// Writes a consistent snapshot of this SQLite database to `path`, a file that
    /// must not exist yet (`VACUUM INTO` refuses to overwrite). The snapshot is one
    /// read transaction: what was committed when it began, whatever is written
    /// meanwhile. PostgreSQL refuses: use `pg_dump`.
    pub async fn snapshot_to(&self, path: &Path) -> Result<(), CoreError> {
        if self.backend != Backend::Sqlite {
            return Err(CoreError::Storage(
                "a PostgreSQL database is backed up with pg_dump (see the README's Backups section)".into(),
            ));
        }
        let target = path
            .to_str()
            .ok_or_else(|| CoreError::Storage(format!("the snapshot path {} is not UTF-8", path.display())))?;
        // On a reader connection: it only reads the source, and never waits for the
        // group commit's writer.
        sqlx::query("VACUUM INTO $1")
            .bind(target.to_owned())
            .execute(&self.reader)
            .await
            .map_err(storage("writing the database snapshot"))?;
        Ok(())
    }
}

/// A SQLite database file opened read-only (a backup's snapshot, or a restored copy).
pub struct Snapshot {
    pool: AnyPool,
}

impl Snapshot {
    /// Opens `path` read-only; a missing file is an error, never a new database.
    pub async fn open(path: &Path) -> Result<Self, CoreError> {
        sqlx::any::install_default_drivers();
        if !path.is_file() {
            return Err(CoreError::Storage(format!("no database file at {}", path.display())));
        }
        let url = format!("sqlite://{}?mode=ro", path.display());
        let pool = AnyPoolOptions::new()
            .max_connections(1)
            .connect(&url)
            .await
            .map_err(storage("opening a database snapshot"))?;
        Ok(Self { pool })
    }

    /// Its schema version and counts.
    pub async fn facts(&self) -> Result<SnapshotFacts, CoreError> {
        let row = sqlx::query(
            "SELECT (SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations WHERE success) AS schema_version, \
             (SELECT COUNT(*) FROM tasks) AS tasks, (SELECT COUNT(*) FROM assets) AS assets, \
             (SELECT COUNT(*) FROM uploads) AS uploads",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(storage("reading a database snapshot"))?;
        let count = |name: &str| -> Result<u64, CoreError> {
            let value: i64 = row.try_get(name).map_err(storage("reading a database snapshot"))?;
            Ok(u64::try_from(value).unwrap_or_default())
        };
        Ok(SnapshotFacts {
            schema_version: row.try_get("schema_version").map_err(storage("reading a database snapshot"))?,
            tasks: count("tasks")?,
            assets: count("assets")?,
            uploads: count("uploads")?,
        })
    }

    /// Calls `each` with every file key the database names (each once); returns
    /// how many there were. Streamed: a million keys are never held at once.
    pub async fn each_file_key(&self, mut each: impl FnMut(&str)) -> Result<u64, CoreError> {
        let mut rows = sqlx::query(FILE_KEYS).fetch(&self.pool);
        let mut count = 0;
        while let Some(row) = rows.try_next().await.map_err(storage("reading a snapshot's file keys"))? {
            let key: String = row.try_get("file_key").map_err(storage("reading a snapshot's file keys"))?;
            each(&key);
            count += 1;
        }
        Ok(count)
    }

    pub async fn close(self) {
        self.pool.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DatabaseOptions;

    #[tokio::test]
    async fn a_snapshot_is_a_database_of_its_own_with_the_same_rows() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("live.db").display());
        let database = Database::connect(&url, &DatabaseOptions::default()).await.expect("open");
        database.migrate().await.expect("migrate");
        let copy = dir.path().join("copy.db");
        database.snapshot_to(&copy).await.expect("the snapshot");
        // VACUUM INTO never overwrites: a second snapshot to the same file fails.
        assert!(database.snapshot_to(&copy).await.is_err(), "the snapshot overwrote a file");
        database.close().await;

        let snapshot = Snapshot::open(&copy).await.expect("open the snapshot");
        let facts = snapshot.facts().await.expect("facts");
        assert_eq!(facts, SnapshotFacts { schema_version: latest_schema_version(), tasks: 0, assets: 0, uploads: 0 });
        let mut keys = Vec::new();
        assert_eq!(snapshot.each_file_key(|key| keys.push(key.to_owned())).await.expect("keys"), 0);
        snapshot.close().await;
        assert!(Snapshot::open(&dir.path().join("none.db")).await.is_err(), "a missing file is no database");
    }

    /// A backup made by an older Atelier: its snapshot opens, says its schema, and
    /// migrates on to this build's (what `atelier restore` does).
    #[tokio::test]
    async fn a_snapshot_of_an_older_schema_migrates_on() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("old.db").display());
        let database = Database::connect(&url, &DatabaseOptions::default()).await.expect("open");
        let mut older = crate::migrations::migrator(Backend::Sqlite).expect("the migrations");
        let kept = older.migrations[..10].to_vec();
        older.migrations = std::borrow::Cow::Owned(kept);
        older.run(&database.writer).await.expect("the first ten migrations");
        sqlx::query(
            "INSERT INTO tasks (id, service, model, input, status, max_attempts, created_at, updated_at, run_after) \
             VALUES ('t1', 'local', 'placeholder', '{}', 'completed', 3, 1, 1, 1)",
        )
        .execute(&database.writer)
        .await
        .expect("a task");
        let copy = dir.path().join("copy.db");
        database.snapshot_to(&copy).await.expect("the snapshot");
        database.close().await;

        let snapshot = Snapshot::open(&copy).await.expect("open");
        assert_eq!(snapshot.facts().await.expect("facts").schema_version, 10);
        snapshot.close().await;
        let restored = format!("sqlite://{}?mode=rw", copy.display());
        let restored = Database::connect(&restored, &DatabaseOptions::default()).await.expect("open the copy");
        restored.migrate().await.expect("migrated on");
        restored.close().await;
        let snapshot = Snapshot::open(&copy).await.expect("open");
        let facts = snapshot.facts().await.expect("facts");
        assert_eq!((facts.schema_version, facts.tasks), (latest_schema_version(), 1));
        snapshot.close().await;
    }
}
