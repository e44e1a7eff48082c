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

use atelier_core::CoreError;

use crate::connect::Backend;

/// `(file name, SQLite's text, PostgreSQL's text)`: a file is named
/// `<version>_<description>.sql`, `_` in the description read as a space.
macro_rules! migrations {
    ($($file:literal),* $(,)?) => {
        &[$((
            $file,
            include_str!(concat!("../migrations/sqlite/", $file, ".sql")),
            include_str!(concat!("../migrations/postgres/", $file, ".sql")),
        )),*]
    };
}

const MIGRATIONS: &[(&str, &str, &str)] = migrations![
    "0001_init",
    "0002_uploads",
    "0003_accounts",
    "0004_prompts",
    "0005_output_roles",
    "0006_fair_queue",
    "0007_health_probe",
    "0008_tag_tasks",
    "0009_task_route",
    "0010_pipelines",
    "0011_scene_cache",
    "0012_model_names",
    "0013_pull_workers",
    "0014_media",
    "0015_places",
    "0016_webhooks",
    "0017_retention",
    "0018_rate_limits",
    "0019_trace_context",
];

/// The last migration's version: the schema this build makes.
pub(crate) fn latest_version() -> i64 {
    MIGRATIONS.last().and_then(|(file, _, _)| parse_name(file)).map_or(0, |(version, _)| version)
}

/// A file name's version and description.
fn parse_name(file: &str) -> Option<(i64, String)> {
    let (version, description) = file.split_once('_')?;
    Some((version.parse().ok()?, description.replace('_', " ")))
}

/// The migrator for one backend.
pub(crate) fn migrator(backend: Backend) -> Result<Migrator, CoreError> {
    let mut migrations = Vec::with_capacity(MIGRATIONS.len());
    for &(file, sqlite, postgres) in MIGRATIONS {
        let (version, description) =
            parse_name(file).ok_or_else(|| CoreError::Storage(format!("the migration name {file:?}")))?;
        let sql = match backend {
            Backend::Sqlite => sqlite,
            Backend::Postgres => postgres,
        };
        migrations.push(Migration::new(
            version,
            Cow::Owned(description),
            MigrationType::Simple,
            SqlStr::from_static(sql),
            sql.starts_with("-- no-transaction"),
        ));
    }
    Ok(Migrator::with_migrations(migrations))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    /// Every file in both folders is listed, each under a version and description
    /// its name gives, and no more.
    #[test]
    fn the_list_is_the_migration_folders() {
        let listed: Vec<String> = MIGRATIONS.iter().map(|(file, _, _)| format!("{file}.sql")).collect();
        for backend in ["sqlite", "postgres"] {
            let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations").join(backend);
            let mut files: Vec<String> = std::fs::read_dir(&dir)
                .expect("the migrations folder")
                .map(|entry| entry.expect("a folder entry").file_name().to_string_lossy().into_owned())
                .collect();
            files.sort();
            assert_eq!(files, listed, "{backend}: the migrations listed in migrations.rs");
        }
        let versions: Vec<i64> = MIGRATIONS.iter().map(|(file, _, _)| parse_name(file).expect(file).0).collect();
        assert_eq!(versions, (1..=MIGRATIONS.len() as i64).collect::<Vec<_>>());
    }

    /// The checksums are those `sqlx::migrate!` gave (a SHA-384 of the text), so a
    /// database it migrated is not refused.
    #[test]
    fn checksums_are_sqlx_own() {
        let migrator = migrator(Backend::Sqlite).expect("the migrations");
        let first = &migrator.migrations[0];
        assert_eq!(first.version, 1);
        assert_eq!(first.description, "init");
        assert_eq!(first.checksum.len(), 48);
        let digest = <sha2::Sha384 as sha2::Digest>::digest(MIGRATIONS[0].1.as_bytes());
        assert_eq!(first.checksum.as_ref(), &digest[..]);
    }
}
