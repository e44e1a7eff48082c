//! What every Kie API shares in the emulator: a task's life (waiting →
//! generating → success or fail over `steps_to_finish` polls, or on its own after
//! `callback_delay` when it has a callback URL), task faults, credits charged at
//! creation and refunded on failure (docs/providers/kie.md 1.1), the
//! record-info flow, and callbacks sent once, signed when a key is set. Also
//! the readers of create bodies' fields that every API uses.
//!
//! Each API (`market.rs`, `veo.rs`, `mj.rs`) imports this file and hands every
//! task it creates a [`Family`]: the record-info endpoint that reads it, and
//! how its records and callbacks look. This file imports none of them.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, Request};
use axum::response::Response;
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Map, Value, json};
use sha2::Sha256;

use super::{Endpoint, Inner, KieState, credit, envelope_error, envelope_ok, now_ms};
use crate::faults::{Fault, TaskFault};

/// The most a create body may weigh.
const BODY_LIMIT: usize = 10 * 1024 * 1024;

/// The API family a task belongs to, as its family hands it over: what the
/// family keeps of the task beyond the shared fields, and how its records and
/// callbacks look.
pub(super) trait Family: Send + Sync {
    /// The record-info endpoint that reads the family's tasks (each API keeps its own).
    fn record_info(&self) -> Endpoint;
    /// The record-info `data`, in the family's shape.
    fn record(&self, task: &Task) -> Value;
    /// The callback body once finished, in the family's shape.
    fn callback_body(&self, task: &Task, remained_credits: f64) -> Value;
    /// Whether a successful task also has a `1080p.mp4` (Veo's).
    fn has_1080p(&self) -> bool {
        false
    }
}

/// What a task renders.
#[derive(Debug, Clone)]
pub(super) enum Product {
    Images(ImageJob),
    /// Real mp4 files from the fixtures.
    Videos {
        count: u32,
        portrait: bool,
    },
}

impl Product {
    pub(super) fn count(&self) -> u32 {
        match self {
            Product::Images(job) => job.count,
            Product::Videos { count, .. } => *count,
        }
    }
}

/// An image result: drawn on request from these.
#[derive(Debug, Clone)]
pub(super) struct ImageJob {
    pub(super) width: u32,
    pub(super) height: u32,
    pub(super) count: u32,
    pub(super) prompt_hash: [u8; 32],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TaskState {
    Waiting,
    Generating,
    Success,
    Fail,
}

impl TaskState {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            TaskState::Waiting => "waiting",
            TaskState::Generating => "generating",
            TaskState::Success => "success",
            TaskState::Fail => "fail",
        }
    }

    pub(super) fn is_terminal(self) -> bool {
        matches!(self, TaskState::Success | TaskState::Fail)
    }

    /// Veo's and Midjourney's `successFlag`: 0 generating, 1 success, 3 generation failed.
    pub(super) fn success_flag(self) -> u8 {
        match self {
            TaskState::Waiting | TaskState::Generating => 0,
            TaskState::Success => 1,
            TaskState::Fail => 3,
        }
    }
}

/// One task of any API.
pub(super) struct Task {
    pub(super) id: String,
    pub(super) family: Box<dyn Family>,
    /// The create request, as the JSON string records echo (`param`, `paramJson`).
    pub(super) param: String,
    pub(super) product: Product,
    pub(super) cost: f64,
    pub(super) create_ms: i64,
    pub(super) update_ms: i64,
    pub(super) complete_ms: Option<i64>,
    polls: u32,
    pub(super) state: TaskState,
    fault: Option<Fault>,
    callback_url: Option<String>,
    callback_sent: bool,
    pub(super) base_url: String,
    /// Requests for Veo's 1080p file so far.
    pub(super) hd_requests: u32,
}

/// A task about to be created.
pub(super) struct NewTask {
    pub(super) id_prefix: &'static str,
    pub(super) family: Box<dyn Family>,
    pub(super) param: String,
    pub(super) product: Product,
    pub(super) cost: f64,
    pub(super) callback_url: Option<String>,
}

impl Task {
    /// One poll: the state moves on. True when the task just finished.
    fn poll(&mut self, steps_to_finish: u32, now: i64) -> bool {
        self.polls = self.polls.saturating_add(1);
        if self.state.is_terminal() {
            return false;
        }
        let next = if self.polls > steps_to_finish {
            self.final_state()
        } else if self.polls == 1 {
            TaskState::Waiting
        } else {
            TaskState::Generating
        };
        self.set_state(next, now)
    }

    /// Finishes now (the callback timer). True when the task just finished.
    fn finish(&mut self, now: i64) -> bool {
        if self.state.is_terminal() {
            return false;
        }
        let next = self.final_state();
        self.set_state(next, now)
    }

    fn final_state(&self) -> TaskState {
        match self.fault {
            Some(Fault::NeverFinish) => TaskState::Generating,
            Some(Fault::GenerationFailed) => TaskState::Fail,
            _ => TaskState::Success,
        }
    }

    fn set_state(&mut self, next: TaskState, now: i64) -> bool {
        if next == self.state {
            return false;
        }
        self.state = next;
        self.update_ms = now;
        if next.is_terminal() {
            self.complete_ms = Some(now);
        }
        next.is_terminal()
    }

    /// The result files: `/files/<id>/<n>.png` for images, `.mp4` for videos.
    pub(super) fn result_urls(&self) -> Vec<String> {
        let extension = match self.product {
            Product::Images(_) => "png",
            Product::Videos { .. } => "mp4",
        };
        (0..self.product.count()).map(|n| format!("{}/files/{}/{n}.{extension}", self.base_url, self.id)).collect()
    }

    /// The record-info `data`, in the task's API's shape.
    fn record(&self) -> Value {
        self.family.record(self)
    }

    /// The callback body once finished, in the task's API's shape.
    fn callback_body(&self, remained_credits: f64) -> Value {
        self.family.callback_body(self, remained_credits)
    }

    /// Whether a record-info of `endpoint` may read this task (each API keeps its own).
    fn readable_by(&self, endpoint: Endpoint) -> bool {
        self.family.record_info() == endpoint
    }
}

/// A create request's JSON object, or the 422 envelope to answer. Also admits
/// the request under the account's create rate limit (shared by every API).
pub(super) async fn read_create(
    state: &KieState,
    request: Request,
) -> Result<(Map<String, Value>, Option<Fault>, String), Response> {
    let config = &state.config;
    if !state.admit(&config.api_key, Endpoint::CreateTask, config.create_rate_limit) {
        let (max, window) = config.create_rate_limit.unwrap_or_default();
        return Err(envelope_error(
            429,
            &format!("Rate limit exceeded: at most {max} new generation requests per {} seconds", window.as_secs_f64()),
        ));
    }
    let task_fault = TaskFault::of(&request);
    let base_url = state.base_url(request.headers());
    let body = axum::body::to_bytes(request.into_body(), BODY_LIMIT)
        .await
        .map_err(|_| envelope_error(422, "request body is too large or unreadable"))?;
    match serde_json::from_slice(&body) {
        Ok(Value::Object(object)) => Ok((object, task_fault, base_url)),
        Ok(_) => Err(envelope_error(422, "request body must be a JSON object")),
        Err(e) => Err(envelope_error(422, &format!("request body is not valid JSON: {e}"))),
    }
}

/// `callBackUrl`: absent, empty, or an http(s) URL.
pub(super) fn callback_url(request: &Map<String, Value>) -> Result<Option<String>, String> {
    match request.get("callBackUrl") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(url)) if url.is_empty() => Ok(None),
        Some(Value::String(url)) if url.starts_with("http://") || url.starts_with("https://") => Ok(Some(url.clone())),
        Some(_) => Err("callBackUrl must be an http(s) URL".to_string()),
    }
}

/// Charges for and stores a task, starts its callback timer, and answers its id.
pub(super) fn create(state: &Arc<KieState>, new: NewTask, fault: Option<Fault>, base_url: String) -> Response {
    let now = now_ms();
    let id = format!("{}{now}_{}", new.id_prefix, state.next_sequence());
    let has_callback = new.callback_url.is_some();
    {
        let mut inner = state.inner();
        if !credit::charge(&mut inner, new.cost) {
            return envelope_error(402, "Insufficient credits");
        }
        let task = Task {
            id: id.clone(),
            family: new.family,
            param: new.param,
            product: new.product,
            cost: new.cost,
            create_ms: now,
            update_ms: now,
            complete_ms: None,
            polls: 0,
            state: TaskState::Waiting,
            fault: fault.filter(Fault::is_task_fault),
            callback_url: new.callback_url,
            callback_sent: false,
            base_url,
            hd_requests: 0,
        };
        inner.tasks.insert(id.clone(), task);
        inner.stats.tasks_created += 1;
    }
    tracing::debug!(task.id = %id, "kie emulator: task created");
    if has_callback {
        let state = state.clone();
        let id = id.clone();
        tokio::spawn(async move {
            tokio::time::sleep(state.config.callback_delay).await;
            let delivery = {
                let mut inner = state.inner();
                let finished = inner.tasks.get_mut(&id).is_some_and(|task| task.finish(now_ms()));
                if finished { on_finished(&mut inner, &id) } else { None }
            };
            if let Some(delivery) = delivery {
                deliver(state, delivery).await;
            }
        });
    }
    envelope_ok(json!({"taskId": id}))
}

/// A record-info of any API: `GET …?taskId=`; each poll moves the task on.
pub(super) async fn record_info(state: Arc<KieState>, request: Request, endpoint: Endpoint) -> Response {
    let config = &state.config;
    if !state.admit(&config.api_key, Endpoint::RecordInfo, config.record_info_rate_limit) {
        return envelope_error(429, "Rate limit exceeded");
    }
    let query = Query::<HashMap<String, String>>::try_from_uri(request.uri()).map(|q| q.0).unwrap_or_default();
    let Some(id) = query.get("taskId").filter(|id| !id.is_empty()) else {
        return envelope_error(400, "taskId parameter is required");
    };
    let task_fault = TaskFault::of(&request);

    let (data, delivery) = {
        let mut inner = state.inner();
        let Some(task) = inner.tasks.get_mut(id).filter(|task| task.readable_by(endpoint)) else {
            return envelope_error(404, "Task not found");
        };
        if let Some(fault) = task_fault.filter(|f| f.is_task_fault() && !task.state.is_terminal()) {
            task.fault = Some(fault);
        }
        let finished = task.poll(config.steps_to_finish, now_ms());
        let delivery = if finished { on_finished(&mut inner, id) } else { None };
        let data = inner.tasks.get(id).map(Task::record).unwrap_or(Value::Null);
        (data, delivery)
    };
    if let Some(delivery) = delivery {
        tokio::spawn(deliver(state.clone(), delivery));
    }
    envelope_ok(data)
}

/// A callback to send.
pub(super) struct Delivery {
    url: String,
    task_id: String,
    body: Value,
}

/// Settles a task that just finished: refunds a failure, and hands back the
/// callback to send (once).
fn on_finished(inner: &mut Inner, id: &str) -> Option<Delivery> {
    let (failed, cost) = inner.tasks.get(id).map(|t| (t.state == TaskState::Fail, t.cost))?;
    if failed {
        credit::refund(inner, cost);
    }
    let remained = inner.credits;
    let task = inner.tasks.get_mut(id)?;
    if task.callback_sent {
        return None;
    }
    let url = task.callback_url.clone()?;
    task.callback_sent = true;
    Some(Delivery { url, task_id: task.id.clone(), body: task.callback_body(remained) })
}

/// POSTs a callback, signed when a key is configured. Failures are logged and counted, never retried.
async fn deliver(state: Arc<KieState>, delivery: Delivery) {
    let mut request = state.http.post(&delivery.url).json(&delivery.body);
    if let Some(key) = &state.config.webhook_hmac_key {
        let timestamp = (now_ms() / 1000).to_string();
        let signature = webhook_signature(key, &delivery.task_id, &timestamp);
        request = request.header("X-Webhook-Timestamp", timestamp).header("X-Webhook-Signature", signature);
    }
    match request.send().await {
        Ok(response) if response.status().is_success() => state.count_callback(true),
        Ok(response) => {
            tracing::warn!(task.id = %delivery.task_id, status = %response.status(), "kie emulator: callback refused");
            state.count_callback(false);
        }
        Err(e) => {
            tracing::warn!(task.id = %delivery.task_id, error = %e, "kie emulator: callback failed");
            state.count_callback(false);
        }
    }
}

/// `base64(HMAC-SHA256(key, taskId + "." + timestamp))`, the `X-Webhook-Signature`
/// of a callback whose `X-Webhook-Timestamp` is `timestamp` (Unix seconds).
pub fn webhook_signature(key: &str, task_id: &str, timestamp: &str) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(key.as_bytes()) {
        Ok(mac) => mac,
        // HMAC takes keys of any length; this arm is never taken.
        Err(_) => return String::new(),
    };
    mac.update(task_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// A field's value unless absent or null.
pub(super) fn present<'a>(input: &'a Map<String, Value>, field: &str) -> Option<&'a Value> {
    input.get(field).filter(|v| !v.is_null())
}

/// An optional string field of at most `max` characters.
pub(super) fn optional_string<'a>(
    input: &'a Map<String, Value>,
    field: &str,
    max: usize,
) -> Result<Option<&'a str>, String> {
    match present(input, field) {
        None => Ok(None),
        Some(Value::String(s)) if s.chars().count() <= max => Ok(Some(s)),
        Some(Value::String(_)) => Err(format!("{field} must be at most {max} characters")),
        Some(other) => Err(format!("{field} must be a string, got {other}")),
    }
}

/// An optional string field whose value must be one of `allowed`.
pub(super) fn optional_choice<'a>(
    input: &'a Map<String, Value>,
    field: &str,
    allowed: &[&str],
) -> Result<Option<&'a str>, String> {
    match optional_string(input, field, 64)? {
        Some(value) if !allowed.contains(&value) => {
            Err(format!("{field} must be one of {}, got `{value}`", allowed.join(", ")))
        }
        other => Ok(other),
    }
}

/// An optional integer field within `min..=max`.
pub(super) fn optional_int(input: &Map<String, Value>, field: &str, min: i64, max: i64) -> Result<Option<i64>, String> {
    match present(input, field) {
        None => Ok(None),
        Some(Value::Number(n)) => match n.as_i64() {
            Some(v) if (min..=max).contains(&v) => Ok(Some(v)),
            _ => Err(format!("{field} must be an integer from {min} to {max}, got {n}")),
        },
        Some(other) => Err(format!("{field} must be an integer, got {other}")),
    }
}

/// An optional boolean field.
pub(super) fn optional_bool(input: &Map<String, Value>, field: &str) -> Result<Option<bool>, String> {
    match present(input, field) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(other) => Err(format!("{field} must be a boolean, got {other}")),
    }
}

/// An optional list of http(s) URLs (input images).
pub(super) fn optional_urls(input: &Map<String, Value>, field: &str) -> Result<Vec<String>, String> {
    match present(input, field) {
        None => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match item.as_str() {
                Some(url) if url.starts_with("http://") || url.starts_with("https://") => Ok(url.to_string()),
                _ => Err(format!("{field} must hold http(s) URLs, got {item}")),
            })
            .collect(),
        Some(other) => Err(format!("{field} must be an array of URLs, got {other}")),
    }
}

/// Fields outside `known` are refused, naming the first.
pub(super) fn refuse_unknown(input: &Map<String, Value>, known: &[&str], what: &str) -> Result<(), String> {
    match input.keys().find(|k| !known.contains(&k.as_str())) {
        Some(unknown) => Err(format!("{unknown} is not a parameter of {what} (known: {})", known.join(", "))),
        None => Ok(()),
    }
}
