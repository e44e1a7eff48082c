//! Step 2 of a run: the provider call. A task with no external id is submitted
//! (marked first when the submit costs money, so that a lost answer is recognised
//! rather than sent again); one with an id is polled, until its poll timeout.

use std::time::{Duration, Instant};

use tokio::sync::watch;
use tracing::Instrument as _;

use super::Worker;
use super::admit::InFlightGate;
use super::run::{Flow, Interrupt, interrupted};
use crate::ports::{ErrorClass, Job, LeaseToken, LostSubmit, Output, Polled, Provider, ProviderError, Submitted};
use crate::task::Task;

/// How often a task whose submit lost its answer looks again while it waits for the
/// provider's callback (which makes it poll at once when it comes).
const LOST_SUBMIT_RECHECK: Duration = Duration::from_secs(60);
/// How soon a failed lookup of a lost submit is tried again.
const LOST_SUBMIT_RETRY: Duration = Duration::from_secs(5);

/// Whether a costly submit may go.
enum Marked {
    Yes,
    /// Leave the task: the lease is gone, or the database did not answer and the
    /// lease will expire.
    No,
    /// A submit started before and its answer was lost.
    AnswerLost,
}

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

/// The span of one call to a provider (exported as part of the task's trace when
/// the server exports traces; below the default log level otherwise).
fn provider_span(name: &'static str, task: &Task) -> tracing::Span {
    tracing::debug_span!("provider", otel.name = name, task.id = %task.id, service = %task.service, model = %task.model)
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
                Marked::Yes => {}
                Marked::No => return Flow::Stop,
                Marked::AnswerLost => {
                    drop(in_flight_gate);
                    let lost = ProviderError::new(
                        ErrorClass::SubmitUnknown,
                        "a submit started earlier and its answer was lost",
                    );
                    return self.recover_lost_submit(task, lease, provider, job, &lost).await;
                }
            }
        } else if in_flight_gate.is_some() && !matches!(self.queue.mark_submitting(task.id, lease).await, Ok(true)) {
            return Flow::Stop;
        }
        drop(in_flight_gate);
        let started = Instant::now();
        let submitted = tokio::select! {
            submitted = provider.submit(job).instrument(provider_span("provider.submit", task)) => submitted,
            reason = interrupted(interrupt) => {
                self.abandon(task, lease, reason).await;
                return Flow::Stop;
            }
        };
        crate::meters::provider_call(&task.service, "submit", submitted.as_ref().err(), started.elapsed());
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
            // The provider may have taken (and charged for) the job: its answer was
            // lost, or came back unreadable.
            Err(error)
                if matches!(error.class, ErrorClass::SubmitUnknown | ErrorClass::MalformedResponse)
                    && provider.submit_is_costly() =>
            {
                tracing::warn!(task.id = %task.id, %error, "the submit's answer was lost; asking the provider for the job");
                self.recover_lost_submit(task, lease, provider, job, &error).await
            }
            Err(error) => Flow::Next(Step::Failed(error)),
        }
    }

    /// A costly submit whose answer was lost: find the job by what the submit
    /// carried, wait for the provider's callback to name it, or (where the provider
    /// offers no way) fail `submit_unknown` saying what is known. Never submits.
    async fn recover_lost_submit(
        &self,
        task: &Task,
        lease: &LeaseToken,
        provider: &dyn Provider,
        job: &Job<'_>,
        lost: &ProviderError,
    ) -> Flow<Step> {
        let sent_after = task.started_at.unwrap_or(task.created_at);
        let timeout = self.poll_timeout_for(&task.service, &task.model);
        let found = provider.find_lost_submit(job, sent_after).await;
        let give_up = match found {
            Ok(LostSubmit::Found(external_id)) => {
                tracing::info!(task.id = %task.id, external.id = %external_id, "found the job of a lost submit");
                return match self.queue.record_external_id(task.id, lease, &external_id).await {
                    Ok(true) => Flow::Next(Step::Waiting { progress: None, poll_after: Duration::ZERO }),
                    _ => Flow::Stop,
                };
            }
            Ok(LostSubmit::AwaitCallback) if job.running_for < timeout => {
                let note = format!(
                    "the answer to the submit sent to {} for {} was lost; waiting for the provider's callback to name \
                     the job (never sent again)",
                    task.service, task.model
                );
                let recheck = (timeout - job.running_for).min(LOST_SUBMIT_RECHECK);
                self.await_lost_submit(task, lease, note, recheck).await;
                return Flow::Stop;
            }
            Ok(LostSubmit::AwaitCallback) => {
                format!("no callback named the job within {} s", timeout.as_secs())
            }
            Ok(LostSubmit::NoWay(reason)) => reason,
            // The lookup itself failed: look again later, within the poll timeout.
            Err(error) if job.running_for < timeout => {
                let note = format!("looking for the job of a lost submit failed ({error}); looking again");
                self.await_lost_submit(task, lease, note, self.settings.backoff.delay(0).max(LOST_SUBMIT_RETRY)).await;
                return Flow::Stop;
            }
            Err(error) => format!("looking for the job failed: {error}"),
        };
        let sent = crate::time::to_datetime(sent_after).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        // An unreadable answer stays what it was (`malformed_response`); an answer
        // that never came is `submit_unknown`.
        let error = ProviderError::new(
            lost.class,
            format!(
                "{lost}; the submit sent to {} for {} at {sent} was not sent again: {give_up}. \
             An admin who finds the job at the provider can attach its id \
             (POST /api/v1/tasks/{}/external-id) to fetch the result",
                task.service, task.model, task.id
            ),
        );
        self.finish_failed(task, lease, &error).await;
        Flow::Stop
    }

    /// Leaves the task waiting (marked, no id) for the provider to name its job,
    /// with `message` noted as `submit_unknown`.
    async fn await_lost_submit(&self, task: &Task, lease: &LeaseToken, message: String, after: Duration) {
        let code = ErrorClass::SubmitUnknown.code().to_owned();
        let note = crate::task::TaskError { code, message, retryable: true };
        let run_after = crate::time::now_millis() + super::millis(after);
        if let Err(error) = self.queue.wait_for_lost_submit(task.id, lease, &note, run_after).await {
            tracing::warn!(task.id = %task.id, %error, "could not set the task waiting; its lease will expire");
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
        let started = Instant::now();
        let polled = tokio::select! {
            polled = provider.poll(job, external_id).instrument(provider_span("provider.poll", task)) => polled,
            reason = interrupted(interrupt) => {
                self.abandon(task, lease, reason).await;
                return Flow::Stop;
            }
        };
        let error = match &polled {
            Ok(Polled::Failed(error)) | Err(error) => Some(error),
            Ok(_) => None,
        };
        crate::meters::provider_call(&task.service, "poll", error, started.elapsed());
        Flow::Next(match polled {
            Ok(Polled::Finished(outputs)) => Step::Finished(outputs),
            Ok(Polled::Running { progress, poll_after }) => Step::Waiting { progress, poll_after },
            Ok(Polled::Failed(error)) => Step::Failed(error),
            Err(error) => Step::PollFailed(error),
        })
    }

    /// Before a submit that costs money: refuse to repeat one whose answer was lost,
    /// and mark this one.
    async fn mark_costly_submit(&self, task: &Task, lease: &LeaseToken) -> Marked {
        let Ok(interrupted) = self.queue.submit_was_interrupted(task.id).await else { return Marked::No };
        if interrupted {
            return Marked::AnswerLost;
        }
        if self.queue.mark_submitting(task.id, lease).await.unwrap_or(false) { Marked::Yes } else { Marked::No }
    }
}
