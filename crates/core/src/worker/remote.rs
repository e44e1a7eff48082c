//! What a remote worker (the pull protocol, `crate::pull`) reports for a task it
//! holds, settled by the same steps as this server's own runs: outputs stored and
//! the task completed in one transaction, a retry after the error class's backoff,
//! or a failure; the service's circuit breaker hears of each.

use tokio::sync::watch;

use super::call::Step;
use super::run::Interrupt;
use super::{Worker, millis};
use crate::ports::{InputFile, InputRef, LeaseToken, Output, ProviderError};
use crate::task::Task;
use crate::time::now_millis;

/// A remote worker's report.
pub enum RemoteReport {
    Finished(Vec<Output>),
    Failed(ProviderError),
}

impl Worker {
    /// Settles a task a remote worker holds. False when its lease no longer holds
    /// (the task was cancelled, or reclaimed after the worker went quiet): nothing
    /// is written then.
    pub async fn settle_remote(&self, task: &Task, lease: &LeaseToken, report: RemoteReport) -> bool {
        // The lease is renewed first: storing large outputs takes time, and a lease
        // that no longer holds writes nothing.
        let until = now_millis() + millis(self.settings.lease);
        if !matches!(self.queue.heartbeat(task.id, lease, until).await, Ok(true)) {
            return false;
        }
        // Nothing interrupts a remote settle: the sender lives until it is done.
        let (_keep, mut interrupt) = watch::channel(Interrupt::None);
        let step = match report {
            RemoteReport::Finished(outputs) => {
                self.circuits.record_success(&task.service);
                Step::Finished(outputs)
            }
            RemoteReport::Failed(error) => {
                self.circuits.record_failure(&task.service, error.class);
                Step::Failed(error)
            }
        };
        self.settle(task, lease, step, &mut interrupt).await;
        true
    }

    /// Opens one of a task's input files for a remote worker (uploads, outputs and
    /// URLs through the same checks as this server's runs).
    pub async fn open_input(&self, reference: &InputRef) -> Result<InputFile, ProviderError> {
        self.files.open(reference).await
    }

    /// How long a claim holds without a heartbeat.
    pub fn lease(&self) -> std::time::Duration {
        self.settings.lease
    }

    /// The service's circuit breaker allows a call now.
    pub fn circuit_allows(&self, service: &str) -> bool {
        self.circuits.allow(service).is_ok()
    }
}
