//! Figure 2: `GET /api/v1/tasks/{id}` under a fixed number of keep-alive connections.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::cpu::CpuMeter;
use crate::load::{client, error_kind};
use crate::report::{Report, describe_errors, quantile, thousands};
use crate::server::Server;

pub async fn run(
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
