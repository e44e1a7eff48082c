//! The worker's policies, through the real app and store, with scripted providers:
//! retries per error class, remote submit-then-poll, progress.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use atelier_core::CoreError;
use atelier_core::catalog::{Modality, ModelSpec};
use atelier_core::ports::{ErrorClass, Job, Output, Polled, Provider, ProviderError, Submitted};
use serde_json::{Value, json};

use crate::helpers::{Options, TestApp};

/// `scripted/flaky`: attempt n fails with `errors[n-1]` when there is one, else
/// succeeds. `scripted/remote`: accepted at once, polled twice as running, then done.
#[derive(Default)]
struct Scripted {
    submits: AtomicUsize,
    polls: AtomicUsize,
}

fn tiny_png() -> Output {
    let mut bytes = Vec::new();
    let image = image::RgbImage::from_pixel(8, 8, image::Rgb([10, 200, 30]));
    image.write_to(&mut std::io::Cursor::new(&mut bytes), image::ImageFormat::Png).expect("encode");
    Output::new(bytes, "image/png").with_size(8, 8)
}

fn class(name: &str) -> ErrorClass {
    match name {
        "timeout" => ErrorClass::Timeout,
        "connection_refused" => ErrorClass::ConnectionRefused,
        "server_error" => ErrorClass::ServerError,
        "rate_limited" => ErrorClass::RateLimited,
        "insufficient_credits" => ErrorClass::InsufficientCredits,
        "malformed" => ErrorClass::MalformedResponse,
        "generation_failed" => ErrorClass::GenerationFailed,
        _ => ErrorClass::ClientError,
    }
}

#[async_trait]
impl Provider for Scripted {
    fn service(&self) -> &str {
        "scripted"
    }

    fn models(&self) -> Vec<ModelSpec> {
        ["flaky", "remote"]
            .into_iter()
            .map(|model| ModelSpec {
                service: "scripted".into(),
                model: model.into(),
                modality: Modality::Image,
                title: model.into(),
                description: "a test provider".into(),
                input_schema: json!({ "type": "object" }),
                estimated_seconds: 1,
                poll_timeout_secs: None,
                requires_config: None,
            })
            .collect()
    }

    fn validate(&self, _model: &str, input: &Value) -> Result<Value, CoreError> {
        Ok(input.clone())
    }

    fn submit_is_costly(&self) -> bool {
        true
    }

    async fn submit(&self, job: &Job<'_>) -> Result<Submitted, ProviderError> {
        self.submits.fetch_add(1, Ordering::SeqCst);
        if job.model == "remote" {
            return Ok(Submitted::Accepted {
                external_id: format!("ext-{}", job.task_id),
                poll_after: Duration::from_millis(30),
            });
        }
        let errors = job.input["errors"].as_array().cloned().unwrap_or_default();
        match errors.get(job.attempt as usize - 1).and_then(Value::as_str) {
            Some(name) => {
                let mut error = ProviderError::new(class(name), format!("scripted {name}"));
                if name == "rate_limited" {
                    error.retry_after = Some(Duration::from_millis(50));
                }
                Err(error)
            }
            None => Ok(Submitted::Finished(vec![tiny_png()])),
        }
    }

    async fn poll(&self, job: &Job<'_>, external_id: &str) -> Result<Polled, ProviderError> {
        assert_eq!(external_id, format!("ext-{}", job.task_id), "polled with the recorded id");
        let n = self.polls.fetch_add(1, Ordering::SeqCst);
        Ok(if n < 2 {
            Polled::Running { progress: Some(30 * (n as u8 + 1)), poll_after: Duration::from_millis(30) }
        } else {
            Polled::Finished(vec![tiny_png()])
        })
    }

    async fn cancel(&self, _external_id: &str) -> Result<(), ProviderError> {
        Ok(())
    }
}

async fn app_with(provider: Arc<Scripted>) -> TestApp {
    TestApp::with(Options { providers: vec![provider], ..Options::default() }).await.unwrap()
}

async fn run(app: &TestApp, model: &str, input: Value) -> Value {
    let task: Value = app.post("/api/v1/tasks", &json!({ "model": model, "input": input })).await.json().await.unwrap();
    app.wait_for_end(task["task_id"].as_str().unwrap()).await
}

#[tokio::test]
async fn server_errors_are_retried_with_backoff_then_succeed() {
    let provider = Arc::new(Scripted::default());
    let app = app_with(provider.clone()).await;
    let task = run(&app, "scripted/flaky", json!({ "errors": ["server_error", "timeout"] })).await;
    assert_eq!(task["status"], "completed", "{task}");
    assert_eq!(task["attempts"], 3);
    assert_eq!(provider.submits.load(Ordering::SeqCst), 3);
    assert!(task.get("error").is_none(), "a success clears the last error: {task}");
}

#[tokio::test]
async fn each_error_class_has_its_limit() {
    let cases = [
        // (errors, final status, attempts, error code)
        (json!(["server_error", "server_error", "server_error"]), "failed", 3, "provider_error"),
        (json!(["timeout", "timeout", "timeout"]), "failed", 3, "timeout"),
        (json!(["client_error"]), "failed", 1, "provider_rejected"),
        (json!(["insufficient_credits"]), "failed", 1, "insufficient_credits"),
        (json!(["malformed"]), "failed", 1, "malformed_response"),
        (json!(["generation_failed"]), "failed", 1, "generation_failed"),
        (json!(["rate_limited", "rate_limited"]), "completed", 3, ""),
    ];
    let provider = Arc::new(Scripted::default());
    let app = app_with(provider.clone()).await;
    for (errors, status, attempts, code) in cases {
        let task = run(&app, "scripted/flaky", json!({ "errors": errors })).await;
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
    let provider = Arc::new(Scripted::default());
    let app = app_with(provider.clone()).await;
    let started = std::time::Instant::now();
    let errors = json!(["connection_refused", "connection_refused"]);
    let task = run(&app, "scripted/flaky", json!({ "errors": errors })).await;
    assert_eq!(task["status"], "completed");
    assert_eq!(task["attempts"], 3);
    // Two refusals, one second apart each: at least two seconds in all.
    assert!(started.elapsed() >= Duration::from_secs(2), "{:?}", started.elapsed());
}

#[tokio::test]
async fn remote_tasks_are_submitted_once_and_polled_to_the_end() {
    let provider = Arc::new(Scripted::default());
    let app = app_with(provider.clone()).await;
    let task = run(&app, "scripted/remote", json!({})).await;
    assert_eq!(task["status"], "completed", "{task}");
    assert_eq!(task["external_task_id"], format!("ext-{}", task["task_id"].as_str().unwrap()));
    assert_eq!(task["attempts"], 1, "polls are not attempts");
    assert_eq!(provider.submits.load(Ordering::SeqCst), 1);
    assert_eq!(provider.polls.load(Ordering::SeqCst), 3);
    assert_eq!(task["images"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn repeated_provider_failures_open_its_circuit() {
    let provider = Arc::new(Scripted::default());
    let configure: crate::helpers::Configure = Box::new(|config, _| {
        config.providers.circuit_failures = 2;
        config.providers.circuit_cooldown_secs = 60;
    });
    let app =
        TestApp::with(Options { providers: vec![provider.clone()], configure: Some(configure), ..Options::default() })
            .await
            .unwrap();
    let body =
        json!({ "model": "scripted/flaky", "input": { "errors": ["server_error", "server_error", "server_error"] } });
    let task: Value = app.post("/api/v1/tasks", &body).await.json().await.unwrap();
    let id = task["task_id"].as_str().unwrap().to_owned();
    // Two failures open the circuit; the third attempt is held back, not made.
    for _ in 0..100 {
        let providers: Value = app.get("/api/v1/providers").await.json().await.unwrap();
        let scripted = providers["providers"].as_array().unwrap().iter().find(|p| p["service"] == "scripted").cloned();
        if scripted.as_ref().is_some_and(|p| p["circuit"] == "open") {
            tokio::time::sleep(Duration::from_millis(300)).await;
            assert_eq!(provider.submits.load(Ordering::SeqCst), 2, "no call while the circuit is open");
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

/// `limited/model`: takes at most 2 submits per 400 ms, and records when each came.
#[derive(Default)]
struct Limited {
    submits: std::sync::Mutex<Vec<std::time::Instant>>,
}

#[async_trait]
impl Provider for Limited {
    fn service(&self) -> &str {
        "limited"
    }

    fn models(&self) -> Vec<ModelSpec> {
        let mut spec = Scripted::default().models().remove(0);
        spec.service = "limited".into();
        spec.model = "model".into();
        vec![spec]
    }

    fn validate(&self, _model: &str, input: &Value) -> Result<Value, CoreError> {
        Ok(input.clone())
    }

    fn submit_is_costly(&self) -> bool {
        true
    }

    fn submit_rate_limit(&self) -> Option<atelier_core::ratelimit::RateLimit> {
        Some(atelier_core::ratelimit::RateLimit { requests: 2, window: Duration::from_millis(400) })
    }

    async fn submit(&self, _job: &Job<'_>) -> Result<Submitted, ProviderError> {
        self.submits.lock().unwrap().push(std::time::Instant::now());
        Ok(Submitted::Finished(vec![tiny_png()]))
    }

    async fn poll(&self, _job: &Job<'_>, _external_id: &str) -> Result<Polled, ProviderError> {
        Err(ProviderError::new(ErrorClass::ClientError, "finishes in submit"))
    }

    async fn cancel(&self, _external_id: &str) -> Result<(), ProviderError> {
        Ok(())
    }
}

#[tokio::test]
async fn submits_keep_to_the_providers_rate_limit() {
    let provider = Arc::new(Limited::default());
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
    let submits = provider.submits.lock().unwrap().clone();
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
