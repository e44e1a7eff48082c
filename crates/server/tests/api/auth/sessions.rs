//! Browser sessions: a strict cookie and a CSRF token, sign-in limits, one-time
//! links, and the session probe.

use atelier_core::account::secrets;
use atelier_core::time::now_millis;
use serde_json::{Value, json};

use super::{assert_unauthorized, create_user, json_of, session_cookie, sign_in, with_cookie};
use crate::helpers::{TestApp, assert_error, client_with_key};

#[tokio::test]
async fn sessions_use_a_strict_cookie_and_a_csrf_token() {
    let app = TestApp::spawn().await;
    let password = "correct horse battery";
    create_user(&app, "web@example.com", password, "member").await;

    let response = sign_in(&app, "web@example.com", password, None).await;
    assert_eq!(response.status(), 201);
    let (cookie, header) = session_cookie(&response);
    assert!(header.contains("HttpOnly"), "{header}");
    assert!(header.contains("SameSite=Strict"), "{header}");
    let session: Value = response.json().await.unwrap();
    let csrf = session["csrf_token"].as_str().unwrap().to_owned();
    assert!(csrf.len() >= 32);
    assert!(!header.contains(&csrf), "the CSRF token is not the cookie");

    let browser = with_cookie(&cookie, None);
    let me = json_of(&browser, &app, "/api/v1/me").await;
    assert_eq!((me["email"].as_str(), me["signed_in_with"].as_str()), (Some("web@example.com"), Some("session")));
    assert_eq!(me["csrf_token"], csrf.as_str());

    let task = json!({ "model": "local/placeholder", "input": { "prompt": "from a browser" } });
    let before = json_of(&browser, &app, "/api/v1/tasks").await["tasks"].as_array().unwrap().len();
    let response = browser.post(app.url("/api/v1/tasks")).json(&task).send().await.unwrap();
    assert_error(response, 403, "csrf_token_missing").await;
    let response = with_cookie(&cookie, Some("not-the-token")).post(app.url("/api/v1/tasks")).json(&task).send().await;
    assert_error(response.unwrap(), 403, "csrf_token_missing").await;
    // Another session's token is no good either.
    let other: Value = sign_in(&app, "web@example.com", password, None).await.json().await.unwrap();
    let response = with_cookie(&cookie, other["csrf_token"].as_str()).post(app.url("/api/v1/tasks")).json(&task);
    assert_error(response.send().await.unwrap(), 403, "csrf_token_missing").await;
    assert_eq!(json_of(&browser, &app, "/api/v1/tasks").await["tasks"].as_array().unwrap().len(), before);
    let signed = with_cookie(&cookie, Some(&csrf));
    assert_eq!(signed.post(app.url("/api/v1/tasks")).json(&task).send().await.unwrap().status(), 202);
    assert_eq!(json_of(&browser, &app, "/api/v1/tasks").await["tasks"].as_array().unwrap().len(), before + 1);

    // Signing out ends the session: the cookie is worthless from then on.
    assert_error(browser.delete(app.url("/api/v1/sessions/current")).send().await.unwrap(), 403, "csrf_token_missing")
        .await;
    let out = signed.delete(app.url("/api/v1/sessions/current")).send().await.unwrap();
    assert_eq!(out.status(), 204);
    assert!(out.headers()["set-cookie"].to_str().unwrap().contains("Max-Age=0"));
    assert_unauthorized(browser.get(app.url("/api/v1/me")).send().await.unwrap(), "signed out").await;
    assert_unauthorized(signed.post(app.url("/api/v1/tasks")).json(&task).send().await.unwrap(), "signed out").await;
}

#[tokio::test]
async fn wrong_passwords_are_401_and_repeated_ones_429() {
    let app = TestApp::spawn().await;
    let password = "correct horse battery";
    create_user(&app, "guess@example.com", password, "member").await;
    create_user(&app, "bystander@example.com", password, "member").await;
    assert_error(sign_in(&app, "guess@example.com", "wrong password!", None).await, 401, "unauthorized").await;
    assert_error(sign_in(&app, "nobody@example.com", password, None).await, 401, "unauthorized").await;
    // A success clears the count.
    assert_eq!(sign_in(&app, "guess@example.com", password, None).await.status(), 201);
    for _ in 0..5 {
        assert_error(sign_in(&app, "guess@example.com", "wrong password!", None).await, 401, "unauthorized").await;
    }
    // Even the right password waits now.
    let response = sign_in(&app, "GUESS@example.com", password, None).await;
    let retry_after: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=300).contains(&retry_after), "{retry_after}");
    assert_error(response, 429, "rate_limit_exceeded").await;
    // Another account is not held up.
    assert_eq!(sign_in(&app, "bystander@example.com", password, None).await.status(), 201);
}

#[tokio::test]
async fn a_one_time_link_signs_in_once() {
    let app = TestApp::spawn().await;
    let admin = app.accounts.store().find_user_by_email("admin@localhost").await.unwrap().unwrap();
    let token = secrets::new_token();
    let store = app.accounts.store();
    store.create_sign_in_link(&admin.id, &secrets::token_hash(&token), now_millis() + 60_000).await.unwrap();
    let stale = secrets::new_token();
    store.create_sign_in_link(&admin.id, &secrets::token_hash(&stale), now_millis() - 1_000).await.unwrap();

    let anonymous = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let link = app.url(&format!("/api/v1/sessions/link?token={token}"));
    let response = anonymous.get(&link).send().await.unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/");
    let (cookie, header) = session_cookie(&response);
    assert!(header.contains("HttpOnly") && header.contains("SameSite=Strict"), "{header}");
    let me = json_of(&with_cookie(&cookie, None), &app, "/api/v1/me").await;
    assert_eq!((me["email"].as_str(), me["role"].as_str()), (Some("admin@localhost"), Some("admin")));

    let again = anonymous.get(&link).send().await.unwrap();
    assert!(!again.headers().contains_key("set-cookie"));
    assert_error(again, 401, "unauthorized").await;
    let response = anonymous.get(app.url(&format!("/api/v1/sessions/link?token={stale}"))).send().await.unwrap();
    assert_error(response, 401, "unauthorized").await;
    let response = anonymous.get(app.url("/api/v1/sessions/link?token=made-up")).send().await.unwrap();
    assert_error(response, 401, "unauthorized").await;
}

#[tokio::test]
async fn the_session_probe_answers_200_whether_signed_in_or_not() {
    let app = TestApp::spawn().await;
    let password = "correct horse battery";
    create_user(&app, "probe@example.com", password, "member").await;
    let anonymous = client_with_key(None);
    let probe = |client: &reqwest::Client| client.get(app.url("/api/v1/sessions/current")).send();

    let answer = probe(&anonymous).await.unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.json::<Value>().await.unwrap(), json!({ "signed_in": false }));
    let forged = with_cookie("atelier_session=forged", None);
    assert_eq!(probe(&forged).await.unwrap().json::<Value>().await.unwrap(), json!({ "signed_in": false }));

    let response = sign_in(&app, "probe@example.com", password, None).await;
    let (cookie, _) = session_cookie(&response);
    let csrf = response.json::<Value>().await.unwrap()["csrf_token"].as_str().unwrap().to_owned();
    let state: Value = probe(&with_cookie(&cookie, None)).await.unwrap().json().await.unwrap();
    assert_eq!(state["signed_in"], true);
    assert_eq!(state["me"]["email"], "probe@example.com");
    assert_eq!(state["me"]["csrf_token"], csrf.as_str());
    assert_eq!(state["me"]["signed_in_with"], "session");

    // A key is not a browser session: the probe looks at the cookie only.
    let with_key: Value = probe(&app.http).await.unwrap().json().await.unwrap();
    assert_eq!(with_key, json!({ "signed_in": false }));

    let signed = with_cookie(&cookie, Some(&csrf));
    assert_eq!(signed.delete(app.url("/api/v1/sessions/current")).send().await.unwrap().status(), 204);
    let after: Value = probe(&signed).await.unwrap().json().await.unwrap();
    assert_eq!(after, json!({ "signed_in": false }));
}
