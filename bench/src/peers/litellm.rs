//! LiteLLM's proxy (PyPI `litellm[proxy]`, one worker, `LITELLM_LOCAL_MODEL_COST_MAP=True`)
//! in front of the same OpenAI emulator Atelier calls: what each gateway adds to a
//! synchronous `POST /v1/images/generations` over calling the emulator directly, at
//! 1 and 32 in flight, through `openai_compat`'s routes and measure loop.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result};

use super::{PeerProcess, Row, SCOPE, Summary, free_port};
use crate::emulator::EMULATOR_API_KEY;
use crate::openai_compat::{Gateway, Route, Upstream, loads, measure_routes};
use crate::plan::Plan;
use crate::report::{Report, mib};

/// The venv's `litellm` executable.
pub const LITELLM_ENV: &str = "ATELIER_BENCH_LITELLM";
/// The model name LiteLLM's config gives the emulator's `gpt-image-1`.
const MODEL: &str = "gpt-image-1";
/// The report's scope of these figures.
const GATEWAY: &str = "peers: gateway";
/// The proxy's key (its `master_key`: each call is checked against it, as Atelier checks its keys).
const MASTER_KEY: &str = "sk-bench";

/// LiteLLM's config: one model routed to the emulator's API root, with its key.
fn config(upstream: &str) -> String {
    format!(
        "model_list:\n  - model_name: {MODEL}\n    litellm_params:\n      model: openai/gpt-image-1\n      \
         api_base: {upstream}\n      api_key: {EMULATOR_API_KEY}\ngeneral_settings:\n  master_key: {MASTER_KEY}\n\
         litellm_settings:\n  telemetry: false\n"
    )
}

/// Both upstreams in turn: the fixed answer (what the gateways add, the issue's
/// aim), then the OpenAI emulator (a 1024² picture per call: what Atelier's storing
/// of it costs besides).
pub async fn run(plan: &Plan, litellm: &Path, report: &mut Report, summary: &mut Summary) -> Result<()> {
    run_on(plan, Gateway::start_fixed(plan).await?, "fixed answer", litellm, report, summary).await?;
    run_on(plan, Gateway::start(plan).await?, "emulator", litellm, report, summary).await
}

async fn run_on(
    plan: &Plan,
    gateway: Gateway,
    upstream_name: &str,
    litellm: &Path,
    report: &mut Report,
    summary: &mut Summary,
) -> Result<()> {
    let fixed = matches!(gateway.upstream, Upstream::Fixed(_));
    report.remark(format!("{GATEWAY} ({upstream_name}): the upstream is {}", gateway.upstream.describe()));
    let dir = tempfile::Builder::new().prefix("atelier-bench-litellm-").tempdir().context("a temp dir")?;
    let config_path = dir.path().join("config.yaml");
    std::fs::write(&config_path, config(&gateway.upstream())).context("writing LiteLLM's config")?;
    let port = free_port()?;
    let mut command = Command::new(litellm);
    command
        .arg("--config")
        .arg(&config_path)
        .args(["--host", "127.0.0.1", "--port", &port.to_string(), "--num_workers", "1"])
        .env("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        .current_dir(dir.path());
    let proxy = PeerProcess::start("LiteLLM proxy", command, port, "/health/liveliness").await?;
    let routes = [
        gateway.direct(),
        gateway.atelier(),
        Route {
            label: "LiteLLM".to_owned(),
            url: format!("{}/v1/images/generations", proxy.base),
            key: MASTER_KEY.to_owned(),
            body: serde_json::json!({"model": MODEL, "prompt": "bench", "size": "1024x1024", "quality": "low"}),
        },
    ];
    for (in_flight, n) in loads(plan.quick) {
        eprintln!(
            "[{SCOPE}] /v1/images/generations ({upstream_name}): {n} calls, {in_flight} in flight: direct, Atelier, LiteLLM"
        );
        let runs = measure_routes(&routes, in_flight, n).await?;
        let (direct, atelier, litellm) = (&runs[0], &runs[1], &runs[2]);
        for (route, run) in routes.iter().zip(&runs) {
            report.add(
                GATEWAY,
                format!("/v1/images/generations ({upstream_name}) {}, {in_flight} in flight: p50 / p99", route.label),
                format!("{:.2} / {:.2}", run.p(0.5), run.p(0.99)),
                "ms",
                format!("{n} calls, asking 1024x1024 low as b64_json; {:.0} calls/s", run.rate()),
            );
        }
        for (label, q) in [("p50", 0.5), ("p99", 0.99)] {
            let added_atelier = atelier.p(q) - direct.p(q);
            let added_litellm = litellm.p(q) - direct.p(q);
            for (name, added) in [("Atelier", added_atelier), ("LiteLLM", added_litellm)] {
                report.add(
                    GATEWAY,
                    format!("  {name} adds ({upstream_name}), {in_flight} in flight, {label}"),
                    format!("{added:.2}"),
                    "ms",
                    "over the upstream called directly",
                );
            }
            // The aim is the fixed answer's: with the emulator, Atelier also stores a
            // 1024² picture (vetted, hashed, its thumbnail made) and LiteLLM does not.
            let aimed = q > 0.5 && fixed;
            summary.rows.push(Row {
                figure: format!("gateway added {label}, {in_flight} in flight ({upstream_name})"),
                atelier: added_atelier,
                peer: added_litellm,
                unit: "ms",
                aim: if aimed { "Atelier <= 1 ms and <= 0.1x LiteLLM" } else { "-" },
                met: aimed.then_some(added_atelier <= 1.0 && added_atelier <= 0.1 * added_litellm),
            });
        }
    }
    let atelier_rss = gateway.server.memory()?.rss_kib;
    let litellm_rss = proxy.rss_kib()?;
    report.add(
        GATEWAY,
        format!("Atelier RSS after the image calls ({upstream_name})"),
        mib(atelier_rss),
        "MiB",
        "SQLite, durable tasks",
    );
    report.add(
        GATEWAY,
        format!("LiteLLM proxy RSS after the image calls ({upstream_name})"),
        mib(litellm_rss),
        "MiB",
        "litellm --num_workers 1 (its process and any children)",
    );
    summary.rows.push(Row {
        figure: format!("gateway RSS after the image calls ({upstream_name})"),
        atelier: atelier_rss as f64 / 1024.0,
        peer: litellm_rss as f64 / 1024.0,
        unit: "MiB",
        aim: "-",
        met: None,
    });
    proxy.stop(report);
    gateway.server.stop(report, GATEWAY);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_routes_one_model_to_the_upstream_with_its_key() {
        let config = config("http://127.0.0.1:9/v1");
        let lines: Vec<&str> = config.lines().collect();
        assert!(lines.contains(&"  - model_name: gpt-image-1"), "{config}");
        assert!(lines.contains(&"      api_base: http://127.0.0.1:9/v1"), "{config}");
        assert!(lines.contains(&format!("      api_key: {EMULATOR_API_KEY}").as_str()), "{config}");
        assert!(lines.contains(&"  master_key: sk-bench"), "{config}");
    }
}
