//! What one `/ws` socket follows, and the messages each change makes.

use std::collections::HashMap;
use std::time::Duration;

use atelier_core::account::Principal;
use atelier_core::pipeline::RunEvent;
use atelier_core::task::{Task, TaskFilter, TaskStatus};
use atelier_core::{RunId, TaskId};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::error::ApiError;
use crate::api::pipelines::RunView;
use crate::api::socket::error_message;
use crate::api::views::TaskView;
use crate::app::AppState;

/// How often followed tasks are read again without a notice.
pub(super) const RECHECK: Duration = Duration::from_secs(5);

/// Tasks and runs one socket may follow at once.
const MAX_FOLLOWED: usize = 1000;

/// A client's message.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Request {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    id: Value,
    #[serde(default)]
    tasks: Vec<String>,
    #[serde(default)]
    runs: Vec<String>,
    #[serde(default)]
    all_tasks: bool,
}

pub(super) struct Watch {
    state: AppState,
    caller: Principal,
    /// Followed tasks by the version last sent (ended ones are let go).
    tasks: HashMap<TaskId, i64>,
    /// Followed runs by the revision last sent.
    runs: HashMap<RunId, i64>,
    all_tasks: bool,
}

impl Watch {
    pub(super) fn new(state: AppState, caller: Principal) -> Self {
        Self { state, caller, tasks: HashMap::new(), runs: HashMap::new(), all_tasks: false }
    }

    /// Whether anything is followed (a socket that follows nothing may go idle).
    pub(super) fn follows_anything(&self) -> bool {
        self.all_tasks || !self.tasks.is_empty() || !self.runs.is_empty()
    }

    /// A client message, answered (and for a subscription, the snapshots).
    pub(super) async fn handle(&mut self, text: &str) -> Vec<Value> {
        let request: Request = match serde_json::from_str(text) {
            Ok(request) => request,
            Err(error) => {
                let id = serde_json::from_str::<Value>(text).ok().and_then(|v| v.get("id").cloned());
                let refusal = ApiError::validation(
                    format!(
                        "a message is {{\"type\":\"subscribe\"|\"unsubscribe\",\"tasks\",\"runs\",\"all_tasks\"}}: {error}"
                    ),
                    json!({ "field": "type" }),
                );
                return vec![error_message(&id.unwrap_or(Value::Null), &refusal)];
            }
        };
        match request.kind.as_str() {
            "subscribe" => self.subscribe(request).await,
            "unsubscribe" => {
                for id in &request.tasks {
                    if let Ok(id) = id.parse::<TaskId>() {
                        self.tasks.remove(&id);
                    }
                }
                for id in &request.runs {
                    if let Some(id) = RunId::parse(id) {
                        self.runs.remove(&id);
                    }
                }
                if request.all_tasks {
                    self.all_tasks = false;
                }
                vec![self.ack(&request.id)]
            }
            other => {
                let refusal = ApiError::validation(
                    format!("type: {other:?} is not subscribe or unsubscribe"),
                    json!({ "field": "type" }),
                );
                vec![error_message(&request.id, &refusal)]
            }
        }
    }

    async fn subscribe(&mut self, request: Request) -> Vec<Value> {
        if self.tasks.len() + self.runs.len() + request.tasks.len() + request.runs.len() > MAX_FOLLOWED {
            let refusal = ApiError::validation(
                format!("a socket follows at most {MAX_FOLLOWED} tasks and runs"),
                json!({ "field": "tasks", "max": MAX_FOLLOWED }),
            );
            return vec![error_message(&request.id, &refusal)];
        }
        let mut snapshots = Vec::new();
        let (mut unknown_tasks, mut unknown_runs) = (Vec::new(), Vec::new());
        for text in &request.tasks {
            let task = match text.parse::<TaskId>() {
                Ok(id) => self.state.tasks.get(&self.caller, id).await.ok(),
                Err(_) => None,
            };
            match task {
                Some(task) => snapshots.push(self.task_message("snapshot", &task).await),
                None => unknown_tasks.push(text.clone()),
            }
        }
        for text in &request.runs {
            let run = match RunId::parse(text) {
                Some(id) => self.state.pipelines.get(&self.caller, &id).await.ok(),
                None => None,
            };
            match run {
                Some(run) => {
                    self.runs.insert(run.id.clone(), run.revision);
                    snapshots.push(json!({ "type": "snapshot", "run": RunView::new(&run, &self.state) }));
                }
                None => unknown_runs.push(text.clone()),
            }
        }
        if request.all_tasks && !self.all_tasks {
            self.all_tasks = true;
            snapshots.extend(self.own_unfinished_tasks().await);
        }
        let mut messages = vec![self.ack(&request.id)];
        if !unknown_tasks.is_empty() || !unknown_runs.is_empty() {
            let named: Vec<&String> = unknown_tasks.iter().chain(&unknown_runs).collect();
            let refusal = ApiError::not_found("task or run")
                .with_details(json!({ "tasks": unknown_tasks, "runs": unknown_runs }));
            let refusal = ApiError { message: format!("no such task or run of yours: {named:?}"), ..refusal };
            messages.push(error_message(&request.id, &refusal));
        }
        messages.extend(snapshots);
        messages
    }

    /// The caller's own tasks not ended yet, as snapshots (newest first, at most
    /// what a socket follows).
    async fn own_unfinished_tasks(&mut self) -> Vec<Value> {
        let filter = TaskFilter {
            statuses: TaskStatus::ALL.into_iter().filter(|status| !status.is_terminal()).collect(),
            owner: Some(self.caller.user_id.clone()),
            limit: u32::try_from(MAX_FOLLOWED.saturating_sub(self.tasks.len() + self.runs.len())).unwrap_or(0),
            ..TaskFilter::default()
        };
        if filter.limit == 0 {
            return Vec::new();
        }
        let Ok(page) = self.state.tasks.list(&self.caller, &filter).await else { return Vec::new() };
        let fresh: Vec<&Task> = page.tasks.iter().filter(|task| !self.tasks.contains_key(&task.id)).collect();
        let mut snapshots = Vec::new();
        for task in fresh {
            snapshots.push(self.task_message("snapshot", task).await);
        }
        snapshots
    }

    fn ack(&self, id: &Value) -> Value {
        let mut tasks: Vec<String> = self.tasks.keys().map(ToString::to_string).collect();
        let mut runs: Vec<String> = self.runs.keys().map(ToString::to_string).collect();
        tasks.sort();
        runs.sort();
        json!({ "type": "ack", "id": id, "tasks": tasks, "runs": runs, "all_tasks": self.all_tasks })
    }

    /// A task's message; it is followed from here on unless it has ended.
    async fn task_message(&mut self, kind: &str, task: &Task) -> Value {
        if task.status.is_terminal() {
            self.tasks.remove(&task.id);
        } else {
            self.tasks.insert(task.id, task.version);
        }
        let copies = self.state.tasks.input_copies(&[task]).await.unwrap_or_default();
        let view = TaskView::with_input_copies(task, &copies, atelier_core::time::now_millis());
        json!({ "type": kind, "task": view })
    }

    /// A notice about a task: an update if it is followed and changed, a snapshot if
    /// it is one of the caller's (with `all_tasks`) seen for the first time.
    pub(super) async fn task_changed(&mut self, id: TaskId) -> Vec<Value> {
        let last = self.tasks.get(&id).copied();
        if last.is_none() && !self.all_tasks {
            return Vec::new();
        }
        let Ok(task) = self.state.tasks.get(&self.caller, id).await else {
            // Deleted meanwhile, or not visible: nothing more to say of it.
            self.tasks.remove(&id);
            return Vec::new();
        };
        match last {
            Some(version) if version == task.version => Vec::new(),
            Some(_) => vec![self.task_message("update", &task).await],
            None if task.owner.as_ref() == Some(&self.caller.user_id) => {
                vec![self.task_message("snapshot", &task).await]
            }
            None => Vec::new(),
        }
    }

    /// Every followed task read again: a snapshot (after missed notices) or an
    /// update for each that changed.
    pub(super) async fn recheck_tasks(&mut self, missed: bool) -> Vec<Value> {
        let kind = if missed { "snapshot" } else { "update" };
        let followed: Vec<(TaskId, i64)> = self.tasks.iter().map(|(id, version)| (*id, *version)).collect();
        let mut messages = Vec::new();
        for (id, version) in followed {
            match self.state.tasks.get(&self.caller, id).await {
                Ok(task) if task.version != version => messages.push(self.task_message(kind, &task).await),
                Ok(_) => {}
                Err(_) => {
                    self.tasks.remove(&id);
                }
            }
        }
        if missed && self.all_tasks {
            messages.extend(self.own_unfinished_tasks().await);
        }
        messages
    }

    /// A run's event, passed on when the run is followed.
    pub(super) fn run_event(&mut self, event: RunEvent) -> Vec<Value> {
        if self.runs.contains_key(&event.run_id) { vec![event.body] } else { Vec::new() }
    }

    /// Every followed run as it is now, after missed events.
    pub(super) async fn recheck_runs(&mut self) -> Vec<Value> {
        let followed: Vec<RunId> = self.runs.keys().cloned().collect();
        let mut messages = Vec::new();
        for id in followed {
            if let Ok(run) = self.state.pipelines.get(&self.caller, &id).await {
                self.runs.insert(id, run.revision);
                messages.push(json!({ "type": "snapshot", "run": RunView::new(&run, &self.state) }));
            }
        }
        messages
    }
}
