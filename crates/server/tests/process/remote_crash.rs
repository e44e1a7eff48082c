//! SIGKILL while tasks wait on a remote provider (the emulators, real HTTP
//! servers speaking Kie's, VolcEngine's and Google's protocols): after a restart every task
//! finishes, and each was submitted exactly once — the external id recorded before
//! the first poll is polled again, never resubmitted.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::{Process, emulate, http, list_all, serve, temp_dir, wait_all_completed};

const TASKS: usize = 20;

#[tokio::test]
async fn killed_while_waiting_on_kie_every_task_is_submitted_once() {
    let (mut emulator, url) = emulate("kie emulator", &["kie", "--steps", "4"]);
    let env = [
        ("ATELIER__PROVIDERS__KIE__API_KEY", "test-key"),
        ("ATELIER__PROVIDERS__KIE__BASE_URL", url.as_str()),
        ("ATELIER__PROVIDERS__KIE__FIRST_POLL_MS", "300"),
    ];
    let body = |n: usize| json!({ "model": "kie/imagen4", "input": { "prompt": format!("fox {n}") } });
    let stats = kill_while_polling(&mut emulator, &url, &env, body).await;
    assert_eq!(stats["create_task"], TASKS, "every task submitted exactly once: {stats}");
    println!("{TASKS} tasks, {} createTask calls, {} recordInfo calls", stats["create_task"], stats["record_info"]);
}

#[tokio::test]
async fn killed_while_waiting_on_volcengine_every_job_is_submitted_once() {
    let (mut emulator, url) = emulate("volcengine emulator", &["volcengine", "--steps", "4"]);
    let env = [
        ("ATELIER__PROVIDERS__VOLCENGINE__ACCESS_KEY_ID", "test-ak"),
        ("ATELIER__PROVIDERS__VOLCENGINE__SECRET_ACCESS_KEY", "test-sk"),
        ("ATELIER__PROVIDERS__VOLCENGINE__BASE_URL", url.as_str()),
        ("ATELIER__PROVIDERS__VOLCENGINE__FIRST_POLL_MS", "300"),
    ];
    let body = |n: usize| json!({ "model": "volcengine/jimeng_v3.1", "input": { "prompt": format!("fox {n}"), "width": 512, "height": 512 } });
    let stats = kill_while_polling(&mut emulator, &url, &env, body).await;
    assert_eq!(stats["submit_task"], TASKS, "every job submitted exactly once: {stats}");
    println!("{TASKS} tasks, {} submits, {} result polls", stats["submit_task"], stats["get_result"]);
}

#[tokio::test]
async fn killed_while_waiting_on_veo_every_video_is_submitted_once() {
    let (mut emulator, url) = emulate("google emulator", &["google", "--steps", "4"]);
    let api = format!("{url}/v1beta");
    let env = [
        ("ATELIER__PROVIDERS__GOOGLE__API_KEY", "test-key"),
        ("ATELIER__PROVIDERS__GOOGLE__BASE_URL", api.as_str()),
        ("ATELIER__PROVIDERS__GOOGLE__FIRST_POLL_MS", "300"),
    ];
    let body = |n: usize| json!({ "model": "google/veo3", "input": { "prompt": format!("waves {n}") } });
    let stats = kill_while_polling(&mut emulator, &url, &env, body).await;
    assert_eq!(stats["predict_long_running"], TASKS, "every video submitted exactly once: {stats}");
    println!("{TASKS} tasks, {} submits, {} operation polls", stats["predict_long_running"], stats["operations"]);
}

/// Creates [`TASKS`] tasks, SIGKILLs the server once each has its external id and
/// none is done, restarts it on the same data, and waits for all to complete with
/// one image each. Returns the emulator's stats.
async fn kill_while_polling(
    emulator: &mut Process,
    emulator_url: &str,
    provider_env: &[(&str, &str)],
    body: impl Fn(usize) -> Value,
) -> Value {
    let dir = temp_dir();
    let data = dir.path().join("data");
    let mut env = vec![("ATELIER__WORKER__LEASE_SECS", "2"), ("ATELIER__WORKER__IDLE_POLL_MS", "100")];
    env.extend_from_slice(provider_env);
    let mut first = serve("serve #1", &data, None, &env);
    let client = http(&first.key);
    let mut ids = BTreeSet::new();
    for n in 0..TASKS {
        let created = client.post(format!("{}/api/v1/tasks", first.base)).json(&body(n)).send().await.expect("create");
        assert_eq!(created.status(), 202);
        let created: Value = created.json().await.expect("json");
        ids.insert(created["task_id"].as_str().expect("id").to_owned());
    }
    // Kill once every task has been submitted (has its external id) and none is done.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let tasks = list_all(&client, &first.base, None).await;
        let submitted = tasks.iter().filter(|t| t["external_task_id"].as_str().is_some()).count();
        let done = tasks.iter().filter(|t| t["status"] == "completed").count();
        assert_eq!(done, 0, "a task finished before the kill: make the provider slower");
        if submitted == TASKS {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "only {submitted} of {TASKS} submitted\n{}",
            first.process.tail()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    first.process.kill_hard();
    drop(first);

    let mut second = serve("serve #2", &data, None, &env);
    let tasks = wait_all_completed(&mut second, &mut [emulator], &client, &ids, Duration::from_secs(60)).await;
    assert!(tasks.iter().all(|t| t["images"].as_array().is_some_and(|images| images.len() == 1)), "{tasks:?}");
    client.get(format!("{emulator_url}/__emulator/stats")).send().await.expect("stats").json().await.expect("json")
}
