//! The provider framework around every adapter, through the real app and store
//! with a scripted provider: uploads and input files, the provider upload cache,
//! daily quotas, the concurrency limit per service, per-model poll timeouts, and
//! video outputs with their poster thumbnails.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use atelier_core::CoreError;
use atelier_core::catalog::{Modality, ModelSpec};
use atelier_core::ports::{
    ErrorClass, InputRef, Job, Output, OutputRole, Polled, Provider, ProviderError, ProviderUpload, Submitted,
};
use atelier_core::time::now_millis;
use serde_json::{Value, json};

use crate::helpers::{Options, TestApp, assert_error};

const SAMPLE_MP4: &[u8] = include_bytes!("../../../emulators/fixtures/sample.mp4");

/// `lab/echo`: opens each input file and returns it as its output, noting what the
/// provider "uploaded" (a fake remote store, as Kie's upload API would be).
/// `lab/slow`: accepted at once, never finishes (per-model poll timeout 1 s).
/// `lab/remote`: accepted, finishes after `polls` polls; counts how many are open
/// at once. `lab/video`: answers a real MP4.
#[derive(Default)]
struct Lab {
    uploads: AtomicUsize,
    open: AtomicUsize,
    most_open: AtomicUsize,
    polls: std::sync::Mutex<std::collections::HashMap<String, u32>>,
    prepares: AtomicUsize,
    submits: AtomicUsize,
}

fn spec(model: &str, modality: Modality, poll_timeout_secs: Option<u64>) -> ModelSpec {
    ModelSpec {
        service: "lab".into(),
        model: model.into(),
        aliases: Vec::new(),
        modality,
        title: model.into(),
        description: "a test provider".into(),
        input_schema: json!({ "type": "object" }),
        estimated_seconds: 1,
        poll_timeout_secs,
        requires_config: None,
    }
}

#[async_trait]
impl Provider for Lab {
    fn service(&self) -> &str {
        "lab"
    }

    fn models(&self) -> Vec<ModelSpec> {
        vec![
            spec("echo", Modality::Image, None),
            spec("slow", Modality::Video, Some(1)),
            spec("patient", Modality::Video, None),
            spec("remote", Modality::Image, None),
            spec("video", Modality::Video, None),
            spec("prepared", Modality::Image, None),
            spec("streamed", Modality::Model3d, None),
        ]
    }

    fn validate(&self, _model: &str, input: &Value) -> Result<Value, CoreError> {
        for (index, file) in input["files"].as_array().into_iter().flatten().enumerate() {
            let text = file.as_str().unwrap_or_default();
            InputRef::parse(text).map_err(|reason| CoreError::invalid(&format!("files[{index}]"), reason))?;
        }
        Ok(input.clone())
    }

    fn submit_is_costly(&self) -> bool {
        true
    }

    fn input_files(&self, _model: &str, input: &Value) -> Vec<String> {
        input["files"].as_array().into_iter().flatten().filter_map(Value::as_str).map(str::to_owned).collect()
    }

    async fn prepare(&self, job: &Job<'_>) -> Result<(), ProviderError> {
        if job.model == "prepared" && self.prepares.fetch_add(1, Ordering::SeqCst) == 0 {
            return Err(ProviderError::new(ErrorClass::Timeout, "the upload timed out"));
        }
        Ok(())
    }

    async fn submit(&self, job: &Job<'_>) -> Result<Submitted, ProviderError> {
        self.submits.fetch_add(1, Ordering::SeqCst);
        match job.model {
            "prepared" => Ok(Submitted::Finished(vec![tiny_png()])),
            "echo" => {
                let mut outputs = Vec::new();
                for text in self.input_files(job.model, job.input) {
                    let reference =
                        InputRef::parse(&text).map_err(|reason| ProviderError::new(ErrorClass::ClientError, reason))?;
                    let file = job.files.open(&reference).await?;
                    // Upload once per content, reuse while fresh (as Kie's adapter does).
                    if job.files.cached_upload("lab", &file.sha256, 60_000).await.is_none() {
                        self.uploads.fetch_add(1, Ordering::SeqCst);
                        let expires_at = now_millis() + job.input["upload_ttl_ms"].as_i64().unwrap_or(3_600_000);
                        let upload = ProviderUpload { url: format!("https://lab.test/{}", file.sha256), expires_at };
                        job.files.remember_upload("lab", &file.sha256, &upload).await;
                    }
                    outputs.push(Output::new(file.bytes, file.mime));
                }
                Ok(Submitted::Finished(outputs))
            }
            "video" => Ok(Submitted::Finished(vec![Output::new(SAMPLE_MP4, "video/mp4")])),
            // A large file streamed in parts, with a preview beside it.
            "streamed" => {
                let parts: Vec<std::io::Result<bytes::Bytes>> =
                    streamed_parts().into_iter().map(|part| Ok(bytes::Bytes::from(part))).collect();
                let primary = Output::stream(Box::pin(futures::stream::iter(parts)), "model/gltf-binary");
                Ok(Submitted::Finished(vec![primary, tiny_png().with_role(OutputRole::Preview)]))
            }
            _ => {
                let open = self.open.fetch_add(1, Ordering::SeqCst) + 1;
                self.most_open.fetch_max(open, Ordering::SeqCst);
                Ok(Submitted::Accepted {
                    external_id: format!("ext-{}", job.task_id),
                    poll_after: Duration::from_millis(40),
                })
            }
        }
    }

    async fn poll(&self, job: &Job<'_>, external_id: &str) -> Result<Polled, ProviderError> {
        let still_running = Polled::Running { progress: None, poll_after: Duration::from_millis(40) };
        if job.model != "remote" {
            return Ok(still_running);
        }
        let polls = {
            let mut polls = self.polls.lock().unwrap();
            let n = polls.entry(external_id.to_owned()).or_default();
            *n += 1;
            *n
        };
        if polls < 3 {
            return Ok(still_running);
        }
        self.open.fetch_sub(1, Ordering::SeqCst);
        Ok(Polled::Finished(vec![tiny_png()]))
    }

    async fn cancel(&self, _external_id: &str) -> Result<(), ProviderError> {
        Ok(())
    }
}

fn tiny_png() -> Output {
    let mut bytes = Vec::new();
    let image = image::RgbImage::from_pixel(8, 8, image::Rgb([10, 200, 30]));
    image.write_to(&mut std::io::Cursor::new(&mut bytes), image::ImageFormat::Png).expect("encode");
    Output::new(bytes, "image/png").with_size(8, 8)
}

fn png_bytes(width: u32, height: u32) -> Vec<u8> {
    let mut bytes = Vec::new();
    let image = image::RgbImage::from_pixel(width, height, image::Rgb([200, 30, 30]));
    image.write_to(&mut std::io::Cursor::new(&mut bytes), image::ImageFormat::Png).expect("encode");
    bytes
}

async fn lab_app(lab: Arc<Lab>, configure: Option<crate::helpers::Configure>) -> TestApp {
    TestApp::with(Options { providers: vec![lab], configure, ..Options::default() }).await.unwrap()
}

async fn upload_raw(app: &TestApp, bytes: Vec<u8>, mime: &str) -> reqwest::Response {
    app.http
        .post(app.url("/api/v1/uploads?name=red.png"))
        .header("content-type", mime)
        .body(bytes)
        .send()
        .await
        .unwrap()
}

async fn create(app: &TestApp, model: &str, input: Value) -> reqwest::Response {
    app.post("/api/v1/tasks", &json!({ "model": model, "input": input })).await
}

async fn run(app: &TestApp, model: &str, input: Value) -> Value {
    let response = create(app, model, input).await;
    assert_eq!(response.status(), 202);
    let task: Value = response.json().await.unwrap();
    app.wait_for_end(task["task_id"].as_str().unwrap()).await
}

#[tokio::test]
async fn uploads_are_stored_served_and_deleted() {
    let app = TestApp::spawn().await;
    let png = png_bytes(40, 30);

    // Raw body.
    let response = upload_raw(&app, png.clone(), "image/png").await;
    assert_eq!(response.status(), 201);
    let upload: Value = response.json().await.unwrap();
    assert!(upload["id"].as_str().unwrap().starts_with("upl_"));
    assert_eq!((upload["width"].as_u64(), upload["height"].as_u64()), (Some(40), Some(30)));
    assert_eq!(upload["name"], "red.png");
    let content = app.get(upload["url"].as_str().unwrap()).await;
    assert_eq!(content.headers()["content-type"], "image/png");
    assert_eq!(content.bytes().await.unwrap().to_vec(), png);

    // Multipart, with a generic declared type: sniffed.
    let part =
        reqwest::multipart::Part::bytes(png.clone()).file_name("../x/fox.png").mime_str("application/octet-stream");
    let form = reqwest::multipart::Form::new().text("note", "ignored").part("file", part.unwrap());
    let response = app.http.post(app.url("/api/v1/uploads")).multipart(form).send().await.unwrap();
    assert_eq!(response.status(), 201);
    let second: Value = response.json().await.unwrap();
    assert_eq!(second["mime"], "image/png");
    assert_eq!(second["name"], "fox.png");
    assert_eq!(second["sha256"], upload["sha256"], "same content, same blob");

    // Bad inputs.
    assert_error(upload_raw(&app, b"plain text".to_vec(), "text/plain").await, 415, "unsupported_media_type").await;
    assert_error(upload_raw(&app, Vec::new(), "image/png").await, 422, "validation_error").await;
    let mut broken = png.clone();
    broken.truncate(30);
    assert_error(upload_raw(&app, broken, "image/png").await, 422, "image_undecodable").await;
    let form = reqwest::multipart::Form::new().text("other", "x");
    let response = app.http.post(app.url("/api/v1/uploads")).multipart(form).send().await.unwrap();
    assert_error(response, 422, "validation_error").await;
    assert_error(app.get("/api/v1/uploads/upl_nope").await, 404, "not_found").await;

    // Deleting one keeps the blob the other still names; deleting both removes it.
    let id = upload["id"].as_str().unwrap();
    assert_eq!(app.delete(&format!("/api/v1/uploads/{id}")).await.status(), 204);
    assert_error(app.get(&format!("/api/v1/uploads/{id}")).await, 404, "not_found").await;
    let other = app.get(second["url"].as_str().unwrap()).await;
    assert_eq!(other.status(), 200);
    assert_eq!(other.bytes().await.unwrap().to_vec(), png);
}

#[tokio::test]
async fn input_files_reach_the_provider_and_its_uploads_are_reused_while_fresh() {
    let lab = Arc::new(Lab::default());
    let app = lab_app(lab.clone(), None).await;
    let png = png_bytes(16, 16);
    let upload: Value = upload_raw(&app, png.clone(), "image/png").await.json().await.unwrap();
    let upload_id = upload["id"].as_str().unwrap();

    // An upload id, then a data URI of the same bytes, then the first task's output.
    let task = run(&app, "lab/echo", json!({ "files": [upload_id] })).await;
    assert_eq!(task["status"], "completed", "{task}");
    let output_id = task["images"][0]["image_id"].as_str().unwrap().to_owned();
    let data_uri = format!("data:image/png;base64,{}", base64_encode(&png));
    let task = run(&app, "lab/echo", json!({ "files": [data_uri, output_id] })).await;
    assert_eq!(task["status"], "completed", "{task}");
    let served = app.get(task["images"][1]["url"].as_str().unwrap()).await.bytes().await.unwrap();
    assert_eq!(served.to_vec(), png, "the output chained in is the same file");
    assert_eq!(lab.uploads.load(Ordering::SeqCst), 1, "one upload to the provider, reused while fresh");

    // Past its expiry (less than the 60 s margin left), the file is uploaded afresh.
    let other = png_bytes(17, 17);
    let other: Value = upload_raw(&app, other, "image/png").await.json().await.unwrap();
    let input = json!({ "files": [other["id"]], "upload_ttl_ms": 1000 });
    assert_eq!(run(&app, "lab/echo", input.clone()).await["status"], "completed");
    assert_eq!(run(&app, "lab/echo", input).await["status"], "completed");
    assert_eq!(lab.uploads.load(Ordering::SeqCst), 3, "an expired provider upload is redone");

    // Unknown ids are refused before anything runs; malformed references too.
    let missing = format!("upl_{}", "0".repeat(32));
    let body =
        assert_error(create(&app, "lab/echo", json!({ "files": [missing] })).await, 422, "validation_error").await;
    assert_eq!(body["details"]["reason"], "no such file", "{body}");
    let body =
        assert_error(create(&app, "lab/echo", json!({ "files": ["ftp://x/y"] })).await, 422, "validation_error").await;
    assert_eq!(body["details"]["field"], "files[0]", "{body}");
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[tokio::test]
async fn daily_quotas_answer_429_until_midnight() {
    let lab = Arc::new(Lab::default());
    let configure: crate::helpers::Configure = Box::new(|config, _| {
        config
            .providers
            .limits
            .insert("lab".into(), atelier::config::LimitsConfig { daily_tasks: 3, ..Default::default() });
        config
            .providers
            .limits
            .insert("lab/video".into(), atelier::config::LimitsConfig { daily_tasks: 1, ..Default::default() });
    });
    let app = lab_app(lab, Some(configure)).await;
    assert_eq!(create(&app, "lab/video", json!({})).await.status(), 202);
    let response = create(&app, "lab/video", json!({})).await;
    let retry_after: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    let body = assert_error(response, 429, "quota_exceeded").await;
    assert_eq!(body["details"]["scope"], "lab/video");
    assert!(retry_after > 0 && retry_after <= 86_400, "{retry_after}");
    assert_eq!(body["retry_after"].as_u64(), Some(retry_after));

    // The service's quota counts every model; other services are untouched.
    assert_eq!(create(&app, "lab/echo", json!({})).await.status(), 202);
    assert_eq!(create(&app, "lab/echo", json!({})).await.status(), 202);
    let body = assert_error(create(&app, "lab/echo", json!({})).await, 429, "quota_exceeded").await;
    assert_eq!(body["details"]["scope"], "lab");
    assert_eq!(app.create_placeholder("still fine", json!({})).await.len(), 36);

    let providers: Value = app.get("/api/v1/providers").await.json().await.unwrap();
    let lab_view = providers["providers"].as_array().unwrap().iter().find(|p| p["service"] == "lab").unwrap().clone();
    let quotas = lab_view["quotas"].as_array().unwrap();
    let used =
        |scope: &str| quotas.iter().find(|q| q["scope"] == scope).map(|q| (q["used"].clone(), q["limit"].clone()));
    assert_eq!(used("lab"), Some((json!(3), json!(3))), "{lab_view}");
    assert_eq!(used("lab/video"), Some((json!(1), json!(1))), "{lab_view}");
}

#[tokio::test]
async fn a_service_never_has_more_tasks_open_than_its_limit() {
    let lab = Arc::new(Lab::default());
    let configure: crate::helpers::Configure = Box::new(|config, _| {
        config.worker.concurrency = 8;
        config
            .providers
            .limits
            .insert("lab".into(), atelier::config::LimitsConfig { max_in_flight: 2, ..Default::default() });
    });
    let app = lab_app(lab.clone(), Some(configure)).await;
    let mut ids = Vec::new();
    for _ in 0..6 {
        let task: Value = create(&app, "lab/remote", json!({})).await.json().await.unwrap();
        ids.push(task["task_id"].as_str().unwrap().to_owned());
    }
    let providers: Value = app.get("/api/v1/providers").await.json().await.unwrap();
    let lab_view = providers["providers"].as_array().unwrap().iter().find(|p| p["service"] == "lab").unwrap().clone();
    assert_eq!(lab_view["limits"]["max_in_flight"], 2, "{lab_view}");
    for id in &ids {
        let task = app.wait_for_end(id).await;
        assert_eq!(task["status"], "completed", "{task}");
        assert_eq!(task["attempts"], 1, "waiting for a slot costs no attempt: {task}");
    }
    assert_eq!(lab.most_open.load(Ordering::SeqCst), 2, "at most 2 open at the provider, and the limit was reached");
}

#[tokio::test]
async fn poll_timeouts_are_per_model_and_configurable() {
    let lab = Arc::new(Lab::default());
    let configure: crate::helpers::Configure = Box::new(|config, _| {
        config.worker.poll_timeout_secs = 300;
        config.providers.poll_timeouts.insert("lab/patient".into(), 2);
    });
    let app = lab_app(lab, Some(configure)).await;
    // `slow` says 1 s itself; `patient` would wait the default 300 s, the config says 2.
    let started = std::time::Instant::now();
    let slow = run(&app, "lab/slow", json!({})).await;
    assert_eq!(slow["status"], "failed");
    assert_eq!(slow["error"]["code"], "poll_timeout", "{slow}");
    assert!(slow["error"]["message"].as_str().unwrap().contains("1 s"), "{slow}");
    let patient = run(&app, "lab/patient", json!({})).await;
    assert_eq!(patient["error"]["code"], "poll_timeout", "{patient}");
    assert!(patient["error"]["message"].as_str().unwrap().contains("2 s"), "{patient}");
    assert!(started.elapsed() >= Duration::from_secs(3), "each waited its own timeout");
}

#[tokio::test]
async fn videos_get_a_poster_thumbnail_when_ffmpeg_is_installed() {
    let lab = Arc::new(Lab::default());
    let app = lab_app(lab, None).await;
    let task = run(&app, "lab/video", json!({})).await;
    assert_eq!(task["status"], "completed", "{task}");
    let image = &task["images"][0];
    let video = app.get(image["url"].as_str().unwrap()).await;
    assert_eq!(video.headers()["content-type"], "video/mp4");
    assert_eq!(video.bytes().await.unwrap().as_ref(), SAMPLE_MP4);
    let thumbnail_url = format!("/api/v1/assets/{}/thumbnail", image["image_id"].as_str().unwrap());
    let thumbnail = app.get(&thumbnail_url).await;
    if atelier_assets::poster::ffmpeg().is_some() {
        assert_eq!(thumbnail.status(), 200);
        assert_eq!(thumbnail.headers()["content-type"], "image/webp");
        let bytes = thumbnail.bytes().await.unwrap();
        assert_eq!(atelier_assets::image_dimensions(&bytes), Some((256, 144)), "the poster fits in 256×256");
        assert_eq!((image["width"].as_u64(), image["height"].as_u64()), (Some(320), Some(180)), "{image}");
    } else {
        let body = assert_error(thumbnail, 404, "no_thumbnail").await;
        assert!(body["message"].as_str().unwrap().contains("ffmpeg"), "{body}");
    }
}

/// A small image server on loopback: `/ok.png`, `/to-ok` (a redirect to it) and
/// `/to-private` (a redirect to another loopback address, not allowlisted).
async fn image_server() -> String {
    use axum::response::{IntoResponse, Redirect};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let png = png_bytes(12, 12);
    let router = axum::Router::new()
        .route(
            "/ok.png",
            axum::routing::get(move || async move { ([("content-type", "image/png")], png).into_response() }),
        )
        .route("/to-ok", axum::routing::get(|| async { Redirect::temporary("/ok.png") }))
        .route(
            "/to-private",
            axum::routing::get(move || async move {
                Redirect::temporary(&format!("http://127.0.0.2:{}/ok.png", address.port()))
            }),
        );
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("127.0.0.1:{}", address.port())
}

#[tokio::test]
async fn input_urls_never_reach_private_addresses_unless_allowlisted() {
    let server = image_server().await;
    let allowed = server.clone();
    let lab = Arc::new(Lab::default());
    let configure: crate::helpers::Configure = Box::new(move |config, _| config.fetch.allow = vec![allowed]);
    let app = lab_app(lab, Some(configure)).await;

    for url in [format!("http://{server}/ok.png"), format!("http://{server}/to-ok")] {
        let task = run(&app, "lab/echo", json!({ "files": [url] })).await;
        assert_eq!(task["status"], "completed", "the allowlisted server is fetched: {task}");
    }
    let port = server.rsplit(':').next().unwrap();
    for url in [
        format!("http://127.0.0.2:{port}/ok.png"),
        format!("http://[::1]:{port}/ok.png"),
        "http://localhost:1/ok.png".to_owned(),
        "http://10.1.2.3/ok.png".to_owned(),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        format!("http://{server}/to-private"),
    ] {
        let task = run(&app, "lab/echo", json!({ "files": [url] })).await;
        assert_eq!(task["status"], "failed", "{url}: {task}");
        assert_eq!(task["error"]["code"], "provider_rejected", "refused, not retried: {task}");
        assert_eq!(task["attempts"], 1, "{task}");
        assert!(task["error"]["message"].as_str().unwrap().contains("not fetched"), "{task}");
    }
}

#[tokio::test]
async fn a_failed_prepare_is_retried_and_never_taken_for_a_lost_submit() {
    let lab = Arc::new(Lab::default());
    let app = lab_app(lab.clone(), None).await;
    let task = run(&app, "lab/prepared", json!({})).await;
    assert_eq!(task["status"], "completed", "{task}");
    assert_eq!(task["attempts"], 2, "the timed-out prepare cost one attempt: {task}");
    assert_eq!(lab.prepares.load(Ordering::SeqCst), 2);
    assert_eq!(lab.submits.load(Ordering::SeqCst), 1, "one submit, after the prepare succeeded");
}

/// Three parts of a 6 MiB file (more than one part of a multipart upload).
fn streamed_parts() -> Vec<Vec<u8>> {
    (0..3u8).map(|n| (0..2 * 1024 * 1024).map(|i| (i % 251) as u8 ^ n).collect()).collect()
}

#[tokio::test]
async fn streamed_outputs_are_stored_whole_with_their_roles() {
    let lab = Arc::new(Lab::default());
    let app = TestApp::with(Options { providers: vec![lab], ..Options::default() }).await.expect("app");
    let id = app.create("lab/streamed", json!({})).await;
    let task = app.wait_for_end(&id).await;
    assert_eq!(task["status"], "completed", "{task}");
    let images = task["images"].as_array().expect("outputs");
    let roles: Vec<&str> = images.iter().map(|image| image["role"].as_str().expect("role")).collect();
    assert_eq!(roles, ["primary", "preview"]);
    let expected: Vec<u8> = streamed_parts().concat();
    let primary = &images[0];
    assert_eq!(primary["file_size"], expected.len());
    assert_eq!(primary["sha256"], sha256_hex(&expected));
    assert!(primary.get("thumbnail_url").is_none(), "streamed outputs get no thumbnail");
    let stored = app.get(primary["url"].as_str().expect("url")).await.bytes().await.expect("bytes");
    assert!(stored[..] == expected[..], "the stored file is the stream, whole and in order");
    // Every file under the store: the blobs are there, and nothing staged is left.
    let mut files = Vec::new();
    let mut dirs = vec![app.data_dir().join("files")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("the store's directory").flatten() {
            let path = entry.path();
            if path.is_dir() { dirs.push(path) } else { files.push(path) }
        }
    }
    assert!(files.iter().any(|path| path.ends_with(format!("{}.glb", sha256_hex(&expected)))), "{files:?}");
    assert!(!files.iter().any(|path| path.to_string_lossy().contains("staging")), "staging left behind: {files:?}");
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}
