//! `atelier backup` while the server runs and writes, then `atelier restore` into an
//! empty data dir: a server started on the restored dir answers every task the
//! backup holds, by the same id, with the same status, and every output, thumbnail
//! and upload downloads with the same bytes. A non-empty target and a changed
//! backup are refused, and nothing is restored.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use nix::sys::signal::Signal;
use serde_json::{Value, json};

use crate::harness::{Server, atelier, create_instant, http, list_all, run_cli, serve, temp_dir};

const LIMIT: Duration = Duration::from_secs(60);
const INSTANT: [(&str, &str); 1] = [("ATELIER__ENGINES__INSTANT__ENABLED", "true")];

/// Creates a task and waits for it to end (`Prefer: wait`) as `ended`.
async fn run_task(client: &reqwest::Client, base: &str, body: Value, ended: &str) -> Value {
    let response = client
        .post(format!("{base}/api/v1/tasks"))
        .header("Prefer", "wait=30")
        .json(&body)
        .send()
        .await
        .expect("POST /api/v1/tasks answers");
    let status = response.status();
    let task: Value = response.json().await.expect("a task");
    assert!(status.is_success(), "creating {body}: {status} {task}");
    assert_eq!(task["status"], ended, "{body}: {task:#}");
    task
}

async fn download(client: &reqwest::Client, base: &str, url: &str) -> Vec<u8> {
    let url = if url.starts_with("http") { url.to_owned() } else { format!("{base}{url}") };
    let response = client.get(&url).send().await.unwrap_or_else(|error| panic!("GET {url}: {error}"));
    assert_eq!(response.status().as_u16(), 200, "GET {url}");
    response.bytes().await.expect("the body").to_vec()
}

/// Every file a task's view links to (outputs and thumbnails), by URL, with its bytes.
async fn files_of(client: &reqwest::Client, base: &str, tasks: &[Value]) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    for task in tasks {
        for image in task["images"].as_array().into_iter().flatten() {
            for url in [&image["url"], &image["thumbnail_url"]].into_iter().filter_map(Value::as_str) {
                files.insert(url.to_owned(), download(client, base, url).await);
            }
        }
    }
    files
}

async fn stop(server: &mut Server) {
    server.process.signal(Signal::SIGTERM);
    let status = server.process.wait_exit(Duration::from_secs(30)).await;
    assert!(status.is_some(), "the server did not stop on SIGTERM\n{}", server.process.tail());
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create");
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("an entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("a type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

fn first_file(dir: &Path) -> std::path::PathBuf {
    let entry = std::fs::read_dir(dir).expect("read_dir").next();
    let path = entry.unwrap_or_else(|| panic!("no file under {}", dir.display())).expect("an entry").path();
    if path.is_dir() { first_file(&path) } else { path }
}

#[tokio::test]
async fn a_backup_taken_while_serving_restores_every_task_and_file() {
    let dir = temp_dir();
    let data = dir.path().join("data");
    let mut server = serve("serve (to back up)", &data, None, &INSTANT);
    let (base, client) = (server.base.clone(), http(&server.key));

    // Outputs with thumbnails, an upload, and a task that used it.
    let mut before = Vec::new();
    for seed in 0..3 {
        let input = json!({ "prompt": format!("a lighthouse {seed}"), "seed": seed, "width": 256, "height": 256 });
        let body = json!({ "model": "local/placeholder", "input": input });
        before.push(run_task(&client, &base, body, "completed").await);
    }
    let png = download(&client, &base, before[0]["images"][0]["url"].as_str().expect("a url")).await;
    let upload: Value = client
        .post(format!("{base}/api/v1/uploads?name=photo.png"))
        .header("Content-Type", "image/png")
        .body(png.clone())
        .send()
        .await
        .expect("POST /api/v1/uploads answers")
        .json()
        .await
        .expect("an upload");
    let upload_id = upload["id"].as_str().unwrap_or_else(|| panic!("no upload id: {upload}")).to_owned();
    let relief = json!({ "model": "local/relief", "input": { "image": upload_id, "quality": "fast" } });
    before.push(run_task(&client, &base, relief, "completed").await);
    // Not every status is `completed`: a picture that is not one fails.
    let broken = json!({ "model": "local/relief", "input": { "image": "data:image/png;base64,aGVsbG8gd29ybGQ=" } });
    before.push(run_task(&client, &base, broken, "failed").await);

    // The backup, while tasks keep coming in.
    let writer = {
        let (client, base) = (client.clone(), base.clone());
        tokio::spawn(async move {
            for seed in 100..130 {
                create_instant(&client, &base, seed, 0).await;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let backup = dir.path().join("backup");
    let mut command = atelier(["--output", "json", "backup"]);
    command.arg(&backup).arg("--data-dir").arg(&data);
    let backed_up = run_cli(command, LIMIT).await;
    assert!(
        backed_up.status.success(),
        "backup exited {}: {}",
        backed_up.status,
        String::from_utf8_lossy(&backed_up.stderr)
    );
    writer.await.expect("the writer");
    let summary: Value = serde_json::from_slice(&backed_up.stdout).expect("the backup's JSON summary");
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(backup.join("manifest.json")).expect("manifest.json"))
            .expect("the manifest is JSON");
    assert_eq!(summary["manifest"], manifest, "the summary is the manifest");
    assert_eq!(manifest["format"], "atelier-backup");
    assert_eq!(manifest["database"]["sha256"].as_str().map(str::len), Some(64), "{manifest:#}");
    assert_eq!(manifest["files"]["missing"], json!([]), "{manifest:#}");
    let backed_up_tasks = manifest["database"]["tasks"].as_u64().expect("a task count");
    assert!(backed_up_tasks >= before.len() as u64, "the backup holds {backed_up_tasks} tasks: {manifest:#}");

    // What the backed-up server answers, for the comparison.
    let original: BTreeMap<String, Value> = list_all(&client, &base, None)
        .await
        .into_iter()
        .map(|task| (task["task_id"].as_str().expect("an id").to_owned(), task))
        .collect();
    let original_files = files_of(&client, &base, &original.values().cloned().collect::<Vec<_>>()).await;
    let upload_bytes = download(&client, &base, &format!("/api/v1/uploads/{upload_id}/content")).await;
    stop(&mut server).await;

    // Refused: a target that is not empty, and a backup whose file was changed.
    let occupied = dir.path().join("occupied");
    std::fs::create_dir_all(&occupied).expect("create");
    std::fs::write(occupied.join("notes.txt"), "mine").expect("write");
    let mut command = atelier(["restore"]);
    command.arg(&backup).arg("--data-dir").arg(&occupied);
    let refused = run_cli(command, LIMIT).await;
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success() && said.contains("not empty"), "restore into a non-empty dir: {said}");
    assert_eq!(std::fs::read_to_string(occupied.join("notes.txt")).expect("kept"), "mine");

    let tampered = dir.path().join("tampered");
    copy_dir(&backup, &tampered);
    let victim = first_file(&tampered.join("files").join("blobs"));
    let mut bytes = std::fs::read(&victim).expect("read");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x55;
    std::fs::write(&victim, bytes).expect("write");
    let target = dir.path().join("from-tampered");
    let mut command = atelier(["restore"]);
    command.arg(&tampered).arg("--data-dir").arg(&target);
    let refused = run_cli(command, LIMIT).await;
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success() && said.contains("checksum"), "a changed backup: {said}");
    assert!(!target.exists(), "a refused restore left {}", target.display());

    // The restore, into a new dir, and a server on it.
    let restored = dir.path().join("restored");
    let mut command = atelier(["--output", "json", "restore"]);
    command.arg(&backup).arg("--data-dir").arg(&restored);
    let done = run_cli(command, LIMIT).await;
    assert!(done.status.success(), "restore exited {}: {}", done.status, String::from_utf8_lossy(&done.stderr));
    let answer: Value = serde_json::from_slice(&done.stdout).expect("the restore's JSON summary");
    assert_eq!(answer["tasks"].as_u64(), Some(backed_up_tasks), "{answer:#}");

    let mut server = serve("serve (restored)", &restored, None, &INSTANT);
    let (base, client) = (server.base.clone(), http(&server.key));
    let tasks = list_all(&client, &base, None).await;
    assert_eq!(tasks.len() as u64, backed_up_tasks, "every task the backup holds is served");
    for task in &before {
        let id = task["task_id"].as_str().expect("an id");
        assert!(tasks.iter().any(|restored| restored["task_id"] == id), "task {id} was not restored");
    }
    for task in &tasks {
        let id = task["task_id"].as_str().expect("an id");
        let Some(was) = original.get(id) else { panic!("task {id} was never on the original server") };
        // Tasks made during the backup may have moved on since its snapshot; those
        // that had ended before it stay as they were.
        if before.iter().any(|task| task["task_id"] == id) {
            assert_eq!(task["status"], was["status"], "task {id}");
            assert_eq!(task["images"], was["images"], "task {id}'s outputs");
        }
    }
    // The files of the tasks that had ended before the backup: one made during it
    // may have been pending in the snapshot and run again here, with new outputs.
    let ended: Vec<Value> =
        tasks.iter().filter(|task| before.iter().any(|was| was["task_id"] == task["task_id"])).cloned().collect();
    let restored_files = files_of(&client, &base, &ended).await;
    let urls = |task: &Value| {
        let images = task["images"].as_array().map_or(&[][..], Vec::as_slice);
        images
            .iter()
            .map(|image| ["url", "thumbnail_url"].iter().filter(|key| image[**key].is_string()).count())
            .sum::<usize>()
    };
    let expected: usize = before.iter().map(urls).sum();
    assert!(expected > 0, "the tasks made before the backup have files");
    assert_eq!(restored_files.len(), expected, "the outputs and thumbnails of the tasks made before the backup");
    for (url, bytes) in &restored_files {
        assert!(original_files.get(url) == Some(bytes), "{url} differs from the original's");
    }
    let restored_upload = download(&client, &base, &format!("/api/v1/uploads/{upload_id}/content")).await;
    assert!(restored_upload == upload_bytes, "the upload's bytes");
    stop(&mut server).await;
}
