//! The worker's policies, through the real app and store, with scripted providers:
//! retries per error class, remote submit-then-poll, progress.

use std::sync::Arc;
use std::time::Duration;

use atelier_core::catalog::Modality;
use atelier_core::testing::{Answer, Scripted};
use serde_json::{Value, json};

use crate::helpers::{Options, TestApp};

/// `scripted/flaky` fails attempt n with the input's `errors[n-1]` when there is one;
/// `scripted/remote` is accepted at once, polled twice as running, then done. Both
/// cost money (marked before a submit, never sent twice blindly).
fn scripted() -> Scripted {
    let models = ["flaky", "remote"].map(|model| Scripted::spec("scripted", model, Modality::Image)).to_vec();
    Scripted::new("scripted").with_models(models).costly()
}

fn remote() -> Scripted {
    scripted().on_submit([Answer::Accept("ext-{task}".into())]).on_poll([Answer::Running, Answer::Running])
}

async fn app_with(provider: Arc<Scripted>) -> TestApp {
    TestApp::with(Options { providers: vec![provider], ..Options::default() }).await.unwrap()
}

#[tokio::test]
async fn server_errors_are_retried_with_backoff_then_succeed() {
    let provider = Arc::new(scripted());
    let app = app_with(provider.clone()).await;
    let task = app.run("scripted/flaky", json!({ "errors": ["provider_error", "timeout"] })).await;
    assert_eq!(task["status"], "completed", "{task}");
    assert_eq!(task["attempts"], 3);
    assert_eq!(provider.submits(), 3);
    assert!(task.get("error").is_none(), "a success clears the last error: {task}");
}

#[tokio::test]
async fn each_error_class_has_its_limit() {
    let cases = [
        // (errors, final status, attempts, error code)
        (json!(["provider_error", "provider_error", "provider_error"]), "failed", 3, "provider_error"),
        (json!(["timeout", "timeout", "timeout"]), "failed", 3, "timeout"),
        (json!(["provider_rejected"]), "failed", 1, "provider_rejected"),
        (json!(["insufficient_credits"]), "failed", 1, "insufficient_credits"),
        (json!(["malformed_response"]), "failed", 1, "malformed_response"),
        (json!(["generation_failed"]), "failed", 1, "generation_failed"),
        (json!(["provider_rate_limited", "provider_rate_limited"]), "completed", 3, ""),
    ];
    let provider = Arc::new(scripted());
    let app = app_with(provider.clone()).await;
    for (errors, status, attempts, code) in cases {
        let task = app.run("scripted/flaky", json!({ "errors": errors })).await;
        assert_eq!(task["status"], status, "{errors}: {task}");
        assert_eq!(task["attempts"], attempts, "{errors}: {task}");
        if !code.is_empty() {
            assert_eq!(task["error"]["code"], code, "{task}");
            assert_eq!(task["error_message"], task["error"]["message"]);
        }
    }
}

#[tokio::test]
async fn connection_refused_is_retried_every_second_up_to_five_times() {
    let provider = Arc::new(scripted());
    let app = app_with(provider.clone()).await;
    let started = std::time::Instant::now();
    let errors = json!(["connection_refused", "connection_refused"]);
    let task = app.run("scripted/flaky", json!({ "errors": errors })).await;
    assert_eq!(task["status"], "completed");
    assert_eq!(task["attempts"], 3);
    // Two refusals, one second apart each: at least two seconds in all.
    assert!(started.elapsed() >= Duration::from_secs(2), "{:?}", started.elapsed());
}

#[tokio::test]
async fn remote_tasks_are_submitted_once_and_polled_to_the_end() {
    let provider = Arc::new(remote());
    let app = app_with(provider.clone()).await;
    let task = app.run("scripted/remote", json!({})).await;
    assert_eq!(task["status"], "completed", "{task}");
    let external_id = format!("ext-{}", task["task_id"].as_str().unwrap());
    assert_eq!(task["external_task_id"], external_id);
    assert_eq!(task["attempts"], 1, "polls are not attempts");
    assert_eq!(provider.submits(), 1);
    assert_eq!(
        provider.polled_ids(),
        [external_id.clone(), external_id.clone(), external_id],
        "polled by the recorded id"
    );
    assert_eq!(task["images"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn repeated_provider_failures_open_its_circuit() {
    let provider = Arc::new(scripted());
    let configure: crate::helpers::Configure = Box::new(|config, _| {
        config.providers.circuit_failures = 2;
        config.providers.circuit_cooldown_secs = 60;
    });
    let app =
        TestApp::with(Options { providers: vec![provider.clone()], configure: Some(configure), ..Options::default() })
            .await
            .unwrap();
    let body = json!({ "model": "scripted/flaky", "input": { "errors": ["provider_error", "provider_error", "provider_error"] } });
    let task: Value = app.post("/api/v1/tasks", &body).await.json().await.unwrap();
    let id = task["task_id"].as_str().unwrap().to_owned();
    // Two failures open the circuit; the third attempt is held back, not made.
    for _ in 0..100 {
        let providers: Value = app.get("/api/v1/providers").await.json().await.unwrap();
        let scripted = providers["providers"].as_array().unwrap().iter().find(|p| p["service"] == "scripted").cloned();
        if scripted.as_ref().is_some_and(|p| p["circuit"] == "open") {
            tokio::time::sleep(Duration::from_millis(300)).await;
            assert_eq!(provider.submits(), 2, "no call while the circuit is open");
            let task: Value = app.get(&format!("/api/v1/tasks/{id}")).await.json().await.unwrap();
            assert!(matches!(task["status"].as_str(), Some("pending" | "retrying")), "{task}");
            let local = providers["providers"].as_array().unwrap().iter().find(|p| p["service"] == "local").unwrap();
            assert_eq!(local["circuit"], "closed");
            let kie = providers["providers"].as_array().unwrap().iter().find(|p| p["service"] == "kie").unwrap();
            assert_eq!(kie["configured"], false);
            assert_eq!(kie["requires_config"], "providers.kie.api_key");
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the circuit never opened");
}

#[tokio::test]
async fn submits_keep_to_the_providers_rate_limit() {
    let limit = atelier_core::ratelimit::RateLimit { requests: 2, window: Duration::from_millis(400) };
    let provider = Arc::new(Scripted::new("limited").with_rate_limit(limit));
    let app = TestApp::with(Options { providers: vec![provider.clone()], ..Options::default() }).await.unwrap();
    let mut ids = Vec::new();
    for n in 0..6 {
        let task: Value = app
            .post("/api/v1/tasks", &json!({ "model": "limited/model", "input": { "n": n } }))
            .await
            .json()
            .await
            .unwrap();
        ids.push(task["task_id"].as_str().unwrap().to_owned());
    }
    for id in &ids {
        let task = app.wait_for_end(id).await;
        assert_eq!(task["status"], "completed", "{task}");
        assert_eq!(task["attempts"], 1, "waiting for a slot is not an attempt: {task}");
    }
    let submits = provider.submit_times();
    assert_eq!(submits.len(), 6);
    // Any three consecutive submits span at least the window.
    for three in submits.windows(3) {
        assert!(
            three[2].duration_since(three[0]) >= Duration::from_millis(395),
            "{:?}",
            three[2].duration_since(three[0])
        );
    }
}

/// Two instances on one database (issue 18): a user's requests a minute are
/// counted once, whichever instance answers them.
#[tokio::test]
async fn rate_limits_hold_across_instances_sharing_a_database() {
    for database in atelier_testkit::TestDatabase::all().await {
        let (dir_one, dir_two) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let mut instances = Vec::new();
        for dir in [&dir_one, &dir_two] {
            let mut config = crate::helpers::base_config(dir.path(), &database.url);
            config.worker.enabled = false;
            instances.push(atelier::app::App::build(config).await.unwrap());
        }
        let limit = atelier_core::ratelimit::RateLimit { requests: 3, window: Duration::from_secs(60) };
        let take = |n: usize| instances[n % 2].state.request_limits.acquire("user-1", limit);
        for n in 0..3 {
            assert_eq!(take(n).await.unwrap(), Ok(()), "{}", database.url);
        }
        for n in 0..2 {
            let wait = take(n).await.unwrap().expect_err("the fourth request of the minute, on either instance");
            assert!(wait > Duration::from_secs(50) && wait <= Duration::from_secs(60), "{wait:?}");
        }
        assert_eq!(instances[1].state.request_limits.acquire("user-2", limit).await.unwrap(), Ok(()), "users apart");
        for instance in &instances {
            instance.database.close().await;
        }
    }
}
