//! Backpressure over HTTP, on both backends: past the queue's room a create
//! answers 429 `rate_limit_exceeded`, and its `Retry-After` comes from how fast
//! the queue drains now: a guess while nothing is measured, a minute while
//! nothing leaves, and the time the excess takes at the measured rate otherwise.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{Options, TestApp, assert_error};

const ROOM: u64 = 3;

async fn app(postgres: bool, workers: bool) -> Option<TestApp> {
    let configure = Box::new(|config: &mut atelier::config::Config, _: &str| {
        config.engines.instant.enabled = true;
        config.worker.concurrency = 1;
    });
    TestApp::with(Options { workers, postgres, max_queued: ROOM, configure: Some(configure), ..Options::default() })
        .await
}

/// Tries one create of a task lasting `delay_ms`: `None` when accepted, else the
/// 429's `Retry-After` (seconds) and its `details`.
async fn try_create(app: &TestApp, delay_ms: u64) -> Option<(u64, Value)> {
    let response =
        app.post("/api/v1/tasks", &json!({ "model": "local/instant", "input": { "delay_ms": delay_ms } })).await;
    if response.status() == 202 {
        return None;
    }
    let header = response.headers().get("retry-after").and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
    let body = assert_error(response, 429, "rate_limit_exceeded").await;
    let retry_after: u64 = header.unwrap_or_else(|| panic!("no Retry-After: {body}"));
    assert_eq!(body["retry_after"], retry_after, "{body}");
    assert_eq!((&body["details"]["reason"], &body["details"]["scope"]), (&json!("queue_full"), &json!("overall")));
    Some((retry_after, body["details"].clone()))
}

#[tokio::test]
async fn retry_after_follows_the_drain_rate_on_sqlite() {
    retry_after_follows_the_drain_rate(false).await;
}

#[tokio::test]
async fn retry_after_follows_the_drain_rate_on_postgres() {
    retry_after_follows_the_drain_rate(true).await;
}

async fn retry_after_follows_the_drain_rate(postgres: bool) {
    // No worker: nothing leaves the queue.
    let Some(stalled) = app(postgres, false).await else { return };
    for _ in 0..ROOM {
        assert!(try_create(&stalled, 0).await.is_none(), "room for {ROOM}");
    }
    tokio::time::sleep(Duration::from_millis(300)).await; // past the cached count
    let (unknown, details) = try_create(&stalled, 0).await.expect("full");
    assert_eq!((unknown, &details["drain_per_second"]), (5, &Value::Null), "nothing measured yet: {details}");
    assert_eq!((&details["queued"], &details["limit"]), (&json!(ROOM), &json!(ROOM)), "{details}");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (stuck, details) = try_create(&stalled, 0).await.expect("full");
    assert_eq!((stuck, &details["drain_per_second"]), (60, &json!(0.0)), "a queue that does not move: {details}");

    // One worker, tasks of 1.5 s: the queue drains at about 0.67 a second, so one
    // more task has room in about 2 s. Keep it full for 4 s.
    let Some(draining) = app(postgres, true).await else { return };
    let started = Instant::now();
    let mut refused = None;
    while started.elapsed() < Duration::from_secs(4) {
        if let Some(answer) = try_create(&draining, 1_500).await {
            refused = Some(answer);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (retry_after, details) = refused.expect("the queue was full at some point");
    let rate = details["drain_per_second"].as_f64().unwrap_or_else(|| panic!("a measured rate: {details}"));
    assert!((0.2..=1.5).contains(&rate), "about 0.67 tasks a second leave the queue, measured {rate}: {details}");
    let excess = details["queued"].as_u64().expect("queued") + 1 - ROOM;
    // The rate shown is rounded to a tenth; the wait was computed from the exact one.
    let bounds = [rate + 0.05, (rate - 0.05).max(0.01)].map(|r| ((excess as f64 / r).ceil() as u64).max(1));
    assert!(
        (bounds[0]..=bounds[1]).contains(&retry_after),
        "{excess} over the room at {rate}/s should wait {bounds:?} s, Retry-After said {retry_after}: {details}"
    );
    println!("drained at {rate}/s: Retry-After {retry_after} s for {excess} over the room");
    assert!(retry_after < 60, "a draining queue is not told to wait as long as a stuck one");
}
