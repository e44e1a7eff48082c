//! Webhooks across a SIGKILL: the receiver answers 503 while the first server
//! runs, so deliveries are pending (some mid-attempt) when it is killed; a second
//! server on the same database sends them once the receiver answers 200. Every
//! task's `task.completed` arrives, and after deduplicating by `webhook-id` (as a
//! receiver must: delivery is at least once) exactly once: no task has two
//! messages with different ids.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use atelier_testkit::TestDatabase;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};

use crate::harness::{atelier, create_many, http, run_cli, serve, temp_dir, wait_all_completed, wait_completed};

const TASKS: u64 = 40;

#[derive(Default)]
struct Inbox {
    open: AtomicBool,
    /// (webhook-id, task id, event, the status answered)
    got: Mutex<Vec<(String, String, String, u16)>>,
}

async fn receiver() -> (Arc<Inbox>, String) {
    let inbox = Arc::new(Inbox::default());
    let shared = inbox.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let inbox = shared.clone();
            async move {
                let id = headers.get("webhook-id").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
                let payload: Value = serde_json::from_slice(&body).unwrap_or_default();
                let task = payload["data"]["task_id"].as_str().unwrap_or_default().to_owned();
                let kind = payload["type"].as_str().unwrap_or_default().to_owned();
                let status = if inbox.open.load(Ordering::SeqCst) { 200 } else { 503 };
                inbox.got.lock().unwrap().push((id, task, kind, status));
                StatusCode::from_u16(status).unwrap()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (inbox, address)
}

#[tokio::test]
async fn webhooks_survive_a_crash_sqlite() {
    webhook_crash("sqlite", None).await;
}

#[tokio::test]
async fn webhooks_survive_a_crash_postgres() {
    let Some(database) = TestDatabase::postgres().await else { return };
    webhook_crash("postgres", Some(&database.url)).await;
}

async fn webhook_crash(backend: &str, database_url: Option<&str>) {
    let started = Instant::now();
    let (inbox, address) = receiver().await;
    let dir = temp_dir();
    let data = dir.path().join("data");
    let allow = format!("[\"{address}\"]");
    let env = [
        ("ATELIER__ENGINES__INSTANT__ENABLED", "true"),
        ("ATELIER__WORKER__CONCURRENCY", "4"),
        ("ATELIER__WORKER__LEASE_SECS", "2"),
        ("ATELIER__WORKER__IDLE_POLL_MS", "200"),
        ("ATELIER__FETCH__ALLOW", allow.as_str()),
        (
            "ATELIER__WEBHOOKS__RETRY_SECS",
            "[1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]",
        ),
        ("ATELIER__WEBHOOKS__TIMEOUT_SECS", "1"),
        ("ATELIER__WEBHOOKS__POLL_MS", "100"),
        ("ATELIER__WEBHOOKS__SWEEP_SECS", "2"),
    ];

    let mut first = serve(&format!("serve #1 ({backend})"), &data, database_url, &env);
    let client = http(&first.key);
    let hook = client
        .post(format!("{}/api/v1/webhooks", first.base))
        .json(&json!({ "url": format!("http://{address}/hook"), "events": ["task.completed"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(hook.status(), 201, "{}", hook.text().await.unwrap_or_default());
    let ids = create_many(&client, &first.base, TASKS, 40).await;
    let completed = wait_completed(&mut first, &client, 10, Duration::from_secs(30)).await;
    // Wait until the receiver has refused some attempts: deliveries are pending.
    let deadline = Instant::now() + Duration::from_secs(20);
    while inbox.got.lock().unwrap().len() < 5 {
        assert!(Instant::now() < deadline, "no delivery was attempted\n{}", first.process.tail());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first.process.kill_hard();
    let refused_before = inbox.got.lock().unwrap().len();
    drop(first);
    inbox.open.store(true, Ordering::SeqCst);

    let mut second = serve(&format!("serve #2 ({backend})"), &data, database_url, &env);
    wait_all_completed(&mut second, &mut [], &client, &ids, Duration::from_secs(60)).await;
    // Every task's completion arrives (a claim cut off by the kill waits for its lease).
    let deadline = Instant::now() + Duration::from_secs(60);
    let delivered = loop {
        let got = inbox.got.lock().unwrap().clone();
        let mut delivered: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (id, task, kind, status) in &got {
            if *status == 200 && kind == "task.completed" {
                delivered.entry(task.clone()).or_default().insert(id.clone());
            }
        }
        if delivered.len() >= ids.len() {
            break delivered;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {} tasks' completions delivered\n{}",
            delivered.len(),
            ids.len(),
            second.process.tail()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    let strangers: Vec<&String> = delivered.keys().filter(|task| !ids.contains(*task)).collect();
    assert!(strangers.is_empty(), "messages for tasks this test did not make: {strangers:?}");
    let twice: Vec<(&String, &BTreeSet<String>)> = delivered.iter().filter(|(_, ids)| ids.len() != 1).collect();
    assert!(twice.is_empty(), "a task's completion under more than one webhook-id: {twice:?}");
    // The CLI reads the same log, and removes the webhook.
    let cli = |args: &[&str]| {
        let mut command = atelier(["webhooks"]);
        command.args(args).args(["--server", &second.base, "--api-key", &second.key, "--output", "json"]);
        command
    };
    let listed = run_cli(cli(&["list"]), Duration::from_secs(20)).await;
    assert!(listed.status.success(), "{}", String::from_utf8_lossy(&listed.stderr));
    let listed: Value = serde_json::from_slice(&listed.stdout).unwrap();
    let hook_id = listed["webhooks"][0]["id"].as_str().unwrap().to_owned();
    let log = run_cli(cli(&["deliveries", &hook_id, "--limit", "5"]), Duration::from_secs(20)).await;
    let log: Value = serde_json::from_slice(&log.stdout).unwrap();
    assert_eq!(log["deliveries"].as_array().map(Vec::len), Some(5), "{log}");
    assert_eq!(log["deliveries"][0]["status"], "delivered", "{log}");
    let removed = run_cli(cli(&["remove", &hook_id]), Duration::from_secs(20)).await;
    assert!(removed.status.success(), "{}", String::from_utf8_lossy(&removed.stderr));
    let listed = run_cli(cli(&["list"]), Duration::from_secs(20)).await;
    let listed: Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(listed["webhooks"], json!([]));
    let got = inbox.got.lock().unwrap().clone();
    let repeats = got.iter().filter(|(_, _, _, status)| *status == 200).count() - delivered.len();
    println!(
        "webhook_crash ({backend}): killed after {completed} of {TASKS} completed and {refused_before} refused attempts; \
         every completion delivered once by webhook-id ({repeats} repeated sends) in {:?}",
        started.elapsed()
    );
}
