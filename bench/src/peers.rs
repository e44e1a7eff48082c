//! Peers measured beside Atelier in one run, with the same load generator (issue 24):
//! seed 004's own design (FastAPI + SQLAlchemy + SQLite, `bench/peers/seed004`) for
//! tasks created→completed and status reads, and LiteLLM's proxy for what a gateway
//! adds to a synchronous image call. Each figure is printed for Atelier and the peer,
//! and a summary table at the end gives their ratio against the aims.
//!
//! The peers run from the venvs `scripts/bench` makes (`ATELIER_BENCH_SEED004_PYTHON`,
//! `ATELIER_BENCH_LITELLM`); without one, that peer is skipped, saying so. Here: the
//! section, the peers' processes ([`PeerProcess`], their memory and CPU), the summary.

mod litellm;
mod seed004;

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::plan::Plan;
use crate::report::Report;

/// The section's name in its remarks.
const SCOPE: &str = "peers";
/// How long a peer may take to answer its health route after its start.
const START_TIMEOUT: Duration = Duration::from_secs(120);
/// Stderr lines of a peer kept for an error message.
const KEPT_LINES: usize = 30;

/// One row of the summary: a figure for Atelier and for the peer. The ratio is
/// always Atelier ÷ peer; `met` says whether the aim holds (None: no aim).
pub struct Row {
    pub figure: String,
    pub atelier: f64,
    pub peer: f64,
    pub unit: &'static str,
    pub aim: &'static str,
    pub met: Option<bool>,
}

impl Row {
    fn ratio(&self) -> Option<f64> {
        (self.peer > 0.0).then(|| self.atelier / self.peer)
    }
}

/// The section's summary table, printed after the report.
#[derive(Default)]
pub struct Summary {
    pub rows: Vec<Row>,
}

impl Summary {
    pub fn print(&self, cores: usize) {
        println!();
        println!(
            "peers summary (ratio = Atelier / peer; one run; server, peer and load generator share {cores} cores):"
        );
        let cells: Vec<[String; 6]> = self
            .rows
            .iter()
            .map(|row| {
                let value = |v: f64| {
                    if v.abs() >= 100.0 { format!("{v:.0} {}", row.unit) } else { format!("{v:.2} {}", row.unit) }
                };
                [
                    row.figure.clone(),
                    value(row.atelier),
                    value(row.peer),
                    row.ratio().map_or_else(|| "n/a".to_owned(), |r| format!("{r:.2}x")),
                    row.aim.to_owned(),
                    match row.met {
                        Some(true) => "met".to_owned(),
                        Some(false) => "NOT met".to_owned(),
                        None => "-".to_owned(),
                    },
                ]
            })
            .collect();
        let header = ["figure", "Atelier", "peer", "ratio", "aim", "met?"];
        let mut widths = header.map(str::len);
        for row in &cells {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.len());
            }
        }
        let line = |cells: [&str; 6]| {
            let [w0, w1, w2, w3, w4, w5] = widths;
            println!(
                "{:<w0$} | {:>w1$} | {:>w2$} | {:>w3$} | {:<w4$} | {:<w5$}",
                cells[0], cells[1], cells[2], cells[3], cells[4], cells[5]
            );
        };
        line(header);
        println!("{}", "-".repeat(widths.iter().sum::<usize>() + 3 * 5));
        for row in &cells {
            line([&row[0], &row[1], &row[2], &row[3], &row[4], &row[5]].map(String::as_str));
        }
        if self.rows.is_empty() {
            println!("(no peer was measured: see the remarks)");
        }
    }
}

/// Runs every peer; a peer that cannot run is remarked and the others still run.
pub async fn run(plan: &Plan, report: &mut Report) -> Result<Summary> {
    let mut summary = Summary::default();
    let started = Instant::now();
    match std::env::var(seed004::PYTHON_ENV).ok().filter(|p| !p.is_empty()) {
        Some(python) => {
            if let Err(error) = seed004::run(plan, Path::new(&python), report, &mut summary).await {
                report.remark(format!("{SCOPE}: seed 004 failed: {error:#}"));
            }
        }
        None => report.remark(format!(
            "{SCOPE}: seed 004 skipped ({} is not set: scripts/bench sets it when its venv installs)",
            seed004::PYTHON_ENV
        )),
    }
    match std::env::var(litellm::LITELLM_ENV).ok().filter(|p| !p.is_empty()) {
        Some(litellm) => {
            if let Err(error) = litellm::run(plan, Path::new(&litellm), report, &mut summary).await {
                report.remark(format!("{SCOPE}: LiteLLM failed: {error:#}"));
            }
        }
        None => report.remark(format!(
            "{SCOPE}: LiteLLM skipped ({} is not set: scripts/bench sets it when its venv installs)",
            litellm::LITELLM_ENV
        )),
    }
    eprintln!("[{SCOPE}] done in {:.0} s", started.elapsed().as_secs_f64());
    Ok(summary)
}

/// Background workers of the seed 004 app, for the conditions.
pub fn seed004_workers() -> usize {
    seed004::WORKERS
}

/// A free loopback port (bound, read, released: the peer binds it next).
fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr().context("the free port's address")?.port())
}

/// A peer's server process on a loopback port, stopped on drop.
pub struct PeerProcess {
    name: &'static str,
    child: Child,
    pub base: String,
    /// The last lines of its stderr.
    tail: Arc<Mutex<VecDeque<String>>>,
}

impl PeerProcess {
    /// Starts `command` (made to listen on 127.0.0.1:`port`) and waits until
    /// `health_path` answers 200.
    pub async fn start(name: &'static str, mut command: Command, port: u16, health_path: &str) -> Result<PeerProcess> {
        command.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
        let mut child = command.spawn().with_context(|| format!("starting {name}: {command:?}"))?;
        let stderr = child.stderr.take().context("the peer's stderr")?;
        let tail = Arc::new(Mutex::new(VecDeque::with_capacity(KEPT_LINES)));
        {
            let tail = Arc::clone(&tail);
            // Reads to the end so that the peer never blocks on a full pipe.
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    if let Ok(mut tail) = tail.lock() {
                        if tail.len() == KEPT_LINES {
                            tail.pop_front();
                        }
                        tail.push_back(line);
                    }
                }
            });
        }
        let mut peer = PeerProcess { name, child, base: format!("http://127.0.0.1:{port}"), tail };
        let http = reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(2)).build()?;
        let started = Instant::now();
        loop {
            if let Some(status) = peer.child.try_wait().context("checking the peer")? {
                std::thread::sleep(Duration::from_millis(200));
                bail!("{name} exited before answering ({status}); its stderr ends:\n{}", peer.tail());
            }
            if let Ok(response) = http.get(format!("{}{health_path}", peer.base)).send().await
                && response.status().is_success()
            {
                eprintln!("[{SCOPE}] {name} ready in {:.1} s", started.elapsed().as_secs_f64());
                return Ok(peer);
            }
            if started.elapsed() > START_TIMEOUT {
                bail!(
                    "{name} did not answer {health_path} in {} s; its stderr ends:\n{}",
                    START_TIMEOUT.as_secs(),
                    peer.tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn tail(&self) -> String {
        self.tail.lock().map(|t| t.iter().cloned().collect::<Vec<_>>().join("\n")).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// RSS of the peer and every process under it, in KiB.
    pub fn rss_kib(&self) -> Result<u64> {
        tree_rss_kib(self.pid())
    }

    /// Stops the peer; remarks if it had died during the run.
    pub fn stop(mut self, report: &mut Report) {
        if let Ok(Some(status)) = self.child.try_wait() {
            report.remark(format!(
                "{SCOPE}: {} exited by itself during the run ({status}):\n{}",
                self.name,
                self.tail()
            ));
        }
    }
}

impl Drop for PeerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The parent pid of a process, from its `/proc/<pid>/stat`.
fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// `pid` and its descendants.
fn process_tree(pid: u32) -> Vec<u32> {
    let mut all: Vec<(u32, u32)> = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            if let Some(child) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok())
                && let Some(parent) = parent_of(child)
            {
                all.push((child, parent));
            }
        }
    }
    let mut tree = vec![pid];
    let mut i = 0;
    while i < tree.len() {
        let parent = tree[i];
        tree.extend(all.iter().filter(|(_, p)| *p == parent).map(|(c, _)| *c));
        i += 1;
    }
    tree
}

/// RSS of `pid` and its descendants, in KiB.
pub fn tree_rss_kib(pid: u32) -> Result<u64> {
    let mut total = 0;
    for member in process_tree(pid) {
        let Ok(status) = std::fs::read_to_string(format!("/proc/{member}/status")) else { continue };
        if let Some(kib) = status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
        {
            total += kib;
        }
    }
    if total == 0 {
        bail!("no RSS for process {pid}");
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(atelier: f64, peer: f64) -> Row {
        Row { figure: "f".to_owned(), atelier, peer, unit: "x", aim: "-", met: None }
    }

    #[test]
    fn the_ratio_is_atelier_over_the_peer_and_absent_without_a_positive_peer() {
        assert_eq!(row(30.0, 3.0).ratio(), Some(10.0));
        assert_eq!(row(1.0, 0.0).ratio(), None);
        assert_eq!(row(1.0, -2.0).ratio(), None);
    }

    #[test]
    fn a_process_tree_holds_its_children_and_their_memory() {
        let mut child = Command::new("sleep").arg("5").spawn().expect("sleep starts");
        let tree = process_tree(std::process::id());
        let own = tree_rss_kib(child.id()).expect("the child's RSS");
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(tree.first(), Some(&std::process::id()));
        assert!(tree.contains(&child.id()), "{tree:?} lacks the child {}", child.id());
        assert!(own > 0);
    }
}
