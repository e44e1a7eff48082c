//! Hostile files on every way in (issue 22): the corpus `atelier_assets::hostile`
//! makes (decompression bombs of each format, files cut short, polyglots, Exif
//! that loops or runs past its block, 10,000-frame animations, an MP4 declaring
//! 100,000²) posted as uploads, given as data URIs, and answered by a provider as
//! its output. Each is refused with its code within a second of CPU (a generous
//! bound: the bench measures), and nothing is stored.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use atelier_assets::hostile::{self, Hostile};
use atelier_core::CoreError;
use atelier_core::catalog::{Modality, ModelSpec};
use atelier_core::ports::{ErrorClass, InputRef, Job, Output, Polled, Provider, ProviderError, Submitted};
use base64::Engine;
use serde_json::{Value, json};

use crate::helpers::{Options, TestApp, assert_error};

/// This process's CPU time (the app runs in it).
fn cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    // After the command's closing parenthesis: fields 14 and 15 (utime, stime).
    let fields: Vec<&str> = stat.rsplit_once(')').expect("a stat line").1.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
    // The kernel's USER_HZ is 100 on Linux.
    Duration::from_millis(ticks * 10)
}

/// The blobs, thumbnails and staging objects under the app's file store.
fn stored_files(app: &TestApp) -> Vec<std::path::PathBuf> {
    fn walk(dir: &std::path::Path, found: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, found);
            } else if path.components().any(|c| matches!(c.as_os_str().to_str(), Some("blobs" | "thumbs" | "staging")))
            {
                found.push(path);
            }
        }
    }
    let mut found = Vec::new();
    walk(app.data_dir(), &mut found);
    found
}

/// `bombs/echo` opens its one input file and answers it as its output;
/// `bombs/answer` answers the corpus file named by `input.file` itself (a provider,
/// or something pretending to be one, returning a bomb).
struct Bombs;

fn spec(model: &str) -> ModelSpec {
    ModelSpec {
        service: "bombs".into(),
        model: model.into(),
        aliases: Vec::new(),
        modality: Modality::Image,
        title: model.into(),
        description: "a hostile test provider".into(),
        input_schema: json!({ "type": "object" }),
        estimated_seconds: 1,
        poll_timeout_secs: None,
        requires_config: None,
    }
}

#[async_trait]
impl Provider for Bombs {
    fn service(&self) -> &str {
        "bombs"
    }

    fn models(&self) -> Vec<ModelSpec> {
        vec![spec("echo"), spec("answer")]
    }

    fn validate(&self, _model: &str, input: &Value) -> Result<Value, CoreError> {
        Ok(input.clone())
    }

    fn submit_is_costly(&self) -> bool {
        false
    }

    fn input_files(&self, _model: &str, input: &Value) -> Vec<String> {
        input["image"].as_str().map(str::to_owned).into_iter().collect()
    }

    async fn submit(&self, job: &Job<'_>) -> Result<Submitted, ProviderError> {
        if job.model == "answer" {
            let name = job.input["file"].as_str().unwrap_or_default();
            let file = hostile::corpus().into_iter().find(|file| file.name == name).expect("a corpus file");
            return Ok(Submitted::Finished(vec![Output::new(file.bytes, file.mime)]));
        }
        let reference = InputRef::parse(job.input["image"].as_str().unwrap_or_default())
            .map_err(|reason| ProviderError::new(ErrorClass::ClientError, reason))?;
        let file = job.files.open(&reference).await?;
        Ok(Submitted::Finished(vec![Output::new(file.bytes, file.mime)]))
    }

    async fn poll(&self, _job: &Job<'_>, _external_id: &str) -> Result<Polled, ProviderError> {
        Err(ProviderError::new(ErrorClass::ClientError, "never polled"))
    }

    async fn cancel(&self, _external_id: &str) -> Result<(), ProviderError> {
        Ok(())
    }
}

async fn app() -> TestApp {
    TestApp::with(Options { providers: vec![Arc::new(Bombs)], ..Options::default() }).await.expect("an app")
}

fn data_uri(file: &Hostile) -> String {
    format!("data:{};base64,{}", file.mime, base64::engine::general_purpose::STANDARD.encode(&file.bytes))
}

#[tokio::test]
async fn hostile_uploads_are_refused_with_their_code_and_nothing_is_stored() {
    let app = app().await;
    for file in hostile::corpus() {
        let before = cpu();
        let response = app
            .http
            .post(app.url(&format!("/api/v1/uploads?name={}", file.name)))
            .header("content-type", file.mime)
            .body(file.bytes.clone())
            .send()
            .await
            .unwrap();
        let body = assert_error(response, 422, file.code).await;
        let used = cpu() - before;
        assert!(used < Duration::from_secs(1), "{}: {used:?} of CPU", file.name);
        assert!(body["details"].is_object(), "{}: {body}", file.name);
    }
    // The same through the multipart form, for one of each kind.
    for name in ["png-bomb-30000", "webp-truncated", "gif-10000-frames"] {
        let file = hostile::corpus().into_iter().find(|file| file.name == name).unwrap();
        let part = reqwest::multipart::Part::bytes(file.bytes.clone()).file_name("x").mime_str(file.mime).unwrap();
        let form = reqwest::multipart::Form::new().part("file", part);
        let response = app.http.post(app.url("/api/v1/uploads")).multipart(form).send().await.unwrap();
        assert_error(response, 422, file.code).await;
    }
    assert_eq!(stored_files(&app), Vec::<std::path::PathBuf>::new());
    // An ordinary picture still goes in.
    let png = hostile::small(image::ImageFormat::Png);
    let response = app
        .http
        .post(app.url("/api/v1/uploads?name=ok.png"))
        .header("content-type", "image/png")
        .body(png)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let upload: Value = response.json().await.unwrap();
    assert_eq!((upload["width"].as_u64(), upload["height"].as_u64()), (Some(64), Some(48)), "{upload}");
}

#[tokio::test]
async fn hostile_data_uri_inputs_are_refused_when_the_task_is_created() {
    let app = app().await;
    for name in ["png-bomb-30000", "webp-truncated-16383", "png-zip-polyglot", "jpeg-exif-loop"] {
        let file = hostile::corpus().into_iter().find(|file| file.name == name).unwrap();
        let body = json!({ "model": "bombs/echo", "input": { "image": data_uri(&file) } });
        let error = assert_error(app.post("/api/v1/tasks", &body).await, 422, file.code).await;
        assert_eq!(error["details"]["field"], "input", "{name}: {error}");
        assert!(error["details"]["reference"].as_str().is_some_and(|r| r.len() < 80), "{name}: {error}");
    }
    let tasks: Value = app.get("/api/v1/tasks").await.json().await.unwrap();
    assert_eq!(tasks["tasks"], json!([]), "no task was stored");
    // The 3D route vets its base64 picture as it lands: a 422 with the code.
    let bomb = hostile::png_bomb(30_000, 30_000);
    let body = json!({ "image_base64": base64::engine::general_purpose::STANDARD.encode(&bomb) });
    let response = app.post("/api/v1/generate/image-to-3d", &body).await;
    let error = assert_error(response, 422, "image_too_large").await;
    assert_eq!(error["details"]["field"], "image_base64", "{error}");
    let cut = hostile::truncated(&hostile::small(image::ImageFormat::Png));
    let body = json!({ "image_base64": base64::engine::general_purpose::STANDARD.encode(&cut) });
    assert_error(app.post("/api/v1/generate/image-to-3d", &body).await, 422, "image_undecodable").await;
    assert_eq!(stored_files(&app), Vec::<std::path::PathBuf>::new());
    // A sound data URI still makes a task that runs (and stores its output).
    let sound = hostile::small(image::ImageFormat::Png);
    let sound = format!("data:image/png;base64,{}", base64::engine::general_purpose::STANDARD.encode(&sound));
    let task = app.run("bombs/echo", json!({ "image": sound })).await;
    assert_eq!(task["status"], "completed", "{task}");
}

#[tokio::test]
async fn a_provider_answering_a_bomb_fails_its_task_and_nothing_is_stored() {
    let app = app().await;
    for name in ["png-bomb-30000", "gif-bomb-65535", "webp-10000-frames", "png-html-polyglot", "mp4-100000"] {
        let file = hostile::corpus().into_iter().find(|file| file.name == name).unwrap();
        let task = app.run("bombs/answer", json!({ "file": name })).await;
        assert_eq!(task["status"], "failed", "{name}: {task}");
        assert_eq!(task["error"]["code"], "malformed_response", "{name}: {task}");
        let message = task["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(&file.code.replace('_', " ")) || message.contains("refused"), "{name}: {message}");
        assert!(task["outputs"].as_array().is_none_or(Vec::is_empty), "{task}");
    }
    assert_eq!(stored_files(&app), Vec::<std::path::PathBuf>::new());
}
