//! Webhooks: subscriptions kept to their owner, deliveries written once per dedupe
//! key, claimed under a lease that another claim respects, recorded only under
//! that lease, retried at their time, resent under the same id; the crash sweep's
//! read of ended tasks and its cursor.

use std::sync::Arc;

use atelier_core::ports::{TaskStore, WebhookStore};
use atelier_core::webhook::{
    AttemptOutcome, Delivery, DeliveryStatus, Destination, EventType, Subscription, TaskTarget,
};
use atelier_core::{MessageId, UserId, WebhookId};
use atelier_db::Database;
use serde_json::json;

use super::{insert, new_task};

fn subscription(owner: &UserId) -> Subscription {
    Subscription {
        id: WebhookId::new(),
        owner: owner.clone(),
        url: "https://hooks.example/in".into(),
        events: vec![EventType::TaskCompleted, EventType::TaskFailed],
        secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into(),
        description: Some("ci".into()),
        enabled: true,
        created_at: 1000,
        updated_at: 1000,
    }
}

fn delivery(owner: &UserId, hook: &WebhookId, key: &str, due: i64) -> Delivery {
    Delivery {
        id: MessageId::new(),
        owner: owner.clone(),
        destination: Destination::Subscription(hook.clone()),
        url: "https://hooks.example/in".into(),
        event: EventType::TaskCompleted,
        payload: json!({ "type": "task.completed", "data": { "n": key } }),
        dedupe_key: key.to_owned(),
        status: DeliveryStatus::Pending,
        attempts: 0,
        next_attempt_at: due,
        last_status: None,
        last_error: None,
        latency_ms: None,
        answer_excerpt: None,
        created_at: due,
        updated_at: due,
        delivered_at: None,
    }
}

fn answered(status: u16) -> AttemptOutcome {
    AttemptOutcome { status: Some(status), error: None, latency_ms: 12, excerpt: Some(format!("status {status}")) }
}

pub async fn webhook_deliveries_are_claimed_under_leases_and_written_once(store: Arc<Database>) {
    let (ada, bob) = (UserId::new(), UserId::new());
    let hook = subscription(&ada);
    store.create_subscription(&hook).await.unwrap();
    assert_eq!(store.get_subscription(&hook.id).await.unwrap().as_ref(), Some(&hook));
    assert_eq!(store.list_subscriptions(&ada).await.unwrap().len(), 1);
    assert!(store.list_subscriptions(&bob).await.unwrap().is_empty());
    assert_eq!(store.subscribed_owners().await.unwrap(), vec![ada.clone()]);
    let mut disabled = hook.clone();
    disabled.enabled = false;
    assert!(store.update_subscription(&disabled).await.unwrap());
    assert!(store.subscribed_owners().await.unwrap().is_empty());
    assert!(store.update_subscription(&hook).await.unwrap());

    let first = delivery(&ada, &hook.id, "t1:task.completed:hook", 10_000);
    assert!(store.enqueue_delivery(&first).await.unwrap());
    let again = delivery(&ada, &hook.id, "t1:task.completed:hook", 10_000);
    assert!(!store.enqueue_delivery(&again).await.unwrap(), "the dedupe key holds");
    assert!(store.enqueue_delivery(&delivery(&ada, &hook.id, "t2:task.completed:hook", 50_000)).await.unwrap());

    assert!(store.claim_deliveries(9_999, 20_000, "early", 10).await.unwrap().is_empty(), "not due yet");
    let claimed = store.claim_deliveries(10_000, 70_000, "one", 10).await.unwrap();
    assert_eq!(claimed.iter().map(|d| d.id.clone()).collect::<Vec<_>>(), vec![first.id.clone()]);
    assert_eq!(claimed[0].payload, first.payload);
    let other = store.claim_deliveries(60_000, 120_000, "two", 10).await.unwrap();
    assert_eq!(other.len(), 1, "the leased one waits for its lease's end");
    assert_ne!(other[0].id, first.id);
    assert!(!store.record_attempt(&first.id, "two", &answered(200), None, 11_000).await.unwrap(), "not its lease");
    assert!(store.record_attempt(&first.id, "one", &answered(503), Some(30_000), 11_000).await.unwrap());
    let stored = store.get_delivery(&first.id).await.unwrap().unwrap();
    assert_eq!((stored.status, stored.attempts, stored.last_status), (DeliveryStatus::Pending, 1, Some(503)));
    assert_eq!((stored.next_attempt_at, stored.latency_ms), (30_000, Some(12)));
    let retried = store.claim_deliveries(30_000, 90_000, "three", 10).await.unwrap();
    assert_eq!(retried.len(), 1);
    assert!(store.record_attempt(&first.id, "three", &answered(204), None, 31_000).await.unwrap());
    let stored = store.get_delivery(&first.id).await.unwrap().unwrap();
    assert_eq!((stored.status, stored.attempts, stored.delivered_at), (DeliveryStatus::Delivered, 2, Some(31_000)));
    assert!(store.claim_deliveries(1_000_000, 1_100_000, "four", 10).await.unwrap().len() <= 1);

    assert!(store.resend_delivery(&first.id, 40_000).await.unwrap());
    let resent = store.get_delivery(&first.id).await.unwrap().unwrap();
    assert_eq!((resent.status, resent.attempts, resent.id), (DeliveryStatus::Pending, 0, first.id.clone()));

    let page = store.list_deliveries(&ada, Some(&hook.id), None, 1).await.unwrap();
    assert_eq!(page.deliveries.len(), 1);
    let cursor = page.next_cursor.expect("a second page");
    let rest = store.list_deliveries(&ada, Some(&hook.id), Some(&cursor), 10).await.unwrap();
    assert_eq!(rest.deliveries.len(), 1);
    assert!(rest.next_cursor.is_none());
    assert!(store.list_deliveries(&bob, Some(&hook.id), None, 10).await.unwrap().deliveries.is_empty());

    assert!(store.delete_subscription(&hook.id).await.unwrap());
    assert!(store.get_delivery(&first.id).await.unwrap().is_none(), "deliveries go with it");
    assert!(!store.delete_subscription(&hook.id).await.unwrap());
}

pub async fn webhook_targets_secrets_and_the_sweep_read(store: Arc<Database>) {
    let ada = UserId::new();
    let first = store.default_secret(&ada, "whsec_first").await.unwrap();
    assert_eq!(first, "whsec_first");
    assert_eq!(store.default_secret(&ada, "whsec_second").await.unwrap(), "whsec_first", "made once");

    let mut ids = Vec::new();
    for at in [5_000, 6_000, 6_000] {
        let mut task = new_task(at);
        task.owner = Some(ada.clone());
        let id = insert(&store, task).await;
        store.cancel_task(id, at + 100).await.unwrap();
        ids.push(id);
    }
    insert(&store, new_task(7_000)).await;
    let target = TaskTarget {
        task_id: ids[0],
        owner: ada.clone(),
        url: "https://hooks.example/t".into(),
        events: vec![EventType::TaskCancelled],
        created_at: 5_000,
    };
    assert!(!store.any_task_targets().await.unwrap());
    store.set_task_target(&target).await.unwrap();
    assert!(store.any_task_targets().await.unwrap());
    assert_eq!(store.task_target(ids[0]).await.unwrap(), Some(target));
    assert_eq!(store.task_target(ids[1]).await.unwrap(), None);

    let ended = store.tasks_ended_after((0, None), 2).await.unwrap();
    assert_eq!(ended.iter().map(|t| t.id).collect::<Vec<_>>(), ids[..2].to_vec(), "oldest end first, a page");
    assert_eq!(ended[0].owner.as_ref(), Some(&ada));
    let last = ended.last().unwrap();
    let rest = store.tasks_ended_after((last.ended_at, Some(last.id)), 10).await.unwrap();
    assert_eq!(rest.iter().map(|t| t.id).collect::<Vec<_>>(), ids[2..].to_vec(), "the pending task is not read");

    assert_eq!(store.sweep_cursor().await.unwrap(), None);
    store.set_sweep_cursor(6_100).await.unwrap();
    store.set_sweep_cursor(6_200).await.unwrap();
    assert_eq!(store.sweep_cursor().await.unwrap(), Some(6_200));
}
