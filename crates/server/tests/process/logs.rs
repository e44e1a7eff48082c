//! Logs, at debug level, hold no key, password, token or base64 payload, whatever
//! the requests carried. Each request goes as far as the secret it carries can go
//! (a wrong key as far as the key lookup, a payload through the worker and the
//! engine), so that code which would log it runs.
//!
//! And with `log.dir` set, the log goes to files there instead of stderr.

use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};

use nix::sys::signal::Signal;

use crate::harness::{atelier, http, run_cli, serve, temp_dir, wait_completed};

#[tokio::test]
async fn debug_logs_hold_no_secrets_and_no_payloads() {
    let dir = temp_dir();
    let data = dir.path().join("data");
    let metrics_token = "MetricsScraperToken-0123456789abcdef";
    // The webhooks' address is allowed, and refuses: each delivery is signed and sent.
    let env = [
        ("ATELIER__LOG__LEVEL", "debug"),
        ("RUST_LOG", "debug"),
        ("ATELIER__METRICS__TOKEN", metrics_token),
        ("ATELIER__FETCH__ALLOW", "[\"127.0.0.1:9\"]"),
    ];
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
    // Webhooks, made before the task so that its completion is signed and sent: one
    // with a secret of the caller's, one with a secret the server makes.
    let own_webhook_secret = format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode([42u8; 32]));
    let mut webhook_secrets = vec![own_webhook_secret.clone()];
    for secret in [Some(own_webhook_secret.as_str()), None] {
        let mut body = json!({ "url": "http://127.0.0.1:9/hook", "events": ["task.completed"] });
        if let Some(secret) = secret {
            body["secret"] = secret.into();
        }
        let hook = client.post(format!("{base}/api/v1/webhooks")).json(&body).send().await.unwrap();
        assert_eq!(hook.status(), 201, "{}", hook.text().await.unwrap_or_default());
        let made = hook.json::<Value>().await.unwrap()["secret"].as_str().unwrap().to_owned();
        if secret.is_none() {
            webhook_secrets.push(made);
        }
    }
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
    // The OpenAI-compatible routes: the key as the SDKs send it, a good one (an image
    // is made) and a wrong one.
    let generate = json!({ "model": "local/placeholder", "prompt": "a lighthouse", "response_format": "b64_json" });
    let made = client.post(format!("{base}/v1/images/generations")).json(&generate).send().await.unwrap();
    assert_eq!(made.status(), 200, "{}", made.text().await.unwrap_or_default());
    let openai_wrong_secret = "OpenAiSdkSecretThisServerNeverIssued98765";
    let openai_wrong_key = format!("atl_{key_id}_{openai_wrong_secret}");
    let refused = anonymous
        .post(format!("{base}/v1/images/generations"))
        .header("authorization", format!("Bearer {openai_wrong_key}"))
        .json(&generate)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    // /metrics with the scraper's token, and with a wrong one.
    let scraped = anonymous.get(format!("{base}/metrics")).bearer_auth(metrics_token).send().await.unwrap();
    assert_eq!(scraped.status(), 200);
    let wrong_metrics_token = "NotTheMetricsToken-fedcba9876543210";
    let refused = anonymous.get(format!("{base}/metrics")).bearer_auth(wrong_metrics_token).send().await.unwrap();
    assert_eq!(refused.status(), 401);
    // A delivery of the completion was tried (signed with both secrets).
    let deliveries = client.get(format!("{base}/api/v1/webhooks")).send().await.unwrap().json::<Value>().await.unwrap();
    let hook_id =
        deliveries["webhooks"][0]["id"].as_str().unwrap_or_else(|| panic!("no webhook: {deliveries}")).to_owned();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let log = client.get(format!("{base}/api/v1/webhooks/{hook_id}/deliveries")).send().await.unwrap();
        let log = log.json::<Value>().await.unwrap();
        let tried = log["deliveries"]
            .as_array()
            .is_some_and(|deliveries| deliveries.iter().any(|delivery| delivery["attempts"].as_u64().unwrap_or(0) > 0));
        if tried {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no delivery was tried: {log}\n{}", server.process.tail());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
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
    for path in ["/api/v1/webhooks", "/v1/images/generations", "/metrics"] {
        assert!(
            logged.iter().any(|line| line.contains(path)),
            "no request to {path} was logged, so this test would prove nothing there"
        );
    }
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
        ("a webhook secret of the caller's", webhook_secrets[0].as_str()),
        ("a webhook secret the server made", webhook_secrets[1].as_str()),
        ("a webhook secret's key part", webhook_secrets[1].trim_start_matches("whsec_")),
        ("a wrong key on /v1", openai_wrong_key.as_str()),
        ("a wrong key's secret part on /v1", openai_wrong_secret),
        ("the metrics token", metrics_token),
        ("a wrong metrics token", wrong_metrics_token),
    ];
    for (what, secret) in secrets {
        if let Some(line) = logged.iter().find(|line| line.contains(secret)) {
            panic!("{what} is in the log: {line}");
        }
    }
}

/// With `log.dir` set the log goes to files there (JSON lines here, rotated by
/// size), not to stderr, up to the lines logged as the server stops. (That the
/// writer's buffer is flushed at exit is not proven here: its thread writes faster
/// than the process exits, with or without the flush.)
#[tokio::test]
async fn the_log_goes_to_files_in_log_dir() {
    let dir = temp_dir();
    let data = dir.path().join("data");
    // Not there yet: the server makes it.
    let logs = dir.path().join("logs");
    let env = [
        ("ATELIER__LOG__DIR", logs.to_str().unwrap()),
        ("ATELIER__LOG__FORMAT", "json"),
        ("ATELIER__LOG__LEVEL", "info"),
        ("ATELIER__LOG__ROTATION", "size"),
        ("ATELIER__LOG__MAX_SIZE_MB", "1"),
        ("ATELIER__LOG__KEEP", "2"),
    ];
    let mut server = serve("serve (log dir)", &data, None, &env);
    let client = http(&server.key);
    let task = client
        .post(format!("{}/api/v1/tasks", server.base))
        .json(&json!({ "model": "local/placeholder", "input": { "prompt": "a log file" } }))
        .send()
        .await
        .unwrap();
    assert_eq!(task.status(), 202);
    wait_completed(&mut server, &client, 1, Duration::from_secs(30)).await;
    server.process.signal(Signal::SIGTERM);
    let Some(status) = server.process.wait_exit(Duration::from_secs(15)).await else {
        panic!("serve did not exit within 15 s of SIGTERM\n{}", server.process.tail());
    };
    assert!(status.success(), "serve exited with {status}\n{}", server.process.tail());

    let mut names: Vec<String> = std::fs::read_dir(&logs)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["atelier-serve.000001.log"], "one file, and no write check left behind");
    let text = std::fs::read_to_string(logs.join(&names[0])).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|error| panic!("not a JSON line ({error}): {line}")))
        .collect();
    let message = |line: &Value| line["fields"]["message"].as_str().unwrap_or_default().to_owned();
    let starting = lines.iter().find(|line| message(line) == "starting").expect("the start is logged");
    assert_eq!(starting["fields"]["role"], "serve");
    assert_eq!(starting["level"], "INFO");
    // Logged as the server stops.
    assert!(
        lines.iter().any(|line| message(line).starts_with("shutdown requested")),
        "the last lines were not written out: {text}"
    );
    // The log went to the file only.
    let stderr = server.process.stderr_lines();
    assert!(
        !stderr.iter().any(|line| line.contains("\"starting\"") || line.contains("shutdown requested")),
        "the log went to stderr too: {stderr:?}"
    );
}

/// A log directory that cannot be made, or size rotation without a size, stops the
/// start with an error naming the key.
#[tokio::test]
async fn a_bad_log_setting_stops_the_start() {
    let dir = temp_dir();
    let not_a_dir = dir.path().join("a-file");
    std::fs::write(&not_a_dir, "").unwrap();
    let cases = [
        (vec![("ATELIER__LOG__DIR", not_a_dir.join("logs").to_str().unwrap().to_owned())], "log.dir"),
        (
            vec![
                ("ATELIER__LOG__DIR", dir.path().join("logs").to_str().unwrap().to_owned()),
                ("ATELIER__LOG__ROTATION", "size".to_owned()),
                ("ATELIER__LOG__MAX_SIZE_MB", "0".to_owned()),
            ],
            "log.max_size_mb",
        ),
    ];
    for (env, key) in cases {
        let mut command = atelier(["serve", "--listen", "127.0.0.1:0", "--data-dir"]);
        command.arg(dir.path().join("data"));
        command.envs(env.iter().map(|(name, value)| (*name, value.as_str())));
        let output = run_cli(command, Duration::from_secs(30)).await;
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{key}: started anyway\n{stderr}");
        assert!(stderr.contains(key), "{key}: the error does not name it\n{stderr}");
    }
}
