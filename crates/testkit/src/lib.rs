//! Test support shared by the crates' test suites: a fresh database per test on
//! SQLite (a temp file) and on PostgreSQL (a new database in the throwaway
//! cluster `scripts/test` starts and names in `ATELIER_TEST_POSTGRES_URL`).
//!
//! When that variable is unset the PostgreSQL variants are skipped with a note,
//! unless `ATELIER_TEST_REQUIRE_POSTGRES` is set (as `scripts/test` does), in
//! which case they fail: CI never passes by skipping.
//!
//! The benchmarks make their databases with [`create_postgres_database`] too.
//!
//! With the `app` feature: [`app::TestApp`], the real application on a loopback port,
//! and [`emulators::Emulator`], the providers' protocols to put behind it.
//!
//! With the `s3` feature: [`s3::TestBucket`], a fresh bucket on the throwaway S3
//! server (moto) `scripts/test` starts and names in `ATELIER_TEST_S3_ENDPOINT`,
//! skipped or failed as the PostgreSQL variants are (`ATELIER_TEST_REQUIRE_S3`).

#![allow(clippy::unwrap_used)]

#[cfg(feature = "app")]
pub mod app;
#[cfg(feature = "app")]
pub mod emulators;
#[cfg(feature = "s3")]
pub mod s3;

use sqlx::Connection;

/// A database for one test. Keeps its temp dir alive.
pub struct TestDatabase {
    pub url: String,
    pub backend: &'static str,
    _dir: Option<tempfile::TempDir>,
}

impl TestDatabase {
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("test.db").display());
        Self { url, backend: "sqlite", _dir: Some(dir) }
    }

    /// A new, empty PostgreSQL database; `None` when no cluster is configured.
    pub async fn postgres() -> Option<Self> {
        let admin_url = match std::env::var("ATELIER_TEST_POSTGRES_URL") {
            Ok(url) if !url.is_empty() => url,
            _ => {
                assert!(
                    std::env::var_os("ATELIER_TEST_REQUIRE_POSTGRES").is_none(),
                    "ATELIER_TEST_REQUIRE_POSTGRES is set but ATELIER_TEST_POSTGRES_URL is not"
                );
                eprintln!(
                    "note: ATELIER_TEST_POSTGRES_URL is unset; skipping the PostgreSQL variant (scripts/test sets it)"
                );
                return None;
            }
        };
        let url = create_postgres_database(&admin_url).await.expect("create a test database in the test cluster");
        Some(Self { url, backend: "postgres", _dir: None })
    }

    /// The one number a query such as `SELECT count(*) ...` answers, read on a
    /// connection of its own: for a test that must see a state the API does not show
    /// (which worker holds a lease).
    pub async fn count(&self, sql: &str) -> i64 {
        let query = sqlx::AssertSqlSafe(sql.to_owned());
        if self.backend == "postgres" {
            let mut connection = sqlx::PgConnection::connect(&self.url).await.expect("connect to the test database");
            let count = sqlx::query_scalar(query).fetch_one(&mut connection).await.expect(sql);
            let _ = connection.close().await;
            count
        } else {
            let mut connection = sqlx::SqliteConnection::connect(&self.url).await.expect("open the test database");
            let count = sqlx::query_scalar(query).fetch_one(&mut connection).await.expect(sql);
            let _ = connection.close().await;
            count
        }
    }

    /// SQLite always, PostgreSQL when a cluster is configured.
    pub async fn all() -> Vec<Self> {
        let mut databases = vec![Self::sqlite()];
        databases.extend(Self::postgres().await);
        databases
    }
}

/// Creates a new, empty database in the PostgreSQL cluster behind `admin_url` (an
/// admin's URL of any database there) and returns its URL: `admin_url` with the new
/// database's name in place of the one it names, its query kept.
pub async fn create_postgres_database(admin_url: &str) -> Result<String, sqlx::Error> {
    let (base, query) = match admin_url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (admin_url, None),
    };
    let authority = base
        .rsplit_once('/')
        .map(|(authority, _)| authority)
        .filter(|authority| authority.contains("://") && !authority.ends_with('/'))
        .ok_or_else(|| sqlx::Error::Configuration(format!("no database name to replace in {admin_url:?}").into()))?;
    let name = format!("t_{}", uuid::Uuid::new_v4().simple());
    let mut admin = sqlx::PgConnection::connect(admin_url).await?;
    let created = sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut admin).await;
    let _ = admin.close().await;
    created?;
    Ok(match query {
        Some(query) => format!("{authority}/{name}?{query}"),
        None => format!("{authority}/{name}"),
    })
}
