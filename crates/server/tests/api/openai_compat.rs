//! The OpenAI-compatible API's own rules (the SDKs themselves run in
//! `scripts/sdk-tests`): OpenAI's error shape on every failure, authentication
//! included; the wait's limit; the switch that turns `/v1` off.

use serde_json::{Value, json};

use crate::helpers::{Options, TestApp};

/// Asserts OpenAI's error shape and returns its `error` object.
async fn openai_error(response: reqwest::Response, status: u16) -> Value {
    assert_eq!(response.status(), status);
    let body: Value = response.json().await.expect("a JSON body");
    let error = body["error"].clone();
    assert!(error.is_object(), "{body}");
    for field in ["message", "type", "param", "code"] {
        assert!(error.get(field).is_some(), "{field} missing: {body}");
    }
    assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    error
}

#[tokio::test]
async fn every_failure_is_in_openais_shape() {
    let app = TestApp::spawn().await;
    let anonymous = reqwest::Client::new();
    let answer = anonymous.get(app.url("/v1/models")).send().await.expect("request");
    assert!(answer.headers().contains_key("www-authenticate"));
    assert_eq!(openai_error(answer, 401).await["code"], "invalid_api_key");

    let answer = app.http.post(app.url("/v1/images/generations")).body("{not json").send().await.expect("request");
    assert_eq!(openai_error(answer, 400).await["code"], "invalid_json");

    let answer = app.post("/v1/images/generations", &json!({ "model": "local/placeholder" })).await;
    assert_eq!(openai_error(answer, 400).await["param"], "prompt");

    // The model's own check, named by its field, answered 400 as OpenAI answers.
    let answer = app
        .post("/v1/images/generations", &json!({ "model": "local/placeholder", "prompt": "x", "size": "9000x64" }))
        .await;
    let error = openai_error(answer, 400).await;
    assert_eq!((error["type"].as_str(), error["param"].as_str()), (Some("invalid_request_error"), Some("width")));

    let answer = app.post("/v1/chat/completions", &json!({ "model": "nobody/nothing", "messages": [] })).await;
    assert_eq!(openai_error(answer, 404).await["code"], "model_not_found");

    let answer = app.get("/v1/no/such/route").await;
    assert_eq!(openai_error(answer, 404).await["code"], "unknown_url");
}

#[tokio::test]
async fn a_call_past_its_wait_names_its_task_which_goes_on() {
    let configure = Box::new(|config: &mut atelier::config::Config, _: &str| config.openai_api.max_wait_secs = 1);
    let app =
        TestApp::with(Options { workers: false, configure: Some(configure), ..Options::default() }).await.expect("app");
    let answer = app.post("/v1/images/generations", &json!({ "model": "local/placeholder", "prompt": "waits" })).await;
    // The SDKs would send a 5xx again, making a second task: this one says not to.
    assert_eq!(answer.headers()["x-should-retry"], "false");
    let error = openai_error(answer, 504).await;
    assert_eq!(error["code"], "timeout");
    let tasks: Value = app.get("/api/v1/tasks").await.json().await.expect("tasks");
    let task = &tasks["tasks"][0];
    assert_eq!(task["status"], "pending");
    let id = task["task_id"].as_str().expect("id");
    assert!(error["message"].as_str().expect("message").contains(id), "{error}");
}

#[tokio::test]
async fn a_video_is_its_task_and_other_tasks_are_no_videos() {
    let app = TestApp::with(Options { workers: false, ..Options::default() }).await.expect("app");
    let image = app.create_placeholder("not a video", json!({})).await;
    let answer = app.get(&format!("/v1/videos/{image}")).await;
    assert_eq!(openai_error(answer, 404).await["code"], "not_found");
    // An image model on the video route is refused naming the route that serves it.
    let answer = app.post("/v1/videos", &json!({ "model": "local/placeholder", "prompt": "x" })).await;
    let error = openai_error(answer, 400).await;
    assert!(error["message"].as_str().expect("message").contains("/v1/images/generations"), "{error}");
}

#[tokio::test]
async fn v1_can_be_turned_off() {
    let configure = Box::new(|config: &mut atelier::config::Config, _: &str| config.openai_api.enabled = false);
    let app = TestApp::with(Options { configure: Some(configure), ..Options::default() }).await.expect("app");
    assert_eq!(app.get("/v1/models").await.status(), 404);
}
