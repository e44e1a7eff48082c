//! Viewers read, never write; a key scoped below its user stays below it.

use atelier_core::account::Role;
use serde_json::{Value, json};

use super::{finished_task, json_of, method, png_bytes, upload_png};
use crate::helpers::{TestApp, assert_error, client_with_key};

/// Every file under the data directory (blobs and thumbnails).
fn files_under(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|entry| {
                    let path = entry.path();
                    if path.is_dir() { files_under(&path) } else { 1 }
                })
                .sum()
        })
        .unwrap_or(0)
}

/// (tasks, images, users, files under the data directory), as the admin sees them.
async fn counts(app: &TestApp) -> (usize, usize, usize, usize) {
    let tasks: Value = app.get("/api/v1/tasks?limit=100").await.json().await.unwrap();
    let assets: Value = app.get("/api/v1/assets?limit=100").await.json().await.unwrap();
    let users: Value = app.get("/api/v1/users").await.json().await.unwrap();
    (
        tasks["tasks"].as_array().unwrap().len(),
        assets["images"].as_array().unwrap().len(),
        users["users"].as_array().unwrap().len(),
        files_under(app.data_dir()),
    )
}

#[tokio::test]
async fn a_viewer_key_reads_but_every_write_is_forbidden() {
    let app = TestApp::spawn().await;
    let (member, _) = app.user("maker@example.com", Role::Member).await;
    let (task, asset) = finished_task(&member, &app, "a quiet harbour").await;
    let upload = upload_png(&member, &app).await;
    let tag = member.post(app.url(&format!("/api/v1/assets/{asset}/tags"))).json(&json!({ "tag": "mine" }));
    assert!(tag.send().await.unwrap().status().is_success());
    // A viewer key of the same member: its own things are in reach, so every
    // refusal below is the role's, not ownership's.
    let created = member.post(app.url("/api/v1/keys")).json(&json!({ "name": "read only", "role": "viewer" }));
    let created: Value = created.send().await.unwrap().json().await.unwrap();
    assert_eq!(created["role"], "viewer");
    let viewer = client_with_key(created["key"].as_str());
    let me = json_of(&viewer, &app, "/api/v1/me").await;
    assert_eq!(me["role"], "viewer");
    let member_id = me["user_id"].as_str().unwrap().to_owned();

    let before = counts(&app).await;

    let png = png_bytes(8, 8);
    let writes: Vec<(&str, String, Value)> = vec![
        ("POST", "/api/v1/tasks".into(), json!({ "model": "local/placeholder", "input": { "prompt": "x" } })),
        ("POST", "/api/v1/generate".into(), json!({ "prompt": "x" })),
        ("POST", "/api/v1/qrcodes".into(), json!({ "text": "x" })),
        ("POST", format!("/api/v1/tasks/{task}/retry"), json!({})),
        ("POST", format!("/api/v1/tasks/{task}/cancel"), json!({})),
        ("DELETE", format!("/api/v1/tasks/{task}"), json!({})),
        ("DELETE", format!("/api/v1/task/{task}"), json!({})),
        ("DELETE", format!("/api/v1/history/{asset}"), json!({})),
        ("DELETE", format!("/api/v1/history/{task}"), json!({})),
        ("POST", format!("/api/v1/assets/{asset}/tags"), json!({ "tag": "viewer-was-here" })),
        ("DELETE", format!("/api/v1/assets/{asset}/tags/mine"), json!({})),
        ("DELETE", format!("/api/v1/uploads/{upload}"), json!({})),
        ("POST", "/api/v1/users".into(), json!({ "email": "new@example.com", "role": "admin" })),
        ("PATCH", format!("/api/v1/users/{member_id}"), json!({ "role": "admin" })),
    ];
    for (method_name, path, body) in &writes {
        let response = viewer.request(method(method_name), app.url(path)).json(body).send().await.unwrap();
        assert_error(response, 403, "forbidden").await;
    }
    let raw = viewer.post(app.url("/api/v1/uploads?name=v.png")).header("content-type", "image/png").body(png.clone());
    assert_error(raw.send().await.unwrap(), 403, "forbidden").await;
    let part = reqwest::multipart::Part::bytes(png).file_name("v.png").mime_str("image/png").unwrap();
    let form = reqwest::multipart::Form::new().part("file", part);
    assert_error(viewer.post(app.url("/api/v1/uploads")).multipart(form).send().await.unwrap(), 403, "forbidden").await;
    // Admin reads are not a viewer's either.
    for path in ["/api/v1/users", "/api/v1/audit", "/api/v1/keys?all=true"] {
        assert_error(viewer.get(app.url(path)).send().await.unwrap(), 403, "forbidden").await;
    }

    assert_eq!(counts(&app).await, before, "(tasks, images, users, files) changed");
    let task_now = json_of(&member, &app, &format!("/api/v1/tasks/{task}")).await;
    assert_eq!(task_now["status"], "completed");
    assert_eq!(task_now["images"][0]["tags"], json!(["mine"]));
    assert_eq!(member.get(app.url(&format!("/api/v1/uploads/{upload}"))).send().await.unwrap().status(), 200);
    let users: Value = app.get("/api/v1/users").await.json().await.unwrap();
    let maker = users["users"].as_array().unwrap().iter().find(|u| u["id"] == member_id.as_str()).unwrap();
    assert_eq!(maker["role"], "member");

    // The viewer key reads its user's things.
    assert_eq!(json_of(&viewer, &app, &format!("/api/v1/tasks/{task}")).await["task_id"], task.as_str());
    assert_eq!(viewer.get(app.url(&format!("/api/v1/images/{asset}"))).send().await.unwrap().status(), 200);
    assert_eq!(viewer.get(app.url(&format!("/api/v1/uploads/{upload}/content"))).send().await.unwrap().status(), 200);

    // A viewer user with nothing of its own reads its empty lists.
    let (reader, _) = app.user("reader@example.com", Role::Viewer).await;
    assert_eq!(json_of(&reader, &app, "/api/v1/tasks").await["tasks"], json!([]));
    assert_eq!(json_of(&reader, &app, "/api/v1/assets").await["images"], json!([]));
    let history = json_of(&reader, &app, "/api/v1/history").await;
    assert_eq!(history["images"], json!([]), "{history}");
    assert!(json_of(&reader, &app, "/api/v1/models").await.is_object());
    assert_eq!(json_of(&reader, &app, "/api/v1/me").await["role"], "viewer");
    let keys = json_of(&reader, &app, "/api/v1/keys").await;
    assert_eq!(keys["keys"].as_array().unwrap().len(), 1, "its own key only: {keys}");
    assert_error(reader.get(app.url(&format!("/api/v1/tasks/{task}"))).send().await.unwrap(), 404, "not_found").await;
}

#[tokio::test]
async fn a_key_scoped_below_its_user_cannot_take_over_the_account() {
    // A member's viewer key must not be a way to the member's full role: setting a
    // password (then signing in with it) or turning two-factor on would be one.
    let app = TestApp::spawn().await;
    let (member, _) = app.user("scoped@example.com", Role::Member).await;
    let created = member.post(app.url("/api/v1/keys")).json(&json!({ "name": "ro", "role": "viewer" }));
    let created: Value = created.send().await.unwrap().json().await.unwrap();
    let viewer = client_with_key(created["key"].as_str());
    let password = viewer.put(app.url("/api/v1/me/password")).json(&json!({ "new_password": "a long password 1" }));
    assert_error(password.send().await.unwrap(), 403, "forbidden").await;
    let sign_in = json!({ "email": "scoped@example.com", "password": "a long password 1" });
    let response = client_with_key(None).post(app.url("/api/v1/sessions")).json(&sign_in).send().await.unwrap();
    assert_error(response, 401, "unauthorized").await;
    assert_error(viewer.post(app.url("/api/v1/me/totp")).send().await.unwrap(), 403, "forbidden").await;
    let me = json_of(&member, &app, "/api/v1/me").await;
    assert_eq!((me["has_password"].as_bool(), me["totp_enabled"].as_bool()), (Some(false), Some(false)));
    // The member's own key still does both.
    let password = member.put(app.url("/api/v1/me/password")).json(&json!({ "new_password": "a long password 1" }));
    assert_eq!(password.send().await.unwrap().status(), 204);
    assert_eq!(member.post(app.url("/api/v1/me/totp")).send().await.unwrap().status(), 201);
}
