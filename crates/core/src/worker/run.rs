//! One run of one claimed task, in four steps:
//!
//! 1. [`admit`](super::admit): the service's circuit, the provider's `prepare` (input
//!    uploads, safe to repeat), its concurrency limit and its submit rate limit. A
//!    task held back here goes back to the queue, no attempt counted.
//! 2. [`call`](super::call): submit (marked first when it costs money) or poll.
//! 3. [`settle`](super::settle): store outputs and complete, park until the next
//!    poll, schedule a retry, or fail.
//!
//! Beside the run, a keeper renews the lease and stores progress; when the lease is
//! lost or the worker must stop, it raises an interrupt that the run honours only
//! while it waits on the provider, so storing outputs is never cut short.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use tokio::sync::watch;
use tracing::Instrument as _;

use super::call::Step;
use super::{Worker, millis};
use crate::ports::{Claimed, ErrorClass, Job, LeaseToken, ProviderError};
use crate::task::{Task, TaskStatus};
use crate::time::now_millis;

/// Why a run must stop waiting on its provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Interrupt {
    None,
    /// The lease no longer holds: the task was cancelled, or reclaimed after a stall.
    LeaseLost,
    /// The worker is shutting down and its drain time is over.
    Shutdown,
}

/// Resolves with the interrupt once one is raised.
pub(super) async fn interrupted(interrupt: &mut watch::Receiver<Interrupt>) -> Interrupt {
    let reason = interrupt.wait_for(|reason| *reason != Interrupt::None).await.map(|reason| *reason);
    match reason {
        Ok(reason) => reason,
        // The keeper is gone only when the run is over.
        Err(_) => std::future::pending().await,
    }
}

/// What a step decided: go on with a value, or stop (the step has already left the
/// task as it should be).
pub(super) enum Flow<T> {
    Next(T),
    Stop,
}

impl Worker {
    /// Runs a claimed task in a span that continues the trace of the request that
    /// created it (see [`crate::task::trace`]).
    pub(crate) async fn run_claimed(&self, claimed: Claimed, hard_stop: watch::Receiver<bool>) {
        let task = &claimed.task;
        let span = tracing::debug_span!(
            "task.run",
            task.id = %task.id,
            service = %task.service,
            model = %task.model,
            attempt = task.attempts,
        );
        crate::task::trace::continue_in(&span, task.trace_context.as_deref());
        self.run_claimed_in_span(claimed, hard_stop).instrument(span).await;
    }

    async fn run_claimed_in_span(&self, claimed: Claimed, mut hard_stop: watch::Receiver<bool>) {
        let Claimed { task, lease } = claimed;
        let _running = crate::meters::running();
        let progress = Arc::new(AtomicU8::new(task.progress));
        let (interrupt_tx, interrupt_rx) = watch::channel(Interrupt::None);
        // The keeper never ends the run itself: it only raises an interrupt, which the
        // run honours while it waits on the provider. Storing outputs and completing
        // are never cut short half-way.
        let keeper = async {
            tokio::select! {
                () = self.keep_lease(&task, &lease, progress.clone()) => {
                    let _ = interrupt_tx.send(Interrupt::LeaseLost);
                }
                () = async { let _ = hard_stop.wait_for(|stop| *stop).await; } => {
                    let _ = interrupt_tx.send(Interrupt::Shutdown);
                }
            }
            std::future::pending::<()>().await
        };
        tokio::select! {
            () = self.execute(&task, &lease, progress.clone(), interrupt_rx) => {}
            () = keeper => {}
        }
    }

    async fn execute(
        &self,
        task: &Task,
        lease: &LeaseToken,
        progress: Arc<AtomicU8>,
        mut interrupt: watch::Receiver<Interrupt>,
    ) {
        let Some(provider) = self.catalog.provider(&task.service).cloned() else {
            let error = ProviderError::new(
                ErrorClass::ClientError,
                format!("service {:?} is not configured on this worker", task.service),
            );
            return self.finish_failed(task, lease, &error).await;
        };
        let started = task.started_at.unwrap_or(task.created_at);
        let running_for = Duration::from_millis(u64::try_from(now_millis() - started).unwrap_or(0));
        let job = Job {
            task_id: task.id,
            model: &task.model,
            input: &task.input,
            attempt: task.attempts,
            running_for,
            progress,
            files: self.files.as_ref(),
        };
        let Flow::Next(in_flight_gate) = self.admit(task, lease, provider.as_ref(), &job, &mut interrupt).await else {
            return;
        };
        let step = match &task.external_id {
            Some(external_id) => self.poll(task, lease, provider.as_ref(), &job, external_id, &mut interrupt).await,
            None => self.submit(task, lease, provider.as_ref(), &job, in_flight_gate, &mut interrupt).await,
        };
        let Flow::Next(step) = step else { return };
        match &step {
            Step::Failed(error) | Step::PollFailed(error) => self.circuits.record_failure(&task.service, error.class),
            Step::Finished(_) | Step::Waiting { .. } => self.circuits.record_success(&task.service),
        }
        self.settle(task, lease, step, &mut interrupt).await;
    }

    /// Gives up a run whose provider call was interrupted.
    pub(super) async fn abandon(&self, task: &Task, lease: &LeaseToken, reason: Interrupt) {
        match reason {
            Interrupt::LeaseLost | Interrupt::None => {
                tracing::warn!(task.id = %task.id, "lease lost (cancelled, or reclaimed after a stall); abandoning the run");
            }
            Interrupt::Shutdown => match self.queue.release(task.id, lease, now_millis()).await {
                Ok(true) => self.publish(task.id, TaskStatus::Pending),
                Ok(false) => {}
                Err(error) => tracing::warn!(task.id = %task.id, %error, "could not release the lease; it will expire"),
            },
        }
    }

    /// Renews the lease and stores progress; returns only when the lease is lost.
    async fn keep_lease(&self, task: &Task, lease: &LeaseToken, progress: Arc<AtomicU8>) {
        let heartbeat_every = self.settings.lease / 3;
        let mut last_heartbeat = tokio::time::Instant::now();
        let mut stored_progress = task.progress;
        // The first tick is a period in: a task that ends sooner (an instant engine, a
        // placeholder) writes neither progress nor a heartbeat, only its completion.
        let every = Duration::from_millis(200);
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        loop {
            tick.tick().await;
            let current = progress.load(Ordering::Relaxed).min(100);
            let held = if current != stored_progress {
                stored_progress = current;
                let held = self.queue.set_progress(task.id, lease, current).await;
                if matches!(held, Ok(true)) {
                    self.publish(task.id, TaskStatus::Processing);
                }
                held
            } else if last_heartbeat.elapsed() >= heartbeat_every {
                last_heartbeat = tokio::time::Instant::now();
                let until = now_millis() + millis(self.settings.lease);
                self.queue.heartbeat(task.id, lease, until).await
            } else {
                continue;
            };
            match held {
                Ok(true) => {}
                Ok(false) => return,
                // A passing database error: the lease is still ours until it expires.
                Err(error) => tracing::warn!(task.id = %task.id, %error, "heartbeat failed"),
            }
        }
    }
}
