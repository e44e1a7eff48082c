//! The audit log records security events, and no secret.

use atelier_core::account::Role;
use serde_json::{Value, json};

use super::{create_user, session_cookie, sign_in, unix_now, with_cookie};
use crate::helpers::{TestApp, assert_error};

#[tokio::test]
async fn the_audit_log_records_security_events_without_secrets() {
    let app = TestApp::spawn().await;
    let email = "audited@example.com";
    let password = "correct horse battery";
    let wrong_password = "wrong password here";
    let user_id = create_user(&app, email, password, "member").await;
    assert_eq!(sign_in(&app, email, wrong_password, None).await.status(), 401);
    let response = sign_in(&app, email, password, None).await;
    assert_eq!(response.status(), 201);
    let (cookie, _) = session_cookie(&response);
    let csrf = response.json::<Value>().await.unwrap()["csrf_token"].as_str().unwrap().to_owned();
    let browser = with_cookie(&cookie, Some(&csrf));

    let created: Value = browser
        .post(app.url("/api/v1/keys"))
        .json(&json!({ "name": "audited" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = created["key"].as_str().unwrap().to_owned();
    let key_id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(browser.delete(app.url(&format!("/api/v1/keys/{key_id}"))).send().await.unwrap().status(), 200);

    let enrolment: Value = browser.post(app.url("/api/v1/me/totp")).send().await.unwrap().json().await.unwrap();
    let secret = enrolment["secret"].as_str().unwrap().to_owned();
    let now = u64::try_from(unix_now()).unwrap();
    let first = atelier_core::account::totp::code_at(&secret, now - 30).unwrap();
    let confirmed = browser.post(app.url("/api/v1/me/totp/confirm")).json(&json!({ "code": first })).send().await;
    let confirmed: Value = confirmed.unwrap().json().await.unwrap();
    let recovery: Vec<String> =
        confirmed["recovery_codes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_owned()).collect();
    let wrong_code = if first == "123456" { "654321" } else { "123456" };
    let off = browser.delete(app.url("/api/v1/me/totp")).json(&json!({ "code": wrong_code })).send().await.unwrap();
    assert_eq!(off.status(), 422);
    let off = browser.delete(app.url("/api/v1/me/totp")).json(&json!({ "code": recovery[3] })).send().await.unwrap();
    assert_eq!(off.status(), 204);

    let patch = app.http.patch(app.url(&format!("/api/v1/users/{user_id}"))).json(&json!({ "role": "viewer" }));
    assert_eq!(patch.send().await.unwrap().status(), 200);

    let response = app.get("/api/v1/audit?limit=500").await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    let log: Value = serde_json::from_str(&text).unwrap();
    let entries = log["entries"].as_array().unwrap();
    let actions: Vec<&str> = entries.iter().filter_map(|e| e["action"].as_str()).collect();
    for action in
        ["sign_in", "sign_in_failed", "key_created", "key_revoked", "totp_enabled", "totp_disabled", "role_changed"]
    {
        assert!(actions.contains(&action), "{action} missing from {actions:?}");
    }
    let changed = entries.iter().find(|e| e["action"] == "role_changed").unwrap();
    assert_eq!(changed["target"], user_id.as_str());
    assert_eq!(
        (changed["detail"]["from"].as_str(), changed["detail"]["to"].as_str()),
        (Some("member"), Some("viewer"))
    );
    let revoked = entries.iter().find(|e| e["action"] == "key_revoked").unwrap();
    assert_eq!(revoked["target"], key_id.as_str());
    // Newest first.
    let ids: Vec<i64> = entries.iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "{ids:?}");

    let mut secrets_seen = vec![
        key.clone(),
        key[key.len() - 20..].to_owned(),
        app.admin_key.clone(),
        password.to_owned(),
        wrong_password.to_owned(),
        secret.clone(),
        first.clone(),
        cookie.trim_start_matches("atelier_session=").to_owned(),
        csrf.clone(),
    ];
    secrets_seen.extend(recovery.iter().cloned());
    secrets_seen.extend(recovery.iter().map(|c| c.replace('-', "")));
    for entry in entries {
        let entry = entry.to_string();
        for secret in &secrets_seen {
            assert!(!entry.contains(secret.as_str()), "an audit entry holds a secret ({secret}): {entry}");
        }
    }

    let (member, _) = app.user("nosy@example.com", Role::Member).await;
    assert_error(member.get(app.url("/api/v1/audit")).send().await.unwrap(), 403, "forbidden").await;
}
