//! Step 3 of a run: what the provider said, written down. Outputs are stored and the
//! task completed in one transaction; a task still running is parked until its next
//! poll; a retryable error schedules a retry after its class's delay; anything else
//! fails the task. Every write names the lease and does nothing once it is lost.
//!
//! When Atelier's own storage fails (a full disk, a store not answering), that is
//! nobody's provider's fault: the provider's circuit and the task's attempts are
//! left alone. A result that can be had again (a remote task's, by its provider id;
//! a free engine's, by running it again) waits in the queue; a paid result that
//! exists only in this answer is held in memory until storage takes it.

use std::time::Duration;

use tokio::sync::watch;

use super::call::Step;
use super::run::{Interrupt, interrupted};
use super::{Worker, millis};
use crate::error::CoreError;
use crate::events::TaskEvent;
use crate::ids::TaskId;
use crate::ports::{ErrorClass, LeaseToken, Output, ProviderError};
use crate::task::{Task, TaskError, TaskStatus};
use crate::time::now_millis;

/// How many times a completion is tried while storage comes and goes, before the
/// run gives up and leaves the task to its expiring lease.
const COMPLETION_TRIES: u32 = 10;

impl Worker {
    pub(super) async fn settle(
        &self,
        task: &Task,
        lease: &LeaseToken,
        step: Step,
        interrupt: &mut watch::Receiver<Interrupt>,
    ) {
        match step {
            Step::Finished(outputs) => self.finish_completed(task, lease, outputs, interrupt).await,
            Step::Waiting { progress, poll_after } => {
                let progress = progress.unwrap_or(task.progress);
                if let Ok(true) = self.queue.park(task.id, lease, progress, now_millis() + millis(poll_after)).await {
                    self.publish(task.id, TaskStatus::Processing);
                    // Wake this process's loop when the poll is due.
                    self.wake_after(poll_after);
                }
            }
            Step::Failed(error) => self.handle_error(task, lease, &error).await,
            Step::PollFailed(error) if error.max_attempts() > 1 => {
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
    pub(super) async fn hold_back(&self, task: &Task, lease: &LeaseToken, wait: Duration) {
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

    async fn finish_completed(
        &self,
        task: &Task,
        lease: &LeaseToken,
        outputs: Vec<Output>,
        interrupt: &mut watch::Receiver<Interrupt>,
    ) {
        // A paid result with no provider id to fetch it again by exists only here.
        let hold =
            task.external_id.is_none() && self.catalog.provider(&task.service).is_some_and(|p| p.submit_is_costly());
        let mut assets = Vec::with_capacity(outputs.len());
        for (index, output) in outputs.into_iter().enumerate() {
            let mut output = output;
            loop {
                let copy = if hold { output.try_clone() } else { None };
                let error = match self.assets.save_output(task, index as u32, output).await {
                    Ok(asset) => {
                        assets.push(asset);
                        break;
                    }
                    Err(error) => error,
                };
                if let CoreError::InvalidInput { message, .. } = &error {
                    // The asset store refused the output (a decompression bomb, a file
                    // cut short): what the provider answered is unusable; never retried.
                    let error = ProviderError::new(
                        ErrorClass::MalformedResponse,
                        format!("output {index} was refused: {message}"),
                    );
                    return self.handle_error(task, lease, &error).await;
                }
                if error.storage_part().is_none() {
                    // The output's source broke off: the provider's fault.
                    let error =
                        ProviderError::new(ErrorClass::ServerError, format!("storing the output failed: {error}"));
                    return self.handle_error(task, lease, &error).await;
                }
                self.storage.report(&error);
                let Some(copy) = copy else {
                    return self.wait_for_storage(task, lease, &error).await;
                };
                tracing::warn!(task.id = %task.id, %error, "holding a paid result in memory until storage takes it");
                if !self.wait_for_storage_in_run(task, lease, interrupt).await {
                    return;
                }
                output = copy;
            }
        }
        for _ in 0..COMPLETION_TRIES {
            match self.queue.complete(task.id, lease, assets.clone(), now_millis()).await {
                Ok(true) => {
                    crate::meters::task_finished(task, TaskStatus::Completed);
                    return self.publish(task.id, TaskStatus::Completed);
                }
                Ok(false) => {
                    return tracing::info!(task.id = %task.id, "finished after losing the lease; result discarded");
                }
                Err(error) => {
                    // The outputs are stored; only the completion is missing. Try
                    // again once the database takes writes, while the lease holds.
                    tracing::warn!(task.id = %task.id, %error, "could not store completion; trying again when the database takes writes");
                    self.storage.report(&error);
                    if !self.wait_for_storage_in_run(task, lease, interrupt).await {
                        return;
                    }
                }
            }
        }
        tracing::error!(task.id = %task.id, "completion kept failing though storage answers; the lease will expire and the task rerun");
    }

    /// Waits, within the run, until storage takes writes again; false when the run
    /// was interrupted first (the lease lost, or the worker stopping).
    async fn wait_for_storage_in_run(
        &self,
        task: &Task,
        lease: &LeaseToken,
        interrupt: &mut watch::Receiver<Interrupt>,
    ) -> bool {
        tokio::select! {
            () = self.storage.wait_up() => true,
            reason = interrupted(interrupt) => {
                tracing::error!(task.id = %task.id, ?reason, "the run ended while storage was down; what it held is given up");
                self.abandon(task, lease, reason).await;
                false
            }
        }
    }

    /// Gives the task back until storage returns, no attempt counted, with the
    /// reason noted on it.
    async fn wait_for_storage(&self, task: &Task, lease: &LeaseToken, error: &CoreError) {
        let note = TaskError {
            code: "storage_unavailable".to_owned(),
            message: format!("{error}; the task resumes by itself once storage takes writes again"),
            retryable: true,
        };
        let recheck = self.settings.storage.recheck;
        match self.queue.wait_for_storage(task.id, lease, &note, now_millis() + millis(recheck)).await {
            Ok(true) => {
                let status = if task.external_id.is_some() { TaskStatus::Processing } else { TaskStatus::Retrying };
                self.publish(task.id, status);
                self.wake_after(recheck);
            }
            Ok(false) => {}
            Err(store_error) => {
                tracing::warn!(task.id = %task.id, %store_error, "could not give the task back; its lease will expire")
            }
        }
    }

    /// Retries while the error's class (and the task) allows another attempt, else
    /// fails the task.
    pub(super) async fn handle_error(&self, task: &Task, lease: &LeaseToken, error: &ProviderError) {
        let allowed = error.max_attempts().min(task.max_attempts.max(1));
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

    pub(super) async fn finish_failed(&self, task: &Task, lease: &LeaseToken, error: &ProviderError) {
        let task_error = to_task_error(error, false);
        match self.queue.fail(task.id, lease, &task_error, now_millis()).await {
            Ok(true) => {
                tracing::info!(task.id = %task.id, error.code = %task_error.code, "task failed");
                crate::meters::task_finished(task, TaskStatus::Failed);
                self.publish(task.id, TaskStatus::Failed);
            }
            Ok(false) => {}
            Err(store_error) => tracing::warn!(task.id = %task.id, %store_error, "could not store the failure"),
        }
    }

    pub(super) fn publish(&self, task_id: TaskId, status: TaskStatus) {
        self.events.publish(TaskEvent { task_id, status });
    }
}

fn to_task_error(error: &ProviderError, retrying: bool) -> TaskError {
    TaskError {
        code: error.class.code().to_owned(),
        message: error.message.clone(),
        retryable: retrying || error.max_attempts() > 1,
    }
}
