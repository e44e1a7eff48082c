//! Thumbnails against Pillow and libvips (issue 24): the same noisy photo-like 1024²
//! PNGs (made here, the same on every run) made into 256 px WebP thumbnails by
//! Atelier's `make_thumbnail` in process and by each peer
//! (`bench/peers/thumbnails.py`: Pillow's `thumbnail` + WebP quality 80, pyvips'
//! `thumbnail_buffer` + `webpsave` Q 80), one core each: Atelier's timing thread and
//! the peers' processes are pinned to core 0 with `taskset`, and libvips' threads
//! are held to one (`VIPS_CONCURRENCY=1`). Each image is timed whole, PNG bytes in,
//! WebP bytes out (decode, resize, encode): wall time per image, and the CPU time of
//! the timed thread (Atelier) or process (the peers) beside it, since other work on
//! the machine stretches wall time but not CPU time.
//!
//! Quality: every thumbnail (Atelier's and the peers') is decoded by the same WebP
//! decoder and scored by SSIM over luma (`atelier_assets::thumbnail::ssim`) against
//! one reference per image: Atelier's own Lanczos-3 resize of the decoded original
//! (`fitted_pixels`), before any encoding. Beside it, the average bytes.
//!
//! The peers run from the Python `$ATELIER_BENCH_THUMBNAILS_PYTHON` names (`scripts/bench`
//! makes a venv with Pillow, pyvips and pyvips-binary for it), else `python3`; a peer
//! that cannot run is a remark, and Atelier's figures stand alone.

use std::io::Cursor;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use atelier_assets::thumbnail::{THUMBNAIL_MAX, THUMBNAIL_QUALITY, fit_within, fitted_pixels, make_thumbnail, ssim};
use image::{DynamicImage, ImageFormat, Rgb, RgbImage};

use crate::noise::Noise;
use crate::plan::Plan;
use crate::report::{Report, stats};

/// The interpreter that runs the peers (a venv's python with Pillow and pyvips).
pub const PYTHON_ENV: &str = "ATELIER_BENCH_THUMBNAILS_PYTHON";

/// The inputs' side.
const SIDE: u32 = 1024;

const SCOPE: &str = "thumbnails";

/// What one thumbnailer did over all the inputs.
struct Run {
    name: &'static str,
    version: String,
    /// Wall time per image (every repetition).
    wall: Vec<Duration>,
    /// CPU milliseconds per image, averaged over all.
    cpu_ms: f64,
    /// The last repetition's WebP per input, in input order.
    outputs: Vec<Vec<u8>>,
}

pub async fn run(plan: &Plan, report: &mut Report) -> Result<()> {
    let (n, reps) = (plan.thumbnail_images, plan.thumbnail_reps);
    eprintln!(
        "[{SCOPE}] {n} noisy photo-like {SIDE}x{SIDE} PNGs to {THUMBNAIL_MAX} px WebP, {reps} rounds, one core each"
    );
    let dir = tempfile::tempdir().context("a temporary directory")?;
    let inputs =
        tokio::task::spawn_blocking(move || (0..n).map(|i| png(&photo(SIDE, i as u64))).collect::<Result<Vec<_>>>())
            .await??;
    let in_dir = dir.path().join("in");
    std::fs::create_dir_all(&in_dir)?;
    for (i, bytes) in inputs.iter().enumerate() {
        std::fs::write(in_dir.join(format!("{i:03}.png")), bytes)?;
    }
    let png_kib = inputs.iter().map(Vec::len).sum::<usize>() as f64 / n.max(1) as f64 / 1024.0;

    // Atelier on a thread of its own, pinned to core 0 as the peers' processes are.
    let (atelier_inputs, pinned) = (inputs.clone(), std::sync::Arc::new(std::sync::Mutex::new(String::new())));
    let pin_note = pinned.clone();
    let atelier = std::thread::spawn(move || -> Result<Run> {
        *pin_note.lock().map_err(|_| anyhow!("poisoned"))? = pin_this_thread();
        let (mut wall, mut cpu, mut outputs) = (Vec::new(), Duration::ZERO, Vec::new());
        let _ = make_thumbnail(&atelier_inputs[0], "image/png"); // warm-up
        for rep in 0..reps {
            for bytes in &atelier_inputs {
                let (cpu_before, t) = (thread_cpu(), Instant::now());
                let thumb = make_thumbnail(bytes, "image/png")
                    .map_err(|e| anyhow!("make_thumbnail: {e}"))?
                    .context("no thumbnail for a PNG")?;
                wall.push(t.elapsed());
                cpu += thread_cpu().saturating_sub(cpu_before);
                if rep + 1 == reps {
                    outputs.push(thumb.bytes);
                }
            }
        }
        let cpu_ms = cpu.as_secs_f64() * 1000.0 / wall.len().max(1) as f64;
        Ok(Run {
            name: "Atelier",
            version: "make_thumbnail (image + fast_image_resize + libwebp)".into(),
            wall,
            cpu_ms,
            outputs,
        })
    });
    let atelier = atelier.join().map_err(|_| anyhow!("the Atelier thread panicked"))??;
    let pinned = pinned.lock().map_err(|_| anyhow!("poisoned"))?.clone();

    let mut runs = vec![atelier];
    for peer in ["pillow", "vips"] {
        let (dir, in_dir) = (dir.path().to_owned(), in_dir.clone());
        match tokio::task::spawn_blocking(move || run_peer(peer, &dir, &in_dir, n, reps)).await? {
            Ok(run) => runs.push(run),
            Err(error) => report.remark(format!("thumbnails: the {peer} peer did not run: {error:#}")),
        }
    }

    // The reference per input: Atelier's Lanczos-3 resize of the decoded original.
    let references = tokio::task::spawn_blocking(move || {
        inputs
            .iter()
            .map(|bytes| {
                let image = image::load_from_memory_with_format(bytes, ImageFormat::Png)?;
                let size = fit_within(image.width(), image.height(), THUMBNAIL_MAX);
                Ok((fitted_pixels(image, size).map_err(|e| anyhow!("{e}"))?, size))
            })
            .collect::<Result<Vec<_>>>()
    })
    .await??;

    let conditions = format!(
        "{n} PNGs of {SIDE}x{SIDE} (mean {png_kib:.0} KiB), {reps} rounds; one core each: Atelier's thread {pinned}, \
         the peers under `taskset -c 0` with VIPS_CONCURRENCY=1; load average before {}",
        crate::machine::load_average()
    );
    let atelier_ms = stats(&runs[0].wall);
    let atelier_cpu = runs[0].cpu_ms;
    for (i, run) in runs.iter().enumerate() {
        let s = stats(&run.wall);
        let (bytes, score) = quality(&run.outputs, &references)?;
        let notes = if i == 0 { conditions.clone() } else { run.version.clone() };
        report.add(
            SCOPE,
            format!("{}: ms per image, mean (p50 {:.1})", run.name, s.p50),
            format!("{:.1}", s.mean),
            "ms",
            notes,
        );
        report.add(SCOPE, format!("{}: CPU ms per image", run.name), format!("{:.1}", run.cpu_ms), "ms", "");
        report.add(
            SCOPE,
            format!("{}: mean thumbnail size", run.name),
            format!("{:.0}", bytes),
            "bytes",
            format!("SSIM {score:.4} against Atelier's Lanczos-3 resize of the original (luma, 8x8 windows)"),
        );
        if i > 0 {
            report.add(
                SCOPE,
                format!("{} / Atelier, time per image (wall mean; CPU)", run.name),
                format!("{:.2}", s.mean / atelier_ms.mean.max(f64::EPSILON)),
                "x",
                format!(
                    "CPU {:.2}x; p50 {:.2}x; aim: Pillow at least 2x Atelier's time",
                    run.cpu_ms / atelier_cpu.max(f64::EPSILON),
                    s.p50 / atelier_ms.p50.max(f64::EPSILON)
                ),
            );
        }
    }
    report.add(
        SCOPE,
        "Atelier's WebP quality (lossy, alpha exact)",
        format!("{THUMBNAIL_QUALITY}"),
        "",
        "libwebp method 4; the peers at quality 80, method 4 (their defaults)",
    );
    Ok(())
}

/// Mean bytes and mean SSIM of one thumbnailer's outputs against the references.
fn quality(outputs: &[Vec<u8>], references: &[(Vec<u8>, (u32, u32))]) -> Result<(f64, f64)> {
    if outputs.len() != references.len() {
        bail!("{} outputs for {} inputs", outputs.len(), references.len());
    }
    let mut score = 0.0;
    for (webp, (reference, (width, height))) in outputs.iter().zip(references) {
        let decoded = image::load_from_memory_with_format(webp, ImageFormat::WebP).context("decoding a thumbnail")?;
        if (decoded.width(), decoded.height()) != (*width, *height) {
            bail!("a thumbnail of {}x{}, expected {width}x{height}", decoded.width(), decoded.height());
        }
        score += ssim::ssim(reference, decoded.to_rgb8().as_raw(), *width as usize, *height as usize, 3)
            .context("SSIM of pictures of one size")?;
    }
    let count = outputs.len().max(1) as f64;
    Ok((outputs.iter().map(Vec::len).sum::<usize>() as f64 / count, score / count))
}

/// Runs `bench/peers/thumbnails.py` for one peer under `taskset -c 0`.
fn run_peer(peer: &'static str, dir: &Path, in_dir: &Path, n: usize, reps: usize) -> Result<Run> {
    let script = dir.join("thumbnails.py");
    std::fs::write(&script, include_str!("../peers/thumbnails.py"))?;
    let out_dir = dir.join(peer);
    let python = std::env::var(PYTHON_ENV).unwrap_or_else(|_| "python3".to_owned());
    let output = Command::new("taskset")
        .args(["-c", "0", &python])
        .arg(&script)
        .args([peer.as_ref(), in_dir.as_os_str(), out_dir.as_os_str(), reps.to_string().as_ref()])
        .env("VIPS_CONCURRENCY", "1")
        .env("OMP_NUM_THREADS", "1")
        .output()
        .with_context(|| format!("running taskset -c 0 {python}"))?;
    if !output.status.success() {
        bail!("{}: {}", output.status, String::from_utf8_lossy(&output.stderr).trim());
    }
    let answer: serde_json::Value = serde_json::from_slice(&output.stdout).context("the peer's JSON")?;
    let ms = |key: &str| -> Vec<f64> {
        answer[key].as_array().map(|a| a.iter().filter_map(serde_json::Value::as_f64).collect()).unwrap_or_default()
    };
    let (wall, cpu) = (ms("ms"), ms("cpu_ms"));
    if wall.len() != n * reps {
        bail!("{} timings for {} images", wall.len(), n * reps);
    }
    let outputs = (0..n)
        .map(|i| std::fs::read(out_dir.join(format!("{i:03}.webp"))).context("a peer's thumbnail"))
        .collect::<Result<Vec<_>>>()?;
    Ok(Run {
        name: if peer == "pillow" { "Pillow" } else { "libvips" },
        version: answer["version"].as_str().unwrap_or(peer).to_owned(),
        wall: wall.iter().map(|ms| Duration::from_secs_f64(ms / 1000.0)).collect(),
        cpu_ms: cpu.iter().sum::<f64>() / cpu.len().max(1) as f64,
        outputs,
    })
}

/// Pins the calling thread to core 0 (`taskset -p`, on its thread id); says what it did.
fn pin_this_thread() -> String {
    let tid = std::fs::read_link("/proc/thread-self")
        .ok()
        .and_then(|link| link.file_name().map(|name| name.to_string_lossy().into_owned()));
    let Some(tid) = tid else { return "not pinned (no /proc/thread-self)".to_owned() };
    match Command::new("taskset").args(["-p", "-c", "0", &tid]).output() {
        Ok(output) if output.status.success() => "pinned to core 0 (taskset -p)".to_owned(),
        Ok(output) => format!("not pinned ({})", String::from_utf8_lossy(&output.stderr).trim()),
        Err(error) => format!("not pinned ({error})"),
    }
}

/// The CPU time of the calling thread (the kernel's count, in nanoseconds).
fn thread_cpu() -> Duration {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|text| text.split_whitespace().next()?.parse().ok())
        .map_or(Duration::ZERO, Duration::from_nanos)
}

/// A photo-like opaque picture, a little different for every `index`: a sky-like
/// gradient, two soft light spots, slow waves and finer ripples, and noise of ±12 on
/// every channel of every pixel (what a lossy coder and a PNG inflater find hardest).
fn photo(side: u32, index: u64) -> DynamicImage {
    let mut noise = Noise(0x9e37_79b9_7f4a_7c15 ^ (index.wrapping_mul(0x1234_5678_9abc_def1) | 1));
    let (scale, k) = (1.0 / side as f32, index as f32);
    DynamicImage::ImageRgb8(RgbImage::from_fn(side, side, |x, y| {
        let (x, y) = (x as f32 * scale, y as f32 * scale);
        let spot = |cx: f32, cy: f32, r: f32| (-((x - cx).powi(2) + (y - cy).powi(2)) / (r * r)).exp();
        let (a, b) = (spot(0.3 + 0.03 * k, 0.35, 0.25), spot(0.72, 0.68 - 0.02 * k, 0.18));
        let wave = (x * (9.0 + k) + 0.8).sin() * (y * 6.0).cos();
        let fine = (x * 80.0 + y * 35.0 + k).sin() * (y * 60.0 - x * 20.0).cos();
        let rgb = [
            40.0 + 120.0 * (1.0 - y) + 80.0 * a + 20.0 * wave + 18.0 * fine,
            60.0 + 90.0 * y + 60.0 * b + 25.0 * wave + 12.0 * fine,
            90.0 + 100.0 * (1.0 - x) * (1.0 - y) + 50.0 * b - 15.0 * wave - 10.0 * fine,
        ];
        Rgb(rgb.map(|c| (c + noise.next(12) as f32).round().clamp(0.0, 255.0) as u8))
    }))
}

fn png(picture: &DynamicImage) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    picture.write_to(&mut Cursor::new(&mut bytes), ImageFormat::Png).context("encoding a PNG")?;
    Ok(bytes)
}
