//! Every route needs a valid key; the public ones answer without one.

use atelier_core::account::{ApiKey, Role, secrets};
use atelier_core::time::now_millis;
use serde_json::{Value, json};

use super::{Ids, assert_unauthorized, documented_routes, finished_task, send, upload_png, user_id_of};
use crate::helpers::{TestApp, client_with_key};

#[tokio::test]
async fn the_public_routes_are_these_and_answer_without_a_key() {
    let app = TestApp::spawn().await;
    let (protected, public) = documented_routes(&app).await;
    assert!(protected.len() > 40, "{protected:?}");
    let mut public_names: Vec<String> = public.iter().map(|(method, path)| format!("{method} {path}")).collect();
    public_names.sort();
    // A route made public is a security decision: it shows here.
    assert_eq!(
        public_names,
        [
            "GET /api/v1/health",
            "GET /api/v1/health/live",
            "GET /api/v1/health/ready",
            "GET /api/v1/sessions/current",
            "GET /api/v1/sessions/link",
            // A signed, expiring link to one file (seed 001 1.8): the signature is the
            // permission, and the route refuses anything else (403).
            "GET /api/v1/shared/{id}",
            "POST /api/v1/callbacks/{service}",
            "POST /api/v1/sessions",
        ]
    );
    let ids = Ids::unused();
    for (method_name, template) in &public {
        let path = ids.fill(template);
        let response = send(&client_with_key(None), &app, method_name, &path).await;
        assert_ne!(response.status(), 401, "{method_name} {path} is documented as public");
    }
}

#[tokio::test]
async fn every_route_refuses_a_missing_wrong_revoked_or_expired_key() {
    let app = TestApp::spawn().await;
    let (task, asset) = finished_task(&app.http, &app, "a locked door").await;
    let upload = upload_png(&app.http, &app).await;
    assert!(app.post(&format!("/api/v1/assets/{asset}/tags"), &json!({ "tag": "mine" })).await.status().is_success());
    let (member, _) = app.user("member@example.com", Role::Member).await;
    let user = user_id_of(&member, &app).await;

    // A key that worked, then was revoked through the API.
    let created: Value = app.post("/api/v1/keys", &json!({ "name": "soon revoked" })).await.json().await.unwrap();
    let revoked_key = created["key"].as_str().unwrap().to_owned();
    let revoked_client = client_with_key(Some(&revoked_key));
    assert_eq!(revoked_client.get(app.url("/api/v1/me")).send().await.unwrap().status(), 200);
    let key_id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(app.delete(&format!("/api/v1/keys/{key_id}")).await.status(), 200);

    // A key that expired a second ago, straight through the store (the API refuses
    // to make one), and its twin that has not expired, to show the row is sound.
    let admin = app.accounts.store().find_user_by_email("admin@localhost").await.unwrap().unwrap();
    let stored_key = |expires_at| {
        let (secret, prefix) = secrets::new_api_key();
        let key = ApiKey {
            id: atelier_core::ApiKeyId::new(),
            user_id: admin.id.clone(),
            name: "expiry".into(),
            prefix,
            secret_hash: secrets::token_hash(&secret),
            role: Role::Admin,
            created_at: now_millis() - 60_000,
            expires_at: Some(expires_at),
            last_used_at: None,
            revoked_at: None,
        };
        (key, secret)
    };
    let (expired, expired_key) = stored_key(now_millis() - 1_000);
    let (fresh, fresh_key) = stored_key(now_millis() + 3_600_000);
    app.accounts.store().create_key(&expired).await.unwrap();
    app.accounts.store().create_key(&fresh).await.unwrap();
    assert_eq!(client_with_key(Some(&fresh_key)).get(app.url("/api/v1/me")).send().await.unwrap().status(), 200);

    // Wrong keys: not a key at all, a well-formed unknown one, and the admin's key
    // with its last character changed (a known prefix, a wrong secret).
    let mut altered = app.admin_key.clone();
    let last = altered.pop().unwrap();
    altered.push(if last == 'A' { 'B' } else { 'A' });
    let unknown = format!("atl_000000000000_{}", "A".repeat(43));
    let prompt: Value = app.post("/api/v1/prompts", &json!({ "content": "a locked door" })).await.json().await.unwrap();
    let prompt = prompt["id"].as_str().unwrap().to_owned();
    let ids = Ids {
        task: task.clone(),
        asset: asset.clone(),
        upload: upload.clone(),
        prompt: prompt.clone(),
        key: key_id,
        user,
    };

    let credentials: Vec<(&str, reqwest::Client)> = vec![
        ("no key", client_with_key(None)),
        ("not a key", client_with_key(Some("letmein"))),
        ("an unknown key", client_with_key(Some(&unknown))),
        ("a wrong secret", client_with_key(Some(&altered))),
        ("a revoked key", revoked_client),
        ("an expired key", client_with_key(Some(&expired_key))),
        ("a session cookie nobody issued", {
            let mut headers = reqwest::header::HeaderMap::new();
            headers.insert("cookie", "atelier_session=forged".parse().unwrap());
            headers.insert("x-csrf-token", "forged".parse().unwrap());
            reqwest::Client::builder().default_headers(headers).build().unwrap()
        }),
    ];
    let (protected, _) = documented_routes(&app).await;
    for (what, client) in &credentials {
        for (method_name, template) in &protected {
            let path = ids.fill(template);
            assert_unauthorized(send(client, &app, method_name, &path).await, &format!("{what}: {method_name} {path}"))
                .await;
        }
    }

    // Nothing changed on the way.
    let after = app.get(&format!("/api/v1/tasks/{task}")).await;
    assert_eq!(after.status(), 200);
    let after: Value = after.json().await.unwrap();
    assert_eq!(after["images"][0]["tags"], json!(["mine"]));
    assert_eq!(app.get(&format!("/api/v1/uploads/{upload}")).await.status(), 200);
    assert_eq!(app.get(&format!("/api/v1/prompts/{prompt}")).await.status(), 200);
    let keys: Value = app.get("/api/v1/keys").await.json().await.unwrap();
    assert_eq!(keys["keys"].as_array().unwrap().len(), 4, "the CLI key, the revoked one and the two stored: {keys}");
}

#[tokio::test]
async fn public_routes_answer_without_a_key() {
    let app = TestApp::spawn().await;
    let anonymous = client_with_key(None);
    let health = anonymous.get(app.url("/api/v1/health")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    // The handlers themselves answer: a malformed sign-in is a validation error,
    // a link without its token a validation error (in the one error shape), not the
    // middleware's 401.
    let sign_in = anonymous.post(app.url("/api/v1/sessions")).json(&json!({})).send().await.unwrap();
    assert!([400, 422].contains(&sign_in.status().as_u16()), "{}", sign_in.status());
    assert!(!sign_in.headers().contains_key("www-authenticate"));
    let link = anonymous.get(app.url("/api/v1/sessions/link")).send().await.unwrap();
    crate::helpers::assert_error(link, 422, "validation_error").await;
    let callback = anonymous.post(app.url("/api/v1/callbacks/kie")).json(&json!({})).send().await.unwrap();
    assert_ne!(callback.status(), 401, "callbacks carry no key of ours");
    assert!(!callback.headers().contains_key("www-authenticate"));
    assert_eq!(anonymous.get(app.url("/openapi.json")).send().await.unwrap().status(), 200);
}
