//! Hostile files (issue 22): CPU milliseconds per file of `atelier_assets::hostile`'s
//! corpus (decompression bombs of each format, files cut short, polyglots, looping
//! Exif, 10,000-frame animations, an MP4 declaring 100,000²):
//!
//! 1. before: what the code before the `[media]` limits ran on a file as it was
//!    stored: `image_dimensions` then `make_thumbnail` (a video: `media::probe`
//!    and `poster::poster_frame`), in process, once;
//! 2. after: `vet_image` (a video: `vet_media`), the function every way in now
//!    calls first, in process;
//! 3. after, over HTTP: `POST /api/v1/uploads` of the file to an in-process server
//!    (SQLite), the status and code it answers.
//!
//! CPU is this process's (every thread: the vetting's decode thread, the server's
//! workers, ffprobe's children once waited for), from /proc in jiffies of 10 ms;
//! the quick figures are averaged over repetitions (at least 0.3 s of wall time,
//! at most 50 runs) so that they read below a jiffy.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use atelier_assets::hostile::{self, Hostile};
use atelier_assets::{MediaLimits, vet_image, vet_media};
use atelier_testkit::app::TestApp;
use axum::body::Bytes;

use crate::cpu::{children_cpu, process_cpu};
use crate::plan::Plan;
use crate::report::Report;

/// This process's CPU (and its waited-for children's: ffprobe, ffmpeg), in ms.
fn cpu_ms() -> f64 {
    let own = process_cpu("/proc/self/stat").map_or(0, |cpu| cpu.user + cpu.system);
    let children = children_cpu(std::process::id()).map_or(0, |cpu| cpu.user + cpu.system);
    (own + children) as f64 * 10.0
}

/// CPU ms a run of `work`, averaged over repetitions when one is quick.
fn measure(mut work: impl FnMut()) -> (f64, usize) {
    let (started, before) = (Instant::now(), cpu_ms());
    let mut runs = 0;
    while runs == 0 || (started.elapsed() < Duration::from_millis(300) && runs < 50) {
        work();
        runs += 1;
    }
    ((cpu_ms() - before) / runs as f64, runs)
}

/// The old path on one file: what storing it did before it was vetted.
fn old_path(file: &Hostile) -> String {
    if file.mime.starts_with("video/") {
        let info = atelier_assets::media::probe(&file.bytes, file.mime);
        let poster = atelier_assets::poster::poster_frame(&file.bytes);
        return format!(
            "probe {}, poster {}",
            if info.is_some() { "read" } else { "none" },
            outcome(poster.map(|_| ()))
        );
    }
    let size = atelier_assets::image_dimensions(&file.bytes);
    let thumbnail = atelier_assets::make_thumbnail(&file.bytes, file.mime);
    format!(
        "header {}, thumbnail {}",
        size.map_or_else(|| "unread".to_owned(), |(w, h)| format!("{w}x{h}")),
        match thumbnail {
            Ok(Some(_)) => "made (accepted)".to_owned(),
            Ok(None) => "none".to_owned(),
            Err(error) => format!("failed: {}", short(&error.to_string())),
        }
    )
}

fn outcome<E: std::fmt::Display>(result: Result<(), E>) -> String {
    match result {
        Ok(()) => "made".into(),
        Err(error) => format!("failed: {}", short(&error.to_string())),
    }
}

fn short(text: &str) -> String {
    text.chars().take(60).collect()
}

fn vet(file: &Hostile, limits: &MediaLimits) -> String {
    let refused = if file.mime.starts_with("video/") {
        vet_media(&file.bytes, file.mime, limits).map(|_| ())
    } else {
        vet_image(Bytes::from(file.bytes.clone()), limits).map(|_| ())
    };
    match refused {
        Ok(()) => "accepted".into(),
        Err(error) => error.code().into(),
    }
}

pub async fn run(plan: &Plan, report: &mut Report) -> Result<()> {
    let started = Instant::now();
    let made = Instant::now();
    let corpus = hostile::corpus();
    report.remark(format!(
        "hostile: the corpus ({} files, {:.1} MB) made in {:.0} ms",
        corpus.len(),
        corpus.iter().map(|f| f.bytes.len()).sum::<usize>() as f64 / 1e6,
        made.elapsed().as_secs_f64() * 1000.0
    ));
    let limits = MediaLimits::default();
    // Before: once each (the bombs take seconds), on a blocking thread.
    for file in &corpus {
        let (name, file) = (file.name, file.clone());
        let (cpu, what) = tokio::task::spawn_blocking(move || {
            let before = cpu_ms();
            let what = old_path(&file);
            (cpu_ms() - before, what)
        })
        .await
        .context("the old path panicked")?;
        report.add("hostile", format!("{name}: before (old path)"), format!("{cpu:.0}"), "CPU ms", what);
    }
    // After, in process.
    for file in &corpus {
        let (name, file, limits) = (file.name, file.clone(), limits.clone());
        let (cpu, runs, what) = tokio::task::spawn_blocking(move || {
            let mut what = String::new();
            let (cpu, runs) = measure(|| what = vet(&file, &limits));
            (cpu, runs, what)
        })
        .await
        .context("vetting panicked")?;
        report.add(
            "hostile",
            format!("{name}: after (vet)"),
            format!("{cpu:.2}"),
            "CPU ms",
            format!("{what}; mean of {runs}"),
        );
    }
    // After, over HTTP.
    let app = TestApp::spawn().await;
    for file in &corpus {
        let before = cpu_ms();
        let mut runs = 0;
        let mut answer = String::new();
        let wall = Instant::now();
        while runs == 0 || (wall.elapsed() < Duration::from_millis(300) && runs < plan.hostile_uploads) {
            let response = app
                .http
                .post(app.url(&format!("/api/v1/uploads?name={}", file.name)))
                .header("content-type", file.mime)
                .body(file.bytes.clone())
                .send()
                .await
                .context("uploading")?;
            let status = response.status().as_u16();
            let body: serde_json::Value = response.json().await.unwrap_or_default();
            answer = format!("{status} {}", body["error"].as_str().unwrap_or("(stored)"));
            runs += 1;
        }
        let cpu = (cpu_ms() - before) / runs as f64;
        report.add(
            "hostile",
            format!("{}: after (upload)", file.name),
            format!("{cpu:.2}"),
            "CPU ms",
            format!("{answer}; mean of {runs}"),
        );
    }
    report.remark(format!("hostile: took {:.0} s", started.elapsed().as_secs_f64()));
    Ok(())
}
