//! Atelier benchmarks. Run `scripts/bench` (it builds the release binaries, starts a
//! throwaway PostgreSQL cluster and runs this program), or directly:
//!
//! ```text
//! target/release/atelier-bench [--quick] [--only sqlite|postgres|render|kie|openai] [--concurrency N] [--server PATH]
//! ```
//!
//! Figures:
//! 1. end-to-end throughput of the benchmark-only `local/instant` engine through the
//!    real server binary (created → completed), SQLite and PostgreSQL;
//! 2. `GET /api/v1/tasks/{id}` requests per second and latency under a fixed number
//!    of keep-alive connections;
//! 3. placeholder render and thumbnail time per 1024×1024 image, in process;
//! 4. server memory with 10,000 pending tasks;
//! 5. Kie.ai through `atelier emulate kie`: tasks/s with a zero-latency emulator, and
//!    server memory with 10,000 submitted tasks waiting on an emulator that never finishes;
//! 6. OpenAI through `atelier emulate openai`: tasks/s of `openai/gpt-image-1` images
//!    (synchronous) and `openai/sora-2` videos (create, poll, download) with a
//!    zero-latency emulator, the emulator's own time per image, and server memory with
//!    10,000 videos that never finish (the emulator's `never_finish` fault).
//!
//! PostgreSQL runs when `ATELIER_BENCH_POSTGRES_URL` holds an admin URL (a database
//! is created per server with `psql`). Everything talks to 127.0.0.1 only.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use atelier_core::TaskId;
use atelier_core::ports::{Job, Provider, Submitted};
use atelier_providers::local::placeholder;
use atelier_providers::local::text::FontSet;
use atelier_providers::{LocalConfig, LocalProvider};
use serde_json::{Value, json};

const POSTGRES_URL_ENV: &str = "ATELIER_BENCH_POSTGRES_URL";
/// Requests in flight while creating tasks.
const CREATE_CLIENTS: usize = 64;
const MAX_QUEUED: u64 = 200_000;
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
const DRAIN_TIMEOUT: Duration = Duration::from_secs(300);

// ---------------------------------------------------------------------------------
// Options.
// ---------------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Plan {
    quick: bool,
    sqlite: bool,
    postgres: bool,
    render: bool,
    kie: bool,
    openai: bool,
    /// Worker concurrencies to try; the fastest is used for the large run.
    concurrencies: Vec<usize>,
    /// Tasks per concurrency trial (the "small" throughput figure).
    small_tasks: usize,
    /// Tasks of the large throughput run.
    large_tasks: usize,
    read_connections: Vec<usize>,
    read_warmup: Duration,
    read_duration: Duration,
    render_images: usize,
    memory_tasks: usize,
    /// Tasks of the Kie.ai throughput run through the emulator.
    kie_tasks: usize,
    /// Tasks left waiting on a slow Kie.ai emulator for the memory figure.
    kie_memory_tasks: usize,
    /// Tasks of each OpenAI throughput run (images, videos) through the emulator.
    openai_tasks: usize,
    /// Videos left waiting on a never-finishing OpenAI emulator for the memory figure.
    openai_memory_tasks: usize,
    /// Images asked of the OpenAI emulator directly, one at a time, for its render time.
    openai_probe_images: usize,
    server: PathBuf,
}

fn parse_args() -> Result<Plan> {
    let mut quick = false;
    let mut only: Option<String> = None;
    let mut concurrency: Option<usize> = None;
    let mut server: Option<PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => quick = true,
            "--only" => only = Some(args.next().context("--only needs sqlite, postgres, render, kie or openai")?),
            "--concurrency" => {
                let value = args.next().context("--concurrency needs a number")?;
                concurrency = Some(value.parse().with_context(|| format!("--concurrency {value:?}"))?);
            }
            "--server" => server = Some(PathBuf::from(args.next().context("--server needs a path")?)),
            "-h" | "--help" => {
                println!(
                    "usage: atelier-bench [--quick] [--only sqlite|postgres|render|kie|openai] [--concurrency N] [--server PATH]\n\
                     PostgreSQL runs when {POSTGRES_URL_ENV} holds an admin URL."
                );
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?} (try --help)"),
        }
    }
    let (sqlite, postgres, render, kie, openai) = match only.as_deref() {
        None => (true, true, true, true, true),
        Some("sqlite") => (true, false, false, false, false),
        Some("postgres") => (false, true, false, false, false),
        Some("render") => (false, false, true, false, false),
        Some("kie") => (false, false, false, true, false),
        Some("openai") => (false, false, false, false, true),
        Some(other) => bail!("--only {other:?}: expected sqlite, postgres, render, kie or openai"),
    };
    let server = match server {
        Some(path) => path,
        None => std::env::current_exe()
            .context("locating this executable")?
            .parent()
            .context("this executable has no directory")?
            .join("atelier"),
    };
    let concurrencies = match concurrency {
        Some(n) => vec![n],
        None => vec![16, 32, 64],
    };
    Ok(if quick {
        Plan {
            quick,
            sqlite,
            postgres,
            render,
            kie,
            openai,
            concurrencies,
            small_tasks: 200,
            large_tasks: 1_000,
            read_connections: vec![32],
            read_warmup: Duration::from_millis(300),
            read_duration: Duration::from_secs(2),
            render_images: 5,
            memory_tasks: 1_000,
            kie_tasks: 200,
            kie_memory_tasks: 1_000,
            openai_tasks: 200,
            openai_memory_tasks: 1_000,
            openai_probe_images: 20,
            server,
        }
    } else {
        Plan {
            quick,
            sqlite,
            postgres,
            render,
            kie,
            openai,
            concurrencies,
            small_tasks: 1_000,
            large_tasks: 10_000,
            read_connections: vec![32, 64],
            read_warmup: Duration::from_secs(1),
            read_duration: Duration::from_secs(10),
            render_images: 50,
            memory_tasks: 10_000,
            kie_tasks: 1_000,
            kie_memory_tasks: 10_000,
            openai_tasks: 1_000,
            openai_memory_tasks: 10_000,
            openai_probe_images: 50,
            server,
        }
    })
}

// ---------------------------------------------------------------------------------
// Figures.
// ---------------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Figure {
    scope: String,
    name: String,
    value: String,
    unit: String,
    notes: String,
}

#[derive(Debug, Default)]
struct Report {
    figures: Vec<Figure>,
    /// Things worth reading beside the figures (errors, server log lines).
    remarks: Vec<String>,
}

impl Report {
    fn add(&mut self, scope: &str, name: impl Into<String>, value: String, unit: &str, notes: impl Into<String>) {
        let figure =
            Figure { scope: scope.to_owned(), name: name.into(), value, unit: unit.to_owned(), notes: notes.into() };
        eprintln!("  -> {} | {} | {} {} | {}", figure.scope, figure.name, figure.value, figure.unit, figure.notes);
        self.figures.push(figure);
    }

    fn remark(&mut self, text: impl Into<String>) {
        let text = text.into();
        eprintln!("  !! {text}");
        self.remarks.push(text);
    }

    fn print(&self) {
        let width =
            |f: fn(&Figure) -> &str, min: usize| self.figures.iter().map(|x| f(x).len()).max().unwrap_or(0).max(min);
        let (ws, wn, wv, wu) =
            (width(|f| &f.scope, 5), width(|f| &f.name, 6), width(|f| &f.value, 5), width(|f| &f.unit, 4));
        println!("{:<ws$}  {:<wn$}  {:>wv$}  {:<wu$}  notes", "scope", "figure", "value", "unit");
        println!("{}", "-".repeat(ws + wn + wv + wu + 16));
        for f in &self.figures {
            println!("{:<ws$}  {:<wn$}  {:>wv$}  {:<wu$}  {}", f.scope, f.name, f.value, f.unit, f.notes);
        }
        if !self.remarks.is_empty() {
            println!();
            println!("remarks:");
            for remark in &self.remarks {
                println!("  - {remark}");
            }
        }
    }
}

fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The value at quantile `q` (0..=1) of sorted samples (nearest rank).
fn quantile<T: Copy>(sorted: &[T], q: f64) -> Option<T> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// "none", or "HTTP 503 ×12, timeout ×3".
fn describe_errors(errors: &BTreeMap<String, usize>) -> String {
    if errors.is_empty() {
        return "errors: none".to_owned();
    }
    let parts: Vec<String> = errors.iter().map(|(kind, count)| format!("{kind} x{count}")).collect();
    format!("ERRORS: {}", parts.join(", "))
}

// ---------------------------------------------------------------------------------
// The server under test.
// ---------------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Backend {
    Sqlite,
    /// Admin URL of a PostgreSQL cluster; a database is created per server.
    Postgres(String),
}

impl Backend {
    fn name(&self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }
}

static DATABASE_SEQ: AtomicUsize = AtomicUsize::new(0);

/// Creates a fresh database in the cluster behind `admin_url` and returns its URL.
fn create_postgres_database(admin_url: &str) -> Result<String> {
    let name = format!("bench_{}_{}", std::process::id(), DATABASE_SEQ.fetch_add(1, Ordering::Relaxed));
    let status = Command::new("psql")
        .args([admin_url, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", &format!("CREATE DATABASE {name}")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .context("running psql (is PostgreSQL's client installed?)")?;
    if !status.success() {
        bail!("psql could not create database {name} ({status})");
    }
    let (base, query) = match admin_url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (admin_url, None),
    };
    let (authority, _) = base.rsplit_once('/').context("the PostgreSQL URL has no database path")?;
    if !authority.contains("://") || authority.ends_with('/') {
        bail!("cannot place a database name in {admin_url:?}");
    }
    Ok(match query {
        Some(query) => format!("{authority}/{name}?{query}"),
        None => format!("{authority}/{name}"),
    })
}

#[derive(Debug, Default)]
struct ServerLog {
    lines: usize,
    /// The first lines after the listening line (warnings and errors: the level is warn).
    kept: Vec<String>,
    /// Every line after the listening line, grouped by its message (timestamp and
    /// `key=value` fields dropped).
    kinds: BTreeMap<String, usize>,
}

/// `2026-01-01T00:00:00Z  WARN target: message key=value` → `WARN target: message`.
fn log_kind(line: &str) -> String {
    let mut words = line.split_whitespace().peekable();
    if words.peek().is_some_and(|w| w.len() > 10 && w.as_bytes().first().is_some_and(u8::is_ascii_digit)) {
        words.next();
    }
    let kind: Vec<&str> = words.filter(|w| !w.contains('=')).collect();
    kind.join(" ").chars().take(160).collect()
}

struct Server {
    child: Child,
    base: String,
    /// The admin key the first start wrote to the data dir.
    key: String,
    log: Arc<Mutex<ServerLog>>,
    _dir: tempfile::TempDir,
}

/// CPU time of a process in jiffies (USER_HZ = 100 per second).
#[derive(Debug, Clone, Copy)]
struct ProcessCpu {
    user: u64,
    system: u64,
}

/// User and system CPU time of a process, from its `/proc/<pid>/stat`.
fn process_cpu(stat_path: &str) -> Option<ProcessCpu> {
    let stat = std::fs::read_to_string(stat_path).ok()?;
    // The command name may hold spaces: fields are counted after its closing parenthesis.
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some(ProcessCpu { user: fields.get(11)?.parse().ok()?, system: fields.get(12)?.parse().ok()? })
}

fn jiffies_secs(jiffies: u64) -> f64 {
    jiffies as f64 / 100.0
}

/// Machine-wide (busy, total) jiffies from `/proc/stat`.
fn machine_jiffies() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let values: Vec<u64> = line.split_whitespace().skip(1).filter_map(|v| v.parse().ok()).collect();
    let total: u64 = values.iter().take(8).sum();
    let idle = values.get(3).copied().unwrap_or(0) + values.get(4).copied().unwrap_or(0);
    Some((total.saturating_sub(idle), total))
}

/// CPU used during a measurement: the server's, this program's, and the machine's.
struct CpuMeter {
    server: Option<ProcessCpu>,
    bench: Option<ProcessCpu>,
    machine: Option<(u64, u64)>,
}

impl CpuMeter {
    fn start(server: &Server) -> CpuMeter {
        CpuMeter { server: server.cpu(), bench: process_cpu("/proc/self/stat"), machine: machine_jiffies() }
    }

    /// "CPU: server 1.23 s (user 0.80 + sys 0.43), bench 0.45 s, rest of machine 0.10 s; all cores 97% busy".
    fn describe(&self, server: &Server) -> String {
        let mut parts = Vec::new();
        let mut accounted = 0;
        if let (Some(a), Some(b)) = (self.server, server.cpu()) {
            let (user, system) = (b.user.saturating_sub(a.user), b.system.saturating_sub(a.system));
            accounted += user + system;
            parts.push(format!(
                "server {:.2} s (user {:.2} + sys {:.2})",
                jiffies_secs(user + system),
                jiffies_secs(user),
                jiffies_secs(system)
            ));
        }
        if let (Some(a), Some(b)) = (self.bench, process_cpu("/proc/self/stat")) {
            let used = (b.user + b.system).saturating_sub(a.user + a.system);
            accounted += used;
            parts.push(format!("bench {:.2} s", jiffies_secs(used)));
        }
        let mut text = format!("CPU: {}", parts.join(", "));
        if let (Some((busy0, total0)), Some((busy1, total1))) = (self.machine, machine_jiffies())
            && total1 > total0
        {
            let busy = busy1.saturating_sub(busy0);
            // /proc/stat counts every core; USER_HZ is the same unit.
            text.push_str(&format!(
                ", rest of machine {:.2} s; all cores {:.0}% busy",
                jiffies_secs(busy.saturating_sub(accounted)),
                busy as f64 / (total1 - total0) as f64 * 100.0
            ));
        }
        text
    }
}

#[derive(Debug, Clone, Copy)]
struct Memory {
    rss_kib: u64,
    hwm_kib: u64,
}

impl Server {
    fn start(binary: &Path, backend: &Backend, env: &[(&str, String)]) -> Result<Server> {
        let dir = tempfile::Builder::new().prefix("atelier-bench-").tempdir().context("creating a data dir")?;
        let mut command = Command::new(binary);
        command.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"]).arg(dir.path());
        if let Backend::Postgres(admin) = backend {
            command.args(["--database-url", &create_postgres_database(admin)?]);
        }
        // Only the settings given here apply: drop any inherited ATELIER__ variable.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("ATELIER__") || key == "RUST_LOG" {
                command.env_remove(key);
            }
        }
        command
            .env("ATELIER__LOG__LEVEL", "warn")
            .env("NO_COLOR", "1")
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = command.spawn().with_context(|| format!("starting {}", binary.display()))?;
        let stderr = child.stderr.take().context("the server's stderr")?;
        let log = Arc::new(Mutex::new(ServerLog::default()));
        let (address_tx, address_rx) = mpsc::channel::<String>();
        {
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                let mut address_tx = Some(address_tx);
                for line in BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    if let Some(rest) = line.split_once("Atelier is listening on http://").map(|(_, rest)| rest)
                        && let Some(tx) = address_tx.take()
                    {
                        let _ = tx.send(rest.split_whitespace().next().unwrap_or_default().to_owned());
                        continue;
                    }
                    if let Ok(mut log) = log.lock() {
                        log.lines += 1;
                        *log.kinds.entry(log_kind(&line)).or_default() += 1;
                        if log.kept.len() < 20 {
                            log.kept.push(line);
                        }
                    }
                }
            });
        }
        let mut server = Server { child, base: String::new(), key: String::new(), log, _dir: dir };
        let address = match address_rx.recv_timeout(Duration::from_secs(90)) {
            Ok(address) if !address.is_empty() => address,
            _ => {
                let status = server.child.try_wait().ok().flatten();
                std::thread::sleep(Duration::from_millis(200));
                let lines = server.log.lock().map(|l| l.kept.join("\n")).unwrap_or_default();
                bail!("the server did not report its address (exit: {status:?}); its stderr:\n{lines}");
            }
        };
        server.base = format!("http://{address}");
        // The first start wrote the admin key for the local CLI (before it reported
        // its address).
        server.key = std::fs::read_to_string(server._dir.path().join("cli-key"))
            .context("reading the server's CLI key")?
            .trim()
            .to_owned();
        Ok(server)
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn memory(&self) -> Result<Memory> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .context("reading the server's /proc status")?;
        let field = |name: &str| -> Result<u64> {
            let line = status.lines().find(|l| l.starts_with(name)).with_context(|| format!("no {name} line"))?;
            let number = line.split_whitespace().nth(1).with_context(|| format!("no value in {line:?}"))?;
            number.parse().with_context(|| format!("parsing {line:?}"))
        };
        Ok(Memory { rss_kib: field("VmRSS:")?, hwm_kib: field("VmHWM:")? })
    }

    /// CPU time the server has used so far.
    fn cpu(&self) -> Option<ProcessCpu> {
        process_cpu(&format!("/proc/{}/stat", self.pid()))
    }

    /// Log lines the server wrote (at level warn) since it started listening.
    fn log_summary(&self) -> Option<String> {
        let log = self.log.lock().ok()?;
        if log.lines == 0 {
            return None;
        }
        let kinds: Vec<String> = log.kinds.iter().map(|(kind, count)| format!("{count} x \"{kind}\"")).collect();
        Some(format!("{} server log line(s) at warn level or above: {}", log.lines, kinds.join("; ")))
    }

    fn stop(mut self, report: &mut Report, scope: &str) {
        if let Ok(Some(status)) = self.child.try_wait() {
            report.remark(format!("{scope}: the server exited by itself during the run ({status})"));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::thread::sleep(Duration::from_millis(100));
        if let Some(summary) = self.log_summary() {
            report.remark(format!("{scope}: {summary}"));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------
// HTTP helpers.
// ---------------------------------------------------------------------------------

/// A client sending the server's admin key (authentication is always on).
fn client(pool: usize, key: &str) -> Result<reqwest::Client> {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        reqwest::header::HeaderValue::from_str(&format!("Bearer {key}")).context("the key as a header")?,
    );
    reqwest::Client::builder()
        .default_headers(headers)
        .pool_max_idle_per_host(pool)
        .tcp_nodelay(true)
        .timeout(REQUEST_TIMEOUT)
        .no_proxy()
        .build()
        .context("building an HTTP client")
}

fn error_kind(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        "timeout".to_owned()
    } else if error.is_connect() {
        "connect error".to_owned()
    } else {
        let text = error.to_string();
        format!("transport error ({})", text.chars().take(80).collect::<String>())
    }
}

async fn get_json(client: &reqwest::Client, url: &str) -> Result<Value> {
    let response = client.get(url).send().await.with_context(|| format!("GET {url}"))?;
    let status = response.status();
    let body = response.bytes().await.with_context(|| format!("GET {url}: reading the body"))?;
    if !status.is_success() {
        bail!("GET {url}: HTTP {status}: {}", String::from_utf8_lossy(&body).chars().take(300).collect::<String>());
    }
    serde_json::from_slice(&body).with_context(|| format!("GET {url}: not JSON"))
}

struct Created {
    ids: Vec<String>,
    elapsed: Duration,
    errors: BTreeMap<String, usize>,
    /// First few error bodies, for the report.
    samples: Vec<String>,
    latencies_us: Vec<u64>,
}

/// Creates `n` tasks with `clients` requests in flight; `body(i)` is the i-th request.
async fn create_tasks(
    server: &Server,
    n: usize,
    clients: usize,
    body: impl Fn(usize) -> Value + Send + Sync + 'static,
) -> Result<Created> {
    let http = client(clients, &server.key)?;
    let url = Arc::new(format!("{}/api/v1/tasks", server.base));
    let next = Arc::new(AtomicUsize::new(0));
    let body = Arc::new(body);
    let started = Instant::now();
    let mut handles = Vec::with_capacity(clients);
    for _ in 0..clients {
        let (http, url, next, body) = (http.clone(), Arc::clone(&url), Arc::clone(&next), Arc::clone(&body));
        handles.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            let mut errors: BTreeMap<String, usize> = BTreeMap::new();
            let mut samples = Vec::new();
            let mut latencies = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    break;
                }
                let sent = Instant::now();
                let outcome = match http.post(url.as_str()).json(&body(i)).send().await {
                    Ok(response) => {
                        let status = response.status();
                        match response.bytes().await {
                            Ok(bytes) if status.is_success() => {
                                match serde_json::from_slice::<Value>(&bytes)
                                    .ok()
                                    .and_then(|v| v.get("task_id").and_then(Value::as_str).map(str::to_owned))
                                {
                                    Some(id) => Ok(id),
                                    None => Err((format!("HTTP {} without task_id", status.as_u16()), bytes.to_vec())),
                                }
                            }
                            Ok(bytes) => Err((format!("HTTP {}", status.as_u16()), bytes.to_vec())),
                            Err(error) => Err((error_kind(&error), Vec::new())),
                        }
                    }
                    Err(error) => Err((error_kind(&error), Vec::new())),
                };
                latencies.push(sent.elapsed().as_micros() as u64);
                match outcome {
                    Ok(id) => ids.push(id),
                    Err((kind, bytes)) => {
                        if samples.len() < 3 {
                            samples.push(format!(
                                "{kind}: {}",
                                String::from_utf8_lossy(&bytes).chars().take(200).collect::<String>()
                            ));
                        }
                        *errors.entry(kind).or_default() += 1;
                    }
                }
            }
            (ids, errors, samples, latencies)
        }));
    }
    let mut created = Created {
        ids: Vec::with_capacity(n),
        elapsed: Duration::ZERO,
        errors: BTreeMap::new(),
        samples: Vec::new(),
        latencies_us: Vec::with_capacity(n),
    };
    for handle in handles {
        let (ids, errors, samples, latencies) = handle.await.context("a create client panicked")?;
        created.ids.extend(ids);
        for (kind, count) in errors {
            *created.errors.entry(kind).or_default() += count;
        }
        created.samples.extend(samples.into_iter().take(3usize.saturating_sub(created.samples.len())));
        created.latencies_us.extend(latencies);
    }
    created.elapsed = started.elapsed();
    created.latencies_us.sort_unstable();
    Ok(created)
}

/// How many tasks the list endpoint returns for these statuses (pages of 500).
async fn count_tasks(http: &reqwest::Client, base: &str, statuses: &str) -> Result<usize> {
    let mut count = 0;
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!("{base}/api/v1/tasks?status={statuses}&limit=500");
        if let Some(cursor) = &cursor {
            url.push_str("&cursor=");
            url.push_str(cursor);
        }
        let page = get_json(http, &url).await?;
        count += page.get("tasks").and_then(Value::as_array).map_or(0, Vec::len);
        match page.get("next_cursor").and_then(Value::as_str) {
            Some(next) if !next.is_empty() => cursor = Some(next.to_owned()),
            _ => return Ok(count),
        }
    }
}

struct Drained {
    /// From `started` to the first check that found every task ended.
    at: Duration,
    completed: usize,
    unsuccessful: usize,
    checks: usize,
}

/// Waits until nothing is pending, retrying or processing and `expected` tasks have
/// ended, checking every 10 ms.
async fn wait_drained(server: &Server, expected: usize, started: Instant) -> Result<Drained> {
    let base = server.base.as_str();
    let http = client(2, &server.key)?;
    let mut checks = 0;
    loop {
        if started.elapsed() > DRAIN_TIMEOUT {
            bail!("tasks still unfinished {} s after the start", DRAIN_TIMEOUT.as_secs());
        }
        checks += 1;
        let info = get_json(&http, &format!("{base}/api/v1/system/info")).await?;
        let queued = info.get("queued_tasks").and_then(Value::as_u64).context("system/info without queued_tasks")?;
        if queued == 0 {
            let processing = get_json(&http, &format!("{base}/api/v1/tasks?status=processing&limit=1")).await?;
            if processing.get("tasks").and_then(Value::as_array).is_some_and(Vec::is_empty) {
                let at = started.elapsed();
                let completed = count_tasks(&http, base, "completed").await?;
                let unsuccessful = count_tasks(&http, base, "failed,cancelled,expired").await?;
                if completed + unsuccessful >= expected {
                    return Ok(Drained { at, completed, unsuccessful, checks });
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

// ---------------------------------------------------------------------------------
// 1. Throughput.
// ---------------------------------------------------------------------------------

fn server_env(concurrency: usize, worker_enabled: bool) -> Vec<(&'static str, String)> {
    vec![
        ("ATELIER__ENGINES__INSTANT__ENABLED", "true".to_owned()),
        ("ATELIER__WORKER__CONCURRENCY", concurrency.to_string()),
        ("ATELIER__WORKER__ENABLED", worker_enabled.to_string()),
        ("ATELIER__QUEUE__MAX_QUEUED", MAX_QUEUED.to_string()),
    ]
}

struct Throughput {
    tasks_per_sec: f64,
    ids: Vec<String>,
}

/// Runs `n` instant tasks through `server`, adding the figures.
async fn throughput(
    server: &Server,
    n: usize,
    concurrency: usize,
    scope: &str,
    report: &mut Report,
) -> Result<Throughput> {
    eprintln!("[{scope}] throughput: {} instant tasks, worker.concurrency={concurrency}", thousands(n));
    let meter = CpuMeter::start(server);
    let started = Instant::now();
    let created =
        create_tasks(server, n, CREATE_CLIENTS, |i| json!({"model": "local/instant", "input": {"seed": i}})).await?;
    let create_cpu = meter.describe(server);
    let ok = created.ids.len();
    let drained = wait_drained(server, ok, started).await?;
    let total_cpu = meter.describe(server);
    let tasks_per_sec = ok as f64 / drained.at.as_secs_f64();
    let create_per_sec = ok as f64 / created.elapsed.as_secs_f64();
    let settings = format!("worker.concurrency={concurrency}, {CREATE_CLIENTS} creates in flight");
    let mut outcome = format!("{} completed", thousands(drained.completed));
    if drained.unsuccessful > 0 {
        outcome.push_str(&format!(", {} FAILED/cancelled/expired", thousands(drained.unsuccessful)));
    }
    report.add(
        scope,
        format!("throughput {} instant tasks, created->completed", thousands(n)),
        format!("{tasks_per_sec:.0}"),
        "tasks/s",
        format!(
            "{settings}; {:.2} s total; {outcome}; {}; {total_cpu} (incl. final counting)",
            drained.at.as_secs_f64(),
            describe_errors(&created.errors)
        ),
    );
    let p50 = quantile(&created.latencies_us, 0.5).map_or(0.0, |us| us as f64 / 1000.0);
    let p99 = quantile(&created.latencies_us, 0.99).map_or(0.0, |us| us as f64 / 1000.0);
    report.add(
        scope,
        format!("  create rate alone ({} POST /api/v1/tasks)", thousands(n)),
        format!("{create_per_sec:.0}"),
        "tasks/s",
        format!("{:.2} s; POST latency p50 {p50:.1} ms, p99 {p99:.1} ms; {create_cpu}", created.elapsed.as_secs_f64()),
    );
    if !created.samples.is_empty() {
        report.remark(format!("{scope}: create errors, e.g. {}", created.samples.join(" || ")));
    }
    if ok + drained.unsuccessful > 0 && drained.completed < ok {
        report.remark(format!("{scope}: only {} of {} created tasks completed", drained.completed, ok));
    }
    eprintln!("[{scope}]   drain detected after {} checks", drained.checks);
    Ok(Throughput { tasks_per_sec, ids: created.ids })
}

// ---------------------------------------------------------------------------------
// 2. Status reads.
// ---------------------------------------------------------------------------------

async fn read_load(
    server: &Server,
    ids: Arc<Vec<String>>,
    connections: usize,
    warmup: Duration,
    duration: Duration,
    scope: &str,
    report: &mut Report,
) -> Result<()> {
    eprintln!("[{scope}] status reads: {connections} connections, {} s", duration.as_secs_f64());
    if ids.is_empty() {
        bail!("no task ids to read");
    }
    let next = Arc::new(AtomicUsize::new(0));
    let bytes_read = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let measure_from = started + warmup;
    let measure_until = measure_from + duration;
    let mut handles = Vec::with_capacity(connections);
    for _ in 0..connections {
        // One client per load task with one idle slot: a fixed set of keep-alive connections.
        let http = client(1, &server.key)?;
        let (ids, next, bytes_read, base) =
            (Arc::clone(&ids), Arc::clone(&next), Arc::clone(&bytes_read), server.base.clone());
        handles.push(tokio::spawn(async move {
            let mut latencies: Vec<u32> = Vec::with_capacity(65_536);
            let mut errors: BTreeMap<String, usize> = BTreeMap::new();
            let mut url = String::with_capacity(base.len() + 64);
            loop {
                let sent = Instant::now();
                if sent >= measure_until {
                    break;
                }
                let id = &ids[next.fetch_add(1, Ordering::Relaxed) % ids.len()];
                url.clear();
                url.push_str(&base);
                url.push_str("/api/v1/tasks/");
                url.push_str(id);
                let outcome = match http.get(url.as_str()).send().await {
                    Ok(response) => {
                        let status = response.status();
                        match response.bytes().await {
                            Ok(body) if status == reqwest::StatusCode::OK => Ok(body.len()),
                            Ok(_) => Err(format!("HTTP {}", status.as_u16())),
                            Err(error) => Err(error_kind(&error)),
                        }
                    }
                    Err(error) => Err(error_kind(&error)),
                };
                if sent < measure_from {
                    continue;
                }
                match outcome {
                    Ok(len) => {
                        latencies.push(u32::try_from(sent.elapsed().as_micros()).unwrap_or(u32::MAX));
                        bytes_read.fetch_add(len as u64, Ordering::Relaxed);
                    }
                    Err(kind) => *errors.entry(kind).or_default() += 1,
                }
            }
            (latencies, errors)
        }));
    }
    tokio::time::sleep_until(measure_from.into()).await;
    let meter = CpuMeter::start(server);
    tokio::time::sleep_until(measure_until.into()).await;
    let cpu = meter.describe(server);
    let mut latencies = Vec::new();
    let mut errors: BTreeMap<String, usize> = BTreeMap::new();
    for handle in handles {
        let (mut l, e) = handle.await.context("a load task panicked")?;
        latencies.append(&mut l);
        for (kind, count) in e {
            *errors.entry(kind).or_default() += count;
        }
    }
    latencies.sort_unstable();
    let window = duration.as_secs_f64();
    let rate = latencies.len() as f64 / window;
    let q = |x: f64| quantile(&latencies, x).map_or(0.0, |us| f64::from(us) / 1000.0);
    let mean_bytes = bytes_read.load(Ordering::Relaxed) as f64 / latencies.len().max(1) as f64;
    let label = format!("GET /api/v1/tasks/{{id}}, {connections} connections");
    report.add(
        scope,
        label.clone(),
        format!("{rate:.0}"),
        "req/s",
        format!(
            "{} OK responses in {window:.0} s after {:.1} s warm-up; {} ids round-robin; ~{mean_bytes:.0} B/body; \
             {}; {cpu}",
            thousands(latencies.len()),
            warmup.as_secs_f64(),
            thousands(ids.len()),
            describe_errors(&errors)
        ),
    );
    report.add(scope, format!("  {label}, latency p50"), format!("{:.2}", q(0.5)), "ms", "");
    report.add(scope, format!("  {label}, latency p99"), format!("{:.2}", q(0.99)), "ms", "");
    report.add(scope, format!("  {label}, latency max"), format!("{:.2}", q(1.0)), "ms", "");
    Ok(())
}

// ---------------------------------------------------------------------------------
// 4. Memory.
// ---------------------------------------------------------------------------------

fn mib(kib: u64) -> String {
    format!("{:.1}", kib as f64 / 1024.0)
}

async fn memory(plan: &Plan, backend: &Backend, report: &mut Report) -> Result<()> {
    let scope = backend.name();
    let n = plan.memory_tasks;
    eprintln!("[{scope}] memory: {} pending placeholder tasks, workers disabled", thousands(n));
    let server = Server::start(&plan.server, backend, &server_env(4, false))?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let idle = server.memory()?;
    report.add(
        scope,
        "server RSS after startup (workers disabled)",
        mib(idle.rss_kib),
        "MiB",
        format!("VmHWM {} MiB", mib(idle.hwm_kib)),
    );
    let created = create_tasks(&server, n, CREATE_CLIENTS, |i| {
        json!({"model": "local/placeholder", "input": {"prompt": "memory test", "width": 256, "height": 256, "seed": i}})
    })
    .await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let loaded = server.memory()?;
    let info = get_json(&client(1, &server.key)?, &format!("{}/api/v1/system/info", server.base)).await?;
    let queued = info.get("queued_tasks").and_then(Value::as_u64).unwrap_or(0);
    report.add(
        scope,
        format!("server RSS with {} pending tasks", thousands(n)),
        mib(loaded.rss_kib),
        "MiB",
        format!(
            "VmHWM {} MiB; queued_tasks={queued}; created in {:.2} s ({:.0} tasks/s); {}",
            mib(loaded.hwm_kib),
            created.elapsed.as_secs_f64(),
            created.ids.len() as f64 / created.elapsed.as_secs_f64(),
            describe_errors(&created.errors)
        ),
    );
    if !created.samples.is_empty() {
        report.remark(format!("{scope} memory run: create errors, e.g. {}", created.samples.join(" || ")));
    }
    server.stop(report, &format!("{scope} memory run"));
    Ok(())
}

// ---------------------------------------------------------------------------------
// One backend: throughput, reads, memory.
// ---------------------------------------------------------------------------------

async fn run_backend(plan: &Plan, backend: &Backend, report: &mut Report) -> Result<()> {
    let scope = backend.name();
    let section_started = Instant::now();

    // Throughput with each worker concurrency; the fastest is used for the large run.
    let mut best: Option<(usize, f64)> = None;
    for &concurrency in &plan.concurrencies {
        let server = Server::start(&plan.server, backend, &server_env(concurrency, true))?;
        let result = throughput(&server, plan.small_tasks, concurrency, scope, report).await;
        server.stop(report, &format!("{scope} throughput (concurrency {concurrency})"));
        let result = result?;
        if best.is_none_or(|(_, rate)| result.tasks_per_sec > rate) {
            best = Some((concurrency, result.tasks_per_sec));
        }
    }
    let (concurrency, _) = best.context("no worker concurrency to try")?;
    if plan.concurrencies.len() > 1 {
        report.add(
            scope,
            "chosen worker.concurrency (fastest on the runs above)",
            concurrency.to_string(),
            "workers",
            format!("tried {:?}", plan.concurrencies),
        );
    }

    let server = Server::start(&plan.server, backend, &server_env(concurrency, true))?;
    let large = throughput(&server, plan.large_tasks, concurrency, scope, report).await;
    let large = match large {
        Ok(large) => large,
        Err(error) => {
            server.stop(report, &format!("{scope} large throughput run"));
            return Err(error);
        }
    };
    if let Ok(memory) = server.memory() {
        report.add(
            scope,
            format!("server RSS after the {}-task run", thousands(plan.large_tasks)),
            mib(memory.rss_kib),
            "MiB",
            format!("VmHWM {} MiB; worker.concurrency={concurrency}", mib(memory.hwm_kib)),
        );
    }

    // Status reads against the tasks just completed.
    let ids = Arc::new(large.ids);
    for &connections in &plan.read_connections {
        if let Err(error) =
            read_load(&server, Arc::clone(&ids), connections, plan.read_warmup, plan.read_duration, scope, report).await
        {
            report.remark(format!("{scope}: status reads with {connections} connections failed: {error:#}"));
        }
    }
    server.stop(report, &format!("{scope} large throughput and read runs"));

    if let Err(error) = memory(plan, backend, report).await {
        report.remark(format!("{scope}: memory run failed: {error:#}"));
    }
    eprintln!("[{scope}] done in {:.0} s", section_started.elapsed().as_secs_f64());
    Ok(())
}

// ---------------------------------------------------------------------------------
// 3. Placeholder render and thumbnail (in process).
// ---------------------------------------------------------------------------------

struct Stats {
    mean: f64,
    p50: f64,
    p99: f64,
}

fn stats(samples: &[Duration]) -> Stats {
    let mut sorted: Vec<f64> = samples.iter().map(|d| ms(*d)).collect();
    sorted.sort_by(f64::total_cmp);
    let mean = sorted.iter().sum::<f64>() / sorted.len().max(1) as f64;
    Stats { mean, p50: quantile(&sorted, 0.5).unwrap_or(0.0), p99: quantile(&sorted, 0.99).unwrap_or(0.0) }
}

/// What authentication costs each request, in process: the API key check every
/// `/api/v1` request makes (SHA-256 of the key, one indexed lookup, one user read),
/// and a session check, against a SQLite database in a temp dir.
async fn auth(plan: &Plan, report: &mut Report) -> Result<()> {
    use atelier_core::account::secrets::SecretBox;
    use atelier_core::account::{AccountService, AccountSettings, Role};

    let scope = "in-process";
    let n = if plan.quick { 2_000 } else { 20_000 };
    eprintln!("[{scope}] authentication: {n} key checks, {n} session checks");
    let dir = tempfile::tempdir().context("a temp dir")?;
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("auth.db").display());
    let database = atelier_db::Database::connect(&url, &atelier_db::DatabaseOptions::default()).await?;
    database.migrate().await?;
    let secret_box = SecretBox::from_base64(&SecretBox::generate_key()).map_err(|e| anyhow!(e))?;
    let accounts = AccountService::new(Arc::new(database), secret_box, AccountSettings::default());
    let user = accounts.user_for_cli("bench@localhost", Role::Admin).await?;
    let key = accounts.create_key_offline(&user, "bench", Role::Admin).await?;
    accounts.set_password(&accounts.authenticate_key(&key.secret).await?, None, "a long bench password").await?;
    let session = accounts.sign_in("bench@localhost", "a long bench password", None).await?;
    let mut key_checks = Vec::with_capacity(n);
    let mut session_checks = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        accounts.authenticate_key(&key.secret).await?;
        key_checks.push(t.elapsed());
        let t = Instant::now();
        accounts.authenticate_session(&session.token).await?;
        session_checks.push(t.elapsed());
    }
    for (name, samples) in
        [("API key check per request", &key_checks), ("session cookie check per request", &session_checks)]
    {
        let s = stats(samples);
        let notes = if name.starts_with("API key") {
            format!("{n} checks of one key, 1 task; a checked key is trusted for 5 s, so most are cache hits")
        } else {
            format!("{n} checks, 1 task, SQLite (WAL): a session lookup and a user read each")
        };
        report.add(scope, format!("{name}, mean"), format!("{:.3}", s.mean), "ms/request", notes);
        report.add(scope, format!("{name}, p99"), format!("{:.3}", s.p99), "ms/request", "");
    }
    Ok(())
}

/// Status reads through the real router in process, with an API key against the
/// same router with authentication replaced by a fixed caller: what authentication
/// costs a request, end to end through axum (no network, no HTTP client).
/// The whole application in process, on SQLite in a temp dir (kept as long as the
/// returned guard), without workers: for benchmarks that go through the router.
async fn quiet_app() -> Result<(tempfile::TempDir, atelier::app::App)> {
    let dir = tempfile::tempdir().context("a temp dir")?;
    let mut config = atelier::config::Config::default();
    config.data.dir = dir.path().to_path_buf();
    config.worker.enabled = false;
    config.log.level = "error".into();
    let app = atelier::app::App::build(config).await?;
    Ok((dir, app))
}

async fn auth_status_reads(plan: &Plan, report: &mut Report) -> Result<()> {
    use tower::ServiceExt;

    let scope = "in-process";
    let n: usize = if plan.quick { 4_000 } else { 40_000 };
    let in_flight = 16;
    eprintln!("[{scope}] status reads with and without authentication: {n} each, {in_flight} in flight");
    let (_dir, app) = quiet_app().await?;
    let first = app.state.accounts.first_run().await?.context("an empty server makes an admin")?;
    let caller = app.state.accounts.authenticate_key(&first.cli_key).await?;
    let with_key = atelier::router::router(app.state.clone());
    let trusting = atelier::router::router_trusting_for_benchmarks(app.state.clone(), caller);
    let create = axum::http::Request::post("/api/v1/tasks")
        .header("authorization", format!("Bearer {}", first.cli_key))
        .header("content-type", "application/json")
        .body(axum::body::Body::from(r#"{"model":"local/placeholder","input":{"prompt":"a fox"}}"#))?;
    let created = with_key.clone().oneshot(create).await?;
    let body = axum::body::to_bytes(created.into_body(), 1 << 20).await?;
    let task: Value = serde_json::from_slice(&body)?;
    let path = format!("/api/v1/tasks/{}", task["task_id"].as_str().context("a task id")?);

    let mut rates = Vec::new();
    for (label, router, key) in
        [("with an API key", &with_key, Some(first.cli_key.clone())), ("without authentication", &trusting, None)]
    {
        let started = Instant::now();
        let mut handles = Vec::new();
        for _ in 0..in_flight {
            let (router, key, path) = (router.clone(), key.clone(), path.clone());
            handles.push(tokio::spawn(async move {
                for _ in 0..n / in_flight {
                    let mut request = axum::http::Request::get(&path);
                    if let Some(key) = &key {
                        request = request.header("authorization", format!("Bearer {key}"));
                    }
                    let response = router.clone().oneshot(request.body(axum::body::Body::empty())?).await?;
                    anyhow::ensure!(response.status() == 200, "status read answered {}", response.status());
                    axum::body::to_bytes(response.into_body(), 1 << 20).await?;
                }
                Ok::<(), anyhow::Error>(())
            }));
        }
        for handle in handles {
            handle.await??;
        }
        let rate = n as f64 / started.elapsed().as_secs_f64();
        rates.push(rate);
        let notes = format!("GET {{task}} through the router, {n} requests, {in_flight} in flight, SQLite, no network");
        report.add(scope, format!("status reads {label}"), format!("{rate:.0}"), "req/s", notes);
    }
    if let [with, without] = rates[..] {
        let cost_ms = (1000.0 / with - 1000.0 / without) * in_flight as f64;
        report.add(
            scope,
            "  authentication's share of a status read",
            format!("{:.0}", (1.0 - with / without) * 100.0),
            "%",
            format!("about {cost_ms:.3} ms more per request at {in_flight} in flight"),
        );
    }
    Ok(())
}

/// The web studio's weight and how fast the router serves it, in process: a cold
/// first visit (the page and every file it loads, gzip accepted as browsers do) and
/// a revalidating reload (each file asked with its ETag, answered 304).
async fn studio(plan: &Plan, report: &mut Report) -> Result<()> {
    use tower::ServiceExt;

    let scope = "in-process";
    // An English first visit loads every file but the Japanese and Chinese
    // dictionaries; a visit in either language adds its own.
    let (dictionaries, files): (Vec<_>, Vec<_>) =
        atelier::studio::files().into_iter().partition(|file| file.path.starts_with("js/i18n/"));
    let bytes: usize = files.iter().map(|file| file.bytes).sum();
    let gzipped: usize = files.iter().map(|file| file.gzipped_bytes).sum();
    let dictionary = dictionaries.iter().map(|file| file.gzipped_bytes).max().unwrap_or_default();
    report.add(
        scope,
        "studio page weight (a first visit, English)",
        format!("{:.1}", gzipped as f64 / 1024.0),
        "KiB",
        format!(
            "{} files gzipped ({:.1} KiB uncompressed): HTML, CSS, JavaScript modules, icons; Japanese or Chinese adds up to {:.1} KiB",
            files.len(),
            bytes as f64 / 1024.0,
            dictionary as f64 / 1024.0
        ),
    );
    let loads: usize = if plan.quick { 500 } else { 5_000 };
    let in_flight = 16;
    eprintln!("[{scope}] studio: {loads} first visits and {loads} reloads, {in_flight} in flight");
    let (_dir, app) = quiet_app().await?;
    let router = atelier::router::router(app.state.clone());
    let mut paths = vec!["/".to_owned()];
    paths.extend(files.iter().filter(|file| file.path != "index.html").map(|file| format!("/studio/{}", file.path)));
    let get = |path: &str| axum::http::Request::get(path).header("accept-encoding", "gzip, deflate, br, zstd");
    let mut etags = Vec::new();
    for path in &paths {
        let response = router.clone().oneshot(get(path).body(axum::body::Body::empty())?).await?;
        anyhow::ensure!(response.status() == 200, "{path} answered {}", response.status());
        let etag = response.headers().get("etag").and_then(|v| v.to_str().ok()).context("an etag")?.to_owned();
        etags.push((path.clone(), etag));
    }
    let etags = std::sync::Arc::new(etags);
    for (label, revalidate) in [("studio first visits", false), ("studio reloads (304 per file)", true)] {
        let started = Instant::now();
        let mut handles = Vec::new();
        for _ in 0..in_flight {
            let (router, etags) = (router.clone(), etags.clone());
            handles.push(tokio::spawn(async move {
                for _ in 0..loads / in_flight {
                    for (path, etag) in etags.iter() {
                        let mut request = get(path);
                        if revalidate {
                            request = request.header("if-none-match", etag);
                        }
                        let response = router.clone().oneshot(request.body(axum::body::Body::empty())?).await?;
                        let expected = if revalidate { 304 } else { 200 };
                        anyhow::ensure!(response.status() == expected, "{path} answered {}", response.status());
                        axum::body::to_bytes(response.into_body(), 1 << 22).await?;
                    }
                }
                Ok::<(), anyhow::Error>(())
            }));
        }
        for handle in handles {
            handle.await??;
        }
        let done = (loads / in_flight) * in_flight;
        let rate = done as f64 / started.elapsed().as_secs_f64();
        report.add(
            scope,
            label,
            format!("{rate:.0}"),
            "pages/s",
            format!("{} requests per page through the router, {in_flight} in flight, no network", paths.len()),
        );
    }
    Ok(())
}

async fn render(plan: &Plan, report: &mut Report) -> Result<()> {
    let scope = "in-process";
    let n = plan.render_images;
    eprintln!("[{scope}] placeholder render + thumbnail: {n} images of 1024x1024");
    let provider = LocalProvider::new(LocalConfig::new(false));
    let input_for = |seed: usize| json!({"prompt": "a lighthouse on a cliff at dusk, oil painting", "width": 1024, "height": 1024, "seed": seed});

    // The first render loads the system fonts: measured apart.
    let warm_params = placeholder::parse(&input_for(1_000_000)).map_err(|e| anyhow!("{e}"))?;
    let warm = Instant::now();
    let fonts = FontSet::system();
    let font_load = warm.elapsed();
    let _ = placeholder::render_image(&warm_params, 1_000_000, fonts);
    let first_render = warm.elapsed();

    let (mut paint, mut submit, mut encode_est, mut thumb) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut png_bytes, mut thumb_bytes) = (0usize, 0usize);
    for seed in 0..n {
        let input = input_for(seed);
        let params = placeholder::parse(&input).map_err(|e| anyhow!("{e}"))?;

        let t = Instant::now();
        let image = placeholder::render_image(&params, seed as u32, fonts);
        let paint_time = t.elapsed();
        if image.dimensions() != (1024, 1024) {
            bail!("rendered {:?}, expected 1024x1024", image.dimensions());
        }
        drop(image);

        let validated = provider.validate(placeholder::MODEL, &input).map_err(|e| anyhow!("{e}"))?;
        let job = Job {
            running_for: std::time::Duration::ZERO,
            task_id: TaskId::new(),
            model: placeholder::MODEL,
            input: &validated,
            attempt: 1,
            progress: Arc::new(Default::default()),
            files: &atelier_core::ports::NoInputFiles,
        };
        let t = Instant::now();
        let submitted = provider.submit(&job).await.map_err(|e| anyhow!("placeholder submit: {e:?}"))?;
        let submit_time = t.elapsed();
        let outputs = match submitted {
            Submitted::Finished(outputs) => outputs,
            Submitted::Accepted { .. } => bail!("the placeholder engine did not finish in submit"),
        };
        let output = outputs.into_iter().next().context("the placeholder engine gave no output")?;
        png_bytes += output.bytes.len();

        let t = Instant::now();
        let thumbnail = atelier_assets::thumbnail::make_thumbnail(&output.bytes, &output.mime)
            .map_err(|e| anyhow!("thumbnail: {e}"))?
            .context("no thumbnail for a PNG")?;
        let thumb_time = t.elapsed();
        thumb_bytes += thumbnail.bytes.len();

        paint.push(paint_time);
        submit.push(submit_time);
        encode_est.push(submit_time.saturating_sub(paint_time));
        thumb.push(thumb_time);
    }
    let line = |report: &mut Report, name: &str, samples: &[Duration], notes: String| {
        let s = stats(samples);
        report.add(scope, format!("{name}, mean"), format!("{:.1}", s.mean), "ms/image", notes);
        report.add(scope, format!("{name}, p50"), format!("{:.1}", s.p50), "ms/image", "");
        report.add(scope, format!("{name}, p99"), format!("{:.1}", s.p99), "ms/image", "");
    };
    let samples = format!("{n} images, 1024x1024, distinct seeds, 1 thread");
    line(report, "placeholder paint (render_image, pixels only)", &paint, samples.clone());
    line(
        report,
        "placeholder render via Provider::submit (paint + PNG encode)",
        &submit,
        format!("{samples}; mean PNG {:.0} KiB", png_bytes as f64 / n.max(1) as f64 / 1024.0),
    );
    let e = stats(&encode_est);
    report.add(
        scope,
        "  of which PNG encode etc. (submit minus paint, same seed), mean",
        format!("{:.1}", e.mean),
        "ms/image",
        "difference of two separate runs",
    );
    line(
        report,
        "thumbnail (make_thumbnail: PNG decode, Lanczos3 to 256x256, WebP)",
        &thumb,
        format!("{samples}; mean WebP {:.1} KiB", thumb_bytes as f64 / n.max(1) as f64 / 1024.0),
    );
    let faces = fonts.report().faces;
    report.add(
        scope,
        "first render incl. system font indexing (not in the above)",
        format!("{:.1}", ms(first_render)),
        "ms",
        format!("font indexing {:.1} ms, {faces} faces", ms(font_load)),
    );
    Ok(())
}

// ---------------------------------------------------------------------------------
// 5 and 6. Providers through their emulators (Kie.ai, OpenAI).
// ---------------------------------------------------------------------------------

/// Worker concurrency of the emulator runs.
const EMULATED_WORKERS: usize = 32;
/// The key every emulator accepts.
const EMULATOR_API_KEY: &str = "test-key";
/// `first_poll_ms` (and the OpenAI emulator's `--poll-after-ms`) of the throughput runs…
const FAST_POLL_MS: u64 = 10;
/// …and of the memory runs.
const SLOW_POLL_MS: u64 = 5000;

/// A provider reached through `atelier emulate <subcommand>`, how the emulator runs,
/// and the tasks sent to it.
struct Emulated {
    /// `atelier emulate <subcommand>`.
    subcommand: &'static str,
    /// What the emulator prints on stderr just before its address.
    banner: &'static str,
    /// Flags after `--listen` and `--api-key`.
    flags: Vec<String>,
    /// The server's `[providers.<section>]`, upper case as in `ATELIER__PROVIDERS__KIE__…`.
    section: &'static str,
    /// Appended to the emulator's address for `base_url` (OpenAI's API root is `/v1`).
    base_path: &'static str,
    /// `first_poll_ms` of the server.
    first_poll_ms: u64,
    /// More server settings.
    extra_env: Vec<(&'static str, String)>,
    model: &'static str,
    /// The i-th `POST /api/v1/tasks` body.
    body: fn(usize) -> Value,
    /// The `/__emulator/stats` counter of creates (one per task), and its API name.
    create_counter: &'static str,
    create_call: &'static str,
    /// Other counters the notes mention (polls, downloads).
    other_counters: &'static [&'static str],
    /// How the emulator and the server are set up, for figures and notes.
    setup: String,
}

impl Emulated {
    /// Kie.ai without rate limits: tasks succeed at the first poll, or (`waiting`) never.
    fn kie(waiting: bool) -> Emulated {
        let steps: u32 = if waiting { 1_000_000 } else { 0 };
        Emulated {
            subcommand: "kie",
            banner: "Kie.ai emulator listening on http://",
            flags: ["--steps", &steps.to_string(), "--no-rate-limits", "--credits", "100000000"]
                .map(str::to_owned)
                .to_vec(),
            section: "KIE",
            base_path: "",
            first_poll_ms: if waiting { SLOW_POLL_MS } else { FAST_POLL_MS },
            extra_env: vec![("ATELIER__PROVIDERS__KIE__SUBMITS_PER_10S", "1000000".to_owned())],
            model: "kie/imagen4",
            body: |i| json!({"model": "kie/imagen4", "input": {"prompt": format!("bench {i}")}}),
            create_counter: "create_task",
            create_call: "createTask",
            other_counters: &["record_info"],
            setup: format!("steps {steps}"),
        }
    }

    /// OpenAI images: one synchronous `images/generations` call per task, the
    /// emulator drawing a real 1024x1024 PNG for each.
    fn openai_images() -> Emulated {
        Emulated {
            subcommand: "openai",
            banner: "OpenAI emulator listening on http://",
            flags: Vec::new(),
            section: "OPENAI",
            base_path: "/v1",
            first_poll_ms: FAST_POLL_MS,
            extra_env: Vec::new(),
            model: "openai/gpt-image-1",
            body: |i| {
                json!({"model": "openai/gpt-image-1",
                       "input": {"prompt": format!("bench {i}"), "size": "1024x1024", "quality": "low"}})
            },
            create_counter: "images_generations",
            create_call: "images.generations",
            other_counters: &[],
            setup: "synchronous, 1024x1024 quality low png".to_owned(),
        }
    }

    /// OpenAI videos: create, poll, download. The emulator's `openai-poll-after-ms`
    /// header wins over the server's `first_poll_ms`, so both are set. `waiting`: every
    /// video stays `in_progress` (the `never_finish` fault on each create).
    fn openai_videos(waiting: bool) -> Emulated {
        let poll_ms = if waiting { SLOW_POLL_MS } else { FAST_POLL_MS };
        let mut flags: Vec<String> =
            ["--steps", "0", "--poll-after-ms", &poll_ms.to_string()].map(str::to_owned).to_vec();
        if waiting {
            flags.extend(["--fault", "videos.create:always:never_finish"].map(str::to_owned));
        }
        Emulated {
            subcommand: "openai",
            banner: "OpenAI emulator listening on http://",
            setup: format!(
                "steps 0, poll-after {poll_ms} ms{}",
                if waiting { ", fault videos.create:always:never_finish" } else { "" }
            ),
            flags,
            section: "OPENAI",
            base_path: "/v1",
            first_poll_ms: poll_ms,
            extra_env: Vec::new(),
            model: "openai/sora-2",
            body: |i| json!({"model": "openai/sora-2", "input": {"prompt": format!("bench {i}"), "seconds": "4"}}),
            create_counter: "videos_create",
            create_call: "videos.create",
            other_counters: &["videos_retrieve", "videos_content"],
        }
    }

    /// The server's settings for this provider at `emulator`.
    fn server_env(&self, emulator: &Emulator) -> Vec<(String, String)> {
        let key = |name: &str| format!("ATELIER__PROVIDERS__{}__{name}", self.section);
        let mut env = vec![
            (key("API_KEY"), EMULATOR_API_KEY.to_owned()),
            (key("BASE_URL"), format!("{}{}", emulator.base, self.base_path)),
            (key("FIRST_POLL_MS"), self.first_poll_ms.to_string()),
            ("ATELIER__WORKER__CONCURRENCY".to_owned(), EMULATED_WORKERS.to_string()),
            ("ATELIER__LOG__LEVEL".to_owned(), "warn".to_owned()),
            ("ATELIER__QUEUE__MAX_QUEUED".to_owned(), MAX_QUEUED.to_string()),
        ];
        env.extend(self.extra_env.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
        env
    }

    /// Starts its emulator and a SQLite server pointed at it.
    fn start(&self, binary: &Path) -> Result<(Emulator, Server)> {
        let emulator = Emulator::start(binary, self)?;
        let env = self.server_env(&emulator);
        let env: Vec<(&str, String)> = env.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
        let server = Server::start(binary, &Backend::Sqlite, &env)?;
        Ok((emulator, server))
    }
}

/// `atelier emulate …` on a free loopback port.
struct Emulator {
    child: Child,
    base: String,
}

impl Emulator {
    fn start(binary: &Path, provider: &Emulated) -> Result<Emulator> {
        let mut command = Command::new(binary);
        command
            .args(["emulate", provider.subcommand, "--listen", "127.0.0.1:0", "--api-key", EMULATOR_API_KEY])
            .args(&provider.flags)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = command
            .spawn()
            .with_context(|| format!("starting {} emulate {}", binary.display(), provider.subcommand))?;
        let stderr = child.stderr.take().context("the emulator's stderr")?;
        let (address_tx, address_rx) = mpsc::channel::<String>();
        let banner = provider.banner;
        std::thread::spawn(move || {
            let mut address_tx = Some(address_tx);
            // Reads to the end so that the emulator never blocks on a full pipe.
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.split_once(banner).map(|(_, rest)| rest)
                    && let Some(tx) = address_tx.take()
                {
                    let _ = tx.send(rest.split_whitespace().next().unwrap_or_default().to_owned());
                }
            }
        });
        let mut emulator = Emulator { child, base: String::new() };
        match address_rx.recv_timeout(Duration::from_secs(30)) {
            Ok(address) if !address.is_empty() => emulator.base = format!("http://{address}"),
            _ => {
                let status = emulator.child.try_wait().ok().flatten();
                bail!("the {} emulator did not report its address (exit: {status:?})", provider.subcommand);
            }
        }
        Ok(emulator)
    }

    async fn stats(&self, http: &reqwest::Client) -> Result<Value> {
        get_json(http, &format!("{}/__emulator/stats", self.base)).await
    }

    /// One of the call counters of `/__emulator/stats`.
    async fn calls(&self, http: &reqwest::Client, counter: &str) -> Result<u64> {
        counter_in(&self.stats(http).await?, counter)
    }

    /// CPU time the emulator has used so far.
    fn cpu(&self) -> Option<ProcessCpu> {
        process_cpu(&format!("/proc/{}/stat", self.child.id()))
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn counter_in(stats: &Value, counter: &str) -> Result<u64> {
    stats.get(counter).and_then(Value::as_u64).with_context(|| format!("emulator stats without {counter}"))
}

/// CPU jiffies used between two readings.
fn cpu_between(before: Option<ProcessCpu>, after: Option<ProcessCpu>) -> Option<u64> {
    let (a, b) = (before?, after?);
    Some((b.user + b.system).saturating_sub(a.user + a.system))
}

/// User and system CPU time of a process's ended (and waited-for) children, from
/// its `/proc/<pid>/stat` (the server's ffmpeg runs, which take video posters).
fn children_cpu(pid: u32) -> Option<ProcessCpu> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some(ProcessCpu { user: fields.get(13)?.parse().ok()?, system: fields.get(14)?.parse().ok()? })
}

/// Where the CPU of a run went between the emulator, the server and the server's
/// children (ffmpeg).
fn emulated_cpu(emulator: Option<u64>, server: Option<u64>, children: Option<u64>) -> String {
    let (Some(emulator), Some(server), Some(children)) = (emulator, server, children) else {
        return "emulator CPU unknown".to_owned();
    };
    let total = (emulator + server + children).max(1);
    let verdict = if children * 2 >= total {
        " (dominated by the server's ffmpeg runs, one per video poster)"
    } else if emulator * 5 >= total * 2 {
        " (the emulator's image rendering is a large share: the figure understates the server alone)"
    } else {
        ""
    };
    format!(
        "emulator CPU {:.2} s = {:.0}% of emulator + server + server's children; server's children (ffmpeg) \
         {:.2} s = {:.0}%{verdict}",
        jiffies_secs(emulator),
        emulator as f64 * 100.0 / total as f64,
        jiffies_secs(children),
        children as f64 * 100.0 / total as f64
    )
}

/// Whether the list endpoint has at least one task with one of these statuses.
async fn any_task(http: &reqwest::Client, base: &str, statuses: &str) -> Result<bool> {
    let page = get_json(http, &format!("{base}/api/v1/tasks?status={statuses}&limit=1")).await?;
    Ok(page.get("tasks").and_then(Value::as_array).is_some_and(|tasks| !tasks.is_empty()))
}

/// Tasks/s through a zero-latency emulator, created → completed, and the
/// emulator's count of creates (exactly one per task).
async fn emulated_throughput(
    plan: &Plan,
    scope: &str,
    provider: &Emulated,
    n: usize,
    report: &mut Report,
) -> Result<()> {
    let model = provider.model;
    eprintln!("[{scope}] throughput: {} {model} tasks through the emulator ({})", thousands(n), provider.setup);
    let (emulator, server) = provider.start(&plan.server)?;
    let http = client(2, &server.key)?;
    let meter = CpuMeter::start(&server);
    let emulator_before = emulator.cpu();
    let server_before = server.cpu();
    let children_before = children_cpu(server.pid());
    let started = Instant::now();
    let result: Result<()> = async {
        let created = create_tasks(&server, n, CREATE_CLIENTS, provider.body).await?;
        let ok = created.ids.len();
        let mut checks = 0;
        let at = loop {
            if started.elapsed() > DRAIN_TIMEOUT {
                bail!("{model} tasks still unfinished {} s after the start", DRAIN_TIMEOUT.as_secs());
            }
            checks += 1;
            if !any_task(&http, &server.base, "pending,processing,retrying").await? {
                break started.elapsed();
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        let cpu = meter.describe(&server);
        let emulator_cpu = emulated_cpu(
            cpu_between(emulator_before, emulator.cpu()),
            cpu_between(server_before, server.cpu()),
            cpu_between(children_before, children_cpu(server.pid())),
        );
        let completed = count_tasks(&http, &server.base, "completed").await?;
        let any_failed = any_task(&http, &server.base, "failed").await?;
        let unsuccessful = count_tasks(&http, &server.base, "failed,cancelled,expired").await?;
        let stats = emulator.stats(&http).await?;
        let calls = counter_in(&stats, provider.create_counter)?;
        let rate = completed as f64 / at.as_secs_f64();
        let mut outcome = format!("{} of {} created tasks completed", thousands(completed), thousands(ok));
        if unsuccessful > 0 {
            outcome.push_str(&format!(", {} FAILED/cancelled/expired", thousands(unsuccessful)));
        }
        report.add(
            scope,
            format!("throughput {} {model} tasks via emulator ({}), created->completed", thousands(n), provider.setup),
            format!("{rate:.0}"),
            "tasks/s",
            format!(
                "worker.concurrency={EMULATED_WORKERS}, first_poll_ms={}, {CREATE_CLIENTS} creates in flight; {:.2} s \
                 total ({checks} checks); creates took {:.2} s; {outcome}; failed: {}; {}; {cpu}; {emulator_cpu}",
                provider.first_poll_ms,
                at.as_secs_f64(),
                created.elapsed.as_secs_f64(),
                if any_failed { "SOME" } else { "none" },
                describe_errors(&created.errors)
            ),
        );
        let mut notes = if calls == n as u64 {
            format!("= {} tasks: one submit per task", thousands(n))
        } else {
            format!("expected {} (one per task)", thousands(n))
        };
        for counter in provider.other_counters {
            notes.push_str(&format!("; {counter} {}", counter_in(&stats, counter)?));
        }
        report.add(scope, format!("  emulator {} calls", provider.create_call), calls.to_string(), "calls", notes);
        if calls != n as u64 {
            report.remark(format!("{scope}: the emulator saw {calls} {} calls for {n} tasks", provider.create_call));
        }
        if any_failed || completed < ok {
            report.remark(format!("{scope}: only {completed} of {ok} created {model} tasks completed"));
        }
        if !created.samples.is_empty() {
            report.remark(format!("{scope}: create errors, e.g. {}", created.samples.join(" || ")));
        }
        Ok(())
    }
    .await;
    server.stop(report, &format!("{scope} {model} throughput run"));
    drop(emulator);
    result
}

/// Server memory with every task submitted to an emulator that never finishes them.
async fn emulated_memory(plan: &Plan, scope: &str, provider: &Emulated, n: usize, report: &mut Report) -> Result<()> {
    let model = provider.model;
    eprintln!("[{scope}] memory: {} {model} tasks waiting on a never-finishing emulator", thousands(n));
    let (emulator, server) = provider.start(&plan.server)?;
    let service = provider.subcommand;
    let result: Result<()> = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let idle = server.memory()?;
        report.add(
            scope,
            format!("server RSS after startup ({service} configured)"),
            mib(idle.rss_kib),
            "MiB",
            format!("VmHWM {} MiB; worker.concurrency={EMULATED_WORKERS}", mib(idle.hwm_kib)),
        );
        let started = Instant::now();
        let created = create_tasks(&server, n, CREATE_CLIENTS, provider.body).await?;
        let http = client(2, &server.key)?;
        let target = created.ids.len() as u64;
        let mut calls;
        loop {
            calls = emulator.calls(&http, provider.create_counter).await?;
            if calls >= target {
                break;
            }
            if started.elapsed() > DRAIN_TIMEOUT {
                bail!("only {calls} of {target} {model} tasks submitted after {} s", DRAIN_TIMEOUT.as_secs());
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let submitted_at = started.elapsed();
        let loaded = server.memory()?;
        let waiting = count_tasks(&http, &server.base, "processing").await?;
        report.add(
            scope,
            format!("server RSS with {} {model} tasks submitted, awaiting results", thousands(n)),
            mib(loaded.rss_kib),
            "MiB",
            format!(
                "VmHWM {} MiB; emulator {} calls {calls}; {} processing; first_poll_ms={}; emulator {}; all \
                 submitted {:.2} s after the first create (creates took {:.2} s); {}",
                mib(loaded.hwm_kib),
                provider.create_call,
                thousands(waiting),
                provider.first_poll_ms,
                provider.setup,
                submitted_at.as_secs_f64(),
                created.elapsed.as_secs_f64(),
                describe_errors(&created.errors)
            ),
        );
        if waiting != n {
            report.remark(format!("{scope} memory run: {waiting} of {n} {model} tasks processing"));
        }
        if !created.samples.is_empty() {
            report.remark(format!("{scope} memory run: create errors, e.g. {}", created.samples.join(" || ")));
        }
        Ok(())
    }
    .await;
    server.stop(report, &format!("{scope} {model} memory run"));
    drop(emulator);
    result
}

async fn kie(plan: &Plan, report: &mut Report) -> Result<()> {
    let scope = "kie/sqlite";
    let section_started = Instant::now();
    if let Err(error) = emulated_throughput(plan, scope, &Emulated::kie(false), plan.kie_tasks, report).await {
        report.remark(format!("{scope}: throughput run failed: {error:#}"));
    }
    if let Err(error) = emulated_memory(plan, scope, &Emulated::kie(true), plan.kie_memory_tasks, report).await {
        report.remark(format!("{scope}: memory run failed: {error:#}"));
    }
    eprintln!("[{scope}] done in {:.0} s", section_started.elapsed().as_secs_f64());
    Ok(())
}

/// The OpenAI emulator alone: `images/generations` as the server sends it, one
/// request at a time, for what drawing and encoding an image costs the emulator.
async fn openai_image_probe(plan: &Plan, scope: &str, report: &mut Report) -> Result<()> {
    let n = plan.openai_probe_images;
    let provider = Emulated::openai_images();
    let emulator = Emulator::start(&plan.server, &provider)?;
    let http = client(1, EMULATOR_API_KEY)?;
    let url = format!("{}{}/images/generations", emulator.base, provider.base_path);
    let before = emulator.cpu();
    let started = Instant::now();
    let mut latencies = Vec::with_capacity(n);
    let mut bytes = 0;
    for i in 0..n {
        let body = json!({"model": "gpt-image-1", "prompt": format!("bench {i}"), "n": 1, "size": "1024x1024",
                          "quality": "low", "output_format": "png"});
        let sent = Instant::now();
        let response = http.post(&url).json(&body).send().await.context("POST images/generations")?;
        let status = response.status();
        let answer = response.bytes().await.context("reading an images answer")?;
        if !status.is_success() {
            bail!("images/generations: HTTP {status}: {}", String::from_utf8_lossy(&answer));
        }
        latencies.push(sent.elapsed());
        bytes += answer.len();
    }
    let elapsed = started.elapsed();
    let after = emulator.cpu();
    let cpu = cpu_between(before, after);
    latencies.sort_unstable();
    let median = quantile(&latencies, 0.5).unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    report.add(
        scope,
        "emulator alone: images.generations 1024x1024 low png, one at a time",
        format!("{:.1}", ms(median)),
        "ms",
        format!(
            "median of {n}; p90 {:.1} ms; emulator CPU {:.2} s for {n} images ({:.1} ms each); answers {} KiB \
             each (base64 PNG); {:.0} images/s in sequence, so at most ~{:.0}/s on {cores} cores before the server \
             does anything",
            ms(quantile(&latencies, 0.9).unwrap_or_default()),
            cpu.map_or(f64::NAN, jiffies_secs),
            cpu.map_or(f64::NAN, |cpu| jiffies_secs(cpu) * 1000.0 / n.max(1) as f64),
            bytes / n.max(1) / 1024,
            n as f64 / elapsed.as_secs_f64(),
            cores as f64 * 1000.0 / ms(median).max(0.001),
        ),
    );
    drop(emulator);
    Ok(())
}

async fn openai(plan: &Plan, report: &mut Report) -> Result<()> {
    let scope = "openai/sqlite";
    let section_started = Instant::now();
    if let Err(error) = openai_image_probe(plan, scope, report).await {
        report.remark(format!("{scope}: emulator image probe failed: {error:#}"));
    }
    let images = Emulated::openai_images();
    if let Err(error) = emulated_throughput(plan, scope, &images, plan.openai_tasks, report).await {
        report.remark(format!("{scope}: image throughput run failed: {error:#}"));
    }
    let videos = Emulated::openai_videos(false);
    if let Err(error) = emulated_throughput(plan, scope, &videos, plan.openai_tasks, report).await {
        report.remark(format!("{scope}: video throughput run failed: {error:#}"));
    }
    let waiting = Emulated::openai_videos(true);
    if let Err(error) = emulated_memory(plan, scope, &waiting, plan.openai_memory_tasks, report).await {
        report.remark(format!("{scope}: memory run failed: {error:#}"));
    }
    eprintln!("[{scope}] done in {:.0} s", section_started.elapsed().as_secs_f64());
    Ok(())
}

// ---------------------------------------------------------------------------------
// Main.
// ---------------------------------------------------------------------------------

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| text.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_owned())
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned())
}

#[tokio::main]
async fn main() -> Result<()> {
    let plan = parse_args()?;
    let started = Instant::now();
    if (plan.sqlite || plan.postgres || plan.kie || plan.openai) && !plan.server.exists() {
        bail!("server binary {} not found (build it: cargo build --release -p atelier)", plan.server.display());
    }
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let postgres_url = std::env::var(POSTGRES_URL_ENV).ok().filter(|u| !u.is_empty());
    let mut report = Report::default();
    let load_before = load_average();

    if plan.render
        && let Err(error) = auth(&plan, &mut report).await
    {
        report.remark(format!("auth benchmark failed: {error:#}"));
    }
    if plan.render
        && let Err(error) = auth_status_reads(&plan, &mut report).await
    {
        report.remark(format!("status-read benchmark failed: {error:#}"));
    }
    if plan.render
        && let Err(error) = studio(&plan, &mut report).await
    {
        report.remark(format!("studio benchmark failed: {error:#}"));
    }
    if plan.render
        && let Err(error) = render(&plan, &mut report).await
    {
        report.remark(format!("render benchmark failed: {error:#}"));
    }
    if plan.sqlite
        && let Err(error) = run_backend(&plan, &Backend::Sqlite, &mut report).await
    {
        report.remark(format!("sqlite: benchmark failed: {error:#}"));
    }
    if plan.kie
        && let Err(error) = kie(&plan, &mut report).await
    {
        report.remark(format!("kie: benchmark failed: {error:#}"));
    }
    if plan.openai
        && let Err(error) = openai(&plan, &mut report).await
    {
        report.remark(format!("openai: benchmark failed: {error:#}"));
    }
    if plan.postgres {
        match &postgres_url {
            Some(url) => {
                if let Err(error) = run_backend(&plan, &Backend::Postgres(url.clone()), &mut report).await {
                    report.remark(format!("postgres: benchmark failed: {error:#}"));
                }
            }
            None => report.remark(format!("postgres: skipped ({POSTGRES_URL_ENV} is not set; scripts/bench sets it)")),
        }
    }

    println!();
    println!(
        "Atelier benchmarks ({} run, {:.0} s)",
        if plan.quick { "quick" } else { "full" },
        started.elapsed().as_secs_f64()
    );
    println!("machine: {cores} cores ({}); the load generator runs on the same cores as the server", cpu_model());
    println!("load average before the run: {load_before}; after: {}", load_average());
    println!(
        "CPU notes: from /proc during each measurement: server = the atelier process, bench = this load \
         generator, rest of machine = everything else (PostgreSQL's processes on postgres; any other work)"
    );
    println!("server: {} serve, loopback; release build", plan.server.display());
    println!(
        "server settings: log.level=warn, engines.instant.enabled=true, queue.max_queued={MAX_QUEUED}, \
         worker.concurrency as noted, everything else default (database.max_connections=8)"
    );
    println!(
        "throughput: POST /api/v1/tasks {{\"model\":\"local/instant\",\"input\":{{\"seed\":i}}}} with {CREATE_CLIENTS} \
         requests in flight; clock from first create sent to the first 10 ms check that finds nothing \
         pending/retrying/processing; fresh server and database per run"
    );
    if plan.kie {
        println!(
            "kie: `atelier emulate kie --no-rate-limits` on loopback; POST /api/v1/tasks \
             {{\"model\":\"kie/imagen4\",\"input\":{{\"prompt\":\"bench i\"}}}} with {CREATE_CLIENTS} in flight; \
             providers.kie.submits_per_10s=1000000, worker.concurrency={EMULATED_WORKERS}, SQLite"
        );
    }
    if plan.openai {
        println!(
            "openai: `atelier emulate openai` on loopback (no rate limits to turn off); POST /api/v1/tasks \
             {{\"model\":\"openai/gpt-image-1\",\"input\":{{\"prompt\":\"bench i\",\"size\":\"1024x1024\",\
             \"quality\":\"low\"}}}} and {{\"model\":\"openai/sora-2\",\"input\":{{\"prompt\":\"bench i\",\
             \"seconds\":\"4\"}}}} with {CREATE_CLIENTS} in flight; the emulator's openai-poll-after-ms header \
             overrides providers.openai.first_poll_ms, so both are set; worker.concurrency={EMULATED_WORKERS}, SQLite"
        );
    }
    if postgres_url.is_some() && plan.postgres {
        println!("postgres: throwaway local cluster (fsync=off, synchronous_commit=off, full_page_writes=off)");
    }
    println!();
    report.print();
    Ok(())
}
