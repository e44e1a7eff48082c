//! VolcEngine through Atelier, against the in-tree emulator (which checks every
//! signature with its own verifier): the models in both call styles, seed 004's
//! request through `/api/v1/generate`, results inline and by URL, and each fault
//! class with its final status, error code and the number of paid calls.

use atelier::config::Config;
use atelier_emulators::volcengine::VolcEngineEmulatorConfig;
use atelier_testkit::emulators::Emulator;
use serde_json::{Value, json};

use crate::helpers::{Options, TestApp, assert_error};

struct Emulated {
    app: TestApp,
    volc: Emulator,
}

async fn start(faults: &[&str]) -> Emulated {
    start_with(faults, |_| {}, |_| {}).await
}

async fn start_with(
    faults: &[&str],
    emulator: impl FnOnce(&mut VolcEngineEmulatorConfig),
    tweak: impl FnOnce(&mut Config) + Send + 'static,
) -> Emulated {
    let volc = Emulator::volcengine(faults, emulator).await;
    let pointed = volc.clone();
    let configure = Box::new(move |config: &mut Config, _: &str| {
        pointed.point_volcengine(config);
        tweak(config);
    });
    let app = TestApp::with(Options { configure: Some(configure), ..Options::default() }).await.expect("app");
    Emulated { app, volc }
}

impl Emulated {
    async fn run(&self, model: &str, input: Value) -> Value {
        let body = json!({ "model": format!("volcengine/{model}"), "input": input });
        let created = self.app.post("/api/v1/tasks", &body).await;
        assert_eq!(created.status(), 202, "{model}: {}", created.text().await.unwrap_or_default());
        let created: Value = created.json().await.expect("json");
        self.app.wait_for_end(created["task_id"].as_str().expect("id")).await
    }

    async fn image(&self, output: &Value) -> image::DynamicImage {
        let bytes = self.app.get(output["url"].as_str().expect("url")).await.bytes().await.expect("bytes");
        image::load_from_memory(&bytes).expect("a real image")
    }
}

/// Calls that would be paid if they were accepted: synchronous generations and job
/// submits, refused or not.
fn paid(stats: &Value) -> u64 {
    stats["cv_process"].as_u64().unwrap_or(0) + stats["submit_task"].as_u64().unwrap_or(0)
}

#[tokio::test]
async fn every_model_makes_its_image_in_its_call_style() {
    let volc = start(&[]).await;
    // (model, input, size, synchronous)
    let cases = [
        ("general_v3.0", json!({ "prompt": "a lake", "width": 768, "height": 512, "seed": 7 }), (768, 512), true),
        ("general_v2.1", json!({ "prompt": "a lake", "width": 512, "height": 512, "steps": 20 }), (512, 512), true),
        ("general_v2.0", json!({ "prompt": "a lake", "width": 640, "height": 512 }), (640, 512), false),
        ("jimeng_v3.1", json!({ "prompt": "a lake", "width": 1024, "height": 768 }), (1024, 768), false),
        ("jimeng_v3.0", json!({ "prompt": "a lake", "width": 768, "height": 768 }), (768, 768), false),
        (
            "jimeng_v4.0",
            json!({ "prompt": "a lake", "width": 1024, "height": 1024, "num_images": 1 }),
            (1024, 1024),
            false,
        ),
    ];
    for (model, input, (width, height), synchronous) in cases {
        let before = volc.volc.stats().await;
        let task = volc.run(model, input).await;
        assert_eq!(task["status"], "completed", "{model}: {task}");
        let images = task["images"].as_array().expect("images");
        assert_eq!(images.len(), 1, "{model}: {task}");
        let image = volc.image(&images[0]).await;
        assert_eq!((image.width(), image.height()), (width, height), "{model}");
        assert_eq!(task["external_task_id"].is_string(), !synchronous, "{model}: {task}");
        let after = volc.volc.stats().await;
        let delta = |key: &str| after[key].as_u64().unwrap_or(0) - before[key].as_u64().unwrap_or(0);
        if synchronous {
            assert_eq!((delta("cv_process"), delta("submit_task")), (1, 0), "{model}: {after}");
        } else {
            assert_eq!((delta("cv_process"), delta("submit_task")), (0, 1), "{model}: {after}");
            assert!(delta("get_result") >= 1, "{model}: {after}");
        }
    }
    assert_eq!(volc.volc.stats().await["signature_failures"], 0, "every request signed right");
}

#[tokio::test]
async fn seed_004s_request_runs_on_general_2_0_and_names_what_it_cannot_send() {
    let volc = start(&[]).await;
    let request = json!({ "prompt": "一只可爱的猫咪", "model": "general_v2.0", "width": 1024, "height": 1024,
                          "num_images": 1, "steps": 20, "scale": 7.5, "seed": null });
    let created = volc.app.post("/api/v1/generate", &request).await;
    assert_eq!(created.status(), 201, "{}", created.text().await.unwrap_or_default());
    let created: Value = created.json().await.expect("json");
    let id = created["task_id"].as_str().expect("id");
    volc.app.wait_for_end(id).await;
    let task: Value = volc.app.get(&format!("/api/v1/task/{id}")).await.json().await.expect("json");
    assert_eq!(task["status"], "completed", "{task}");
    assert_eq!((task["images"][0]["width"].as_u64(), task["images"][0]["height"].as_u64()), (Some(1024), Some(1024)));

    // Its negative prompt has no field at VolcEngine: refused by name, nothing sent.
    let with_negative = json!({ "prompt": "cat", "model": "general_v2.0", "negative_prompt": "blurry" });
    let body = assert_error(volc.app.post("/api/v1/generate", &with_negative).await, 400, "validation_error").await;
    assert_eq!(body["details"]["field"], "negative_prompt", "{body}");
    let too_many = json!({ "prompt": "cat", "model": "general_v2.0", "num_images": 4 });
    let body = assert_error(volc.app.post("/api/v1/generate", &too_many).await, 400, "validation_error").await;
    assert_eq!(body["details"]["field"], "num_images", "{body}");
    assert_eq!(paid(&volc.volc.stats().await), 1, "only the valid request was sent");
}

#[tokio::test]
async fn results_by_url_are_downloaded_and_the_options_are_sent() {
    let volc = start_with(
        &[],
        |_| {},
        |config| {
            config.providers.volcengine.return_url = true;
            config.providers.volcengine.add_logo = true;
            config.providers.volcengine.aigc_producer_id = "atelier-test".into();
        },
    )
    .await;
    for model in ["general_v3.0", "jimeng_v3.1"] {
        let task = volc.run(model, json!({ "prompt": "a lake", "width": 512, "height": 512 })).await;
        assert_eq!(task["status"], "completed", "{model}: {task}");
        let image = volc.image(&task["images"][0]).await;
        assert_eq!((image.width(), image.height()), (512, 512));
    }
    let stats = volc.volc.stats().await;
    assert!(stats["files"].as_u64().is_some_and(|n| n >= 2), "downloaded by URL: {stats}");
    assert!(stats["logos_requested"].as_u64().is_some_and(|n| n >= 2), "{stats}");
    assert!(stats["aigc_meta_requested"].as_u64().is_some_and(|n| n >= 2), "{stats}");
}

#[tokio::test]
async fn fault_classes_end_as_the_policy_says() {
    // (rule, model, final status, error code, paid calls)
    let cases = [
        ("cv_process:always:status=50413", "general_v3.0", "failed", "content_filtered", 1),
        ("cv_process:always:status=50411", "general_v3.0", "failed", "content_filtered", 1),
        ("cv_process:always:status=50511", "general_v3.0", "failed", "content_filtered", 1),
        ("cv_process:always:status=50400", "general_v3.0", "failed", "provider_unauthorized", 1),
        ("cv_process:always:status=50500", "general_v3.0", "failed", "provider_error", 2),
        ("cv_process:always:status=50501", "general_v3.0", "failed", "provider_error", 2),
        ("cv_process:always:status=50429", "general_v3.0", "failed", "provider_rate_limited", 3),
        ("cv_process:first=2:status=50430", "general_v3.0", "completed", "", 3),
        ("submit_task:always:status=50412", "jimeng_v3.1", "failed", "content_filtered", 1),
        ("submit_task:first=1:status=50429", "jimeng_v3.1", "completed", "", 2),
        ("get_result:always:generation_failed", "jimeng_v3.1", "failed", "content_filtered", 1),
        ("get_result:always:expired", "jimeng_v3.1", "failed", "generation_failed", 1),
        ("get_result:first=2:status=50500", "jimeng_v3.1", "completed", "", 1),
        ("submit_task:always:malformed", "jimeng_v3.1", "failed", "malformed_response", 1),
    ];
    for (rule, model, status, code, calls) in cases {
        let volc = start(&[rule]).await;
        let task = volc.run(model, json!({ "prompt": "x", "width": 512, "height": 512 })).await;
        assert_eq!(task["status"], status, "{rule}: {task}");
        if code.is_empty() {
            assert!(task["error"].is_null(), "{rule}: {task}");
        } else {
            assert_eq!(task["error"]["code"], code, "{rule}: {task}");
        }
        assert_eq!(paid(&volc.volc.stats().await), calls, "{rule}: paid calls");
    }
}

#[tokio::test]
async fn a_wrong_key_pair_is_refused_by_the_gateway_and_said_so() {
    let volc = start_with(
        &[],
        |_| {},
        |config| {
            config.providers.volcengine.secret_access_key = atelier::config::Secret::new("not-the-secret");
        },
    )
    .await;
    let task = volc.run("general_v3.0", json!({ "prompt": "x" })).await;
    assert_eq!(
        (task["status"].as_str(), task["error"]["code"].as_str()),
        (Some("failed"), Some("provider_unauthorized"))
    );
    let message = task["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("SignatureDoesNotMatch"), "{message}");
    assert!(!message.contains("not-the-secret"), "the secret never shows: {message}");
    let stats = volc.volc.stats().await;
    // One call, refused at the gateway: nothing generated.
    assert_eq!((stats["signature_failures"].as_u64(), paid(&stats)), (Some(1), 1), "{stats}");
    assert_eq!(stats["by_req_key"], json!({}), "{stats}");
}

#[tokio::test]
async fn without_keys_the_models_are_listed_and_name_their_setting() {
    let app = TestApp::spawn().await;
    let models: Value = app.get("/api/v1/models").await.json().await.expect("json");
    let listed = models.to_string();
    for model in ["general_v2.0", "jimeng_v4.0"] {
        assert!(listed.contains(model), "{model} listed: {listed}");
    }
    let body = assert_error(
        app.post("/api/v1/tasks", &json!({ "model": "volcengine/general_v2.0", "input": { "prompt": "x" } })).await,
        422,
        "model_unavailable",
    )
    .await;
    assert_eq!(body["details"]["config_key"], "providers.volcengine.access_key_id", "{body}");
}
