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
