//! Usage counts: queued tasks, tasks created per service or model (daily quotas),
//! a user's tasks (per-user limits) and tasks open at each provider (concurrency
//! limits, the providers report).

use std::collections::BTreeMap;

use async_trait::async_trait;
use atelier_core::CoreError;
use atelier_core::ports::UsageCounts;

use crate::connect::Database;
use crate::error::storage;

/// Tasks open at their provider: submitted (an external id, or a submit under way)
/// and not ended.
macro_rules! in_flight {
    () => {
        "status = 'processing' AND (external_id IS NOT NULL OR submitting = 1)"
    };
}

#[async_trait]
impl UsageCounts for Database {
    async fn count_created_since(&self, service: &str, model: Option<&str>, since: i64) -> Result<u64, CoreError> {
        let db = self;
        let count: i64 = match model {
            Some(model) => {
                sqlx::query_scalar("SELECT COUNT(*) FROM tasks WHERE service = $1 AND model = $2 AND created_at >= $3")
                    .bind(service.to_owned())
                    .bind(model.to_owned())
                    .bind(since)
                    .fetch_one(&db.reader)
                    .await
            }
            None => {
                sqlx::query_scalar("SELECT COUNT(*) FROM tasks WHERE service = $1 AND created_at >= $2")
                    .bind(service.to_owned())
                    .bind(since)
                    .fetch_one(&db.reader)
                    .await
            }
        }
        .map_err(storage("counting today's tasks"))?;
        Ok(count.max(0) as u64)
    }

    async fn count_owner_tasks(
        &self,
        owner: &atelier_core::UserId,
        since: Option<i64>,
        active_only: bool,
    ) -> Result<u64, CoreError> {
        let db = self;
        let count: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM tasks WHERE owner_id = $1 AND created_at >= $2 \
         AND ($3 = 0 OR status IN ('pending', 'retrying', 'processing'))",
        )
        .bind(owner.to_string())
        .bind(since.unwrap_or(i64::MIN))
        .bind(i64::from(active_only))
        .fetch_one(&db.reader)
        .await
        .map_err(storage("counting a user's tasks"))?;
        Ok(count.max(0) as u64)
    }

    async fn count_in_flight(&self, service: &str) -> Result<u64, CoreError> {
        let db = self;
        let count: i64 =
            sqlx::query_scalar(concat!("SELECT COUNT(*) FROM tasks WHERE service = $1 AND ", in_flight!()))
                .bind(service.to_owned())
                .fetch_one(&db.reader)
                .await
                .map_err(storage("counting tasks at the provider"))?;
        Ok(count.max(0) as u64)
    }

    async fn count_queued(&self) -> Result<u64, CoreError> {
        let db = self;
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM tasks WHERE status IN ('pending', 'retrying')")
            .fetch_one(&db.reader)
            .await
            .map_err(storage("counting queued tasks"))?;
        Ok(count.max(0) as u64)
    }

    async fn in_flight_by_service(&self) -> Result<BTreeMap<String, u64>, CoreError> {
        let rows: Vec<(String, i64)> =
            sqlx::query_as(concat!("SELECT service, COUNT(*) FROM tasks WHERE ", in_flight!(), " GROUP BY service"))
                .fetch_all(&self.reader)
                .await
                .map_err(storage("counting tasks at the providers"))?;
        Ok(rows.into_iter().map(|(service, count)| (service, count.max(0) as u64)).collect())
    }
}
