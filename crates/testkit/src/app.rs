//! `TestApp`: the real application (the server's `App`) on a loopback port, with a
//! fresh database and data directory, its first admin's key in every request, and
//! builders for what a test puts behind it: scripted providers, a changed
//! configuration, or an emulator of a provider's protocol ([`crate::emulators`]).

use std::sync::Arc;
use std::time::Duration;

use atelier_core::ports::Provider;

use crate::TestDatabase;
use atelier::app::App;
use atelier::config::Config;
use serde_json::{Value, json};

pub struct TestApp {
    pub base: String,
    /// Sends the first run's admin key with every request.
    pub http: reqwest::Client,
    /// The admin key `http` sends.
    pub admin_key: String,
    pub accounts: Arc<atelier_core::account::AccountService>,
    /// The pipelines, for tests that move time on (lifecycles).
    pub pipelines: Arc<atelier_core::pipeline::PipelineService>,
    _database: TestDatabase,
    _dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

/// A change to the test app's configuration.
/// It gets the app's base URL too (for callback URLs).
pub type Configure = Box<dyn FnOnce(&mut Config, &str) + Send>;

pub struct Options {
    pub workers: bool,
    pub max_queued: u64,
    pub postgres: bool,
    pub providers: Vec<Arc<dyn Provider>>,
    /// Changes to the configuration (pointing a provider at an emulator, say).
    pub configure: Option<Configure>,
}

impl Default for Options {
    fn default() -> Self {
        Self { workers: true, max_queued: 1000, postgres: false, providers: Vec::new(), configure: None }
    }
}

/// The configuration every test app and in-process benchmark starts from: a data
/// directory and a database of its own (empty: SQLite under the data directory), and
/// logs at `TEST_LOG`'s level (warn by default).
pub fn base_config(data_dir: &std::path::Path, database_url: &str) -> Config {
    let mut config = Config::default();
    config.data.dir = data_dir.to_path_buf();
    config.database.url = database_url.to_owned();
    config.log.level = std::env::var("TEST_LOG").unwrap_or_else(|_| "warn".into());
    config
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::with(Options::default()).await.expect("SQLite is always available")
    }

    /// `None` only for a PostgreSQL app when no cluster is configured.
    pub async fn with(options: Options) -> Option<Self> {
        let database = if options.postgres { TestDatabase::postgres().await? } else { TestDatabase::sqlite() };
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = base_config(dir.path(), &database.url);
        config.worker.enabled = options.workers;
        config.worker.idle_poll_ms = 100;
        config.queue.max_queued = options.max_queued;
        // Fast retries, so that retry tests take milliseconds.
        config.worker.backoff_base_ms = 20;
        config.worker.backoff_max_ms = 100;
        // Tests that script provider failures on purpose must not trip the circuit;
        // the circuit's own test sets a low threshold.
        config.providers.circuit_failures = 1000;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        if let Some(configure) = options.configure {
            configure(&mut config, &base);
        }
        let app = App::build_with_providers(config, options.providers).await.expect("build the app");
        let accounts = app.state.accounts.clone();
        let pipelines = app.state.pipelines.clone();
        let first = accounts.first_run().await.expect("first run").expect("an empty server makes an admin");
        let admin_key = first.cli_key;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            app.serve(listener, async move {
                let _ = stopped.await;
            })
            .await
            .expect("serve");
        });
        let http = client_with_key(Some(&admin_key));
        Some(Self { base, http, admin_key, accounts, pipelines, _database: database, _dir: dir, stop: Some(stop) })
    }

    /// A new user with this role and a client sending its key.
    pub async fn user(&self, email: &str, role: atelier_core::account::Role) -> (reqwest::Client, String) {
        let user = self.accounts.user_for_cli(email, role).await.expect("user");
        let key = self.accounts.create_key_offline(&user, "test", role).await.expect("key");
        (client_with_key(Some(&key.secret)), key.secret)
    }

    /// The app's data directory (blobs live under it).
    pub fn data_dir(&self) -> &std::path::Path {
        self._dir.path()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http.get(self.url(path)).send().await.expect("GET")
    }

    pub async fn post(&self, path: &str, body: &Value) -> reqwest::Response {
        self.http.post(self.url(path)).json(body).send().await.expect("POST")
    }

    pub async fn delete(&self, path: &str) -> reqwest::Response {
        self.http.delete(self.url(path)).send().await.expect("DELETE")
    }

    /// Creates a task (asserting it is accepted) and returns its id.
    pub async fn create(&self, model: &str, input: Value) -> String {
        let response = self.post("/api/v1/tasks", &json!({ "model": model, "input": input })).await;
        assert_eq!(response.status(), 202);
        let body: Value = response.json().await.unwrap();
        body["task_id"].as_str().unwrap().to_owned()
    }

    /// Creates a task (asserting it is accepted, with the answer when it is not) and
    /// waits for its end.
    pub async fn run(&self, model: &str, input: Value) -> Value {
        let response = self.post("/api/v1/tasks", &json!({ "model": model, "input": input })).await;
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        assert_eq!(status, 202, "creating a {model} task: {body}");
        let created: Value = serde_json::from_str(&body).unwrap_or_else(|_| panic!("not JSON: {body}"));
        self.wait_for_end(created["task_id"].as_str().unwrap_or_else(|| panic!("no task_id: {body}"))).await
    }

    /// Uploads a file (asserting it is accepted) and returns its `upl_…` id.
    pub async fn upload(&self, name: &str, mime: &str, bytes: Vec<u8>) -> String {
        let url = self.url(&format!("/api/v1/uploads?name={name}"));
        let response = self.http.post(url).header("content-type", mime).body(bytes).send().await.expect("upload");
        let status = response.status();
        let body: Value = response.json().await.expect("json");
        assert_eq!(status, 201, "uploading {name}: {body}");
        body["id"].as_str().expect("an upload id").to_owned()
    }

    /// The bytes of one of a task's outputs (an entry of its `images`).
    pub async fn output_bytes(&self, output: &Value) -> Vec<u8> {
        let url = output["url"].as_str().unwrap_or_else(|| panic!("an output without a url: {output}"));
        self.get(url).await.bytes().await.unwrap().to_vec()
    }

    /// Creates a placeholder task and returns its id.
    pub async fn create_placeholder(&self, prompt: &str, extra: Value) -> String {
        let mut input = json!({ "prompt": prompt, "width": 128, "height": 96 });
        if let (Some(input), Some(extra)) = (input.as_object_mut(), extra.as_object()) {
            input.extend(extra.clone());
        }
        self.create("local/placeholder", input).await
    }

    /// Polls a task until it ends.
    pub async fn wait_for_end(&self, id: &str) -> Value {
        for _ in 0..300 {
            let task: Value = self.get(&format!("/api/v1/tasks/{id}")).await.json().await.unwrap();
            if matches!(task["status"].as_str(), Some("completed" | "failed" | "cancelled" | "expired")) {
                return task;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("task {id} did not end within 15 s");
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A client that sends `key` as a bearer token with every request (none: no key).
pub fn client_with_key(key: Option<&str>) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(key) = key {
        headers.insert(reqwest::header::AUTHORIZATION, format!("Bearer {key}").parse().expect("header"));
    }
    reqwest::Client::builder().timeout(Duration::from_secs(30)).default_headers(headers).build().expect("client")
}

/// Asserts an error answer has the one shape, and returns its body.
pub async fn assert_error(response: reqwest::Response, status: u16, code: &str) -> Value {
    assert_eq!(response.status(), status, "status");
    let body: Value = response.json().await.expect("error bodies are JSON");
    assert_eq!(body["error"], code, "{body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    body
}

/// The keys of a JSON object, sorted.
pub fn keys(value: &Value) -> Vec<String> {
    let mut keys: Vec<String> = value.as_object().map(|o| o.keys().cloned().collect()).unwrap_or_default();
    keys.sort();
    keys
}
