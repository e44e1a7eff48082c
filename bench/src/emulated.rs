//! The runs through an emulator, for any provider: tasks/s created → completed, and
//! server memory with every task waiting on an emulator that never finishes.

use std::time::{Duration, Instant};

use anyhow::{Result, bail};

use crate::cpu::{CpuMeter, children_cpu, cpu_between, jiffies_secs};
use crate::emulator::{EMULATED_WORKERS, Emulated, counter_in};
use crate::load::{CREATE_CLIENTS, DRAIN_TIMEOUT, any_task, client, count_tasks, create_tasks};
use crate::plan::Plan;
use crate::report::{Report, describe_errors, mib, thousands};

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

/// Tasks/s through a zero-latency emulator, created → completed, and the
/// emulator's count of creates (exactly one per task).
pub async fn throughput(plan: &Plan, scope: &str, provider: &Emulated, n: usize, report: &mut Report) -> Result<()> {
    let model = provider.model;
    eprintln!("[{scope}] throughput: {} {model} tasks through the emulator ({})", thousands(n), provider.setup);
    let (emulator, server) = provider.start(&plan.server).await?;
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
        let cpu = meter.describe();
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
pub async fn memory(plan: &Plan, scope: &str, provider: &Emulated, n: usize, report: &mut Report) -> Result<()> {
    let model = provider.model;
    eprintln!("[{scope}] memory: {} {model} tasks waiting on a never-finishing emulator", thousands(n));
    let (emulator, server) = provider.start(&plan.server).await?;
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
