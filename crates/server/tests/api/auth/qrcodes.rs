//! The QR code API: the image in the answer, kept in the caller's gallery only.

use atelier_core::account::Role;
use serde_json::json;

use super::json_of;
use crate::helpers::{TestApp, assert_error, client_with_key};

#[tokio::test]
async fn qrcodes_answer_the_image_and_keep_it_in_the_callers_gallery() {
    let app = TestApp::spawn().await;
    let (member, _) = app.user("qr@example.com", Role::Member).await;
    let (stranger, _) = app.user("stranger@example.com", Role::Member).await;
    let (viewer, _) = app.user("looker@example.com", Role::Viewer).await;
    let text = "https://atelier.example/qr?x=1";

    let response = member.post(app.url("/api/v1/qrcodes")).json(&json!({ "text": text })).send().await.unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["content-type"], "image/png");
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let task_id = response.headers()["x-task-id"].to_str().unwrap().to_owned();
    assert!(location.starts_with("/api/v1/assets/img_"), "{location}");
    let png = response.bytes().await.unwrap();
    let decoded = image::load_from_memory(&png).unwrap().to_luma8();
    let mut prepared = rqrr::PreparedImage::prepare(decoded);
    let grids = prepared.detect_grids();
    assert_eq!(grids.len(), 1);
    assert_eq!(grids[0].decode().unwrap().1, text);

    let stored = member.get(app.url(&location)).send().await.unwrap();
    assert_eq!(stored.status(), 200);
    assert_eq!(stored.bytes().await.unwrap(), png);
    let task = json_of(&member, &app, &format!("/api/v1/tasks/{task_id}")).await;
    assert_eq!((task["model"].as_str(), task["status"].as_str()), (Some("qr"), Some("completed")));
    let asset_id = location.rsplit('/').next().unwrap();
    assert_eq!(task["images"][0]["image_id"], asset_id);

    let response =
        member.post(app.url("/api/v1/qrcodes")).json(&json!({ "text": text, "format": "svg" })).send().await.unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["content-type"], "image/svg+xml");
    let svg = response.text().await.unwrap();
    assert!(svg.contains("<svg"), "{svg}");

    let mine = json_of(&member, &app, "/api/v1/assets").await.to_string();
    assert!(mine.contains(asset_id), "{mine}");
    let theirs = json_of(&stranger, &app, "/api/v1/assets").await;
    assert_eq!(theirs["images"], json!([]));
    assert_error(stranger.get(app.url(&location)).send().await.unwrap(), 404, "not_found").await;

    let response = viewer.post(app.url("/api/v1/qrcodes")).json(&json!({ "text": text })).send().await.unwrap();
    assert_error(response, 403, "forbidden").await;
    assert_error(
        client_with_key(None).post(app.url("/api/v1/qrcodes")).json(&json!({ "text": text })).send().await.unwrap(),
        401,
        "unauthorized",
    )
    .await;
}
