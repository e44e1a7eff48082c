//! The server under test: the `atelier` binary on a loopback port with a fresh data
//! dir and database (its log, memory and CPU read from /proc), or the whole
//! application in process.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::cpu::{ProcessCpu, process_cpu};
use crate::report::Report;

/// The server's `queue.max_queued` in every run.
pub const MAX_QUEUED: u64 = 200_000;

#[derive(Debug, Clone)]
pub enum Backend {
    Sqlite,
    /// Admin URL of a PostgreSQL cluster; a database is created per server.
    Postgres(String),
}

impl Backend {
    pub fn name(&self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }
}

#[derive(Debug, Default)]
pub struct ServerLog {
    lines: usize,
    /// The first lines after the listening line (warnings and errors: the level is warn).
    kept: Vec<String>,
    /// Every line after the listening line, grouped by its message (timestamp and
    /// `key=value` fields dropped).
    kinds: BTreeMap<String, usize>,
}

/// `2026-01-01T00:00:00Z  WARN target: message key=value` → `WARN target: message`.
pub fn log_kind(line: &str) -> String {
    let mut words = line.split_whitespace().peekable();
    if words.peek().is_some_and(|w| w.len() > 10 && w.as_bytes().first().is_some_and(u8::is_ascii_digit)) {
        words.next();
    }
    let kind: Vec<&str> = words.filter(|w| !w.contains('=')).collect();
    kind.join(" ").chars().take(160).collect()
}

pub struct Server {
    pub child: Child,
    pub base: String,
    /// The admin key the first start wrote to the data dir.
    pub key: String,
    pub log: Arc<Mutex<ServerLog>>,
    pub _dir: tempfile::TempDir,
}

#[derive(Debug, Clone, Copy)]
pub struct Memory {
    pub rss_kib: u64,
    pub hwm_kib: u64,
}

impl Server {
    pub async fn start(binary: &Path, backend: &Backend, env: &[(&str, String)]) -> Result<Server> {
        let (dir, url) = fresh_store(backend).await?;
        Self::launch(binary, dir, url, env)
    }

    /// Starts the server on a data dir and database made beforehand (see
    /// [`fresh_store`]); the server owns the dir from here.
    pub fn launch(
        binary: &Path,
        dir: tempfile::TempDir,
        database_url: String,
        env: &[(&str, String)],
    ) -> Result<Server> {
        let mut command = Command::new(binary);
        command.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"]).arg(dir.path());
        command.args(["--database-url", &database_url]);
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
                    // Log records and panics only: the first run's banner (the admin's
                    // sign-in link, the CLI key's path) is printed, not logged.
                    if !(line.contains(" WARN ") || line.contains(" ERROR ") || line.contains("panicked")) {
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

    /// Stops the server and keeps its data dir (to start another server on it).
    pub fn into_dir(mut self) -> Result<tempfile::TempDir> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let empty = tempfile::tempdir().context("a temp dir")?;
        Ok(std::mem::replace(&mut self._dir, empty))
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn memory(&self) -> Result<Memory> {
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
    pub fn cpu(&self) -> Option<ProcessCpu> {
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

    pub fn stop(mut self, report: &mut Report, scope: &str) {
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

/// A data dir and a database URL for a new server: SQLite in the dir, or a new
/// database in the PostgreSQL cluster.
pub async fn fresh_store(backend: &Backend) -> Result<(tempfile::TempDir, String)> {
    let dir = tempfile::Builder::new().prefix("atelier-bench-").tempdir().context("creating a data dir")?;
    let url = match backend {
        Backend::Sqlite => format!("sqlite://{}?mode=rwc", dir.path().join("atelier.db").display()),
        Backend::Postgres(admin) => atelier_testkit::create_postgres_database(admin)
            .await
            .context("creating a database in the PostgreSQL cluster")?,
    };
    Ok((dir, url))
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The whole application in process, on SQLite in a temp dir (kept as long as the
/// returned guard), without workers: for benchmarks that go through the router.
pub async fn quiet_app() -> Result<(tempfile::TempDir, atelier::app::App)> {
    let dir = tempfile::tempdir().context("a temp dir")?;
    let mut config = atelier_testkit::app::base_config(dir.path(), "");
    config.worker.enabled = false;
    config.log.level = "error".into();
    let app = atelier::app::App::build(config).await?;
    Ok((dir, app))
}
