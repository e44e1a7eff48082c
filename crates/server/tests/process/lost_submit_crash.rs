//! SIGKILL in the one gap durable state cannot close: the provider has accepted
//! (and charged for) a job, and Atelier has not stored its id. The emulators hold
//! the create's answer (`timeout` fault: the job is made, the answer never comes
//! in time), the server is killed while it waits, and a new server on the same
//! data finds each job the way the protocol allows: Kie's callback carries
//! Atelier's task id; OpenAI's video list is searched by prompt, model and time.
//! Every task ends with its result, and every job was created once.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use atelier_testkit::TestDatabase;
use serde_json::{Value, json};

use crate::harness::{Process, Server, emulate, free_port, http, serve_at, temp_dir, wait_all_completed};

/// Fewer than the worker's default concurrency (4), so every submit is in flight at the kill.
const TASKS: u64 = 3;

#[tokio::test]
async fn killed_after_kie_accepted_its_callback_names_the_job_and_nothing_is_sent_twice() {
    kie_callback_finds_the_job(None).await;
}

#[tokio::test]
async fn killed_after_kie_accepted_on_postgres_its_callback_names_the_job() {
    let Some(database) = TestDatabase::postgres().await else { return };
    kie_callback_finds_the_job(Some(&database.url)).await;
}

async fn kie_callback_finds_the_job(database_url: Option<&str>) {
    let (mut kie, kie_url) = emulate(
        "kie emulator",
        // The callback comes 6 s after the create: after the kill and the restart.
        &["kie", "--fault", "createTask:always:timeout", "--callback-delay-ms", "6000", "--webhook-hmac-key", "hook"],
    );
    let port = free_port();
    let callback = format!("http://127.0.0.1:{port}/api/v1/callbacks/kie");
    let env = [
        ("ATELIER__PROVIDERS__KIE__API_KEY", "test-key"),
        ("ATELIER__PROVIDERS__KIE__BASE_URL", kie_url.as_str()),
        ("ATELIER__PROVIDERS__KIE__CALLBACK_URL", callback.as_str()),
        ("ATELIER__PROVIDERS__KIE__WEBHOOK_HMAC_KEY", "hook"),
        ("ATELIER__PROVIDERS__KIE__FIRST_POLL_MS", "300"),
        ("ATELIER__WORKER__LEASE_SECS", "2"),
        ("ATELIER__WORKER__IDLE_POLL_MS", "100"),
    ];
    let model_input = |n: u64| json!({ "model": "kie/imagen4", "input": { "prompt": format!("fox {n}") } });
    let (tasks, stats) =
        kill_while_submitting(&mut kie, &kie_url, port, database_url, &env, model_input, "create_task").await;
    assert!(tasks.iter().all(|t| t["images"].as_array().is_some_and(|images| images.len() == 1)), "{tasks:?}");
    assert_eq!(stats["callbacks_sent"], TASKS, "each job was found by its callback: {stats}");
}

#[tokio::test]
async fn killed_after_openai_accepted_a_video_the_list_finds_it_and_nothing_is_sent_twice() {
    let (mut openai, openai_url) =
        emulate("openai emulator", &["openai", "--fault", "videos.create:always:timeout", "--poll-after-ms", "100"]);
    let base_url = format!("{openai_url}/v1");
    let env = [
        ("ATELIER__PROVIDERS__OPENAI__API_KEY", "test-key"),
        ("ATELIER__PROVIDERS__OPENAI__BASE_URL", base_url.as_str()),
        ("ATELIER__PROVIDERS__OPENAI__FIRST_POLL_MS", "100"),
        ("ATELIER__WORKER__LEASE_SECS", "2"),
        ("ATELIER__WORKER__IDLE_POLL_MS", "100"),
    ];
    let model_input =
        |n: u64| json!({ "model": "openai/sora-2", "input": { "prompt": format!("waves {n}"), "seconds": "4" } });
    let (tasks, stats) =
        kill_while_submitting(&mut openai, &openai_url, free_port(), None, &env, model_input, "videos_create").await;
    assert!(tasks.iter().all(|t| t["images"][0]["mime_type"] == "video/mp4"), "{tasks:?}");
    assert!(stats["videos_list"].as_u64().is_some_and(|n| n >= 1), "found through the list: {stats}");
}

/// Creates [`TASKS`] tasks, SIGKILLs the server once the provider has accepted each
/// of them (its `creates` counter), starts a new server on the same data and port,
/// and waits for every task to complete. Asserts one create per task; returns the
/// tasks and the provider's stats.
async fn kill_while_submitting(
    provider: &mut Process,
    provider_url: &str,
    port: u16,
    database_url: Option<&str>,
    env: &[(&str, &str)],
    body: impl Fn(u64) -> Value,
    creates: &str,
) -> (Vec<Value>, Value) {
    let dir = temp_dir();
    let data = dir.path().join("data");
    let listen = format!("127.0.0.1:{port}");
    let mut first = serve_at("serve #1", &listen, &data, database_url, env);
    let client = http(&first.key);
    let mut ids = BTreeSet::new();
    for n in 0..TASKS {
        let created = client.post(format!("{}/api/v1/tasks", first.base)).json(&body(n)).send().await.expect("create");
        assert_eq!(created.status(), 202);
        let created: Value = created.json().await.expect("json");
        ids.insert(created["task_id"].as_str().expect("id").to_owned());
    }
    let stats_url = format!("{provider_url}/__emulator/stats");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let stats: Value = client.get(&stats_url).send().await.expect("stats").json().await.expect("json");
        if stats[creates] == TASKS {
            break;
        }
        assert!(Instant::now() < deadline, "the provider saw {} of {TASKS} creates: {stats}", stats[creates]);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let tasks = crate::harness::list_all(&client, &first.base, None).await;
    assert!(
        tasks.iter().all(|t| t["external_task_id"].is_null() && t["status"] == "processing"),
        "killed while every answer is outstanding: {tasks:?}"
    );
    first.process.kill_hard();
    drop(first);

    let mut second: Server = serve_at("serve #2", &listen, &data, database_url, env);
    // A new client: the old one's pooled connections went to the killed server on this address.
    let client = http(&second.key);
    let tasks = wait_all_completed(&mut second, &mut [provider], &client, &ids, Duration::from_secs(60)).await;
    let stats: Value = client.get(&stats_url).send().await.expect("stats").json().await.expect("json");
    assert_eq!(stats[creates], TASKS, "every job created exactly once: {stats}");
    assert!(tasks.iter().all(|t| t["external_task_id"].is_string()), "{tasks:?}");
    (tasks, stats)
}
