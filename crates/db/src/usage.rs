//! Usage counts: queued tasks, tasks created per service or model (daily quotas),
//! a user's tasks (per-user limits) and tasks open at each provider (concurrency
//! limits, the providers report).

use std::collections::BTreeMap;

use async_trait::async_trait;
use atelier_core::CoreError;
use atelier_core::ports::{OwnerCount, UsageCounts};

use crate::connect::{Backend, Database};
use crate::error::storage;

/// Tasks open at their provider: submitted (an external id, or a submit under way)
/// and not ended.
macro_rules! in_flight {
    () => {
        "status = 'processing' AND (external_id IS NOT NULL OR submitting = 1)"
    };
}

/// Tasks of a model created since a time (daily quotas).
pub(crate) const COUNT_CREATED_MODEL: &str =
    "SELECT COUNT(*) FROM tasks WHERE service = $1 AND model = $2 AND created_at >= $3";

/// Tasks of a service created since a time (daily quotas).
pub(crate) const COUNT_CREATED_SERVICE: &str = "SELECT COUNT(*) FROM tasks WHERE service = $1 AND created_at >= $2";

/// A user's waiting tasks, and waiting or running tasks, each through its partial
/// index (which SQLite is told: it prefers the user's index of every task).
macro_rules! owner_count {
    ($index:literal, $statuses:literal) => {
        concat!("SELECT COUNT(*) FROM tasks", $index, " WHERE owner_id = $1 AND status IN ", $statuses)
    };
}
const OWNER_QUEUED_SQLITE: &str = owner_count!(" INDEXED BY tasks_owner_queued", "('pending', 'retrying')");
const OWNER_QUEUED_POSTGRES: &str = owner_count!("", "('pending', 'retrying')");
const OWNER_ACTIVE_SQLITE: &str =
    owner_count!(" INDEXED BY tasks_owner_active", "('pending', 'retrying', 'processing')");
const OWNER_ACTIVE_POSTGRES: &str = owner_count!("", "('pending', 'retrying', 'processing')");

/// A user's tasks created since a time.
pub(crate) const OWNER_CREATED: &str = "SELECT COUNT(*) FROM tasks WHERE owner_id = $1 AND created_at >= $2";

/// A service's tasks open at its provider.
pub(crate) const COUNT_IN_FLIGHT: &str = concat!("SELECT COUNT(*) FROM tasks WHERE service = $1 AND ", in_flight!());

/// Tasks waiting to run.
pub(crate) const COUNT_QUEUED: &str = "SELECT COUNT(*) FROM tasks WHERE status IN ('pending', 'retrying')";

/// Tasks open at each provider, in one grouped count over the partial index of
/// them (in service order, so nothing is sorted). SQLite is told the index: it
/// prefers the status index and sorts what it finds.
const IN_FLIGHT_BY_SERVICE_SQLITE: &str =
    concat!("SELECT service, COUNT(*) FROM tasks INDEXED BY tasks_in_flight WHERE ", in_flight!(), " GROUP BY service");
const IN_FLIGHT_BY_SERVICE_POSTGRES: &str =
    concat!("SELECT service, COUNT(*) FROM tasks WHERE ", in_flight!(), " GROUP BY service");

/// Tasks that left the queue to run, ever.
pub(crate) const COUNT_STARTED: &str = "SELECT started FROM queue_clock WHERE id = 1";

#[async_trait]
impl UsageCounts for Database {
    async fn count_created_since(&self, service: &str, model: Option<&str>, since: i64) -> Result<u64, CoreError> {
        let db = self;
        let count: i64 = match model {
            Some(model) => {
                sqlx::query_scalar(COUNT_CREATED_MODEL)
                    .bind(service.to_owned())
                    .bind(model.to_owned())
                    .bind(since)
                    .fetch_one(&db.reader)
                    .await
            }
            None => {
                sqlx::query_scalar(COUNT_CREATED_SERVICE)
                    .bind(service.to_owned())
                    .bind(since)
                    .fetch_one(&db.reader)
                    .await
            }
        }
        .map_err(storage("counting today's tasks"))?;
        Ok(count.max(0) as u64)
    }

    async fn count_owner_tasks(&self, owner: &atelier_core::UserId, which: OwnerCount) -> Result<u64, CoreError> {
        // Each count walks its own index: a user's waiting or running tasks
        // (`tasks_owner_active`, partial), or a user's tasks of a day
        // (`tasks_owner_created`); never the user's whole history.
        let (sql, since) = owner_count(self.backend, which);
        let mut query = sqlx::query_scalar(sql).bind(owner.to_string());
        if let Some(since) = since {
            query = query.bind(since);
        }
        let count: i64 = query.fetch_one(&self.reader).await.map_err(storage("counting a user's tasks"))?;
        Ok(count.max(0) as u64)
    }

    async fn count_started(&self) -> Result<u64, CoreError> {
        let started: i64 = sqlx::query_scalar(COUNT_STARTED)
            .fetch_one(&self.reader)
            .await
            .map_err(storage("reading the queue's clock"))?;
        Ok(started.max(0) as u64)
    }

    async fn count_in_flight(&self, service: &str) -> Result<u64, CoreError> {
        let db = self;
        let count: i64 = sqlx::query_scalar(COUNT_IN_FLIGHT)
            .bind(service.to_owned())
            .fetch_one(&db.reader)
            .await
            .map_err(storage("counting tasks at the provider"))?;
        Ok(count.max(0) as u64)
    }

    async fn count_queued(&self) -> Result<u64, CoreError> {
        let db = self;
        let count: i64 =
            sqlx::query_scalar(COUNT_QUEUED).fetch_one(&db.reader).await.map_err(storage("counting queued tasks"))?;
        Ok(count.max(0) as u64)
    }

    async fn in_flight_by_service(&self) -> Result<BTreeMap<String, u64>, CoreError> {
        let rows: Vec<(String, i64)> = sqlx::query_as(match self.backend {
            Backend::Sqlite => IN_FLIGHT_BY_SERVICE_SQLITE,
            Backend::Postgres => IN_FLIGHT_BY_SERVICE_POSTGRES,
        })
        .fetch_all(&self.reader)
        .await
        .map_err(storage("counting tasks at the providers"))?;
        Ok(rows.into_iter().map(|(service, count)| (service, count.max(0) as u64)).collect())
    }
}

pub(crate) fn owner_queued(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => OWNER_QUEUED_SQLITE,
        Backend::Postgres => OWNER_QUEUED_POSTGRES,
    }
}

/// The statement that counts `which` of an owner's tasks (bound: the owner, then
/// the time when there is one).
pub(crate) fn owner_count(backend: Backend, which: OwnerCount) -> (&'static str, Option<i64>) {
    match which {
        OwnerCount::Queued => (owner_queued(backend), None),
        OwnerCount::Active => (owner_active(backend), None),
        OwnerCount::CreatedSince(since) => (OWNER_CREATED, Some(since)),
    }
}

pub(crate) fn owner_active(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => OWNER_ACTIVE_SQLITE,
        Backend::Postgres => OWNER_ACTIVE_POSTGRES,
    }
}

pub(crate) fn in_flight_by_service(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => IN_FLIGHT_BY_SERVICE_SQLITE,
        Backend::Postgres => IN_FLIGHT_BY_SERVICE_POSTGRES,
    }
}
