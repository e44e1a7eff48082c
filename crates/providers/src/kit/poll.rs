//! When to look again at a task a provider is working on (seed 003,
//! docs/requirements.md 3.5): every `first` (2 s) for the first three polls, then
//! 5 s, and 10 s at most once the task has run for two minutes. A provider that
//! says when to come back (OpenAI's `openai-poll-after-ms`) is believed instead.

use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollSchedule {
    pub first: Duration,
}

impl Default for PollSchedule {
    fn default() -> Self {
        Self { first: Duration::from_secs(2) }
    }
}

impl PollSchedule {
    pub fn new(first: Duration) -> Self {
        Self { first }
    }

    /// How long to wait before the next poll of a task that has run `running_for`.
    pub fn after(&self, running_for: Duration) -> Duration {
        let first = self.first;
        if running_for < first * 3 {
            first
        } else if running_for < Duration::from_secs(120) {
            (first * 5 / 2).min(Duration::from_secs(10))
        } else {
            (first * 5).min(Duration::from_secs(10))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polls_follow_seed_003() {
        let schedule = PollSchedule::default();
        assert_eq!(schedule.after(Duration::ZERO), Duration::from_secs(2));
        assert_eq!(schedule.after(Duration::from_secs(7)), Duration::from_secs(5));
        assert_eq!(schedule.after(Duration::from_secs(200)), Duration::from_secs(10));
        let fast = PollSchedule::new(Duration::from_millis(10));
        assert_eq!(fast.after(Duration::from_secs(200)), Duration::from_millis(50), "scaled, under the cap");
    }
}
