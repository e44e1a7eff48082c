//! Figure 6 (continued): what Atelier's OpenAI-compatible API adds.
//! `POST /v1/images/generations` (1024x1024, `b64_json`) through Atelier to the
//! OpenAI emulator, against the same call sent to the emulator directly, at 1 and 32
//! requests in flight: p50 and p99 of each, and their difference. Through Atelier a
//! call is a durable task: created, claimed by a worker, sent to the emulator, its
//! PNG stored (with a thumbnail), completed, then read back and encoded again.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use futures::StreamExt;
use serde_json::{Value, json};

use crate::emulator::{EMULATOR_API_KEY, Emulated};
use crate::load::client;
use crate::plan::Plan;
use crate::report::{Report, ms, quantile};

struct Run {
    latencies: Vec<Duration>,
    elapsed: Duration,
}

impl Run {
    fn p(&self, q: f64) -> f64 {
        ms(quantile(&self.latencies, q).unwrap_or_default())
    }
}

/// `n` calls, `in_flight` at a time; each must answer 200 with one image.
async fn measure(http: &reqwest::Client, url: &str, body: &Value, n: usize, in_flight: usize) -> Result<Run> {
    let started = Instant::now();
    let mut latencies: Vec<Duration> = futures::stream::iter(0..n)
        .map(|_| async {
            let sent = Instant::now();
            let response = http.post(url).json(body).send().await.context("POST images/generations")?;
            let status = response.status();
            let answer: Value = response.json().await.context("reading an images answer")?;
            if !status.is_success() || answer.pointer("/data/0/b64_json").and_then(Value::as_str).is_none() {
                bail!("{url}: HTTP {status}: {}", answer.to_string().chars().take(300).collect::<String>());
            }
            Ok(sent.elapsed())
        })
        .buffer_unordered(in_flight)
        .collect::<Vec<Result<Duration>>>()
        .await
        .into_iter()
        .collect::<Result<_>>()?;
    latencies.sort_unstable();
    Ok(Run { latencies, elapsed: started.elapsed() })
}

pub async fn added_latency(plan: &Plan, scope: &str, report: &mut Report) -> Result<()> {
    let provider = Emulated::openai_images();
    let (emulator, server) = provider.start(&plan.server).await?;
    let direct_url = format!("{}{}/images/generations", emulator.base, provider.base_path);
    let atelier_url = format!("{}/v1/images/generations", server.base);
    let direct_body = json!({"model": "gpt-image-1", "prompt": "bench", "size": "1024x1024", "quality": "low"});
    let atelier_body = json!({"model": "openai/gpt-image-1", "prompt": "bench", "size": "1024x1024", "quality": "low"});
    for (in_flight, n) in [(1, if plan.quick { 30 } else { 200 }), (32, if plan.quick { 96 } else { 640 })] {
        eprintln!("[{scope}] /v1/images/generations: {n} calls, {in_flight} in flight, direct and through Atelier");
        let direct = measure(&client(in_flight, EMULATOR_API_KEY)?, &direct_url, &direct_body, n, in_flight).await?;
        let through = measure(&client(in_flight, &server.key)?, &atelier_url, &atelier_body, n, in_flight).await?;
        for (label, q) in [("p50", 0.5), ("p99", 0.99)] {
            report.add(
                scope,
                format!("/v1/images/generations via Atelier, {in_flight} in flight: {label} added"),
                format!("{:.1}", through.p(q) - direct.p(q)),
                "ms",
                format!(
                    "{label} {:.1} ms through Atelier against {:.1} ms from the emulator directly ({n} calls, \
                     1024x1024 low, b64_json; {:.0} calls/s through Atelier, {:.0} direct)",
                    through.p(q),
                    direct.p(q),
                    n as f64 / through.elapsed.as_secs_f64(),
                    n as f64 / direct.elapsed.as_secs_f64(),
                ),
            );
        }
    }
    drop(server);
    drop(emulator);
    Ok(())
}
