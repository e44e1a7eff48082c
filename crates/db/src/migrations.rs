//! The schema migrations, compiled into the binary.
//!
//! Listed here by hand rather than through `sqlx::migrate!`: the macro brings in
//! sqlx's proc-macro crates, which build a second copy of both database drivers
//! (and of SQLite's C sources) for the compiler's own use, some minutes of every
//! cold build. The list is checked against the folders by a test below, and each
//! migration's checksum is sqlx's own (`Migration::new`), so databases migrated
//! by the macro before stay valid.

use std::borrow::Cow;

use sqlx::SqlStr;
use sqlx::migrate::{Migration, MigrationType, Migrator};

use crate::connect::Backend;

/// `(version, description, SQLite's text, PostgreSQL's text)`: a migration's
/// description is its file name after the version, `_` read as a space.
macro_rules! migrations {
    ($(($version:literal, $file:literal)),* $(,)?) => {
        &[$((
            $version,
            $file,
            include_str!(concat!("../migrations/sqlite/", $file, ".sql")),
            include_str!(concat!("../migrations/postgres/", $file, ".sql")),
        )),*]
    };
}

const MIGRATIONS: &[(i64, &str, &str, &str)] = migrations![
    (1, "0001_init"),
    (2, "0002_uploads"),
    (3, "0003_accounts"),
    (4, "0004_prompts"),
    (5, "0005_output_roles"),
    (6, "0006_fair_queue"),
    (7, "0007_health_probe"),
    (8, "0008_tag_tasks"),
    (9, "0009_task_route"),
    (10, "0010_pipelines"),
    (11, "0011_scene_cache"),
];

/// The migrator for one backend.
pub(crate) fn migrator(backend: Backend) -> Migrator {
    let migrations = MIGRATIONS
        .iter()
        .map(|&(version, file, sqlite, postgres)| {
            let sql = match backend {
                Backend::Sqlite => sqlite,
                Backend::Postgres => postgres,
            };
            let description = file.split_once('_').map_or(file, |(_, rest)| rest).replace('_', " ");
            Migration::new(
                version,
                Cow::Owned(description),
                MigrationType::Simple,
                SqlStr::from_static(sql),
                sql.starts_with("-- no-transaction"),
            )
        })
        .collect();
    Migrator::with_migrations(migrations)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    /// Every file in both folders is listed, under its own version, and no more.
    #[test]
    fn the_list_is_the_migration_folders() {
        let listed: Vec<String> = MIGRATIONS.iter().map(|(_, file, _, _)| format!("{file}.sql")).collect();
        for backend in ["sqlite", "postgres"] {
            let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations").join(backend);
            let mut files: Vec<String> = std::fs::read_dir(&dir)
                .expect("the migrations folder")
                .map(|entry| entry.expect("a folder entry").file_name().to_string_lossy().into_owned())
                .collect();
            files.sort();
            assert_eq!(files, listed, "{backend}: the migrations listed in migrations.rs");
        }
        for &(version, file, _, _) in MIGRATIONS {
            let prefix: i64 = file.split('_').next().and_then(|v| v.parse().ok()).expect("a version prefix");
            assert_eq!(prefix, version, "{file}");
        }
    }

    /// The checksums are those `sqlx::migrate!` gave (a SHA-384 of the text), so a
    /// database it migrated is not refused.
    #[test]
    fn checksums_are_sqlx_own() {
        let migrator = migrator(Backend::Sqlite);
        let first = &migrator.migrations[0];
        assert_eq!(first.version, 1);
        assert_eq!(first.description, "init");
        assert_eq!(first.checksum.len(), 48);
        let digest = <sha2::Sha384 as sha2::Digest>::digest(MIGRATIONS[0].2.as_bytes());
        assert_eq!(first.checksum.as_ref(), &digest[..]);
    }
}
