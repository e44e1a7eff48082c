//! The essentials of authentication, quickly: no key, a wrong key, a revoked key,
//! a viewer's write, another user's task.

use atelier_core::account::Role;
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error, client_with_key};

#[tokio::test]
async fn keys_roles_and_owners() {
    let app = TestApp::spawn().await;
    let task = app.create_placeholder("the admin's", json!({})).await;
    let path = format!("/api/v1/tasks/{task}");

    let anonymous = client_with_key(None);
    let response = anonymous.get(app.url(&path)).send().await.unwrap();
    assert!(response.headers().contains_key("www-authenticate"));
    assert_error(response, 401, "unauthorized").await;
    let wrong = client_with_key(Some(&format!("{}x", app.admin_key)));
    assert_error(wrong.get(app.url(&path)).send().await.unwrap(), 401, "unauthorized").await;
    assert_eq!(anonymous.get(app.url("/api/v1/health")).send().await.unwrap().status(), 200, "health is public");

    let (member, member_key) = app.user("member@example.com", Role::Member).await;
    assert_error(member.get(app.url(&path)).send().await.unwrap(), 404, "not_found").await;
    assert_error(member.delete(app.url(&path)).send().await.unwrap(), 404, "not_found").await;
    assert_eq!(app.get(&path).await.status(), 200, "the admin's task is untouched");
    let mine: Value = member.get(app.url("/api/v1/tasks")).send().await.unwrap().json().await.unwrap();
    assert_eq!(mine["tasks"].as_array().map(Vec::len), Some(0), "{mine}");

    let (viewer, _) = app.user("viewer@example.com", Role::Viewer).await;
    let body = json!({ "model": "local/placeholder", "input": { "prompt": "no" } });
    assert_error(viewer.post(app.url("/api/v1/tasks")).json(&body).send().await.unwrap(), 403, "forbidden").await;

    // Revoked: the member's key stops at once.
    let user = app.accounts.user_for_cli("member@example.com", Role::Member).await.unwrap();
    let keys = app.accounts.store().list_keys(Some(&user.id)).await.unwrap();
    let key_id = keys.iter().find(|k| member_key.starts_with(&k.prefix)).unwrap().id.clone();
    assert_eq!(member.delete(app.url(&format!("/api/v1/keys/{key_id}"))).send().await.unwrap().status(), 200);
    assert_error(member.get(app.url("/api/v1/tasks")).send().await.unwrap(), 401, "unauthorized").await;
}
