//! Scale-out: 1, then 2, then 3 `atelier serve` processes on one PostgreSQL database
//! (a fresh database per count), the load spread over them: instant tasks created →
//! completed, then `GET /api/v1/tasks/{id}` reads; and the size of the binary.
//!
//! On a machine of few cores the servers, PostgreSQL and this load generator share
//! them: the figures say where adding processes stops paying *here*, not on a
//! machine per instance.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde_json::json;

use crate::backend::server_env;
use crate::cpu::{cpu_between, jiffies_secs, machine_jiffies, process_cpu};
use crate::load::{CREATE_CLIENTS, client, create_tasks, wait_drained};
use crate::plan::Plan;
use crate::report::{Report, describe_errors, thousands};
use crate::server::{Backend, Server, fresh_store};

/// Each process's `worker.concurrency`.
pub const CONCURRENCY: usize = 32;
/// The status reads' keep-alive connections, spread over the processes.
const READ_CONNECTIONS: usize = 32;
/// One server secret for all (`auth.secret_key`), as a deployment shares it.
const SECRET_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const SCOPE: &str = "instances";

struct Figures {
    tasks_per_sec: f64,
    reads_per_sec: f64,
}

pub async fn run(plan: &Plan, admin_url: &str, report: &mut Report) -> Result<()> {
    binary_sizes(plan, report);
    let mut figures: Vec<Figures> = Vec::new();
    for count in 1..=3 {
        let servers = start(plan, admin_url, count).await?;
        let result = measure(plan, &servers, report).await;
        for (n, server) in servers.into_iter().enumerate() {
            server.stop(report, &format!("{SCOPE}: {count} process(es), #{}", n + 1));
        }
        figures.push(result?);
    }
    let ratio = |n: usize, f: fn(&Figures) -> f64| f(&figures[n]) / f(&figures[0]).max(f64::MIN_POSITIVE);
    let tasks: Vec<String> = (1..3).map(|n| format!("{} {:.2}x", n + 1, ratio(n, |f| f.tasks_per_sec))).collect();
    let reads: Vec<String> = (1..3).map(|n| format!("{} {:.2}x", n + 1, ratio(n, |f| f.reads_per_sec))).collect();
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    // "Scales" while a process more adds a tenth or more to the rate.
    let stops = |f: fn(&Figures) -> f64| match (1..3).find(|&n| f(&figures[n]) < 1.1 * f(&figures[n - 1])) {
        Some(n) => format!("stop scaling at {} processes (less than a tenth over {n})", n + 1),
        None => "still scale at 3 processes".to_owned(),
    };
    report.remark(format!(
        "{SCOPE}: against 1 process, tasks/s {}, status reads/s {}: tasks/s {}, reads/s {}. Measured on this \
         {cores}-core machine, where the servers, PostgreSQL and the load generator share the cores (each row's \
         \"all cores ... busy\"): once they are busy a process more only takes CPU from the others, so this says \
         where scaling out stops paying on one small machine, not what a machine per process would give",
        tasks.join(", "),
        reads.join(", "),
        stops(|f| f.tasks_per_sec),
        stops(|f| f.reads_per_sec),
    ));
    Ok(())
}

/// The release binary's size, and the `dist` profile's (stripped, what the image
/// ships) when one was built beside it.
fn binary_sizes(plan: &Plan, report: &mut Report) {
    let mib = |bytes: u64| format!("{:.1}", bytes as f64 / 1_048_576.0);
    match std::fs::metadata(&plan.server) {
        Ok(meta) => report.add(
            SCOPE,
            "binary size (release: line tables kept)",
            mib(meta.len()),
            "MiB",
            plan.server.display().to_string(),
        ),
        Err(error) => report.remark(format!("{SCOPE}: cannot read {}: {error}", plan.server.display())),
    }
    let dist = plan.server.parent().and_then(|release| release.parent()).map(|target| target.join("dist/atelier"));
    match dist.as_ref().map(std::fs::metadata) {
        Some(Ok(meta)) => report.add(
            SCOPE,
            "binary size (dist: release, stripped, no debug info)",
            mib(meta.len()),
            "MiB",
            dist.map(|path| path.display().to_string()).unwrap_or_default(),
        ),
        _ => report.remark(format!(
            "{SCOPE}: no dist build beside it (cargo build --profile dist -p atelier makes target/dist/atelier)"
        )),
    }
}

/// `count` servers on one new database: the first makes the admin and its key,
/// the others are handed that key in their own data dirs.
async fn start(plan: &Plan, admin_url: &str, count: usize) -> Result<Vec<Server>> {
    let (dir, url) = fresh_store(&Backend::Postgres(admin_url.to_owned())).await?;
    let mut env = server_env(CONCURRENCY, true);
    env.push(("ATELIER__AUTH__SECRET_KEY", SECRET_KEY.to_owned()));
    let first = Server::launch(&plan.server, dir, url.clone(), &env)?;
    let key_file = first._dir.path().join("cli-key");
    let mut servers = vec![first];
    for _ in 1..count {
        let dir = tempfile::Builder::new().prefix("atelier-bench-").tempdir().context("creating a data dir")?;
        std::fs::copy(&key_file, dir.path().join("cli-key")).context("handing the admin key on")?;
        servers.push(Server::launch(&plan.server, dir, url.clone(), &env)?);
    }
    Ok(servers)
}

async fn measure(plan: &Plan, servers: &[Server], report: &mut Report) -> Result<Figures> {
    let count = servers.len();
    let n = plan.large_tasks;
    eprintln!("[{SCOPE}] {count} process(es): {} instant tasks spread over them", thousands(n));
    let before = Cpu::read(servers);
    let started = Instant::now();
    // Each process gets its share of the creates and of the requests in flight.
    let shares = servers.iter().enumerate().map(|(i, server)| {
        let share = n / count + usize::from(i < n % count);
        let offset = i * n;
        create_tasks(
            server,
            share,
            CREATE_CLIENTS / count,
            move |seed| json!({"model": "local/instant", "input": {"seed": offset + seed}}),
        )
    });
    let mut ids = Vec::with_capacity(n);
    let mut errors = std::collections::BTreeMap::new();
    for created in futures::future::join_all(shares).await {
        let created = created?;
        ids.extend(created.ids);
        for (kind, times) in created.errors {
            *errors.entry(kind).or_default() += times;
        }
    }
    let drained = wait_drained(&servers[0], ids.len(), started).await?;
    let tasks_per_sec = ids.len() as f64 / drained.at.as_secs_f64();
    let mut outcome = format!("{} completed", thousands(drained.completed));
    if drained.unsuccessful > 0 {
        outcome.push_str(&format!(", {} FAILED/cancelled/expired", thousands(drained.unsuccessful)));
    }
    report.add(
        SCOPE,
        format!("{count} process(es): {} instant tasks, created->completed", thousands(n)),
        format!("{tasks_per_sec:.0}"),
        "tasks/s",
        format!(
            "worker.concurrency={CONCURRENCY} each, {CREATE_CLIENTS} creates in flight spread; {:.2} s; {outcome}; {}; {}",
            drained.at.as_secs_f64(),
            describe_errors(&errors),
            before.describe(servers)
        ),
    );

    let reads_per_sec = reads(plan, servers, Arc::new(ids), report).await?;
    Ok(Figures { tasks_per_sec, reads_per_sec })
}

/// `GET /api/v1/tasks/{id}` with keep-alive connections spread round-robin over the
/// processes; returns the OK responses a second.
async fn reads(plan: &Plan, servers: &[Server], ids: Arc<Vec<String>>, report: &mut Report) -> Result<f64> {
    if ids.is_empty() {
        bail!("no task ids to read");
    }
    let count = servers.len();
    let (warmup, duration) = (plan.read_warmup, plan.read_duration);
    let next = Arc::new(AtomicUsize::new(0));
    let measure_from = Instant::now() + warmup;
    let measure_until = measure_from + duration;
    let mut handles = Vec::with_capacity(READ_CONNECTIONS);
    for connection in 0..READ_CONNECTIONS {
        let server = &servers[connection % count];
        let http = client(1, &server.key)?;
        let (ids, next, base) = (Arc::clone(&ids), Arc::clone(&next), server.base.clone());
        handles.push(tokio::spawn(async move {
            let (mut ok, mut failed) = (0usize, 0usize);
            loop {
                let sent = Instant::now();
                if sent >= measure_until {
                    break;
                }
                let id = &ids[next.fetch_add(1, Ordering::Relaxed) % ids.len()];
                let good = match http.get(format!("{base}/api/v1/tasks/{id}")).send().await {
                    Ok(response) => response.status() == reqwest::StatusCode::OK && response.bytes().await.is_ok(),
                    Err(_) => false,
                };
                if sent >= measure_from {
                    if good { ok += 1 } else { failed += 1 }
                }
            }
            (ok, failed)
        }));
    }
    tokio::time::sleep_until(measure_from.into()).await;
    let cpu = Cpu::read(servers);
    let (mut ok, mut failed) = (0, 0);
    for handle in handles {
        let (o, f) = handle.await.context("a read task panicked")?;
        ok += o;
        failed += f;
    }
    let cpu = cpu.describe(servers);
    let rate = ok as f64 / duration.as_secs_f64();
    report.add(
        SCOPE,
        format!("{count} process(es): GET /api/v1/tasks/{{id}}, {READ_CONNECTIONS} connections spread"),
        format!("{rate:.0}"),
        "req/s",
        format!(
            "{} OK, {failed} failed in {:.0} s after {:.1} s warm-up; {} ids round-robin; {cpu}",
            thousands(ok),
            duration.as_secs_f64(),
            warmup.as_secs_f64(),
            thousands(ids.len())
        ),
    );
    Ok(rate)
}

/// CPU of the servers (together), of this program, and of the machine, from a start.
struct Cpu {
    servers: Vec<Option<crate::cpu::ProcessCpu>>,
    bench: Option<crate::cpu::ProcessCpu>,
    machine: Option<(u64, u64)>,
    at: Instant,
}

impl Cpu {
    fn read(servers: &[Server]) -> Cpu {
        Cpu {
            servers: servers.iter().map(Server::cpu).collect(),
            bench: process_cpu("/proc/self/stat"),
            machine: machine_jiffies(),
            at: Instant::now(),
        }
    }

    /// "CPU over 2.1 s: servers 2.40 s, bench 0.90 s, rest (PostgreSQL, other work) 0.70 s; all cores 95% busy".
    fn describe(&self, servers: &[Server]) -> String {
        let used: u64 =
            self.servers.iter().zip(servers).filter_map(|(before, server)| cpu_between(*before, server.cpu())).sum();
        let bench = cpu_between(self.bench, process_cpu("/proc/self/stat")).unwrap_or(0);
        let mut text = format!(
            "CPU over {:.1} s: servers {:.2} s, bench {:.2} s",
            self.at.elapsed().as_secs_f64(),
            jiffies_secs(used),
            jiffies_secs(bench)
        );
        if let (Some((busy0, total0)), Some((busy1, total1))) = (self.machine, machine_jiffies())
            && total1 > total0
        {
            let busy = busy1.saturating_sub(busy0);
            text.push_str(&format!(
                ", rest (PostgreSQL, other work) {:.2} s; all cores {:.0}% busy",
                jiffies_secs(busy.saturating_sub(used + bench)),
                busy as f64 / (total1 - total0) as f64 * 100.0
            ));
        }
        text
    }
}
