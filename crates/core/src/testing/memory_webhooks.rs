//! A webhook store in memory, keeping the contracts the databases keep (unique
//! dedupe keys, leases on claims), for the core's tests.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;

use crate::error::Result;
use crate::ids::{MessageId, TaskId, UserId, WebhookId};
use crate::ports::{EndedTask, TaskStore, WebhookStore};
use crate::task::TaskFilter;
use crate::time::Millis;
use crate::webhook::{AttemptOutcome, Delivery, DeliveryPage, DeliveryStatus, Destination, Subscription, TaskTarget};

#[derive(Default)]
struct State {
    subscriptions: BTreeMap<WebhookId, Subscription>,
    secrets: HashMap<UserId, String>,
    targets: HashMap<TaskId, TaskTarget>,
    deliveries: BTreeMap<MessageId, (Delivery, Option<String>)>,
    cursor: Option<Millis>,
}

/// Reads ended tasks from a task store (the databases read their own table).
pub struct MemoryWebhooks {
    state: Mutex<State>,
    tasks: Arc<dyn TaskStore>,
}

impl MemoryWebhooks {
    pub fn new(tasks: Arc<dyn TaskStore>) -> Self {
        Self { state: Mutex::default(), tasks }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Makes every pending delivery due now (time passing, for retries).
    pub fn make_due(&self) {
        for (delivery, _) in self.state().deliveries.values_mut() {
            if delivery.status == DeliveryStatus::Pending {
                delivery.next_attempt_at = 0;
            }
        }
    }

    /// Every delivery, oldest first (for assertions).
    pub fn all_deliveries(&self) -> Vec<Delivery> {
        self.state().deliveries.values().map(|(delivery, _)| delivery.clone()).collect()
    }
}

#[async_trait]
impl WebhookStore for MemoryWebhooks {
    async fn create_subscription(&self, subscription: &Subscription) -> Result<()> {
        self.state().subscriptions.insert(subscription.id.clone(), subscription.clone());
        Ok(())
    }

    async fn get_subscription(&self, id: &WebhookId) -> Result<Option<Subscription>> {
        Ok(self.state().subscriptions.get(id).cloned())
    }

    async fn list_subscriptions(&self, owner: &UserId) -> Result<Vec<Subscription>> {
        Ok(self.state().subscriptions.values().filter(|s| &s.owner == owner).cloned().collect())
    }

    async fn update_subscription(&self, subscription: &Subscription) -> Result<bool> {
        let mut state = self.state();
        let Some(stored) = state.subscriptions.get_mut(&subscription.id) else { return Ok(false) };
        *stored = subscription.clone();
        Ok(true)
    }

    async fn delete_subscription(&self, id: &WebhookId) -> Result<bool> {
        let mut state = self.state();
        let gone = state.subscriptions.remove(id).is_some();
        state.deliveries.retain(|_, (delivery, _)| delivery.destination != Destination::Subscription(id.clone()));
        Ok(gone)
    }

    async fn default_secret(&self, owner: &UserId, candidate: &str) -> Result<String> {
        Ok(self.state().secrets.entry(owner.clone()).or_insert_with(|| candidate.to_owned()).clone())
    }

    async fn set_task_target(&self, target: &TaskTarget) -> Result<()> {
        self.state().targets.insert(target.task_id, target.clone());
        Ok(())
    }

    async fn task_target(&self, task: TaskId) -> Result<Option<TaskTarget>> {
        Ok(self.state().targets.get(&task).cloned())
    }

    async fn any_task_targets(&self) -> Result<bool> {
        Ok(!self.state().targets.is_empty())
    }

    async fn enqueue_delivery(&self, delivery: &Delivery) -> Result<bool> {
        let mut state = self.state();
        if state.deliveries.values().any(|(stored, _)| stored.dedupe_key == delivery.dedupe_key) {
            return Ok(false);
        }
        state.deliveries.insert(delivery.id.clone(), (delivery.clone(), None));
        Ok(true)
    }

    async fn claim_deliveries(
        &self,
        now: Millis,
        lease_until: Millis,
        token: &str,
        limit: u32,
    ) -> Result<Vec<Delivery>> {
        let mut state = self.state();
        let mut due: Vec<&mut (Delivery, Option<String>)> = state
            .deliveries
            .values_mut()
            .filter(|(delivery, _)| delivery.status == DeliveryStatus::Pending && delivery.next_attempt_at <= now)
            .collect();
        due.sort_by_key(|(delivery, _)| delivery.next_attempt_at);
        Ok(due
            .into_iter()
            .take(limit as usize)
            .map(|(delivery, lease)| {
                delivery.next_attempt_at = lease_until;
                *lease = Some(token.to_owned());
                delivery.clone()
            })
            .collect())
    }

    async fn record_attempt(
        &self,
        id: &MessageId,
        token: &str,
        outcome: &AttemptOutcome,
        retry_at: Option<Millis>,
        now: Millis,
    ) -> Result<bool> {
        let mut state = self.state();
        let Some((delivery, lease)) = state.deliveries.get_mut(id) else { return Ok(false) };
        if lease.as_deref() != Some(token) {
            return Ok(false);
        }
        *lease = None;
        delivery.attempts += 1;
        delivery.last_status = outcome.status;
        delivery.last_error = outcome.error.clone();
        delivery.latency_ms = Some(outcome.latency_ms);
        delivery.answer_excerpt = outcome.excerpt.clone();
        delivery.updated_at = now;
        if outcome.succeeded() {
            delivery.status = DeliveryStatus::Delivered;
            delivery.delivered_at = Some(now);
        } else if let Some(at) = retry_at {
            delivery.next_attempt_at = at;
        } else {
            delivery.status = DeliveryStatus::Failed;
        }
        Ok(true)
    }

    async fn get_delivery(&self, id: &MessageId) -> Result<Option<Delivery>> {
        Ok(self.state().deliveries.get(id).map(|(delivery, _)| delivery.clone()))
    }

    async fn list_deliveries(
        &self,
        owner: &UserId,
        subscription: Option<&WebhookId>,
        before: Option<&MessageId>,
        limit: u32,
    ) -> Result<DeliveryPage> {
        let state = self.state();
        let mut deliveries: Vec<Delivery> = state
            .deliveries
            .values()
            .rev()
            .map(|(delivery, _)| delivery)
            .filter(|delivery| &delivery.owner == owner && before.is_none_or(|before| &delivery.id < before))
            .filter(|delivery| match (subscription, &delivery.destination) {
                (Some(id), Destination::Subscription(of)) => id == of,
                (None, Destination::Task(_)) => true,
                _ => false,
            })
            .take(limit as usize + 1)
            .cloned()
            .collect();
        let next_cursor = (deliveries.len() > limit as usize).then(|| {
            deliveries.truncate(limit as usize);
            deliveries.last().map(|delivery| delivery.id.clone())
        });
        Ok(DeliveryPage { deliveries, next_cursor: next_cursor.flatten() })
    }

    async fn resend_delivery(&self, id: &MessageId, now: Millis) -> Result<bool> {
        let mut state = self.state();
        let Some((delivery, lease)) = state.deliveries.get_mut(id) else { return Ok(false) };
        *lease = None;
        delivery.status = DeliveryStatus::Pending;
        delivery.attempts = 0;
        delivery.next_attempt_at = now;
        delivery.updated_at = now;
        Ok(true)
    }

    async fn subscribed_owners(&self) -> Result<Vec<UserId>> {
        let mut owners: Vec<UserId> =
            self.state().subscriptions.values().filter(|s| s.enabled).map(|s| s.owner.clone()).collect();
        owners.sort();
        owners.dedup();
        Ok(owners)
    }

    async fn tasks_ended_after(&self, after: (Millis, Option<TaskId>), limit: u32) -> Result<Vec<EndedTask>> {
        let page = self.tasks.list_tasks(&TaskFilter { limit: 10_000, ..TaskFilter::default() }).await?;
        let mut ended: Vec<EndedTask> = page
            .tasks
            .into_iter()
            .filter(|task| task.status.is_terminal())
            .filter_map(|task| Some(EndedTask { id: task.id, owner: task.owner, ended_at: task.completed_at? }))
            .filter(|task| (task.ended_at, Some(task.id)) > (after.0, after.1))
            .collect();
        ended.sort_by_key(|task| (task.ended_at, task.id));
        ended.truncate(limit as usize);
        Ok(ended)
    }

    async fn sweep_cursor(&self) -> Result<Option<Millis>> {
        Ok(self.state().cursor)
    }

    async fn set_sweep_cursor(&self, at: Millis) -> Result<()> {
        self.state().cursor = Some(at);
        Ok(())
    }
}
