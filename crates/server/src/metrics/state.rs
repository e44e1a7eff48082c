//! How things stand, read at scrape time by the reads `GET /api/v1/system/info`
//! and `GET /api/v1/providers` make: the queue (two counts through `tasks_status`
//! and the queue's clock row), tasks open at each provider (one grouped count over
//! the partial index `tasks_in_flight`), today's use of each daily quota (one count
//! each over `tasks_service_created`), and what the process holds in memory
//! (circuits, limits, the workers). No statement of its own; each is in the
//! query-plan test (`crates/db/tests/plans.rs`). The queue and quota counts are
//! bounded by the tasks waiting and by a day's tasks of one service.
//!
//! The database's numbers are the same from every process of a deployment: read
//! them with `max`, not `sum`.

use super::exposition::Exposition;
use crate::app::AppState;

pub async fn write(state: &AppState, out: &mut Exposition<'_>) {
    let config = &state.config;
    out.family("atelier_build_info", "gauge", "The running version (always 1).");
    out.sample("atelier_build_info", &[("version", env!("CARGO_PKG_VERSION"))], 1.0);
    let depth = state.tasks.queue_depth().await;
    let reports = state.tasks.service_reports(false).await;
    let answered = depth.is_ok() && reports.is_ok();
    if let Err(error) = depth.as_ref().and(reports.as_ref()) {
        tracing::warn!(%error, "metrics: the database did not answer the scrape's counts");
    }
    out.single(
        "atelier_database_up",
        "gauge",
        "Whether the database answered this scrape's counts (1) or not (0).",
        f64::from(u8::from(answered)),
    );
    out.single(
        "atelier_storage_waiting",
        "gauge",
        "Whether this process's workers wait for storage (a write failed and no probe write has held since).",
        f64::from(u8::from(state.storage.is_down())),
    );
    out.single(
        "atelier_queue_limit",
        "gauge",
        "Tasks allowed to wait at once (queue.max_queued).",
        config.queue.max_queued as f64,
    );
    if config.worker.enabled {
        out.single(
            "atelier_worker_concurrency",
            "gauge",
            "Tasks this process's workers may run at once (worker.concurrency).",
            config.worker.concurrency as f64,
        );
    }
    if let Ok(depth) = depth {
        out.single("atelier_queue_length", "gauge", "Tasks waiting to run (pending or retrying).", depth.queued as f64);
        if let Some(rate) = depth.drain_per_second {
            out.single(
                "atelier_queue_drain_per_second",
                "gauge",
                "Tasks leaving the queue to run per second, over the last minute.",
                rate,
            );
        }
    }
    let Ok(reports) = reports else { return };
    out.family(
        "atelier_tasks_in_flight",
        "gauge",
        "Tasks open at each service's provider (submitted, not ended), across all workers.",
    );
    for report in &reports {
        out.sample("atelier_tasks_in_flight", &[("service", &report.service)], report.in_flight as f64);
    }
    let limits: Vec<_> =
        reports.iter().filter_map(|report| Some((report.service.as_str(), report.max_in_flight?))).collect();
    if !limits.is_empty() {
        out.family(
            "atelier_tasks_in_flight_limit",
            "gauge",
            "The most tasks open at a service's provider at once (providers.limits.<service>.max_in_flight).",
        );
    }
    for (service, limit) in limits {
        out.sample("atelier_tasks_in_flight_limit", &[("service", service)], f64::from(limit));
    }
    out.family(
        "atelier_circuit_state",
        "gauge",
        "Each service's circuit breaker as this process sees it: 1 for its state (closed, open, half_open), 0 for the others.",
    );
    for report in &reports {
        for circuit in ["closed", "open", "half_open"] {
            let value = f64::from(u8::from(report.circuit.state == circuit));
            out.sample("atelier_circuit_state", &[("service", &report.service), ("state", circuit)], value);
        }
    }
    out.family(
        "atelier_circuit_consecutive_failures",
        "gauge",
        "Failures in a row that count against each service (the circuit opens at providers.circuit_failures).",
    );
    for report in &reports {
        let failures = f64::from(report.circuit.consecutive_failures);
        out.sample("atelier_circuit_consecutive_failures", &[("service", &report.service)], failures);
    }
    let quotas: Vec<_> = reports.iter().flat_map(|report| &report.quotas).collect();
    if quotas.is_empty() {
        return;
    }
    out.family("atelier_quota_used", "gauge", "Tasks created today (UTC) against each daily quota, by scope.");
    for usage in &quotas {
        out.sample("atelier_quota_used", &[("scope", &usage.quota.scope)], usage.used as f64);
    }
    out.family("atelier_quota_limit", "gauge", "Each daily quota's limit, by scope (service or service/model).");
    for usage in &quotas {
        out.sample("atelier_quota_limit", &[("scope", &usage.quota.scope)], usage.quota.limit as f64);
    }
}
