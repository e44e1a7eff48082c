//! Subscriptions, the events they name, and delivery rows.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ids::{MessageId, TaskId, UserId, WebhookId};
use crate::time::Millis;

/// The most subscriptions one user keeps.
pub const MAX_SUBSCRIPTIONS: usize = 20;
/// How much of a receiver's answer a delivery keeps (bytes, cut at a character).
pub const EXCERPT_BYTES: usize = 1024;
/// The longest URL accepted.
pub const MAX_URL_CHARS: usize = 2048;

/// What a webhook tells about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum EventType {
    #[serde(rename = "task.created")]
    TaskCreated,
    #[serde(rename = "task.started")]
    TaskStarted,
    /// At most one a second per task.
    #[serde(rename = "task.progress")]
    TaskProgress,
    #[serde(rename = "task.completed")]
    TaskCompleted,
    /// Failed, or expired before a worker took it.
    #[serde(rename = "task.failed")]
    TaskFailed,
    #[serde(rename = "task.cancelled")]
    TaskCancelled,
    #[serde(rename = "pipeline.phase_complete")]
    PipelinePhaseComplete,
    #[serde(rename = "pipeline.waiting_input")]
    PipelineWaitingInput,
    /// A ping (`POST /webhooks/{id}/test`); never subscribed to, always sent.
    #[serde(rename = "webhook.test")]
    Test,
}

impl EventType {
    /// Every event a subscription may name.
    pub const SUBSCRIBABLE: [EventType; 8] = [
        Self::TaskCreated,
        Self::TaskStarted,
        Self::TaskProgress,
        Self::TaskCompleted,
        Self::TaskFailed,
        Self::TaskCancelled,
        Self::PipelinePhaseComplete,
        Self::PipelineWaitingInput,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::TaskCreated => "task.created",
            Self::TaskStarted => "task.started",
            Self::TaskProgress => "task.progress",
            Self::TaskCompleted => "task.completed",
            Self::TaskFailed => "task.failed",
            Self::TaskCancelled => "task.cancelled",
            Self::PipelinePhaseComplete => "pipeline.phase_complete",
            Self::PipelineWaitingInput => "pipeline.waiting_input",
            Self::Test => "webhook.test",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::SUBSCRIBABLE.into_iter().chain([Self::Test]).find(|event| event.as_str() == text)
    }

    /// A task's last word: these are swept after a crash, the others are live only.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::TaskCompleted | Self::TaskFailed | Self::TaskCancelled)
    }

    /// The events Replicate's `webhook_events_filter` names: `start` (created and
    /// started), `output` and `logs` (progress: our tasks report progress, not
    /// partial outputs or logs), `completed` (completed, failed, cancelled).
    pub fn from_replicate(name: &str) -> Option<&'static [EventType]> {
        match name {
            "start" => Some(&[Self::TaskCreated, Self::TaskStarted]),
            "output" | "logs" => Some(&[Self::TaskProgress]),
            "completed" => Some(&[Self::TaskCompleted, Self::TaskFailed, Self::TaskCancelled]),
            _ => None,
        }
    }
}

/// A user's endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct Subscription {
    pub id: WebhookId,
    pub owner: UserId,
    pub url: String,
    /// Sorted, no repeats; never empty.
    pub events: Vec<EventType>,
    /// `whsec_<base64>`: shown once when made (and when rotated).
    pub secret: String,
    pub description: Option<String>,
    pub enabled: bool,
    pub created_at: Millis,
    pub updated_at: Millis,
}

impl Subscription {
    pub fn wants(&self, event: EventType) -> bool {
        self.enabled && self.events.contains(&event)
    }
}

/// A task's own webhook (`webhook` on `POST /tasks`, as Replicate has it), signed
/// with its owner's default secret.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskTarget {
    pub task_id: TaskId,
    pub owner: UserId,
    pub url: String,
    /// Sorted, no repeats; every task event when the request named no filter.
    pub events: Vec<EventType>,
    pub created_at: Millis,
}

/// Where a delivery goes.
#[derive(Debug, Clone, PartialEq)]
pub enum Destination {
    Subscription(WebhookId),
    /// A task's own webhook (its URL is on the delivery).
    Task(TaskId),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    /// Waiting for its (next) attempt.
    Pending,
    /// A receiver answered 2xx.
    Delivered,
    /// Every attempt failed (the schedule spans about a day); a resend tries again.
    Failed,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "pending" => Some(Self::Pending),
            "delivered" => Some(Self::Delivered),
            "failed" => Some(Self::Failed),
            _ => None,
        }
    }
}

/// One message to one endpoint, and how its attempts went. Its id is the
/// `webhook-id` header: the same on every attempt, so receivers deduplicate.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub id: MessageId,
    pub owner: UserId,
    pub destination: Destination,
    pub url: String,
    pub event: EventType,
    /// `{type, timestamp, data}` as Standard Webhooks recommends: sent as is.
    pub payload: Value,
    /// Unique: a second delivery of the same event to the same endpoint inserts
    /// nothing (the live relay and the crash sweep may both see an event).
    pub dedupe_key: String,
    pub status: DeliveryStatus,
    pub attempts: u32,
    /// When the next attempt is due (while pending). A claim moves it to the
    /// lease's end, so a dispatcher that dies leaves it due again.
    pub next_attempt_at: Millis,
    pub last_status: Option<u16>,
    /// The last attempt's error when no answer came (a timeout, a refused address).
    pub last_error: Option<String>,
    pub latency_ms: Option<u64>,
    /// The first [`EXCERPT_BYTES`] of the last answer.
    pub answer_excerpt: Option<String>,
    pub created_at: Millis,
    pub updated_at: Millis,
    pub delivered_at: Option<Millis>,
}

impl Delivery {
    /// A new message, due now, with a fresh `webhook-id`.
    pub fn pending(
        owner: UserId,
        destination: Destination,
        url: String,
        event: EventType,
        payload: Value,
        dedupe_key: String,
        now: Millis,
    ) -> Self {
        Self {
            id: MessageId::new(),
            owner,
            destination,
            url,
            event,
            payload,
            dedupe_key,
            status: DeliveryStatus::Pending,
            attempts: 0,
            next_attempt_at: now,
            last_status: None,
            last_error: None,
            latency_ms: None,
            answer_excerpt: None,
            created_at: now,
            updated_at: now,
            delivered_at: None,
        }
    }
}

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptOutcome {
    pub status: Option<u16>,
    pub error: Option<String>,
    pub latency_ms: u64,
    pub excerpt: Option<String>,
}

impl AttemptOutcome {
    pub fn succeeded(&self) -> bool {
        self.status.is_some_and(|status| (200..300).contains(&status))
    }
}

/// A page of deliveries, newest first.
#[derive(Debug, Clone, Default)]
pub struct DeliveryPage {
    pub deliveries: Vec<Delivery>,
    pub next_cursor: Option<MessageId>,
}

/// Cuts an answer to [`EXCERPT_BYTES`] at a character boundary.
pub fn excerpt(text: &str) -> String {
    if text.len() <= EXCERPT_BYTES {
        return text.to_owned();
    }
    let mut end = EXCERPT_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}
