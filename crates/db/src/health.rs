//! Whether the database takes writes, and how much room it has left.

use atelier_core::CoreError;
use sqlx::Row;

use crate::connect::{Backend, Database};
use crate::error::storage;

const PROBE: &str = "INSERT INTO health_probe (id, written_at) VALUES (1, $1) \
     ON CONFLICT (id) DO UPDATE SET written_at = excluded.written_at";

impl Database {
    /// Rewrites the probe row: a full disk refuses it (SQLite appends to its
    /// write-ahead log, PostgreSQL to its WAL, even for an update in place).
    pub(crate) async fn probe_write_row(&self) -> Result<(), CoreError> {
        let now = atelier_core::time::now_millis();
        sqlx::query(PROBE).bind(now).execute(&self.writer).await.map_err(storage("writing the health probe"))?;
        Ok(())
    }

    /// SQLite: the free bytes of the file system holding the database, or less when
    /// `PRAGMA max_page_count` leaves less room. PostgreSQL: not known from here.
    pub(crate) async fn free_bytes(&self) -> Option<u64> {
        if self.backend != Backend::Sqlite {
            return None;
        }
        let on_disk = self.sqlite_path().and_then(|path| {
            let dir = path.parent().map(std::path::Path::to_path_buf).unwrap_or_default();
            let dir = if dir.as_os_str().is_empty() { std::path::PathBuf::from(".") } else { dir };
            let stat = rustix::fs::statvfs(&dir).ok()?;
            Some(stat.f_bavail.saturating_mul(stat.f_frsize))
        });
        let row = sqlx::query(
            "SELECT (SELECT page_size FROM pragma_page_size) AS page_size, \
             (SELECT page_count FROM pragma_page_count) AS pages, \
             (SELECT freelist_count FROM pragma_freelist_count) AS free_pages, \
             (SELECT max_page_count FROM pragma_max_page_count) AS max_pages",
        )
        .fetch_one(&self.writer)
        .await
        .ok()?;
        let get = |name: &str| row.try_get::<i64, _>(name).ok().and_then(|value| u64::try_from(value).ok());
        let in_file = match (get("page_size"), get("pages"), get("free_pages"), get("max_pages")) {
            (Some(size), Some(pages), Some(free), Some(max)) => {
                Some(max.saturating_sub(pages).saturating_add(free).saturating_mul(size))
            }
            _ => None,
        };
        match (on_disk, in_file) {
            (Some(disk), Some(file)) => Some(disk.min(file)),
            (disk, file) => disk.or(file),
        }
    }

    /// The SQLite database file, from the URL (`sqlite://PATH?…`, `sqlite:PATH`).
    fn sqlite_path(&self) -> Option<std::path::PathBuf> {
        let rest = self.url().strip_prefix("sqlite:")?;
        let rest = rest.strip_prefix("//").unwrap_or(rest);
        let path = rest.split('?').next().unwrap_or_default();
        (!path.is_empty() && path != ":memory:").then(|| std::path::PathBuf::from(path))
    }
}
