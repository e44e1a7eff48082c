//! One database backend, SQLite or PostgreSQL: throughput at each worker concurrency,
//! a large run at the fastest, status reads against its tasks, then memory.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};

use crate::plan::Plan;
use crate::report::{Report, mib, thousands};
use crate::server::{Backend, MAX_QUEUED, Server};
use crate::{memory, reads, throughput};

pub fn server_env(concurrency: usize, worker_enabled: bool) -> Vec<(&'static str, String)> {
    vec![
        ("ATELIER__ENGINES__INSTANT__ENABLED", "true".to_owned()),
        ("ATELIER__WORKER__CONCURRENCY", concurrency.to_string()),
        ("ATELIER__WORKER__ENABLED", worker_enabled.to_string()),
        ("ATELIER__QUEUE__MAX_QUEUED", MAX_QUEUED.to_string()),
    ]
}

pub async fn run(plan: &Plan, backend: &Backend, report: &mut Report) -> Result<()> {
    let scope = backend.name();
    let section_started = Instant::now();

    // Throughput with each worker concurrency; the fastest is used for the large run.
    let mut best: Option<(usize, f64)> = None;
    for &concurrency in &plan.concurrencies {
        let server = Server::start(&plan.server, backend, &server_env(concurrency, true)).await?;
        let result = throughput::run(&server, plan.small_tasks, concurrency, scope, report).await;
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

    let server = Server::start(&plan.server, backend, &server_env(concurrency, true)).await?;
    let large = throughput::run(&server, plan.large_tasks, concurrency, scope, report).await;
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
            reads::run(&server, Arc::clone(&ids), connections, plan.read_warmup, plan.read_duration, scope, report)
                .await
        {
            report.remark(format!("{scope}: status reads with {connections} connections failed: {error:#}"));
        }
    }
    server.stop(report, &format!("{scope} large throughput and read runs"));

    if let Err(error) = memory::run(plan, backend, report).await {
        report.remark(format!("{scope}: memory run failed: {error:#}"));
    }
    eprintln!("[{scope}] done in {:.0} s", section_started.elapsed().as_secs_f64());
    Ok(())
}
