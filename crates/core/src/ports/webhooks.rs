//! Webhooks: subscriptions, task targets and delivery rows (the store), and the
//! HTTP sending (the server's, through its SSRF guard).

use async_trait::async_trait;

use crate::error::Result;
use crate::ids::{MessageId, TaskId, UserId, WebhookId};
use crate::time::Millis;
use crate::webhook::{AttemptOutcome, Delivery, DeliveryPage, Subscription, TaskTarget};

/// A task that ended, as the crash sweep reads them.
#[derive(Debug, Clone, PartialEq)]
pub struct EndedTask {
    pub id: TaskId,
    pub owner: Option<UserId>,
    pub ended_at: Millis,
}

#[async_trait]
pub trait WebhookStore: Send + Sync + 'static {
    async fn create_subscription(&self, subscription: &Subscription) -> Result<()>;
    async fn get_subscription(&self, id: &WebhookId) -> Result<Option<Subscription>>;
    /// One owner's subscriptions, oldest first.
    async fn list_subscriptions(&self, owner: &UserId) -> Result<Vec<Subscription>>;
    /// Writes url, events, secret, description, enabled and updated_at; false when gone.
    async fn update_subscription(&self, subscription: &Subscription) -> Result<bool>;
    /// Deletes it and its deliveries; false when it was gone.
    async fn delete_subscription(&self, id: &WebhookId) -> Result<bool>;

    /// The owner's secret for task webhooks, made (`candidate`) on first use.
    async fn default_secret(&self, owner: &UserId, candidate: &str) -> Result<String>;
    async fn set_task_target(&self, target: &TaskTarget) -> Result<()>;
    async fn task_target(&self, task: TaskId) -> Result<Option<TaskTarget>>;
    /// Whether any task has a webhook of its own (so events of tasks whose owner
    /// has no subscription are worth a look).
    async fn any_task_targets(&self) -> Result<bool>;

    /// Inserts a delivery; false (and nothing written) when its dedupe key exists.
    async fn enqueue_delivery(&self, delivery: &Delivery) -> Result<bool>;
    /// Takes up to `limit` pending deliveries due at `now` (oldest due first),
    /// moving their due time to `lease_until` under `token`: another dispatcher
    /// does not take them until then, and they are due again if this one dies.
    async fn claim_deliveries(
        &self,
        now: Millis,
        lease_until: Millis,
        token: &str,
        limit: u32,
    ) -> Result<Vec<Delivery>>;
    /// Records an attempt of a claimed delivery: delivered, due again at
    /// `retry_at`, or failed when `retry_at` is `None`. False when the lease no
    /// longer holds (nothing written).
    async fn record_attempt(
        &self,
        id: &MessageId,
        token: &str,
        outcome: &AttemptOutcome,
        retry_at: Option<Millis>,
        now: Millis,
    ) -> Result<bool>;
    async fn get_delivery(&self, id: &MessageId) -> Result<Option<Delivery>>;
    /// A subscription's deliveries (or, with `None`, the owner's task webhooks'),
    /// newest first, older than `before`.
    async fn list_deliveries(
        &self,
        owner: &UserId,
        subscription: Option<&WebhookId>,
        before: Option<&MessageId>,
        limit: u32,
    ) -> Result<DeliveryPage>;
    /// Makes a delivery pending and due at `now` with its attempts counted from
    /// zero (its id, and so its `webhook-id`, stays); false when gone.
    async fn resend_delivery(&self, id: &MessageId, now: Millis) -> Result<bool>;

    /// Owners with an enabled subscription.
    async fn subscribed_owners(&self) -> Result<Vec<UserId>>;
    /// Tasks that ended (completed, failed, cancelled, expired) after `after`
    /// (an end time, and the last id read at that time), oldest end first, at most
    /// `limit`: what the crash sweep reads, by the index on `completed_at`.
    async fn tasks_ended_after(&self, after: (Millis, Option<TaskId>), limit: u32) -> Result<Vec<EndedTask>>;
    /// The sweep's durable cursor: the end time it has looked up to.
    async fn sweep_cursor(&self) -> Result<Option<Millis>>;
    async fn set_sweep_cursor(&self, at: Millis) -> Result<()>;
}

/// Sends one signed message; the server's, with reqwest through its SSRF guard.
#[async_trait]
pub trait WebhookSender: Send + Sync + 'static {
    /// Whether a URL may be sent to (http(s), a public address unless allowlisted);
    /// the reason when not.
    async fn vet(&self, url: &str) -> std::result::Result<(), String>;
    /// POSTs `body` with these headers; never fails: what happened is the outcome.
    async fn send(&self, url: &str, headers: &[(&'static str, String)], body: &[u8]) -> AttemptOutcome;
}
