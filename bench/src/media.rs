//! Figure 11: seed 000's speech, video and places, in process (release build).
//!
//! 1. `local/speech` per engine on a paragraph of 61 words in four sentences:
//!    seconds of audio per second of CPU (this process and its children: espeak-ng
//!    runs as a child, Piper's ONNX Runtime in threads of this process) and per
//!    second of wall time, after one untimed run (which loads Piper's voice).
//! 2. `local/slideshow`: seconds of H.264 video made per second of wall time (and
//!    of CPU, ffmpeg included), at 1280x720 and 30 fps from three photo-like pictures.
//! 3. Places: building the GeoNames gazetteer (144,563 places), reverse lookups a
//!    second on one thread (a million random points on land and sea, uniform on the
//!    sphere), and place-name searches a second.

use std::sync::Arc;
use std::sync::atomic::AtomicU8;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use async_trait::async_trait;
use atelier_core::TaskId;
use atelier_core::ports::{
    InputCopy, InputFile, InputFiles, InputRef, Job, OutputData, Provider, ProviderError, ProviderUpload, Submitted,
};
use atelier_providers::{LocalConfig, LocalProvider};
use serde_json::{Value, json};

use crate::cpu::{ProcessCpu, children_cpu, jiffies_secs, process_cpu};
use crate::plan::Plan;
use crate::report::{Report, thousands};

/// What the speech engines read: 61 words, four sentences.
const PARAGRAPH: &str = "Atelier is a self-hosted server for generative media. It speaks, draws and builds \
    models on one machine, with no key and no network. This paragraph is read aloud to measure how fast each \
    speech engine works, in seconds of audio for every second of processor time. The neural voice sounds \
    natural; the formant synthesiser is robotic, tiny and fast, and speaks about a hundred languages.";

pub async fn run(plan: &Plan, report: &mut Report) -> Result<()> {
    let started = Instant::now();
    let provider = LocalProvider::new(LocalConfig::default());
    for engine in ["piper", "espeak"] {
        if let Err(error) = speech(&provider, engine, plan.media_reps, report).await {
            report.remark(format!("media: speech with {engine} was not measured: {error:#}"));
        }
    }
    if let Err(error) = slideshow(&provider, plan.media_reps, report).await {
        report.remark(format!("media: the slideshow was not measured: {error:#}"));
    }
    places(plan.media_lookups, report);
    report.remark(format!("media: figure 11 took {:.0} s", started.elapsed().as_secs_f64()));
    Ok(())
}

/// This process's CPU and its waited-for children's, in jiffies.
fn cpu_now() -> Option<(ProcessCpu, ProcessCpu)> {
    Some((process_cpu("/proc/self/stat")?, children_cpu(std::process::id())?))
}

fn cpu_since(before: Option<(ProcessCpu, ProcessCpu)>) -> Option<f64> {
    let ((a, ac), (b, bc)) = (before?, cpu_now()?);
    let used = (b.user + b.system + bc.user + bc.system).saturating_sub(a.user + a.system + ac.user + ac.system);
    Some(jiffies_secs(used))
}

fn job<'a>(model: &'a str, input: &'a Value, files: &'a dyn InputFiles) -> Job<'a> {
    Job {
        task_id: TaskId::new(),
        model,
        input,
        attempt: 1,
        running_for: Duration::ZERO,
        progress: Arc::new(AtomicU8::new(0)),
        files,
    }
}

/// One output's bytes, from a finished local run.
async fn run_once(provider: &LocalProvider, job: &Job<'_>) -> Result<Vec<u8>> {
    match provider.submit(job).await.map_err(|e| anyhow::anyhow!("{}: {}", job.model, e.message))? {
        Submitted::Finished(mut outputs) if !outputs.is_empty() => match outputs.remove(0).data {
            OutputData::Bytes(bytes) => Ok(bytes.to_vec()),
            OutputData::Stream(_) => bail!("a streamed output"),
        },
        _ => bail!("{} finished with no output", job.model),
    }
}

async fn speech(provider: &LocalProvider, engine: &str, reps: usize, report: &mut Report) -> Result<()> {
    let input = provider
        .validate("speech", &json!({ "text": PARAGRAPH, "engine": engine }))
        .map_err(|error| anyhow::anyhow!("{error}"))?;
    let files = atelier_core::ports::NoInputFiles;
    let voice = input["voice"].as_str().unwrap_or_default().to_owned();
    eprintln!("[media] speech: {engine} ({voice}), {reps} runs after one untimed");
    let warm = Instant::now();
    run_once(provider, &job("speech", &input, &files)).await?;
    let first = warm.elapsed();
    let (mut audio, mut wall, mut cpu) = (0.0, 0.0, 0.0);
    for _ in 0..reps.max(1) {
        let before = cpu_now();
        let started = Instant::now();
        let wav = run_once(provider, &job("speech", &input, &files)).await?;
        wall += started.elapsed().as_secs_f64();
        cpu += cpu_since(before).context("no CPU times in /proc")?;
        audio += atelier_assets::media::wav_header(&wav)
            .and_then(|info| info.duration_secs)
            .context("the output is not a WAV")?;
    }
    let scope = "media/speech";
    report.add(
        scope,
        format!("{engine}: audio seconds per CPU second"),
        format!("{:.1}", audio / cpu.max(1e-9)),
        "x",
        format!(
            "{voice}; {:.1} s of audio per run, {:.2} s CPU (children included)",
            audio / reps as f64,
            cpu / reps as f64
        ),
    );
    report.add(
        scope,
        format!("{engine}: audio seconds per wall second"),
        format!("{:.1}", audio / wall.max(1e-9)),
        "x",
        format!(
            "{:.0} ms a run; the first run (Piper: loading the voice) took {:.0} ms",
            wall / reps as f64 * 1000.0,
            first.as_secs_f64() * 1000.0
        ),
    );
    Ok(())
}

/// Three photo-like pictures, served to the slideshow as uploads.
struct Pictures(Vec<Vec<u8>>);

#[async_trait]
impl InputFiles for Pictures {
    async fn open(&self, reference: &InputRef) -> Result<InputFile, ProviderError> {
        let index = match reference {
            InputRef::Url(url) => url.rsplit('/').next().and_then(|n| n.parse::<usize>().ok()),
            _ => None,
        };
        let bytes = index.and_then(|i| self.0.get(i)).cloned().ok_or_else(|| {
            ProviderError::new(atelier_core::ports::ErrorClass::ClientError, "no such picture in the bench")
        })?;
        Ok(InputFile {
            sha256: String::new(),
            name: "picture.png".into(),
            mime: "image/png".into(),
            bytes: bytes.into(),
        })
    }

    async fn cached_upload(&self, _service: &str, _key: &str, _margin_ms: i64) -> Option<ProviderUpload> {
        None
    }

    async fn remember_upload(&self, _service: &str, _key: &str, _upload: &ProviderUpload) {}

    async fn record_copy(&self, _task: TaskId, _copy: &InputCopy) {}
}

fn picture(seed: u32) -> Result<Vec<u8>> {
    let image = image::RgbImage::from_fn(1600, 1200, |x, y| {
        let (fx, fy) = (x as f32 / 1600.0, y as f32 / 1200.0);
        let wave = ((fx * 11.0 + seed as f32).sin() * (fy * 7.0).cos() * 40.0) as i32;
        let noise = ((x.wrapping_mul(2_654_435_761) ^ y.wrapping_mul(40_503) ^ seed) % 17) as i32;
        let channel = |base: f32| (base as i32 + wave + noise).clamp(0, 255) as u8;
        image::Rgb([channel(60.0 + 150.0 * fy), channel(90.0 + 100.0 * fx), channel(140.0 - 60.0 * fy)])
    });
    let mut png = Vec::new();
    image.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png).context("encoding a picture")?;
    Ok(png)
}

async fn slideshow(provider: &LocalProvider, reps: usize, report: &mut Report) -> Result<()> {
    let pictures = Pictures((0..3).map(picture).collect::<Result<_>>()?);
    let images: Vec<String> = (0..3).map(|i| format!("https://bench.invalid/{i}")).collect();
    let seconds = 10.0;
    let input = provider
        .validate(
            "slideshow",
            &json!({ "images": images, "duration": seconds, "fps": 30, "width": 1280, "height": 720 }),
        )
        .map_err(|error| anyhow::anyhow!("{error}"))?;
    let reps = reps.clamp(1, 3);
    eprintln!("[media] slideshow: 3 pictures to {seconds} s of 1280x720 at 30 fps, {reps} runs after one untimed");
    run_once(provider, &job("slideshow", &input, &pictures)).await?;
    let (mut wall, mut cpu, mut bytes) = (0.0, 0.0, 0);
    for _ in 0..reps {
        let before = cpu_now();
        let started = Instant::now();
        bytes = run_once(provider, &job("slideshow", &input, &pictures)).await?.len();
        wall += started.elapsed().as_secs_f64();
        cpu += cpu_since(before).context("no CPU times in /proc")?;
    }
    let made = seconds * reps as f64;
    report.add(
        "media/slideshow",
        "video seconds per wall second (1280x720, 30 fps)",
        format!("{:.2}", made / wall.max(1e-9)),
        "x",
        format!(
            "{:.2} s a run for {seconds} s of video ({} KiB MP4); {:.2} video s per CPU s (ffmpeg included)",
            wall / reps as f64,
            thousands(bytes / 1024),
            made / cpu.max(1e-9)
        ),
    );
    Ok(())
}

/// A deterministic point uniform on the sphere.
fn point(state: &mut u64) -> atelier_places::Coordinates {
    let mut next = || {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        (*state >> 11) as f64 / (1u64 << 53) as f64
    };
    let latitude = (2.0 * next() - 1.0).asin().to_degrees().clamp(-90.0, 90.0);
    let longitude = (next() * 360.0 - 180.0).clamp(-180.0, 180.0);
    atelier_places::Coordinates::new(latitude, longitude).unwrap_or_else(|_| point(state))
}

fn places(lookups: usize, report: &mut Report) {
    let scope = "media/places";
    let started = Instant::now();
    let gazetteer = atelier_places::Gazetteer::load();
    report.add(
        scope,
        "building the gazetteer",
        format!("{:.0}", started.elapsed().as_secs_f64() * 1000.0),
        "ms",
        format!(
            "{} places, {:.1} MiB of heap",
            thousands(gazetteer.len()),
            gazetteer.table_heap_bytes() as f64 / 1_048_576.0
        ),
    );
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let points: Vec<_> = (0..lookups).map(|_| point(&mut state)).collect();
    let started = Instant::now();
    let mut far = 0.0f64;
    for at in &points {
        far = far.max(gazetteer.reverse(*at).distance_km);
    }
    let elapsed = started.elapsed().as_secs_f64();
    report.add(
        scope,
        "reverse lookups per second (one thread)",
        thousands((lookups as f64 / elapsed) as usize),
        "/s",
        format!(
            "{} random points on the sphere; the farthest answer was {far:.0} km away (open ocean)",
            thousands(lookups)
        ),
    );
    let queries = ["Paris", "tokyo", "Springfield, Illinois", "São Paulo", "zurich", "Lima, PE", "new", "ber"];
    let rounds = 2000;
    let started = Instant::now();
    let mut found = 0;
    for _ in 0..rounds {
        for query in queries {
            found += gazetteer.search(query, 10).map(|places| places.len()).unwrap_or(0);
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    report.add(
        scope,
        "place-name searches per second (one thread)",
        thousands(((rounds * queries.len()) as f64 / elapsed) as usize),
        "/s",
        format!("{} queries (whole names, qualifiers, prefixes), up to 10 candidates; {found} found", queries.len()),
    );
}
