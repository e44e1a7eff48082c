//! What the domain measures, through the `metrics` facade (as it logs through
//! `tracing`): tasks made and ended, provider calls, webhook attempts, pipeline
//! phases, the worker's running tasks. The server installs a recorder and serves the
//! numbers at `/metrics` (`atelier::metrics`); without one, each call here costs
//! next to nothing.
//!
//! Every meter is named and described once, in [`METERS`], and recorded only by the
//! functions below. Labels are bounded: the catalog's services and models, statuses,
//! error classes, pipelines and their phases; never a user, a key, a URL or a prompt.
//!
//! Counters count what this process did: Prometheus adds the processes up.

use std::time::Duration;

use metrics::{counter, gauge, histogram};

use crate::ports::ProviderError;
use crate::task::{Task, TaskStatus};
use crate::time::now_millis;
use crate::webhook::AttemptOutcome;

pub const TASKS_CREATED: &str = "atelier_tasks_created_total";
pub const TASKS_FINISHED: &str = "atelier_tasks_finished_total";
pub const TASK_DURATION: &str = "atelier_task_duration_seconds";
pub const TASKS_SWEPT: &str = "atelier_tasks_swept_total";
pub const TASKS_RUNNING: &str = "atelier_worker_tasks_running";
pub const PROVIDER_CALLS: &str = "atelier_provider_calls_total";
pub const PROVIDER_CALL_DURATION: &str = "atelier_provider_call_duration_seconds";
pub const WEBHOOK_ATTEMPTS: &str = "atelier_webhook_attempts_total";
pub const WEBHOOK_DURATION: &str = "atelier_webhook_attempt_duration_seconds";
pub const PIPELINE_PHASES: &str = "atelier_pipeline_phases_total";
pub const PIPELINE_PHASE_DURATION: &str = "atelier_pipeline_phase_duration_seconds";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// A meter's name, kind and help text, and a histogram's buckets (in seconds).
#[derive(Debug, Clone, Copy)]
pub struct Meter {
    pub name: &'static str,
    pub kind: Kind,
    pub help: &'static str,
    pub buckets: &'static [f64],
}

const fn meter(name: &'static str, kind: Kind, help: &'static str) -> Meter {
    Meter { name, kind, help, buckets: &[] }
}

const fn histogram_of(name: &'static str, help: &'static str, buckets: &'static [f64]) -> Meter {
    Meter { name, kind: Kind::Histogram, help, buckets }
}

/// From a second to an hour: tasks (an instant engine's to a video's) and phases.
const LONG: &[f64] = &[0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0];
/// From 10 ms to 5 minutes: one call to a provider (a local engine's run, a submit, a poll).
const CALL: &[f64] = &[0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0];
/// From 10 ms to the send timeout's order: a webhook receiver's answer.
const SEND: &[f64] = &[0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 30.0];

/// Every meter of this crate.
pub const METERS: &[Meter] = &[
    meter(TASKS_CREATED, Kind::Counter, "Tasks created, by service and model."),
    meter(
        TASKS_FINISHED,
        Kind::Counter,
        "Tasks that reached an end (completed, failed, cancelled) here, by service, model and status.",
    ),
    histogram_of(
        TASK_DURATION,
        "Seconds from a task's creation to its end (the wait in the queue included), by service, model and status.",
        LONG,
    ),
    meter(
        TASKS_SWEPT,
        Kind::Counter,
        "Tasks the sweep settled: requeued (a lease expired), crashed (failed after too many crashes), \
         expired (waited past pending_ttl_secs), dependency_failed (the task waited for one that failed).",
    ),
    meter(TASKS_RUNNING, Kind::Gauge, "Tasks this process's workers run now."),
    meter(
        PROVIDER_CALLS,
        Kind::Counter,
        "Calls to providers (submit, poll), by service and outcome: ok, or the error class.",
    ),
    histogram_of(PROVIDER_CALL_DURATION, "Seconds a provider call took, by service and call.", CALL),
    meter(
        WEBHOOK_ATTEMPTS,
        Kind::Counter,
        "Webhook delivery attempts, by outcome: delivered (2xx), retrying (failed, tried again later), \
         failed (failed, no attempt left).",
    ),
    histogram_of(WEBHOOK_DURATION, "Seconds a webhook receiver took to answer.", SEND),
    meter(
        PIPELINE_PHASES,
        Kind::Counter,
        "Pipeline phases ended, by pipeline, phase and outcome: completed, retrying (tried again), failed.",
    ),
    histogram_of(
        PIPELINE_PHASE_DURATION,
        "Seconds a completed pipeline phase took, from its first task, by pipeline and phase.",
        LONG,
    ),
];

/// A task was stored (a repeat of an idempotency key is not one).
pub fn task_created(task: &Task) {
    counter!(TASKS_CREATED, "service" => task.service.clone(), "model" => task.model.clone()).increment(1);
}

/// A task ended here with `status`.
pub fn task_finished(task: &Task, status: TaskStatus) {
    let labels =
        [("service", task.service.clone()), ("model", task.model.clone()), ("status", status.as_str().to_owned())];
    counter!(TASKS_FINISHED, &labels).increment(1);
    let seconds = (now_millis() - task.created_at).max(0) as f64 / 1000.0;
    histogram!(TASK_DURATION, &labels).record(seconds);
}

/// The sweep settled `count` tasks this way (see [`TASKS_SWEPT`]).
pub fn tasks_swept(outcome: &'static str, count: usize) {
    counter!(TASKS_SWEPT, "outcome" => outcome).increment(count as u64);
}

/// Counts a task as running on this process's workers until the guard is dropped.
pub fn running() -> Running {
    gauge!(TASKS_RUNNING).increment(1.0);
    Running
}

#[must_use]
pub struct Running;

impl Drop for Running {
    fn drop(&mut self) {
        gauge!(TASKS_RUNNING).decrement(1.0);
    }
}

/// A call to a provider (`call`: `submit` or `poll`) answered `error` (none: the
/// call went through) after `took`.
pub fn provider_call(service: &str, call: &'static str, error: Option<&ProviderError>, took: Duration) {
    let outcome = error.map_or("ok", |error| error.class.code());
    counter!(PROVIDER_CALLS, "service" => service.to_owned(), "call" => call, "outcome" => outcome).increment(1);
    histogram!(PROVIDER_CALL_DURATION, "service" => service.to_owned(), "call" => call).record(took.as_secs_f64());
}

/// A webhook attempt's outcome; `retrying` when another attempt is scheduled.
pub fn webhook_attempt(outcome: &AttemptOutcome, retrying: bool) {
    let label = match (outcome.succeeded(), retrying) {
        (true, _) => "delivered",
        (false, true) => "retrying",
        (false, false) => "failed",
    };
    counter!(WEBHOOK_ATTEMPTS, "outcome" => label).increment(1);
    // An attempt that never reached the receiver (a deleted webhook) took no time.
    if outcome.status.is_some() || outcome.latency_ms > 0 {
        histogram!(WEBHOOK_DURATION).record(outcome.latency_ms as f64 / 1000.0);
    }
}

/// A pipeline's phase ended this way (`completed`, `retrying`, `failed`); a
/// completed one took `elapsed_ms` from its first task, when known.
pub fn phase_ended(pipeline: &str, phase: u32, outcome: &'static str, elapsed_ms: Option<i64>) {
    let (pipeline, phase) = (pipeline.to_owned(), phase.to_string());
    counter!(PIPELINE_PHASES, "pipeline" => pipeline.clone(), "phase" => phase.clone(), "outcome" => outcome)
        .increment(1);
    if let Some(elapsed) = elapsed_ms {
        histogram!(PIPELINE_PHASE_DURATION, "pipeline" => pipeline, "phase" => phase)
            .record(elapsed.max(0) as f64 / 1000.0);
    }
}
