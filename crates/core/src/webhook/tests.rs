//! The relay, the dispatcher and the service on the in-memory stores, with a
//! sender that records what it was given and answers as a test scripts.

#![allow(clippy::unwrap_used)]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde_json::json;

use super::signing::{secret_key, verify};
use super::*;
use crate::account::{Credential, Principal, Role};
use crate::error::CoreError;
use crate::events::TaskEvent;
use crate::ids::{ApiKeyId, TaskId, UserId};
use crate::ports::{TaskStore, WebhookSender};
use crate::task::{NewTask, TaskStatus};
use crate::testing::{MemoryStore, MemoryWebhooks};
use crate::time::now_millis;

/// The headers and body of one message.
type Sent = (Vec<(&'static str, String)>, Vec<u8>);

#[derive(Default)]
struct Receiver {
    answers: Mutex<VecDeque<u16>>,
    got: Mutex<Vec<Sent>>,
}

#[async_trait]
impl WebhookSender for Receiver {
    async fn vet(&self, url: &str) -> std::result::Result<(), String> {
        if url.starts_with("https://") { Ok(()) } else { Err("only https here".into()) }
    }

    async fn send(&self, _url: &str, headers: &[(&'static str, String)], body: &[u8]) -> AttemptOutcome {
        self.got.lock().unwrap().push((headers.to_vec(), body.to_vec()));
        let status = self.answers.lock().unwrap().pop_front().unwrap_or(200);
        AttemptOutcome { status: Some(status), error: None, latency_ms: 3, excerpt: Some(format!("answer {status}")) }
    }
}

struct Rig {
    tasks: Arc<MemoryStore>,
    webhooks: Arc<MemoryWebhooks>,
    receiver: Arc<Receiver>,
    service: WebhookService,
    dispatcher: Dispatcher,
}

fn rig() -> Rig {
    let tasks = Arc::new(MemoryStore::new());
    let webhooks = Arc::new(MemoryWebhooks::new(tasks.clone()));
    let receiver = Arc::new(Receiver::default());
    let render: TaskRenderer = Arc::new(|task| json!({ "id": task.id, "status": task.status.as_str() }));
    let relay = Arc::new(Relay::new(webhooks.clone(), tasks.clone(), None, render));
    let settings = DispatchSettings { schedule: RetrySchedule::default(), ..DispatchSettings::default() };
    let dispatcher = Dispatcher::new(webhooks.clone(), receiver.clone(), settings, relay.wake());
    let service = WebhookService::new(webhooks.clone(), receiver.clone(), relay);
    Rig { tasks, webhooks, receiver, service, dispatcher }
}

fn member() -> Principal {
    Principal {
        user_id: UserId::new(),
        email: "member@example.com".into(),
        role: Role::Member,
        credential: Credential::ApiKey(ApiKeyId::new()),
    }
}

async fn ended_task(rig: &Rig, owner: &Principal) -> TaskId {
    let id = TaskId::new();
    let task = NewTask {
        id,
        max_attempts: 3,
        owner: Some(owner.user_id.clone()),
        ..NewTask::new("lab", "model", json!({}), now_millis())
    };
    rig.tasks.create_task(task).await.expect("created");
    rig.tasks.cancel_task(id, now_millis()).await.expect("cancelled");
    id
}

fn subscribe(url: &str, events: &[&str]) -> NewSubscription {
    NewSubscription { url: url.into(), events: events.iter().map(|e| (*e).to_owned()).collect(), ..Default::default() }
}

#[tokio::test]
async fn an_ended_task_is_swept_once_and_signed_as_the_spec_says() {
    let rig = rig();
    let ada = member();
    let hook = rig.service.create(&ada, subscribe("https://hooks.example/a", &["task.cancelled"])).await.unwrap();
    let id = ended_task(&rig, &ada).await;
    // The live path missed it (a crash): the sweep writes it, once.
    assert_eq!(rig.service.relay().sweep().await.unwrap(), 1);
    assert_eq!(rig.service.relay().sweep().await.unwrap(), 0, "a second sweep repeats nothing");
    let notice = TaskEvent { task_id: id, status: TaskStatus::Cancelled };
    assert_eq!(rig.service.relay().on_task_event(&notice).await.unwrap(), 0, "nor does the live notice");
    assert_eq!(rig.dispatcher.round().await.unwrap(), 1);
    let got = rig.receiver.got.lock().unwrap().clone();
    assert_eq!(got.len(), 1);
    let (headers, body) = &got[0];
    let header = |name: &str| headers.iter().find(|(n, _)| *n == name).map(|(_, v)| v.clone()).unwrap();
    let timestamp: i64 = header("webhook-timestamp").parse().unwrap();
    let key = secret_key(&hook.secret).unwrap();
    assert!(verify(&key, &header("webhook-id"), timestamp, body, &header("webhook-signature"), now_millis() / 1000));
    let payload: serde_json::Value = serde_json::from_slice(body).unwrap();
    assert_eq!(payload["type"], "task.cancelled");
    assert_eq!(payload["data"]["id"], id.to_string());
    let delivery = rig.webhooks.all_deliveries().pop().unwrap();
    assert_eq!((delivery.status, delivery.attempts), (DeliveryStatus::Delivered, 1));
    assert_eq!(delivery.id.to_string(), header("webhook-id"));
}

#[tokio::test]
async fn failures_wait_their_schedule_then_fail_and_a_resend_keeps_the_id() {
    let rig = rig();
    let ada = member();
    rig.service.create(&ada, subscribe("https://hooks.example/a", &[])).await.unwrap();
    ended_task(&rig, &ada).await;
    rig.service.relay().sweep().await.unwrap();
    rig.receiver.answers.lock().unwrap().extend([500; 8]);
    for attempt in 1..=8u32 {
        assert_eq!(rig.dispatcher.round().await.unwrap(), 1, "attempt {attempt}");
        assert_eq!(rig.dispatcher.round().await.unwrap(), 0, "not due again at once");
        let delivery = rig.webhooks.all_deliveries().pop().unwrap();
        assert_eq!(delivery.attempts, attempt);
        if let Some(delay) = RetrySchedule::default().after(attempt) {
            assert_eq!(delivery.status, DeliveryStatus::Pending);
            let wait = delivery.next_attempt_at - now_millis();
            assert!((wait - delay.as_millis() as i64).abs() < 2_000, "attempt {attempt}: {wait} ms");
            // Time passes.
            rig.webhooks.make_due();
        } else {
            assert_eq!(delivery.status, DeliveryStatus::Failed, "the schedule is spent");
            assert_eq!(delivery.last_status, Some(500));
        }
    }
    let failed = rig.webhooks.all_deliveries().pop().unwrap();
    let resent = rig.service.resend(&ada, &failed.id).await.unwrap();
    assert_eq!((resent.status, resent.attempts), (DeliveryStatus::Pending, 0));
    assert_eq!(rig.dispatcher.round().await.unwrap(), 1);
    let delivered = rig.webhooks.all_deliveries().pop().unwrap();
    assert_eq!((delivered.id, delivered.status), (failed.id, DeliveryStatus::Delivered));
}

#[tokio::test]
async fn users_see_only_their_own_webhooks_and_urls_are_vetted() {
    let rig = rig();
    let (ada, bob) = (member(), member());
    let hook = rig.service.create(&ada, subscribe("https://hooks.example/a", &[])).await.unwrap();
    let hidden = rig.service.get(&bob, &hook.id).await.unwrap_err();
    assert!(matches!(hidden, CoreError::NotFound { what: "webhook" }));
    assert!(rig.service.delete(&bob, &hook.id).await.is_err());
    assert!(rig.service.list(&bob).await.unwrap().is_empty());
    let refused = rig.service.create(&ada, subscribe("http://10.0.0.1/", &[])).await.unwrap_err();
    let CoreError::InvalidInput { details, .. } = refused else { panic!("a validation error") };
    assert_eq!(details["field"], "url");
    let refused = rig.service.create(&ada, subscribe("https://hooks.example/a", &["task.nope"])).await.unwrap_err();
    assert!(matches!(refused, CoreError::InvalidInput { .. }));
}

#[tokio::test]
async fn a_task_webhook_gets_only_its_filtered_events() {
    let rig = rig();
    let ada = member();
    let filter = vec!["completed".to_owned()];
    let (url, events) = rig.service.check_task_webhook("https://hooks.example/t", Some(&filter)).await.unwrap();
    assert_eq!(events, vec![EventType::TaskCompleted, EventType::TaskFailed, EventType::TaskCancelled]);
    let bad = rig.service.check_task_webhook("https://hooks.example/t", Some(&["nope".to_owned()])).await;
    assert!(bad.is_err());
    let id = ended_task(&rig, &ada).await;
    rig.service.attach_task_webhook(&ada, id, url, events).await.unwrap();
    let deliveries = rig.webhooks.all_deliveries();
    assert_eq!(deliveries.len(), 1, "{deliveries:?}");
    assert_eq!(deliveries[0].event, EventType::TaskCancelled);
    assert_eq!(rig.dispatcher.round().await.unwrap(), 1);
    let page = rig.service.deliveries(&ada, None, None, 10).await.unwrap();
    assert_eq!(page.deliveries.len(), 1);
    assert_eq!(page.deliveries[0].status, DeliveryStatus::Delivered);
}
