//! Test support shared by the crates' test suites: a fresh database per test on
//! SQLite (a temp file) and on PostgreSQL (a new database in the throwaway
//! cluster `scripts/test` starts and names in `ATELIER_TEST_POSTGRES_URL`).
//!
//! When that variable is unset the PostgreSQL variants are skipped with a note,
//! unless `ATELIER_TEST_REQUIRE_POSTGRES` is set (as `scripts/test` does), in
//! which case they fail: CI never passes by skipping.

#![allow(clippy::unwrap_used)]

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
        let name = format!("t_{}", uuid::Uuid::new_v4().simple());
        let mut admin = sqlx::PgConnection::connect(&admin_url).await.expect("connect to the test cluster");
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .expect("create a test database");
        let _ = admin.close().await;
        let base = admin_url.rsplit_once('/').map_or(admin_url.as_str(), |(base, _)| base);
        Some(Self { url: format!("{base}/{name}"), backend: "postgres", _dir: None })
    }

    /// SQLite always, PostgreSQL when a cluster is configured.
    pub async fn all() -> Vec<Self> {
        let mut databases = vec![Self::sqlite()];
        databases.extend(Self::postgres().await);
        databases
    }
}
