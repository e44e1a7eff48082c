//! Daily quotas per service or per model (seed 001's counters: so many calls a
//! day to each API, reset at midnight). A spent quota answers 429 with the time
//! until it renews; the count is the tasks created today (UTC), read from the store
//! so that every server process sharing a database sees the same count.

use std::time::Duration;

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
