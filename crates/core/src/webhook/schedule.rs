//! When a failed delivery is tried again: Svix's schedule, about a day in all
//! (5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h: 27 h 35 min after the first try),
//! then the delivery fails and waits for a resend.

use std::time::Duration;

/// The pause after each failed attempt; past its end the delivery fails.
#[derive(Debug, Clone, PartialEq)]
pub struct RetrySchedule {
    pub delays: Vec<Duration>,
}

impl Default for RetrySchedule {
    fn default() -> Self {
        let secs = [5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600, 10 * 3600];
        Self { delays: secs.into_iter().map(Duration::from_secs).collect() }
    }
}

impl RetrySchedule {
    /// Every attempt: the first and one after each delay.
    pub fn max_attempts(&self) -> u32 {
        u32::try_from(self.delays.len()).unwrap_or(u32::MAX).saturating_add(1)
    }

    /// The pause after `attempts` failed attempts, or `None` when that was the last.
    pub fn after(&self, attempts: u32) -> Option<Duration> {
        let index = usize::try_from(attempts.checked_sub(1)?).ok()?;
        self.delays.get(index).copied()
    }

    /// From the first attempt to the last.
    pub fn span(&self) -> Duration {
        self.delays.iter().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_spans_about_a_day_then_gives_up() {
        let schedule = RetrySchedule::default();
        assert_eq!(schedule.max_attempts(), 8);
        assert_eq!(schedule.after(1), Some(Duration::from_secs(5)));
        assert_eq!(schedule.after(2), Some(Duration::from_secs(300)));
        assert_eq!(schedule.after(7), Some(Duration::from_secs(36_000)));
        assert_eq!(schedule.after(8), None, "the eighth failure is the last");
        assert_eq!(schedule.after(0), None);
        let hours = schedule.span().as_secs_f64() / 3600.0;
        assert!((24.0..30.0).contains(&hours), "{hours} h");
        let mut previous = Duration::ZERO;
        for delay in &schedule.delays {
            assert!(*delay >= previous, "delays grow");
            previous = *delay;
        }
    }
}
