//! Figure 5: Kie.ai through `atelier emulate kie`.

use std::time::Instant;

use anyhow::Result;
use serde_json::json;

use crate::emulated;
use crate::emulator::{Emulated, FAST_POLL_MS, SLOW_POLL_MS, UrlSetting, api_key};
use crate::plan::Plan;
use crate::report::Report;

impl Emulated {
    /// Kie.ai without rate limits: tasks succeed at the first poll, or (`waiting`) never.
    fn kie(waiting: bool) -> Emulated {
        let steps: u32 = if waiting { 1_000_000 } else { 0 };
        Emulated {
            subcommand: "kie",
            banner: "Kie.ai emulator listening on http://",
            flags: ["--steps", &steps.to_string(), "--no-rate-limits", "--credits", "100000000"]
                .map(str::to_owned)
                .to_vec(),
            credentials: api_key(),
            section: "KIE",
            base_path: "",
            url_setting: UrlSetting::BaseUrl,
            first_poll_ms: if waiting { SLOW_POLL_MS } else { FAST_POLL_MS },
            extra_env: vec![("ATELIER__PROVIDERS__KIE__SUBMITS_PER_10S", "1000000".to_owned())],
            model: "kie/imagen-4",
            body: |i| json!({"model": "kie/imagen-4", "input": {"prompt": format!("bench {i}")}}),
            create_counter: "create_task",
            create_call: "createTask",
            other_counters: &["record_info"],
            setup: format!("steps {steps}"),
        }
    }
}

pub async fn run(plan: &Plan, report: &mut Report) -> Result<()> {
    let scope = "kie/sqlite";
    let section_started = Instant::now();
    if let Err(error) = emulated::throughput(plan, scope, &Emulated::kie(false), plan.kie_tasks, report).await {
        report.remark(format!("{scope}: throughput run failed: {error:#}"));
    }
    if let Err(error) = emulated::memory(plan, scope, &Emulated::kie(true), plan.kie_memory_tasks, report).await {
        report.remark(format!("{scope}: memory run failed: {error:#}"));
    }
    eprintln!("[{scope}] done in {:.0} s", section_started.elapsed().as_secs_f64());
    Ok(())
}
