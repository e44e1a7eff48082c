//! The asset store on S3 against a local directory: puts and gets of objects of a
//! few sizes through `ObjectAssetStore` (what the server does with an upload or an
//! output: hash, write under the hash; and a download: head, then get), one at a
//! time and several at once.
//!
//! S3 is moto's server (PyPI `moto[server]`, in the tests' venv: `scripts/python-venv`),
//! started here on a free loopback port and stopped at the end; or any S3-compatible
//! server named by `ATELIER_BENCH_S3_ENDPOINT` (it must accept `PUT /{bucket}` with no
//! signature, as moto does). Without either, the section says why and is skipped.
//! moto is Python and keeps objects in its memory: its figures say what Atelier's
//! S3 path costs against a slow, local S3, not what AWS would give.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use atelier_assets::ObjectAssetStore;
use atelier_core::ports::AssetStore;
use atelier_testkit::s3::TestBucket;
use axum::body::Bytes;
use futures::{StreamExt, TryStreamExt};

use crate::plan::Plan;
use crate::report::{Report, stats};

/// An S3-compatible server to use instead of starting moto.
pub const ENDPOINT_ENV: &str = "ATELIER_BENCH_S3_ENDPOINT";
/// Where moto's server is looked for: `$ATELIER_WORKER_VENV/bin/moto_server`.
const VENV_ENV: &str = "ATELIER_WORKER_VENV";
/// Requests in flight in the concurrent runs.
pub const IN_FLIGHT: usize = 8;
/// The sizes measured, in bytes.
pub const SIZES: [usize; 2] = [64 << 10, 4 << 20];

pub async fn run(plan: &Plan, report: &mut Report) -> Result<()> {
    let moto = match std::env::var(ENDPOINT_ENV).ok().filter(|url| !url.is_empty()) {
        Some(endpoint) => S3Server { endpoint, child: None, started_in: None },
        None => match moto_server() {
            Some(path) => start_moto(&path).await?,
            None => {
                report.remark(format!(
                    "s3: skipped (no moto_server in {}; scripts/python-venv installs moto[server], or set {ENDPOINT_ENV})",
                    venv().display()
                ));
                return Ok(());
            }
        },
    };
    if let Some(started) = moto.started_in {
        report.add("s3", "moto server start", format!("{:.2}", started.as_secs_f64()), "s", "spawn to first answer");
    }
    let dir = tempfile::tempdir().context("a temp dir")?;
    let local = ObjectAssetStore::local(dir.path()).context("a local store")?;
    let bucket = TestBucket::create_at(&moto.endpoint).await.map_err(anyhow::Error::msg)?;
    // The bench's own credentials (moto takes any); the server reads them from AWS_*.
    let s3 = ObjectAssetStore::new(bucket.client(), format!("s3://{}", bucket.name));
    s3.health().await.context("the S3 store's probe")?;

    for size in SIZES {
        let count = objects_of(plan, size);
        for (name, store) in [("local", &local), ("s3", &s3)] {
            for in_flight in [1, IN_FLIGHT] {
                // Fresh bytes for every put: each is a new object, not a write skipped
                // because the content is there already.
                let seed = (size * 31 + in_flight) as u64 ^ if name == "s3" { 0x5a5a } else { 0 };
                let objects: Vec<Bytes> = (0..count).map(|i| noise(size, seed + i as u64)).collect();
                let (keys, put) = timed_puts(store, objects, in_flight).await?;
                record(report, name, "put", size, in_flight, &put);
                let (read, get) = timed_gets(store, &keys, in_flight).await?;
                if read != (size * count) as u64 {
                    bail!("{name}: read {read} bytes back, wrote {}", size * count);
                }
                record(report, name, "get", size, in_flight, &get);
                for key in &keys {
                    store.delete(key).await?;
                }
            }
        }
    }
    report.add(
        "s3",
        "setup",
        "-".to_owned(),
        "",
        format!(
            "ObjectAssetStore::save_blob (SHA-256, then on S3 HEAD and a conditional PUT; locally a write and a \
             rename, no fsync) and open + read to the end (one GET); application/octet-stream, no thumbnail; \
             local = {} on this machine's disk; s3 = {}; objects deleted between runs",
            dir.path().display(),
            if moto.child.is_some() {
                "moto_server (Python, objects in memory) on loopback"
            } else {
                "the given server"
            }
        ),
    );
    drop(moto);
    Ok(())
}

fn objects_of(plan: &Plan, size: usize) -> usize {
    match (plan.quick, size >= 1 << 20) {
        (true, true) => 10,
        (true, false) => 100,
        (false, true) => 50,
        (false, false) => 500,
    }
}

/// Wall time of a run, and each operation's own time.
struct Timings {
    wall: Duration,
    each: Vec<Duration>,
    bytes: u64,
}

async fn timed_puts(store: &ObjectAssetStore, objects: Vec<Bytes>, in_flight: usize) -> Result<(Vec<String>, Timings)> {
    let bytes = objects.iter().map(|o| o.len() as u64).sum();
    let started = Instant::now();
    let results: Vec<(String, Duration)> = futures::stream::iter(objects)
        .map(|object| async move {
            let began = Instant::now();
            let blob = store.save_blob(object, "application/octet-stream").await?;
            Ok::<_, anyhow::Error>((blob.blob_key, began.elapsed()))
        })
        .buffer_unordered(in_flight)
        .try_collect()
        .await?;
    let wall = started.elapsed();
    let (keys, each) = results.into_iter().unzip();
    Ok((keys, Timings { wall, each, bytes }))
}

async fn timed_gets(store: &ObjectAssetStore, keys: &[String], in_flight: usize) -> Result<(u64, Timings)> {
    let started = Instant::now();
    let results: Vec<(u64, Duration)> = futures::stream::iter(keys)
        .map(|key| async move {
            let began = Instant::now();
            let read = store.open(key, None).await?.with_context(|| format!("{key} is missing"))?;
            let read: u64 =
                read.stream.map_ok(|chunk| chunk.len() as u64).try_fold(0, |n, len| async move { Ok(n + len) }).await?;
            Ok::<_, anyhow::Error>((read, began.elapsed()))
        })
        .buffer_unordered(in_flight)
        .try_collect()
        .await?;
    let wall = started.elapsed();
    let read: u64 = results.iter().map(|(n, _)| n).sum();
    let each = results.into_iter().map(|(_, d)| d).collect();
    Ok((read, Timings { wall, each, bytes: read }))
}

fn record(report: &mut Report, backend: &str, op: &str, size: usize, in_flight: usize, timings: &Timings) {
    let per_second = timings.each.len() as f64 / timings.wall.as_secs_f64();
    let mib_per_second = timings.bytes as f64 / (1 << 20) as f64 / timings.wall.as_secs_f64();
    let latency = stats(&timings.each);
    let size = if size >= 1 << 20 { format!("{} MiB", size >> 20) } else { format!("{} KiB", size >> 10) };
    report.add(
        "s3",
        format!("{backend} {op} {size}, {in_flight} in flight"),
        format!("{per_second:.0}"),
        "obj/s",
        format!(
            "{mib_per_second:.1} MiB/s; latency p50 {:.2} ms, p99 {:.2} ms; {} objects",
            latency.p50,
            latency.p99,
            timings.each.len()
        ),
    );
}

/// Bytes that do not repeat, so that no two objects share a hash.
fn noise(len: usize, seed: u64) -> Bytes {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    Bytes::from(out)
}

fn venv() -> PathBuf {
    match std::env::var_os(VENV_ENV) {
        Some(venv) => PathBuf::from(venv),
        None => PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/atelier/worker-venv"),
    }
}

fn moto_server() -> Option<PathBuf> {
    Some(venv().join("bin/moto_server")).filter(|path| path.is_file())
}

/// The S3 server the section runs against; moto, when started here, is killed on drop.
struct S3Server {
    endpoint: String,
    child: Option<tokio::process::Child>,
    started_in: Option<Duration>,
}

/// Starts moto on a free loopback port and waits (up to 30 s) until it answers.
async fn start_moto(server: &std::path::Path) -> Result<S3Server> {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").context("a free port")?;
        listener.local_addr()?.port()
    };
    let started = Instant::now();
    let child = tokio::process::Command::new(server)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", server.display()))?;
    let endpoint = format!("http://127.0.0.1:{port}");
    let mut moto = S3Server { endpoint, child: Some(child), started_in: None };
    let client = reqwest::Client::builder().timeout(Duration::from_secs(2)).build()?;
    while started.elapsed() < Duration::from_secs(30) {
        if client.get(format!("{}/", moto.endpoint)).send().await.is_ok_and(|r| r.status().is_success()) {
            moto.started_in = Some(started.elapsed());
            return Ok(moto);
        }
        if let Some(child) = moto.child.as_mut()
            && let Some(status) = child.try_wait()?
        {
            bail!("moto_server exited at start ({status})");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("moto_server did not answer within 30 s")
}
