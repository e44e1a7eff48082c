//! Room in the queue. At most `max_queued` tasks wait overall, and at most
//! `max_queued_per_user` of one user's; past either, a create is refused with a
//! `Retry-After` sized from the rate the queue drains now (how long until that many
//! tasks have left it), not a constant.
//!
//! The counts are read from the store (every process sees the same queue), at most
//! every quarter second overall and every second per user, and each create this
//! process accepts is added meanwhile: a count per create would cost more than the
//! create. The drain rate is the change of the store's started counter between
//! those reads, over the last minute.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

use crate::error::{CoreError, Result};
use crate::ids::UserId;
use crate::ports::{OwnerCount, UsageCounts};

const OVERALL_TTL: Duration = Duration::from_millis(250);
const PER_USER_TTL: Duration = Duration::from_secs(1);
/// The drain rate is measured over this long.
const DRAIN_WINDOW: Duration = Duration::from_secs(60);
/// With nothing measured yet, a refused client is asked to wait this long.
const UNKNOWN_WAIT: Duration = Duration::from_secs(5);
/// A queue that is not draining at all (no worker, or all busy on long tasks).
const STALLED_WAIT: Duration = Duration::from_secs(60);
const LONGEST_WAIT: Duration = Duration::from_secs(3600);
/// Per-user counts kept; past this, the stale ones are dropped.
const USERS_KEPT: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Count {
    read_at: Instant,
    value: u64,
}

/// The queue's limits and what was last read of it.
pub(super) struct Admission {
    max_queued: u64,
    max_queued_per_user: u64,
    overall: Mutex<Option<Count>>,
    per_user: Mutex<HashMap<UserId, Count>>,
    drain: Mutex<DrainMeter>,
}

/// Which limit refused a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueScope {
    Overall,
    User,
}

impl QueueScope {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Overall => "overall",
            Self::User => "user",
        }
    }
}

impl Admission {
    pub(super) fn new(max_queued: u64, max_queued_per_user: u64) -> Self {
        Self {
            max_queued,
            max_queued_per_user,
            overall: Mutex::new(None),
            per_user: Mutex::new(HashMap::new()),
            drain: Mutex::new(DrainMeter::default()),
        }
    }

    /// Refuses a task when the queue, or the caller's part of it, is full.
    pub(super) async fn check(&self, store: &dyn UsageCounts, owner: &UserId) -> Result<()> {
        let queued = self.overall_count(store).await?;
        if queued >= self.max_queued {
            return Err(self.full(QueueScope::Overall, queued, self.max_queued).await);
        }
        if self.max_queued_per_user > 0 {
            let mine = self.user_count(store, owner).await?;
            if mine >= self.max_queued_per_user {
                return Err(self.full(QueueScope::User, mine, self.max_queued_per_user).await);
            }
        }
        Ok(())
    }

    /// Counts a task this process just queued.
    pub(super) async fn queued(&self, owner: Option<&UserId>) {
        if let Some(count) = self.overall.lock().await.as_mut() {
            count.value += 1;
        }
        if let Some(owner) = owner
            && let Some(mine) = self.per_user.lock().await.get_mut(owner)
        {
            mine.value += 1;
        }
    }

    /// Tasks waiting to run (the last count read, at most a quarter second old).
    async fn overall_count(&self, store: &dyn UsageCounts) -> Result<u64> {
        if let Some(count) = *self.overall.lock().await
            && count.read_at.elapsed() < OVERALL_TTL
        {
            return Ok(count.value);
        }
        self.read_overall(store).await
    }

    /// Tasks waiting to run now, read from the store (and a drain reading taken).
    pub(super) async fn read_overall(&self, store: &dyn UsageCounts) -> Result<u64> {
        let mut overall = self.overall.lock().await;
        let (queued, started) = (store.count_queued().await?, store.count_started().await?);
        let now = Instant::now();
        self.drain.lock().await.observe(now, started);
        *overall = Some(Count { read_at: now, value: queued });
        Ok(queued)
    }

    async fn user_count(&self, store: &dyn UsageCounts, owner: &UserId) -> Result<u64> {
        let mut users = self.per_user.lock().await;
        if let Some(count) = users.get(owner)
            && count.read_at.elapsed() < PER_USER_TTL
        {
            return Ok(count.value);
        }
        let value = store.count_owner_tasks(owner, OwnerCount::Queued).await?;
        if users.len() >= USERS_KEPT {
            users.retain(|_, count| count.read_at.elapsed() < PER_USER_TTL);
        }
        users.insert(owner.clone(), Count { read_at: Instant::now(), value });
        Ok(value)
    }

    async fn full(&self, scope: QueueScope, queued: u64, limit: u64) -> CoreError {
        let drain_per_second = self.drain.lock().await.rate();
        let excess = queued.saturating_sub(limit) + 1;
        CoreError::QueueFull { scope, queued, limit, drain_per_second, retry_after: wait_for(excess, drain_per_second) }
    }

    /// Tasks per second leaving the queue, as last measured.
    pub(super) async fn drain_rate(&self) -> Option<f64> {
        self.drain.lock().await.rate()
    }
}

/// How long until `excess` tasks have left a queue draining at `rate` per second.
fn wait_for(excess: u64, rate: Option<f64>) -> Duration {
    match rate {
        None => UNKNOWN_WAIT,
        Some(rate) if rate <= 0.0 => STALLED_WAIT,
        Some(rate) => {
            let seconds = (excess as f64 / rate).ceil().clamp(1.0, LONGEST_WAIT.as_secs_f64());
            Duration::from_secs_f64(seconds)
        }
    }
}

/// Readings of the started counter over the last minute.
#[derive(Debug, Default)]
struct DrainMeter {
    readings: VecDeque<(Instant, u64)>,
}

impl DrainMeter {
    fn observe(&mut self, at: Instant, started: u64) {
        self.readings.push_back((at, started));
        // Keep one reading older than the window, so that the rate spans all of it.
        while self.readings.len() > 2
            && self.readings.get(1).is_some_and(|(t, _)| at.duration_since(*t) >= DRAIN_WINDOW)
        {
            self.readings.pop_front();
        }
    }

    /// Tasks per second between the oldest reading kept and the newest; `None`
    /// until the readings span a second.
    fn rate(&self) -> Option<f64> {
        let (first, last) = (self.readings.front()?, self.readings.back()?);
        let span = last.0.duration_since(first.0);
        if span < Duration::from_secs(1) {
            return None;
        }
        Some(last.1.saturating_sub(first.1) as f64 / span.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_is_the_excess_over_the_drain_rate() {
        assert_eq!(wait_for(1, None), UNKNOWN_WAIT);
        assert_eq!(wait_for(10, Some(0.0)), STALLED_WAIT);
        assert_eq!(wait_for(1, Some(500.0)), Duration::from_secs(1), "at least a second");
        assert_eq!(wait_for(1_000, Some(100.0)), Duration::from_secs(10));
        assert_eq!(wait_for(1_001, Some(100.0)), Duration::from_secs(11), "rounded up");
        assert_eq!(wait_for(u64::MAX, Some(1.0)), LONGEST_WAIT);
    }

    #[test]
    fn the_drain_rate_spans_the_last_minute() {
        let start = Instant::now();
        let mut meter = DrainMeter::default();
        meter.observe(start, 0);
        assert_eq!(meter.rate(), None, "one reading");
        meter.observe(start + Duration::from_millis(500), 50);
        assert_eq!(meter.rate(), None, "half a second");
        meter.observe(start + Duration::from_secs(2), 200);
        assert_eq!(meter.rate(), Some(100.0));
        // Two minutes on, draining at 10 per second: the old readings fall out.
        for second in 3..=122 {
            meter.observe(start + Duration::from_secs(second), 200 + (second - 2) * 10);
        }
        let rate = meter.rate().expect("a rate");
        assert!((rate - 10.0).abs() < 0.5, "{rate}");
        assert!(meter.readings.len() <= 62, "{}", meter.readings.len());
    }
}
