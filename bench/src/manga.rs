//! Figure 9: seed 001's pipeline, phases 1 to 4, straight through (no feedback
//! waits): the offline planner on a 5,000-character and a 50,000-character story
//! (the whole run, each phase, and the server's peak memory), and the emulated
//! Gemini answering each phase after the seed's time (10, 12, 8 and 12 s): the
//! run's time against the sum of those latencies is what the pipeline adds.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::emulator::{Emulated, Emulator, UrlSetting, api_key};
use crate::load::{client, get_json};
use crate::plan::Plan;
use crate::report::{Report, mib};
use crate::server::{Backend, Server};

/// The seed's per-phase times (seed 001 2.1.2), in ms.
const SEED_LATENCIES_MS: [u64; 4] = [10_000, 12_000, 8_000, 12_000];

fn story(name: &str) -> Result<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/server/tests/data").join(name);
    std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))
}

/// A story of about `chars` characters: Rashomon, repeated (scene breaks between
/// the copies), cut at a paragraph.
fn japanese_story(chars: usize) -> Result<String> {
    let one = story("rashomon.txt")?;
    let mut text = String::new();
    while text.chars().count() < chars {
        text.push_str(&one);
        text.push_str("\n\n＊　＊　＊\n\n");
    }
    Ok(text.chars().take(chars).collect())
}

struct Finished {
    elapsed: Duration,
    phases_ms: Vec<i64>,
}

async fn run_once(server: &Server, body: Value) -> Result<Finished> {
    let http = client(1, &server.key)?;
    let started = Instant::now();
    let created: Value =
        http.post(format!("{}/api/v1/pipelines", server.base)).json(&body).send().await?.json().await?;
    let id = created["id"].as_str().with_context(|| format!("no run: {created}"))?.to_owned();
    let run = loop {
        let run = get_json(&http, &format!("{}/api/v1/pipelines/{id}", server.base)).await?;
        match run["status"].as_str() {
            Some("completed") => break run,
            Some("failed" | "cancelled") => bail!("the run ended {}: {}", run["status"], run["error"]),
            _ => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    };
    let elapsed = started.elapsed();
    drop(run);
    let tree = get_json(&http, &format!("{}/api/v1/pipelines/{id}/versions", server.base)).await?;
    let mut phases_ms = Vec::new();
    for node in tree["versions"].as_array().into_iter().flatten() {
        let version = get_json(
            &http,
            &format!("{}/api/v1/pipelines/{id}/versions/{}", server.base, node["id"].as_str().unwrap_or_default()),
        )
        .await?;
        phases_ms.push(version["elapsed_ms"].as_i64().unwrap_or(0));
    }
    Ok(Finished { elapsed, phases_ms })
}

fn env() -> Vec<(&'static str, String)> {
    vec![("ATELIER__PIPELINES__SWEEP_MS", "1000".to_owned()), ("ATELIER__PIPELINES__MAX_PER_HOUR", "0".to_owned())]
}

pub async fn run(plan: &Plan, report: &mut Report) -> Result<()> {
    let scope = "manga";
    for chars in [5_000, 50_000] {
        let server = Server::start(&plan.server, &Backend::Sqlite, &env()).await?;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let before = server.memory()?;
        let text = japanese_story(chars)?;
        let body = json!({ "text": text, "feedback_mode": { "enabled": false } });
        let finished = run_once(&server, body).await?;
        let after = server.memory()?;
        let phases = finished.phases_ms.iter().map(|ms| format!("{ms}")).collect::<Vec<_>>().join(" / ");
        report.add(
            scope,
            format!("phases 1-4, offline planner, {chars} characters"),
            format!("{:.2}", finished.elapsed.as_secs_f64()),
            "s",
            format!(
                "per phase (ms) {phases}; server RSS {} MiB before, peak {} MiB",
                mib(before.rss_kib),
                mib(after.hwm_kib)
            ),
        );
        server.stop(report, &format!("{scope} offline {chars}"));
    }

    // The emulated Gemini, one answer per phase after the seed's time for it: the
    // first rule that fires wins (request 1: 10 s; 2 and 4: 12 s; 3: 8 s).
    let rules = [
        format!("generate_content:first=1:latency={}", SEED_LATENCIES_MS[0]),
        format!("generate_content:every=2:latency={}", SEED_LATENCIES_MS[1]),
        format!("generate_content:every=3:latency={}", SEED_LATENCIES_MS[2]),
    ];
    let mut flags: Vec<String> = vec!["--steps".into(), "0".into()];
    for rule in &rules {
        flags.push("--fault".into());
        flags.push(rule.clone());
    }
    let google = Emulated {
        subcommand: "google",
        banner: "Google emulator listening on http://",
        credentials: api_key(),
        flags,
        section: "GOOGLE",
        base_path: "/v1beta",
        url_setting: UrlSetting::BaseUrl,
        first_poll_ms: 0,
        extra_env: env(),
        model: "google/gemini-2.5-flash",
        body: |_| json!({}),
        create_counter: "generate_content",
        create_call: "generateContent",
        other_counters: &[],
        setup: "the seed's latencies".to_owned(),
    };
    let (emulator, server): (Emulator, Server) = google.start(&plan.server).await?;
    let text = story("gift-of-the-magi.txt")?;
    let body = json!({ "text": text, "text_model": "google/gemini-2.5-flash", "feedback_mode": { "enabled": false } });
    let finished = run_once(&server, body).await?;
    let sum: u64 = SEED_LATENCIES_MS.iter().sum();
    let overhead = finished.elapsed.as_millis() as i64 - sum as i64;
    let calls = emulator.calls(&client(1, &server.key)?, "generate_content").await?;
    report.add(
        scope,
        "phases 1-4 through the emulated Gemini at the seed's latencies (10, 12, 8, 12 s)",
        format!("{:.2}", finished.elapsed.as_secs_f64()),
        "s",
        format!("sum of latencies {:.0} s, overhead {overhead} ms; {calls} generateContent calls", sum as f64 / 1000.0),
    );
    server.stop(report, &format!("{scope} emulated"));
    drop(emulator);
    Ok(())
}
