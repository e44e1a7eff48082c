//! A pipeline run survives SIGKILL: during a wait for feedback (the stored
//! deadline is kept: the run goes on after it, with no one there) and during a
//! phase whose call is at the provider (the emulated Gemini, slowed down). The run
//! resumes on the restarted server, no finished phase is redone, and every phase
//! is recorded once.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::{Server, emulate, http, serve, temp_dir};

async fn run_view(client: &reqwest::Client, server: &Server, id: &str) -> Value {
    let response = client.get(format!("{}/api/v1/pipelines/{id}", server.base)).send().await.expect("get run");
    response.json().await.expect("json")
}

async fn wait_until(
    client: &reqwest::Client,
    server: &mut Server,
    id: &str,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let run = run_view(client, server, id).await;
        if done(&run) {
            return run;
        }
        assert_ne!(run["status"], "failed", "{what}: {run}\n{}", server.process.tail());
        assert!(Instant::now() < deadline, "{what}: still {run}\n{}", server.process.tail());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn stats(url: &str) -> Value {
    reqwest::get(format!("{url}/__emulator/stats")).await.expect("stats").json().await.expect("json")
}

#[tokio::test]
async fn a_run_killed_during_a_wait_and_during_a_phase_resumes_and_records_each_phase_once() {
    // Every answer takes 1.5 s: long enough to kill the server while one is out.
    let (_emulator, url) = emulate("google emulator", &["google", "--fault", "generate_content:always:latency=1500"]);
    let api = format!("{url}/v1beta");
    let env = [
        ("ATELIER__PROVIDERS__GOOGLE__API_KEY", "test-key"),
        ("ATELIER__PROVIDERS__GOOGLE__BASE_URL", api.as_str()),
        ("ATELIER__WORKER__LEASE_SECS", "2"),
        ("ATELIER__WORKER__IDLE_POLL_MS", "100"),
        ("ATELIER__PIPELINES__SWEEP_MS", "100"),
    ];
    let dir = temp_dir();
    let data = dir.path().join("data");
    let mut first = serve("serve #1", &data, None, &env);
    let client = http(&first.key);
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/gift-of-the-magi.txt"),
    )
    .unwrap();
    let body = json!({ "text": text, "text_model": "google/gemini-2.5-flash", "feedback_mode": { "timeout_seconds": 3 }, "last_phase": 3 });
    let created: Value =
        client.post(format!("{}/api/v1/pipelines", first.base)).json(&body).send().await.unwrap().json().await.unwrap();
    let id = created["id"].as_str().expect("a run").to_owned();

    // Killed while waiting for feedback after phase 1.
    let waiting = wait_until(&client, &mut first, &id, "phase 1's wait", |run| run["status"] == "waiting_input").await;
    let deadline = waiting["waiting_until"].clone();
    first.process.kill_hard();
    drop(first);
    let mut second = serve("serve #2", &data, None, &env);
    let after_wait = run_view(&client, &second, &id).await;
    assert!(
        after_wait["status"] != "waiting_input" || after_wait["waiting_until"] == deadline,
        "the wait's deadline is kept: {after_wait}"
    );

    // With no one there, the wait ends at its deadline and phase 2 starts; killed
    // while its call is at the provider.
    wait_until(&client, &mut second, &id, "phase 2 at the provider", |run| {
        run["phase"] == 2 && run["status"] == "running"
    })
    .await;
    let until = Instant::now() + Duration::from_secs(20);
    while stats(&url).await["generate_content"].as_u64().unwrap_or(0) < 2 {
        assert!(Instant::now() < until, "phase 2's call never reached the emulator");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    second.process.kill_hard();
    drop(second);
    let mut third = serve("serve #3", &data, None, &env);
    let done = wait_until(&client, &mut third, &id, "the run's end", |run| run["status"] == "completed").await;
    assert_eq!(done["phase"], 3);

    let tree: Value = client
        .get(format!("{}/api/v1/pipelines/{id}/versions", third.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let phases: Vec<u64> = tree["versions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|version| version["kind"] == "phase")
        .map(|version| version["phase"].as_u64().unwrap())
        .collect();
    assert_eq!(phases, [1, 2, 3], "every phase recorded once");
    // Phase 1 and 3 asked once; phase 2's lost answer was asked for again once.
    let calls = stats(&url).await["generate_content"].as_u64().unwrap();
    assert!((3..=4).contains(&calls), "{calls} calls");
    println!("{calls} generateContent calls for 3 phases with a kill during phase 2's call");
}

/// Panel image tasks of the run's image model that completed, by task id.
async fn completed_panels(client: &reqwest::Client, server: &Server) -> Vec<String> {
    let page: Value = client
        .get(format!("{}/api/v1/tasks?status=completed&model=openai/gpt-image-1&limit=200", server.base))
        .send()
        .await
        .expect("tasks")
        .json()
        .await
        .expect("json");
    page["tasks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|task| task["input"]["prompt"].as_str().is_some_and(|prompt| prompt.contains("manga panel")))
        .filter_map(|task| task["task_id"].as_str().map(str::to_owned))
        .collect()
}

/// SIGKILL while phase 5 draws panels through a paid image model (the OpenAI
/// emulator, each image 1.5 s, three at once): the panels drawn before the kill
/// are kept, not drawn again, and the model is called at most once more for each
/// panel that was out at the moment of the kill.
#[tokio::test]
async fn a_run_killed_while_drawing_panels_keeps_the_panels_it_has() {
    let (_emulator, url) = emulate(
        "openai emulator",
        &[
            "openai",
            "--api-key",
            "k",
            "--fault",
            "images.generations:always:latency=1500",
            "--fault",
            "images.edits:always:latency=1500",
        ],
    );
    let api = format!("{url}/v1");
    let env = [
        ("ATELIER__PROVIDERS__OPENAI__API_KEY", "k"),
        ("ATELIER__PROVIDERS__OPENAI__BASE_URL", api.as_str()),
        ("ATELIER__WORKER__LEASE_SECS", "2"),
        ("ATELIER__WORKER__IDLE_POLL_MS", "100"),
        ("ATELIER__PIPELINES__SWEEP_MS", "100"),
    ];
    let dir = temp_dir();
    let data = dir.path().join("data");
    let mut first = serve("serve #1", &data, None, &env);
    let client = http(&first.key);
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/gift-of-the-magi.txt"),
    )
    .unwrap();
    let body = json!({
        "text": text, "image_model": "openai/gpt-image-1", "feedback_mode": { "enabled": false },
        "last_phase": 5, "options": { "max_parallel": 3 },
    });
    let created: Value =
        client.post(format!("{}/api/v1/pipelines", first.base)).json(&body).send().await.unwrap().json().await.unwrap();
    let id = created["id"].as_str().expect("a run").to_owned();

    // Killed once some panels are drawn and others are out.
    let deadline = Instant::now() + Duration::from_secs(90);
    let before = loop {
        let done = completed_panels(&client, &first).await;
        if done.len() >= 2 {
            break done;
        }
        let run = run_view(&client, &first, &id).await;
        assert_ne!(run["status"], "failed", "{run}");
        assert!(Instant::now() < deadline, "no panel drawn: {run}\n{}", first.process.tail());
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    first.process.kill_hard();
    drop(first);
    let calls_at_kill = {
        let stats = stats(&url).await;
        stats["images_generations"].as_u64().unwrap_or(0) + stats["images_edits"].as_u64().unwrap_or(0)
    };
    let mut second = serve("serve #2", &data, None, &env);
    let done = wait_until(&client, &mut second, &id, "the run's end", |run| run["status"] == "completed").await;
    let head = done["head_version_id"].as_str().unwrap();
    let version: Value = client
        .get(format!("{}/api/v1/pipelines/{id}/versions/{head}", second.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let panels = version["document"]["art"]["panels"].as_array().unwrap().clone();
    let used: Vec<&str> = panels.iter().filter_map(|panel| panel["task_id"].as_str()).collect();
    for task in &before {
        assert!(used.contains(&task.as_str()), "panel task {task}, drawn before the kill, is the panel's image");
    }
    let stats = stats(&url).await;
    let calls = stats["images_generations"].as_u64().unwrap_or(0) + stats["images_edits"].as_u64().unwrap_or(0);
    let sheets = version["document"]["characters"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|character| character["sheets"].as_array().is_some_and(|sheets| !sheets.is_empty()))
        .count() as u64;
    let drawn = panels.iter().filter(|panel| panel["source"] != "reused").count() as u64;
    assert!(
        calls <= sheets + drawn + 3,
        "{calls} image calls for {sheets} sheets and {drawn} panels: at most 3 more (those out at the kill)"
    );
    println!("{calls} image calls ({calls_at_kill} before the kill) for {sheets} sheets and {drawn} panels drawn");
}
