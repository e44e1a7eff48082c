//! Sends due deliveries. Each round claims up to `concurrency` of them under a
//! lease (their due time moves to the lease's end, so another process on the same
//! PostgreSQL database does not take them meanwhile, and a dispatcher that dies
//! leaves them due again), signs and sends them at once, and records each attempt
//! only while its lease holds. A receiver may therefore see a message twice (a
//! crash after its answer, before the record): at-least-once, deduplicated by
//! `webhook-id`.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::Notify;
use uuid::Uuid;

use super::signing::{secret_key, sign};
use super::{AttemptOutcome, Delivery, Destination, RetrySchedule};
use crate::error::Result;
use crate::ids::UserId;
use crate::ports::{WebhookSender, WebhookStore};
use crate::time::now_millis;

#[derive(Debug, Clone)]
pub struct DispatchSettings {
    /// Deliveries sent at once (and claimed per round).
    pub concurrency: u32,
    /// How long a claim holds: longer than a send's timeout.
    pub lease: Duration,
    /// The longest an idle dispatcher waits before looking again (a retry's time
    /// comes, another process queued something).
    pub idle_poll: Duration,
    pub schedule: RetrySchedule,
}

impl Default for DispatchSettings {
    fn default() -> Self {
        Self {
            concurrency: 16,
            lease: Duration::from_secs(60),
            idle_poll: Duration::from_secs(1),
            schedule: RetrySchedule::default(),
        }
    }
}

pub struct Dispatcher {
    store: Arc<dyn WebhookStore>,
    sender: Arc<dyn WebhookSender>,
    settings: DispatchSettings,
    wake: Arc<Notify>,
}

impl Dispatcher {
    pub fn new(
        store: Arc<dyn WebhookStore>,
        sender: Arc<dyn WebhookSender>,
        settings: DispatchSettings,
        wake: Arc<Notify>,
    ) -> Self {
        Self { store, sender, settings, wake }
    }

    /// Sends rounds until `stop` resolves; a round in flight finishes first.
    pub async fn run(self: Arc<Self>, stop: impl Future<Output = ()> + Send) {
        tokio::pin!(stop);
        loop {
            let sent = match self.round().await {
                Ok(sent) => sent,
                Err(error) => {
                    tracing::warn!(error = %error, "claiming webhook deliveries failed");
                    0
                }
            };
            if sent > 0 {
                tokio::select! {
                    biased;
                    () = &mut stop => return,
                    () = std::future::ready(()) => continue,
                }
            }
            tokio::select! {
                () = &mut stop => return,
                () = self.wake.notified() => {}
                () = tokio::time::sleep(self.settings.idle_poll) => {}
            }
        }
    }

    /// Claims what is due and sends it; returns how many were sent.
    pub async fn round(&self) -> Result<usize> {
        let now = now_millis();
        let lease_until = now + i64::try_from(self.settings.lease.as_millis()).unwrap_or(i64::MAX / 2);
        let token = Uuid::now_v7().simple().to_string();
        let claimed = self.store.claim_deliveries(now, lease_until, &token, self.settings.concurrency.max(1)).await?;
        if claimed.is_empty() {
            return Ok(0);
        }
        let count = claimed.len();
        let mut defaults: HashMap<UserId, Option<Vec<u8>>> = HashMap::new();
        let mut keyed = Vec::with_capacity(count);
        for delivery in claimed {
            let key = self.key_for(&delivery, &mut defaults).await;
            keyed.push((delivery, key));
        }
        futures::stream::iter(keyed)
            .for_each_concurrent(None, |(delivery, key)| {
                let token = token.clone();
                async move {
                    if let Err(error) = self.attempt(&delivery, key, &token).await {
                        tracing::warn!(id = %delivery.id, error = %error, "recording a webhook attempt failed");
                    }
                }
            })
            .await;
        Ok(count)
    }

    /// The signing key: the subscription's secret, or the owner's default for a
    /// task's own webhook. `Err` says why it cannot be sent (a deleted or disabled
    /// subscription, a secret that does not parse).
    async fn key_for(
        &self,
        delivery: &Delivery,
        defaults: &mut HashMap<UserId, Option<Vec<u8>>>,
    ) -> std::result::Result<Vec<u8>, String> {
        match &delivery.destination {
            Destination::Subscription(id) => {
                let subscription = self.store.get_subscription(id).await.map_err(|error| error.to_string())?;
                let subscription = subscription.ok_or("the webhook was deleted")?;
                if !subscription.enabled && delivery.event != super::EventType::Test {
                    return Err("the webhook is disabled".into());
                }
                secret_key(&subscription.secret).map_err(|error| error.to_string())
            }
            Destination::Task(_) => {
                if let Some(key) = defaults.get(&delivery.owner) {
                    return key.clone().ok_or_else(|| "no signing secret".into());
                }
                let secret = self.store.default_secret(&delivery.owner, &super::signing::new_secret()).await;
                let key = secret.ok().and_then(|secret| secret_key(&secret).ok());
                defaults.insert(delivery.owner.clone(), key.clone());
                key.ok_or_else(|| "no signing secret".into())
            }
        }
    }

    async fn attempt(&self, delivery: &Delivery, key: std::result::Result<Vec<u8>, String>, token: &str) -> Result<()> {
        let outcome = match key {
            Ok(key) => {
                let body = serde_json::to_vec(&delivery.payload).unwrap_or_default();
                let timestamp = now_millis() / 1000;
                let signature = sign(&key, delivery.id.as_str(), timestamp, &body);
                let headers = [
                    ("webhook-id", delivery.id.to_string()),
                    ("webhook-timestamp", timestamp.to_string()),
                    ("webhook-signature", signature),
                    ("content-type", "application/json".to_owned()),
                ];
                self.sender.send(&delivery.url, &headers, &body).await
            }
            Err(reason) => AttemptOutcome { status: None, error: Some(reason), latency_ms: 0, excerpt: None },
        };
        let now = now_millis();
        let attempts = delivery.attempts + 1;
        let retry_at = if outcome.succeeded() {
            None
        } else {
            self.settings
                .schedule
                .after(attempts)
                .map(|delay| now + i64::try_from(delay.as_millis()).unwrap_or(i64::MAX / 2))
        };
        crate::meters::webhook_attempt(&outcome, retry_at.is_some());
        if !self.store.record_attempt(&delivery.id, token, &outcome, retry_at, now).await? {
            tracing::debug!(id = %delivery.id, "a webhook attempt outlived its lease");
        }
        Ok(())
    }
}
