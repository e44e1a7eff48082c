//! One model through two services (seed 003): `[routing] imagen4 = ["google",
//! "kie"]` sends a task naming `imagen4` alone to Google while it can take it, and
//! to Kie when Google is not configured, its circuit is open or its daily quota is
//! spent; the task says which and why. Against both emulators.

use atelier::config::Config;
use atelier_testkit::emulators::Emulator;
use serde_json::{Value, json};

use crate::helpers::{Options, TestApp};

struct Routed {
    app: TestApp,
    google: Emulator,
    kie: Emulator,
}

async fn start(google_faults: &[&str], tweak: impl FnOnce(&mut Config) + Send + 'static) -> Routed {
    let google = Emulator::google(google_faults, |_| {}).await;
    let kie = Emulator::kie(&[], |_| {}).await;
    let (pointed_google, pointed_kie) = (google.clone(), kie.clone());
    let configure = Box::new(move |config: &mut Config, _: &str| {
        pointed_google.point_google(config);
        pointed_kie.point_kie(config, 50);
        config.routing.insert("imagen4".into(), vec!["google".into(), "kie".into()]);
        tweak(config);
    });
    let app = TestApp::with(Options { configure: Some(configure), ..Options::default() }).await.expect("app");
    Routed { app, google, kie }
}

impl Routed {
    async fn run(&self) -> Value {
        let created =
            self.app.post("/api/v1/tasks", &json!({ "model": "imagen4", "input": { "prompt": "a fox" } })).await;
        assert_eq!(created.status(), 202, "{}", created.text().await.unwrap_or_default());
        let created: Value = created.json().await.expect("json");
        self.app.wait_for_end(created["task_id"].as_str().expect("id")).await
    }

    async fn calls(&self) -> (u64, u64) {
        let google = self.google.stats().await["predict"].as_u64().unwrap_or(0);
        let kie = &self.kie.stats().await;
        (google, kie["create_task"].as_u64().or_else(|| kie["createTask"].as_u64()).unwrap_or(0))
    }
}

#[tokio::test]
async fn the_first_service_takes_the_model_while_it_can() {
    let routed = start(&[], |_| {}).await;
    let task = routed.run().await;
    assert_eq!((task["status"].as_str(), task["service"].as_str()), (Some("completed"), Some("google")), "{task}");
    // The route names the model canonically, however the request and the config wrote it.
    assert_eq!(task["route"], json!({ "model": "imagen-4", "service": "google", "skipped": [] }), "{task}");
    assert_eq!(routed.calls().await, (1, 0));
    // Naming the service is not routed.
    let named = routed.app.post("/api/v1/tasks", &json!({ "model": "kie/imagen4", "input": { "prompt": "x" } })).await;
    let named: Value = named.json().await.expect("json");
    let named = routed.app.wait_for_end(named["task_id"].as_str().expect("id")).await;
    assert_eq!((named["service"].as_str(), named.get("route")), (Some("kie"), None), "{named}");
}

#[tokio::test]
async fn an_unconfigured_service_is_passed_over() {
    let routed = start(&[], |config| config.providers.google.api_key = atelier::config::Secret::new("")).await;
    let task = routed.run().await;
    assert_eq!((task["status"].as_str(), task["service"].as_str()), (Some("completed"), Some("kie")), "{task}");
    assert_eq!(task["route"]["skipped"], json!([{ "service": "google", "reason": "not_configured" }]), "{task}");
    assert_eq!(routed.calls().await, (0, 1));
}

#[tokio::test]
async fn an_open_circuit_sends_the_next_task_and_a_retry_to_the_next_service() {
    let routed = start(&["predict:always:status=500"], |config| {
        config.providers.circuit_failures = 1;
        config.providers.circuit_cooldown_secs = 600;
    })
    .await;
    // Google fails once and its circuit opens; the task, already Google's, waits
    // for the circuit (it is never sent elsewhere once routed).
    let created =
        routed.app.post("/api/v1/tasks", &json!({ "model": "imagen4", "input": { "prompt": "a fox" } })).await;
    let first: Value = created.json().await.expect("json");
    let first = first["task_id"].as_str().expect("id").to_owned();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let providers: Value = routed.app.get("/api/v1/providers").await.json().await.expect("json");
        let google = providers["providers"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|service| service["service"] == "google")
            .cloned()
            .unwrap_or_default();
        if google["circuit"] == "open" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "Google's circuit never opened: {providers}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(routed.calls().await, (1, 0));
    // The next task goes to Kie, saying why.
    let next = routed.run().await;
    assert_eq!((next["status"].as_str(), next["service"].as_str()), (Some("completed"), Some("kie")), "{next}");
    assert_eq!(next["route"]["skipped"], json!([{ "service": "google", "reason": "circuit_open" }]), "{next}");
    // The first, cancelled and retried, is routed again.
    let cancelled = routed.app.post(&format!("/api/v1/tasks/{first}/cancel"), &json!({})).await;
    assert!(cancelled.status().is_success(), "{}", cancelled.status());
    let retried = routed.app.post(&format!("/api/v1/tasks/{first}/retry"), &json!({})).await;
    assert!(retried.status().is_success(), "{}", retried.status());
    let retried: Value = retried.json().await.expect("json");
    let retried = routed.app.wait_for_end(retried["task_id"].as_str().expect("id")).await;
    assert_eq!(
        (retried["status"].as_str(), retried["service"].as_str()),
        (Some("completed"), Some("kie")),
        "{retried}"
    );
    assert_eq!(retried["retry_of"], json!(first), "{retried}");
    assert_eq!(routed.calls().await, (1, 2), "Google once, never again while its circuit is open");
}

#[tokio::test]
async fn a_spent_quota_sends_the_task_to_the_next_service() {
    let routed = start(&[], |config| {
        config
            .providers
            .limits
            .insert("google".into(), atelier::config::LimitsConfig { daily_tasks: 1, ..Default::default() });
    })
    .await;
    let first = routed.run().await;
    assert_eq!(first["service"], "google", "{first}");
    let second = routed.run().await;
    assert_eq!((second["status"].as_str(), second["service"].as_str()), (Some("completed"), Some("kie")), "{second}");
    assert_eq!(second["route"]["skipped"], json!([{ "service": "google", "reason": "quota_exceeded" }]), "{second}");
    assert_eq!(routed.calls().await, (1, 1));
}
