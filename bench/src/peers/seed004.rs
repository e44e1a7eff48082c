//! Seed 004's own design (`bench/peers/seed004/app.py`: FastAPI, SQLAlchemy 2 ORM,
//! SQLite in WAL mode, background asyncio workers, an instant engine) under uvicorn
//! with one worker process, against Atelier on SQLite in the same run: instant tasks
//! created → completed, status reads of completed tasks, and memory. Both are driven
//! by the same load generator (`load::create_tasks_at`, `reads::ReadLoad`).

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use super::{PeerProcess, Row, Summary, free_port};
use crate::backend::server_env;
use crate::cpu::CpuMeter;
use crate::load::{CREATE_CLIENTS, DRAIN_TIMEOUT, client_with, create_tasks_at, get_json};
use crate::plan::Plan;
use crate::reads::{ReadLoad, Reads, add_figures};
use crate::report::{Report, describe_errors, mib, quantile, thousands};
use crate::server::{Backend, Server};
use crate::{reads, throughput};

/// The venv's python with seed 004's requirements (`bench/peers/seed004/requirements.txt`).
pub const PYTHON_ENV: &str = "ATELIER_BENCH_SEED004_PYTHON";
/// The app's directory.
const APP_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/peers/seed004");
/// Background workers of the app (its `SEED004_WORKERS`).
pub const WORKERS: usize = 4;
/// Connections of the status reads (the aim is at 32).
const READ_CONNECTIONS: usize = 32;

/// Atelier's figures and the peer's, for the summary.
struct Figures {
    tasks_per_sec: f64,
    reads: Reads,
    rss_kib: u64,
}

pub async fn run(plan: &Plan, python: &Path, report: &mut Report, summary: &mut Summary) -> Result<()> {
    let n = plan.large_tasks;
    let atelier = atelier(plan, n, report).await.context("Atelier's side")?;
    let peer = peer(plan, python, n, report).await.context("seed 004's side")?;
    let label = |what: &str| format!("{what} ({} instant tasks, {CREATE_CLIENTS} creates in flight)", thousands(n));
    summary.rows.push(Row {
        figure: label("tasks created->completed"),
        atelier: atelier.tasks_per_sec,
        peer: peer.tasks_per_sec,
        unit: "tasks/s",
        aim: ">= 10x seed 004",
        met: Some(atelier.tasks_per_sec >= 10.0 * peer.tasks_per_sec),
    });
    summary.rows.push(Row {
        figure: format!("status reads, {READ_CONNECTIONS} connections"),
        atelier: atelier.reads.rate,
        peer: peer.reads.rate,
        unit: "req/s",
        aim: ">= 25x seed 004",
        met: Some(atelier.reads.rate >= 25.0 * peer.reads.rate),
    });
    summary.rows.push(Row {
        figure: "  status reads p50".to_owned(),
        atelier: atelier.reads.ms(0.5),
        peer: peer.reads.ms(0.5),
        unit: "ms",
        aim: "-",
        met: None,
    });
    summary.rows.push(Row {
        figure: "  status reads p99".to_owned(),
        atelier: atelier.reads.ms(0.99),
        peer: peer.reads.ms(0.99),
        unit: "ms",
        aim: "Atelier < 5 ms",
        met: Some(atelier.reads.ms(0.99) < 5.0),
    });
    summary.rows.push(Row {
        figure: "server RSS after tasks and reads".to_owned(),
        atelier: atelier.rss_kib as f64 / 1024.0,
        peer: peer.rss_kib as f64 / 1024.0,
        unit: "MiB",
        aim: "-",
        met: None,
    });
    Ok(())
}

/// Atelier on SQLite through the sections' own functions: `throughput::run`, then
/// `reads::run` over the tasks it completed.
async fn atelier(plan: &Plan, n: usize, report: &mut Report) -> Result<Figures> {
    let scope = "peers: atelier";
    let concurrency = plan.peer_concurrency;
    let server = Server::start(&plan.server, &Backend::Sqlite, &server_env(concurrency, true)).await?;
    let measured = async {
        let done = throughput::run(&server, n, concurrency, scope, report).await?;
        let ids = Arc::new(done.ids);
        let reads =
            reads::run(&server, ids, READ_CONNECTIONS, plan.read_warmup, plan.read_duration, scope, report).await?;
        let memory = server.memory()?;
        report.add(
            scope,
            "server RSS after the tasks and reads",
            mib(memory.rss_kib),
            "MiB",
            format!("VmHWM {} MiB; SQLite, worker.concurrency={concurrency}", mib(memory.hwm_kib)),
        );
        Ok::<_, anyhow::Error>(Figures { tasks_per_sec: done.tasks_per_sec, reads, rss_kib: memory.rss_kib })
    }
    .await;
    server.stop(report, scope);
    measured
}

/// Seed 004 under uvicorn, fresh database: the same creates, then the same reads.
async fn peer(plan: &Plan, python: &Path, n: usize, report: &mut Report) -> Result<Figures> {
    let scope = "peers: seed004";
    let dir = tempfile::Builder::new().prefix("atelier-bench-seed004-").tempdir().context("a temp dir")?;
    let port = free_port()?;
    let mut command = Command::new(python);
    command
        .args(["-m", "uvicorn", "--app-dir", APP_DIR, "app:app", "--workers", "1", "--host", "127.0.0.1"])
        .args(["--port", &port.to_string(), "--no-access-log", "--log-level", "warning"])
        .env("SEED004_DB", dir.path().join("seed004.db"))
        .env("SEED004_WORKERS", WORKERS.to_string())
        .current_dir(dir.path());
    let server = PeerProcess::start("seed 004 (uvicorn)", command, port, "/api/v1/health").await?;
    let measured = async {
        let tasks_per_sec = throughput_of(&server, n, scope, report).await?;
        let ids = completed_ids(&server, n).await?;
        let count = ids.len();
        eprintln!("[{scope}] status reads: {READ_CONNECTIONS} connections, {} s", plan.read_duration.as_secs_f64());
        let load = ReadLoad::spawn(
            &format!("{}/api/v1/task/", server.base),
            None,
            Arc::new(ids),
            READ_CONNECTIONS,
            plan.read_warmup,
            plan.read_duration,
        )?;
        tokio::time::sleep_until(load.measure_from.into()).await;
        let meter = CpuMeter::of_pid(server.pid());
        tokio::time::sleep_until(load.measure_until.into()).await;
        let cpu = meter.describe_as("seed004");
        let reads = load.finish().await?;
        add_figures(
            report,
            scope,
            &format!("GET /api/v1/task/{{id}}, {READ_CONNECTIONS} connections ({} completed ids)", thousands(count)),
            &reads,
            &cpu,
        );
        let rss_kib = server.rss_kib()?;
        report.add(
            scope,
            "server RSS after the tasks and reads",
            mib(rss_kib),
            "MiB",
            format!("uvicorn --workers 1 (one process), {WORKERS} background workers"),
        );
        Ok::<_, anyhow::Error>(Figures { tasks_per_sec, reads, rss_kib })
    }
    .await;
    server.stop(report);
    measured
}

/// `n` tasks through `POST /api/v1/generate` with the creates in flight Atelier's
/// throughput figure has, and the time until the app's counts show none pending or
/// processing (checked every 10 ms, as `load::wait_drained` checks Atelier).
async fn throughput_of(server: &PeerProcess, n: usize, scope: &str, report: &mut Report) -> Result<f64> {
    eprintln!("[{scope}] throughput: {} instant tasks, {WORKERS} background workers", thousands(n));
    let meter = CpuMeter::of_pid(server.pid());
    let started = Instant::now();
    let http = client_with(CREATE_CLIENTS, None)?;
    let created = create_tasks_at(
        http,
        format!("{}/api/v1/generate", server.base),
        n,
        CREATE_CLIENTS,
        |i| json!({"prompt": format!("bench {i}"), "model": "instant", "seed": i}),
    )
    .await?;
    let create_cpu = meter.describe_as("seed004");
    let ok = created.ids.len();
    let poll = client_with(2, None)?;
    let (at, counts) = loop {
        if started.elapsed() > DRAIN_TIMEOUT {
            bail!("tasks still unfinished {} s after the start", DRAIN_TIMEOUT.as_secs());
        }
        let info = get_json(&poll, &format!("{}/api/v1/system/info", server.base)).await?;
        let count = |status: &str| info.pointer(&format!("/tasks/{status}")).and_then(Value::as_u64).unwrap_or(0);
        let waiting = count("pending") + count("retrying") + count("processing");
        if waiting == 0 && (count("completed") + count("failed")) as usize >= ok {
            break (started.elapsed(), (count("completed"), count("failed")));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let total_cpu = meter.describe_as("seed004");
    let tasks_per_sec = ok as f64 / at.as_secs_f64();
    let mut outcome = format!("{} completed", thousands(counts.0 as usize));
    if counts.1 > 0 {
        outcome.push_str(&format!(", {} FAILED", thousands(counts.1 as usize)));
    }
    report.add(
        scope,
        format!("throughput {} instant tasks, created->completed", thousands(n)),
        format!("{tasks_per_sec:.0}"),
        "tasks/s",
        format!(
            "{WORKERS} background workers, {CREATE_CLIENTS} creates in flight; {:.2} s total; {outcome}; {}; {total_cpu}",
            at.as_secs_f64(),
            describe_errors(&created.errors)
        ),
    );
    let q = |x: f64| quantile(&created.latencies_us, x).map_or(0.0, |us| us as f64 / 1000.0);
    report.add(
        scope,
        format!("  create rate alone ({} POST /api/v1/generate)", thousands(n)),
        format!("{:.0}", ok as f64 / created.elapsed.as_secs_f64()),
        "tasks/s",
        format!(
            "{:.2} s; POST latency p50 {:.1} ms, p99 {:.1} ms; {create_cpu}",
            created.elapsed.as_secs_f64(),
            q(0.5),
            q(0.99)
        ),
    );
    if !created.samples.is_empty() {
        report.remark(format!("{scope}: create errors, e.g. {}", created.samples.join(" || ")));
    }
    Ok(tasks_per_sec)
}

/// The ids of up to `n` completed tasks, from the list route (pages of 500).
async fn completed_ids(server: &PeerProcess, n: usize) -> Result<Vec<String>> {
    let http = client_with(2, None)?;
    let mut ids = Vec::with_capacity(n);
    while ids.len() < n {
        let page =
            get_json(&http, &format!("{}/api/v1/tasks?status=completed&limit=500&offset={}", server.base, ids.len()))
                .await?;
        let tasks = page.get("tasks").and_then(Value::as_array).context("a task list without tasks")?;
        if tasks.is_empty() {
            break;
        }
        ids.extend(tasks.iter().filter_map(|t| t.get("task_id").and_then(Value::as_str).map(str::to_owned)));
    }
    if ids.is_empty() {
        bail!("no completed task to read");
    }
    Ok(ids)
}
