//! Logs, at debug level, hold no key, password, token or base64 payload, whatever
//! the requests carried. Each request goes as far as the secret it carries can go
//! (a wrong key as far as the key lookup, a payload through the worker and the
//! engine), so that code which would log it runs.

use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};

use crate::harness::{http, serve, temp_dir, wait_completed};

#[tokio::test]
async fn debug_logs_hold_no_secrets_and_no_payloads() {
    let dir = temp_dir();
    let data = dir.path().join("data");
    let env = [("ATELIER__LOG__LEVEL", "debug"), ("RUST_LOG", "debug")];
    let mut server = serve("serve (logs)", &data, None, &env);
    let base = server.base.clone();
    let client = http(&server.key);
    let anonymous = reqwest::Client::new();

    let password = "correct-horse-battery-staple-42";
    let created = client
        .post(format!("{base}/api/v1/users"))
        .json(&json!({ "email": "ada@example.com", "password": password }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let signed_in = anonymous
        .post(format!("{base}/api/v1/sessions"))
        .json(&json!({ "email": "ada@example.com", "password": password }))
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), 201);
    let cookie = signed_in.headers()["set-cookie"].to_str().unwrap().to_owned();
    let session_token = cookie.split(';').next().unwrap().split_once('=').unwrap().1.to_owned();
    let wrong = anonymous
        .post(format!("{base}/api/v1/sessions"))
        .json(&json!({ "email": "ada@example.com", "password": "not-the-password-at-all" }))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let link_token = "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_AbCdE";
    let link = anonymous.get(format!("{base}/api/v1/sessions/link?token={link_token}")).send().await.unwrap();
    assert_eq!(link.status(), 401);
    // A payload within the prompt's 4,000 characters, so that the task is accepted
    // and runs: the store, the worker and the engine all handle it at debug level.
    let mut payload = Vec::new();
    for i in 0..600u32 {
        payload.extend_from_slice(&i.to_le_bytes());
    }
    let base64_payload = base64::engine::general_purpose::STANDARD.encode(&payload);
    let uri = format!("data:image/png;base64,{base64_payload}");
    let task = client
        .post(format!("{base}/api/v1/tasks"))
        .json(&json!({ "model": "local/placeholder", "input": { "prompt": uri } }))
        .send()
        .await
        .unwrap();
    assert_eq!(task.status(), 202, "the payload's task must be accepted to go through the worker");
    let task_id = task.json::<Value>().await.unwrap()["task_id"].as_str().unwrap().to_owned();
    wait_completed(&mut server, &client, 1, Duration::from_secs(30)).await;
    // A key is `atl_<12 hex digits>_<secret>`, and the secret may hold `_` too.
    let [_, key_id, cli_secret] = server.key.splitn(3, '_').collect::<Vec<_>>()[..] else {
        panic!("not a key: {}", server.key)
    };
    // A well-formed key with the CLI key's prefix and a wrong secret: past the
    // shape check, it is looked up and compared.
    let wrong_secret = "WrongSecretThatThisServerNeverIssued0123456";
    let wrong_key = format!("atl_{key_id}_{wrong_secret}");
    let bad = client.get(format!("{base}/api/v1/tasks")).header("authorization", format!("Bearer {wrong_key}"));
    let bad = bad.send().await.unwrap();
    assert_eq!(bad.status(), 401);
    let refusal = bad.json::<Value>().await.unwrap();
    assert_eq!(refusal["message"], "unknown API key", "refused before the lookup: {refusal}");
    tokio::time::sleep(Duration::from_millis(300)).await;

    let lines = server.process.stderr_lines();
    assert!(lines.len() > 5, "debug logging wrote almost nothing: {lines:?}");
    // The first start prints its one-time link once, on purpose (to the terminal,
    // not through the log); everything else is the log.
    let logged: Vec<&String> = lines.iter().filter(|line| !line.contains("Sign in once")).collect();
    assert!(
        logged.iter().any(|line| line.contains("/api/v1/sessions/link")),
        "the link request was not logged at all, so this test would prove nothing"
    );
    assert!(
        logged.iter().any(|line| line.contains(&task_id)),
        "the payload's task left no line in the log, so this test would prove nothing"
    );
    let secrets = [
        ("the CLI key", server.key.as_str()),
        ("the CLI key's secret part", cli_secret),
        ("a password", password),
        ("a wrong password", "not-the-password-at-all"),
        ("a session token", session_token.as_str()),
        ("a one-time link token", link_token),
        ("a wrong key", wrong_key.as_str()),
        ("a wrong key's secret part", wrong_secret),
        ("a base64 payload", &base64_payload[..64]),
    ];
    for (what, secret) in secrets {
        if let Some(line) = logged.iter().find(|line| line.contains(secret)) {
            panic!("{what} is in the log: {line}");
        }
    }
}
