//! SIGKILL while tasks wait on a remote provider (the Kie emulator, a real HTTP
//! server speaking Kie's protocol): after a restart every task finishes, and each
//! was submitted exactly once — the external id recorded before the first poll is
//! polled again, never resubmitted.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::{emulate, http, list_all, serve, temp_dir, wait_all_completed};

const TASKS: usize = 20;

#[tokio::test]
async fn killed_while_waiting_on_kie_every_task_is_submitted_once() {
    let dir = temp_dir();
    let data = dir.path().join("data");
    let (mut emulator, emulator_url) = emulate("kie emulator", &["kie", "--steps", "4"]);
    let emulator_url = emulator_url.as_str();
    let env = [
        ("ATELIER__PROVIDERS__KIE__API_KEY", "test-key"),
        ("ATELIER__PROVIDERS__KIE__BASE_URL", emulator_url),
        ("ATELIER__PROVIDERS__KIE__FIRST_POLL_MS", "300"),
        ("ATELIER__WORKER__LEASE_SECS", "2"),
        ("ATELIER__WORKER__IDLE_POLL_MS", "100"),
    ];
    let mut first = serve("serve #1 (kie)", &data, None, &env);
    let client = http(&first.key);
    let mut ids = BTreeSet::new();
    for n in 0..TASKS {
        let body = json!({ "model": "kie/imagen4", "input": { "prompt": format!("fox {n}") } });
        let created = client.post(format!("{}/api/v1/tasks", first.base)).json(&body).send().await.expect("create");
        assert_eq!(created.status(), 202);
        let created: Value = created.json().await.expect("json");
        ids.insert(created["task_id"].as_str().expect("id").to_owned());
    }
    // Kill once every task has been submitted (has its external id) and none is done.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let tasks = list_all(&client, &first.base, None).await;
        let submitted = tasks.iter().filter(|t| t["external_task_id"].as_str().is_some()).count();
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

    let mut second = serve("serve #2 (kie)", &data, None, &env);
    let tasks = wait_all_completed(&mut second, &mut [&mut emulator], &client, &ids, Duration::from_secs(60)).await;
    assert!(tasks.iter().all(|t| t["images"].as_array().is_some_and(|images| images.len() == 1)));
    let stats: Value =
        client.get(format!("{emulator_url}/__emulator/stats")).send().await.expect("stats").json().await.expect("json");
    assert_eq!(stats["create_task"], TASKS, "every task submitted exactly once: {stats}");
    println!("{TASKS} tasks, {} createTask calls, {} recordInfo calls", stats["create_task"], stats["record_info"]);
}
