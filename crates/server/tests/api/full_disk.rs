//! A full disk, for real: a small tmpfs mounted for the test holds the file store or
//! SQLite's database, and a filler file takes its last byte. Mounting needs root
//! (CI runs as root; elsewhere these tests say they were skipped). The worker's
//! handling of a failing store is also tested in core, with a store that fails on
//! demand (`worker::tests`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{Options, TestApp};

/// A tmpfs mounted on a temporary directory, unmounted when dropped.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// `None` (with a note) when this process may not mount.
    fn mount(size: &str) -> Option<Self> {
        let dir = tempfile::tempdir().expect("mount point");
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .is_ok_and(|status| status.success());
        if !mounted {
            eprintln!("skipped: mounting a tmpfs needs root (CI runs as root)");
            return None;
        }
        Some(Self { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a filler file until the file system refuses another byte.
    fn fill(&self) -> PathBuf {
        let path = self.path().join("filler");
        let mut file = std::fs::File::create(&path).expect("filler");
        let chunk = vec![0u8; 64 << 10];
        loop {
            match file.write(&chunk) {
                Ok(0) => break,
                Ok(_) => {}
                Err(error) if error.raw_os_error() == Some(28) => break,
                Err(error) => panic!("filling: {error}"),
            }
        }
        // The last partial chunk too.
        let mut byte = [0u8; 1];
        while file.write(&byte).is_ok_and(|n| n == 1) {
            byte[0] = 1;
        }
        let _ = file.sync_all();
        path
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.dir.path()).status();
    }
}

async fn until<T>(what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn task(app: &TestApp, id: &str) -> Value {
    app.get(&format!("/api/v1/tasks/{id}")).await.json().await.unwrap()
}

async fn health(app: &TestApp) -> (u16, Option<String>, Value) {
    let response = app.get("/api/v1/health/ready").await;
    let status = response.status().as_u16();
    let retry_after = response.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
    (status, retry_after, response.json().await.unwrap())
}

fn quick_storage_checks(config: &mut atelier::config::Config) {
    config.storage.probe_secs = 1;
    config.storage.recheck_secs = 1;
    config.storage.min_free_mb = 1;
}

#[tokio::test]
async fn a_full_file_store_is_storage_not_the_provider_and_every_task_finishes_once_space_returns() {
    let Some(tmpfs) = Tmpfs::mount("8m") else { return };
    let files = format!("file://{}", tmpfs.path().join("files").display());
    let app = TestApp::with(Options {
        configure: Some(Box::new(move |config, _| {
            config.storage.url = files;
            quick_storage_checks(config);
        })),
        ..Options::default()
    })
    .await
    .unwrap();
    let (status, _, before) = health(&app).await;
    assert_eq!((status, before["storage"].as_str()), (200, Some("ok")), "{before}");
    assert!(before["storage_free_bytes"].as_u64().is_some_and(|free| free > 1 << 20), "{before}");

    let filler = tmpfs.fill();
    let (status, retry_after, full) = health(&app).await;
    assert_eq!((status, full["storage"].as_str(), full["status"].as_str()), (503, Some("full"), Some("degraded")));
    assert!(retry_after.is_some(), "a 503 says when to ask again");
    assert_eq!(app.get("/api/v1/health/live").await.status(), 200, "alive though not ready");

    let mut ids = Vec::new();
    for n in 0..12 {
        ids.push(app.create_placeholder(&format!("full {n}"), json!({ "width": 512, "height": 512 })).await);
    }
    // The first task to fail sets the worker waiting; every task ends up waiting for
    // storage, none failed, none blamed on the provider.
    let waiting = until("a task waiting for storage", async || {
        let task = task(&app, &ids[0]).await;
        (task["error"]["code"] == "storage_unavailable").then_some(task)
    })
    .await;
    assert_eq!(waiting["status"], "retrying", "{waiting}");
    assert!(waiting["error"]["message"].as_str().unwrap().contains("disk is full"), "{waiting}");
    assert_eq!(waiting["attempts"], 0, "not counted as an attempt: {waiting}");
    let (_, _, health_now) = health(&app).await;
    assert_eq!(health_now["workers_waiting_for_storage"], true, "{health_now}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    for id in &ids {
        let task = task(&app, id).await;
        assert!(["pending", "retrying"].contains(&task["status"].as_str().unwrap()), "{task}");
    }

    std::fs::remove_file(filler).unwrap();
    for id in &ids {
        let task = app.wait_for_end(id).await;
        assert_eq!(task["status"], "completed", "{task}");
        assert!(task["error"].is_null(), "{task}");
    }
    let (status, _, after) = health(&app).await;
    assert_eq!((status, after["workers_waiting_for_storage"].as_bool()), (200, Some(false)), "{after}");
}

#[tokio::test]
async fn a_full_database_disk_answers_503_saying_so_and_the_stuck_tasks_finish_once_space_returns() {
    let Some(tmpfs) = Tmpfs::mount("24m") else { return };
    let files = tempfile::tempdir().unwrap();
    let (data, files_url) = (tmpfs.path().to_path_buf(), format!("file://{}", files.path().display()));
    let app = TestApp::with(Options {
        configure: Some(Box::new(move |config, _| {
            config.data.dir = data;
            config.database.url = String::new();
            config.engines.instant.enabled = true;
            config.storage.url = files_url;
            quick_storage_checks(config);
        })),
        ..Options::default()
    })
    .await
    .unwrap();
    let (status, _, before) = health(&app).await;
    assert_eq!((status, before["database"].as_str()), (200, Some("ok")), "{before}");
    assert!(before["database_free_bytes"].as_u64().is_some(), "SQLite's free space is known: {before}");

    // Tasks running when the disk fills: their completions fail.
    let mut ids = Vec::new();
    for n in 0..6 {
        ids.push(app.create("local/instant", json!({ "prompt": format!("db full {n}"), "delay_ms": 1500 })).await);
    }
    until("the tasks running", async || {
        let task = task(&app, &ids[0]).await;
        (task["status"] == "processing").then_some(())
    })
    .await;
    let filler = tmpfs.fill();

    let refused = until("a create refused for the full disk", async || {
        let response =
            app.post("/api/v1/tasks", &json!({ "model": "local/instant", "input": { "prompt": "more" } })).await;
        (response.status() == 503).then_some(response)
    })
    .await;
    assert!(refused.headers().get("retry-after").is_some());
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"], "storage_unavailable", "{body}");
    assert_eq!(body["details"]["reason"], "disk_full", "{body}");
    assert!(body["message"].as_str().unwrap().contains("database's disk is full"), "{body}");
    let (status, _, full) = health(&app).await;
    assert_eq!((status, full["database"].as_str()), (503, Some("full")), "{full}");
    // The running tasks' completions are refused: the worker holds their stored
    // outputs and waits for the database.
    let waiting = until("the worker waiting for the database", async || {
        let (_, _, health) = health(&app).await;
        (health["workers_waiting_for_storage"] == true).then_some(health)
    })
    .await;
    assert!(waiting["reason"].as_str().unwrap().starts_with("database:"), "{waiting}");

    std::fs::remove_file(filler).unwrap();
    for id in &ids {
        let task = app.wait_for_end(id).await;
        assert_eq!(task["status"], "completed", "{task}");
    }
    let (status, _, after) = health(&app).await;
    assert_eq!(status, 200, "{after}");
    let listed: Value = app.get("/api/v1/tasks?limit=100").await.json().await.unwrap();
    let statuses: Vec<&str> = listed["tasks"].as_array().unwrap().iter().filter_map(|t| t["status"].as_str()).collect();
    assert!(statuses.iter().all(|s| *s == "completed"), "nothing half-written or failed: {statuses:?}");
}
