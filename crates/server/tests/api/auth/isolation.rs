//! Another user's things do not exist: every route answers "not found", and naming
//! them as inputs is the same as naming files that are gone.

use atelier_core::account::Role;
use atelier_core::catalog::Modality;
use atelier_core::testing::Scripted;
use serde_json::{Value, json};

use super::{finished_task, json_of, method, upload_png};
use crate::helpers::{Options, TestApp, assert_error};

/// `ref/files`: a model whose input names files (`files: [upl_…, img_…]`), to
/// check input references against their owner.
fn files() -> Scripted {
    Scripted::new("ref").with_models(vec![Scripted::spec("ref", "files", Modality::Image)])
}

#[tokio::test]
async fn another_users_things_are_not_found() {
    let options = Options { providers: vec![std::sync::Arc::new(files())], ..Options::default() };
    let app = TestApp::with(options).await.unwrap();
    let (alice, _) = app.user("alice@example.com", Role::Member).await;
    let (bob, _) = app.user("bob@example.com", Role::Member).await;
    let (task, asset) = finished_task(&alice, &app, "alice's garden").await;
    let upload = upload_png(&alice, &app).await;
    let tag = alice.post(app.url(&format!("/api/v1/assets/{asset}/tags"))).json(&json!({ "tag": "mine" }));
    assert!(tag.send().await.unwrap().status().is_success());
    let image = alice.get(app.url(&format!("/api/v1/images/{asset}"))).send().await.unwrap().bytes().await.unwrap();
    let content = alice.get(app.url(&format!("/api/v1/uploads/{upload}/content"))).send().await.unwrap();
    let content = content.bytes().await.unwrap();
    let (bobs_task, _) = finished_task(&bob, &app, "bob's shed").await;

    let tries: Vec<(&str, String, Value)> = vec![
        ("GET", format!("/api/v1/tasks/{task}"), json!(null)),
        ("GET", format!("/api/v1/task/{task}"), json!(null)),
        ("GET", format!("/api/v1/tasks/{task}/events"), json!(null)),
        ("GET", format!("/api/v1/assets/{asset}"), json!(null)),
        ("GET", format!("/api/v1/images/{asset}"), json!(null)),
        ("GET", format!("/api/v1/assets/{asset}/thumbnail"), json!(null)),
        ("GET", format!("/api/v1/images/{asset}/thumbnail"), json!(null)),
        ("POST", format!("/api/v1/assets/{asset}/tags"), json!({ "tag": "bob-was-here" })),
        ("DELETE", format!("/api/v1/assets/{asset}/tags/mine"), json!(null)),
        ("POST", format!("/api/v1/tasks/{task}/retry"), json!({})),
        ("POST", format!("/api/v1/tasks/{task}/cancel"), json!({})),
        ("DELETE", format!("/api/v1/tasks/{task}"), json!(null)),
        ("DELETE", format!("/api/v1/task/{task}"), json!(null)),
        ("DELETE", format!("/api/v1/history/{asset}"), json!(null)),
        ("DELETE", format!("/api/v1/history/{task}"), json!(null)),
        ("GET", format!("/api/v1/uploads/{upload}"), json!(null)),
        ("GET", format!("/api/v1/uploads/{upload}/content"), json!(null)),
        ("DELETE", format!("/api/v1/uploads/{upload}"), json!(null)),
    ];
    for (method_name, path, body) in &tries {
        let mut request = bob.request(method(method_name), app.url(path));
        if !body.is_null() {
            request = request.json(body);
        }
        let response = request.send().await.unwrap();
        let what = format!("{method_name} {path}");
        assert_eq!(response.status(), 404, "{what}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "not_found", "{what}: {body}");
    }

    // Naming Alice's files as inputs: the same answer as for files that do not exist.
    let create = |client: &reqwest::Client, file: &str| {
        client
            .post(app.url("/api/v1/tasks"))
            .json(&json!({ "model": "ref/files", "input": { "files": [file] } }))
            .send()
    };
    // A real id of a file that is gone, for comparison.
    let gone = upload_png(&bob, &app).await;
    assert_eq!(bob.delete(app.url(&format!("/api/v1/uploads/{gone}"))).send().await.unwrap().status(), 204);
    let missing = assert_error(create(&bob, &gone).await.unwrap(), 422, "validation_error").await;
    for file in [upload.as_str(), asset.as_str()] {
        let body = assert_error(create(&bob, file).await.unwrap(), 422, "validation_error").await;
        assert_eq!(body["details"]["reason"], missing["details"]["reason"], "{body}");
        assert_eq!(body["details"]["reason"], "no such file", "{body}");
        assert_eq!(create(&alice, file).await.unwrap().status(), 202, "Alice may use her own {file}");
    }

    // Alice's things are untouched.
    let task_now = json_of(&alice, &app, &format!("/api/v1/tasks/{task}")).await;
    assert_eq!(task_now["status"], "completed");
    assert_eq!(task_now["images"][0]["tags"], json!(["mine"]));
    let image_now = alice.get(app.url(&format!("/api/v1/images/{asset}"))).send().await.unwrap();
    assert_eq!(image_now.bytes().await.unwrap(), image);
    let content_now = alice.get(app.url(&format!("/api/v1/uploads/{upload}/content"))).send().await.unwrap();
    assert_eq!(content_now.bytes().await.unwrap(), content);
    let alices: Value = json_of(&alice, &app, "/api/v1/tasks").await;
    assert_eq!(alices["tasks"].as_array().unwrap().iter().filter(|t| t["retry_of"] == task.as_str()).count(), 0);

    // The admin sees Alice's task; Bob's lists hold only his own.
    assert_eq!(app.get(&format!("/api/v1/tasks/{task}")).await.status(), 200);
    let bobs: Value = json_of(&bob, &app, "/api/v1/tasks").await;
    let bob_ids: Vec<&str> = bobs["tasks"].as_array().unwrap().iter().filter_map(|t| t["task_id"].as_str()).collect();
    assert_eq!(bob_ids, [bobs_task.as_str()]);
    let bobs_images: Value = json_of(&bob, &app, "/api/v1/assets").await;
    assert!(!bobs_images.to_string().contains(&asset), "{bobs_images}");
    let admins: Value = app.get("/api/v1/tasks").await.json().await.unwrap();
    assert!(admins["tasks"].as_array().unwrap().iter().any(|t| t["task_id"] == task.as_str()));
}
