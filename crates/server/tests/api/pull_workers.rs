//! The pull protocol: remote workers (TRELLIS on a GPU machine) claim tasks with a
//! worker key under a lease, fetch their inputs, report progress, and complete or
//! fail them; the lease rules hold as for the server's own workers (lost on
//! cancel, expired and reclaimed when a worker dies, never held by two).

use std::time::Duration;

use atelier_emulators::trellis_worker::{Exit, Outcome, TrellisWorkerConfig, TrellisWorkerEmulator};
use serde_json::{Value, json};

use crate::helpers::{Options, TestApp, assert_error};
use crate::three_d::{base64, png, wait_for_job};

const MODEL: &str = "trellis/trellis-image-large";

/// A remote worker as a test drives it.
struct RemoteWorker {
    http: reqwest::Client,
    base: String,
}

impl RemoteWorker {
    async fn new(app: &TestApp, models: &[&str]) -> Self {
        Self::with_key(app, &worker_key(app, models).await)
    }

    fn with_key(app: &TestApp, key: &str) -> Self {
        Self { http: crate::helpers::client_with_key(Some(key)), base: app.base.clone() }
    }

    async fn claim(&self, wait_secs: u64) -> Vec<Value> {
        let response = self
            .http
            .post(format!("{}/api/v1/worker/claim", self.base))
            .json(&json!({ "wait_secs": wait_secs }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        body["tasks"].as_array().cloned().unwrap_or_default()
    }

    fn post(&self, task: &Value, action: &str) -> reqwest::RequestBuilder {
        let url = format!("{}/api/v1/worker/tasks/{}/{action}", self.base, task["task_id"].as_str().unwrap());
        self.http.post(url).header("x-atelier-lease", task["lease"].as_str().unwrap())
    }

    async fn heartbeat(&self, task: &Value, progress: u8) -> reqwest::Response {
        self.post(task, "heartbeat").json(&json!({ "progress": progress })).send().await.unwrap()
    }

    async fn complete(&self, task: &Value, files: Vec<(&'static str, &'static str, Vec<u8>)>) -> reqwest::Response {
        let mut form = reqwest::multipart::Form::new();
        for (part, name, bytes) in files {
            form = form.part(part, reqwest::multipart::Part::bytes(bytes).file_name(name));
        }
        self.post(task, "complete").multipart(form).send().await.unwrap()
    }

    async fn fail(&self, task: &Value, error: &str) -> reqwest::Response {
        self.post(task, "fail").json(&json!({ "error": error, "message": "CUDA out of memory" })).send().await.unwrap()
    }
}

/// A new worker key for `models` (an admin makes it; its secret is shown once).
async fn worker_key(app: &TestApp, models: &[&str]) -> String {
    let response = app.post("/api/v1/admin/worker-keys", &json!({ "name": "gpu-1", "models": models })).await;
    assert_eq!(response.status(), 201);
    let key: Value = response.json().await.unwrap();
    key["key"].as_str().expect("the key, once").to_owned()
}

/// A real GLB and OBJ zip, as the TRELLIS worker would send.
fn meshes() -> (Vec<u8>, Vec<u8>) {
    let picture =
        image::DynamicImage::ImageRgba8(image::RgbaImage::from_pixel(16, 16, image::Rgba([200, 90, 40, 255])));
    let mesh = atelier_mesh::relief(&picture, atelier_mesh::Quality::Fast).unwrap();
    let glb = atelier_mesh::glb::to_glb(&mesh, None, "test worker").unwrap();
    let zip = atelier_mesh::obj::to_obj_zip(&mesh, None, "test worker").unwrap();
    (glb, zip)
}

fn no_fallback(lease_secs: u64) -> Options {
    Options {
        configure: Some(Box::new(move |config, _| {
            config.three_d.fallback = String::new();
            config.worker.lease_secs = lease_secs;
        })),
        ..Options::default()
    }
}

#[tokio::test]
async fn a_worker_that_waits_gets_the_job_at_once_and_its_files_complete_it() {
    let app = TestApp::with(no_fallback(30)).await.unwrap();
    let worker = RemoteWorker::new(&app, &[MODEL]).await;
    // No worker has asked yet: seed 002's 503.
    let response = app.post("/api/v1/generate/image-to-3d", &json!({ "image_url": "https://example.com/a.png" })).await;
    assert_error(response, 503, "engine_unavailable").await;

    // A claim that waits counts as a worker seen; the job then reaches it at once.
    let waiting = tokio::spawn({
        let worker = RemoteWorker { http: worker.http.clone(), base: worker.base.clone() };
        async move { worker.claim(20).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let upload = app.upload("chair.png", "image/png", png(30, 30)).await;
    let response = app.post("/api/v1/generate/image-to-3d", &json!({ "image_url": upload })).await;
    assert_eq!(response.status(), 202);
    let job: Value = response.json().await.unwrap();
    assert_eq!(job["engine"], MODEL, "{job}");
    assert!(job.get("degraded").is_none());
    // The claim that was already waiting is the one that gets it.
    let claimed = waiting.await.unwrap();
    assert_eq!(claimed.len(), 1);
    let task = &claimed[0];
    assert_eq!(task["task_id"], job["job_id"]);
    assert_eq!(task["input"]["output_formats"], json!(["glb", "obj"]));
    assert_eq!(task["input_files"][0]["reference"], upload.as_str());

    // Its input, through the lease.
    let url = format!("{}{}", app.base, task["input_files"][0]["url"].as_str().unwrap());
    let input = worker.http.get(&url).header("x-atelier-lease", task["lease"].as_str().unwrap()).send().await.unwrap();
    assert_eq!(input.status(), 200);
    assert_eq!(input.bytes().await.unwrap().to_vec(), png(30, 30));
    let forged = worker.http.get(&url).header("x-atelier-lease", "not-the-lease").send().await.unwrap();
    assert_error(forged, 409, "lease_lost").await;

    assert_eq!(worker.heartbeat(task, 40).await.status(), 200);
    let status: Value =
        app.get(&format!("/api/v1/jobs/{}/status", job["job_id"].as_str().unwrap())).await.json().await.unwrap();
    assert_eq!((status["status"].as_str(), status["progress"].as_f64()), (Some("processing"), Some(40.0)), "{status}");

    let (glb, zip) = meshes();
    let response = worker.complete(task, vec![("file", "model.glb", glb.clone()), ("file", "model.zip", zip)]).await;
    assert_eq!(response.status(), 200);
    let status = wait_for_job(&app, &app.http, job["job_id"].as_str().unwrap()).await;
    assert_eq!(status["status"], "completed");
    let result: Value =
        app.get(&format!("/api/v1/jobs/{}/result", job["job_id"].as_str().unwrap())).await.json().await.unwrap();
    let glb_url = result["result_urls"]["glb"].as_str().expect("glb");
    assert_eq!(reqwest::get(app.url(glb_url)).await.unwrap().bytes().await.unwrap().to_vec(), glb);
    assert!(result["result_urls"]["obj"].is_string(), "{result}");
    // Completing again: the lease is gone.
    assert_error(worker.complete(task, vec![("file", "model.glb", vec![1])]).await, 409, "lease_lost").await;
}

#[tokio::test]
async fn keys_are_checked_and_each_key_serves_only_its_models() {
    let app = TestApp::spawn().await;
    let response =
        app.post("/api/v1/admin/worker-keys", &json!({ "name": "x", "models": ["local/placeholder"] })).await;
    let error = assert_error(response, 422, "validation_error").await;
    assert!(error["message"].as_str().unwrap().contains("[pull] models"), "{error}");
    let (member, _) = app.user("member@example.com", atelier_core::account::Role::Member).await;
    let response = member
        .post(app.url("/api/v1/admin/worker-keys"))
        .json(&json!({ "name": "x", "models": [MODEL] }))
        .send()
        .await
        .unwrap();
    assert_error(response, 403, "forbidden").await;

    let worker = RemoteWorker::new(&app, &[MODEL]).await;
    // A user's key is no worker key, and a worker key no user's key.
    let user_as_worker = RemoteWorker::with_key(&app, &app.admin_key);
    let response = user_as_worker
        .http
        .post(app.url("/api/v1/worker/claim"))
        .json(&json!({ "wait_secs": 0 }))
        .send()
        .await
        .unwrap();
    assert_error(response, 401, "unauthorized").await;
    let forged = RemoteWorker::with_key(&app, "atw_0123456789ab_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    let response = forged.http.post(app.url("/api/v1/worker/claim")).json(&json!({})).send().await.unwrap();
    assert_error(response, 401, "unauthorized").await;
    let response = worker.http.get(app.url("/api/v1/tasks")).send().await.unwrap();
    assert_eq!(response.status(), 401);
    let response = worker
        .http
        .post(app.url("/api/v1/worker/claim"))
        .json(&json!({ "models": ["trellis/trellis-text-xlarge"], "wait_secs": 0 }))
        .send()
        .await
        .unwrap();
    assert_error(response, 403, "forbidden").await;

    // Revoked: refused from the next call.
    assert!(worker.claim(0).await.is_empty());
    let keys: Value = app.get("/api/v1/admin/worker-keys").await.json().await.unwrap();
    assert!(keys[0]["last_seen_at"].is_string(), "{keys}");
    assert!(keys[0].get("key").is_none(), "the secret is never listed");
    let id = keys[0]["id"].as_str().unwrap();
    assert_eq!(app.delete(&format!("/api/v1/admin/worker-keys/{id}")).await.status(), 204);
    let response =
        worker.http.post(app.url("/api/v1/worker/claim")).json(&json!({ "wait_secs": 0 })).send().await.unwrap();
    assert_error(response, 401, "unauthorized").await;
}

#[tokio::test]
async fn two_workers_racing_for_one_task_never_both_get_it() {
    let app = TestApp::spawn().await;
    let first = RemoteWorker::new(&app, &[MODEL]).await;
    let second = RemoteWorker::new(&app, &[MODEL]).await;
    let id = app.create(MODEL, json!({ "image": "https://example.com/a.png" })).await;
    let (a, b) = tokio::join!(first.claim(1), second.claim(1));
    let claimed: Vec<&Value> = a.iter().chain(&b).collect();
    assert_eq!(claimed.len(), 1, "one task, one holder: {claimed:?}");
    assert_eq!(claimed[0]["task_id"], id.as_str());
    // The server's own workers never touched it.
    let task: Value = app.get(&format!("/api/v1/tasks/{id}")).await.json().await.unwrap();
    assert_eq!((task["status"].as_str(), task["attempts"].as_u64()), (Some("processing"), Some(1)), "{task}");
}

#[tokio::test]
async fn a_cancelled_task_loses_its_lease_and_a_dead_workers_task_goes_to_another() {
    let app = TestApp::with(no_fallback(2)).await.unwrap();
    let worker = RemoteWorker::new(&app, &[MODEL]).await;
    let cancelled = app.create(MODEL, json!({ "image": "https://example.com/a.png" })).await;
    let held = worker.claim(1).await;
    assert_eq!(app.post(&format!("/api/v1/tasks/{cancelled}/cancel"), &json!({})).await.status(), 200);
    assert_error(worker.heartbeat(&held[0], 10).await, 409, "lease_lost").await;

    // A worker that dies mid-job: its lease expires, the sweep puts the task back,
    // and another worker takes it as its second attempt.
    let orphan = app.create(MODEL, json!({ "image": "https://example.com/b.png" })).await;
    let first = worker.claim(1).await;
    assert_eq!(first[0]["task_id"], orphan.as_str());
    let second = RemoteWorker::new(&app, &[MODEL]).await;
    let again = second.claim(15).await;
    assert_eq!(again.len(), 1, "reclaimed after the lease expired");
    assert_eq!((again[0]["task_id"].as_str(), again[0]["attempt"].as_u64()), (Some(orphan.as_str()), Some(2)));
    // The dead worker's lease no longer counts.
    assert_error(worker.complete(&first[0], vec![("file", "m.glb", vec![1, 2, 3])]).await, 409, "lease_lost").await;
}

#[tokio::test]
async fn failures_are_classed_and_outputs_too_large_are_refused() {
    let app = TestApp::with(Options {
        configure: Some(Box::new(|config, _| config.pull.max_output_bytes = 4096)),
        ..Options::default()
    })
    .await
    .unwrap();
    let worker = RemoteWorker::new(&app, &[MODEL]).await;
    let id = app.create(MODEL, json!({ "image": "https://example.com/a.png" })).await;
    let task = worker.claim(1).await.remove(0);
    let response = worker.complete(&task, vec![("file", "big.glb", vec![7; 10_000])]).await;
    assert_error(response, 413, "payload_too_large").await;
    let response = worker.complete(&task, vec![("thumbnail", "t.png", vec![1])]).await;
    assert_error(response, 422, "validation_error").await;
    let response = worker.post(&task, "fail").json(&json!({ "error": "oops", "message": "x" })).send().await.unwrap();
    assert_error(response, 422, "validation_error").await;

    // The engine failed: not retried (its class allows one attempt), and the
    // seed's result route answers 502.
    assert_eq!(worker.fail(&task, "generation_failed").await.status(), 200);
    let failed: Value = app.get(&format!("/api/v1/tasks/{id}")).await.json().await.unwrap();
    assert_eq!(
        (failed["status"].as_str(), failed["error"]["code"].as_str()),
        (Some("failed"), Some("generation_failed"))
    );
    assert_error(app.get(&format!("/api/v1/jobs/{id}/result")).await, 502, "engine_failed").await;

    // A server error is retried with backoff: the task comes back for a worker.
    let retried = app.create(MODEL, json!({ "image": "https://example.com/b.png" })).await;
    let task = worker.claim(1).await.remove(0);
    assert_eq!(worker.fail(&task, "provider_error").await.status(), 200);
    let again = worker.claim(10).await;
    assert_eq!((again[0]["task_id"].as_str(), again[0]["attempt"].as_u64()), (Some(retried.as_str()), Some(2)));
    // A worker going away gives its task back at once, no attempt counted.
    let response = worker.post(&again[0], "release").send().await.unwrap();
    assert_eq!(response.status(), 200);
    let back = worker.claim(5).await;
    assert_eq!(back[0]["attempt"].as_u64(), Some(2));
}

#[tokio::test]
async fn failed_tasks_wait_in_the_dead_letter_list_until_an_admin_redrives_them() {
    let app = TestApp::spawn().await;
    let worker = RemoteWorker::new(&app, &[MODEL]).await;
    let id = app.create(MODEL, json!({ "image": "https://example.com/a.png" })).await;
    let task = worker.claim(1).await.remove(0);
    assert_eq!(worker.fail(&task, "generation_failed").await.status(), 200);

    let list: Value = app.get(&format!("/api/v1/admin/dead-letter?model={MODEL}")).await.json().await.unwrap();
    let entry = &list["tasks"][0];
    assert_eq!(
        (entry["task_id"].as_str(), entry["error_code"].as_str()),
        (Some(id.as_str()), Some("generation_failed"))
    );
    assert_eq!(entry["error_message"], "CUDA out of memory");
    let (member, _) = app.user("member@example.com", atelier_core::account::Role::Member).await;
    let response = member.get(app.url("/api/v1/admin/dead-letter")).send().await.unwrap();
    assert_error(response, 403, "forbidden").await;

    let response = app.post(entry["redrive_url"].as_str().unwrap(), &json!({})).await;
    assert_eq!(response.status(), 202);
    let redriven: Value = response.json().await.unwrap();
    assert_eq!(redriven["retry_of"], id.as_str(), "{redriven}");
    let again = worker.claim(5).await;
    assert_eq!(again[0]["task_id"], redriven["task_id"]);
    // Only failed tasks are re-driven.
    let response = app
        .post(&format!("/api/v1/admin/dead-letter/{}/redrive", again[0]["task_id"].as_str().unwrap()), &json!({}))
        .await;
    assert_error(response, 409, "not_dead_lettered").await;
}

/// `atelier emulate trellis-worker`'s engine, on a fresh key for `models`.
async fn emulated(app: &TestApp, models: &[&str], faults: &[&str]) -> TrellisWorkerEmulator {
    let mut config = TrellisWorkerConfig::new(app.base.clone(), worker_key(app, models).await);
    config.wait_secs = 2;
    config.faults = faults.iter().map(|fault| fault.parse().expect("fault")).collect();
    TrellisWorkerEmulator::new(config)
}

#[tokio::test]
async fn the_emulated_trellis_worker_answers_picture_and_text_jobs_with_meshes_the_validator_passes() {
    let app = TestApp::with(no_fallback(30)).await.unwrap();
    let mut worker = emulated(&app, &[MODEL], &[]).await;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let running = tokio::spawn(async move { worker.run(stopped).await });
    // The job goes to TRELLIS once the worker has asked for work.
    let mut job = Value::Null;
    for _ in 0..100 {
        let response = app
            .post("/api/v1/generate/image-to-3d", &json!({ "image_base64": base64(&png(40, 30)), "quality": "fast" }))
            .await;
        if response.status() == 202 {
            job = response.json().await.unwrap();
            break;
        }
        assert_error(response, 503, "engine_unavailable").await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(job["engine"], MODEL, "{job}");
    let id = job["job_id"].as_str().unwrap().to_owned();
    let status = wait_for_job(&app, &app.http, &id).await;
    assert_eq!((status["status"].as_str(), status["progress"].as_f64()), (Some("completed"), Some(100.0)), "{status}");
    let result: Value = app.get(&format!("/api/v1/jobs/{id}/result")).await.json().await.unwrap();
    let glb = reqwest::get(app.url(result["result_urls"]["glb"].as_str().expect("glb"))).await.unwrap();
    let glb = glb.bytes().await.unwrap().to_vec();
    let document: Value =
        serde_json::from_slice(&glb[20..20 + u32::from_le_bytes(glb[12..16].try_into().unwrap()) as usize]).unwrap();
    assert!(
        document["asset"]["generator"].as_str().unwrap().contains("standing in for TRELLIS"),
        "honest about itself"
    );
    if let Some(report) = atelier_mesh::testing::khronos_report(&glb) {
        assert_eq!((report["errors"].as_u64(), report["warnings"].as_u64()), (Some(0), Some(0)), "{report}");
    }
    let zip = reqwest::get(app.url(result["result_urls"]["obj"].as_str().expect("obj"))).await.unwrap();
    assert_eq!(&zip.bytes().await.unwrap()[..2], b"PK");

    // Text to 3D: a picture first (built in), then TRELLIS, both steps shown.
    let response = app.post("/api/v1/generate/text-to-3d", &json!({ "prompt": "a small wooden chair" })).await;
    assert_eq!(response.status(), 202);
    let job: Value = response.json().await.unwrap();
    let status = wait_for_job(&app, &app.http, job["job_id"].as_str().unwrap()).await;
    assert_eq!(status["status"], "completed", "{status}");
    assert_eq!(status["engine"], MODEL, "{status}");

    stop.send(true).unwrap();
    assert_eq!(running.await.unwrap().unwrap(), Exit::Stopped);
}

/// A test app whose pulled tasks have short leases and run limits.
async fn short_leases(max_run_secs: u64) -> TestApp {
    TestApp::with(Options {
        configure: Some(Box::new(move |config, _| {
            config.three_d.fallback = String::new();
            config.worker.lease_secs = 2;
            config.pull.max_run_secs = max_run_secs;
        })),
        ..Options::default()
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn an_emulated_worker_that_crashes_leaves_its_task_to_another() {
    // The run limit counts from the first claim, so it is long here: the second
    // worker starts only once the first one's lease has run out.
    let app = short_leases(1800).await;
    let upload = app.upload("chair.png", "image/png", png(24, 24)).await;
    let id = app.create(MODEL, json!({ "image": upload, "quality": "fast" })).await;
    let mut crashing = emulated(&app, &[MODEL], &["crash:first=1"]).await;
    let handled = crashing.run_once().await.unwrap();
    assert_eq!((handled[0].task_id.as_str(), &handled[0].outcome), (id.as_str(), &Outcome::Crashed));

    // The lease runs out, the sweep puts the task back, another worker finishes it.
    let mut healthy = emulated(&app, &[MODEL], &[]).await;
    let mut finished = Vec::new();
    for _ in 0..10 {
        finished = healthy.run_once().await.unwrap();
        if !finished.is_empty() {
            break;
        }
    }
    assert_eq!((finished[0].task_id.as_str(), &finished[0].outcome), (id.as_str(), &Outcome::Completed));
    let task: Value = app.get(&format!("/api/v1/tasks/{id}")).await.json().await.unwrap();
    assert_eq!((task["status"].as_str(), task["attempts"].as_u64()), (Some("completed"), Some(2)), "{task}");
}

#[tokio::test]
async fn an_emulated_worker_that_hangs_times_out_and_one_that_fails_is_an_engine_failure() {
    // One that never finishes: it renews its lease until pull.max_run_secs has
    // passed, then the server stops it and the job is a seed 002 timeout.
    let app = short_leases(1).await;
    let upload = app.upload("chair.png", "image/png", png(24, 24)).await;
    let id = app.create(MODEL, json!({ "image": upload, "quality": "fast" })).await;
    let mut hanging = emulated(&app, &[MODEL], &["hang"]).await;
    let handled = hanging.run_once().await.unwrap();
    assert_eq!(handled[0].outcome, Outcome::Stopped("run_timed_out".into()));
    let task: Value = app.get(&format!("/api/v1/tasks/{id}")).await.json().await.unwrap();
    assert_eq!(
        (task["status"].as_str(), task["error"]["code"].as_str()),
        (Some("failed"), Some("poll_timeout")),
        "{task}"
    );
    assert_error(app.get(&format!("/api/v1/jobs/{id}/result")).await, 504, "engine_timeout").await;

    // The engine failing is reported as such: 502 on the seed's route.
    let id = app.create(MODEL, json!({ "image": upload })).await;
    let handled = emulated(&app, &[MODEL], &["fail"]).await.run_once().await.unwrap();
    assert_eq!(handled[0].outcome, Outcome::Failed("generation_failed".into()));
    assert_error(app.get(&format!("/api/v1/jobs/{id}/result")).await, 502, "engine_failed").await;
}
