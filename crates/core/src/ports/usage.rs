//! Usage counts: how many tasks wait, run or were created, for backpressure,
//! quotas, per-user limits and concurrency limits per service. Every process reads
//! the same counts from the store, so limits hold across processes.

use std::collections::BTreeMap;

use async_trait::async_trait;

use crate::error::Result;
use crate::ids::UserId;
use crate::time::Millis;

/// Which of a user's tasks [`UsageCounts::count_owner_tasks`] counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnerCount {
    /// Waiting to run (pending or retrying).
    Queued,
    /// Waiting or running.
    Active,
    /// Created since this time.
    CreatedSince(Millis),
}

#[async_trait]
pub trait UsageCounts: Send + Sync + 'static {
    /// Tasks waiting to run (pending or retrying), for backpressure.
    async fn count_queued(&self) -> Result<u64>;
    /// Tasks of a service (or one of its models) created since `since`: daily quotas.
    async fn count_created_since(&self, service: &str, model: Option<&str>, since: Millis) -> Result<u64>;
    /// A user's tasks of one kind (per-user limits and room in the queue).
    async fn count_owner_tasks(&self, owner: &UserId, which: OwnerCount) -> Result<u64>;
    /// How many tasks have left the queue to run, ever: the drain rate is its change
    /// over time, read the same by every process.
    async fn count_started(&self) -> Result<u64>;
    /// Tasks of a service open at the provider (submitted, not ended): the service's
    /// concurrency limit.
    async fn count_in_flight(&self, service: &str) -> Result<u64>;
    /// [`Self::count_in_flight`] for every service at once, in one grouped count
    /// (services with none are absent).
    async fn in_flight_by_service(&self) -> Result<BTreeMap<String, u64>>;
}
