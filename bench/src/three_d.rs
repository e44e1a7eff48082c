//! Figure 10: seed 002's 3D.
//!
//! 1. In process, the built-in `local/relief` engine's steps per quality, on a
//!    1024×1024 opaque picture (smooth gradients and noise, like a photo) and a
//!    1024×1024 cut-out (a shape on a transparent background): the mesh, the GLB
//!    with the picture as its PNG texture, the OBJ zip, the STL, and the GLB's
//!    gallery thumbnail (median and p95), with the triangles and the files' sizes.
//! 2. Through the server: image-to-3D jobs on emulated TRELLIS workers
//!    (`atelier emulate trellis-worker`, several processes, each one task at a time)
//!    under locust (`bench/locust/three_d.py`): requests/s, p50 and p99 of each
//!    request and all together, failures, and jobs completed per second.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Cursor};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use atelier_mesh::Quality;
use image::{DynamicImage, Rgb, RgbImage, Rgba, RgbaImage};
use serde_json::{Value, json};

use crate::cpu::{children_cpu, cpu_between, jiffies_secs, machine_jiffies, process_cpu};
use crate::load::{client, count_tasks, get_json, post_json};
use crate::noise::Noise;
use crate::plan::Plan;
use crate::report::{Report, quantile, thousands};
use crate::server::{Backend, Server};

/// The pictures' side, in pixels.
pub const SIDE: u32 = 1024;
/// The texture's longest side, as `local/relief` writes it.
const TEXTURE_SIDE: u32 = 1024;
const QUALITIES: [Quality; 3] = [Quality::Fast, Quality::Balanced, Quality::High];
/// What the files say made them.
const GENERATOR: &str = "atelier-bench";
/// The model the worker key serves and the jobs should run on.
pub const TRELLIS_MODEL: &str = "trellis/trellis-image-large";
/// The quality of the jobs under locust.
pub const LOCUST_QUALITY: &str = "fast";
/// The status poll's interval of each locust user, in seconds.
pub const POLL_SECS: f64 = 0.5;
/// Where `scripts/bench` says locust is.
pub const LOCUST_ENV: &str = "ATELIER_BENCH_LOCUST";
/// The request names the locustfile gives, and locust's total.
const REQUEST_NAMES: [&str; 4] = ["POST image-to-3d", "GET status", "GET result", "Aggregated"];

pub async fn run(plan: &Plan, report: &mut Report) -> Result<()> {
    let started = Instant::now();
    if let Err(error) = in_process(plan, report) {
        report.remark(format!("3d: the in-process relief benchmark failed: {error:#}"));
    }
    if let Err(error) = under_locust(plan, report).await {
        report.remark(format!("3d: the locust run failed: {error:#}"));
    }
    report.remark(format!("3d: figure 10 took {:.0} s", started.elapsed().as_secs_f64()));
    Ok(())
}

fn channel(value: f32, noise: i32) -> u8 {
    (value + noise as f32).round().clamp(0.0, 255.0) as u8
}

/// Smooth colour fields (a sky-like vertical gradient, two soft light spots, slow
/// waves) at (x, y) in 0..1.
fn smooth(x: f32, y: f32) -> [f32; 3] {
    let spot = |cx: f32, cy: f32, r: f32| (-((x - cx).powi(2) + (y - cy).powi(2)) / (r * r)).exp();
    let (a, b) = (spot(0.3, 0.35, 0.25), spot(0.72, 0.68, 0.18));
    let wave = (x * 9.0 + 0.8).sin() * (y * 6.0).cos();
    [
        40.0 + 120.0 * (1.0 - y) + 80.0 * a + 20.0 * wave,
        60.0 + 90.0 * y + 60.0 * b + 25.0 * wave,
        90.0 + 100.0 * (1.0 - x) * (1.0 - y) + 50.0 * b - 15.0 * wave,
    ]
}

/// A photo-like opaque picture: smooth gradients with noise on every pixel.
pub(crate) fn photo(side: u32) -> DynamicImage {
    let mut noise = Noise(0x9e37_79b9_7f4a_7c15);
    let scale = 1.0 / side as f32;
    DynamicImage::ImageRgb8(RgbImage::from_fn(side, side, |x, y| {
        let [r, g, b] = smooth(x as f32 * scale, y as f32 * scale);
        Rgb([channel(r, noise.next(12)), channel(g, noise.next(12)), channel(b, noise.next(12))])
    }))
}

/// A cut-out: a five-lobed shape, shaded and noisy, on a transparent background
/// (its edge antialiased over about a pixel).
fn cut_out(side: u32) -> DynamicImage {
    let mut noise = Noise(0x2545_f491_4f6c_dd1d);
    let half = side as f32 / 2.0;
    DynamicImage::ImageRgba8(RgbaImage::from_fn(side, side, |x, y| {
        let (dx, dy) = (x as f32 + 0.5 - half, y as f32 + 0.5 - half);
        let radius = half * (0.62 + 0.14 * (5.0 * dy.atan2(dx)).sin());
        let inside = (radius - (dx * dx + dy * dy).sqrt() + 0.5).clamp(0.0, 1.0);
        let n = [noise.next(10), noise.next(10), noise.next(10)];
        if inside <= 0.0 {
            return Rgba([0, 0, 0, 0]);
        }
        let [r, g, b] = smooth(x as f32 / side as f32, y as f32 / side as f32);
        Rgba([channel(r, n[0]), channel(g, n[1]), channel(b, n[2]), (inside * 255.0).round() as u8])
    }))
}

pub(crate) fn png(picture: &DynamicImage) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    picture.write_to(&mut Cursor::new(&mut bytes), image::ImageFormat::Png).context("encoding a PNG")?;
    Ok(bytes)
}

/// The picture as `local/relief` textures it: at most 1024 pixels a side, PNG, with
/// its alpha when it has one.
fn texture_png(picture: &DynamicImage) -> Result<Vec<u8>> {
    let small = if picture.width().max(picture.height()) > TEXTURE_SIDE {
        picture.thumbnail(TEXTURE_SIDE, TEXTURE_SIDE)
    } else {
        picture.clone()
    };
    let small = if small.color().has_alpha() {
        DynamicImage::ImageRgba8(small.to_rgba8())
    } else {
        DynamicImage::ImageRgb8(small.to_rgb8())
    };
    png(&small)
}

/// Milliseconds of each timed run of one step.
#[derive(Default)]
struct Timings(Vec<f64>);

impl Timings {
    fn time<T>(&mut self, step: impl FnOnce() -> T) -> T {
        let started = Instant::now();
        let made = std::hint::black_box(step());
        self.0.push(started.elapsed().as_secs_f64() * 1000.0);
        made
    }

    /// (median, p95) in ms.
    fn median_p95(&self) -> (f64, f64) {
        let mut sorted = self.0.clone();
        sorted.sort_by(f64::total_cmp);
        (quantile(&sorted, 0.5).unwrap_or(0.0), quantile(&sorted, 0.95).unwrap_or(0.0))
    }

    fn add(&self, report: &mut Report, name: String, notes: String) {
        let (median, p95) = self.median_p95();
        let notes = if notes.is_empty() { format!("p95 {p95:.1} ms") } else { format!("p95 {p95:.1} ms; {notes}") };
        report.add("3d/in-process", name, format!("{median:.1}"), "ms p50", notes);
    }
}

fn quality_name(quality: Quality) -> &'static str {
    match quality {
        Quality::Fast => "fast",
        Quality::Balanced => "balanced",
        Quality::High => "high",
    }
}

/// Part 1: `local/relief`'s steps in process, one thread.
fn in_process(plan: &Plan, report: &mut Report) -> Result<()> {
    let reps = plan.three_d_reps.max(1);
    let pictures = [("photo", photo(SIDE)), ("cut-out", cut_out(SIDE))];
    for (name, picture) in &pictures {
        eprintln!("[3d] in process: {name} {SIDE}x{SIDE}, {reps} runs of each step per quality (after one untimed)");
        let encoded = png(picture)?;
        let (mut decode, mut texture_time) = (Timings::default(), Timings::default());
        let mut texture = Vec::new();
        for rep in 0..=reps {
            let (mut d, mut t) = (Timings::default(), Timings::default());
            let decoded = d.time(|| image::load_from_memory(&encoded)).context("decoding the picture")?;
            texture = t.time(|| texture_png(&decoded))?;
            if rep > 0 {
                decode.0.extend(d.0);
                texture_time.0.extend(t.0);
            }
        }
        decode.add(
            report,
            format!("{name}: decode the picture (PNG, {} KiB)", thousands(encoded.len() / 1024)),
            format!("{reps} runs, {SIDE}x{SIDE} {}", if picture.color().has_alpha() { "RGBA" } else { "RGB" }),
        );
        texture_time.add(
            report,
            format!("{name}: texture PNG ({SIDE} px, as the engine writes it)"),
            format!("{} bytes", thousands(texture.len())),
        );
        for quality in QUALITIES {
            let q = quality_name(quality);
            let mut all: [Timings; 5] = Default::default();
            let (mut triangles, mut glb_bytes, mut obj_bytes, mut stl_bytes, mut thumb_bytes) = (0, 0, 0, 0, 0);
            for rep in 0..=reps {
                let mut t: [Timings; 5] = Default::default();
                let mesh = t[0].time(|| atelier_mesh::relief(picture, quality)).context("the relief")?;
                let glb = t[1].time(|| atelier_mesh::glb::to_glb(&mesh, Some(&texture), GENERATOR)).context("GLB")?;
                let obj =
                    t[2].time(|| atelier_mesh::obj::to_obj_zip(&mesh, Some(&texture), GENERATOR)).context("OBJ zip")?;
                let stl = t[3].time(|| atelier_mesh::obj::to_stl(&mesh, GENERATOR));
                let thumbnail = t[4]
                    .time(|| atelier_assets::model_still::thumbnail(&glb, "bench"))
                    .context("no thumbnail of the GLB")?;
                (triangles, glb_bytes, obj_bytes, stl_bytes, thumb_bytes) =
                    (mesh.triangles(), glb.len(), obj.len(), stl.len(), thumbnail.bytes.len());
                if rep > 0 {
                    for (all, one) in all.iter_mut().zip(t) {
                        all.0.extend(one.0);
                    }
                }
            }
            let [mesh_t, glb_t, obj_t, stl_t, thumb_t] = all;
            mesh_t.add(
                report,
                format!("{name} {q}: mesh (relief, {} cells)", quality.cells()),
                format!("{} triangles", thousands(triangles)),
            );
            glb_t.add(
                report,
                format!("{name} {q}: GLB (to_glb, texture PNG given)"),
                format!("GLB {} bytes", thousands(glb_bytes)),
            );
            obj_t.add(report, format!("{name} {q}: OBJ zip (to_obj_zip)"), format!("{} bytes", thousands(obj_bytes)));
            stl_t.add(report, format!("{name} {q}: STL (to_stl)"), format!("{} bytes", thousands(stl_bytes)));
            thumb_t.add(
                report,
                format!("{name} {q}: GLB thumbnail (model_still::thumbnail)"),
                format!("WebP {} bytes", thousands(thumb_bytes)),
            );
        }
    }
    Ok(())
}

/// The locust to run: `$ATELIER_BENCH_LOCUST`, or `locust` on the PATH.
fn find_locust() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(LOCUST_ENV).filter(|path| !path.is_empty()) {
        return Some(PathBuf::from(path)).filter(|path| path.is_file());
    }
    std::env::split_paths(&std::env::var_os("PATH")?).map(|dir| dir.join("locust")).find(|path| path.is_file())
}

/// `bench/locust/three_d.py` in the source tree, or (a binary moved away from it)
/// the copy built into this program, written to `dir`.
fn locustfile(dir: &Path) -> Result<PathBuf> {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("locust/three_d.py");
    if source.is_file() {
        return Ok(source);
    }
    let copy = dir.join("three_d.py");
    std::fs::write(&copy, include_str!("../locust/three_d.py")).context("writing the locustfile")?;
    Ok(copy)
}

/// An `atelier emulate trellis-worker` process (killed when dropped), and the last
/// lines it wrote on stderr.
struct Worker {
    child: Child,
    stderr: Arc<Mutex<Vec<String>>>,
}

impl Worker {
    fn start(binary: &Path, server: &str, key: &str, instance: usize) -> Result<Worker> {
        let mut child = Command::new(binary)
            .args(["emulate", "trellis-worker", "--server", server, "--instance", &format!("bench-{instance}")])
            .env("ATELIER_WORKER_KEY", key)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {} emulate trellis-worker", binary.display()))?;
        let pipe = child.stderr.take().context("the worker's stderr")?;
        let stderr = Arc::new(Mutex::new(Vec::new()));
        {
            let stderr = Arc::clone(&stderr);
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines() {
                    let Ok(line) = line else { break };
                    if let Ok(mut lines) = stderr.lock() {
                        if lines.len() >= 5 {
                            lines.remove(0);
                        }
                        lines.push(line);
                    }
                }
            });
        }
        Ok(Worker { child, stderr })
    }

    fn cpu(&self) -> Option<crate::cpu::ProcessCpu> {
        process_cpu(&format!("/proc/{}/stat", self.child.id()))
    }

    /// What is wrong with it: exited, or wrote on stderr.
    fn trouble(&mut self) -> Option<String> {
        let exited = self.child.try_wait().ok().flatten();
        let lines = self.stderr.lock().map(|lines| lines.join(" | ")).unwrap_or_default();
        match (exited, lines.is_empty()) {
            (None, true) => None,
            (Some(status), _) => Some(format!("exited during the run ({status}); stderr: {lines}")),
            (None, false) => Some(format!("stderr: {lines}")),
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until the worker key's `last_seen_at` is set: a worker has asked for work.
async fn wait_seen(http: &reqwest::Client, base: &str, key_id: &str) -> Result<Duration> {
    let started = Instant::now();
    loop {
        let keys = get_json(http, &format!("{base}/api/v1/admin/worker-keys")).await?;
        let seen = keys.as_array().into_iter().flatten().any(|key| {
            key["id"].as_str() == Some(key_id) && key["last_seen_at"].as_str().is_some_and(|at| !at.is_empty())
        });
        if seen {
            return Ok(started.elapsed());
        }
        if started.elapsed() > Duration::from_secs(60) {
            bail!("no worker on the key was seen within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One row of locust's `PREFIX_stats.csv`.
#[derive(Debug, Default)]
struct LocustRow {
    requests: u64,
    failures: u64,
    per_second: f64,
    p50: Option<f64>,
    p99: Option<f64>,
}

/// The rows of `PREFIX_stats.csv` by request name.
fn parse_stats(csv: &str) -> Result<BTreeMap<String, LocustRow>> {
    let mut lines = csv.lines();
    let header: Vec<&str> =
        lines.next().context("an empty stats file")?.split(',').map(|h| h.trim_matches('"')).collect();
    let column = |name: &str| header.iter().position(|h| *h == name).with_context(|| format!("no column {name:?}"));
    let (name, requests, failures, per_second, p50, p99) = (
        column("Name")?,
        column("Request Count")?,
        column("Failure Count")?,
        column("Requests/s")?,
        column("50%")?,
        column("99%")?,
    );
    let mut rows = BTreeMap::new();
    for line in lines.filter(|line| !line.trim().is_empty()) {
        let fields: Vec<&str> = line.split(',').map(|f| f.trim_matches('"')).collect();
        let field = |i: usize| fields.get(i).copied().unwrap_or_default();
        rows.insert(
            field(name).to_owned(),
            LocustRow {
                requests: field(requests).parse().unwrap_or(0),
                failures: field(failures).parse().unwrap_or(0),
                per_second: field(per_second).parse().unwrap_or(0.0),
                p50: field(p50).parse().ok(),
                p99: field(p99).parse().ok(),
            },
        );
    }
    Ok(rows)
}

fn or_na(value: Option<f64>) -> String {
    value.map_or_else(|| "n/a".to_owned(), |v| format!("{v:.0}"))
}

/// The exact locust command line (for the report's heading).
fn locust_command(plan: &Plan, locust: &str, locustfile: &str, host: &str, prefix: &str) -> Vec<String> {
    [
        locust,
        "-f",
        locustfile,
        "--headless",
        "-u",
        &plan.three_d_users.to_string(),
        "-r",
        &plan.three_d_spawn_rate.to_string(),
        "-t",
        &format!("{}s", plan.three_d_duration.as_secs()),
        "--host",
        host,
        "--csv",
        prefix,
        "--only-summary",
    ]
    .map(str::to_owned)
    .to_vec()
}

/// Part 2: image-to-3D jobs through the server and emulated TRELLIS workers, under locust.
async fn under_locust(plan: &Plan, report: &mut Report) -> Result<()> {
    let scope = "3d/locust";
    let Some(locust) = find_locust() else {
        report.remark(format!(
            "{scope}: skipped: locust not found (${LOCUST_ENV} names no file, or is unset and no locust is on the PATH); \
             scripts/bench installs it in a venv"
        ));
        return Ok(());
    };
    let dir = tempfile::Builder::new().prefix("atelier-bench-locust-").tempdir().context("a temp dir")?;
    let locustfile = locustfile(dir.path())?;
    eprintln!(
        "[{scope}] {} users for {} s, {} emulated TRELLIS workers",
        plan.three_d_users,
        plan.three_d_duration.as_secs(),
        plan.three_d_workers
    );
    let server = Server::start(&plan.server, &Backend::Sqlite, &[]).await?;
    let base = server.base.clone();
    let http = client(4, &server.key)?;

    let made = post_json(
        &http,
        &format!("{base}/api/v1/admin/worker-keys"),
        &json!({"name": "bench", "models": [TRELLIS_MODEL]}),
        201,
    )
    .await?;
    let worker_key = made["key"].as_str().context("the worker key's answer has no key")?;
    let key_id = made["id"].as_str().context("the worker key's answer has no id")?;
    let mut workers = (0..plan.three_d_workers)
        .map(|i| Worker::start(&plan.server, &base, worker_key, i))
        .collect::<Result<Vec<_>>>()?;
    let seen_after = wait_seen(&http, &base, key_id).await?;

    let picture = png(&photo(SIDE))?;
    let upload = http
        .post(format!("{base}/api/v1/uploads?name=photo.png"))
        .header(reqwest::header::CONTENT_TYPE, "image/png")
        .body(picture.clone())
        .send()
        .await
        .context("POST /api/v1/uploads")?;
    let status = upload.status();
    let upload: Value = upload.json().await.context("the upload's answer")?;
    let upload_id = match upload["id"].as_str() {
        Some(id) if status.as_u16() == 201 => id.to_owned(),
        _ => bail!("the upload: HTTP {status}: {upload}"),
    };

    let prefix = dir.path().join("locust");
    let jobs_out = dir.path().join("jobs.json");
    let args = locust_command(
        plan,
        &locust.to_string_lossy(),
        &locustfile.to_string_lossy(),
        &base,
        &prefix.to_string_lossy(),
    );
    eprintln!("[{scope}] {}", args.join(" "));
    report.remark(format!("{scope}: the command: {}", args.join(" ")));
    let mut command = tokio::process::Command::new(&args[0]);
    command
        .args(&args[1..])
        .env("ATELIER_BENCH_KEY", &server.key)
        .env("ATELIER_BENCH_UPLOAD", &upload_id)
        .env("ATELIER_BENCH_QUALITY", LOCUST_QUALITY)
        .env("ATELIER_BENCH_POLL_SECS", POLL_SECS.to_string())
        .env("ATELIER_BENCH_JOBS_OUT", &jobs_out)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .kill_on_drop(true);

    let server_before = server.cpu();
    let workers_before: Vec<_> = workers.iter().map(Worker::cpu).collect();
    let children_before = children_cpu(std::process::id());
    let machine_before = machine_jiffies();
    let started = Instant::now();
    let limit = plan.three_d_duration + Duration::from_secs(120);
    let output = tokio::time::timeout(limit, command.output())
        .await
        .with_context(|| format!("locust still running after {} s", limit.as_secs()))?
        .with_context(|| format!("starting {}", locust.display()))?;
    let elapsed = started.elapsed();
    let server_cpu = cpu_between(server_before, server.cpu());
    let workers_cpu: Option<u64> =
        workers.iter().zip(&workers_before).map(|(worker, before)| cpu_between(*before, worker.cpu())).sum();
    let locust_cpu = cpu_between(children_before, children_cpu(std::process::id()));
    let machine = machine_before.zip(machine_jiffies());
    let completed_by_server = count_tasks(&http, &base, "completed").await;
    let failed_by_server = count_tasks(&http, &base, "failed,cancelled,expired").await;

    let stats_path = dir.path().join("locust_stats.csv");
    let csv = match std::fs::read_to_string(&stats_path) {
        Ok(csv) => csv,
        Err(error) => {
            let tail: String =
                String::from_utf8_lossy(&output.stderr).lines().rev().take(15).collect::<Vec<_>>().join(" | ");
            bail!(
                "locust wrote no {} ({error}; exit {}); its stderr, last lines first: {tail}",
                stats_path.display(),
                output.status
            );
        }
    };
    let rows = parse_stats(&csv)?;
    let jobs: Value = std::fs::read_to_string(&jobs_out)
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .context("the locustfile wrote no job counts")?;

    let users = plan.three_d_users;
    for name in REQUEST_NAMES {
        let Some(row) = rows.get(name) else {
            report.remark(format!("{scope}: no {name:?} row in locust's statistics"));
            continue;
        };
        let label = if name == "Aggregated" { "all requests (locust's Aggregated)" } else { name };
        let failures = if row.failures == 0 {
            "failures 0".to_owned()
        } else {
            format!(
                "FAILURES {} ({:.1}%)",
                thousands(row.failures as usize),
                row.failures as f64 * 100.0 / row.requests.max(1) as f64
            )
        };
        report.add(
            scope,
            format!("{label}: requests/s"),
            format!("{:.1}", row.per_second),
            "req/s",
            format!("{} requests, {failures}", thousands(row.requests as usize)),
        );
        report.add(scope, format!("{label}: p50"), or_na(row.p50), "ms", "");
        report.add(scope, format!("{label}: p99"), or_na(row.p99), "ms", "");
    }

    let completed = jobs["completed"].as_u64().unwrap_or(0);
    let run_secs = match (jobs["started_at"].as_f64(), jobs["stopped_at"].as_f64()) {
        (Some(start), Some(stop)) if stop > start => stop - start,
        _ => plan.three_d_duration.as_secs_f64(),
    };
    let mut times: Vec<f64> = jobs["completed_ms"].as_array().into_iter().flatten().filter_map(Value::as_f64).collect();
    times.sort_by(f64::total_cmp);
    let engines: Vec<String> = jobs["engines"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(engine, n)| format!("{engine} x{}", n.as_u64().unwrap_or(0)))
        .collect();
    let cpu = {
        let mut parts = Vec::new();
        if let Some(used) = server_cpu {
            parts.push(format!("server {:.1} s", jiffies_secs(used)));
        }
        if let Some(used) = workers_cpu {
            parts.push(format!("{} workers {:.1} s", workers.len(), jiffies_secs(used)));
        }
        if let Some(used) = locust_cpu {
            parts.push(format!("locust {:.1} s", jiffies_secs(used)));
        }
        if let Some(((busy0, total0), (busy1, total1))) = machine
            && total1 > total0
        {
            let busy = busy1.saturating_sub(busy0);
            let accounted = server_cpu.unwrap_or(0) + workers_cpu.unwrap_or(0) + locust_cpu.unwrap_or(0);
            parts.push(format!(
                "rest of machine {:.1} s; all cores {:.0}% busy",
                jiffies_secs(busy.saturating_sub(accounted)),
                busy as f64 * 100.0 / (total1 - total0) as f64
            ));
        }
        format!("CPU over {:.0} s: {}", elapsed.as_secs_f64(), parts.join(", "))
    };
    let server_counts = match (&completed_by_server, &failed_by_server) {
        (Ok(done), Ok(failed)) => {
            format!("the server counted {} completed, {} failed tasks", thousands(*done), thousands(*failed))
        }
        _ => "the server's counts could not be read".to_owned(),
    };
    report.add(
        scope,
        "image-to-3D jobs completed (POST, status until completed, result)",
        format!("{:.2}", completed as f64 / run_secs),
        "jobs/s",
        format!(
            "{} jobs in {run_secs:.1} s, {users} users; failed {}, refused {}, unfinished at the stop {}; engines: {}; \
             {server_counts} when locust had exited",
            thousands(completed as usize),
            jobs["failed"].as_u64().unwrap_or(0),
            jobs["refused"].as_u64().unwrap_or(0),
            jobs["unfinished"].as_u64().unwrap_or(0),
            if engines.is_empty() { "none".to_owned() } else { engines.join(", ") },
        ),
    );
    report.add(
        scope,
        "image-to-3D job time, POST to status completed: p50",
        or_na(quantile(&times, 0.5)),
        "ms",
        format!("seen by polls every {POLL_SECS} s, so up to {:.0} ms late", POLL_SECS * 1000.0),
    );
    report.add(scope, "image-to-3D job time, POST to status completed: p99", or_na(quantile(&times, 0.99)), "ms", cpu);

    if engines.iter().any(|engine| !engine.starts_with(TRELLIS_MODEL)) {
        report.remark(format!("{scope}: some jobs did not run on {TRELLIS_MODEL}: {}", engines.join(", ")));
    }
    if let Some(errors) = jobs["errors"].as_object().filter(|errors| !errors.is_empty()) {
        report.remark(format!("{scope}: the locustfile counted errors: {}", Value::Object(errors.clone())));
    }
    for (i, worker) in workers.iter_mut().enumerate() {
        if let Some(trouble) = worker.trouble() {
            report.remark(format!("{scope}: emulated worker bench-{i}: {trouble}"));
        }
    }
    report.remark(format!(
        "{scope}: the first worker was seen {:.1} s after the workers started; the uploaded picture is the \
         {SIDE}x{SIDE} photo-like PNG ({} KiB); locust ended with {}",
        seen_after.as_secs_f64(),
        thousands(picture.len() / 1024),
        output.status
    ));
    drop(workers);
    server.stop(report, scope);
    Ok(())
}
