//! Seed 002's 3D job API over the built-in engine (no GPU worker: the jobs run on
//! the fallback `local/relief` and say so), with the seed's exact fields, its
//! image inputs (URL through the address checks, base64, upload id), text to 3D as
//! a two-step chain, bad input in the one error shape, 503 with no engine, results
//! by signed URL, and deletion.

use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};

use crate::helpers::{Options, TestApp, assert_error, keys};

pub fn png(width: u32, height: u32) -> Vec<u8> {
    let picture =
        image::RgbaImage::from_fn(width, height, |x, y| image::Rgba([(x * 3) as u8, (y * 5) as u8, 140, 255]));
    let mut png = Vec::new();
    picture.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png).expect("png");
    png
}

pub fn base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Polls a job's status until it ends.
pub async fn wait_for_job(app: &TestApp, client: &reqwest::Client, job: &str) -> Value {
    for _ in 0..300 {
        let status: Value =
            client.get(app.url(&format!("/api/v1/jobs/{job}/status"))).send().await.unwrap().json().await.unwrap();
        if matches!(status["status"].as_str(), Some("completed" | "failed")) {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("job {job} did not end");
}

#[tokio::test]
async fn an_image_by_base64_becomes_glb_and_obj_on_the_fallback_engine_which_the_job_names() {
    let app = TestApp::spawn().await;
    let response = app
        .post("/api/v1/generate/image-to-3d", &json!({ "image_base64": base64(&png(80, 60)), "quality": "fast" }))
        .await;
    assert_eq!(response.status(), 202);
    let job: Value = response.json().await.unwrap();
    for field in ["job_id", "status", "estimated_completion_time"] {
        assert!(job.get(field).is_some(), "JobResponse has {field}: {job}");
    }
    assert_eq!(job["status"], "pending");
    assert_eq!(job["engine"], "local/relief", "no GPU worker: the fallback runs it");
    assert!(job["degraded"].as_str().is_some_and(|why| why.contains("trellis/trellis-image-large")), "{job}");
    let id = job["job_id"].as_str().unwrap().to_owned();

    let status = wait_for_job(&app, &app.http, &id).await;
    for field in ["job_id", "status", "progress", "result_urls", "error_message"] {
        assert!(keys(&status).contains(&field.to_owned()), "JobStatusResponse has {field}: {status}");
    }
    assert_eq!((status["status"].as_str(), status["progress"].as_f64()), (Some("completed"), Some(100.0)), "{status}");
    let urls = status["result_urls"].as_array().expect("result_urls").clone();
    assert_eq!(urls.len(), 2, "glb and obj, the seed's default: {status}");

    // The signed URLs work without a key.
    let anonymous = reqwest::Client::new();
    let glb = anonymous.get(app.url(urls[0].as_str().unwrap())).send().await.unwrap();
    assert_eq!(glb.status(), 200);
    let glb = glb.bytes().await.unwrap();
    assert_eq!(&glb[..4], b"glTF");
    if let Some(report) = atelier_mesh::testing::khronos_report(&glb) {
        assert_eq!((report["errors"].as_u64(), report["warnings"].as_u64()), (Some(0), Some(0)), "{report}");
    }
    let zip = anonymous.get(app.url(urls[1].as_str().unwrap())).send().await.unwrap().bytes().await.unwrap();
    let archive = zip::ZipArchive::new(std::io::Cursor::new(zip.to_vec())).expect("the OBJ is a zip");
    let mut names: Vec<String> = archive.file_names().map(|name| name.expect("name").into_owned()).collect();
    names.sort_unstable();
    assert_eq!(names, ["model.mtl", "model.obj", "texture.png"]);

    let result: Value = app.get(&format!("/api/v1/jobs/{id}/result")).await.json().await.unwrap();
    assert_eq!(result["result_urls"]["glb"], urls[0], "{result}");
    assert_eq!(result["files"][1]["format"], "obj", "{result}");
    let redirect = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .default_headers(
            [(reqwest::header::AUTHORIZATION, format!("Bearer {}", app.admin_key).parse().unwrap())]
                .into_iter()
                .collect(),
        )
        .build()
        .unwrap()
        .get(app.url(&format!("/api/v1/jobs/{id}/result?format=obj")))
        .send()
        .await
        .unwrap();
    assert_eq!(redirect.status(), 302);

    // The job record has the seed's fields; the job is a task like any other.
    let record: Value = app.get(&format!("/api/v1/jobs/{id}")).await.json().await.unwrap();
    for field in [
        "job_id",
        "user_id",
        "job_type",
        "status",
        "input_data",
        "output_urls",
        "error_message",
        "created_at",
        "updated_at",
        "expires_at",
    ] {
        assert!(record.get(field).is_some(), "Job has {field}: {record}");
    }
    assert_eq!(record["job_type"], "image-to-3d");
    assert_eq!(record["input_data"]["output_formats"], json!(["glb", "obj"]));
    let task: Value = app.get(&format!("/api/v1/tasks/{id}")).await.json().await.unwrap();
    assert_eq!((task["service"].as_str(), task["model"].as_str()), (Some("local"), Some("relief")), "{task}");
}

#[tokio::test]
async fn an_image_by_upload_id_and_by_url_through_the_address_checks() {
    let app = TestApp::spawn().await;
    let upload = app.upload("chair.png", "image/png", png(40, 40)).await;
    let response = app
        .post(
            "/api/v1/generate/image-to-3d",
            &json!({ "image_url": upload, "output_formats": ["stl"], "quality": "fast" }),
        )
        .await;
    assert_eq!(response.status(), 202);
    let job: Value = response.json().await.unwrap();
    let status = wait_for_job(&app, &app.http, job["job_id"].as_str().unwrap()).await;
    assert_eq!(status["status"], "completed", "{status}");
    let stl = reqwest::get(app.url(status["result_urls"][0].as_str().unwrap())).await.unwrap().bytes().await.unwrap();
    assert!(stl.len() > 84 && !stl.starts_with(b"solid"), "binary STL");

    // A URL on this machine is refused by the address checks when the job runs.
    let response = app
        .post("/api/v1/generate/image-to-3d", &json!({ "image_url": app.url("/api/v1/health"), "quality": "fast" }))
        .await;
    assert_eq!(response.status(), 202);
    let job: Value = response.json().await.unwrap();
    let status = wait_for_job(&app, &app.http, job["job_id"].as_str().unwrap()).await;
    assert_eq!((status["status"].as_str(), status["error_code"].as_str()), (Some("failed"), Some("provider_rejected")));
    let result = app.get(&format!("/api/v1/jobs/{}/result", job["job_id"].as_str().unwrap())).await;
    assert_error(result, 422, "job_failed").await;
}

#[tokio::test]
async fn bad_input_is_refused_in_the_one_error_shape() {
    let app = TestApp::spawn().await;
    let picture = base64(&png(8, 8));
    let tall = base64(&png(12_001, 1));
    for (body, field) in [
        (json!({}), "image_url"),
        (json!({ "image_url": "https://example.com/a.png", "image_base64": picture }), "image_url"),
        (json!({ "image_base64": "not base64 at all!" }), "image_base64"),
        (json!({ "image_base64": base64(b"hello, not a picture") }), "image_base64"),
        (json!({ "image_base64": tall }), "image_base64"),
        (json!({ "image_base64": picture, "output_formats": ["usdz"] }), "output_formats"),
        (json!({ "image_base64": picture, "quality": "ultra" }), "quality"),
        (json!({ "image_url": "ftp://example.com/a.png" }), "image"),
    ] {
        let response = app.post("/api/v1/generate/image-to-3d", &body).await;
        let error = assert_error(response, 422, "validation_error").await;
        assert_eq!(error["details"]["field"], field, "{body}: {error}");
    }
    let response = app.post("/api/v1/generate/text-to-3d", &json!({ "prompt": "   " })).await;
    assert_error(response, 422, "validation_error").await;
    let response = app.post("/api/v1/generate/image-to-3d", &json!({ "image_url": "x", "colour": "red" })).await;
    assert_eq!(response.status(), 422, "an unknown field is refused");
    assert_error(app.get("/api/v1/jobs/not-a-job/status").await, 404, "not_found").await;
    // A task that is not 3D is not a job.
    let picture = app.create_placeholder("a fox", json!({})).await;
    assert_error(app.get(&format!("/api/v1/jobs/{picture}/status")).await, 404, "not_found").await;
}

#[tokio::test]
async fn with_no_worker_and_no_fallback_the_answer_is_503_with_retry_after() {
    let app = TestApp::with(Options {
        configure: Some(Box::new(|config, _| config.three_d.fallback = String::new())),
        ..Options::default()
    })
    .await
    .unwrap();
    let response =
        app.post("/api/v1/generate/image-to-3d", &json!({ "image_url": "https://example.com/chair.png" })).await;
    assert!(response.headers().get("retry-after").is_some(), "Retry-After on 503");
    let error = assert_error(response, 503, "engine_unavailable").await;
    assert_eq!(error["details"]["reason"], "no_worker", "{error}");
    assert_eq!(error["details"]["model"], "trellis/trellis-image-large");
    let tasks: Value = app.get("/api/v1/tasks").await.json().await.unwrap();
    assert_eq!(tasks["tasks"].as_array().map(Vec::len), Some(0), "nothing was queued");
}

#[tokio::test]
async fn text_becomes_a_picture_then_a_model_and_the_job_shows_both_steps() {
    let app = TestApp::spawn().await;
    let response = app
        .post(
            "/api/v1/generate/text-to-3d",
            &json!({ "prompt": "a small red chair", "output_formats": ["glb"], "quality": "fast" }),
        )
        .await;
    assert_eq!(response.status(), 202);
    let job: Value = response.json().await.unwrap();
    let steps = job["steps"].as_array().expect("steps");
    assert_eq!(steps.len(), 2, "{job}");
    assert_eq!(steps[0]["model"], "local/placeholder");
    assert_eq!(steps[1]["model"], "local/relief");
    let id = job["job_id"].as_str().unwrap();
    let status = wait_for_job(&app, &app.http, id).await;
    assert_eq!(status["status"], "completed", "{status}");
    assert_eq!(status["steps"][0]["status"], "completed");
    let record: Value = app.get(&format!("/api/v1/jobs/{id}")).await.json().await.unwrap();
    assert_eq!(record["job_type"], "text-to-3d");
    assert_eq!(record["input_data"]["prompt"], "a small red chair");
    // The 3D task took the picture task's output as its input.
    let task: Value = app.get(&format!("/api/v1/tasks/{id}")).await.json().await.unwrap();
    assert_eq!(task["input"]["image"], format!("task:{}", steps[0]["task_id"].as_str().unwrap()), "{task}");
}

#[tokio::test]
async fn a_job_is_its_owners_and_deleting_it_removes_its_steps() {
    let app = TestApp::spawn().await;
    let response = app.post("/api/v1/generate/text-to-3d", &json!({ "prompt": "a lamp", "quality": "fast" })).await;
    let job: Value = response.json().await.unwrap();
    let id = job["job_id"].as_str().unwrap().to_owned();
    let (other, _) = app.user("other@example.com", atelier_core::account::Role::Member).await;
    let response = other.get(app.url(&format!("/api/v1/jobs/{id}/status"))).send().await.unwrap();
    assert_error(response, 404, "not_found").await;
    let response = other.delete(app.url(&format!("/api/v1/jobs/{id}"))).send().await.unwrap();
    assert_error(response, 404, "not_found").await;

    let response = app.delete(&format!("/api/v1/jobs/{id}")).await;
    assert_eq!(response.status(), 204);
    assert_error(app.get(&format!("/api/v1/jobs/{id}/status")).await, 404, "not_found").await;
    let picture = job["steps"][0]["task_id"].as_str().unwrap();
    assert_error(app.get(&format!("/api/v1/tasks/{picture}")).await, 404, "not_found").await;
}

#[tokio::test]
async fn a_chain_whose_3d_step_is_refused_leaves_no_picture_running() {
    let app = TestApp::with(Options { workers: false, ..Options::default() }).await.unwrap();
    // local/relief writes no usdz: the 3D step is refused after its picture was made.
    let response =
        app.post("/api/v1/generate/text-to-3d", &json!({ "prompt": "a lamp", "output_formats": ["usdz"] })).await;
    let error = assert_error(response, 422, "validation_error").await;
    assert_eq!(error["details"]["field"], "output_formats", "{error}");
    let tasks: Value = app.get("/api/v1/tasks").await.json().await.unwrap();
    let statuses: Vec<&str> =
        tasks["tasks"].as_array().unwrap().iter().filter_map(|task| task["status"].as_str()).collect();
    assert_eq!(statuses, ["cancelled"], "the picture step was cancelled: {tasks}");
}
