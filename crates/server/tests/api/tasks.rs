//! The native task API.

use serde_json::{Value, json};

use crate::helpers::{Options, TestApp, assert_error};

#[tokio::test]
async fn create_answers_202_with_location_and_the_task() {
    let app = TestApp::spawn().await;
    let response =
        app.post("/api/v1/tasks", &json!({ "model": "local/placeholder", "input": { "prompt": "a red fox" } })).await;
    assert_eq!(response.status(), 202);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let task: Value = response.json().await.unwrap();
    assert_eq!(location, format!("/api/v1/tasks/{}", task["task_id"].as_str().unwrap()));
    assert_eq!(task["service"], "local");
    assert_eq!(task["model"], "placeholder");
    // The stored input is complete: defaults filled in, so a retry repeats it exactly.
    assert_eq!(task["input"]["width"], 1024);
    assert!(task["input"]["seed"].is_u64());
    let done = app.wait_for_end(task["task_id"].as_str().unwrap()).await;
    assert_eq!(done["status"], "completed");
    assert_eq!(done["attempts"], 1);
}

#[tokio::test]
async fn service_and_model_may_be_named_apart_in_any_case() {
    let app = TestApp::spawn().await;
    let body =
        json!({ "service": "local", "model": "PLACEHOLDER", "input": { "prompt": "x", "width": 64, "height": 64 } });
    let task: Value = app.post("/api/v1/tasks", &body).await.json().await.unwrap();
    assert_eq!((task["service"].as_str(), task["model"].as_str()), (Some("local"), Some("placeholder")));
    let qr = json!({ "model": "qr", "input": { "text": "https://example.com" } });
    let task: Value = app.post("/api/v1/tasks", &qr).await.json().await.unwrap();
    assert_eq!(task["model"], "qr");
}

#[tokio::test]
async fn prefer_wait_answers_when_the_task_is_done() {
    let app = TestApp::spawn().await;
    let response = app
        .http
        .post(app.url("/api/v1/tasks"))
        .header("prefer", "wait=20")
        .json(&json!({ "input": { "prompt": "quick", "width": 64, "height": 64 } }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["preference-applied"], "wait=20");
    let task: Value = response.json().await.unwrap();
    assert_eq!(task["status"], "completed");
    assert_eq!(task["images"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn idempotency_key_returns_the_first_task() {
    let app = TestApp::spawn().await;
    let send =
        |body: Value| app.http.post(app.url("/api/v1/tasks")).header("idempotency-key", "order-17").json(&body).send();
    let body = json!({ "input": { "prompt": "once", "width": 64, "height": 64 } });
    let first = send(body.clone()).await.unwrap();
    assert_eq!(first.status(), 202);
    let first: Value = first.json().await.unwrap();
    let second = send(body).await.unwrap();
    assert_eq!(second.status(), 200);
    assert_eq!(second.headers()["idempotent-replayed"], "true");
    let second: Value = second.json().await.unwrap();
    assert_eq!(first["task_id"], second["task_id"]);
    let other = send(json!({ "input": { "prompt": "twice" } })).await.unwrap();
    assert_error(other, 409, "idempotency_key_reused").await;
    let list: Value = app.get("/api/v1/tasks").await.json().await.unwrap();
    assert_eq!(list["tasks"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn cancel_retry_and_delete() {
    let app = TestApp::with(Options { workers: false, ..Options::default() }).await.unwrap();
    let id = app.create_placeholder("to cancel", json!({})).await;
    let cancelled: Value = app.post(&format!("/api/v1/tasks/{id}/cancel"), &Value::Null).await.json().await.unwrap();
    assert_eq!(cancelled["status"], "cancelled");
    assert_error(app.post(&format!("/api/v1/tasks/{id}/cancel"), &Value::Null).await, 409, "task_finished").await;

    let retried = app.post(&format!("/api/v1/tasks/{id}/retry"), &Value::Null).await;
    assert_eq!(retried.status(), 202);
    let retried: Value = retried.json().await.unwrap();
    assert_eq!(retried["retry_of"], id.as_str());
    assert_eq!(retried["input"]["prompt"], "to cancel");
    assert_eq!(retried["status"], "pending");
    let retried_id = retried["task_id"].as_str().unwrap();
    assert_error(app.post(&format!("/api/v1/tasks/{retried_id}/retry"), &Value::Null).await, 409, "task_not_finished")
        .await;

    assert_eq!(app.delete(&format!("/api/v1/tasks/{id}")).await.status(), 204);
    assert_error(app.get(&format!("/api/v1/tasks/{id}")).await, 404, "not_found").await;
    assert_error(app.post(&format!("/api/v1/tasks/{id}/cancel"), &Value::Null).await, 404, "not_found").await;
}

#[tokio::test]
async fn list_filters_and_pages() {
    let app = TestApp::with(Options { workers: false, ..Options::default() }).await.unwrap();
    let mut ids = Vec::new();
    for n in 0..5 {
        ids.push(app.create_placeholder(&format!("task {n}"), json!({})).await);
    }
    let qr = app.create("local/qr", json!({ "text": "hi" })).await;
    app.post(&format!("/api/v1/tasks/{}/cancel", ids[0]), &Value::Null).await;

    let page: Value = app.get("/api/v1/tasks?limit=2").await.json().await.unwrap();
    assert_eq!(page["tasks"].as_array().unwrap().len(), 2);
    assert_eq!(page["tasks"][0]["task_id"], qr.as_str());
    let cursor = page["next_cursor"].as_str().unwrap();
    let next: Value = app.get(&format!("/api/v1/tasks?limit=2&cursor={cursor}")).await.json().await.unwrap();
    assert_eq!(next["tasks"][0]["task_id"], ids[3].as_str());

    let qr_only: Value = app.get("/api/v1/tasks?model=local/qr").await.json().await.unwrap();
    assert_eq!(qr_only["tasks"].as_array().unwrap().len(), 1);
    let cancelled: Value = app.get("/api/v1/tasks?status=cancelled").await.json().await.unwrap();
    assert_eq!(cancelled["tasks"][0]["task_id"], ids[0].as_str());
    let pending: Value = app.get("/api/v1/tasks?status=pending,processing&limit=500").await.json().await.unwrap();
    assert_eq!(pending["tasks"].as_array().unwrap().len(), 5);
    let future: Value = app.get("/api/v1/tasks?created_after=2999-01-01T00:00:00Z").await.json().await.unwrap();
    assert!(future["tasks"].as_array().unwrap().is_empty());

    assert_error(app.get("/api/v1/tasks?status=done").await, 422, "validation_error").await;
    assert_error(app.get("/api/v1/tasks?limit=0").await, 422, "validation_error").await;
    assert_error(app.get("/api/v1/tasks?created_after=yesterday").await, 422, "validation_error").await;
    assert_error(app.get("/api/v1/tasks?colour=red").await, 422, "validation_error").await;
}

#[tokio::test]
async fn the_same_input_gives_the_same_bytes() {
    let app = TestApp::spawn().await;
    let mut hashes = Vec::new();
    for _ in 0..2 {
        let id = app.create_placeholder("determinism", json!({ "seed": 7 })).await;
        let task = app.wait_for_end(&id).await;
        hashes.push(task["images"][0]["sha256"].as_str().unwrap().to_owned());
    }
    assert_eq!(hashes[0], hashes[1]);
    let id = app.create_placeholder("determinism", json!({ "seed": 8 })).await;
    let task = app.wait_for_end(&id).await;
    assert_ne!(task["images"][0]["sha256"].as_str().unwrap(), hashes[0]);
}

#[tokio::test]
async fn the_api_works_on_postgres_too() {
    let Some(app) = TestApp::with(Options { postgres: true, ..Options::default() }).await else { return };
    let id = app.create_placeholder("on postgres", json!({ "num_images": 2 })).await;
    let task = app.wait_for_end(&id).await;
    assert_eq!(task["status"], "completed");
    assert_eq!(task["images"].as_array().unwrap().len(), 2);
    let info: Value = app.get("/api/v1/system/info").await.json().await.unwrap();
    assert_eq!(info["database"], "postgres");
}
