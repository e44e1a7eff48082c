//! Daily quotas per service or per model (seed 001's counters: so many calls a
//! day to each API, reset at midnight). A spent quota answers 429 with the time
//! until it renews; the count is the tasks created today (UTC), read from the store
//! so that every server process sharing a database sees the same count.

use std::time::Duration;

use crate::error::CoreError;
use crate::ids::UserId;
use crate::ports::OwnerCount;
use crate::time::Millis;

const DAY_MS: Millis = 24 * 3600 * 1000;

/// At most `limit` tasks a day for `scope`: a service (`kie`) or one of its models
/// (`kie/veo3`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DailyQuota {
    pub scope: String,
    pub limit: u64,
}

impl DailyQuota {
    /// Whether this quota counts tasks of `service`/`model`, and which model it
    /// narrows to (`None`: the whole service).
    pub fn applies_to<'a>(&'a self, service: &str, model: &str) -> Option<Option<&'a str>> {
        match self.scope.split_once('/') {
            Some((s, m)) if s == service && m == model => Some(Some(m)),
            None if self.scope == service => Some(None),
            _ => None,
        }
    }
}

/// The start of the UTC day holding `now`.
pub fn day_start(now: Millis) -> Millis {
    now - now.rem_euclid(DAY_MS)
}

/// How long until the UTC day holding `now` ends.
pub fn until_next_day(now: Millis) -> Duration {
    let left = day_start(now) + DAY_MS - now;
    Duration::from_millis(u64::try_from(left).unwrap_or(0))
}

/// What a create's limit counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LimitCount {
    /// Tasks of `service` (or only its `model`) created since `since`: a daily quota.
    Created { service: String, model: Option<String>, since: Millis },
    /// The new task's owner's tasks (a user's daily tasks, or those waiting or running).
    Owner(OwnerCount),
}

/// A limit a new task must keep: at most `limit` tasks counted by `count`, the new
/// one included. The store counts it in the insert's own write, serialized with
/// every other create that counts the same thing, in this process or another sharing
/// the database: two creates at once cannot both take the last place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateLimit {
    pub count: LimitCount,
    pub limit: u64,
    /// Named in the refusal: the quota's scope (`kie`, `kie/veo3`) or the user.
    pub scope: String,
    /// When to try again, in the refusal.
    pub retry_after: Duration,
}

impl CreateLimit {
    /// The refusal when `used` tasks are counted already: 429 either way, a quota's
    /// or too many tasks at once.
    pub fn refusal(&self, used: u64) -> CoreError {
        match self.count {
            LimitCount::Owner(OwnerCount::Active) => CoreError::Overloaded {
                message: format!(
                    "too many concurrent tasks: {used} of yours are waiting or running (at most {})",
                    self.limit
                ),
                retry_after: self.retry_after,
            },
            _ => {
                CoreError::QuotaExceeded { scope: self.scope.clone(), limit: self.limit, retry_after: self.retry_after }
            }
        }
    }

    /// What creates that count the same rows serialize on (a lock's name): the
    /// service's or model's quota, or the owner's tasks.
    pub fn lock_key(&self, owner: Option<&UserId>) -> String {
        match &self.count {
            LimitCount::Created { service, model: Some(model), .. } => format!("quota:{service}/{model}"),
            LimitCount::Created { service, model: None, .. } => format!("quota:{service}"),
            LimitCount::Owner(_) => format!("owner:{}", owner.map(ToString::to_string).unwrap_or_default()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_utc_days() {
        // 2026-11-22T10:00:00Z
        let now = 1_795_341_600_000;
        assert_eq!(day_start(now), 1_795_305_600_000);
        assert_eq!(until_next_day(now), Duration::from_secs(14 * 3600));
    }

    #[test]
    fn scopes_match_a_service_or_one_model() {
        let service = DailyQuota { scope: "kie".into(), limit: 1 };
        let model = DailyQuota { scope: "kie/veo3".into(), limit: 1 };
        assert_eq!(service.applies_to("kie", "veo3"), Some(None));
        assert_eq!(model.applies_to("kie", "veo3"), Some(Some("veo3")));
        assert_eq!(model.applies_to("kie", "imagen4"), None);
        assert_eq!(service.applies_to("openai", "veo3"), None);
    }
}
