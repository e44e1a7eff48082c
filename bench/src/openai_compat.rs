//! Figure 6 (continued): what Atelier's OpenAI-compatible API adds.
//! `POST /v1/images/generations` (1024x1024, `b64_json`) through Atelier to the
//! OpenAI emulator, against the same call sent to the emulator directly, at 1 and 32
//! requests in flight: p50 and p99 of each, and their difference. Through Atelier a
//! call is a durable task: created, claimed by a worker, sent to the emulator, its
//! PNG stored (with a thumbnail), completed, then read back and encoded again.
//! The peers section measures LiteLLM's proxy the same way, beside these two
//! ([`Gateway`], [`measure_routes`]).

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use futures::StreamExt;
use serde_json::{Value, json};

use crate::emulator::{EMULATOR_API_KEY, Emulated, Emulator};
use crate::fixed_upstream::FixedUpstream;
use crate::load::client;
use crate::plan::Plan;
use crate::report::{Report, ms, quantile};
use crate::server::Server;

pub struct Run {
    latencies: Vec<Duration>,
    elapsed: Duration,
}

impl Run {
    /// Latency at quantile `q`, in ms.
    pub fn p(&self, q: f64) -> f64 {
        ms(quantile(&self.latencies, q).unwrap_or_default())
    }

    /// Calls a second over the whole run.
    pub fn rate(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64()
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

/// One way to the upstream's `images/generations`: the URL, the key and the body.
pub struct Route {
    pub label: String,
    pub url: String,
    pub key: String,
    pub body: Value,
}

/// The loads measured: (requests in flight, calls).
pub fn loads(quick: bool) -> [(usize, usize); 2] {
    [(1, if quick { 30 } else { 200 }), (32, if quick { 96 } else { 640 })]
}

/// `n` calls through each route in turn, `in_flight` at a time; the runs in the
/// routes' order.
pub async fn measure_routes(routes: &[Route], in_flight: usize, n: usize) -> Result<Vec<Run>> {
    let mut runs = Vec::with_capacity(routes.len());
    for route in routes {
        let run = measure(&client(in_flight, &route.key)?, &route.url, &route.body, n, in_flight)
            .await
            .with_context(|| format!("{}: {n} calls, {in_flight} in flight", route.label))?;
        runs.push(run);
    }
    Ok(runs)
}

/// What answers the images calls: the OpenAI emulator (a 1024² picture drawn per
/// call), or a fixed answer made once ([`FixedUpstream`], a 64×64 PNG).
pub enum Upstream {
    Emulator(Emulator),
    Fixed(FixedUpstream),
}

impl Upstream {
    /// How the figures name it.
    pub fn describe(&self) -> String {
        match self {
            Upstream::Emulator(emulator) => {
                format!("`atelier emulate openai` at {} (a 1024x1024 PNG drawn per call)", emulator.base)
            }
            Upstream::Fixed(fixed) => {
                let side = crate::fixed_upstream::SIDE;
                format!(
                    "a fixed-answer upstream in the bench at {} (one {side}x{side} PNG made before the first call)",
                    fixed.base
                )
            }
        }
    }
}

/// An upstream and an Atelier (SQLite) pointed at it.
pub struct Gateway {
    pub upstream: Upstream,
    /// The upstream's API root (`…/v1`), as Atelier's `providers.openai.base_url` has it.
    upstream_root: String,
    pub server: Server,
}

impl Gateway {
    /// The OpenAI emulator as the upstream.
    pub async fn start(plan: &Plan) -> Result<Gateway> {
        let provider = Emulated::openai_images();
        let (emulator, server) = provider.start(&plan.server).await?;
        let upstream_root = format!("{}{}", emulator.base, provider.base_path);
        Ok(Gateway { upstream: Upstream::Emulator(emulator), upstream_root, server })
    }

    /// The fixed-answer upstream.
    pub async fn start_fixed(plan: &Plan) -> Result<Gateway> {
        let fixed = FixedUpstream::start().await?;
        // `base_url` is the API root; the emulator's `base_path` adds `/v1` to its address.
        let address = fixed.base.trim_end_matches("/v1").to_owned();
        let server = Emulated::openai_images().start_server_at(&plan.server, &address).await?;
        let upstream_root = fixed.base.clone();
        Ok(Gateway { upstream: Upstream::Fixed(fixed), upstream_root, server })
    }

    /// The upstream's API root.
    pub fn upstream(&self) -> String {
        self.upstream_root.clone()
    }

    /// The emulator called directly (the model as OpenAI names it).
    pub fn direct(&self) -> Route {
        Route {
            label: "direct".to_owned(),
            url: format!("{}/images/generations", self.upstream()),
            key: EMULATOR_API_KEY.to_owned(),
            body: json!({"model": "gpt-image-1", "prompt": "bench", "size": "1024x1024", "quality": "low"}),
        }
    }

    /// Through Atelier (the model as Atelier names it).
    pub fn atelier(&self) -> Route {
        Route {
            label: "Atelier".to_owned(),
            url: format!("{}/v1/images/generations", self.server.base),
            key: self.server.key.clone(),
            body: json!({"model": "openai/gpt-image-1", "prompt": "bench", "size": "1024x1024", "quality": "low"}),
        }
    }
}

pub async fn added_latency(plan: &Plan, scope: &str, report: &mut Report) -> Result<()> {
    let gateway = Gateway::start(plan).await?;
    let routes = [gateway.direct(), gateway.atelier()];
    for (in_flight, n) in loads(plan.quick) {
        eprintln!("[{scope}] /v1/images/generations: {n} calls, {in_flight} in flight, direct and through Atelier");
        let runs = measure_routes(&routes, in_flight, n).await?;
        let (direct, through) = (&runs[0], &runs[1]);
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
                    through.rate(),
                    direct.rate(),
                ),
            );
        }
    }
    Ok(())
}
