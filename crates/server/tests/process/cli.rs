//! The command line for scripts and people: `generate` for every modality (the
//! saved files' extensions from their MIME types, checked against their bytes),
//! `--output json` (one parseable document on stdout, errors as JSON on stderr),
//! `--watch` (progress lines, the end, exit 3 for a failed task) and the shells'
//! completion scripts.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::Value;

use crate::harness::{Server, atelier, run_cli, serve, temp_dir};

const LIMIT: Duration = Duration::from_secs(30);

/// A client command against `server` (its key from the data dir).
fn client(server: &Server, args: &[&str]) -> Command {
    let mut command = atelier(args);
    command.args(["--server", &server.base]).env("ATELIER_API_KEY", &server.key);
    command
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Runs a command that must succeed with `--output json`; its one JSON document.
async fn json_of(mut command: Command) -> Value {
    command.args(["--output", "json"]);
    let shown = format!("{command:?}");
    let output = run_cli(command, LIMIT).await;
    assert!(output.status.success(), "{shown} exited {}: {}", output.status, stderr(&output));
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|error| panic!("{shown}: stdout is not one JSON document ({error}):\n{}", stdout(&output)))
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|error| panic!("{} was not written: {error}", path.display()))
}

/// The saved files a `generate --output json` summary names, as paths.
fn saved(summary: &Value) -> Vec<String> {
    summary["files"].as_array().into_iter().flatten().filter_map(|f| f["path"].as_str()).map(str::to_owned).collect()
}

#[tokio::test]
async fn generate_saves_every_modality_under_its_own_extension() {
    let dir = temp_dir();
    let server = serve("serve (cli generate)", &dir.path().join("data"), None, &[]);
    let out = |name: &str| dir.path().join(name).display().to_string();

    // An image: MODEL PROMPT, no extension asked for, PNG found in the bytes.
    let mut image = client(&server, &["generate", "local/placeholder", "a red fox", "--wait", "-o", &out("fox")]);
    image.args(["--set", "width=64", "--set", "height=64"]);
    let summary = json_of(image).await;
    assert_eq!(saved(&summary), vec![out("fox.png")], "{summary}");
    assert!(read(&dir.path().join("fox.png")).starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    assert_eq!(summary["task"]["status"], "completed");
    let picture = summary["files"][0]["image_id"].as_str().expect("the output's id").to_owned();

    // Speech: the positional argument is the text to speak (the schema's `text`).
    let spoken =
        run_cli(client(&server, &["generate", "local/speech", "hello there", "--wait", "-o", &out("hello")]), LIMIT)
            .await;
    assert!(spoken.status.success(), "speech: {}", stderr(&spoken));
    assert_eq!(stdout(&spoken).trim(), out("hello.wav"), "text output names the file alone");
    let wav = read(&dir.path().join("hello.wav"));
    assert!(wav.starts_with(b"RIFF") && &wav[8..12] == b"WAVE", "not a WAV file");

    // 3D from the picture: several outputs, numbered, each by its own type.
    let mut relief = client(&server, &["generate", "local/relief", &picture, "--wait", "-o", &out("chair")]);
    relief.args(["--set", r#"output_formats=["glb","stl"]"#, "--set", "quality=fast"]);
    let summary = json_of(relief).await;
    assert_eq!(saved(&summary), vec![out("chair-1.glb"), out("chair-2.stl")], "{summary}");
    assert!(read(&dir.path().join("chair-1.glb")).starts_with(b"glTF"), "not binary glTF");
    let stl = read(&dir.path().join("chair-2.stl"));
    let triangles = u32::from_le_bytes([stl[80], stl[81], stl[82], stl[83]]) as usize;
    assert!(triangles > 0 && stl.len() == 84 + 50 * triangles, "not a binary STL ({} bytes)", stl.len());

    // A video from the picture (a slideshow takes a list; the positional starts it).
    let mut video = client(&server, &["generate", "local/slideshow", &picture, "--wait", "-o", &out("trip")]);
    video.args(["--set", "fps=5", "--set", "duration=1"]);
    let summary = json_of(video).await;
    assert_eq!(saved(&summary), vec![out("trip.mp4")], "{summary}");
    assert_eq!(&read(&dir.path().join("trip.mp4"))[4..8], b"ftyp", "not an MP4");

    // A text model: the answer printed (JSON here), or saved as .json with -o.
    let context = r#"context={"task":"manga.concept","text":"A fox lived by the river. One night the moon fell into the water."}"#;
    let answered =
        run_cli(client(&server, &["generate", "local/planner", "concept", "--wait", "--set", context]), LIMIT).await;
    assert!(answered.status.success(), "text: {}", stderr(&answered));
    let answer: Value = serde_json::from_slice(&answered.stdout).expect("the printed answer is the model's JSON");
    assert!(answer["concept"]["genre"].is_string(), "{answer}");
    let summary = json_of(client(
        &server,
        &["generate", "local/planner", "concept", "--wait", "--set", context, "-o", &out("plan")],
    ))
    .await;
    assert_eq!(saved(&summary), vec![out("plan.json")], "{summary}");
    let saved_answer: Value = serde_json::from_slice(&read(&dir.path().join("plan.json"))).expect("plan.json is JSON");
    assert_eq!(saved_answer["concept"], answer["concept"], "the same rule-based answer");

    // The older form, PROMPT --model, still works; without --wait, the task's id.
    let queued = run_cli(client(&server, &["generate", "a cat", "--model", "local/placeholder"]), LIMIT).await;
    assert!(queued.status.success(), "{}", stderr(&queued));
    let id = stdout(&queued).trim().to_owned();
    let shown = json_of(client(&server, &["tasks", "show", &id])).await;
    assert_eq!((shown["task_id"].as_str(), shown["input"]["prompt"].as_str()), (Some(id.as_str()), Some("a cat")));
}

#[tokio::test]
async fn every_client_command_answers_one_json_document() {
    let dir = temp_dir();
    let data = dir.path().join("data");
    let server = serve("serve (cli json)", &data, None, &[]);

    let created = json_of(client(&server, &["generate", "local/qr", "https://example.com"])).await;
    let id = created["task_id"].as_str().expect("generate without --wait answers the task").to_owned();
    assert_eq!(created["input"]["text"], "https://example.com", "a QR code's positional is its text");
    let listed = json_of(client(&server, &["tasks", "list"])).await;
    assert!(
        listed["tasks"].as_array().is_some_and(|tasks| tasks.iter().any(|t| t["task_id"] == id.as_str())),
        "{listed}"
    );
    let health = json_of(client(&server, &["healthcheck"])).await;
    assert!(health.is_object(), "{health}");
    let places = json_of(client(&server, &["places", "search", "Paris"])).await;
    assert!(places.to_string().contains("Paris"), "{places}");
    let mut create_key = atelier(["admin", "create-key", "--role", "viewer", "--user", "json@example.com"]);
    create_key.arg("--data-dir").arg(&data);
    let key = json_of(create_key).await;
    assert!(key["key"].as_str().is_some_and(|k| k.starts_with("atl_")) && key["role"] == "viewer", "{key}");

    // A refusal: nothing on stdout, the server's code on stderr as JSON, exit 1.
    let mut missing = client(&server, &["tasks", "show", "01a24eaf-0000-7000-8000-000000000000"]);
    missing.args(["--output", "json"]);
    let refused = run_cli(missing, LIMIT).await;
    assert_eq!(refused.status.code(), Some(1), "{}", stderr(&refused));
    assert!(refused.stdout.is_empty(), "stdout: {}", stdout(&refused));
    let error: Value = serde_json::from_slice(&refused.stderr).expect("the error is one JSON document");
    assert_eq!(
        (error["error"].as_str(), error["details"]["http_status"].as_u64()),
        (Some("not_found"), Some(404)),
        "{error}"
    );
    // A server that is not there is an error a script can tell apart.
    let mut nowhere =
        atelier(["tasks", "list", "--output", "json", "--server", "http://127.0.0.1:9", "--api-key", "atl_x"]);
    nowhere.env_remove("ATELIER_API_KEY");
    let unreachable = run_cli(nowhere, LIMIT).await;
    let error: Value = serde_json::from_slice(&unreachable.stderr).expect("the error is one JSON document");
    assert_eq!((unreachable.status.code(), error["error"].as_str()), (Some(1), Some("unreachable")), "{error}");
}

#[tokio::test]
async fn watch_follows_a_task_to_its_end() {
    let dir = temp_dir();
    let server =
        serve("serve (cli watch)", &dir.path().join("data"), None, &[("ATELIER__ENGINES__INSTANT__ENABLED", "true")]);

    // generate --watch: progress lines on stderr (stdout is a pipe), the summary on stdout.
    let target = dir.path().join("instant").display().to_string();
    let args = ["generate", "local/instant", "--set", "delay_ms=1200", "--watch", "-o", &target, "--output", "json"];
    let done = run_cli(client(&server, &args), LIMIT).await;
    let progress = stderr(&done);
    assert!(done.status.success(), "generate --watch: {progress}");
    let summary: Value = serde_json::from_slice(&done.stdout).expect("stdout is the summary alone");
    let id = summary["task"]["task_id"].as_str().expect("the task").to_owned();
    assert!(progress.contains(&format!("task {id} processing")), "no progress while it ran:\n{progress}");
    assert!(progress.contains(&format!("task {id} completed 100%")), "{progress}");
    assert!(progress.trim_end().ends_with(&format!("task {id} ended completed")), "{progress}");
    assert!(!progress.contains('\u{1b}'), "no bar drawn on a pipe:\n{progress}");

    // tasks watch on a running task: the end on stdout.
    let queued = run_cli(client(&server, &["generate", "local/instant", "--set", "delay_ms=800"]), LIMIT).await;
    let id = stdout(&queued).trim().to_owned();
    let followed = run_cli(client(&server, &["tasks", "watch", &id]), LIMIT).await;
    assert!(followed.status.success(), "tasks watch: {}", stderr(&followed));
    assert_eq!(stdout(&followed).trim(), format!("{id} completed"));
    assert!(stderr(&followed).contains(&format!("task {id} ended completed")), "{}", stderr(&followed));

    // A task that fails: exit 3, the task's error in the JSON error's details.
    let failing = run_cli(client(&server, &["generate", "local/planner", "not a manga task", "--watch"]), LIMIT).await;
    assert_eq!(failing.status.code(), Some(3), "a failed task exits 3: {}", stderr(&failing));
    assert!(stderr(&failing).contains("ended failed"), "{}", stderr(&failing));
    let failed_id = stderr(&failing)
        .lines()
        .find_map(|line| line.strip_prefix("task ").and_then(|rest| rest.split_whitespace().next()).map(str::to_owned))
        .expect("the progress names the task");
    let again = run_cli(client(&server, &["tasks", "show", &failed_id, "--watch", "--output", "json"]), LIMIT).await;
    assert_eq!(again.status.code(), Some(3));
    assert!(again.stdout.is_empty(), "stdout: {}", stdout(&again));
    // Progress lines, then the error document.
    let text = stderr(&again);
    let error: Value = serde_json::from_str(&text[text.find('{').expect("a JSON error")..]).expect("a JSON error");
    assert_eq!(error["error"], "task_failed", "{error}");
    assert_eq!(error["details"]["task"]["error"]["code"], "provider_rejected", "{error}");
}

#[tokio::test]
async fn completions_name_the_subcommands_in_each_shell() {
    let dir = temp_dir();
    for shell in ["bash", "zsh", "fish"] {
        let printed = run_cli(atelier(["completions", shell]), LIMIT).await;
        assert!(printed.status.success(), "{shell}: {}", stderr(&printed));
        let script = stdout(&printed);
        for name in ["generate", "tasks", "healthcheck", "completions", "output", "json"] {
            assert!(script.contains(name), "the {shell} script does not name {name}");
        }
        if shell == "bash" {
            let path = dir.path().join("atelier.bash");
            std::fs::write(&path, &script).expect("the script");
            let checked = std::process::Command::new("bash").arg("-n").arg(&path).output().expect("bash runs");
            assert!(checked.status.success(), "bash -n: {}", String::from_utf8_lossy(&checked.stderr));
        }
    }
    let refused = run_cli(atelier(["completions", "tcsh"]), LIMIT).await;
    assert_eq!(refused.status.code(), Some(2), "an unknown shell is a usage error");
}

/// A stand-in server whose task `t1` runs then completes: with `stream`, only its
/// event stream tells (reading the task fails); without, the stream fails and only
/// reading the task tells, so `--watch` must fall back to polling.
async fn fake_server(stream: bool) -> String {
    use axum::http::StatusCode;
    use axum::response::IntoResponse;
    let polls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let task =
        |status: &str, progress: u8| serde_json::json!({ "task_id": "t1", "status": status, "progress": progress });
    let events = move || async move {
        if !stream {
            return (StatusCode::SERVICE_UNAVAILABLE, "no stream").into_response();
        }
        let body = format!(
            "event: snapshot\ndata: {}\n\n: keep-alive\n\nevent: update\ndata: {}\n\n",
            task("processing", 40),
            task("completed", 100)
        );
        ([("content-type", "text/event-stream")], body).into_response()
    };
    let read = move || {
        let polls = polls.clone();
        async move {
            if stream {
                return (StatusCode::INTERNAL_SERVER_ERROR, "not polled").into_response();
            }
            let n = polls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            axum::Json(if n < 2 { task("processing", 60) } else { task("completed", 100) }).into_response()
        }
    };
    let app = axum::Router::new()
        .route("/api/v1/tasks/t1/events", axum::routing::get(events))
        .route("/api/v1/tasks/t1", axum::routing::get(read));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a port");
    let base = format!("http://{}", listener.local_addr().expect("its address"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    base
}

#[tokio::test(flavor = "multi_thread")]
async fn watch_reads_the_event_stream_and_falls_back_to_polling() {
    for (stream, progress) in [(true, "task t1 processing 40%"), (false, "task t1 processing 60%")] {
        let base = fake_server(stream).await;
        let watched = run_cli(atelier(["tasks", "watch", "t1", "--server", &base, "--api-key", "atl_x"]), LIMIT).await;
        let lines = stderr(&watched);
        assert!(watched.status.success(), "stream {stream}: {lines}");
        assert!(lines.contains(progress), "stream {stream}: {lines}");
        assert!(lines.trim_end().ends_with("task t1 ended completed"), "stream {stream}: {lines}");
        assert_eq!(stdout(&watched).trim(), "t1 completed");
    }
}
