//! Figure 6: OpenAI through `atelier emulate openai`: the emulator's own time per
//! image, images and videos through the server, and memory with videos that never
//! finish.

use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde_json::json;

use crate::cpu::{cpu_between, jiffies_secs};
use crate::emulated;
use crate::emulator::{EMULATOR_API_KEY, Emulated, Emulator, FAST_POLL_MS, SLOW_POLL_MS, UrlSetting, api_key};
use crate::load::client;
use crate::plan::Plan;
use crate::report::{Report, ms, quantile};

impl Emulated {
    /// OpenAI images: one synchronous `images/generations` call per task, the
    /// emulator drawing a real 1024x1024 PNG for each.
    pub(crate) fn openai_images() -> Emulated {
        Emulated {
            subcommand: "openai",
            banner: "OpenAI emulator listening on http://",
            flags: Vec::new(),
            credentials: api_key(),
            section: "OPENAI",
            base_path: "/v1",
            url_setting: UrlSetting::BaseUrl,
            first_poll_ms: FAST_POLL_MS,
            extra_env: Vec::new(),
            model: "openai/gpt-image-1",
            body: |i| {
                json!({"model": "openai/gpt-image-1",
                       "input": {"prompt": format!("bench {i}"), "size": "1024x1024", "quality": "low"}})
            },
            create_counter: "images_generations",
            create_call: "images.generations",
            other_counters: &[],
            setup: "synchronous, 1024x1024 quality low png".to_owned(),
        }
    }

    /// OpenAI videos: create, poll, download. The emulator's `openai-poll-after-ms`
    /// header wins over the server's `first_poll_ms`, so both are set. `waiting`: every
    /// video stays `in_progress` (the `never_finish` fault on each create).
    fn openai_videos(waiting: bool) -> Emulated {
        let poll_ms = if waiting { SLOW_POLL_MS } else { FAST_POLL_MS };
        let mut flags: Vec<String> =
            ["--steps", "0", "--poll-after-ms", &poll_ms.to_string()].map(str::to_owned).to_vec();
        if waiting {
            flags.extend(["--fault", "videos.create:always:never_finish"].map(str::to_owned));
        }
        Emulated {
            subcommand: "openai",
            banner: "OpenAI emulator listening on http://",
            setup: format!(
                "steps 0, poll-after {poll_ms} ms{}",
                if waiting { ", fault videos.create:always:never_finish" } else { "" }
            ),
            flags,
            credentials: api_key(),
            section: "OPENAI",
            base_path: "/v1",
            url_setting: UrlSetting::BaseUrl,
            first_poll_ms: poll_ms,
            extra_env: Vec::new(),
            model: "openai/sora-2",
            body: |i| json!({"model": "openai/sora-2", "input": {"prompt": format!("bench {i}"), "seconds": "4"}}),
            create_counter: "videos_create",
            create_call: "videos.create",
            other_counters: &["videos_retrieve", "videos_content"],
        }
    }
}

/// The OpenAI emulator alone: `images/generations` as the server sends it, one
/// request at a time, for what drawing and encoding an image costs the emulator.
pub async fn openai_image_probe(plan: &Plan, scope: &str, report: &mut Report) -> Result<()> {
    let n = plan.openai_probe_images;
    let provider = Emulated::openai_images();
    let emulator = Emulator::start(&plan.server, &provider)?;
    let http = client(1, EMULATOR_API_KEY)?;
    let url = format!("{}{}/images/generations", emulator.base, provider.base_path);
    let before = emulator.cpu();
    let started = Instant::now();
    let mut latencies = Vec::with_capacity(n);
    let mut bytes = 0;
    for i in 0..n {
        let body = json!({"model": "gpt-image-1", "prompt": format!("bench {i}"), "n": 1, "size": "1024x1024",
                          "quality": "low", "output_format": "png"});
        let sent = Instant::now();
        let response = http.post(&url).json(&body).send().await.context("POST images/generations")?;
        let status = response.status();
        let answer = response.bytes().await.context("reading an images answer")?;
        if !status.is_success() {
            bail!("images/generations: HTTP {status}: {}", String::from_utf8_lossy(&answer));
        }
        latencies.push(sent.elapsed());
        bytes += answer.len();
    }
    let elapsed = started.elapsed();
    let after = emulator.cpu();
    let cpu = cpu_between(before, after);
    latencies.sort_unstable();
    let median = quantile(&latencies, 0.5).unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    report.add(
        scope,
        "emulator alone: images.generations 1024x1024 low png, one at a time",
        format!("{:.1}", ms(median)),
        "ms",
        format!(
            "median of {n}; p90 {:.1} ms; emulator CPU {:.2} s for {n} images ({:.1} ms each); answers {} KiB \
             each (base64 PNG); {:.0} images/s in sequence, so at most ~{:.0}/s on {cores} cores before the server \
             does anything",
            ms(quantile(&latencies, 0.9).unwrap_or_default()),
            cpu.map_or(f64::NAN, jiffies_secs),
            cpu.map_or(f64::NAN, |cpu| jiffies_secs(cpu) * 1000.0 / n.max(1) as f64),
            bytes / n.max(1) / 1024,
            n as f64 / elapsed.as_secs_f64(),
            cores as f64 * 1000.0 / ms(median).max(0.001),
        ),
    );
    drop(emulator);
    Ok(())
}

pub async fn run(plan: &Plan, report: &mut Report) -> Result<()> {
    let scope = "openai/sqlite";
    let section_started = Instant::now();
    if let Err(error) = openai_image_probe(plan, scope, report).await {
        report.remark(format!("{scope}: emulator image probe failed: {error:#}"));
    }
    let images = Emulated::openai_images();
    if let Err(error) = emulated::throughput(plan, scope, &images, plan.openai_tasks, report).await {
        report.remark(format!("{scope}: image throughput run failed: {error:#}"));
    }
    if let Err(error) = crate::openai_compat::added_latency(plan, scope, report).await {
        report.remark(format!("{scope}: the OpenAI-compatible API's latency run failed: {error:#}"));
    }
    let videos = Emulated::openai_videos(false);
    if let Err(error) = emulated::throughput(plan, scope, &videos, plan.openai_tasks, report).await {
        report.remark(format!("{scope}: video throughput run failed: {error:#}"));
    }
    let waiting = Emulated::openai_videos(true);
    if let Err(error) = emulated::memory(plan, scope, &waiting, plan.openai_memory_tasks, report).await {
        report.remark(format!("{scope}: memory run failed: {error:#}"));
    }
    eprintln!("[{scope}] done in {:.0} s", section_started.elapsed().as_secs_f64());
    Ok(())
}
