//! Figure 4: server memory with many pending tasks and the workers off.

use std::time::Duration;

use anyhow::Result;
use serde_json::{Value, json};

use crate::backend::server_env;
use crate::load::{CREATE_CLIENTS, client, create_tasks, get_json};
use crate::plan::Plan;
use crate::report::{Report, describe_errors, mib, thousands};
use crate::server::{Backend, Server};

pub async fn run(plan: &Plan, backend: &Backend, report: &mut Report) -> Result<()> {
    let scope = backend.name();
    let n = plan.memory_tasks;
    eprintln!("[{scope}] memory: {} pending placeholder tasks, workers disabled", thousands(n));
    let server = Server::start(&plan.server, backend, &server_env(4, false)).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let idle = server.memory()?;
    report.add(
        scope,
        "server RSS after startup (workers disabled)",
        mib(idle.rss_kib),
        "MiB",
        format!("VmHWM {} MiB", mib(idle.hwm_kib)),
    );
    let created = create_tasks(&server, n, CREATE_CLIENTS, |i| {
        json!({"model": "local/placeholder", "input": {"prompt": "memory test", "width": 256, "height": 256, "seed": i}})
    })
    .await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let loaded = server.memory()?;
    let info = get_json(&client(1, &server.key)?, &format!("{}/api/v1/system/info", server.base)).await?;
    let queued = info.get("queued_tasks").and_then(Value::as_u64).unwrap_or(0);
    report.add(
        scope,
        format!("server RSS with {} pending tasks", thousands(n)),
        mib(loaded.rss_kib),
        "MiB",
        format!(
            "VmHWM {} MiB; queued_tasks={queued}; created in {:.2} s ({:.0} tasks/s); {}",
            mib(loaded.hwm_kib),
            created.elapsed.as_secs_f64(),
            created.ids.len() as f64 / created.elapsed.as_secs_f64(),
            describe_errors(&created.errors)
        ),
    );
    if !created.samples.is_empty() {
        report.remark(format!("{scope} memory run: create errors, e.g. {}", created.samples.join(" || ")));
    }
    server.stop(report, &format!("{scope} memory run"));
    Ok(())
}
