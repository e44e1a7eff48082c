//! The market jobs API (protocols.md 1.2): `POST /api/v1/jobs/createTask`,
//! `GET /api/v1/jobs/recordInfo?taskId=`, and the market callback.
//!
//! Models are a closed list ([`MarketModel`]); each validates its own `input`
//! and says what it produces. Imagen 4 only so far; Sora 2 slots in as more
//! variants with their own validation.
//!
//! A task moves `waiting` → `generating` → `success` over
//! `steps_to_finish` recordInfo polls. A task with a `callBackUrl` also
//! finishes on its own after `callback_delay`; whichever comes first sends the
//! callback, once.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, Request, State};
use axum::response::Response;
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::faults::{Fault, TaskFault};
use super::{Endpoint, Inner, KieState, credit, envelope_error, envelope_ok, now_ms};

/// The most a createTask body may weigh.
const BODY_LIMIT: usize = 10 * 1024 * 1024;

/// The market models the emulator knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MarketModel {
    /// `google/imagen4-fast`.
    Imagen4Fast,
    /// `google/imagen4`.
    Imagen4,
    /// `google/imagen4-ultra`.
    Imagen4Ultra,
}

impl MarketModel {
    /// Every known model.
    pub const ALL: [MarketModel; 3] = [MarketModel::Imagen4Fast, MarketModel::Imagen4, MarketModel::Imagen4Ultra];

    /// The model for a wire id.
    pub fn from_id(id: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.id() == id)
    }

    /// The wire id.
    pub fn id(self) -> &'static str {
        match self {
            MarketModel::Imagen4Fast => "google/imagen4-fast",
            MarketModel::Imagen4 => "google/imagen4",
            MarketModel::Imagen4Ultra => "google/imagen4-ultra",
        }
    }

    /// Credits one task costs.
    pub fn cost(self) -> f64 {
        match self {
            MarketModel::Imagen4Fast => 4.0,
            MarketModel::Imagen4 => 8.0,
            MarketModel::Imagen4Ultra => 12.0,
        }
    }

    fn task_id_prefix(self) -> &'static str {
        "task_google_"
    }

    /// Checks `input` as the protocol's table describes; the error names the field.
    fn validate(self, input: &Map<String, Value>) -> Result<ImageJob, String> {
        let (known, aspect_ratios, default_aspect): (&[&str], &[&str], &str) = match self {
            MarketModel::Imagen4Fast => (
                &["prompt", "negative_prompt", "aspect_ratio", "num_images", "seed"],
                &["1:1", "16:9", "9:16", "3:4", "4:3"],
                "16:9",
            ),
            // `num_images` on google/imagen4 is unconfirmed: accepted, and one image is made.
            MarketModel::Imagen4 => (
                &["prompt", "negative_prompt", "aspect_ratio", "num_images", "seed"],
                &["1:1", "16:9", "9:16", "3:4", "4:3", "auto"],
                "1:1",
            ),
            MarketModel::Imagen4Ultra => {
                (&["prompt", "negative_prompt", "aspect_ratio", "seed"], &["1:1", "16:9", "9:16", "3:4", "4:3"], "1:1")
            }
        };
        if let Some(unknown) = input.keys().find(|k| !known.contains(&k.as_str())) {
            return Err(format!("{unknown} is not a parameter of {} (known: {})", self.id(), known.join(", ")));
        }

        let prompt = optional_string(input, "prompt", 5000)?.ok_or("prompt is required")?;
        if prompt.trim().is_empty() {
            return Err("prompt must not be empty".to_string());
        }
        let negative = optional_string(input, "negative_prompt", 5000)?.unwrap_or_default();

        let aspect = optional_string(input, "aspect_ratio", 16)?.unwrap_or(default_aspect);
        if !aspect_ratios.contains(&aspect) {
            return Err(format!("aspect_ratio must be one of {}, got `{aspect}`", aspect_ratios.join(", ")));
        }

        let num_images = match present(input, "num_images") {
            None => 1,
            Some(Value::String(n)) if matches!(n.as_str(), "1" | "2" | "3" | "4") => {
                n.parse::<u32>().map_err(|_| "num_images must be one of \"1\", \"2\", \"3\", \"4\"")?
            }
            Some(Value::String(n)) => {
                return Err(format!("num_images must be one of \"1\", \"2\", \"3\", \"4\", got \"{n}\""));
            }
            Some(other) => {
                return Err(format!("num_images must be a string, one of \"1\", \"2\", \"3\", \"4\", got {other}"));
            }
        };
        let count = if self == MarketModel::Imagen4Fast { num_images } else { 1 };

        let seed = match (self, present(input, "seed")) {
            (_, None) => String::new(),
            (MarketModel::Imagen4Fast, Some(Value::Number(n))) if n.is_i64() || n.is_u64() => n.to_string(),
            (MarketModel::Imagen4Fast, Some(other)) => return Err(format!("seed must be an integer, got {other}")),
            (_, Some(Value::String(s))) if s.chars().count() <= 500 => s.clone(),
            (_, Some(Value::String(_))) => return Err("seed must be at most 500 characters".to_string()),
            (_, Some(other)) => return Err(format!("seed must be a string (at most 500 characters), got {other}")),
        };

        let (width, height) = match aspect {
            "16:9" => (640, 360),
            "9:16" => (360, 640),
            "4:3" => (512, 384),
            "3:4" => (384, 512),
            _ => (512, 512),
        };
        let mut hasher = Sha256::new();
        for part in [self.id(), prompt, negative, &seed] {
            hasher.update((part.len() as u64).to_le_bytes());
            hasher.update(part.as_bytes());
        }
        Ok(ImageJob { width, height, count, prompt_hash: hasher.finalize().into() })
    }
}

/// Credits one task of `model` (a wire id) costs, if the emulator knows the model.
pub fn model_cost(model: &str) -> Option<f64> {
    MarketModel::from_id(model).map(MarketModel::cost)
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
fn present<'a>(input: &'a Map<String, Value>, field: &str) -> Option<&'a Value> {
    input.get(field).filter(|v| !v.is_null())
}

fn optional_string<'a>(input: &'a Map<String, Value>, field: &str, max: usize) -> Result<Option<&'a str>, String> {
    match present(input, field) {
        None => Ok(None),
        Some(Value::String(s)) if s.chars().count() <= max => Ok(Some(s)),
        Some(Value::String(_)) => Err(format!("{field} must be at most {max} characters")),
        Some(other) => Err(format!("{field} must be a string, got {other}")),
    }
}

/// What a task renders.
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

    fn is_terminal(self) -> bool {
        matches!(self, TaskState::Success | TaskState::Fail)
    }
}

/// One market task.
pub(super) struct Task {
    pub(super) id: String,
    model: MarketModel,
    param: String,
    pub(super) job: ImageJob,
    cost: f64,
    create_ms: i64,
    update_ms: i64,
    complete_ms: Option<i64>,
    polls: u32,
    pub(super) state: TaskState,
    fault: Option<Fault>,
    callback_url: Option<String>,
    callback_sent: bool,
    base_url: String,
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

    fn result_urls(&self) -> Vec<String> {
        (0..self.job.count).map(|n| format!("{}/files/{}/{n}.png", self.base_url, self.id)).collect()
    }

    /// The recordInfo `data`.
    fn record(&self) -> Value {
        let success = self.state == TaskState::Success;
        let failed = self.state == TaskState::Fail;
        let result_json = if success { json!({"resultUrls": self.result_urls()}).to_string() } else { String::new() };
        json!({
            "taskId": self.id,
            "model": self.model.id(),
            "state": self.state.as_str(),
            "param": self.param,
            "resultJson": result_json,
            "failCode": if failed { "500" } else { "" },
            "failMsg": if failed { "Internal server error" } else { "" },
            "costTime": if success { self.complete_ms.map(|c| c - self.create_ms) } else { None },
            "completeTime": self.complete_ms,
            "createTime": self.create_ms,
            "updateTime": self.update_ms,
        })
    }

    /// The callback body once finished.
    fn callback_body(&self, remained_credits: f64) -> Value {
        let mut data = self.record();
        let consumed = if self.state == TaskState::Success { self.cost } else { 0.0 };
        if let Some(data) = data.as_object_mut() {
            data.insert("consumeCredits".into(), credit::credits_value(consumed));
            data.insert("remainedCredits".into(), credit::credits_value(remained_credits));
        }
        if self.state == TaskState::Success {
            json!({"code": 200, "msg": "Playground task completed successfully.", "data": data})
        } else {
            json!({"code": 501, "msg": "Playground task failed.", "data": data})
        }
    }
}

/// `POST /api/v1/jobs/createTask`.
pub(super) async fn create_task(State(state): State<Arc<KieState>>, request: Request) -> Response {
    let config = &state.config;
    if !state.admit(&config.api_key, Endpoint::CreateTask, config.create_rate_limit) {
        let (max, window) = config.create_rate_limit.unwrap_or_default();
        return envelope_error(
            429,
            &format!("Rate limit exceeded: at most {max} new generation requests per {} seconds", window.as_secs_f64()),
        );
    }
    let task_fault = request.extensions().get::<TaskFault>().map(|f| f.0.clone());
    let base_url = state.base_url(request.headers());
    let body = match axum::body::to_bytes(request.into_body(), BODY_LIMIT).await {
        Ok(body) => body,
        Err(_) => return envelope_error(422, "request body is too large or unreadable"),
    };
    let request: Value = match serde_json::from_slice(&body) {
        Ok(Value::Object(request)) => Value::Object(request),
        Ok(_) => return envelope_error(422, "request body must be a JSON object"),
        Err(e) => return envelope_error(422, &format!("request body is not valid JSON: {e}")),
    };

    let model = match request.get("model") {
        None | Some(Value::Null) => return envelope_error(422, "model is required"),
        Some(Value::String(model)) => match MarketModel::from_id(model) {
            Some(model) => model,
            None => return envelope_error(422, &format!("model `{model}` is not supported")),
        },
        Some(_) => return envelope_error(422, "model must be a string"),
    };
    let callback_url = match request.get("callBackUrl") {
        None | Some(Value::Null) => None,
        Some(Value::String(url)) if url.is_empty() => None,
        Some(Value::String(url)) if url.starts_with("http://") || url.starts_with("https://") => Some(url.clone()),
        Some(_) => return envelope_error(422, "callBackUrl must be an http(s) URL"),
    };
    let job = match request.get("input") {
        None | Some(Value::Null) => return envelope_error(422, "input is required"),
        Some(Value::Object(input)) => match model.validate(input) {
            Ok(job) => job,
            Err(msg) => return envelope_error(422, &msg),
        },
        Some(_) => return envelope_error(422, "input must be an object"),
    };

    let now = now_ms();
    let id = format!("{}{now}_{}", model.task_id_prefix(), state.next_sequence());
    {
        let mut inner = state.inner();
        if !credit::charge(&mut inner, model.cost()) {
            return envelope_error(402, "Insufficient credits");
        }
        let task = Task {
            id: id.clone(),
            model,
            param: request.to_string(),
            job,
            cost: model.cost(),
            create_ms: now,
            update_ms: now,
            complete_ms: None,
            polls: 0,
            state: TaskState::Waiting,
            fault: task_fault.filter(Fault::is_task_fault),
            callback_url: callback_url.clone(),
            callback_sent: false,
            base_url,
        };
        inner.tasks.insert(id.clone(), task);
        inner.stats.tasks_created += 1;
    }
    tracing::debug!(task.id = %id, model = model.id(), "kie emulator: task created");

    if callback_url.is_some() {
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

/// `GET /api/v1/jobs/recordInfo?taskId=`.
pub(super) async fn record_info(State(state): State<Arc<KieState>>, request: Request) -> Response {
    let config = &state.config;
    if !state.admit(&config.api_key, Endpoint::RecordInfo, config.record_info_rate_limit) {
        return envelope_error(429, "Rate limit exceeded");
    }
    let query = Query::<HashMap<String, String>>::try_from_uri(request.uri()).map(|q| q.0).unwrap_or_default();
    let Some(id) = query.get("taskId").filter(|id| !id.is_empty()) else {
        return envelope_error(400, "taskId parameter is required");
    };
    let task_fault = request.extensions().get::<TaskFault>().map(|f| f.0.clone());

    let (data, delivery) = {
        let mut inner = state.inner();
        let Some(task) = inner.tasks.get_mut(id) else {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn input(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    #[test]
    fn imagen4_fast_num_images_is_a_string() {
        let fast = MarketModel::Imagen4Fast;
        let job = fast.validate(&input(json!({"prompt": "a cat", "num_images": "3"}))).expect("valid");
        assert_eq!((job.count, job.width, job.height), (3, 640, 360));
        for bad in [json!(2), json!("5"), json!("0"), json!(true)] {
            let err = fast.validate(&input(json!({"prompt": "a cat", "num_images": bad}))).expect_err("invalid");
            assert!(err.contains("num_images"), "{err}");
        }
    }

    #[test]
    fn seeds_are_integers_on_fast_and_strings_elsewhere() {
        assert!(MarketModel::Imagen4Fast.validate(&input(json!({"prompt": "x", "seed": 42}))).is_ok());
        let err = MarketModel::Imagen4Fast.validate(&input(json!({"prompt": "x", "seed": "42"}))).expect_err("string");
        assert!(err.contains("seed"));
        assert!(MarketModel::Imagen4.validate(&input(json!({"prompt": "x", "seed": "42"}))).is_ok());
        let err = MarketModel::Imagen4Ultra.validate(&input(json!({"prompt": "x", "seed": 42}))).expect_err("number");
        assert!(err.contains("seed"));
        let long = "9".repeat(501);
        assert!(MarketModel::Imagen4.validate(&input(json!({"prompt": "x", "seed": long}))).is_err());
    }

    #[test]
    fn prompts_aspect_ratios_and_unknown_fields() {
        let err = MarketModel::Imagen4.validate(&input(json!({}))).expect_err("no prompt");
        assert!(err.contains("prompt"));
        let long = "a".repeat(5001);
        assert!(MarketModel::Imagen4.validate(&input(json!({"prompt": long}))).is_err());
        let job = MarketModel::Imagen4.validate(&input(json!({"prompt": "x", "aspect_ratio": "auto"}))).expect("auto");
        assert_eq!((job.width, job.height, job.count), (512, 512, 1));
        let err = MarketModel::Imagen4Ultra
            .validate(&input(json!({"prompt": "x", "aspect_ratio": "auto"})))
            .expect_err("auto is imagen4 only");
        assert!(err.contains("aspect_ratio"));
        let err = MarketModel::Imagen4Ultra
            .validate(&input(json!({"prompt": "x", "num_images": "2"})))
            .expect_err("ultra has no num_images");
        assert!(err.contains("num_images"));
        let job = MarketModel::Imagen4.validate(&input(json!({"prompt": "x", "num_images": "2"}))).expect("accepted");
        assert_eq!(job.count, 1);
    }

    #[test]
    fn signature_matches_a_known_value() {
        // HMAC-SHA256("key", "The quick brown fox jumps over the lazy dog"), the RFC-style test vector.
        let sig = webhook_signature("key", "The quick brown fox jumps over the lazy dog", "");
        // Our message appends "." + timestamp, so compute the reference by hand instead:
        let mut mac = Hmac::<Sha256>::new_from_slice(b"key").expect("key");
        mac.update(b"The quick brown fox jumps over the lazy dog.");
        let expected = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        assert_eq!(sig, expected);
        let mut mac = Hmac::<Sha256>::new_from_slice(b"key").expect("key");
        mac.update(b"The quick brown fox jumps over the lazy dog");
        assert_eq!(
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes()),
            "97yD9DBThCSxMpjmqm+xQ+9NWaFJRhdZl0edvC0aPNg="
        );
    }
}
