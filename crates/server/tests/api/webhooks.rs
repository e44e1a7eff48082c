//! Webhooks over HTTP, to a real receiver (axum on a loopback port, allowlisted
//! in `fetch.allow`): signatures checked with our code and with the Standard
//! Webhooks reference library (Python's `standardwebhooks`), retries after a
//! receiver's 500, the SSRF policy's 422, users kept apart, and a task's own
//! webhook with Replicate's event filter.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use atelier_core::account::Role;
use atelier_core::webhook::signing::{secret_key, verify};
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Options, TestApp, assert_error};

#[derive(Clone, Debug)]
struct Received {
    id: String,
    timestamp: String,
    signature: String,
    body: Vec<u8>,
}

impl Received {
    fn payload(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

#[derive(Default)]
struct Inbox {
    got: Mutex<Vec<Received>>,
    /// Statuses to answer, in order; 200 once they run out.
    answers: Mutex<VecDeque<u16>>,
}

/// A receiver on a loopback port; its `host:port`.
async fn receiver(answers: &[u16]) -> (Arc<Inbox>, String) {
    let inbox = Arc::new(Inbox::default());
    inbox.answers.lock().unwrap().extend(answers);
    let shared = inbox.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let inbox = shared.clone();
            async move {
                let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
                inbox.got.lock().unwrap().push(Received {
                    id: header("webhook-id"),
                    timestamp: header("webhook-timestamp"),
                    signature: header("webhook-signature"),
                    body: body.to_vec(),
                });
                let status = inbox.answers.lock().unwrap().pop_front().unwrap_or(200);
                (StatusCode::from_u16(status).unwrap(), format!("answered {status}"))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (inbox, address)
}

/// A test app that may send to `allow` and retries after one second.
async fn app_allowing(allow: &str) -> TestApp {
    let allow = allow.to_owned();
    let options = Options {
        configure: Some(Box::new(move |config, _| {
            config.fetch.allow = vec![allow];
            config.webhooks.retry_secs = vec![1, 1];
            config.webhooks.poll_ms = 50;
        })),
        ..Options::default()
    };
    TestApp::with(options).await.unwrap()
}

/// Waits until the inbox holds `count` messages whose type is `kind`.
async fn wait_for(inbox: &Inbox, kind: &str, count: usize) -> Vec<Received> {
    for _ in 0..200 {
        let got: Vec<Received> =
            inbox.got.lock().unwrap().iter().filter(|r| r.payload()["type"] == kind).cloned().collect();
        if got.len() >= count {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no {count} {kind} message(s) arrived: {:?}", inbox.got.lock().unwrap());
}

fn verified(secret: &str, message: &Received) -> bool {
    let key = secret_key(secret).unwrap();
    let now = chrono::Utc::now().timestamp();
    verify(&key, &message.id, message.timestamp.parse().unwrap(), &message.body, &message.signature, now)
}

/// The reference library's verdict, or `None` when its venv is missing (a failure
/// under `ATELIER_TEST_REQUIRE_TOOLS=1`).
fn python_verifies(secret: &str, message: &Received) -> Option<bool> {
    let home = std::env::var("HOME").unwrap_or_default();
    let python = std::path::Path::new(&home).join(".cache/atelier/worker-venv/bin/python");
    let script = "import sys, json\nfrom standardwebhooks import Webhook\n\
        secret, mid, ts, sig = sys.argv[1:5]\nbody = sys.stdin.buffer.read()\n\
        Webhook(secret).verify(body, {'webhook-id': mid, 'webhook-timestamp': ts, 'webhook-signature': sig})\n\
        print('verified')\n";
    let child = std::process::Command::new(&python)
        .args(["-c", script, secret, &message.id, &message.timestamp, &message.signature])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn();
    let Ok(mut child) = child else {
        let note = format!("{} is missing (scripts/python-venv makes it)", python.display());
        assert!(std::env::var("ATELIER_TEST_REQUIRE_TOOLS").as_deref() != Ok("1"), "{note}");
        eprintln!("skipped the reference check: {note}");
        return None;
    };
    use std::io::Write;
    child.stdin.take().unwrap().write_all(&message.body).unwrap();
    let output = child.wait_with_output().unwrap();
    if !output.status.success() {
        eprintln!("standardwebhooks: {}", String::from_utf8_lossy(&output.stderr));
    }
    Some(output.status.success() && String::from_utf8_lossy(&output.stdout).contains("verified"))
}

async fn subscribe(client: &reqwest::Client, app: &TestApp, body: Value) -> Value {
    let response = client.post(app.url("/api/v1/webhooks")).json(&body).send().await.unwrap();
    let status = response.status();
    let created: Value = response.json().await.unwrap();
    assert_eq!(status, 201, "{created}");
    created
}

#[tokio::test]
async fn a_subscription_gets_signed_task_events_the_reference_library_accepts() {
    let (inbox, address) = receiver(&[]).await;
    let app = app_allowing(&address).await;
    let url = format!("http://{address}/hook");
    let hook = subscribe(&app.http, &app, json!({ "url": url, "events": ["task.completed", "task.created"] })).await;
    let secret = hook["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"));
    let listed: Value = app.get("/api/v1/webhooks").await.json().await.unwrap();
    assert_eq!(listed["webhooks"][0]["id"], hook["id"]);
    assert!(listed["webhooks"][0].get("secret").is_none(), "the secret is shown once: {listed}");

    let id = app.create_placeholder("a lighthouse", json!({})).await;
    app.wait_for_end(&id).await;
    let completed = wait_for(&inbox, "task.completed", 1).await;
    let created = wait_for(&inbox, "task.created", 1).await;
    let message = &completed[0];
    assert_eq!(message.payload()["data"]["task_id"], id.as_str());
    assert_eq!(message.payload()["data"]["status"], "completed");
    assert!(message.id.starts_with("msg_"));
    assert!(verified(&secret, message), "our own check");
    assert!(verified(&secret, &created[0]));
    let mut tampered = message.clone();
    tampered.body.push(b' ');
    assert!(!verified(&secret, &tampered));
    if let Some(accepted) = python_verifies(&secret, message) {
        assert!(accepted, "standardwebhooks accepts the signature");
        assert_eq!(python_verifies(&secret, &tampered), Some(false), "and refuses a changed body");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let kinds: Vec<String> =
        inbox.got.lock().unwrap().iter().map(|r| r.payload()["type"].as_str().unwrap().to_owned()).collect();
    assert_eq!(kinds.iter().filter(|k| *k == "task.completed").count(), 1, "{kinds:?}");
    assert!(!kinds.iter().any(|k| k == "task.started"), "not subscribed to: {kinds:?}");

    let log: Value =
        app.get(&format!("/api/v1/webhooks/{}/deliveries", hook["id"].as_str().unwrap())).await.json().await.unwrap();
    let entry = log["deliveries"].as_array().unwrap().iter().find(|d| d["event"] == "task.completed").unwrap().clone();
    assert_eq!((entry["status"].as_str(), entry["last_status"].as_u64()), (Some("delivered"), Some(200)), "{entry}");
    assert_eq!(entry["answer_excerpt"], "answered 200");
    assert_eq!(entry["id"].as_str(), Some(message.id.as_str()));
}

#[tokio::test]
async fn failed_attempts_are_retried_on_schedule_and_a_resend_keeps_the_id() {
    let (inbox, address) = receiver(&[500, 503, 500]).await;
    let app = app_allowing(&address).await;
    let hook = subscribe(&app.http, &app, json!({ "url": format!("http://{address}/hook") })).await;
    let hook_id = hook["id"].as_str().unwrap().to_owned();
    let response = app.post(&format!("/api/v1/webhooks/{hook_id}/test"), &json!({})).await;
    assert_eq!(response.status(), 202);
    let ping: Value = response.json().await.unwrap();
    // Three attempts: the first, and one after each of the two delays; then failed.
    let got = wait_for(&inbox, "webhook.test", 3).await;
    assert!(got.iter().all(|r| r.id == ping["id"].as_str().unwrap()), "one webhook-id on every attempt");
    let mut delivery = Value::Null;
    for _ in 0..100 {
        delivery = app.get(&format!("/api/v1/webhooks/{hook_id}/deliveries")).await.json().await.unwrap();
        if delivery["deliveries"][0]["status"] == "failed" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let entry = &delivery["deliveries"][0];
    assert_eq!((entry["status"].as_str(), entry["attempts"].as_u64()), (Some("failed"), Some(3)), "{delivery}");
    assert_eq!(entry["last_status"], 500);
    let resent =
        app.post(&format!("/api/v1/webhooks/deliveries/{}/resend", ping["id"].as_str().unwrap()), &json!({})).await;
    assert_eq!(resent.status(), 202);
    let got = wait_for(&inbox, "webhook.test", 4).await;
    assert_eq!(got[3].id, got[0].id);
    assert!(verified(hook["secret"].as_str().unwrap(), &got[3]));
}

#[tokio::test]
async fn private_urls_are_refused_and_users_see_only_their_own_webhooks() {
    let app = TestApp::spawn().await;
    let refused = app.post("/api/v1/webhooks", &json!({ "url": "http://127.0.0.1:9/hook" })).await;
    let body = assert_error(refused, 422, "validation_error").await;
    assert_eq!(body["details"]["field"], "url", "{body}");
    let metadata = app.post("/api/v1/webhooks", &json!({ "url": "http://169.254.169.254/latest" })).await;
    assert_error(metadata, 422, "validation_error").await;
    let task = app
        .post(
            "/api/v1/tasks",
            &json!({ "model": "local/placeholder", "input": { "prompt": "x" }, "webhook": "http://10.1.2.3/" }),
        )
        .await;
    let body = assert_error(task, 422, "validation_error").await;
    assert_eq!(body["details"]["field"], "webhook", "{body}");
    let unknown =
        app.post("/api/v1/webhooks", &json!({ "url": "https://example.com/h", "events": ["task.exploded"] })).await;
    assert_error(unknown, 422, "validation_error").await;

    let (ada, _) = app.user("ada@example.com", Role::Member).await;
    let (bob, _) = app.user("bob@example.com", Role::Member).await;
    let hook = subscribe(&ada, &app, json!({ "url": "https://93.184.216.34/hook" })).await;
    let path = format!("/api/v1/webhooks/{}", hook["id"].as_str().unwrap());
    assert_error(bob.get(app.url(&path)).send().await.unwrap(), 404, "not_found").await;
    assert_error(bob.delete(app.url(&path)).send().await.unwrap(), 404, "not_found").await;
    let test = bob.post(app.url(&format!("{path}/test"))).send().await.unwrap();
    assert_error(test, 404, "not_found").await;
    let listed: Value = bob.get(app.url("/api/v1/webhooks")).send().await.unwrap().json().await.unwrap();
    assert_eq!(listed["webhooks"], json!([]));
    let rotated: Value = ada
        .patch(app.url(&path))
        .json(&json!({ "rotate_secret": true, "enabled": false }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_ne!(rotated["secret"], hook["secret"]);
    assert_eq!(rotated["enabled"], false);
    assert_eq!(ada.delete(app.url(&path)).send().await.unwrap().status(), 204);
    assert_error(ada.get(app.url(&path)).send().await.unwrap(), 404, "not_found").await;
}

#[tokio::test]
async fn a_tasks_own_webhook_gets_only_its_filtered_events() {
    let (inbox, address) = receiver(&[]).await;
    let app = app_allowing(&address).await;
    let secret: Value = app.get("/api/v1/webhooks/default/secret").await.json().await.unwrap();
    let secret = secret["key"].as_str().unwrap().to_owned();
    let request = json!({
        "model": "local/placeholder",
        "input": { "prompt": "a harbour", "width": 128, "height": 96 },
        "webhook": format!("http://{address}/hook"),
        "webhook_events_filter": ["completed"],
    });
    let response = app.post("/api/v1/tasks", &request).await;
    assert_eq!(response.status(), 202);
    let task: Value = response.json().await.unwrap();
    let id = task["task_id"].as_str().unwrap();
    app.wait_for_end(id).await;
    let completed = wait_for(&inbox, "task.completed", 1).await;
    assert!(verified(&secret, &completed[0]), "signed with the default secret");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let kinds: Vec<String> =
        inbox.got.lock().unwrap().iter().map(|r| r.payload()["type"].as_str().unwrap().to_owned()).collect();
    assert_eq!(kinds, vec!["task.completed"], "only what the filter names");
    let log: Value = app.get("/api/v1/webhooks/default/deliveries").await.json().await.unwrap();
    assert_eq!(log["deliveries"][0]["task_id"], id, "{log}");
    let bad =
        json!({ "model": "local/placeholder", "input": { "prompt": "x" }, "webhook_events_filter": ["completed"] });
    let body = assert_error(app.post("/api/v1/tasks", &bad).await, 422, "validation_error").await;
    assert_eq!(body["details"]["field"], "webhook_events_filter");
    let mut wrong = request.clone();
    wrong["webhook_events_filter"] = json!(["finished"]);
    let body = assert_error(app.post("/api/v1/tasks", &wrong).await, 422, "validation_error").await;
    assert_eq!(body["details"]["field"], "webhook_events_filter");
}
