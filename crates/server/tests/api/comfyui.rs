//! ComfyUI through Atelier, against the in-tree emulator: the shipped workflow
//! templates as models with the server's checkpoints as choices, text and image to
//! image and an upscale, progress over the WebSocket (and /history alone), a
//! workflow ComfyUI refuses, a node's failure, and a restarted server.

use std::time::Duration;

use atelier::config::Config;
use atelier_emulators::comfyui::ComfyUiEmulatorConfig;
use atelier_testkit::emulators::Emulator;
use serde_json::{Value, json};

use crate::helpers::{Options, TestApp};

async fn start(
    faults: &[&str],
    emulator: impl FnOnce(&mut ComfyUiEmulatorConfig),
    tweak: impl FnOnce(&mut Config) + Send + 'static,
) -> (TestApp, Emulator) {
    let comfy = Emulator::comfyui(faults, emulator).await;
    let base = comfy.base.clone();
    let configure = Box::new(move |config: &mut Config, _: &str| {
        config.providers.comfyui.urls = vec![base];
        config.providers.comfyui.first_poll_ms = 50;
        tweak(config);
    });
    let app = TestApp::with(Options { configure: Some(configure), ..Options::default() }).await.expect("app");
    (app, comfy)
}

async fn image(app: &TestApp, output: &Value) -> image::DynamicImage {
    image::load_from_memory(&app.output_bytes(output).await).expect("a real image")
}

/// Waits for the start's catalog refresh to know the server's checkpoints.
async fn wait_for_choices(app: &TestApp) {
    for _ in 0..100 {
        let models: Value = app.get("/api/v1/models").await.json().await.expect("json");
        let txt2img = models["models"].as_array().into_iter().flatten().find(|m| m["id"] == "comfyui/txt2img").cloned();
        if txt2img.is_some_and(|m| m["input_schema"]["properties"]["checkpoint"]["enum"].is_array()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the server's checkpoints never became choices");
}

fn png(width: u32, height: u32) -> String {
    use base64::Engine;
    let mut bytes = std::io::Cursor::new(Vec::new());
    image::RgbImage::from_pixel(width, height, image::Rgb([30, 120, 200]))
        .write_to(&mut bytes, image::ImageFormat::Png)
        .expect("png");
    format!("data:image/png;base64,{}", base64::engine::general_purpose::STANDARD.encode(bytes.into_inner()))
}

#[tokio::test]
async fn the_shipped_workflows_run_with_the_servers_choices() {
    let (app, comfy) = start(&[], |config| config.step_ms = 20, |_| {}).await;
    wait_for_choices(&app).await;
    let task = app
        .run(
            "comfyui/txt2img",
            json!({ "prompt": "a lighthouse", "width": 640, "height": 384, "num_images": 2,
                                                    "steps": 10, "checkpoint": "sd_xl_base_1.0.safetensors" }),
        )
        .await;
    assert_eq!(task["status"], "completed", "{task}");
    let images = task["images"].as_array().expect("images");
    assert_eq!(images.len(), 2, "{task}");
    let first = image(&app, &images[0]).await;
    assert_eq!((first.width(), first.height()), (640, 384));
    // Refused before any call: a checkpoint the server does not have.
    let refused = app
        .post(
            "/api/v1/tasks",
            &json!({ "model": "comfyui/txt2img", "input": { "prompt": "x", "checkpoint": "nope.ckpt" } }),
        )
        .await;
    assert_eq!(refused.status(), 422);

    let edited =
        app.run("comfyui/img2img", json!({ "prompt": "at night", "image": png(320, 192), "denoise": 0.5 })).await;
    assert_eq!(edited["status"], "completed", "{edited}");
    let edited = image(&app, &edited["images"][0]).await;
    assert_eq!((edited.width(), edited.height()), (320, 192), "img2img keeps the size");

    let upscaled = app.run("comfyui/upscale", json!({ "image": png(100, 60) })).await;
    assert_eq!(upscaled["status"], "completed", "{upscaled}");
    let upscaled = image(&app, &upscaled["images"][0]).await;
    assert_eq!((upscaled.width(), upscaled.height()), (400, 240), "4x");
    let stats = comfy.stats().await;
    assert_eq!((stats["prompts_queued"].as_u64(), stats["uploads"].as_u64()), (Some(3), Some(2)), "{stats}");
    assert!(stats["ws_connections"].as_u64().is_some_and(|n| n >= 1), "progress followed over the WebSocket: {stats}");
}

#[tokio::test]
async fn progress_comes_over_the_websocket_and_history_alone_suffices() {
    for websocket in [true, false] {
        let (app, comfy) =
            start(&[], |config| config.step_ms = 40, move |config| config.providers.comfyui.websocket = websocket)
                .await;
        let created = app
            .post("/api/v1/tasks", &json!({ "model": "comfyui/txt2img", "input": { "prompt": "x", "steps": 40 } }))
            .await;
        let created: Value = created.json().await.expect("json");
        let id = created["task_id"].as_str().expect("id").to_owned();
        let mut seen = 0;
        loop {
            let task: Value = app.get(&format!("/api/v1/tasks/{id}")).await.json().await.expect("json");
            if task["status"] == "completed" || task["status"] == "failed" {
                assert_eq!(task["status"], "completed", "{task}");
                break;
            }
            seen = seen.max(task["progress"].as_u64().unwrap_or(0));
            tokio::time::sleep(Duration::from_millis(40)).await;
        }
        let connections = comfy.stats().await["ws_connections"].as_u64().unwrap_or(0);
        if websocket {
            assert!(seen > 0 && seen < 100, "progress read from the WebSocket: {seen}");
            assert!(connections >= 1);
        } else {
            assert_eq!(connections, 0, "history alone");
        }
    }
}

#[tokio::test]
async fn refusals_failures_and_restarts_end_as_the_policy_says() {
    // A node's exception: the generation failed, not retried.
    let (app, comfy) = start(&["prompt:always:generation_failed"], |_| {}, |_| {}).await;
    let _ = comfy;
    let task = app.run("comfyui/txt2img", json!({ "prompt": "x", "steps": 2 })).await;
    assert_eq!(
        (task["status"].as_str(), task["error"]["code"].as_str()),
        (Some("failed"), Some("generation_failed")),
        "{task}"
    );

    // Out of memory: the server's, tried again.
    let (app, comfy) = start(&["prompt:first=1:oom"], |_| {}, |_| {}).await;
    let task = app.run("comfyui/txt2img", json!({ "prompt": "x", "steps": 2 })).await;
    assert_eq!(task["status"], "completed", "{task}");
    assert_eq!(comfy.stats().await["prompts_queued"], 2);

    // A restart loses the prompt: queued again at no cost.
    let (app, comfy) = start(&["prompt:first=1:restart"], |config| config.step_ms = 20, |_| {}).await;
    let task = app.run("comfyui/txt2img", json!({ "prompt": "x", "steps": 10 })).await;
    assert_eq!(task["status"], "completed", "{task}");
    assert_eq!(comfy.stats().await["prompts_queued"], 2);

    // A workflow ComfyUI refuses: the user's, in ComfyUI's words.
    let (app, _comfy) = start(&["prompt:always:status=400"], |_| {}, |_| {}).await;
    let task = app.run("comfyui/txt2img", json!({ "prompt": "x" })).await;
    assert_eq!(
        (task["status"].as_str(), task["error"]["code"].as_str()),
        (Some("failed"), Some("provider_rejected")),
        "{task}"
    );
}

#[tokio::test]
async fn cancelling_a_running_prompt_interrupts_it_on_the_server() {
    let (app, comfy) = start(&[], |config| config.step_ms = 200, |_| {}).await;
    let created = app
        .post("/api/v1/tasks", &json!({ "model": "comfyui/txt2img", "input": { "prompt": "x", "steps": 100 } }))
        .await;
    let created: Value = created.json().await.expect("json");
    let id = created["task_id"].as_str().expect("id").to_owned();
    // Wait until ComfyUI runs it (the task has its prompt id).
    for _ in 0..100 {
        let task: Value = app.get(&format!("/api/v1/tasks/{id}")).await.json().await.expect("json");
        if task["external_task_id"].is_string() && comfy.stats().await["running"].as_u64().unwrap_or(0) > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let cancelled = app.post(&format!("/api/v1/tasks/{id}/cancel"), &json!({})).await;
    assert!(cancelled.status().is_success(), "{}", cancelled.status());
    for _ in 0..100 {
        let stats = comfy.stats().await;
        if stats["prompts_interrupted"].as_u64() == Some(1) {
            assert_eq!(app.wait_for_end(&id).await["status"], "cancelled");
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the prompt was never interrupted: {}", comfy.stats().await);
}
