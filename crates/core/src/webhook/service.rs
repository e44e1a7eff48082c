//! What clients do with webhooks: their subscriptions (each user sees only their
//! own, as with locations; another's is "not found"), the deliveries' log, a
//! resend, a test ping, and the secret their tasks' own webhooks are signed with.

use std::sync::Arc;

use serde_json::json;

use super::model::{MAX_SUBSCRIPTIONS, MAX_URL_CHARS};
use super::relay::Relay;
use super::signing::{new_secret, secret_key};
use super::{Delivery, DeliveryPage, Destination, EventType, Subscription, TaskTarget};
use crate::account::Principal;
use crate::error::{CoreError, Result};
use crate::ids::{MessageId, TaskId, WebhookId};
use crate::pipeline::events::timestamp;
use crate::ports::{WebhookSender, WebhookStore};
use crate::task::require_write;
use crate::time::now_millis;

/// A subscription as a client asks for it.
#[derive(Debug, Clone, Default)]
pub struct NewSubscription {
    pub url: String,
    /// Event names; empty is every event.
    pub events: Vec<String>,
    pub description: Option<String>,
    /// A `whsec_…` of the client's own; one is made when absent.
    pub secret: Option<String>,
}

/// A change to a subscription: absent fields stay.
#[derive(Debug, Clone, Default)]
pub struct SubscriptionChange {
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    pub description: Option<Option<String>>,
    pub enabled: Option<bool>,
    /// A new secret is made (shown in the answer once).
    pub rotate_secret: bool,
}

pub struct WebhookService {
    store: Arc<dyn WebhookStore>,
    sender: Arc<dyn WebhookSender>,
    relay: Arc<Relay>,
}

impl WebhookService {
    pub fn new(store: Arc<dyn WebhookStore>, sender: Arc<dyn WebhookSender>, relay: Arc<Relay>) -> Self {
        Self { store, sender, relay }
    }

    pub fn relay(&self) -> &Arc<Relay> {
        &self.relay
    }

    pub async fn create(&self, caller: &Principal, request: NewSubscription) -> Result<Subscription> {
        require_write(caller)?;
        let url = self.vet_url("url", &request.url).await?;
        let events = parse_events("events", &request.events)?;
        let secret = match request.secret {
            Some(secret) => {
                secret_key(&secret)?;
                secret
            }
            None => new_secret(),
        };
        if self.store.list_subscriptions(&caller.user_id).await?.len() >= MAX_SUBSCRIPTIONS {
            return Err(CoreError::Conflict {
                code: "too_many_webhooks",
                message: format!("a user keeps at most {MAX_SUBSCRIPTIONS} webhooks; delete one first"),
            });
        }
        let now = now_millis();
        let subscription = Subscription {
            id: WebhookId::new(),
            owner: caller.user_id.clone(),
            url,
            events,
            secret,
            description: clean_description(request.description)?,
            enabled: true,
            created_at: now,
            updated_at: now,
        };
        self.store.create_subscription(&subscription).await?;
        self.relay.subscriptions_changed();
        Ok(subscription)
    }

    /// The caller's own subscriptions, oldest first.
    pub async fn list(&self, caller: &Principal) -> Result<Vec<Subscription>> {
        self.store.list_subscriptions(&caller.user_id).await
    }

    /// A subscription of the caller's; another user's is not found, even for an
    /// admin: a secret is its owner's alone.
    pub async fn get(&self, caller: &Principal, id: &WebhookId) -> Result<Subscription> {
        self.store
            .get_subscription(id)
            .await?
            .filter(|subscription| subscription.owner == caller.user_id)
            .ok_or(CoreError::NotFound { what: "webhook" })
    }

    pub async fn update(&self, caller: &Principal, id: &WebhookId, change: SubscriptionChange) -> Result<Subscription> {
        let mut subscription = self.get(caller, id).await?;
        require_write(caller)?;
        if let Some(url) = change.url {
            subscription.url = self.vet_url("url", &url).await?;
        }
        if let Some(events) = change.events {
            subscription.events = parse_events("events", &events)?;
        }
        if let Some(description) = change.description {
            subscription.description = clean_description(description)?;
        }
        if let Some(enabled) = change.enabled {
            subscription.enabled = enabled;
        }
        if change.rotate_secret {
            subscription.secret = new_secret();
        }
        subscription.updated_at = now_millis();
        if !self.store.update_subscription(&subscription).await? {
            return Err(CoreError::NotFound { what: "webhook" });
        }
        self.relay.subscriptions_changed();
        Ok(subscription)
    }

    pub async fn delete(&self, caller: &Principal, id: &WebhookId) -> Result<()> {
        self.get(caller, id).await?;
        require_write(caller)?;
        if !self.store.delete_subscription(id).await? {
            return Err(CoreError::NotFound { what: "webhook" });
        }
        self.relay.subscriptions_changed();
        Ok(())
    }

    /// A subscription's deliveries, newest first; with `None`, the caller's
    /// tasks' own webhooks'.
    pub async fn deliveries(
        &self,
        caller: &Principal,
        id: Option<&WebhookId>,
        before: Option<&MessageId>,
        limit: u32,
    ) -> Result<DeliveryPage> {
        if let Some(id) = id {
            self.get(caller, id).await?;
        }
        self.store.list_deliveries(&caller.user_id, id, before, limit.clamp(1, 200)).await
    }

    /// A delivery of the caller's.
    pub async fn delivery(&self, caller: &Principal, id: &MessageId) -> Result<Delivery> {
        self.store
            .get_delivery(id)
            .await?
            .filter(|delivery| delivery.owner == caller.user_id)
            .ok_or(CoreError::NotFound { what: "delivery" })
    }

    /// Sends a delivery again, now, under the same `webhook-id` (a receiver that
    /// has it already ignores it), with a fresh schedule of attempts.
    pub async fn resend(&self, caller: &Principal, id: &MessageId) -> Result<Delivery> {
        self.delivery(caller, id).await?;
        require_write(caller)?;
        if !self.store.resend_delivery(id, now_millis()).await? {
            return Err(CoreError::NotFound { what: "delivery" });
        }
        self.relay.wake_dispatcher();
        self.delivery(caller, id).await
    }

    /// Queues a `webhook.test` ping to a subscription (enabled or not).
    pub async fn test(&self, caller: &Principal, id: &WebhookId) -> Result<Delivery> {
        let subscription = self.get(caller, id).await?;
        require_write(caller)?;
        let now = now_millis();
        let payload = json!({
            "type": EventType::Test.as_str(),
            "timestamp": timestamp(now),
            "data": { "webhook_id": subscription.id, "message": "a test from Atelier" },
        });
        let mut delivery = Delivery::pending(
            subscription.owner,
            Destination::Subscription(subscription.id),
            subscription.url,
            EventType::Test,
            payload,
            String::new(),
            now,
        );
        // Every test is its own message.
        delivery.dedupe_key = format!("test:{}", delivery.id);
        self.store.enqueue_delivery(&delivery).await?;
        self.relay.wake_dispatcher();
        Ok(delivery)
    }

    /// The secret the caller's tasks' own webhooks are signed with (made on first use).
    pub async fn default_secret(&self, caller: &Principal) -> Result<String> {
        self.store.default_secret(&caller.user_id, &new_secret()).await
    }

    /// Checks a task's own webhook before the task is made: its URL (SSRF policy,
    /// 422 naming `webhook`) and Replicate's event names (`start`, `output`,
    /// `logs`, `completed`; 422 naming `webhook_events_filter`). Every task event
    /// when no filter is given.
    pub async fn check_task_webhook(&self, url: &str, filter: Option<&[String]>) -> Result<(String, Vec<EventType>)> {
        let url = self.vet_url("webhook", url).await?;
        let events = match filter {
            None => EventType::SUBSCRIBABLE.into_iter().filter(|event| event.as_str().starts_with("task.")).collect(),
            Some(names) => {
                let mut events = Vec::new();
                for name in names {
                    let mapped = EventType::from_replicate(name).ok_or_else(|| {
                        CoreError::invalid(
                            "webhook_events_filter",
                            format!("{name:?} is not one of start, output, logs, completed"),
                        )
                    })?;
                    events.extend_from_slice(mapped);
                }
                if events.is_empty() {
                    return Err(CoreError::invalid("webhook_events_filter", "name at least one event"));
                }
                events.sort();
                events.dedup();
                events
            }
        };
        Ok((url, events))
    }

    /// Records a new task's own webhook (checked by [`Self::check_task_webhook`])
    /// and sends what it missed while it was being recorded (its creation).
    pub async fn attach_task_webhook(
        &self,
        caller: &Principal,
        task: TaskId,
        url: String,
        events: Vec<EventType>,
    ) -> Result<()> {
        let target = TaskTarget { task_id: task, owner: caller.user_id.clone(), url, events, created_at: now_millis() };
        self.store.set_task_target(&target).await?;
        self.relay.task_target_added();
        self.relay.task_changed(task).await?;
        Ok(())
    }

    async fn vet_url(&self, field: &str, url: &str) -> Result<String> {
        let url = url.trim();
        if url.is_empty() || url.chars().count() > MAX_URL_CHARS {
            return Err(CoreError::invalid(field, format!("a URL of 1 to {MAX_URL_CHARS} characters")));
        }
        self.sender.vet(url).await.map_err(|reason| CoreError::invalid(field, reason))?;
        Ok(url.to_owned())
    }
}

/// Event names, sorted, no repeats; empty is every event.
fn parse_events(field: &str, names: &[String]) -> Result<Vec<EventType>> {
    if names.is_empty() {
        return Ok(EventType::SUBSCRIBABLE.to_vec());
    }
    let mut events = names
        .iter()
        .map(|name| {
            EventType::parse(name).filter(|event| *event != EventType::Test).ok_or_else(|| {
                CoreError::invalid(field, format!("{name:?} is not an event (task.completed, task.failed, …)"))
            })
        })
        .collect::<Result<Vec<_>>>()?;
    events.sort();
    events.dedup();
    Ok(events)
}

fn clean_description(description: Option<String>) -> Result<Option<String>> {
    let Some(description) = description else { return Ok(None) };
    let description = description.trim();
    if description.chars().count() > 200 {
        return Err(CoreError::invalid("description", "at most 200 characters"));
    }
    Ok((!description.is_empty()).then(|| description.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_parse_sorted_and_refuse_unknown_names() {
        let events = parse_events("events", &["task.failed".into(), "task.completed".into(), "task.failed".into()]);
        assert_eq!(events.ok(), Some(vec![EventType::TaskCompleted, EventType::TaskFailed]));
        assert_eq!(parse_events("events", &[]).ok(), Some(EventType::SUBSCRIBABLE.to_vec()));
        assert!(parse_events("events", &["task.exploded".into()]).is_err());
        assert!(parse_events("events", &["webhook.test".into()]).is_err(), "pings are not subscribed to");
    }
}
