//! One run of one claimed task.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use tokio::sync::watch;

use super::{Worker, millis};
use crate::events::TaskEvent;
use crate::ports::{Claimed, ErrorClass, Job, LeaseToken, Output, Polled, ProviderError, Submitted};
use crate::task::{Task, TaskError, TaskStatus};
use crate::time::now_millis;

/// How soon a task held back by its service's concurrency limit looks again.
const IN_FLIGHT_RECHECK: Duration = Duration::from_millis(500);

/// Why a run must stop waiting on its provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Interrupt {
    None,
    /// The lease no longer holds: the task was cancelled, or reclaimed after a stall.
    LeaseLost,
    /// The worker is shutting down and its drain time is over.
    Shutdown,
}

/// Resolves with the interrupt once one is raised.
async fn interrupted(interrupt: &mut watch::Receiver<Interrupt>) -> Interrupt {
    let reason = interrupt.wait_for(|reason| *reason != Interrupt::None).await.map(|reason| *reason);
    match reason {
        Ok(reason) => reason,
        // The keeper is gone only when the run is over.
        Err(_) => std::future::pending().await,
    }
}

/// How a run ended, for the log.
enum Step {
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
    pub(crate) async fn run_claimed(&self, claimed: Claimed, mut hard_stop: watch::Receiver<bool>) {
        let Claimed { task, lease } = claimed;
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

    /// Gives up a run whose provider call was interrupted.
    async fn abandon(&self, task: &Task, lease: &LeaseToken, reason: Interrupt) {
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
        let mut tick = tokio::time::interval(Duration::from_millis(200));
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

        if let Err(wait) = self.circuits.allow(&task.service) {
            // The service's circuit is open.
            return self.hold_back(task, lease, wait).await;
        }
        if task.external_id.is_none() {
            let prepared = tokio::select! {
                prepared = provider.prepare(&job) => prepared,
                reason = interrupted(&mut interrupt) => return self.abandon(task, lease, reason).await,
            };
            if let Err(error) = prepared {
                self.circuits.record_failure(&task.service, error.class);
                return self.handle_error(task, lease, &error).await;
            }
        }
        // The service's concurrency limit: count the tasks open at the provider and
        // mark this one as submitting under one gate per service, so that this
        // process's runs cannot all see the same free slot.
        let mut in_flight_gate = None;
        if task.external_id.is_none()
            && let Some(limit) = self.settings.max_in_flight.get(&task.service)
        {
            let gate = self.in_flight_gate(&task.service).lock_owned().await;
            // A database error counts as "full": the task waits rather than overshoots.
            let open = self.queue.count_in_flight(&task.service).await.unwrap_or(u64::MAX);
            if open >= u64::from(*limit) {
                drop(gate);
                return self.hold_back(task, lease, IN_FLIGHT_RECHECK).await;
            }
            in_flight_gate = Some(gate);
        }
        let over_rate_limit = match (&task.external_id, provider.submit_rate_limit()) {
            (None, Some(limit)) => self.submit_limits.acquire(&task.service, limit).err(),
            _ => None,
        };
        if let Some(wait) = over_rate_limit {
            // The provider would refuse this submit: wait for a slot.
            return self.hold_back(task, lease, wait).await;
        }
        let step = match &task.external_id {
            Some(external_id) => {
                let timeout = self.poll_timeout_for(&task.service, &task.model);
                if running_for > timeout {
                    let error = ProviderError::new(
                        ErrorClass::PollTimeout,
                        format!("the provider did not finish within {} s", timeout.as_secs()),
                    );
                    return self.finish_failed(task, lease, &error).await;
                }
                let polled = tokio::select! {
                    polled = provider.poll(&job, external_id) => polled,
                    reason = interrupted(&mut interrupt) => return self.abandon(task, lease, reason).await,
                };
                match polled {
                    Ok(Polled::Finished(outputs)) => Step::Finished(outputs),
                    Ok(Polled::Running { progress, poll_after }) => Step::Waiting { progress, poll_after },
                    Ok(Polled::Failed(error)) => Step::Failed(error),
                    Err(error) => Step::PollFailed(error),
                }
            }
            None => {
                // Marked before the call: a lost answer is then recognised, and the
                // task counts against its service's concurrency limit.
                if provider.submit_is_costly() {
                    match self.prepare_costly_submit(task, lease).await {
                        Ok(true) => {}
                        Ok(false) => return,
                        Err(error) => return self.finish_failed(task, lease, &error).await,
                    }
                } else if in_flight_gate.is_some()
                    && !matches!(self.queue.mark_submitting(task.id, lease).await, Ok(true))
                {
                    return;
                }
                drop(in_flight_gate);
                let submitted = tokio::select! {
                    submitted = provider.submit(&job) => submitted,
                    reason = interrupted(&mut interrupt) => return self.abandon(task, lease, reason).await,
                };
                match submitted {
                    Ok(Submitted::Finished(outputs)) => Step::Finished(outputs),
                    Ok(Submitted::Accepted { external_id, poll_after }) => {
                        match self.queue.record_external_id(task.id, lease, &external_id).await {
                            Ok(true) => Step::Waiting { progress: None, poll_after },
                            Ok(false) => return,
                            Err(error) => {
                                // The provider has the task but we could not record its id:
                                // the submit stays marked, so no blind resubmission follows.
                                tracing::error!(task.id = %task.id, %error, external.id = %external_id, "could not record the external id");
                                return;
                            }
                        }
                    }
                    Err(error) => Step::Failed(error),
                }
            }
        };

        match &step {
            Step::Failed(error) | Step::PollFailed(error) => self.circuits.record_failure(&task.service, error.class),
            Step::Finished(_) | Step::Waiting { .. } => self.circuits.record_success(&task.service),
        }
        match step {
            Step::Finished(outputs) => self.finish_completed(task, lease, outputs).await,
            Step::Waiting { progress, poll_after } => {
                let progress = progress.unwrap_or(task.progress);
                let run_after = now_millis() + millis(poll_after);
                if let Ok(true) = self.queue.park(task.id, lease, progress, run_after).await {
                    self.publish(task.id, TaskStatus::Processing);
                    // Wake this process's loop when the poll is due.
                    self.wake_after(poll_after);
                }
            }
            Step::Failed(error) => self.handle_error(task, lease, &error).await,
            Step::PollFailed(error) if error.class.max_attempts() > 1 => {
                // The provider still has the task: keep its id, look again after a
                // backoff (bounded by the poll timeout).
                let delay = error.retry_after.unwrap_or_else(|| self.settings.backoff.delay(0));
                tracing::info!(task.id = %task.id, error.code = error.class.code(), %error, "polling failed; polling again later");
                if let Ok(true) = self.queue.park(task.id, lease, task.progress, now_millis() + millis(delay)).await {
                    self.wake_after(delay);
                }
            }
            Step::PollFailed(error) => self.finish_failed(task, lease, &error).await,
        }
    }

    /// Puts a task back in the queue for `wait`, no attempt counted.
    async fn hold_back(&self, task: &Task, lease: &LeaseToken, wait: Duration) {
        if let Ok(true) = self.queue.release(task.id, lease, now_millis() + millis(wait)).await {
            self.wake_after(wait);
        }
    }

    /// Wakes this process's loop after `delay` (a retry or poll is then due).
    fn wake_after(&self, delay: Duration) {
        let events = self.events.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            events.wake_workers();
        });
    }

    /// Before a submit that costs money: refuse to repeat one whose answer was lost.
    async fn prepare_costly_submit(&self, task: &Task, lease: &LeaseToken) -> Result<bool, ProviderError> {
        // On a database error, do nothing: the lease expires and the task is run again
        // once the database answers.
        let Ok(interrupted) = self.queue.submit_was_interrupted(task.id).await else { return Ok(false) };
        if interrupted {
            return Err(ProviderError::new(
                ErrorClass::SubmitUnknown,
                "a submit to the provider started but its answer was lost; not submitting again",
            ));
        }
        Ok(self.queue.mark_submitting(task.id, lease).await.unwrap_or(false))
    }

    async fn finish_completed(&self, task: &Task, lease: &LeaseToken, outputs: Vec<Output>) {
        let mut assets = Vec::with_capacity(outputs.len());
        for (index, output) in outputs.into_iter().enumerate() {
            match self.assets.save_output(task, index as u32, output).await {
                Ok(asset) => assets.push(asset),
                Err(error) => {
                    let error =
                        ProviderError::new(ErrorClass::ServerError, format!("storing the output failed: {error}"));
                    return self.handle_error(task, lease, &error).await;
                }
            }
        }
        match self.queue.complete(task.id, lease, assets, now_millis()).await {
            Ok(true) => self.publish(task.id, TaskStatus::Completed),
            Ok(false) => tracing::info!(task.id = %task.id, "finished after losing the lease; result discarded"),
            Err(error) => {
                tracing::warn!(task.id = %task.id, %error, "could not store completion; the lease will expire and the task rerun")
            }
        }
    }

    async fn handle_error(&self, task: &Task, lease: &LeaseToken, error: &ProviderError) {
        let allowed = error.class.max_attempts().min(task.max_attempts.max(1));
        if task.attempts >= allowed {
            return self.finish_failed(task, lease, error).await;
        }
        let delay = error
            .retry_after
            .or_else(|| error.class.fixed_delay())
            .unwrap_or_else(|| self.settings.backoff.delay(task.attempts.saturating_sub(1)));
        let task_error = to_task_error(error, true);
        match self.queue.schedule_retry(task.id, lease, &task_error, now_millis() + millis(delay)).await {
            Ok(true) => {
                tracing::info!(task.id = %task.id, error.code = %task_error.code, delay_ms = millis(delay), "retrying");
                self.publish(task.id, TaskStatus::Retrying);
                self.wake_after(delay);
            }
            Ok(false) => {}
            Err(store_error) => tracing::warn!(task.id = %task.id, %store_error, "could not schedule the retry"),
        }
    }

    async fn finish_failed(&self, task: &Task, lease: &LeaseToken, error: &ProviderError) {
        let task_error = to_task_error(error, false);
        match self.queue.fail(task.id, lease, &task_error, now_millis()).await {
            Ok(true) => {
                tracing::info!(task.id = %task.id, error.code = %task_error.code, "task failed");
                self.publish(task.id, TaskStatus::Failed);
            }
            Ok(false) => {}
            Err(store_error) => tracing::warn!(task.id = %task.id, %store_error, "could not store the failure"),
        }
    }

    fn publish(&self, task_id: crate::ids::TaskId, status: TaskStatus) {
        self.events.publish(TaskEvent { task_id, status });
    }
}

fn to_task_error(error: &ProviderError, retrying: bool) -> TaskError {
    TaskError {
        code: error.class.code().to_owned(),
        message: error.message.clone(),
        retryable: retrying || error.class.max_attempts() > 1,
    }
}
