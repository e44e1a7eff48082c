//! Kie.ai through Atelier, against the in-tree emulator speaking Kie's protocol:
//! success, and each fault class, with the number of submits it took.

use atelier_testkit::emulators::{Emulator, kie_callbacks};
use serde_json::{Value, json};

use crate::helpers::{Options, TestApp, assert_error};

struct Emulated {
    app: TestApp,
    kie: Emulator,
}

async fn start(faults: &[&str]) -> Emulated {
    start_with(faults, None, 50).await
}

/// An emulator (signing callbacks with `webhook_key` when given) and an app pointed
/// at it, polling first after `first_poll_ms`.
async fn start_with(faults: &[&str], webhook_key: Option<&str>, first_poll_ms: u64) -> Emulated {
    let webhook_key = webhook_key.map(str::to_owned);
    let signing = webhook_key.clone();
    let kie = Emulator::kie(faults, |config| config.webhook_hmac_key = signing).await;
    let pointed = kie.clone();
    let configure = Box::new(move |config: &mut atelier::config::Config, app_base: &str| {
        pointed.point_kie(config, first_poll_ms);
        if let Some(key) = webhook_key {
            kie_callbacks(config, app_base, &key);
        }
    });
    let app = TestApp::with(Options { configure: Some(configure), ..Options::default() }).await.expect("app");
    Emulated { app, kie }
}

impl Emulated {
    async fn stats(&self) -> Value {
        self.kie.stats().await
    }

    async fn run(&self, input: Value) -> Value {
        let created = self.app.post("/api/v1/tasks", &json!({ "model": "kie/imagen4", "input": input })).await;
        assert_eq!(created.status(), 202);
        let created: Value = created.json().await.expect("json");
        self.app.wait_for_end(created["task_id"].as_str().expect("id")).await
    }
}

fn create_count(stats: &Value) -> u64 {
    stats["create_task"].as_u64().or_else(|| stats["createTask"].as_u64()).unwrap_or_else(|| panic!("{stats}"))
}

#[tokio::test]
async fn imagen4_completes_with_one_submit_and_stores_the_images() {
    let kie = start(&[]).await;
    let task = kie.run(json!({ "prompt": "a red fox at dawn", "num_images": 2, "aspect_ratio": "16:9" })).await;
    assert_eq!(task["status"], "completed", "{task}");
    assert!(task["external_task_id"].as_str().is_some_and(|id| !id.is_empty()));
    let images = task["images"].as_array().expect("images");
    assert_eq!(images.len(), 2);
    assert_eq!(images[0]["mime_type"], "image/png");
    let png = kie.app.get(images[0]["url"].as_str().expect("url")).await.bytes().await.expect("bytes");
    image::load_from_memory(&png).expect("the stored result is a real image");
    assert_eq!(create_count(&kie.stats().await), 1);
}

#[tokio::test]
async fn fault_classes_end_as_the_policy_says() {
    // (fault on createTask, final status, error code, submits)
    let cases = [
        ("createTask:always:status=402", "insufficient_credits", 1),
        ("createTask:always:status=401", "provider_unauthorized", 1),
        ("createTask:always:status=422", "provider_rejected", 1),
        ("createTask:always:status=500", "provider_error", 3),
    ];
    for (rule, code, submits) in cases {
        let kie = start(&[rule]).await;
        let task = kie.run(json!({ "prompt": "x" })).await;
        assert_eq!(task["status"], "failed", "{rule}: {task}");
        assert_eq!(task["error"]["code"], code, "{rule}: {task}");
        assert_eq!(create_count(&kie.stats().await), submits, "{rule}");
    }
}

#[tokio::test]
async fn a_failed_generation_is_reported_not_retried() {
    let kie = start(&["recordInfo:always:generation_failed"]).await;
    let task = kie.run(json!({ "prompt": "x" })).await;
    assert_eq!(task["status"], "failed", "{task}");
    assert_eq!(task["error"]["code"], "generation_failed");
    assert_eq!(create_count(&kie.stats().await), 1);
}

#[tokio::test]
async fn bad_parameters_are_refused_before_any_call() {
    let kie = start(&[]).await;
    let bad = kie
        .app
        .post(
            "/api/v1/tasks",
            &json!({ "model": "kie/imagen4", "input": { "prompt": "x", "variant": "ultra", "num_images": 3 } }),
        )
        .await;
    let body = assert_error(bad, 422, "validation_error").await;
    assert_eq!(body["details"]["field"], "num_images");
    assert_eq!(create_count(&kie.stats().await), 0);
}

#[tokio::test]
async fn without_a_key_the_model_names_its_config_key() {
    let app = TestApp::spawn().await;
    let body = assert_error(
        app.post("/api/v1/tasks", &json!({ "model": "kie/imagen4", "input": { "prompt": "x" } })).await,
        422,
        "model_unavailable",
    )
    .await;
    assert_eq!(body["details"]["config_key"], "providers.kie.api_key");
}

#[tokio::test]
async fn failed_polls_poll_again_and_never_resubmit() {
    for rule in ["recordInfo:first=2:status=500", "recordInfo:first=1:reset", "recordInfo:first=2:status=429"] {
        let kie = start(&[rule]).await;
        let task = kie.run(json!({ "prompt": "x" })).await;
        assert_eq!(task["status"], "completed", "{rule}: {task}");
        assert_eq!(create_count(&kie.stats().await), 1, "{rule}: a failed poll must not resubmit");
    }
}

#[tokio::test]
async fn a_submit_whose_answer_is_lost_is_not_repeated() {
    // The emulator creates (and charges) the task, then answers with broken JSON.
    let kie = start(&["createTask:always:malformed"]).await;
    let task = kie.run(json!({ "prompt": "x" })).await;
    assert_eq!(task["status"], "failed", "{task}");
    assert_eq!(create_count(&kie.stats().await), 1);
}

#[tokio::test]
async fn a_signed_callback_makes_atelier_poll_at_once() {
    // Polls every 30 s: only the callback (sent 200 ms after the create) can finish
    // the task within the test's wait.
    let kie = start_with(&[], Some("hook-key"), 30_000).await;
    let started = std::time::Instant::now();
    let task = kie.run(json!({ "prompt": "called back" })).await;
    assert_eq!(task["status"], "completed", "{task}");
    assert!(started.elapsed() < std::time::Duration::from_secs(10), "{:?}", started.elapsed());
    assert_eq!(kie.stats().await["callbacks_sent"], 1);
}

#[tokio::test]
async fn unsigned_or_forged_callbacks_are_refused() {
    let kie = start_with(&[], Some("hook-key"), 50).await;
    let body = json!({ "code": 200, "msg": "ok", "data": { "taskId": "task_x", "state": "success" } });
    let unsigned = kie.app.post("/api/v1/callbacks/kie", &body).await;
    assert_error(unsigned, 401, "invalid_signature").await;
    let now = (chrono::Utc::now().timestamp()).to_string();
    let forged = kie
        .app
        .http
        .post(kie.app.url("/api/v1/callbacks/kie"))
        .header("x-webhook-timestamp", &now)
        .header("x-webhook-signature", atelier_emulators::kie::webhook_signature("wrong-key", "task_x", &now))
        .json(&body)
        .send()
        .await
        .expect("send");
    assert_error(forged, 401, "invalid_signature").await;
    let signed = kie
        .app
        .http
        .post(kie.app.url("/api/v1/callbacks/kie"))
        .header("x-webhook-timestamp", &now)
        .header("x-webhook-signature", atelier_emulators::kie::webhook_signature("hook-key", "task_x", &now))
        .json(&body)
        .send()
        .await
        .expect("send");
    assert_eq!(signed.status(), 200, "a valid signature for an unknown task is simply received");
    let no_task = kie.app.post("/api/v1/callbacks/kie", &json!({ "data": {} })).await;
    assert_error(no_task, 422, "validation_error").await;
    let not_json = kie.app.http.post(kie.app.url("/api/v1/callbacks/kie")).body("taskId=task_x").send().await.unwrap();
    assert_error(not_json, 422, "validation_error").await;
    // One route for every service: one that sends no callbacks, or none at all, is 404.
    assert_error(kie.app.post("/api/v1/callbacks/openai", &body).await, 404, "not_found").await;
    assert_error(kie.app.post("/api/v1/callbacks/nobody", &body).await, 404, "not_found").await;
}

#[tokio::test]
async fn the_providers_page_shows_kies_credits() {
    let kie = start(&[]).await;
    let before: Value = kie.app.get("/api/v1/providers?account=true").await.json().await.expect("json");
    let entry = |page: &Value| {
        page["providers"].as_array().expect("list").iter().find(|p| p["service"] == "kie").cloned().expect("kie")
    };
    assert_eq!(entry(&before)["configured"], true);
    let credits_before = entry(&before)["account"]["credits"].as_f64().expect("credits");
    let task = kie.run(json!({ "prompt": "x" })).await;
    assert_eq!(task["status"], "completed");
    let after: Value = kie.app.get("/api/v1/providers?account=true").await.json().await.expect("json");
    let credits_after = entry(&after)["account"]["credits"].as_f64().expect("credits");
    assert!(credits_after < credits_before, "{credits_before} -> {credits_after}");
    let without: Value = kie.app.get("/api/v1/providers").await.json().await.expect("json");
    assert!(entry(&without).get("account").is_none(), "no provider call unless asked");
}

#[tokio::test]
async fn a_lost_submit_answer_is_found_by_kies_callback_and_never_sent_again() {
    // Kie creates (and charges) the task, then its answer is broken: Atelier has no
    // id. The callback URL carried Atelier's task id, so Kie's callback names the
    // job; polls are 30 s apart, so only that can finish the task within the wait.
    let kie = start_with(&["createTask:always:malformed"], Some("hook-key"), 30_000).await;
    let task = kie.run(json!({ "prompt": "found again" })).await;
    assert_eq!(task["status"], "completed", "{task}");
    assert!(task["error"].is_null(), "{task}");
    let stats = kie.stats().await;
    assert_eq!((create_count(&stats), stats["callbacks_sent"].as_u64()), (1, Some(1)), "{stats}");
}

#[tokio::test]
async fn without_a_callback_a_lost_submit_says_what_is_known_and_an_admin_can_attach_the_job() {
    let kie = start(&["createTask:always:malformed"]).await;
    let task = kie.run(json!({ "prompt": "attach me" })).await;
    // The create's answer came back unreadable: the error says so, and that the
    // job was not sent again.
    assert_eq!((task["status"].as_str(), task["error"]["code"].as_str()), (Some("failed"), Some("malformed_response")));
    let message = task["error"]["message"].as_str().unwrap();
    for known in ["kie", "imagen-4", "was not sent again", "external-id"] {
        assert!(message.contains(known), "{known:?} missing from {message:?}");
    }
    let id = task["task_id"].as_str().unwrap();
    let stats = kie.stats().await;
    let kie_ids: Vec<&String> = stats["task_states"].as_object().unwrap().keys().collect();
    let [kie_id] = kie_ids.as_slice() else { panic!("one job at Kie: {stats}") };

    // Only an admin may attach, only a real id, only to a lost submit.
    let (member, _) = kie.app.user("member@example.com", atelier_core::account::Role::Member).await;
    let path = format!("/api/v1/tasks/{id}/external-id");
    let refused = member.post(kie.app.url(&path)).json(&json!({ "external_id": kie_id })).send().await.unwrap();
    assert!(matches!(refused.status().as_u16(), 403 | 404), "{}", refused.status());
    assert_error(kie.app.post(&path, &json!({ "external_id": " " })).await, 422, "validation_error").await;
    let attached = kie.app.post(&path, &json!({ "external_id": kie_id })).await;
    assert_eq!(attached.status(), 200);
    let task = kie.app.wait_for_end(id).await;
    assert_eq!(task["status"], "completed", "{task}");
    let again = kie.app.post(&path, &json!({ "external_id": kie_id })).await;
    assert_error(again, 409, "not_a_lost_submit").await;
    assert_eq!(create_count(&kie.stats().await), 1, "never submitted again");
}
