//! Depth: the server over a deep store, made in SQL before it starts
//! (`atelier_db::depth`, the data set the plan tests use).
//!
//! - Drain rate with N `local/instant` tasks pending (N = 1,000 … 1,000,000): the
//!   queued count read from the server's own report while its workers drain it.
//! - Cold start and the latency of every read route at 10,000,000 finished tasks
//!   on SQLite (the embedded data dir) and 1,000,000 on PostgreSQL
//!   (one connection, one request at a time: the latency of the route itself).
//! - The server's memory with the deepest queue waiting (1,000,000), workers off.
//! - The wait of one task created behind another user's 100,000 pending ones.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use atelier_db::depth::{self, DepthSpec};
use serde_json::{Value, json};

use crate::backend::server_env;
use crate::load::client;
use crate::plan::Plan;
use crate::report::{Report, mib, quantile, thousands};
use crate::server::{Backend, Server, fresh_store};

/// The worker concurrency of the drain runs.
const WORKERS: usize = 32;

/// A fresh store filled to `spec`, and the server started on it (the server's own
/// start migrates and refreshes the planner's statistics, as any start does).
/// Also the database's URL, to start another server on it.
async fn deep_server(
    plan: &Plan,
    backend: &Backend,
    spec: DepthSpec,
    workers: bool,
) -> Result<(Server, Duration, String)> {
    let (dir, url) = fresh_store(backend).await?;
    // The server makes the schema (its own, whichever release it is).
    let first = Server::launch(&plan.server, dir, url.clone(), &server_env(1, false))?;
    let dir = first.into_dir()?;
    let db = atelier_db::Database::connect(&url, &atelier_db::DatabaseOptions::default())
        .await
        .context("opening the bench database")?;
    let made = Instant::now();
    depth::generate(&db, spec).await.context("generating the data set")?;
    eprintln!(
        "[depth] {}: {} finished, {} pending made in {:.1} s",
        backend.name(),
        thousands(spec.finished as usize),
        thousands(spec.pending as usize),
        made.elapsed().as_secs_f64()
    );
    db.close().await;
    let started = Instant::now();
    let server = Server::launch(&plan.server, dir, url.clone(), &server_env(WORKERS, workers))?;
    Ok((server, started.elapsed(), url))
}

pub async fn run(plan: &Plan, backend: &Backend, report: &mut Report) -> Result<()> {
    let scope = format!("{} depth", backend.name());
    let now = atelier_core::time::now_millis();
    for &pending in &plan.depth_pending {
        let spec = DepthSpec { finished: 0, pending, users: 8, prompts: 0, now };
        let (server, _, _) = deep_server(plan, backend, spec, true).await?;
        let result = drain(&server, pending).await;
        server.stop(report, &format!("{scope} drain of {pending}"));
        let (rate, drained, window) = result?;
        report.add(
            &scope,
            format!("drain rate, {} pending", thousands(pending as usize)),
            format!("{rate:.0}"),
            "tasks/s",
            format!(
                "{} drained in {window:.1} s; local/instant, worker.concurrency={WORKERS}, 8 users",
                thousands(drained as usize)
            ),
        );
    }

    // Memory with the deepest queue waiting, workers off (as the memory section's
    // figure, but at depth: the tasks made in SQL, not through the API).
    if let Some(&pending) = plan.depth_pending.iter().max() {
        let spec = DepthSpec { finished: 0, pending, users: 8, prompts: 0, now };
        let (server, cold, _) = deep_server(plan, backend, spec, false).await?;
        let result = waiting_memory(&server).await;
        server.stop(report, &format!("{scope} memory at {pending} pending"));
        let (memory, queued) = result?;
        report.add(
            &scope,
            format!("server RSS, {} tasks waiting", thousands(pending as usize)),
            mib(memory.rss_kib),
            "MiB",
            format!(
                "workers off; VmHWM {} MiB; queued_tasks={queued}; ready in {:.0} ms; after the report, a page of \
                 the list and a status read",
                mib(memory.hwm_kib),
                cold.as_secs_f64() * 1000.0
            ),
        );
    }

    let finished = match backend {
        Backend::Sqlite => plan.depth_finished_sqlite,
        Backend::Postgres(_) => plan.depth_finished_postgres,
    };
    let spec = DepthSpec { finished, pending: 0, users: 8, prompts: 10_000, now };
    let (server, cold, url) = deep_server(plan, backend, spec, false).await?;
    report.add(
        &scope,
        format!("cold start, {} finished tasks, first after the bulk load", thousands(finished as usize)),
        format!("{:.0}", cold.as_secs_f64() * 1000.0),
        "ms",
        "process start to listening (migrations checked; the planner's statistics made, which the load left stale)",
    );
    // Started again on the same data, as a restart finds it.
    let dir = server.into_dir()?;
    let started = Instant::now();
    let server = Server::launch(&plan.server, dir, url, &server_env(WORKERS, false))?;
    report.add(
        &scope,
        format!("cold start, {} finished tasks, restarted", thousands(finished as usize)),
        format!("{:.0}", started.elapsed().as_secs_f64() * 1000.0),
        "ms",
        "process start to listening, after the first server was killed (SIGKILL)",
    );
    let result = reads(&server, plan.depth_reads, &scope, report).await;
    server.stop(report, &format!("{scope} reads"));
    result?;

    let spec = DepthSpec { finished: 0, pending: plan.depth_backlog, users: 1, prompts: 0, now };
    let (server, _, _) = deep_server(plan, backend, spec, true).await?;
    let result = lone_task(&server).await;
    server.stop(report, &format!("{scope} lone task"));
    let (wait, started) = result?;
    report.add(
        &scope,
        format!("lone task behind another user's {}", thousands(plan.depth_backlog as usize)),
        format!("{:.0}", wait.as_secs_f64() * 1000.0),
        "ms",
        format!("create to completed; started {started} ms after it was created"),
    );
    Ok(())
}

/// The server's memory with its queue full, after it has answered what a user
/// would ask of it: the report, a page of the list, a status read.
async fn waiting_memory(server: &Server) -> Result<(crate::server::Memory, u64)> {
    let http = client(1, &server.key)?;
    let queued = queued(&http, server).await?;
    let page: Value = http.get(format!("{}/api/v1/tasks?limit=50", server.base)).send().await?.json().await?;
    let id = page["tasks"][0]["task_id"].as_str().with_context(|| format!("a task in {page}"))?;
    let status = http.get(format!("{}/api/v1/tasks/{id}", server.base)).send().await?.status();
    if !status.is_success() {
        bail!("GET /tasks/{id}: HTTP {status}");
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    Ok((server.memory()?, queued))
}

/// Tasks waiting, from the server's report.
async fn queued(http: &reqwest::Client, server: &Server) -> Result<u64> {
    let info: Value = http.get(format!("{}/api/v1/system/info", server.base)).send().await?.json().await?;
    info["queued_tasks"].as_u64().with_context(|| format!("no queued_tasks in {info}"))
}

/// Drains for at most 20 s (or until empty): the rate between the first count that
/// shows the workers started and the last.
async fn drain(server: &Server, pending: u64) -> Result<(f64, u64, f64)> {
    let http = client(1, &server.key)?;
    let every = Duration::from_millis(match pending {
        0..=2_000 => 20,
        2_001..=20_000 => 100,
        20_001..=200_000 => 500,
        _ => 1_000,
    });
    let mut first: Option<(Instant, u64)> = None;
    let deadline = Instant::now() + Duration::from_secs(60);
    let last = loop {
        let count = queued(&http, server).await?;
        let at = Instant::now();
        if first.is_none() && count < pending {
            first = Some((at, count));
        }
        if count == 0 || first.is_some_and(|(t, _)| at.duration_since(t) >= Duration::from_secs(20)) {
            break (at, count);
        }
        if at > deadline {
            bail!("nothing drained in 60 s ({count} pending)");
        }
        tokio::time::sleep(every).await;
    };
    let (t0, q0) = first.context("the queue never started draining")?;
    let window = last.0.duration_since(t0).as_secs_f64().max(every.as_secs_f64());
    let drained = q0 - last.1;
    Ok((drained as f64 / window, drained, window))
}

/// Every read route, one request at a time: p50 and p99.
async fn reads(server: &Server, each: usize, scope: &str, report: &mut Report) -> Result<()> {
    let http = client(1, &server.key)?;
    let api = |path: &str| format!("{}/api/v1{path}", server.base);
    let page: Value = http.get(api("/tasks?limit=50")).send().await?.json().await?;
    let cursor = page["next_cursor"].as_str().unwrap_or_default().to_owned();
    let done: Value = http.get(api("/tasks?limit=1&status=completed")).send().await?.json().await?;
    let task = done["tasks"][0]["task_id"].as_str().with_context(|| format!("a completed task in {done}"))?.to_owned();
    let week_ago = chrono::Utc::now() - chrono::Duration::days(7);
    let week_ago = week_ago.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let prompts: Value = http.get(api("/prompts?limit=1")).send().await?.json().await?;
    let prompt = prompts["prompts"][0]["id"].as_str().with_context(|| format!("a prompt in {prompts}"))?.to_owned();
    let routes = [
        format!("/tasks/{task}"),
        "/tasks?limit=50".to_owned(),
        format!("/tasks?limit=50&cursor={cursor}"),
        "/tasks?limit=50&status=failed".to_owned(),
        "/tasks?limit=50&model=kie/veo-3".to_owned(),
        format!("/tasks?limit=50&created_after={week_ago}"),
        "/tasks?limit=50&tag=tag-1".to_owned(),
        "/assets?limit=50".to_owned(),
        "/assets?limit=50&tag=tag-1".to_owned(),
        "/assets?limit=50&model=kie/veo-3".to_owned(),
        "/history".to_owned(),
        "/prompts?limit=50".to_owned(),
        format!("/prompts/{prompt}/tree"),
        "/providers".to_owned(),
        "/models".to_owned(),
        "/system/info".to_owned(),
        "/health".to_owned(),
    ];
    for route in routes {
        let url = api(&route);
        let mut latencies = Vec::with_capacity(each);
        for i in 0..each + 5 {
            let sent = Instant::now();
            let response = http.get(url.as_str()).send().await?;
            let status = response.status();
            response.bytes().await?;
            if !status.is_success() {
                bail!("GET {route}: HTTP {status}");
            }
            if i >= 5 {
                latencies.push(sent.elapsed().as_micros() as u64);
            }
        }
        latencies.sort_unstable();
        let ms = |q: f64| quantile(&latencies, q).map_or(0.0, |us| us as f64 / 1000.0);
        let label = route.replace(&task, "{id}").replace(&prompt, "{id}").replace(&week_ago, "…");
        let label = if cursor.is_empty() { label } else { label.replace(&cursor, "…") };
        report.add(
            scope,
            format!("GET /api/v1{label}"),
            format!("{:.2} / {:.2}", ms(0.5), ms(0.99)),
            "ms p50/p99",
            format!("{each} requests, one at a time"),
        );
    }
    Ok(())
}

/// One task created by the bench's own user behind another user's backlog: the
/// time until it completes, and until it started.
async fn lone_task(server: &Server) -> Result<(Duration, i64)> {
    let http = client(1, &server.key)?;
    // Let the workers start on the backlog first.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let sent = Instant::now();
    let created: Value = http
        .post(format!("{}/api/v1/tasks", server.base))
        .json(&json!({ "model": "local/instant", "input": { "seed": 7 } }))
        .send()
        .await?
        .json()
        .await?;
    let id = created["task_id"].as_str().with_context(|| format!("no task_id in {created}"))?.to_owned();
    loop {
        let task: Value = http.get(format!("{}/api/v1/tasks/{id}", server.base)).send().await?.json().await?;
        if task["status"] == "completed" {
            let time = |field: &str| {
                task[field]
                    .as_str()
                    .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                    .map(|t| t.timestamp_millis())
            };
            let started = match (time("created_at"), time("started_at")) {
                (Some(created), Some(started)) => started - created,
                _ => -1,
            };
            return Ok((sent.elapsed(), started));
        }
        if sent.elapsed() > Duration::from_secs(120) {
            bail!("the lone task did not complete in 120 s ({})", task["status"]);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
