//! What the server says about itself: each service's health and limits (the
//! providers report), its parts' health, and the queue's depth. Handlers read these
//! here rather than reaching into the stores.

use std::time::Duration;

use serde_json::Value;

use super::TaskService;
use crate::circuit::CircuitView;
use crate::error::Result;
use crate::quota::{self, DailyQuota};
use crate::ratelimit::RateLimit;
use crate::time::now_millis;

/// One service as `GET /api/v1/providers` shows it.
#[derive(Debug, Clone)]
pub struct ServiceReport {
    pub service: String,
    /// Whether at least one of its models can be used.
    pub configured: bool,
    /// The config key to set when none of its models can be used.
    pub requires_config: Option<String>,
    /// `service/model` of every model it offers.
    pub models: Vec<String>,
    pub circuit: CircuitView,
    /// The configured limit of tasks open at the provider at once.
    pub max_in_flight: Option<u32>,
    /// Tasks open at the provider now (submitted, not ended), across all workers.
    pub in_flight: u64,
    /// New submits the provider takes per window, when it limits them.
    pub submit_rate_limit: Option<RateLimit>,
    /// Daily quotas on the service or its models, with today's use.
    pub quotas: Vec<QuotaUse>,
    /// The account as the provider reports it (credits), when asked for.
    pub account: Option<Value>,
    /// Why the account could not be read.
    pub account_error: Option<String>,
}

/// A daily quota and today's use of it.
#[derive(Debug, Clone)]
pub struct QuotaUse {
    pub quota: DailyQuota,
    pub used: u64,
    pub resets_in: Duration,
}

/// The queue as it stands.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QueueDepth {
    pub queued: u64,
    pub drain_per_second: Option<f64>,
}

/// How long a provider may take to say what its account holds.
const ACCOUNT_TIMEOUT: Duration = Duration::from_secs(10);

impl TaskService {
    /// Every service with its circuit, limits, tasks in flight (one grouped count)
    /// and quota use; with `with_account`, each configured provider is also asked for
    /// its account (one call each).
    pub async fn service_reports(&self, with_account: bool) -> Result<Vec<ServiceReport>> {
        let quota_use = self.quota_use().await?;
        let in_flight = self.store.in_flight_by_service().await?;
        let models = self.catalog.models();
        let mut reports: Vec<ServiceReport> = self
            .catalog
            .services()
            .map(|service| {
                let offered: Vec<_> = models.iter().filter(|m| m.service == service).collect();
                let configured = offered.iter().any(|m| m.is_usable());
                ServiceReport {
                    service: service.to_owned(),
                    configured,
                    requires_config: offered.iter().find_map(|m| m.requires_config.clone()).filter(|_| !configured),
                    models: offered.iter().map(|m| m.id()).collect(),
                    circuit: self.circuits.view(service),
                    max_in_flight: self.rules.max_in_flight.get(service).copied(),
                    in_flight: in_flight.get(service).copied().unwrap_or(0),
                    submit_rate_limit: self.catalog.provider(service).and_then(|p| p.submit_rate_limit()),
                    quotas: quota_use
                        .iter()
                        .filter(|usage| {
                            usage.quota.scope == service || usage.quota.scope.starts_with(&format!("{service}/"))
                        })
                        .cloned()
                        .collect(),
                    account: None,
                    account_error: None,
                }
            })
            .collect();
        if with_account {
            for report in reports.iter_mut().filter(|report| report.configured) {
                let Some(provider) = self.catalog.provider(&report.service) else { continue };
                match tokio::time::timeout(ACCOUNT_TIMEOUT, provider.account()).await {
                    Ok(Ok(account)) => report.account = account,
                    Ok(Err(error)) => report.account_error = Some(error.to_string()),
                    Err(_) => {
                        report.account_error =
                            Some(format!("the provider did not answer within {} s", ACCOUNT_TIMEOUT.as_secs()))
                    }
                }
            }
        }
        Ok(reports)
    }

    /// Today's use of each daily quota.
    pub async fn quota_use(&self) -> Result<Vec<QuotaUse>> {
        let now = now_millis();
        let since = quota::day_start(now);
        let resets_in = quota::until_next_day(now);
        let mut usage = Vec::with_capacity(self.rules.daily_quotas.len());
        for rule in &self.rules.daily_quotas {
            let (service, model) = match rule.scope.split_once('/') {
                Some((service, model)) => (service, Some(model)),
                None => (rule.scope.as_str(), None),
            };
            let used = self.store.count_created_since(service, model, since).await?;
            usage.push(QuotaUse { quota: rule.clone(), used, resets_in });
        }
        Ok(usage)
    }

    /// Tasks waiting to run now and the rate the queue drains at (tasks per second
    /// over the last minute, once measured).
    pub async fn queue_depth(&self) -> Result<QueueDepth> {
        let queued = self.admission.read_overall(self.store.as_ref()).await?;
        Ok(QueueDepth { queued, drain_per_second: self.admission.drain_rate().await })
    }

    /// The database backend (`sqlite`, `postgres`) and where files are kept.
    pub fn describe_storage(&self) -> (&'static str, String) {
        (self.store.backend(), self.assets.describe())
    }
}
