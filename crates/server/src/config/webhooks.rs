//! `[webhooks]`: sending users' webhooks (the URLs go through `[fetch]`'s SSRF
//! policy and its `allow` list).

use std::time::Duration;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhooksConfig {
    /// Whether this process sends deliveries (and writes them from task events).
    pub enabled: bool,
    /// Deliveries sent at once.
    pub concurrency: u32,
    /// The longest a receiver has to answer.
    pub timeout_secs: u64,
    /// The pauses after each failed attempt, in seconds; past the last the
    /// delivery fails (Svix's schedule: about a day).
    pub retry_secs: Vec<u64>,
    /// How often ended tasks are swept for deliveries a crash lost.
    pub sweep_secs: u64,
    /// The longest an idle dispatcher waits before looking for due deliveries.
    pub poll_ms: u64,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            concurrency: 16,
            timeout_secs: 15,
            retry_secs: vec![5, 300, 1800, 7200, 18_000, 36_000, 36_000],
            sweep_secs: 60,
            poll_ms: 1000,
        }
    }
}

impl WebhooksConfig {
    pub fn dispatch_settings(&self) -> atelier_core::webhook::DispatchSettings {
        let timeout = Duration::from_secs(self.timeout_secs.max(1));
        atelier_core::webhook::DispatchSettings {
            concurrency: self.concurrency.max(1),
            // A claim outlives its send (and a slow record) with room to spare.
            lease: timeout * 2 + Duration::from_secs(10),
            idle_poll: Duration::from_millis(self.poll_ms.max(10)),
            schedule: atelier_core::webhook::RetrySchedule {
                delays: self.retry_secs.iter().copied().map(Duration::from_secs).collect(),
            },
        }
    }
}
