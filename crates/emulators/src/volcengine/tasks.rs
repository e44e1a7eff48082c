//! The async flow (the providers' protocol notes, 4.5): `CVSync2AsyncSubmitTask`
//! checks the request and answers `data: {"task_id": "<digits>"}`;
//! `CVSync2AsyncGetResult` (`req_key`, `task_id`, optional `req_json`) answers
//! `data: {"binary_data_base64", "image_urls", "status"}`.
//!
//! A task's status moves on with each GetResult: `in_queue` at the first poll,
//! `generating` up to `steps_to_finish`, then `done` with its images (base64,
//! or URLs with `req_json.return_url`). A task id never issued, issued for
//! another `req_key`, or older than `task_ttl` (the service forgets tasks after
//! 12 hours) answers `not_found` in a success envelope.
//!
//! Task faults, on the submit or on a poll: `generation_failed` ends the task
//! `done` with the configured failure code in the outer envelope (50511 by
//! default, with the code's HTTP status, `data.status` still `done`);
//! `never_finish` keeps it `generating`; `expired` makes it answer `expired`
//! from the next poll on, finished or not.

use std::time::Instant;

use serde_json::{Map, Value, json};

use super::envelope::{self, ACCESS_DENIED};
use super::params::{self, Job, ReqKey, Style};
use super::{Refusal, VolcState};
use crate::faults::Fault;

/// A task's state. `Failed` is `done` on the wire (the outer code says it failed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TaskStatus {
    InQueue,
    Generating,
    Done,
    Failed,
    Expired,
}

impl TaskStatus {
    /// `data.status`.
    fn wire(self) -> &'static str {
        match self {
            TaskStatus::InQueue => "in_queue",
            TaskStatus::Generating => "generating",
            TaskStatus::Done | TaskStatus::Failed => "done",
            TaskStatus::Expired => "expired",
        }
    }

    /// Its name in `/__emulator/stats` (`failed` told apart from `done`).
    pub(super) fn stats_name(self) -> &'static str {
        match self {
            TaskStatus::Failed => "failed",
            other => other.wire(),
        }
    }

    fn is_terminal(self) -> bool {
        matches!(self, TaskStatus::Done | TaskStatus::Failed | TaskStatus::Expired)
    }
}

/// One submitted task.
pub(super) struct Task {
    job: Job,
    pub(super) created: Instant,
    polls: u32,
    pub(super) status: TaskStatus,
    fault: Option<Fault>,
}

impl Task {
    /// A poll: the status moves on.
    fn poll(&mut self, steps_to_finish: u32) {
        self.polls = self.polls.saturating_add(1);
        if self.status.is_terminal() {
            return;
        }
        self.status = if self.fault == Some(Fault::Expired) {
            TaskStatus::Expired
        } else if self.polls > steps_to_finish {
            match self.fault {
                Some(Fault::NeverFinish) => TaskStatus::Generating,
                Some(Fault::GenerationFailed) => TaskStatus::Failed,
                _ => TaskStatus::Done,
            }
        } else if self.polls == 1 {
            TaskStatus::InQueue
        } else {
            TaskStatus::Generating
        };
    }

    /// Marks the task with a fault handed by the middleware: `expired` always,
    /// the others only while it runs.
    fn mark(&mut self, fault: Fault) {
        match fault {
            Fault::Expired if self.status != TaskStatus::Failed => {
                self.fault = Some(fault);
                self.status = TaskStatus::Expired;
            }
            Fault::GenerationFailed | Fault::NeverFinish if !self.status.is_terminal() => self.fault = Some(fault),
            _ => {}
        }
    }
}

/// The `req_key` of a body, which must be served with `style`.
pub(super) fn req_key(
    fields: &Map<String, Value>,
    style: Style,
    action: &str,
    started: Instant,
) -> Result<ReqKey, Refusal> {
    let name = params::string(fields, "req_key")
        .map_err(|e| envelope::invalid(&e, started))?
        .ok_or_else(|| envelope::invalid("req_key is required", started))?;
    let Some(key) = ReqKey::parse(name) else {
        return Err(envelope::error(ACCESS_DENIED, Some(&format!("req_key `{name}` is not served")), started).into());
    };
    if key.style() != style {
        let other = match key.style() {
            Style::Sync => "CVProcess",
            Style::Async => "CVSync2AsyncSubmitTask and CVSync2AsyncGetResult",
        };
        return Err(envelope::error(
            ACCESS_DENIED,
            Some(&format!("req_key `{name}` is served by {other}, not {action}")),
            started,
        )
        .into());
    }
    Ok(key)
}

/// `CVSync2AsyncSubmitTask`.
pub(super) fn submit(
    state: &VolcState,
    fields: &Map<String, Value>,
    fault: Option<Fault>,
    started: Instant,
) -> Result<Value, Refusal> {
    let key = req_key(fields, Style::Async, "CVSync2AsyncSubmitTask", started)?;
    let job = params::check(key, fields).map_err(|e| envelope::invalid(&e, started))?;
    let id = state.next_task_id();
    let task = Task {
        job,
        created: Instant::now(),
        polls: 0,
        status: TaskStatus::InQueue,
        fault: fault.filter(Fault::is_task_fault),
    };
    let mut inner = state.inner();
    inner.tasks.insert(id.clone(), task);
    inner.stats.tasks_created += 1;
    *inner.stats.by_req_key.entry(key.as_str()).or_default() += 1;
    tracing::debug!(task.id = %id, req_key = key.as_str(), "volcengine emulator: task submitted");
    Ok(json!({ "task_id": id }))
}

/// `CVSync2AsyncGetResult`: each poll moves the task on.
pub(super) async fn get_result(
    state: &VolcState,
    fields: &Map<String, Value>,
    fault: Option<Fault>,
    base_url: &str,
    started: Instant,
) -> Result<Value, Refusal> {
    let key = req_key(fields, Style::Async, "CVSync2AsyncGetResult", started)?;
    let task_id = params::string(fields, "task_id")
        .map_err(|e| envelope::invalid(&e, started))?
        .filter(|id| !id.is_empty())
        .ok_or_else(|| envelope::invalid("task_id is required", started))?;
    let output = params::req_json(fields).map_err(|e| envelope::invalid(&e, started))?;
    let status_only = |status: &str| json!({ "binary_data_base64": null, "image_urls": null, "status": status });

    let (status, job) = {
        let mut inner = state.inner();
        let ttl = state.config.task_ttl;
        inner.tasks.retain(|_, task| task.created.elapsed() < ttl);
        let Some(task) = inner.tasks.get_mut(task_id).filter(|task| task.job.req_key == key) else {
            return Ok(status_only("not_found"));
        };
        if let Some(fault) = fault {
            task.mark(fault);
        }
        task.poll(state.config.steps_to_finish);
        (task.status, task.job.clone())
    };
    match status {
        TaskStatus::InQueue | TaskStatus::Generating | TaskStatus::Expired => Ok(status_only(status.wire())),
        TaskStatus::Failed => Err(envelope::error_with_data(
            state.config.generation_failed_code,
            None,
            status_only(status.wire()),
            started,
        )
        .into()),
        TaskStatus::Done => {
            let mut data = super::images::result_fields(state, &job, task_id, &output, base_url)
                .await
                .map_err(|e| envelope::error(envelope::INTERNAL_ERROR, Some(&e), started))?;
            data["status"] = json!(status.wire());
            state.record_output(&output);
            Ok(data)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn task(fault: Option<Fault>) -> Task {
        let fields = json!({ "prompt": "x", "width": 1024, "height": 1024 });
        let job = params::check(ReqKey::JimengT2iV40, fields.as_object().expect("object")).expect("job");
        Task { job, created: Instant::now(), polls: 0, status: TaskStatus::InQueue, fault }
    }

    fn statuses(task: &mut Task, polls: usize) -> Vec<&'static str> {
        (0..polls)
            .map(|_| {
                task.poll(2);
                task.status.stats_name()
            })
            .collect()
    }

    #[test]
    fn tasks_move_on_with_each_poll() {
        assert_eq!(statuses(&mut task(None), 4), ["in_queue", "generating", "done", "done"]);
        assert_eq!(statuses(&mut task(Some(Fault::GenerationFailed)), 3), ["in_queue", "generating", "failed"]);
        assert_eq!(statuses(&mut task(Some(Fault::NeverFinish)), 5)[4], "generating");
        assert_eq!(statuses(&mut task(Some(Fault::Expired)), 1), ["expired"]);
        let mut done = task(None);
        statuses(&mut done, 3);
        done.mark(Fault::GenerationFailed);
        assert_eq!(statuses(&mut done, 1), ["done"], "a finished task keeps its result");
        done.mark(Fault::Expired);
        assert_eq!(statuses(&mut done, 1), ["expired"], "but its result may expire");
    }
}
