//! Step 2 of a run: the provider call. A task with no external id is submitted
//! (marked first when the submit costs money, so that a lost answer is recognised
//! rather than sent again); one with an id is polled, until its poll timeout.

use std::time::Duration;

use tokio::sync::watch;

use super::Worker;
use super::admit::InFlightGate;
use super::run::{Flow, Interrupt, interrupted};
use crate::ports::{ErrorClass, Job, LeaseToken, Output, Polled, Provider, ProviderError, Submitted};
use crate::task::Task;

/// What the provider said.
pub(super) enum Step {
    Finished(Vec<Output>),
    Waiting {
        progress: Option<u8>,
        poll_after: Duration,
    },
    Failed(ProviderError),
    /// Polling the provider failed (not the task itself): poll again later, never
    /// submit again.
    PollFailed(ProviderError),
}

impl Worker {
    pub(super) async fn submit(
        &self,
        task: &Task,
        lease: &LeaseToken,
        provider: &dyn Provider,
        job: &Job<'_>,
        in_flight_gate: InFlightGate,
        interrupt: &mut watch::Receiver<Interrupt>,
    ) -> Flow<Step> {
        // Marked before the call: a lost answer is then recognised, and the task
        // counts against its service's concurrency limit.
        if provider.submit_is_costly() {
            match self.mark_costly_submit(task, lease).await {
                Ok(true) => {}
                Ok(false) => return Flow::Stop,
                Err(error) => {
                    self.finish_failed(task, lease, &error).await;
                    return Flow::Stop;
                }
            }
        } else if in_flight_gate.is_some() && !matches!(self.queue.mark_submitting(task.id, lease).await, Ok(true)) {
            return Flow::Stop;
        }
        drop(in_flight_gate);
        let submitted = tokio::select! {
            submitted = provider.submit(job) => submitted,
            reason = interrupted(interrupt) => {
                self.abandon(task, lease, reason).await;
                return Flow::Stop;
            }
        };
        match submitted {
            Ok(Submitted::Finished(outputs)) => Flow::Next(Step::Finished(outputs)),
            Ok(Submitted::Accepted { external_id, poll_after }) => {
                match self.queue.record_external_id(task.id, lease, &external_id).await {
                    Ok(true) => Flow::Next(Step::Waiting { progress: None, poll_after }),
                    Ok(false) => Flow::Stop,
                    Err(error) => {
                        // The provider has the task but we could not record its id:
                        // the submit stays marked, so no blind resubmission follows.
                        tracing::error!(task.id = %task.id, %error, external.id = %external_id, "could not record the external id");
                        Flow::Stop
                    }
                }
            }
            Err(error) => Flow::Next(Step::Failed(error)),
        }
    }

    pub(super) async fn poll(
        &self,
        task: &Task,
        lease: &LeaseToken,
        provider: &dyn Provider,
        job: &Job<'_>,
        external_id: &str,
        interrupt: &mut watch::Receiver<Interrupt>,
    ) -> Flow<Step> {
        let timeout = self.poll_timeout_for(&task.service, &task.model);
        if job.running_for > timeout {
            let error = ProviderError::new(
                ErrorClass::PollTimeout,
                format!("the provider did not finish within {} s", timeout.as_secs()),
            );
            self.finish_failed(task, lease, &error).await;
            return Flow::Stop;
        }
        let polled = tokio::select! {
            polled = provider.poll(job, external_id) => polled,
            reason = interrupted(interrupt) => {
                self.abandon(task, lease, reason).await;
                return Flow::Stop;
            }
        };
        Flow::Next(match polled {
            Ok(Polled::Finished(outputs)) => Step::Finished(outputs),
            Ok(Polled::Running { progress, poll_after }) => Step::Waiting { progress, poll_after },
            Ok(Polled::Failed(error)) => Step::Failed(error),
            Err(error) => Step::PollFailed(error),
        })
    }

    /// Before a submit that costs money: refuse to repeat one whose answer was lost,
    /// and mark this one. `Ok(false)`: leave the task (the lease is gone, or the
    /// database did not answer and the lease will expire).
    async fn mark_costly_submit(&self, task: &Task, lease: &LeaseToken) -> Result<bool, ProviderError> {
        let Ok(interrupted) = self.queue.submit_was_interrupted(task.id).await else { return Ok(false) };
        if interrupted {
            return Err(ProviderError::new(
                ErrorClass::SubmitUnknown,
                "a submit to the provider started but its answer was lost; not submitting again",
            ));
        }
        Ok(self.queue.mark_submitting(task.id, lease).await.unwrap_or(false))
    }
}
