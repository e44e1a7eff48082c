//! Google's Gemini API through Atelier, against the in-tree emulator: Imagen,
//! Veo (an operation polled, the video downloaded with the key, also through a
//! redirect that must not carry it), Gemini images (and an edit of an upload), and
//! each fault class with its final status, error code and the number of calls.

use atelier::config::Config;
use atelier_emulators::google::GoogleEmulatorConfig;
use atelier_testkit::emulators::{Emulator, GOOGLE_KEY};
use serde_json::{Value, json};

use crate::helpers::{Options, TestApp, assert_error};

struct Emulated {
    app: TestApp,
    google: Emulator,
}

async fn start(faults: &[&str]) -> Emulated {
    start_with(faults, |_| {}).await
}

async fn start_with(faults: &[&str], emulator: impl FnOnce(&mut GoogleEmulatorConfig)) -> Emulated {
    let google = Emulator::google(faults, emulator).await;
    let pointed = google.clone();
    let configure = Box::new(move |config: &mut Config, _: &str| pointed.point_google(config));
    let app = TestApp::with(Options { configure: Some(configure), ..Options::default() }).await.expect("app");
    Emulated { app, google }
}

impl Emulated {
    async fn run(&self, model: &str, input: Value) -> Value {
        let body = json!({ "model": format!("google/{model}"), "input": input });
        let created = self.app.post("/api/v1/tasks", &body).await;
        assert_eq!(created.status(), 202, "{model}: {}", created.text().await.unwrap_or_default());
        let created: Value = created.json().await.expect("json");
        let task = self.app.wait_for_end(created["task_id"].as_str().expect("id")).await;
        assert!(!task.to_string().contains(GOOGLE_KEY), "the key leaked: {task}");
        task
    }

    async fn bytes(&self, output: &Value) -> bytes::Bytes {
        self.app.get(output["url"].as_str().expect("url")).await.bytes().await.expect("bytes")
    }

    async fn stats(&self) -> Value {
        self.google.stats().await
    }
}

fn count(stats: &Value, key: &str) -> u64 {
    stats[key].as_u64().unwrap_or(0)
}

#[tokio::test]
async fn imagen_makes_the_images_asked_for() {
    let google = start(&[]).await;
    let task = google.run("imagen4", json!({ "prompt": "a fox", "num_images": 2, "aspect_ratio": "16:9" })).await;
    assert_eq!(task["status"], "completed", "{task}");
    let images = task["images"].as_array().expect("images");
    assert_eq!(images.len(), 2, "{task}");
    for image in images {
        let decoded = image::load_from_memory(&google.bytes(image).await).expect("a real image");
        assert!(decoded.width() > decoded.height(), "16:9 is wide: {}x{}", decoded.width(), decoded.height());
    }
    let stats = google.stats().await;
    assert_eq!(count(&stats, "predict"), 1, "{stats}");
    assert_eq!(stats["by_model"]["imagen-4.0-fast-generate-001"], 1, "the fast variant by default: {stats}");
    // Refused by name before any call: the Gemini API takes no negative prompt for Imagen.
    let refused = google
        .app
        .post(
            "/api/v1/tasks",
            &json!({ "model": "google/imagen4", "input": { "prompt": "x", "negative_prompt": "blur" } }),
        )
        .await;
    let body = assert_error(refused, 422, "validation_error").await;
    assert_eq!(body["details"]["field"], "negative_prompt");
    assert_eq!(count(&google.stats().await, "predict"), 1);
}

#[tokio::test]
async fn veo_is_an_operation_polled_then_downloaded_with_the_key_only_where_it_belongs() {
    for redirect in [false, true] {
        let google = start_with(&[], |config| config.redirect_downloads = redirect).await;
        let task =
            google.run("veo3", json!({ "prompt": "waves", "aspect_ratio": "16:9", "duration_seconds": 8 })).await;
        assert_eq!(task["status"], "completed", "redirect={redirect}: {task}");
        assert!(task["external_task_id"].as_str().is_some_and(|name| name.contains("/operations/")), "{task}");
        let video = &task["images"][0];
        assert_eq!(video["mime_type"], "video/mp4", "{task}");
        let bytes = google.bytes(video).await;
        assert_eq!(&bytes[4..8], b"ftyp", "an MP4");
        let stats = google.stats().await;
        assert_eq!(count(&stats, "predict_long_running"), 1, "one submit: {stats}");
        assert!(count(&stats, "operations") >= 2, "polled until done: {stats}");
        assert_eq!(count(&stats, "videos_downloaded"), 1, "redirect={redirect}: {stats}");
        assert_eq!(count(&stats, "auth_failures"), 0, "{stats}");
    }
}

#[tokio::test]
async fn gemini_draws_and_edits_an_upload() {
    let google = start(&[]).await;
    let task = google.run("gemini-image", json!({ "prompt": "a lighthouse" })).await;
    assert_eq!(task["status"], "completed", "{task}");
    image::load_from_memory(&google.bytes(&task["images"][0]).await).expect("a real image");

    // An edit: an upload goes to Gemini inline, and the edit keeps its size.
    let mut png = std::io::Cursor::new(Vec::new());
    image::RgbImage::from_pixel(320, 200, image::Rgb([20, 90, 160]))
        .write_to(&mut png, image::ImageFormat::Png)
        .expect("png");
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(png.into_inner()).file_name("sea.png").mime_str("image/png").expect("mime"),
    );
    let uploaded =
        google.app.http.post(google.app.url("/api/v1/uploads")).multipart(form).send().await.expect("upload");
    assert_eq!(uploaded.status(), 201, "{}", uploaded.text().await.unwrap_or_default());
    let uploaded: Value = uploaded.json().await.expect("json");
    let upload = uploaded["id"].as_str().expect("an upload id").to_owned();
    let edited = google.run("gemini-image", json!({ "prompt": "add a boat", "images": [upload] })).await;
    assert_eq!(edited["status"], "completed", "{edited}");
    let decoded = image::load_from_memory(&google.bytes(&edited["images"][0]).await).expect("a real image");
    assert_eq!((decoded.width(), decoded.height()), (320, 200));
    assert_eq!(count(&google.stats().await, "generate_content"), 2);
}

#[tokio::test]
async fn fault_classes_end_as_the_policy_says() {
    // (rule, model, status, error code, calls to the model's submit endpoint)
    let cases = [
        ("predict:always:status=400", "imagen4", "failed", "provider_rejected", 1),
        ("predict:always:status=403", "imagen4", "failed", "provider_unauthorized", 1),
        ("predict:always:status=429,retry_after_seconds=0", "imagen4", "failed", "provider_rate_limited", 3),
        ("predict:first=1:status=429,retry_after_seconds=0", "imagen4", "completed", "", 2),
        ("predict:always:status=500", "imagen4", "failed", "provider_error", 3),
        ("predict:always:safety", "imagen4", "failed", "content_filtered", 1),
        ("generate_content:always:safety", "gemini-image", "failed", "content_filtered", 1),
        ("generate_content:always:safety=output", "gemini-image", "failed", "content_filtered", 1),
        ("generate_content:always:generation_failed", "gemini-image", "failed", "generation_failed", 1),
        ("predict_long_running:always:status=400", "veo3", "failed", "provider_rejected", 1),
        ("operations:always:generation_failed", "veo3", "failed", "generation_failed", 1),
        ("operations:always:safety", "veo3", "failed", "content_filtered", 1),
        ("operations:first=2:status=503", "veo3", "completed", "", 1),
    ];
    for (rule, model, status, code, calls) in cases {
        let google = start(&[rule]).await;
        let task = google.run(model, json!({ "prompt": "x" })).await;
        assert_eq!(task["status"], status, "{rule}: {task}");
        if code.is_empty() {
            assert!(task["error"].is_null(), "{rule}: {task}");
        } else {
            assert_eq!(task["error"]["code"], code, "{rule}: {task}");
        }
        let endpoint = match model {
            "imagen4" => "predict",
            "veo3" => "predict_long_running",
            _ => "generate_content",
        };
        assert_eq!(count(&google.stats().await, endpoint), calls, "{rule}: calls");
    }
}

#[tokio::test]
async fn a_wrong_key_is_unauthorized_and_the_key_never_shows() {
    let google = start_with(&[], |config| config.api_key = "another-key".into()).await;
    let task = google.run("gemini-image", json!({ "prompt": "x" })).await;
    assert_eq!(
        (task["status"].as_str(), task["error"]["code"].as_str()),
        (Some("failed"), Some("provider_unauthorized"))
    );
    assert_eq!(count(&google.stats().await, "auth_failures"), 1);
}
