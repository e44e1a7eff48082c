//! Stable Diffusion servers through Atelier, against the in-tree emulators of
//! AUTOMATIC1111 and stable-diffusion.cpp: models from the servers' checkpoints,
//! text and image to image, live progress, two servers sharing the work, basic
//! auth, and the faults (out of memory, a restart mid-generation, refusals).

use std::time::Duration;

use atelier::config::Config;
use atelier_testkit::emulators::Emulator;
use serde_json::{Value, json};

use crate::helpers::{Options, TestApp, assert_error};

async fn app(configure: impl FnOnce(&mut Config) + Send + 'static) -> TestApp {
    let configure = Box::new(move |config: &mut Config, _: &str| configure(config));
    TestApp::with(Options { configure: Some(configure), ..Options::default() }).await.expect("app")
}

async fn image(app: &TestApp, output: &Value) -> image::DynamicImage {
    image::load_from_memory(&app.output_bytes(output).await).expect("a real image")
}

async fn model_ids(app: &TestApp) -> Vec<String> {
    let models: Value = app.get("/api/v1/models").await.json().await.expect("json");
    models["models"].as_array().expect("list").iter().filter_map(|m| m["id"].as_str().map(str::to_owned)).collect()
}

/// Waits for the start's catalog refresh to list `model`.
async fn wait_for_model(app: &TestApp, model: &str) {
    for _ in 0..100 {
        if model_ids(app).await.iter().any(|id| id == model) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{model} never listed: {:?}", model_ids(app).await);
}

#[tokio::test]
async fn a1111_checkpoints_are_models_and_generations_come_back() {
    let a1111 = Emulator::a1111(&[], |_| {}).await;
    let base = a1111.base.clone();
    let app = app(move |config| config.providers.a1111.urls = vec![base]).await;
    wait_for_model(&app, "a1111/sd_xl_base_1.0").await;
    assert!(model_ids(&app).await.contains(&"a1111/default".to_owned()));

    let task = app
        .run(
            "a1111/sd_xl_base_1.0",
            json!({ "prompt": "a lake", "width": 768, "height": 512, "num_images": 2,
                                                           "steps": 4, "sampler_name": "Euler a" }),
        )
        .await;
    assert_eq!(task["status"], "completed", "{task}");
    let images = task["images"].as_array().expect("images");
    assert_eq!(images.len(), 2, "{task}");
    let first = image(&app, &images[0]).await;
    assert_eq!((first.width(), first.height()), (768, 512));
    let stats = a1111.stats().await;
    let sdxl_runs = stats["by_checkpoint"]
        .as_object()
        .and_then(|runs| runs.iter().find(|(title, _)| title.contains("sd_xl_base_1.0")))
        .and_then(|(_, runs)| runs.as_u64());
    assert_eq!(sdxl_runs, Some(1), "the task's checkpoint was used: {stats}");

    // An unknown sampler is refused before any call.
    let refused = app
        .post("/api/v1/tasks", &json!({ "model": "a1111/default", "input": { "prompt": "x", "sampler_name": "Nope" } }))
        .await;
    let body = assert_error(refused, 422, "validation_error").await;
    assert_eq!(body["details"]["field"], "sampler_name");
}

#[tokio::test]
async fn img2img_keeps_the_init_images_size_and_progress_is_read() {
    let a1111 = Emulator::a1111(&[], |config| config.step_ms = 60).await;
    let base = a1111.base.clone();
    let app = app(move |config| {
        config.providers.a1111.urls = vec![base];
        config.providers.a1111.progress_poll_ms = 50;
    })
    .await;
    let mut png = std::io::Cursor::new(Vec::new());
    image::RgbImage::from_pixel(320, 256, image::Rgb([200, 120, 40]))
        .write_to(&mut png, image::ImageFormat::Png)
        .expect("png");
    let data_uri = format!("data:image/png;base64,{}", base64_of(&png.into_inner()));
    let created = app
        .post(
            "/api/v1/tasks",
            &json!({ "model": "a1111/default", "input": { "prompt": "autumn", "images": [data_uri],
                                                                            "denoising_strength": 0.6, "steps": 20 } }),
        )
        .await;
    let created: Value = created.json().await.expect("json");
    let id = created["task_id"].as_str().expect("id").to_owned();
    let mut seen_progress = 0;
    loop {
        let task: Value = app.get(&format!("/api/v1/tasks/{id}")).await.json().await.expect("json");
        if task["status"] == "completed" || task["status"] == "failed" {
            break;
        }
        seen_progress = seen_progress.max(task["progress"].as_u64().unwrap_or(0));
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    let task = app.wait_for_end(&id).await;
    assert_eq!(task["status"], "completed", "{task}");
    assert!(seen_progress > 0 && seen_progress < 100, "progress read while it ran: {seen_progress}");
    let edited = image(&app, &task["images"][0]).await;
    assert_eq!((edited.width(), edited.height()), (320, 256), "the init image's size");
    assert_eq!(a1111.stats().await["img2img"], 1);
}

fn base64_of(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[tokio::test]
async fn two_servers_share_the_work_and_basic_auth_is_sent() {
    let auth = Some(("painter".to_owned(), "s3cret".to_owned()));
    let (one_auth, two_auth) = (auth.clone(), auth.clone());
    let one = Emulator::a1111(&[], move |config| {
        config.step_ms = 20;
        config.auth = one_auth;
    })
    .await;
    let two = Emulator::a1111(&[], move |config| {
        config.step_ms = 20;
        config.auth = two_auth;
    })
    .await;
    let urls = vec![one.base.clone(), two.base.clone()];
    let app = app(move |config| {
        config.providers.a1111.urls = urls;
        config.providers.a1111.username = "painter".into();
        config.providers.a1111.password = atelier::config::Secret::new("s3cret");
    })
    .await;
    let mut ids = Vec::new();
    for n in 0..6 {
        let created = app
            .post(
                "/api/v1/tasks",
                &json!({ "model": "a1111/default", "input": { "prompt": format!("p{n}"), "steps": 10 } }),
            )
            .await;
        let created: Value = created.json().await.expect("json");
        ids.push(created["task_id"].as_str().expect("id").to_owned());
    }
    for id in &ids {
        assert_eq!(app.wait_for_end(id).await["status"], "completed");
    }
    let (a, b) = (one.stats().await, two.stats().await);
    let (a_runs, b_runs) = (a["txt2img"].as_u64().unwrap_or(0), b["txt2img"].as_u64().unwrap_or(0));
    assert_eq!(a_runs + b_runs, 6, "{a} {b}");
    assert!(a_runs >= 1 && b_runs >= 1, "both servers worked: {a_runs} and {b_runs}");
    assert_eq!((a["auth_failures"].as_u64(), b["auth_failures"].as_u64()), (Some(0), Some(0)));
}

#[tokio::test]
async fn faults_end_as_the_policy_says() {
    // (rule, status, error code, generations asked)
    let cases = [
        ("txt2img:first=1:oom", "completed", "", 2),
        ("txt2img:always:oom", "failed", "provider_error", 3),
        ("txt2img:first=1:restart", "completed", "", 2),
        ("txt2img:always:status=422", "failed", "provider_rejected", 1),
        ("txt2img:always:status=401", "failed", "provider_unauthorized", 1),
    ];
    for (rule, status, code, calls) in cases {
        let a1111 = Emulator::a1111(&[rule], |_| {}).await;
        let base = a1111.base.clone();
        let app = app(move |config| config.providers.a1111.urls = vec![base]).await;
        let task = app.run("a1111/default", json!({ "prompt": "x", "steps": 2 })).await;
        assert_eq!(task["status"], status, "{rule}: {task}");
        if !code.is_empty() {
            assert_eq!(task["error"]["code"], code, "{rule}: {task}");
        }
        assert_eq!(a1111.stats().await["txt2img"], calls, "{rule}");
    }
}

#[tokio::test]
async fn sdcpp_serves_through_its_automatic1111_api() {
    let sdcpp = Emulator::sdcpp(&[], |_| {}).await;
    let base = sdcpp.base.clone();
    let app = app(move |config| config.providers.sdcpp.urls = vec![base]).await;
    let task = app.run("sdcpp/default", json!({ "prompt": "a fox", "width": 384, "height": 256, "steps": 4 })).await;
    assert_eq!(task["status"], "completed", "{task}");
    let made = image(&app, &task["images"][0]).await;
    assert_eq!((made.width(), made.height()), (384, 256));
    assert_eq!(sdcpp.stats().await["txt2img"], 1);
    // Restarted mid-generation: run again, at no cost.
    let restarting = Emulator::sdcpp(&["txt2img:first=1:restart"], |_| {}).await;
    let base = restarting.base.clone();
    let app = app_with_sdcpp(base).await;
    let task = app.run("sdcpp/default", json!({ "prompt": "again", "steps": 2 })).await;
    assert_eq!(task["status"], "completed", "{task}");
    assert_eq!(restarting.stats().await["txt2img"], 2);
}

async fn app_with_sdcpp(base: String) -> TestApp {
    app(move |config| config.providers.sdcpp.urls = vec![base]).await
}
