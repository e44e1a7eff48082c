//! Figure 1: instant tasks through the real server, created → completed.

use std::time::Instant;

use anyhow::Result;
use serde_json::json;

use crate::cpu::CpuMeter;
use crate::load::{CREATE_CLIENTS, create_tasks, wait_drained};
use crate::report::{Report, describe_errors, quantile, thousands};
use crate::server::Server;

pub struct Throughput {
    pub tasks_per_sec: f64,
    pub ids: Vec<String>,
}

/// Runs `n` instant tasks through `server`, adding the figures.
pub async fn run(
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
    let create_cpu = meter.describe();
    let ok = created.ids.len();
    let drained = wait_drained(server, ok, started).await?;
    let total_cpu = meter.describe();
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
