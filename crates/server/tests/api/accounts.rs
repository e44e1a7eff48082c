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

#[tokio::test]
async fn per_user_limits_follow_the_role() {
    let configure: crate::helpers::Configure = Box::new(|config, _| {
        config.user_limits.member.max_concurrent_tasks = 2;
        config.user_limits.member.daily_tasks = 3;
        config.user_limits.viewer.requests_per_minute = 3;
    });
    let options = crate::helpers::Options { workers: false, configure: Some(configure), ..Default::default() };
    let app = TestApp::with(options).await.unwrap();
    let (member, _) = app.user("member@example.com", Role::Member).await;
    let body = json!({ "model": "local/placeholder", "input": { "prompt": "a fox" } });
    let create = || member.post(app.url("/api/v1/tasks")).json(&body).send();

    let first: Value = create().await.unwrap().json().await.unwrap();
    assert_eq!(create().await.unwrap().status(), 202);
    let response = create().await.unwrap();
    assert!(response.headers().contains_key("retry-after"));
    let refused = assert_error(response, 429, "rate_limit_exceeded").await;
    assert!(refused["message"].as_str().unwrap().contains("too many concurrent tasks"), "{refused}");
    // The admin's role has no limit; the member's own count is what matters.
    for _ in 0..3 {
        app.create_placeholder("the admin's", json!({})).await;
    }

    let cancel = format!("/api/v1/tasks/{}/cancel", first["task_id"].as_str().unwrap());
    assert_eq!(member.post(app.url(&cancel)).send().await.unwrap().status(), 200);
    assert_eq!(create().await.unwrap().status(), 202, "a slot freed up");
    let second_page: Value = member.get(app.url("/api/v1/tasks")).send().await.unwrap().json().await.unwrap();
    let pending = second_page["tasks"].as_array().unwrap().iter().find(|t| t["status"] == "pending").unwrap().clone();
    let cancel = format!("/api/v1/tasks/{}/cancel", pending["task_id"].as_str().unwrap());
    assert_eq!(member.post(app.url(&cancel)).send().await.unwrap().status(), 200);
    let quota = assert_error(create().await.unwrap(), 429, "quota_exceeded").await;
    assert_eq!(quota["details"]["limit"], 3, "{quota}");

    let (viewer, _) = app.user("viewer@example.com", Role::Viewer).await;
    for _ in 0..3 {
        assert_eq!(viewer.get(app.url("/api/v1/tasks")).send().await.unwrap().status(), 200);
    }
    let slowed = viewer.get(app.url("/api/v1/tasks")).send().await.unwrap();
    assert!(slowed.headers().contains_key("retry-after"));
    assert_error(slowed, 429, "rate_limit_exceeded").await;
}
