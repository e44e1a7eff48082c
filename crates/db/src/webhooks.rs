//! `WebhookStore` for both backends: subscriptions, task targets, delivery rows
//! (claimed under a lease: `FOR UPDATE SKIP LOCKED` on PostgreSQL, the single
//! writer on SQLite), and the crash sweep's read of ended tasks.

use async_trait::async_trait;
use atelier_core::ports::{EndedTask, WebhookStore};
use atelier_core::time::Millis;
use atelier_core::webhook::{
    AttemptOutcome, Delivery, DeliveryPage, DeliveryStatus, Destination, EventType, Subscription, TaskTarget,
};
use atelier_core::{CoreError, MessageId, TaskId, UserId, WebhookId};
use sqlx::AssertSqlSafe;
use sqlx::any::AnyRow;

use crate::connect::{Backend, Database};
use crate::error::storage;
use crate::rows::{get, invalid};

type Result<T> = std::result::Result<T, CoreError>;

const SUBSCRIPTION_COLUMNS: &str = "id, owner_id, url, events, secret, description, enabled, created_at, updated_at";
const DELIVERY_COLUMNS: &str = "id, owner_id, subscription_id, task_id, url, event, payload, dedupe_key, status, \
     attempts, next_attempt_at, last_status, last_error, latency_ms, answer_excerpt, created_at, updated_at, delivered_at";

fn join_events(events: &[EventType]) -> String {
    events.iter().map(|event| event.as_str()).collect::<Vec<_>>().join(",")
}

fn split_events(text: &str) -> Result<Vec<EventType>> {
    text.split(',')
        .filter(|name| !name.is_empty())
        .map(|name| EventType::parse(name).ok_or_else(|| invalid("webhook event")))
        .collect()
}

fn decode_subscription(row: &AnyRow) -> Result<Subscription> {
    let id: String = get(row, "id")?;
    let owner: String = get(row, "owner_id")?;
    let events: String = get(row, "events")?;
    let enabled: i64 = get(row, "enabled")?;
    Ok(Subscription {
        id: WebhookId::parse(&id).ok_or_else(|| invalid("webhook id"))?,
        owner: UserId::parse(&owner).ok_or_else(|| invalid("webhook owner"))?,
        url: get(row, "url")?,
        events: split_events(&events)?,
        secret: get(row, "secret")?,
        description: get(row, "description")?,
        enabled: enabled != 0,
        created_at: get(row, "created_at")?,
        updated_at: get(row, "updated_at")?,
    })
}

fn decode_delivery(row: &AnyRow) -> Result<Delivery> {
    let id: String = get(row, "id")?;
    let owner: String = get(row, "owner_id")?;
    let subscription: Option<String> = get(row, "subscription_id")?;
    let task: Option<String> = get(row, "task_id")?;
    let event: String = get(row, "event")?;
    let payload: String = get(row, "payload")?;
    let status: String = get(row, "status")?;
    let attempts: i64 = get(row, "attempts")?;
    let last_status: Option<i64> = get(row, "last_status")?;
    let latency: Option<i64> = get(row, "latency_ms")?;
    let destination = match (subscription, task) {
        (Some(id), _) => Destination::Subscription(WebhookId::parse(&id).ok_or_else(|| invalid("delivery webhook"))?),
        (None, Some(task)) => Destination::Task(task.parse().map_err(|_| invalid("delivery task"))?),
        (None, None) => return Err(invalid("delivery destination")),
    };
    Ok(Delivery {
        id: MessageId::parse(&id).ok_or_else(|| invalid("delivery id"))?,
        owner: UserId::parse(&owner).ok_or_else(|| invalid("delivery owner"))?,
        destination,
        url: get(row, "url")?,
        event: EventType::parse(&event).ok_or_else(|| invalid("delivery event"))?,
        payload: serde_json::from_str(&payload).map_err(|_| invalid("delivery payload"))?,
        dedupe_key: get(row, "dedupe_key")?,
        status: DeliveryStatus::parse(&status).ok_or_else(|| invalid("delivery status"))?,
        attempts: u32::try_from(attempts).map_err(|_| invalid("delivery attempts"))?,
        next_attempt_at: get(row, "next_attempt_at")?,
        last_status: last_status.and_then(|status| u16::try_from(status).ok()),
        last_error: get(row, "last_error")?,
        latency_ms: latency.and_then(|latency| u64::try_from(latency).ok()),
        answer_excerpt: get(row, "answer_excerpt")?,
        created_at: get(row, "created_at")?,
        updated_at: get(row, "updated_at")?,
        delivered_at: get(row, "delivered_at")?,
    })
}

/// The claim: pending rows due at `$3`, oldest due first, at most `$4`, moved to
/// `$1` under the token `$2`. By `webhook_deliveries_due` on both backends.
pub fn claim_deliveries_sql(backend: Backend) -> String {
    let lock = match backend {
        Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        Backend::Sqlite => "",
    };
    format!(
        "UPDATE webhook_deliveries SET next_attempt_at = $1, lease_token = $2 WHERE id IN (\
         SELECT id FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= $3 \
         ORDER BY next_attempt_at LIMIT $4{lock}) RETURNING {DELIVERY_COLUMNS}"
    )
}

/// The sweep's read: tasks that ended after `($1, $2)`, oldest end first, at most
/// `$3`, by `tasks_completed` (named on SQLite, which without statistics would
/// rather read `tasks_status` and sort).
pub fn tasks_ended_sql(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => {
            "SELECT id, owner_id, completed_at FROM tasks INDEXED BY tasks_completed \
             WHERE completed_at IS NOT NULL AND completed_at >= $1 AND (completed_at > $1 OR id > $2) \
             AND status IN ('completed', 'failed', 'cancelled', 'expired') ORDER BY completed_at, id LIMIT $3"
        }
        Backend::Postgres => {
            "SELECT id, owner_id, completed_at FROM tasks \
             WHERE completed_at IS NOT NULL AND completed_at >= $1 AND (completed_at > $1 OR id > $2) \
             AND status IN ('completed', 'failed', 'cancelled', 'expired') ORDER BY completed_at, id LIMIT $3"
        }
    }
}

#[async_trait]
impl WebhookStore for Database {
    async fn create_subscription(&self, subscription: &Subscription) -> Result<()> {
        sqlx::query(
            "INSERT INTO webhook_subscriptions (id, owner_id, url, events, secret, description, enabled, created_at, \
             updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(subscription.id.to_string())
        .bind(subscription.owner.to_string())
        .bind(subscription.url.clone())
        .bind(join_events(&subscription.events))
        .bind(subscription.secret.clone())
        .bind(subscription.description.clone())
        .bind(i64::from(subscription.enabled))
        .bind(subscription.created_at)
        .bind(subscription.updated_at)
        .execute(&self.writer)
        .await
        .map_err(storage("recording a webhook"))?;
        Ok(())
    }

    async fn get_subscription(&self, id: &WebhookId) -> Result<Option<Subscription>> {
        let sql = format!("SELECT {SUBSCRIPTION_COLUMNS} FROM webhook_subscriptions WHERE id = $1");
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(id.to_string())
            .fetch_optional(&self.reader)
            .await
            .map_err(storage("reading a webhook"))?;
        row.as_ref().map(decode_subscription).transpose()
    }

    async fn list_subscriptions(&self, owner: &UserId) -> Result<Vec<Subscription>> {
        let sql = format!("SELECT {SUBSCRIPTION_COLUMNS} FROM webhook_subscriptions WHERE owner_id = $1 ORDER BY id");
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(owner.to_string())
            .fetch_all(&self.reader)
            .await
            .map_err(storage("listing webhooks"))?;
        rows.iter().map(decode_subscription).collect()
    }

    async fn update_subscription(&self, subscription: &Subscription) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE webhook_subscriptions SET url = $2, events = $3, secret = $4, description = $5, enabled = $6, \
             updated_at = $7 WHERE id = $1",
        )
        .bind(subscription.id.to_string())
        .bind(subscription.url.clone())
        .bind(join_events(&subscription.events))
        .bind(subscription.secret.clone())
        .bind(subscription.description.clone())
        .bind(i64::from(subscription.enabled))
        .bind(subscription.updated_at)
        .execute(&self.writer)
        .await
        .map_err(storage("changing a webhook"))?;
        Ok(done.rows_affected() > 0)
    }

    async fn delete_subscription(&self, id: &WebhookId) -> Result<bool> {
        sqlx::query("DELETE FROM webhook_deliveries WHERE subscription_id = $1")
            .bind(id.to_string())
            .execute(&self.writer)
            .await
            .map_err(storage("deleting a webhook's deliveries"))?;
        let done = sqlx::query("DELETE FROM webhook_subscriptions WHERE id = $1")
            .bind(id.to_string())
            .execute(&self.writer)
            .await
            .map_err(storage("deleting a webhook"))?;
        Ok(done.rows_affected() > 0)
    }

    async fn default_secret(&self, owner: &UserId, candidate: &str) -> Result<String> {
        sqlx::query(
            "INSERT INTO webhook_secrets (owner_id, secret, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (owner_id) DO NOTHING",
        )
        .bind(owner.to_string())
        .bind(candidate.to_owned())
        .bind(atelier_core::time::now_millis())
        .execute(&self.writer)
        .await
        .map_err(storage("recording a webhook secret"))?;
        // The writer: a reader on SQLite may not see the insert yet.
        let row = sqlx::query("SELECT secret FROM webhook_secrets WHERE owner_id = $1")
            .bind(owner.to_string())
            .fetch_one(&self.writer)
            .await
            .map_err(storage("reading a webhook secret"))?;
        get(&row, "secret")
    }

    async fn set_task_target(&self, target: &TaskTarget) -> Result<()> {
        sqlx::query(
            "INSERT INTO webhook_task_targets (task_id, owner_id, url, events, created_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (task_id) DO NOTHING",
        )
        .bind(target.task_id.to_string())
        .bind(target.owner.to_string())
        .bind(target.url.clone())
        .bind(join_events(&target.events))
        .bind(target.created_at)
        .execute(&self.writer)
        .await
        .map_err(storage("recording a task's webhook"))?;
        Ok(())
    }

    async fn task_target(&self, task: TaskId) -> Result<Option<TaskTarget>> {
        let row = sqlx::query(
            "SELECT task_id, owner_id, url, events, created_at FROM webhook_task_targets WHERE task_id = $1",
        )
        .bind(task.to_string())
        .fetch_optional(&self.reader)
        .await
        .map_err(storage("reading a task's webhook"))?;
        let Some(row) = row else { return Ok(None) };
        let owner: String = get(&row, "owner_id")?;
        let events: String = get(&row, "events")?;
        Ok(Some(TaskTarget {
            task_id: task,
            owner: UserId::parse(&owner).ok_or_else(|| invalid("task webhook owner"))?,
            url: get(&row, "url")?,
            events: split_events(&events)?,
            created_at: get(&row, "created_at")?,
        }))
    }

    async fn any_task_targets(&self) -> Result<bool> {
        let row = sqlx::query("SELECT task_id FROM webhook_task_targets LIMIT 1")
            .fetch_optional(&self.reader)
            .await
            .map_err(storage("looking for task webhooks"))?;
        Ok(row.is_some())
    }

    async fn enqueue_delivery(&self, delivery: &Delivery) -> Result<bool> {
        let (subscription, task) = match &delivery.destination {
            Destination::Subscription(id) => (Some(id.to_string()), None),
            Destination::Task(task) => (None, Some(task.to_string())),
        };
        let payload = serde_json::to_string(&delivery.payload).map_err(|_| invalid("delivery payload"))?;
        let done = sqlx::query(
            "INSERT INTO webhook_deliveries (id, owner_id, subscription_id, task_id, url, event, payload, dedupe_key, \
             status, attempts, next_attempt_at, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) ON CONFLICT (dedupe_key) DO NOTHING",
        )
        .bind(delivery.id.to_string())
        .bind(delivery.owner.to_string())
        .bind(subscription)
        .bind(task)
        .bind(delivery.url.clone())
        .bind(delivery.event.as_str())
        .bind(payload)
        .bind(delivery.dedupe_key.clone())
        .bind(delivery.status.as_str())
        .bind(i64::from(delivery.attempts))
        .bind(delivery.next_attempt_at)
        .bind(delivery.created_at)
        .bind(delivery.updated_at)
        .execute(&self.writer)
        .await
        .map_err(|error| match &error {
            // The subscription was deleted meanwhile: nothing to send.
            sqlx::Error::Database(database) if database.is_foreign_key_violation() => {
                CoreError::NotFound { what: "webhook" }
            }
            _ => storage("queueing a webhook delivery")(error),
        });
        match done {
            Ok(done) => Ok(done.rows_affected() > 0),
            Err(CoreError::NotFound { .. }) => Ok(false),
            Err(error) => Err(error),
        }
    }

    async fn claim_deliveries(
        &self,
        now: Millis,
        lease_until: Millis,
        token: &str,
        limit: u32,
    ) -> Result<Vec<Delivery>> {
        let rows = sqlx::query(AssertSqlSafe(claim_deliveries_sql(self.backend)))
            .bind(lease_until)
            .bind(token.to_owned())
            .bind(now)
            .bind(i64::from(limit))
            .fetch_all(&self.writer)
            .await
            .map_err(storage("claiming webhook deliveries"))?;
        let mut claimed = rows.iter().map(decode_delivery).collect::<Result<Vec<_>>>()?;
        claimed.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(claimed)
    }

    async fn record_attempt(
        &self,
        id: &MessageId,
        token: &str,
        outcome: &AttemptOutcome,
        retry_at: Option<Millis>,
        now: Millis,
    ) -> Result<bool> {
        let (status, next, delivered) = if outcome.succeeded() {
            (DeliveryStatus::Delivered, now, Some(now))
        } else if let Some(at) = retry_at {
            (DeliveryStatus::Pending, at, None)
        } else {
            (DeliveryStatus::Failed, now, None)
        };
        let done = sqlx::query(
            "UPDATE webhook_deliveries SET status = $3, attempts = attempts + 1, next_attempt_at = $4, \
             lease_token = NULL, last_status = $5, last_error = $6, latency_ms = $7, answer_excerpt = $8, \
             updated_at = $9, delivered_at = $10 WHERE id = $1 AND lease_token = $2",
        )
        .bind(id.to_string())
        .bind(token.to_owned())
        .bind(status.as_str())
        .bind(next)
        .bind(outcome.status.map(i64::from))
        .bind(outcome.error.clone())
        .bind(i64::try_from(outcome.latency_ms).unwrap_or(i64::MAX))
        .bind(outcome.excerpt.clone())
        .bind(now)
        .bind(delivered)
        .execute(&self.writer)
        .await
        .map_err(storage("recording a webhook attempt"))?;
        Ok(done.rows_affected() > 0)
    }

    async fn get_delivery(&self, id: &MessageId) -> Result<Option<Delivery>> {
        let sql = format!("SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE id = $1");
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(id.to_string())
            .fetch_optional(&self.writer)
            .await
            .map_err(storage("reading a webhook delivery"))?;
        row.as_ref().map(decode_delivery).transpose()
    }

    async fn list_deliveries(
        &self,
        owner: &UserId,
        subscription: Option<&WebhookId>,
        before: Option<&MessageId>,
        limit: u32,
    ) -> Result<DeliveryPage> {
        let before = before.map(ToString::to_string).unwrap_or_else(|| "msg_g".to_owned());
        let filter = match subscription {
            Some(_) => "subscription_id = $1 AND owner_id = $2",
            None => "subscription_id IS NULL AND owner_id = $2 AND $1 = $1",
        };
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE {filter} AND id < $3 ORDER BY id DESC LIMIT $4"
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(subscription.map(ToString::to_string).unwrap_or_default())
            .bind(owner.to_string())
            .bind(before)
            .bind(i64::from(limit) + 1)
            .fetch_all(&self.reader)
            .await
            .map_err(storage("listing webhook deliveries"))?;
        let mut deliveries = rows.iter().map(decode_delivery).collect::<Result<Vec<_>>>()?;
        let next_cursor = if deliveries.len() > limit as usize {
            deliveries.truncate(limit as usize);
            deliveries.last().map(|delivery| delivery.id.clone())
        } else {
            None
        };
        Ok(DeliveryPage { deliveries, next_cursor })
    }

    async fn resend_delivery(&self, id: &MessageId, now: Millis) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE webhook_deliveries SET status = 'pending', attempts = 0, next_attempt_at = $2, lease_token = NULL, \
             updated_at = $2 WHERE id = $1",
        )
        .bind(id.to_string())
        .bind(now)
        .execute(&self.writer)
        .await
        .map_err(storage("resending a webhook delivery"))?;
        Ok(done.rows_affected() > 0)
    }

    async fn subscribed_owners(&self) -> Result<Vec<UserId>> {
        let rows = sqlx::query("SELECT DISTINCT owner_id FROM webhook_subscriptions WHERE enabled = 1")
            .fetch_all(&self.reader)
            .await
            .map_err(storage("listing webhook owners"))?;
        rows.iter()
            .map(|row| {
                let owner: String = get(row, "owner_id")?;
                UserId::parse(&owner).ok_or_else(|| invalid("webhook owner"))
            })
            .collect()
    }

    async fn tasks_ended_after(&self, after: (Millis, Option<TaskId>), limit: u32) -> Result<Vec<EndedTask>> {
        let rows = sqlx::query(tasks_ended_sql(self.backend))
            .bind(after.0)
            .bind(after.1.map(|id| id.to_string()).unwrap_or_default())
            .bind(i64::from(limit))
            .fetch_all(&self.reader)
            .await
            .map_err(storage("reading ended tasks"))?;
        rows.iter()
            .map(|row| {
                let id: String = get(row, "id")?;
                let owner: Option<String> = get(row, "owner_id")?;
                Ok(EndedTask {
                    id: id.parse().map_err(|_| invalid("task id"))?,
                    owner: owner.and_then(|owner| UserId::parse(&owner)),
                    ended_at: get(row, "completed_at")?,
                })
            })
            .collect()
    }

    async fn sweep_cursor(&self) -> Result<Option<Millis>> {
        let row = sqlx::query("SELECT swept_to FROM webhook_sweep WHERE id = 1")
            .fetch_optional(&self.reader)
            .await
            .map_err(storage("reading the webhook sweep's cursor"))?;
        row.map(|row| get(&row, "swept_to")).transpose()
    }

    async fn set_sweep_cursor(&self, at: Millis) -> Result<()> {
        sqlx::query(
            "INSERT INTO webhook_sweep (id, swept_to) VALUES (1, $1) \
             ON CONFLICT (id) DO UPDATE SET swept_to = excluded.swept_to",
        )
        .bind(at)
        .execute(&self.writer)
        .await
        .map_err(storage("moving the webhook sweep's cursor"))?;
        Ok(())
    }
}
