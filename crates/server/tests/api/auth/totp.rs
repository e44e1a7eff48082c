//! TOTP, checked against oathtool and zbarimg.

use std::process::Command;
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};

use super::{create_user, json_of, session_cookie, sign_in, unix_now, with_cookie};
use crate::helpers::{TestApp, assert_error, tools_present};

/// oathtool's code for the secret, at `unix_secs` (now when `None`).
fn oathtool(secret: &str, unix_secs: Option<i64>) -> String {
    let mut command = Command::new("oathtool");
    command.args(["--totp", "-b", secret]);
    if let Some(secs) = unix_secs {
        let at = chrono::DateTime::from_timestamp(secs, 0).unwrap();
        command.arg(format!("--now={}", at.format("%Y-%m-%d %H:%M:%S UTC")));
    }
    let output = command.output().unwrap();
    assert!(output.status.success(), "oathtool: {}", String::from_utf8_lossy(&output.stderr));
    let code = String::from_utf8(output.stdout).unwrap().trim().to_owned();
    assert!(code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()), "{code}");
    code
}

/// Waits out the end of a 30-second step, so that a code made now is still this
/// step's when the server checks it.
async fn away_from_a_step_edge() {
    let into_step = unix_now() % 30;
    if into_step >= 27 {
        tokio::time::sleep(Duration::from_secs(u64::try_from(31 - into_step).unwrap())).await;
    }
}

#[tokio::test]
async fn totp_enrolment_and_sign_in_agree_with_oathtool_and_zbarimg() {
    if !tools_present(&["oathtool", "zbarimg"]) {
        return;
    }
    let app = TestApp::spawn().await;
    let email = "two.factor@example.com";
    let password = "correct horse battery";
    let user_id = create_user(&app, email, password, "member").await;
    let response = sign_in(&app, email, password, None).await;
    let (cookie, _) = session_cookie(&response);
    let csrf = response.json::<Value>().await.unwrap()["csrf_token"].as_str().unwrap().to_owned();
    let browser = with_cookie(&cookie, Some(&csrf));

    let response = browser.post(app.url("/api/v1/me/totp")).send().await.unwrap();
    assert_eq!(response.status(), 201);
    let enrolment: Value = response.json().await.unwrap();
    let uri = enrolment["otpauth_uri"].as_str().unwrap().to_owned();
    assert!(uri.starts_with("otpauth://totp/"), "{uri}");
    let parsed = url::Url::parse(&uri).unwrap();
    let query: std::collections::HashMap<String, String> = parsed.query_pairs().into_owned().collect();
    let secret = query["secret"].clone();
    assert_eq!(enrolment["secret"], secret.as_str());
    assert_eq!(query.get("issuer").map(String::as_str), Some("Atelier"));
    assert!(enrolment["qr_svg"].as_str().unwrap().contains("<svg"), "{}", enrolment["qr_svg"]);

    // zbarimg reads the PNG back to the very same URI.
    let png = enrolment["qr_png"].as_str().unwrap().strip_prefix("data:image/png;base64,").expect("a PNG data URI");
    let png = base64::engine::general_purpose::STANDARD.decode(png).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("totp.png");
    std::fs::write(&file, &png).unwrap();
    let output = Command::new("zbarimg").args(["--raw", "-q"]).arg(&file).output().unwrap();
    assert!(output.status.success(), "zbarimg: {}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(String::from_utf8(output.stdout).unwrap().trim_end_matches('\n'), uri);

    // Stored sealed, never in clear.
    let stored = app.accounts.store().get_user(&atelier_core::UserId::parse(&user_id).unwrap()).await.unwrap().unwrap();
    let sealed = stored.totp_secret.expect("stored");
    assert!(!sealed.contains(&secret) && !sealed.to_ascii_uppercase().contains(&secret), "{sealed}");

    // Confirmed with the previous step's code (within the allowed skew), so that
    // the current step's code is still fresh for the sign-in below.
    away_from_a_step_edge().await;
    let wrong = browser.post(app.url("/api/v1/me/totp/confirm")).json(&json!({ "code": "000000" })).send().await;
    assert_error(wrong.unwrap(), 422, "validation_error").await;
    let previous = oathtool(&secret, Some(unix_now() - 30));
    let response =
        browser.post(app.url("/api/v1/me/totp/confirm")).json(&json!({ "code": previous })).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let codes: Value = response.json().await.unwrap();
    let recovery: Vec<String> =
        codes["recovery_codes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_owned()).collect();
    assert_eq!(recovery.len(), 10);
    assert_eq!(recovery.iter().collect::<std::collections::HashSet<_>>().len(), 10);

    assert_error(sign_in(&app, email, password, None).await, 401, "totp_required").await;
    assert_error(sign_in(&app, email, "wrong password!", Some(&previous)).await, 401, "unauthorized").await;
    away_from_a_step_edge().await;
    let current = oathtool(&secret, None);
    assert_eq!(sign_in(&app, email, password, Some(&current)).await.status(), 201);
    assert_error(sign_in(&app, email, password, Some(&current)).await, 401, "unauthorized").await;
    let stale = oathtool(&secret, Some(unix_now() - 300));
    assert_ne!(stale, current);
    assert_error(sign_in(&app, email, password, Some(&stale)).await, 401, "unauthorized").await;
    assert_eq!(sign_in(&app, email, password, Some(&recovery[0])).await.status(), 201);
    assert_error(sign_in(&app, email, password, Some(&recovery[0])).await, 401, "unauthorized").await;

    // Off with a code: the next step's (within the skew, and later than the last used).
    let off = browser.delete(app.url("/api/v1/me/totp")).json(&json!({ "code": current })).send().await.unwrap();
    assert_error(off, 422, "validation_error").await;
    assert!(json_of(&browser, &app, "/api/v1/me").await["totp_enabled"].as_bool().unwrap());
    let next = oathtool(&secret, Some(unix_now() + 30));
    let off = browser.delete(app.url("/api/v1/me/totp")).json(&json!({ "code": next })).send().await.unwrap();
    assert_eq!(off.status(), 204);
    assert!(!json_of(&browser, &app, "/api/v1/me").await["totp_enabled"].as_bool().unwrap());
    assert_eq!(sign_in(&app, email, password, None).await.status(), 201);
    let stored = app.accounts.store().get_user(&atelier_core::UserId::parse(&user_id).unwrap()).await.unwrap().unwrap();
    assert_eq!(stored.totp_secret, None);
}
