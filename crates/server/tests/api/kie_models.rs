//! Kie's Veo 3, Midjourney and Sora 2 through Atelier, against the emulator:
//! success for each model, each failure class with the number of submits it
//! took, Veo's 1080p fetch, input images through Kie's upload API (by URL,
//! base64 and stream, reused while fresh), and Veo and Midjourney callbacks.

use std::time::Duration;

use atelier_emulators::kie::KieEmulatorConfig;
use atelier_testkit::emulators::{Emulator, kie_callbacks};
use base64::Engine;
use serde_json::{Value, json};

use crate::helpers::{Options, TestApp, assert_error};

struct Kie {
    app: TestApp,
    emulator: Emulator,
    http: reqwest::Client,
}

async fn start(faults: &[&str]) -> Kie {
    start_with(faults, None, 50, |_| {}).await
}

/// An emulator (changed by `tweak`, signing callbacks with `webhook_key` when
/// given) and an app pointed at it for both the API and uploads.
async fn start_with(
    faults: &[&str],
    webhook_key: Option<&str>,
    first_poll_ms: u64,
    tweak: impl FnOnce(&mut KieEmulatorConfig),
) -> Kie {
    let webhook_key = webhook_key.map(str::to_owned);
    let signing = webhook_key.clone();
    let emulator = Emulator::kie(faults, |config| {
        config.webhook_hmac_key = signing;
        tweak(config);
    })
    .await;
    let pointed = emulator.clone();
    let configure = Box::new(move |config: &mut atelier::config::Config, app_base: &str| {
        pointed.point_kie(config, first_poll_ms);
        if let Some(key) = webhook_key {
            kie_callbacks(config, app_base, &key);
        }
    });
    let app = TestApp::with(Options { configure: Some(configure), ..Options::default() }).await.expect("app");
    Kie { app, emulator, http: reqwest::Client::new() }
}

impl Kie {
    async fn stats(&self) -> Value {
        self.emulator.stats().await
    }

    async fn run(&self, model: &str, input: Value) -> Value {
        let created = self.app.post("/api/v1/tasks", &json!({ "model": model, "input": input })).await;
        assert_eq!(created.status(), 202, "{model}");
        let created: Value = created.json().await.expect("json");
        self.app.wait_for_end(created["task_id"].as_str().expect("id")).await
    }

    /// The body Atelier sent to Kie for a task, as the emulator's record echoes it
    /// (for market models, the createTask body).
    async fn generate_body(&self, model: &str, task: &Value) -> Value {
        let id = task["external_task_id"].as_str().expect("external id");
        let (path, field) = match model {
            "kie/veo3" => ("/api/v1/veo/record-info", "paramJson"),
            "kie/midjourney" => ("/api/v1/mj/record-info", "paramJson"),
            _ => ("/api/v1/jobs/recordInfo", "param"),
        };
        let url = format!("{}{path}?taskId={id}", self.emulator.base);
        let record: Value =
            self.http.get(url).bearer_auth("test-key").send().await.expect("record").json().await.expect("json");
        serde_json::from_str(record["data"][field].as_str().expect("a JSON string")).expect("JSON")
    }

    fn sample_url(&self) -> String {
        format!("{}/__emulator/sample.png", self.emulator.base)
    }

    /// Uploads a PNG to Atelier and returns its `upl_…` id.
    async fn upload_png(&self, shade: u8) -> String {
        let mut png = Vec::new();
        image::RgbImage::from_pixel(24, 24, image::Rgb([shade, 90, 160]))
            .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .expect("encode");
        self.app.upload("input.png", "image/png", png).await
    }
}

/// The emulator's generate calls for a model's API.
fn submits(stats: &Value, model: &str) -> u64 {
    let key = match model {
        "kie/veo3" => "veo_generate",
        "kie/midjourney" => "mj_generate",
        _ => "create_task",
    };
    stats[key].as_u64().unwrap_or_else(|| panic!("{key} in {stats}"))
}

/// The generate rule (endpoint name) of a model's API, for fault plans.
fn generate_endpoint(model: &str) -> &'static str {
    match model {
        "kie/veo3" => "veoGenerate",
        "kie/midjourney" => "mjGenerate",
        _ => "createTask",
    }
}

const MODELS: [&str; 3] = ["kie/veo3", "kie/midjourney", "kie/sora2"];

#[tokio::test]
async fn each_model_completes_with_one_submit_and_stores_its_outputs() {
    // (model, input, outputs, mime)
    let cases = [
        ("kie/veo3", json!({ "prompt": "a fox runs", "aspect_ratio": "9:16" }), 1, "video/mp4"),
        ("kie/midjourney", json!({ "prompt": "a fox, ukiyo-e", "aspect_ratio": "16:9" }), 4, "image/png"),
        ("kie/sora2", json!({ "prompt": "a fox", "variant": "pro", "size": "high", "n_frames": 15 }), 1, "video/mp4"),
    ];
    for (model, input, count, mime) in cases {
        let kie = start(&[]).await;
        let task = kie.run(model, input).await;
        assert_eq!(task["status"], "completed", "{model}: {task}");
        let outputs = task["images"].as_array().expect("outputs");
        assert_eq!(outputs.len(), count, "{model}");
        for output in outputs {
            assert_eq!(output["mime_type"], mime, "{model}");
        }
        let bytes = kie.app.get(outputs[0]["url"].as_str().expect("url")).await.bytes().await.expect("bytes");
        if mime == "video/mp4" {
            assert_eq!(&bytes[4..8], b"ftyp", "{model}: a real mp4 is stored");
        } else {
            image::load_from_memory(&bytes).expect("a real image is stored");
        }
        let stats = kie.stats().await;
        assert_eq!(submits(&stats, model), 1, "{model}: {stats}");
        assert_eq!(stats["veo_1080p"], 0, "720p needs no 1080p fetch");
    }
    let kie = start(&[]).await;
    let body = kie.generate_body("kie/sora2", &kie.run("kie/sora2", json!({ "prompt": "x" })).await).await;
    assert_eq!(body["model"], "sora-2-text-to-video");
    assert_eq!(body["input"]["n_frames"], "10", "Kie wants a string");
}

#[tokio::test]
async fn midjourney_video_makes_the_asked_batch() {
    let kie = start(&[]).await;
    let url = kie.sample_url();
    let input = json!({ "prompt": "it moves", "task_type": "mj_video", "images": [url], "video_batch_size": 2 });
    let task = kie.run("kie/midjourney", input).await;
    assert_eq!(task["status"], "completed", "{task}");
    let outputs = task["images"].as_array().expect("outputs");
    assert_eq!(outputs.len(), 2);
    assert!(outputs.iter().all(|o| o["mime_type"] == "video/mp4"), "{task}");
    let body = kie.generate_body("kie/midjourney", &task).await;
    assert_eq!((body["taskType"].as_str(), body["motion"].as_str()), (Some("mj_video"), Some("high")));
    assert!(body.get("speed").is_none(), "video takes no speed: {body}");
}

#[tokio::test]
async fn generation_failures_fail_at_once_with_one_submit() {
    for model in MODELS {
        let kie = start(&[&format!("{}:always:generation_failed", generate_endpoint(model))]).await;
        let task = kie.run(model, json!({ "prompt": "x" })).await;
        assert_eq!(task["status"], "failed", "{model}: {task}");
        assert_eq!(task["error"]["code"], "generation_failed", "{model}: {task}");
        assert_eq!(submits(&kie.stats().await, model), 1, "{model}");
    }
}

#[tokio::test]
async fn insufficient_credits_fail_at_once() {
    for model in MODELS {
        let kie = start(&[&format!("{}:always:status=402", generate_endpoint(model))]).await;
        let task = kie.run(model, json!({ "prompt": "x" })).await;
        assert_eq!(task["status"], "failed", "{model}: {task}");
        assert_eq!(task["error"]["code"], "insufficient_credits", "{model}: {task}");
        assert_eq!(submits(&kie.stats().await, model), 1, "{model}");
    }
}

#[tokio::test]
async fn server_errors_are_retried() {
    for model in MODELS {
        let kie = start(&[&format!("{}:first=2:status=500", generate_endpoint(model))]).await;
        let task = kie.run(model, json!({ "prompt": "x" })).await;
        assert_eq!(task["status"], "completed", "{model}: {task}");
        assert_eq!(submits(&kie.stats().await, model), 3, "{model}: two 500s, then success");
    }
}

#[tokio::test]
async fn invalid_inputs_are_refused_before_any_call() {
    let kie = start(&[]).await;
    let cases = [
        ("kie/veo3", json!({ "prompt": "x", "seeds": 5 }), "seeds"),
        (
            "kie/veo3",
            json!({ "prompt": "x", "mode": "reference", "variant": "quality", "images": ["https://e.com/a.png"] }),
            "mode",
        ),
        ("kie/midjourney", json!({ "prompt": "x", "task_type": "mj_video", "images": [] }), "images"),
        ("kie/midjourney", json!({ "prompt": "x", "motion": "low" }), "motion"),
        ("kie/sora2", json!({ "prompt": "x", "size": "high" }), "size"),
        ("kie/sora2", json!({ "prompt": "x", "images": ["data:image/png;base64,@@"] }), "images[0]"),
    ];
    for (model, input, field) in cases {
        let response = kie.app.post("/api/v1/tasks", &json!({ "model": model, "input": input })).await;
        let body = assert_error(response, 422, "validation_error").await;
        assert_eq!(body["details"]["field"], field, "{model}: {body}");
    }
    let missing = format!("upl_{}", "0".repeat(32));
    let response = kie
        .app
        .post("/api/v1/tasks", &json!({ "model": "kie/veo3", "input": { "prompt": "x", "images": [missing] } }))
        .await;
    let body = assert_error(response, 422, "validation_error").await;
    assert_eq!(body["details"]["reason"], "no such file", "{body}");
    let stats = kie.stats().await;
    for key in ["veo_generate", "mj_generate", "create_task"] {
        assert_eq!(stats[key], 0, "{key}: {stats}");
    }
    assert_eq!(stats["uploads"]["total"], 0);
}

#[tokio::test]
async fn veo_fetches_the_1080p_file_once_it_is_ready() {
    let kie = start_with(&[], None, 50, |config| config.hd_pending_requests = 1).await;
    let task = kie.run("kie/veo3", json!({ "prompt": "a fox", "resolution": "1080p" })).await;
    assert_eq!(task["status"], "completed", "{task}");
    assert_eq!(task["images"][0]["mime_type"], "video/mp4");
    let stats = kie.stats().await;
    assert_eq!(stats["veo_1080p"], 2, "one 'processing' answer, then the URL: {stats}");
    assert_eq!(stats["veo_generate"], 1, "never resubmitted while waiting");
    let body = kie.generate_body("kie/veo3", &task).await;
    assert_eq!(body["resolution"], "1080p");
}

#[tokio::test]
async fn input_images_reach_the_generate_body_as_kie_uploads() {
    let kie = start(&[]).await;
    let uploads = format!("{}/uploads/", kie.emulator.base);

    // A URL: Kie fetches it (file-url-upload).
    let task = kie.run("kie/veo3", json!({ "prompt": "animate", "images": [kie.sample_url()] })).await;
    assert_eq!(task["status"], "completed", "{task}");
    let body = kie.generate_body("kie/veo3", &task).await;
    let url = body["imageUrls"][0].as_str().expect("imageUrls");
    assert!(url.starts_with(&uploads), "{body}");
    assert!(body.get("generationType").is_none(), "inferred when no mode is named");

    // A data URI (file-base64-upload).
    let png = kie.http.get(kie.sample_url()).send().await.expect("sample").bytes().await.expect("bytes");
    let data_uri = format!("data:image/png;base64,{}", base64::engine::general_purpose::STANDARD.encode(&png));
    let input = json!({ "prompt": "restyle", "task_type": "mj_img2img", "images": [data_uri] });
    let task = kie.run("kie/midjourney", input).await;
    assert_eq!(task["status"], "completed", "{task}");
    let body = kie.generate_body("kie/midjourney", &task).await;
    assert!(body["fileUrls"][0].as_str().expect("fileUrls").starts_with(&uploads), "{body}");

    // An Atelier upload (file-stream-upload), into Sora's image-to-video.
    let upload = kie.upload_png(10).await;
    let task = kie.run("kie/sora2", json!({ "prompt": "go", "images": [upload] })).await;
    assert_eq!(task["status"], "completed", "{task}");
    let body = kie.generate_body("kie/sora2", &task).await;
    assert_eq!(body["model"], "sora-2-image-to-video");
    let url = body["input"]["image_urls"][0].as_str().expect("image_urls");
    assert!(url.starts_with(&uploads), "{body}");
    let sent = kie.http.get(url).send().await.expect("uploaded file").bytes().await.expect("bytes");
    let original = kie.app.get(&format!("/api/v1/uploads/{upload}/content")).await.bytes().await.expect("bytes");
    assert_eq!(sent, original, "Kie got the uploaded bytes");

    assert_eq!(kie.stats().await["uploads"], json!({ "stream": 1, "url": 1, "base64": 1, "total": 3 }));
}

#[tokio::test]
async fn kie_uploads_are_reused_while_fresh_and_redone_once_stale() {
    let kie = start(&[]).await;
    let upload = kie.upload_png(20).await;
    let first = kie.run("kie/veo3", json!({ "prompt": "one", "images": [upload] })).await;
    let second = kie.run("kie/veo3", json!({ "prompt": "two", "images": [upload] })).await;
    assert_eq!((first["status"].as_str(), second["status"].as_str()), (Some("completed"), Some("completed")));
    assert_eq!(kie.stats().await["uploads"]["stream"], 1, "the second task reuses the first upload");
    let (a, b) = (kie.generate_body("kie/veo3", &first).await, kie.generate_body("kie/veo3", &second).await);
    assert_eq!(a["imageUrls"], b["imageUrls"]);
    // Both tasks show the one copy Kie holds, fresh for three days.
    for task in [&first, &second] {
        let copy = &task["input_copies"][0];
        assert_eq!(
            (copy["url"].as_str(), copy["state"].as_str()),
            (a["imageUrls"][0].as_str(), Some("fresh")),
            "{task}"
        );
        assert_eq!(copy.get("warning"), None, "{task}");
    }

    // Uploads that Kie dates 2.5 days back have too little life left to reuse.
    let stale = start_with(&[], None, 50, |config| config.upload_age = Duration::from_secs(60 * 60 * 60)).await;
    let upload = stale.upload_png(30).await;
    for prompt in ["one", "two"] {
        let task = stale.run("kie/veo3", json!({ "prompt": prompt, "images": [upload] })).await;
        assert_eq!(task["status"], "completed", "{task}");
    }
    assert_eq!(stale.stats().await["uploads"]["stream"], 2, "a stale upload is uploaded afresh");
}

#[tokio::test]
async fn the_copy_kie_holds_is_shown_with_its_expiry_on_the_task_the_upload_and_the_events() {
    // Kie dates its copies 2.5 days back: half a day left, so each is "expiring".
    let kie = start_with(&[], None, 50, |config| config.upload_age = Duration::from_secs(60 * 60 * 60)).await;
    let upload = kie.upload_png(40).await;
    let bytes = kie.app.get(&format!("/api/v1/uploads/{upload}/content")).await.bytes().await.expect("bytes");
    let data_uri = format!("data:image/png;base64,{}", base64::engine::general_purpose::STANDARD.encode(&bytes));
    let task = kie.run("kie/veo-3", json!({ "prompt": "two frames", "images": [upload, data_uri] })).await;
    assert_eq!(task["status"], "completed", "{task}");
    let sent = kie.generate_body("kie/veo3", &task).await;

    let copies = task["input_copies"].as_array().expect("input_copies");
    assert_eq!(copies.len(), 2, "{task}");
    assert_eq!(copies[0]["reference"], upload.as_str());
    assert_eq!(copies[1]["reference"], format!("data:image/png;base64 ({} bytes)", bytes.len()));
    for (position, copy) in copies.iter().enumerate() {
        assert_eq!(copy["position"], position);
        assert_eq!(copy["service"], "kie");
        assert_eq!(copy["url"], sent["imageUrls"][position], "the URL Kie was given");
        assert_eq!(copy["state"], "expiring", "{copy}");
        let warning = copy["warning"].as_str().expect("a warning");
        assert!(warning.contains("within a day") && warning.contains("uploads it again"), "{warning}");
        let expires =
            chrono::DateTime::parse_from_rfc3339(copy["expires_at"].as_str().expect("expires_at")).expect("time");
        let left = expires.signed_duration_since(chrono::Utc::now());
        assert!(left > chrono::Duration::hours(11) && left <= chrono::Duration::hours(12), "{left}");
    }

    // The upload shows the same copy.
    let stored: Value = kie.app.get(&format!("/api/v1/uploads/{upload}")).await.json().await.expect("json");
    let held = &stored["provider_copies"][0];
    assert_eq!((held["service"].as_str(), held["url"].as_str()), (Some("kie"), copies[0]["url"].as_str()), "{stored}");
    assert_eq!(held["state"], "expiring");

    // So do the task list and the task's event stream.
    let listed: Value = kie.app.get("/api/v1/tasks?model=kie/veo-3").await.json().await.expect("json");
    assert_eq!(listed["tasks"][0]["input_copies"], task["input_copies"], "{listed}");
    let id = task["task_id"].as_str().expect("id");
    let events = kie.app.get(&format!("/api/v1/tasks/{id}/events")).await.text().await.expect("events");
    let snapshot = events.lines().find_map(|line| line.strip_prefix("data:")).expect("a snapshot");
    let snapshot: Value = serde_json::from_str(snapshot.trim()).expect("JSON");
    assert_eq!(snapshot["input_copies"], task["input_copies"], "{events}");

    // A task with no input file shows none.
    let plain = kie.run("kie/veo-3", json!({ "prompt": "no frames" })).await;
    assert_eq!(plain.get("input_copies"), None, "{plain}");
}

#[tokio::test]
async fn upload_failures_are_retried_and_never_submit_unknown() {
    for rule in ["fileUrlUpload:first=1:status=500", "fileUrlUpload:first=1:reset"] {
        let kie = start(&[rule]).await;
        let task = kie.run("kie/veo3", json!({ "prompt": "x", "images": [kie.sample_url()] })).await;
        assert_eq!(task["status"], "completed", "{rule}: {task}");
        let stats = kie.stats().await;
        assert_eq!((stats["uploads"]["url"].as_u64(), stats["veo_generate"].as_u64()), (Some(1), Some(1)), "{rule}");
    }
    let kie = start(&["fileUrlUpload:always:status=400"]).await;
    let task = kie.run("kie/veo3", json!({ "prompt": "x", "images": [kie.sample_url()] })).await;
    assert_eq!((task["status"].as_str(), task["error"]["code"].as_str()), (Some("failed"), Some("provider_rejected")));
    assert_eq!(kie.stats().await["veo_generate"], 0, "no generate without its images");
}

#[tokio::test]
async fn veo_and_midjourney_callbacks_make_atelier_poll_at_once() {
    // Polls every 30 s: only the callbacks (200 ms after each create) can finish
    // the tasks within the test's wait.
    let kie = start_with(&[], Some("hook-key"), 30_000, |_| {}).await;
    let started = std::time::Instant::now();
    let veo = kie.run("kie/veo3", json!({ "prompt": "called back" })).await;
    let mj = kie.run("kie/midjourney", json!({ "prompt": "called back" })).await;
    assert_eq!((veo["status"].as_str(), mj["status"].as_str()), (Some("completed"), Some("completed")));
    assert!(started.elapsed() < Duration::from_secs(12), "{:?}", started.elapsed());
    let stats = kie.stats().await;
    assert_eq!((stats["callbacks_sent"].as_u64(), stats["callbacks_failed"].as_u64()), (Some(2), Some(0)));
}
