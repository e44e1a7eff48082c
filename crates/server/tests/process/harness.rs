//! Running the real `atelier` binary: child processes that are killed when their
//! guard drops, the listening address read from stderr, CLI runs with a time limit,
//! and small HTTP helpers over the task API.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::io::{BufRead as _, BufReader, Read as _};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::{Value, json};

pub const BIN: &str = env!("CARGO_BIN_EXE_atelier");

/// How many stderr lines a failure message shows.
const TAIL_LINES: usize = 40;

/// A command for the binary with a clean environment: no inherited `ATELIER*` or
/// `RUST_LOG` variables (a developer's settings must not leak into the test), and
/// quiet logs.
pub fn atelier<I, S>(args: I) -> Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut command = Command::new(BIN);
    command.args(args);
    for (key, _) in std::env::vars_os() {
        let name = key.to_string_lossy();
        if name.starts_with("ATELIER") || name == "RUST_LOG" {
            command.env_remove(&key);
        }
    }
    command.env("ATELIER__LOG__LEVEL", "warn").env("NO_COLOR", "1");
    command
}

/// A running child process, SIGKILLed (and reaped) when dropped. Its stderr is read
/// on a thread for the whole life of the process, so the pipe never fills.
pub struct Process {
    pub name: String,
    child: Child,
    stderr: Arc<Mutex<Vec<String>>>,
    lines: mpsc::Receiver<String>,
}

impl Process {
    pub fn spawn(name: &str, mut command: Command) -> Self {
        command.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
        let mut child = command.spawn().unwrap_or_else(|error| panic!("cannot start {name} ({BIN}): {error}"));
        let pipe = child.stderr.take().expect("stderr is piped");
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let (sender, lines) = mpsc::channel();
        let collected = stderr.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                collected.lock().expect("stderr buffer").push(line.clone());
                // The receiver may be gone (the guard dropped); keep draining anyway.
                let _ = sender.send(line);
            }
        });
        Self { name: name.to_owned(), child, stderr, lines }
    }

    pub fn pid(&self) -> Pid {
        Pid::from_raw(i32::try_from(self.child.id()).expect("a pid fits in i32"))
    }

    /// Every stderr line so far.
    pub fn stderr_lines(&self) -> Vec<String> {
        self.stderr.lock().expect("stderr buffer").clone()
    }

    /// The last stderr lines, for failure messages.
    pub fn tail(&self) -> String {
        let lines = self.stderr.lock().expect("stderr buffer");
        let start = lines.len().saturating_sub(TAIL_LINES);
        let mut text = format!("--- last stderr lines of {} ---\n", self.name);
        for line in &lines[start..] {
            text.push_str(line);
            text.push('\n');
        }
        text
    }

    /// Panics (with the stderr tail) when the process has exited.
    pub fn assert_running(&mut self) {
        if let Some(status) = self.child.try_wait().expect("try_wait") {
            panic!("{} exited unexpectedly with {status}\n{}", self.name, self.tail());
        }
    }

    /// Waits for a stderr line matching `wanted` and returns it.
    pub fn wait_for_line(&mut self, wanted: impl Fn(&str) -> bool, what: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                panic!("{} did not print {what} within {timeout:?}\n{}", self.name, self.tail());
            }
            match self.lines.recv_timeout(left.min(Duration::from_millis(100))) {
                Ok(line) if wanted(&line) => return line,
                Ok(_) | Err(mpsc::RecvTimeoutError::Timeout) => self.assert_running(),
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    // stderr closed: the process is exiting; let assert_running say how.
                    std::thread::sleep(Duration::from_millis(200));
                    self.assert_running();
                    panic!("{} closed stderr before printing {what}\n{}", self.name, self.tail());
                }
            }
        }
    }

    pub fn signal(&self, signal: Signal) {
        kill(self.pid(), signal).unwrap_or_else(|error| panic!("sending {signal} to {}: {error}", self.name));
    }

    /// SIGKILL, then reap: the process cannot run one more instruction.
    pub fn kill_hard(&mut self) {
        self.signal(Signal::SIGKILL);
        self.child.wait().unwrap_or_else(|error| panic!("reaping {}: {error}", self.name));
    }

    /// Waits for the process to exit on its own; `None` after `timeout`.
    pub async fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = kill(self.pid(), Signal::SIGKILL);
            let _ = self.child.wait();
        }
        if std::thread::panicking() {
            eprintln!("{}", self.tail());
        }
    }
}

/// `atelier serve` with its base URL.
pub struct Server {
    pub process: Process,
    pub base: String,
    /// The local CLI key the first start wrote in the data dir.
    pub key: String,
}

const LISTENING: &str = "Atelier is listening on http://";

/// Starts `atelier emulate <args…> --listen 127.0.0.1:0` and waits for its base URL.
pub fn emulate(name: &str, args: &[&str]) -> (Process, String) {
    let mut command = atelier(["emulate"]);
    command.args(args).args(["--listen", "127.0.0.1:0"]);
    let mut process = Process::spawn(name, command);
    let line = process.wait_for_line(|l| l.contains("listening on http://"), "its address", Duration::from_secs(20));
    let url = line
        .split("listening on ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("cannot read the address from {line:?}"))
        .to_owned();
    (process, url)
}

/// Starts `atelier serve --listen 127.0.0.1:0` and waits for its address.
pub fn serve(name: &str, data_dir: &Path, database_url: Option<&str>, env: &[(&str, &str)]) -> Server {
    serve_at(name, "127.0.0.1:0", data_dir, database_url, env)
}

/// A local port free a moment ago, for a server that must come back on the same
/// address (a provider's callback URL names it).
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address").port()
}

/// Starts `atelier serve --listen <listen>` and waits for its address.
pub fn serve_at(name: &str, listen: &str, data_dir: &Path, database_url: Option<&str>, env: &[(&str, &str)]) -> Server {
    let mut command = atelier(["serve", "--listen", listen]);
    command.arg("--data-dir").arg(data_dir);
    if let Some(url) = database_url {
        command.args(["--database-url", url]);
    }
    command.envs(env.iter().copied());
    let mut process = Process::spawn(name, command);
    let line = process.wait_for_line(|line| line.contains(LISTENING), "its listening address", Duration::from_secs(30));
    let address = line
        .split_once(LISTENING)
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("cannot read the address from {line:?}"))
        .to_owned();
    let key_path = data_dir.join("cli-key");
    let key = std::fs::read_to_string(&key_path)
        .unwrap_or_else(|error| panic!("the server wrote no key at {}: {error}", key_path.display()))
        .trim()
        .to_owned();
    Server { process, base: format!("http://{address}"), key }
}

/// Runs a CLI command to completion (stdout and stderr captured), killing it and
/// failing after `timeout`.
pub async fn run_cli(command: Command, timeout: Duration) -> Output {
    run_cli_with_input(command, None, timeout).await
}

/// As [`run_cli`], with `input` written to the command's standard input (then closed).
pub async fn run_cli_with_input(mut command: Command, input: Option<&str>, timeout: Duration) -> Output {
    let shown = format!("{command:?}");
    let stdin = if input.is_some() { Stdio::piped() } else { Stdio::null() };
    command.stdin(stdin).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = command.spawn().unwrap_or_else(|error| panic!("cannot run {shown}: {error}"));
    if let (Some(input), Some(mut pipe)) = (input, child.stdin.take()) {
        let input = input.to_owned();
        std::thread::spawn(move || {
            use std::io::Write;
            let _ = pipe.write_all(input.as_bytes());
        });
    }
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let out = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = stdout.read_to_end(&mut bytes);
        bytes
    });
    let err = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = stderr.read_to_end(&mut bytes);
        bytes
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            let stderr = String::from_utf8_lossy(&err.join().expect("stderr reader")).into_owned();
            panic!("{shown} did not finish within {timeout:?}; stderr:\n{stderr}");
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    Output { status, stdout: out.join().expect("stdout reader"), stderr: err.join().expect("stderr reader") }
}

/// A client sending `key` with every request.
pub fn http(key: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(reqwest::header::AUTHORIZATION, format!("Bearer {key}").parse().expect("a header value"));
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .default_headers(headers)
        .build()
        .expect("an HTTP client")
}

/// Creates one `local/instant` task; returns its id and the HTTP status.
///
/// A new task answers 202, except that the answer is 200 when the task already
/// ended by the time the server re-read it after the insert (another process's
/// worker can finish a 5 ms task in between); that is tolerated here, but never a
/// replay.
pub async fn create_instant(client: &reqwest::Client, base: &str, seed: u64, delay_ms: u64) -> (String, u16) {
    let body = json!({ "model": "local/instant", "input": { "seed": seed, "delay_ms": delay_ms } });
    let response =
        client.post(format!("{base}/api/v1/tasks")).json(&body).send().await.expect("POST /api/v1/tasks answers");
    let status = response.status().as_u16();
    let replayed = response.headers().contains_key("idempotent-replayed");
    let text = response.text().await.expect("the create response body");
    let task: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("creating a task: {status} {text}"));
    assert_eq!(status, 202, "creating a task answered {status}: {text}");
    assert_eq!(task["status"], "pending", "a new task is answered as created: {text}");
    assert!(!replayed, "a create without Idempotency-Key was answered as a replay: {text}");
    let id = task["task_id"].as_str().unwrap_or_else(|| panic!("no task_id in {text}")).to_owned();
    (id, status)
}

/// Creates `count` instant tasks with distinct seeds, a few requests at a time.
pub async fn create_many(client: &reqwest::Client, base: &str, count: u64, delay_ms: u64) -> BTreeSet<String> {
    let created: Vec<(String, u16)> = futures::stream::iter(0..count)
        .map(|seed| create_instant(client, base, seed, delay_ms))
        .buffer_unordered(8)
        .collect()
        .await;
    let ids: BTreeSet<String> = created.into_iter().map(|(id, _)| id).collect();
    assert_eq!(ids.len() as u64, count, "every create made a new task");
    ids
}

/// Every task (optionally only these statuses), following `next_cursor`.
pub async fn list_all(client: &reqwest::Client, base: &str, status: Option<&str>) -> Vec<Value> {
    let mut tasks = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!("{base}/api/v1/tasks?limit=500");
        if let Some(status) = status {
            url.push_str(&format!("&status={status}"));
        }
        if let Some(cursor) = &cursor {
            url.push_str(&format!("&cursor={cursor}"));
        }
        let response = client.get(&url).send().await.unwrap_or_else(|error| panic!("GET {url}: {error}"));
        let code = response.status();
        let page: Value = response.json().await.unwrap_or_else(|error| panic!("GET {url}: not JSON: {error}"));
        assert!(code.is_success(), "GET {url}: {code} {page}");
        tasks.extend(page["tasks"].as_array().cloned().unwrap_or_default());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return tasks,
        }
    }
}

pub fn status_counts(tasks: &[Value]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for task in tasks {
        *counts.entry(task["status"].as_str().unwrap_or("?").to_owned()).or_insert(0) += 1;
    }
    counts
}

/// Polls until at least `at_least` tasks are completed; returns how many are.
pub async fn wait_completed(
    server: &mut Server,
    client: &reqwest::Client,
    at_least: usize,
    timeout: Duration,
) -> usize {
    let deadline = Instant::now() + timeout;
    loop {
        server.process.assert_running();
        let completed = list_all(client, &server.base, Some("completed")).await.len();
        if completed >= at_least {
            return completed;
        }
        assert!(
            Instant::now() < deadline,
            "only {completed} tasks completed within {timeout:?}, waiting for {at_least}\n{}",
            server.process.tail()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Polls until every task in `ids` is completed and returns the tasks. Fails early
/// when one ends any other way, or when a watched process dies.
pub async fn wait_all_completed(
    server: &mut Server,
    others: &mut [&mut Process],
    client: &reqwest::Client,
    ids: &BTreeSet<String>,
    timeout: Duration,
) -> Vec<Value> {
    let deadline = Instant::now() + timeout;
    loop {
        server.process.assert_running();
        for process in others.iter_mut() {
            process.assert_running();
        }
        let tasks: Vec<Value> = list_all(client, &server.base, None)
            .await
            .into_iter()
            .filter(|task| task["task_id"].as_str().is_some_and(|id| ids.contains(id)))
            .collect();
        if let Some(bad) =
            tasks.iter().find(|task| matches!(task["status"].as_str(), Some("failed" | "cancelled" | "expired")))
        {
            panic!("a task ended without completing: {bad:#}\n{}", server.process.tail());
        }
        let counts = status_counts(&tasks);
        if tasks.len() == ids.len() && counts.get("completed") == Some(&ids.len()) {
            return tasks;
        }
        if Instant::now() >= deadline {
            let mut tails = server.process.tail();
            for process in others.iter() {
                tails.push_str(&process.tail());
            }
            panic!("not every task completed within {timeout:?}: {counts:?} of {}\n{tails}", ids.len());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Asserts every task has exactly one output: a task completed twice would have
/// recorded its outputs twice.
pub fn assert_one_image_each(tasks: &[Value]) {
    for task in tasks {
        let images = task["images"].as_array().map_or(0, Vec::len);
        assert_eq!(images, 1, "task {} has {images} outputs: {task:#}", task["task_id"]);
    }
}

/// The execution log: how many times each task id was executed.
pub fn read_execution_log(path: &Path) -> BTreeMap<String, usize> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(error) => panic!("reading {}: {error}", path.display()),
    };
    assert!(text.is_empty() || text.ends_with('\n'), "a torn line in {}", path.display());
    let mut counts = BTreeMap::new();
    for line in text.lines() {
        *counts.entry(line.to_owned()).or_insert(0) += 1;
    }
    counts
}

/// How many ids were executed n times, by n.
pub fn histogram(counts: &BTreeMap<String, usize>) -> BTreeMap<usize, usize> {
    let mut histogram = BTreeMap::new();
    for times in counts.values() {
        *histogram.entry(*times).or_insert(0) += 1;
    }
    histogram
}

pub fn temp_dir() -> tempfile::TempDir {
    tempfile::Builder::new().prefix("atelier-process-").tempdir().expect("a temp dir")
}
