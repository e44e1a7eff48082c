//! Figure 2: `GET /api/v1/tasks/{id}` under a fixed number of keep-alive connections.
//! The load itself ([`ReadLoad`]) is shared with the peers section, which reads a
//! peer's task route the same way.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use tokio::task::JoinHandle;

use crate::cpu::CpuMeter;
use crate::load::{client_with, error_kind};
use crate::report::{Report, describe_errors, quantile, thousands};
use crate::server::Server;

/// What one load task brings back: OK latencies (µs) and errors by kind.
type Outcome = (Vec<u32>, BTreeMap<String, usize>);

/// GETs of `<url_prefix><id>` (ids round-robin) on `connections` keep-alive
/// connections, one request at a time each; only answers sent between `measure_from`
/// and `measure_until` (after the warm-up) count.
pub struct ReadLoad {
    handles: Vec<JoinHandle<Outcome>>,
    bytes_read: Arc<AtomicU64>,
    pub measure_from: Instant,
    pub measure_until: Instant,
    ids: usize,
    warmup: Duration,
    duration: Duration,
}

/// The measured window of a [`ReadLoad`].
pub struct Reads {
    /// OK answers a second.
    pub rate: f64,
    /// Sorted latencies of the OK answers, in µs.
    pub latencies_us: Vec<u32>,
    pub errors: BTreeMap<String, usize>,
    pub mean_bytes: f64,
    /// Ids read round-robin, the warm-up and the measured window.
    pub ids: usize,
    pub warmup: Duration,
    pub duration: Duration,
}

impl Reads {
    /// Latency at quantile `q`, in ms.
    pub fn ms(&self, q: f64) -> f64 {
        quantile(&self.latencies_us, q).map_or(0.0, |us| f64::from(us) / 1000.0)
    }
}

impl ReadLoad {
    /// Starts the load; `key` is sent as a bearer token when given.
    pub fn spawn(
        url_prefix: &str,
        key: Option<&str>,
        ids: Arc<Vec<String>>,
        connections: usize,
        warmup: Duration,
        duration: Duration,
    ) -> Result<ReadLoad> {
        if ids.is_empty() {
            bail!("no task ids to read");
        }
        let next = Arc::new(AtomicUsize::new(0));
        let bytes_read = Arc::new(AtomicU64::new(0));
        let measure_from = Instant::now() + warmup;
        let measure_until = measure_from + duration;
        let mut handles = Vec::with_capacity(connections);
        for _ in 0..connections {
            // One client per load task with one idle slot: a fixed set of keep-alive connections.
            let http = client_with(1, key)?;
            let (ids, next, bytes_read, prefix) =
                (Arc::clone(&ids), Arc::clone(&next), Arc::clone(&bytes_read), url_prefix.to_owned());
            handles.push(tokio::spawn(async move {
                let mut latencies: Vec<u32> = Vec::with_capacity(65_536);
                let mut errors: BTreeMap<String, usize> = BTreeMap::new();
                let mut url = String::with_capacity(prefix.len() + 64);
                loop {
                    let sent = Instant::now();
                    if sent >= measure_until {
                        break;
                    }
                    let id = &ids[next.fetch_add(1, Ordering::Relaxed) % ids.len()];
                    url.clear();
                    url.push_str(&prefix);
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
        let ids = ids.len();
        Ok(ReadLoad { handles, bytes_read, measure_from, measure_until, ids, warmup, duration })
    }

    /// Waits for the load to end and gathers its figures.
    pub async fn finish(self) -> Result<Reads> {
        let mut latencies_us = Vec::new();
        let mut errors: BTreeMap<String, usize> = BTreeMap::new();
        for handle in self.handles {
            let (mut l, e) = handle.await.context("a load task panicked")?;
            latencies_us.append(&mut l);
            for (kind, count) in e {
                *errors.entry(kind).or_default() += count;
            }
        }
        latencies_us.sort_unstable();
        let rate = latencies_us.len() as f64 / self.duration.as_secs_f64();
        let mean_bytes = self.bytes_read.load(Ordering::Relaxed) as f64 / latencies_us.len().max(1) as f64;
        Ok(Reads {
            rate,
            latencies_us,
            errors,
            mean_bytes,
            ids: self.ids,
            warmup: self.warmup,
            duration: self.duration,
        })
    }
}

/// The figures of one read run: rate (with `cpu`, how the CPU was split), p50, p99, max.
pub fn add_figures(report: &mut Report, scope: &str, label: &str, reads: &Reads, cpu: &str) {
    report.add(
        scope,
        label.to_owned(),
        format!("{:.0}", reads.rate),
        "req/s",
        format!(
            "{} OK responses in {:.0} s after {:.1} s warm-up; {} ids round-robin; ~{:.0} B/body; {}; {cpu}",
            thousands(reads.latencies_us.len()),
            reads.duration.as_secs_f64(),
            reads.warmup.as_secs_f64(),
            thousands(reads.ids),
            reads.mean_bytes,
            describe_errors(&reads.errors)
        ),
    );
    report.add(scope, format!("  {label}, latency p50"), format!("{:.2}", reads.ms(0.5)), "ms", "");
    report.add(scope, format!("  {label}, latency p99"), format!("{:.2}", reads.ms(0.99)), "ms", "");
    report.add(scope, format!("  {label}, latency max"), format!("{:.2}", reads.ms(1.0)), "ms", "");
}

pub async fn run(
    server: &Server,
    ids: Arc<Vec<String>>,
    connections: usize,
    warmup: Duration,
    duration: Duration,
    scope: &str,
    report: &mut Report,
) -> Result<Reads> {
    eprintln!("[{scope}] status reads: {connections} connections, {} s", duration.as_secs_f64());
    let load = ReadLoad::spawn(
        &format!("{}/api/v1/tasks/", server.base),
        Some(&server.key),
        ids,
        connections,
        warmup,
        duration,
    )?;
    tokio::time::sleep_until(load.measure_from.into()).await;
    let meter = CpuMeter::start(server);
    tokio::time::sleep_until(load.measure_until.into()).await;
    let cpu = meter.describe();
    let reads = load.finish().await?;
    let label = format!("GET /api/v1/tasks/{{id}}, {connections} connections");
    add_figures(report, scope, &label, &reads, &cpu);
    Ok(reads)
}
