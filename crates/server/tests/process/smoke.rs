//! The binary's front door: `--version`, `serve`, `healthcheck`, `generate --wait`,
//! `tasks list`, the docs page, the OpenAPI document and `config example`.

use std::time::Duration;

use crate::harness::{atelier, http, list_all, run_cli, serve, temp_dir};

const PNG_SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n'];

#[tokio::test]
async fn smoke() {
    let example = run_cli(atelier(["config", "example"]), Duration::from_secs(10)).await;
    assert!(example.status.success(), "config example failed: {}", String::from_utf8_lossy(&example.stderr));
    let example = String::from_utf8_lossy(&example.stdout);
    assert!(
        example.contains("ATELIER__DATABASE__URL"),
        "config example does not name ATELIER__DATABASE__URL:\n{example}"
    );

    // `--version` names the git revision it was built from (build.rs): HEAD's in a work tree.
    let version = run_cli(atelier(["--version"]), Duration::from_secs(10)).await;
    let version = String::from_utf8_lossy(&version.stdout).trim().to_owned();
    let revision = version
        .strip_prefix(concat!("atelier ", env!("CARGO_PKG_VERSION"), " ("))
        .and_then(|rest| rest.strip_suffix(')'))
        .unwrap_or_else(|| panic!("--version says {version:?}"));
    let head = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output();
    match head {
        Ok(head) if head.status.success() && std::env::var_os("ATELIER_GIT_REVISION").is_none() => {
            assert_eq!(revision, String::from_utf8_lossy(&head.stdout).trim(), "--version names HEAD")
        }
        _ => assert!(!revision.is_empty(), "--version says {version:?}"),
    }

    let dir = temp_dir();
    let data = dir.path().join("data");
    let server = serve("serve (smoke)", &data, None, &[]);
    let base = server.base.clone();
    let client = http(&server.key);

    // Authentication is always on: the first start printed a one-time sign-in link
    // and kept an owner-only key for the CLI in the data dir.
    let unauthenticated = reqwest::get(format!("{base}/api/v1/tasks")).await.expect("GET /api/v1/tasks answers");
    assert_eq!(unauthenticated.status().as_u16(), 401, "no key, no tasks");
    assert!(
        server.process.tail().contains("/api/v1/sessions/link?token="),
        "no sign-in link:\n{}",
        server.process.tail()
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(data.join("cli-key")).expect("cli-key").permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the CLI key is owner-only");
    }

    // The server started again in place (the same process id) with glibc's arenas
    // limited, since the test's environment does not set them.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        let environ =
            std::fs::read(format!("/proc/{}/environ", server.process.pid())).expect("the server's environment");
        assert!(
            environ.split(|byte| *byte == 0).any(|entry| entry == b"MALLOC_ARENA_MAX=2"),
            "the server runs without MALLOC_ARENA_MAX=2"
        );
    }

    let health = run_cli(atelier(["healthcheck", "--server", &base]), Duration::from_secs(10)).await;
    assert!(
        health.status.success(),
        "healthcheck exited {}: {}{}",
        health.status,
        String::from_utf8_lossy(&health.stdout),
        String::from_utf8_lossy(&health.stderr)
    );

    let out = dir.path().join("out.png");
    let mut generate = atelier(["generate", "a red fox", "--model", "local/placeholder"]);
    generate.args(["--set", "seed=42", "--set", "width=256", "--set", "height=256", "--wait", "-o"]);
    generate.arg(&out).args(["--server", &base]).arg("--key-dir").arg(&data);
    let generated = run_cli(generate, Duration::from_secs(30)).await;
    assert!(
        generated.status.success(),
        "generate exited {}: {}\n{}",
        generated.status,
        String::from_utf8_lossy(&generated.stderr),
        server.process.tail()
    );
    let png = std::fs::read(&out).unwrap_or_else(|error| panic!("generate wrote no {}: {error}", out.display()));
    assert!(png.len() > 33, "a {}-byte PNG", png.len());
    assert_eq!(png[..8], PNG_SIGNATURE, "not a PNG signature");
    assert_eq!(&png[12..16], b"IHDR", "the first chunk is not IHDR");
    let width = u32::from_be_bytes([png[16], png[17], png[18], png[19]]);
    let height = u32::from_be_bytes([png[20], png[21], png[22], png[23]]);
    assert_eq!((width, height), (256, 256), "the PNG's IHDR size");

    let tasks = list_all(&client, &base, None).await;
    assert_eq!(tasks.len(), 1, "one task after one generate: {tasks:?}");
    let task_id = tasks[0]["task_id"].as_str().expect("a task id").to_owned();
    assert_eq!(tasks[0]["status"], "completed");

    let docs = client.get(format!("{base}/docs")).send().await.expect("GET /docs answers");
    assert_eq!(docs.status().as_u16(), 200, "GET /docs");
    let content_type = docs.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let docs = docs.text().await.expect("the docs page");
    assert!(content_type.starts_with("text/html"), "GET /docs content-type {content_type:?}");
    assert!(docs.to_ascii_lowercase().contains("<html"), "GET /docs is not HTML:\n{docs}");

    let openapi = client.get(format!("{base}/openapi.json")).send().await.expect("GET /openapi.json answers");
    assert_eq!(openapi.status().as_u16(), 200, "GET /openapi.json");
    let openapi = openapi.text().await.expect("the OpenAPI document");
    assert!(openapi.starts_with(r#"{"openapi":"3.1"#), "/openapi.json starts {:?}", &openapi[..openapi.len().min(40)]);
    let document: serde_json::Value = serde_json::from_str(&openapi).expect("/openapi.json is JSON");
    assert!(document["paths"]["/api/v1/tasks"].is_object(), "/openapi.json documents /api/v1/tasks");

    // Last, so that a failure here does not hide the checks above. `--server` is
    // documented on every client command; it must work after `tasks list` as it does
    // after `generate` and `healthcheck`.
    let mut list = atelier(["tasks", "list", "--server", &base]);
    list.env("ATELIER_API_KEY", &server.key);
    let listed = run_cli(list, Duration::from_secs(10)).await;
    let listed_out = String::from_utf8_lossy(&listed.stdout);
    if !listed.status.success() {
        let mut before = atelier(["tasks", "--server", &base, "list"]);
        before.env("ATELIER_API_KEY", &server.key);
        let before = run_cli(before, Duration::from_secs(10)).await;
        panic!(
            "`atelier tasks list --server URL` exited {}: {}{listed_out}\n(`atelier tasks --server URL list` exits {})",
            listed.status,
            String::from_utf8_lossy(&listed.stderr),
            before.status
        );
    }
    assert!(listed_out.contains(&task_id), "tasks list does not mention {task_id}:\n{listed_out}");

    // Seed 000's places from the terminal: a negative coordinate is a number, not a
    // flag, and an impossible one exits non-zero with the server's reason.
    let mut reverse = atelier(["places", "reverse", "-33.8688", "151.2093", "--server", &base]);
    reverse.env("ATELIER_API_KEY", &server.key);
    let reversed = run_cli(reverse, Duration::from_secs(10)).await;
    let reversed_out = String::from_utf8_lossy(&reversed.stdout);
    assert!(reversed.status.success(), "places reverse: {}", String::from_utf8_lossy(&reversed.stderr));
    assert!(reversed_out.contains("\"Sydney\"") && reversed_out.contains("\"AU\""), "{reversed_out}");
    let mut impossible = atelier(["places", "reverse", "91", "0", "--server", &base]);
    impossible.env("ATELIER_API_KEY", &server.key);
    let refused = run_cli(impossible, Duration::from_secs(10)).await;
    assert!(!refused.status.success(), "latitude 91 was accepted");
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("latitude"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );

    // Offline key creation: only the key on stdout; the new viewer sees its own
    // (empty) tasks and may not create any.
    let mut create_key = atelier(["admin", "create-key", "--role", "viewer", "--user", "viewer@example.com"]);
    create_key.arg("--data-dir").arg(&data);
    let created = run_cli(create_key, Duration::from_secs(20)).await;
    assert!(created.status.success(), "admin create-key: {}", String::from_utf8_lossy(&created.stderr));
    let viewer_key = String::from_utf8_lossy(&created.stdout).trim().to_owned();
    assert!(viewer_key.starts_with("atl_") && !viewer_key.contains('\n'), "stdout is the key alone: {viewer_key:?}");
    let viewer = crate::harness::http(&viewer_key);
    let mine: serde_json::Value =
        viewer.get(format!("{base}/api/v1/tasks")).send().await.expect("list").json().await.expect("JSON");
    assert_eq!(mine["tasks"].as_array().map(Vec::len), Some(0), "the viewer sees none of the admin's tasks: {mine}");
    let refused = viewer
        .post(format!("{base}/api/v1/tasks"))
        .json(&serde_json::json!({ "model": "local/placeholder", "input": { "prompt": "no" } }))
        .send()
        .await
        .expect("create");
    assert_eq!(refused.status().as_u16(), 403, "a viewer key only reads");

    // The CLI also reads its key from a client config file.
    let client_config = dir.path().join("client.toml");
    std::fs::write(&client_config, format!("[client]\napi_key = \"{viewer_key}\"\n")).expect("client config");
    let mut listed = atelier(["tasks", "list", "--server", &base, "--key-dir", "/nonexistent"]);
    listed.arg("--client-config").arg(&client_config).env_remove("ATELIER_API_KEY");
    let listed = run_cli(listed, Duration::from_secs(10)).await;
    assert!(listed.status.success(), "tasks list with a client config: {}", String::from_utf8_lossy(&listed.stderr));
}
