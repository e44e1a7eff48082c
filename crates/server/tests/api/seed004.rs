//! Seed 004's API, with the exact shapes its document shows.

use serde_json::{Value, json};

use crate::helpers::{Options, TestApp, assert_error, keys};

fn is_seed_timestamp(text: &str) -> bool {
    // 2024-01-01T12:00:00Z
    text.len() == 20 && text.ends_with('Z') && chrono::DateTime::parse_from_rfc3339(text).is_ok()
}

#[tokio::test]
async fn generate_answers_201_with_the_documented_shape() {
    let app = TestApp::spawn().await;
    let body = json!({
        "prompt": "一只可爱的猫咪", "negative_prompt": "模糊, 低质量", "model": "local/placeholder",
        "width": 256, "height": 256, "num_images": 1, "steps": 20, "scale": 7.5, "seed": null
    });
    let response = app.post("/api/v1/generate", &body).await;
    assert_eq!(response.status(), 201);
    let created: Value = response.json().await.unwrap();
    assert_eq!(keys(&created), ["created_at", "estimated_time", "status", "task_id"]);
    assert_eq!(created["status"], "pending");
    assert!(created["estimated_time"].is_u64());
    assert!(is_seed_timestamp(created["created_at"].as_str().unwrap()), "{created}");
    let task_id = created["task_id"].as_str().unwrap();
    assert!(uuid::Uuid::parse_str(task_id).is_ok());

    let done = app.wait_for_end(task_id).await;
    let task: Value = app.get(&format!("/api/v1/task/{task_id}")).await.json().await.unwrap();
    assert_eq!(task["task_id"], task_id);
    assert_eq!(task["status"], "completed", "{done}");
    assert_eq!(task["progress"], 100);
    for field in ["created_at", "started_at", "completed_at"] {
        assert!(is_seed_timestamp(task[field].as_str().unwrap()), "{field}: {task}");
    }
    let images = task["images"].as_array().unwrap();
    assert_eq!(images.len(), 1);
    let image = &images[0];
    for field in ["image_id", "url", "thumbnail_url", "width", "height", "file_size"] {
        assert!(!image[field].is_null(), "{field} missing: {image}");
    }
    let image_id = image["image_id"].as_str().unwrap();
    assert_eq!(image["url"], format!("/api/v1/images/{image_id}"));
    assert_eq!(image["thumbnail_url"], format!("/api/v1/images/{image_id}/thumbnail"));
    assert_eq!((image["width"].as_u64(), image["height"].as_u64()), (Some(256), Some(256)));

    let png = app.get(image["url"].as_str().unwrap()).await;
    assert_eq!(png.status(), 200);
    assert_eq!(png.headers()["content-type"], "image/png");
    assert_eq!(png.bytes().await.unwrap().len() as u64, image["file_size"].as_u64().unwrap());
}

#[tokio::test]
async fn a_processing_task_has_progress_and_no_completion_time() {
    let app = TestApp::with(Options { workers: false, ..Options::default() }).await.unwrap();
    let created: Value = app.post("/api/v1/generate", &json!({ "prompt": "a cat" })).await.json().await.unwrap();
    let task: Value =
        app.get(&format!("/api/v1/task/{}", created["task_id"].as_str().unwrap())).await.json().await.unwrap();
    assert_eq!(task["status"], "pending");
    assert_eq!(task["progress"], 0);
    assert!(task.get("completed_at").is_none(), "{task}");
    assert_eq!(task["images"], json!([]));
    // The default model serves a request that names none.
    assert_eq!(task["model"], "placeholder");
}

#[tokio::test]
async fn validation_errors_are_400_as_the_seed_shows() {
    let app = TestApp::spawn().await;
    let body =
        assert_error(app.post("/api/v1/generate", &json!({ "prompt": "  " })).await, 400, "validation_error").await;
    assert_eq!(body["details"]["field"], "prompt");
    let body = assert_error(
        app.post("/api/v1/generate", &json!({ "prompt": "x", "width": 4096 })).await,
        400,
        "validation_error",
    )
    .await;
    assert_eq!(body["details"]["field"], "width");
    let body = assert_error(
        app.post("/api/v1/generate", &json!({ "prompt": "x", "colour": "red" })).await,
        400,
        "validation_error",
    )
    .await;
    assert_eq!(body["details"]["field"], "colour");
    // An unknown model names the field; seed 004's own model is VolcEngine's,
    // which without its keys names the setting to make it usable.
    let body = assert_error(
        app.post("/api/v1/generate", &json!({ "prompt": "x", "model": "general_v9.9" })).await,
        400,
        "validation_error",
    )
    .await;
    assert_eq!(body["details"]["field"], "model");
    let body = assert_error(
        app.post("/api/v1/generate", &json!({ "prompt": "x", "model": "general_v2.0" })).await,
        422,
        "model_unavailable",
    )
    .await;
    assert_eq!(body["details"]["config_key"], "providers.volcengine.access_key_id");
    // A known model whose provider is not configured is a 422 naming the key to set.
    let body = assert_error(
        app.post("/api/v1/generate", &json!({ "prompt": "x", "model": "local/instant" })).await,
        422,
        "model_unavailable",
    )
    .await;
    assert_eq!(body["details"]["config_key"], "engines.instant.enabled");
}

#[tokio::test]
async fn a_missing_task_is_404_not_found() {
    let app = TestApp::spawn().await;
    let body = assert_error(app.get("/api/v1/task/550e8400-e29b-41d4-a716-446655440000").await, 404, "not_found").await;
    assert_eq!(keys(&body), ["error", "message"]);
    assert_error(app.get("/api/v1/task/not-a-uuid").await, 404, "not_found").await;
}

#[tokio::test]
async fn a_full_queue_answers_429_with_retry_after() {
    let app = TestApp::with(Options { workers: false, max_queued: 2, ..Options::default() }).await.unwrap();
    for _ in 0..2 {
        assert_eq!(app.post("/api/v1/generate", &json!({ "prompt": "x" })).await.status(), 201);
    }
    // The queued count is cached for a quarter second.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let response = app.post("/api/v1/generate", &json!({ "prompt": "x" })).await;
    let retry_after = response.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
    let body = assert_error(response, 429, "rate_limit_exceeded").await;
    assert!(body["retry_after"].as_u64().is_some_and(|s| s > 0), "{body}");
    let details = &body["details"];
    assert_eq!((&details["reason"], &details["scope"]), (&json!("queue_full"), &json!("overall")), "{body}");
    assert_eq!((&details["queued"], &details["limit"]), (&json!(2), &json!(2)), "{body}");
    assert_eq!(retry_after, Some(body["retry_after"].to_string()));
}

#[tokio::test]
async fn tasks_history_delete_models_info_and_health() {
    let app = TestApp::spawn().await;
    let created: Value = app
        .post("/api/v1/generate", &json!({ "prompt": "fox", "width": 64, "height": 64 }))
        .await
        .json()
        .await
        .unwrap();
    let id = created["task_id"].as_str().unwrap().to_owned();
    app.wait_for_end(&id).await;

    let tasks: Value = app.get("/api/v1/tasks").await.json().await.unwrap();
    assert_eq!(tasks["tasks"][0]["task_id"], id);
    let history: Value = app.get("/api/v1/history").await.json().await.unwrap();
    let image_id = history["images"][0]["image_id"].as_str().unwrap().to_owned();
    assert_eq!(history["images"][0]["task_id"], id);
    assert_eq!(app.get(&format!("/api/v1/images/{image_id}/thumbnail")).await.headers()["content-type"], "image/webp");

    let models: Value = app.get("/api/v1/models").await.json().await.unwrap();
    let placeholder = models["models"].as_array().unwrap().iter().find(|m| m["id"] == "local/placeholder").unwrap();
    assert_eq!(placeholder["usable"], true);
    assert_eq!(placeholder["input_schema"]["type"], "object");
    let instant = models["models"].as_array().unwrap().iter().find(|m| m["id"] == "local/instant").unwrap();
    assert_eq!(instant["usable"], false);
    assert_eq!(instant["requires_config"], "engines.instant.enabled");

    let info: Value = app.get("/api/v1/system/info").await.json().await.unwrap();
    assert_eq!(info["database"], "sqlite");
    assert_eq!(info["default_model"], "local/placeholder");
    let health = app.get("/api/v1/health").await;
    assert_eq!(health.status(), 200);
    assert_eq!(health.json::<Value>().await.unwrap()["status"], "ok");

    assert_eq!(app.delete(&format!("/api/v1/history/{image_id}")).await.status(), 204);
    assert_error(app.get(&format!("/api/v1/images/{image_id}")).await, 404, "not_found").await;
    assert_eq!(app.delete(&format!("/api/v1/task/{id}")).await.status(), 204);
    assert_error(app.get(&format!("/api/v1/task/{id}")).await, 404, "not_found").await;
    assert_error(app.delete(&format!("/api/v1/task/{id}")).await, 404, "not_found").await;
}
