//! Webhook deliveries per second, in process: rows queued for one subscription
//! on SQLite, sent by the real dispatcher (claims under leases, Standard Webhooks
//! signatures, the server's HTTP sender through its SSRF guard) to a receiver on
//! loopback that answers 200 at once; every message's signature is checked there.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use atelier_core::ports::WebhookStore;
use atelier_core::time::now_millis;
use atelier_core::webhook::signing::{new_secret, secret_key, verify};
use atelier_core::webhook::{
    Delivery, Destination, DispatchSettings, Dispatcher, EventType, RetrySchedule, Subscription,
};
use atelier_core::{UserId, WebhookId};
use axum::body::Bytes;
use axum::http::HeaderMap;
use serde_json::json;

use crate::plan::Plan;
use crate::report::Report;

pub async fn run(plan: &Plan, report: &mut Report) -> Result<()> {
    let scope = "in-process";
    let count: usize = if plan.quick { 2_000 } else { 10_000 };
    let dir = tempfile::tempdir().context("a temp dir")?;
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("webhooks.db").display());
    let database = atelier_db::Database::connect(&url, &atelier_db::DatabaseOptions::default()).await?;
    database.migrate().await?;
    let store: Arc<dyn WebhookStore> = Arc::new(database);

    let secret = new_secret();
    let key = secret_key(&secret)?;
    let (verified, forged) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let receiver = {
        let (verified, forged, key) = (verified.clone(), forged.clone(), key.clone());
        axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: Bytes| {
                let (verified, forged, key) = (verified.clone(), forged.clone(), key.clone());
                async move {
                    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("");
                    let timestamp = header("webhook-timestamp").parse().unwrap_or(0);
                    let now = chrono::Utc::now().timestamp();
                    if verify(&key, header("webhook-id"), timestamp, &body, header("webhook-signature"), now) {
                        verified.fetch_add(1, Ordering::Relaxed);
                    } else {
                        forged.fetch_add(1, Ordering::Relaxed);
                    }
                    "ok"
                }
            }),
        )
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?.to_string();
    let server = tokio::spawn(async move { axum::serve(listener, receiver).await });

    let owner = UserId::new();
    let now = now_millis();
    let subscription = Subscription {
        id: WebhookId::new(),
        owner: owner.clone(),
        url: format!("http://{address}/hook"),
        events: vec![EventType::TaskCompleted],
        secret,
        description: None,
        enabled: true,
        created_at: now,
        updated_at: now,
    };
    store.create_subscription(&subscription).await?;
    for i in 0..count {
        let payload = json!({
            "type": "task.completed",
            "timestamp": chrono::Utc::now().to_rfc3339(),
            "data": { "task_id": format!("bench-{i}"), "status": "completed", "progress": 100 },
        });
        let delivery = Delivery::pending(
            owner.clone(),
            Destination::Subscription(subscription.id.clone()),
            subscription.url.clone(),
            EventType::TaskCompleted,
            payload,
            format!("bench-{i}"),
            now,
        );
        store.enqueue_delivery(&delivery).await?;
    }

    let policy = atelier::fetch::FetchPolicy { allow: vec![address.clone()], ..Default::default() };
    let sender = Arc::new(atelier::api::webhooks::sender::HttpSender::new(policy, Duration::from_secs(10)));
    for concurrency in [16u32, 64] {
        if concurrency == 64 {
            // The same rows again: a resend makes each pending, due now.
            resend_all(store.as_ref(), &owner, &subscription.id).await?;
        }
        verified.store(0, Ordering::Relaxed);
        let settings =
            DispatchSettings { concurrency, schedule: RetrySchedule::default(), ..DispatchSettings::default() };
        let dispatcher = Dispatcher::new(store.clone(), sender.clone(), settings, Arc::new(tokio::sync::Notify::new()));
        eprintln!("[{scope}] webhooks: {count} deliveries, {concurrency} at once");
        let started = Instant::now();
        let mut sent = 0;
        while sent < count {
            let round = dispatcher.round().await?;
            ensure!(round > 0, "the dispatcher found nothing due after {sent} of {count}");
            sent += round;
        }
        let elapsed = started.elapsed().as_secs_f64();
        ensure!(verified.load(Ordering::Relaxed) == count, "{} of {count} verified", verified.load(Ordering::Relaxed));
        ensure!(forged.load(Ordering::Relaxed) == 0, "a signature did not verify");
        report.add(
            scope,
            format!("webhook deliveries, {concurrency} at once"),
            format!("{:.0}", count as f64 / elapsed),
            "deliveries/s",
            format!(
                "{count} queued rows on SQLite, claimed, signed (HMAC-SHA256), POSTed to a loopback receiver that \
                 verifies each, recorded; one subscription"
            ),
        );
    }
    server.abort();
    Ok(())
}

/// Makes every delivery of the subscription pending again (the resend path).
async fn resend_all(store: &dyn WebhookStore, owner: &UserId, subscription: &WebhookId) -> Result<()> {
    let mut cursor = None;
    loop {
        let page = store.list_deliveries(owner, Some(subscription), cursor.as_ref(), 200).await?;
        for delivery in &page.deliveries {
            store.resend_delivery(&delivery.id, now_millis()).await?;
        }
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return Ok(()),
        }
    }
}
