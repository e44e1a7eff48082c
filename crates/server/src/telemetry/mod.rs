//! Logging and traces.
//!
//! The log: `tracing` events as text or JSON, filtered by `log.level` or `RUST_LOG`,
//! to stderr, or to files in `log.dir` rotated daily, hourly or by size (written
//! by a thread of their own, so that a slow disk never holds a request).
//!
//! Traces: with `telemetry.otlp_endpoint` set, Atelier's spans (a request, a
//! task's run, each provider call) are exported over OTLP ([`otlp`]), and a task
//! carries the trace of the request that created it to whichever worker runs it.
//!
//! [`init`] sets both up once per process; [`finish`] flushes them before it exits.

mod otlp;
mod rotation;

use std::path::Path;
use std::sync::{Mutex, PoisonError};

use anyhow::Context;
use tracing_appender::non_blocking::WorkerGuard;
use tracing_appender::rolling::RollingFileAppender;
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer as _};

pub use rotation::RollingBySize;

use crate::config::{LogConfig, Rotation, TelemetryConfig};

/// What must outlive the process's work and be flushed at its end.
struct Running {
    traces: Option<otlp::Traces>,
    /// The log file's writer thread: dropping the guard writes what it holds.
    log_file: Option<WorkerGuard>,
}

static RUNNING: Mutex<Option<Running>> = Mutex::new(None);

/// Starts the log and, when an endpoint is set, the trace export, for a process of
/// `role` (`serve`, `worker`, `migrate`: the log files' prefix, `atelier-<role>`).
/// Call it inside the tokio runtime (the export runs on it) and [`finish`] at exit.
pub fn init(log: &LogConfig, telemetry: &TelemetryConfig, role: &str) -> anyhow::Result<()> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&log.level));
    let (writer, log_file) = match &log.dir {
        None => (BoxMakeWriter::new(std::io::stderr), None),
        Some(dir) => {
            let (writer, guard) = file_writer(log, dir, role)?;
            (BoxMakeWriter::new(writer), Some(guard))
        }
    };
    let fmt = tracing_subscriber::fmt::layer().with_writer(writer);
    // Files get no colour codes; stderr keeps tracing's default (off with NO_COLOR).
    let fmt = if log.dir.is_some() { fmt.with_ansi(false) } else { fmt };
    let fmt = if log.format == "json" { fmt.json().boxed() } else { fmt.boxed() };
    let traces = otlp::start(telemetry, role)?;
    let export = traces.as_ref().map(otlp::Traces::layer);
    let _ = tracing_subscriber::registry().with(fmt.with_filter(filter)).with(export).try_init();
    if traces.is_some() {
        atelier_core::task::trace::install(Box::new(otlp::W3cTraceContext));
    }
    let previous = RUNNING.lock().unwrap_or_else(PoisonError::into_inner).replace(Running { traces, log_file });
    drop(previous);
    Ok(())
}

/// Exports the spans not sent yet and writes out the log file's buffer. Call it
/// from outside the runtime's tasks (`main`, after `block_on`) while the runtime
/// still runs: the export's last send runs there.
pub fn finish() {
    let running = RUNNING.lock().unwrap_or_else(PoisonError::into_inner).take();
    let Some(Running { traces, log_file }) = running else { return };
    if let Some(traces) = traces {
        traces.shutdown();
    }
    drop(log_file);
}

/// The log files' writer: checked writable now, so that a bad `log.dir` stops the
/// start with an error that names it.
fn file_writer(
    log: &LogConfig,
    dir: &Path,
    role: &str,
) -> anyhow::Result<(tracing_appender::non_blocking::NonBlocking, WorkerGuard)> {
    let shown = dir.display();
    std::fs::create_dir_all(dir).with_context(|| format!("log.dir {shown}: cannot create it"))?;
    let probe = dir.join(format!(".atelier-write-check-{}", std::process::id()));
    std::fs::write(&probe, b"").with_context(|| format!("log.dir {shown} is not writable"))?;
    let _ = std::fs::remove_file(&probe);
    let prefix = format!("atelier-{role}");
    let writer = match log.rotation {
        Rotation::Daily | Rotation::Hourly => {
            let every = if log.rotation == Rotation::Daily {
                tracing_appender::rolling::Rotation::DAILY
            } else {
                tracing_appender::rolling::Rotation::HOURLY
            };
            let appender = RollingFileAppender::builder()
                .rotation(every)
                .filename_prefix(prefix)
                .filename_suffix("log")
                .max_log_files(log.keep)
                .build(dir)
                .with_context(|| format!("log.dir {shown}: cannot open a log file"))?;
            tracing_appender::non_blocking(appender)
        }
        Rotation::Size => {
            let rolling = RollingBySize::open(dir, &prefix, log.max_size_bytes(), log.keep)
                .with_context(|| format!("log.dir {shown}: cannot open a log file"))?;
            tracing_appender::non_blocking(rolling)
        }
    };
    Ok(writer)
}
