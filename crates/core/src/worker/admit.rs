//! Step 1 of a run: may the task go to its provider now? The service's circuit,
//! the provider's `prepare` (uploads of input files: safe to repeat, so it runs
//! before a costly submit is marked), the concurrency limit per service and the
//! provider's submit rate limit. A task held back goes back to the queue for a while,
//! no attempt counted.

use std::time::Duration;

use tokio::sync::{OwnedMutexGuard, watch};

use super::Worker;
use super::run::{Flow, Interrupt, interrupted};
use crate::ports::{Job, LeaseToken, Provider};
use crate::task::Task;

/// How soon a task held back by its service's concurrency limit looks again.
const IN_FLIGHT_RECHECK: Duration = Duration::from_millis(500);
/// How soon a task held back because its submit rate limit could not be counted
/// looks again.
const RATE_LIMIT_RECHECK: Duration = Duration::from_secs(1);

/// Held while a task of a service with a concurrency limit counts the tasks open at
/// the provider and marks itself submitting, so that this process's runs cannot all
/// see the same free slot.
pub(super) type InFlightGate = Option<OwnedMutexGuard<()>>;

impl Worker {
    pub(super) async fn admit(
        &self,
        task: &Task,
        lease: &LeaseToken,
        provider: &dyn Provider,
        job: &Job<'_>,
        interrupt: &mut watch::Receiver<Interrupt>,
    ) -> Flow<InFlightGate> {
        if self.storage.is_down() {
            // Atelier's own storage is down: a result could not be stored. Not the
            // provider's fault, so neither its circuit nor the task's attempts count.
            self.hold_back(task, lease, self.settings.storage.recheck).await;
            return Flow::Stop;
        }
        if let Err(wait) = self.circuits.allow(&task.service) {
            // The service's circuit is open.
            self.hold_back(task, lease, wait).await;
            return Flow::Stop;
        }
        let submitted = task.external_id.is_some();
        if !submitted {
            let prepared = tokio::select! {
                prepared = provider.prepare(job) => prepared,
                reason = interrupted(interrupt) => {
                    self.abandon(task, lease, reason).await;
                    return Flow::Stop;
                }
            };
            if let Err(error) = prepared {
                self.circuits.record_failure(&task.service, error.class);
                self.handle_error(task, lease, &error).await;
                return Flow::Stop;
            }
        }
        let mut gate = None;
        if !submitted && let Some(limit) = self.settings.max_in_flight.get(&task.service) {
            let held = self.in_flight_gate(&task.service).lock_owned().await;
            // A database error counts as "full": the task waits rather than overshoots.
            let open = self.queue.count_in_flight(&task.service).await.unwrap_or(u64::MAX);
            if open >= u64::from(*limit) {
                drop(held);
                self.hold_back(task, lease, IN_FLIGHT_RECHECK).await;
                return Flow::Stop;
            }
            gate = Some(held);
        }
        if !submitted && let Some(limit) = provider.submit_rate_limit() {
            let wait = match self.submit_limits.acquire(&task.service, limit).await {
                Ok(Ok(())) => None,
                // The provider would refuse this submit: wait for a slot.
                Ok(Err(wait)) => Some(wait),
                // The count could not be read: the task waits rather than overshoots.
                Err(error) => {
                    tracing::warn!(%error, service = %task.service, "could not count the submit rate limit");
                    Some(RATE_LIMIT_RECHECK)
                }
            };
            if let Some(wait) = wait {
                self.hold_back(task, lease, wait).await;
                return Flow::Stop;
            }
        }
        Flow::Next(gate)
    }
}
