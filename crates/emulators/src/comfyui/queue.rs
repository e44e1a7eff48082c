//! The prompt queue and its routes, as ComfyUI's `server.py` and
//! `execution.PromptQueue` have them (confirmed):
//!
//! - `POST /prompt` `{"prompt":{…},"client_id","prompt_id","number","front","extra_data"}`:
//!   the prompt's number is `number` when given (as a float), else the
//!   server's counter (from 0 at each start, taken even when the prompt is
//!   then refused), negated with `"front": true`; the lowest number runs
//!   first. Without `prompt`: 400 `no_prompt`; a body that is not JSON, or a
//!   `prompt` that is not an object, raises (500). The checks (`validate.rs`)
//!   refuse with 400; a queued prompt answers `{"prompt_id","number","node_errors"}`.
//!   `prompt_id` is the one sent (`str()` of it) or a new UUID; `client_id`
//!   goes into `extra_data`, with `create_time` (ms); the Comfy.org keys
//!   (`auth_token_comfy_org`, `api_key_comfy_org`) are dropped from it.
//! - `GET /prompt`: `{"exec_info":{"queue_remaining":n}}` (queued + running).
//! - `GET /queue`: `{"queue_running":[item],"queue_pending":[items]}`, an item
//!   being `[number, prompt_id, prompt, extra_data, outputs_to_execute]`.
//! - `POST /queue` `{"clear":true}` empties the queue, `{"delete":[ids]}`
//!   removes those queued (not the running one): 200, empty.
//! - `POST /interrupt` (optionally `{"prompt_id"}`: then only when that one
//!   runs): the running prompt stops at its next step or node and ends with
//!   `execution_interrupted`; 200, empty. The flag is cleared as the next
//!   prompt starts.
//! - `GET /history[?max_items=n&offset=m]`: the finished prompts (the last
//!   `max_items` without an offset); `GET /history/{prompt_id}`: `{}` until it
//!   finished, then `{id:{"prompt":item,"outputs":{…},"status":{"status_str",
//!   "completed","messages"},"meta":{…}}}`; `POST /history` `{"clear"}` /
//!   `{"delete":[ids]}`.
//!
//! Unconfirmed: `queue_pending` is sorted (ComfyUI shows its heap's order).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Json;
use axum::extract::{Path, Query, Request, State};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::errors;
use super::python;
use super::validate::{Checked, validate};
use super::{BODY_LIMIT, ComfyUiState, execute};
use crate::faults::{Fault, TaskFault};

/// The extra data ComfyUI keeps out of the queue and the history.
const SENSITIVE_EXTRA_DATA_KEYS: [&str; 2] = ["auth_token_comfy_org", "api_key_comfy_org"];

/// One queued prompt.
#[derive(Debug, Clone)]
pub(super) struct Queued {
    /// Its number as the API shows it (an int, or the float sent).
    pub(super) number: Value,
    key: f64,
    seq: u64,
    pub(super) prompt_id: String,
    pub(super) prompt: Map<String, Value>,
    pub(super) extra_data: Map<String, Value>,
    pub(super) outputs: Vec<String>,
    /// The task fault it carries (marked on submission or on a history poll).
    pub(super) fault: Option<Fault>,
}

impl Queued {
    /// `[number, prompt_id, prompt, extra_data, outputs_to_execute]`.
    pub(super) fn item(&self) -> Value {
        json!([self.number, self.prompt_id, self.prompt, self.extra_data, self.outputs])
    }

    /// The WebSocket client its messages go to.
    pub(super) fn client_id(&self) -> Option<String> {
        self.extra_data.get("client_id").and_then(Value::as_str).map(str::to_owned)
    }

    fn runs_before(&self, other: &Queued) -> bool {
        self.key.total_cmp(&other.key).then(self.seq.cmp(&other.seq)).is_lt()
    }
}

/// The prompt executing.
#[derive(Debug, Clone)]
pub(super) struct Running {
    /// Tells one execution from the next.
    pub(super) run: u64,
    pub(super) queued: Queued,
    /// The node executing (for a WebSocket that reconnects).
    pub(super) last_node: Option<String>,
}

impl ComfyUiState {
    /// Takes the next prompt off the queue (lowest number first) and makes it
    /// the running one; clears the interrupt flag.
    pub(super) fn start_next(&self) -> Option<Running> {
        let running = {
            let mut inner = self.inner();
            if inner.running.is_some() {
                return None;
            }
            let next = (0..inner.pending.len())
                .reduce(|best, i| if inner.pending[i].runs_before(&inner.pending[best]) { i } else { best })?;
            let queued = inner.pending.remove(next);
            let run = self.next_seq.fetch_add(1, Ordering::Relaxed);
            let running = Running { run, queued, last_node: None };
            inner.states.insert(running.queued.prompt_id.clone(), "running");
            inner.interrupt = false;
            inner.running = Some(running.clone());
            inner.stats.running = 1;
            inner.stats.max_concurrency = inner.stats.max_concurrency.max(1);
            running
        };
        self.queue_updated();
        Some(running)
    }

    fn wake_worker(self: &Arc<Self>) {
        if !self.worker_started.swap(true, Ordering::SeqCst) {
            tokio::spawn(execute::worker(self.clone()));
        }
        self.queued.notify_one();
    }
}

/// `POST /prompt`.
pub(super) async fn post_prompt(State(state): State<Arc<ComfyUiState>>, request: Request) -> Response {
    let fault = TaskFault::of(&request).filter(Fault::is_task_fault);
    let Ok(bytes) = axum::body::to_bytes(request.into_body(), BODY_LIMIT).await else { return errors::internal() };
    let body = match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(body)) => body,
        // `"prompt" in json_data` on a list or a string: no prompt there.
        Ok(Value::Array(_) | Value::String(_)) => return no_prompt(&state),
        // Anything else raises (json.decoder.JSONDecodeError, TypeError).
        _ => return errors::internal(),
    };

    let number = match body.get("number") {
        Some(given) => match python::to_float(given) {
            Ok(n) => (json!(n), n),
            Err(_) => return errors::internal(),
        },
        None => {
            let mut inner = state.inner();
            let mut n = inner.number;
            if body.get("front").is_some_and(truthy) {
                n = -n;
            }
            inner.number += 1;
            (json!(n), n as f64)
        }
    };
    let Some(prompt) = body.get("prompt") else { return no_prompt(&state) };
    let Some(prompt) = prompt.as_object() else { return errors::internal() };
    let prompt_id = match body.get("prompt_id") {
        Some(id) => python::str_of(id),
        None => state.uuid4(),
    };

    let checked = {
        let lists = super::lists(&state);
        let inner = state.inner();
        validate(prompt, &lists, &inner.files)
    };
    let (prompt, outputs, node_errors) = match checked {
        Checked::Valid { prompt, outputs, node_errors } => (prompt, outputs, node_errors),
        Checked::Refused { error, node_errors } => {
            state.inner().stats.prompts_rejected += 1;
            tracing::debug!(error = %error, "comfyui emulator: invalid prompt");
            return errors::prompt_refused(error, node_errors);
        }
    };
    let mut extra_data = body.get("extra_data").and_then(Value::as_object).cloned().unwrap_or_default();
    if let Some(client_id) = body.get("client_id") {
        extra_data.insert("client_id".into(), client_id.clone());
    }
    for key in SENSITIVE_EXTRA_DATA_KEYS {
        extra_data.remove(key);
    }
    extra_data.insert("create_time".into(), json!(chrono::Utc::now().timestamp_millis()));

    let queued = Queued {
        number: number.0.clone(),
        key: number.1,
        seq: state.next_seq.fetch_add(1, Ordering::Relaxed),
        prompt_id: prompt_id.clone(),
        prompt,
        extra_data,
        outputs,
        fault,
    };
    {
        let mut inner = state.inner();
        inner.states.insert(prompt_id.clone(), "pending");
        inner.pending.push(queued);
        inner.stats.prompts_queued += 1;
    }
    state.queue_updated();
    state.wake_worker();
    tracing::debug!(prompt_id = %prompt_id, "comfyui emulator: prompt queued");
    Json(json!({ "prompt_id": prompt_id, "number": number.0, "node_errors": node_errors })).into_response()
}

fn no_prompt(state: &ComfyUiState) -> Response {
    state.inner().stats.prompts_rejected += 1;
    let error = errors::prompt_error("no_prompt", "No prompt provided", "No prompt provided");
    errors::prompt_refused(error, json!({}))
}

/// Python's truth of a JSON value.
fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// `GET /prompt`.
pub(super) async fn get_prompt(State(state): State<Arc<ComfyUiState>>) -> Response {
    Json(json!({ "exec_info": { "queue_remaining": state.queue_remaining() } })).into_response()
}

/// `GET /queue`.
pub(super) async fn get_queue(State(state): State<Arc<ComfyUiState>>) -> Response {
    let inner = state.inner();
    let running: Vec<Value> = inner.running.iter().map(|r| r.queued.item()).collect();
    let mut pending: Vec<&Queued> = inner.pending.iter().collect();
    pending.sort_by(|a, b| a.key.total_cmp(&b.key).then(a.seq.cmp(&b.seq)));
    let pending: Vec<Value> = pending.into_iter().map(Queued::item).collect();
    Json(json!({ "queue_running": running, "queue_pending": pending })).into_response()
}

/// A JSON body, or `None` when it is not JSON (the server's `request.json()` raises).
async fn json_body(request: Request) -> Option<Value> {
    let bytes = axum::body::to_bytes(request.into_body(), BODY_LIMIT).await.ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// `POST /queue`.
pub(super) async fn post_queue(State(state): State<Arc<ComfyUiState>>, request: Request) -> Response {
    let Some(Value::Object(body)) = json_body(request).await else { return errors::internal() };
    let mut changed = false;
    {
        let mut inner = state.inner();
        let mut removed: Vec<String> = Vec::new();
        if body.get("clear").is_some_and(truthy) {
            removed.extend(inner.pending.drain(..).map(|q| q.prompt_id));
            changed = true;
        }
        if let Some(ids) = body.get("delete").and_then(Value::as_array) {
            for id in ids {
                if let Some(at) = inner.pending.iter().position(|q| Some(q.prompt_id.as_str()) == id.as_str()) {
                    removed.push(inner.pending.remove(at).prompt_id);
                    changed = true;
                }
            }
        }
        for id in removed {
            inner.states.insert(id, "deleted");
            inner.stats.prompts_deleted += 1;
        }
    }
    if changed {
        state.queue_updated();
    }
    errors::empty(200)
}

/// `POST /interrupt`.
pub(super) async fn interrupt(State(state): State<Arc<ComfyUiState>>, request: Request) -> Response {
    let body = json_body(request).await.unwrap_or(Value::Null);
    let target = body.get("prompt_id").filter(|id| truthy(id)).map(python::str_of);
    {
        let mut inner = state.inner();
        let applies = match &target {
            Some(id) => inner.running.as_ref().is_some_and(|r| &r.queued.prompt_id == id),
            None => true,
        };
        if applies {
            inner.interrupt = true;
        }
    }
    state.interrupted.notify_waiters();
    errors::empty(200)
}

/// `GET /history`.
pub(super) async fn get_history(
    State(state): State<Arc<ComfyUiState>>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let parse = |name: &str| -> Result<Option<i64>, ()> {
        query.get(name).map(|v| v.trim().parse::<i64>().map_err(|_| ())).transpose()
    };
    // `int("abc")` raises: 500.
    let (Ok(max_items), Ok(offset)) = (parse("max_items"), parse("offset")) else { return errors::internal() };
    let inner = state.inner();
    let mut offset = offset.unwrap_or(-1);
    if offset < 0
        && let Some(max) = max_items
    {
        offset = inner.history.len() as i64 - max;
    }
    let mut out = Map::new();
    for (i, (id, entry)) in inner.history.iter().enumerate() {
        if i as i64 >= offset {
            out.insert(id.clone(), entry.clone());
            if max_items.is_some_and(|max| out.len() as i64 >= max) {
                break;
            }
        }
    }
    Json(Value::Object(out)).into_response()
}

/// `GET /history/{prompt_id}`; a task fault marks that prompt while it is queued or running.
pub(super) async fn get_history_item(
    State(state): State<Arc<ComfyUiState>>,
    Path(prompt_id): Path<String>,
    request: Request,
) -> Response {
    let fault = TaskFault::of(&request);
    let mut inner = state.inner();
    if let Some(fault @ (Fault::GenerationFailed | Fault::NeverFinish | Fault::Oom)) = fault {
        let running = inner.running.as_mut().map(|r| &mut r.queued).filter(|q| q.prompt_id == prompt_id);
        match running {
            Some(queued) => queued.fault = Some(fault),
            None => {
                if let Some(queued) = inner.pending.iter_mut().find(|q| q.prompt_id == prompt_id) {
                    queued.fault = Some(fault);
                }
            }
        }
    }
    let body = match inner.history.iter().find(|(id, _)| *id == prompt_id) {
        Some((id, entry)) => json!({ id.clone(): entry }),
        None => json!({}),
    };
    Json(body).into_response()
}

/// `POST /history`.
pub(super) async fn post_history(State(state): State<Arc<ComfyUiState>>, request: Request) -> Response {
    let Some(Value::Object(body)) = json_body(request).await else { return errors::internal() };
    let mut inner = state.inner();
    if body.get("clear").is_some_and(truthy) {
        inner.history.clear();
    }
    if let Some(ids) = body.get("delete").and_then(Value::as_array) {
        for id in ids.iter().filter_map(Value::as_str) {
            inner.history.retain(|(kept, _)| kept != id);
        }
    }
    errors::empty(200)
}
