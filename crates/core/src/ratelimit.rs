//! Request rate limits: for submits (seed 003, docs/providers/kie.md 1.1: Kie takes
//! at most 20 new tasks per 10 s per account and rejects the excess), and for each
//! user's API requests (`user_limits.<role>.requests_per_minute`). A strict sliding
//! window per scope: at most `requests` in any span of `window`. A task over the
//! limit waits in the queue, no attempt counted, instead of earning a 429.
//!
//! [`Window`] is the one decision, on times in milliseconds. [`RateLimiter`] keeps
//! the windows in this process (tests, and a process with no one to share with);
//! the database's [`RateLimits`](crate::ports::RateLimits) adapter keeps them in a
//! row per scope with the same decision, so that the limit holds across every
//! process sharing the database.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use crate::error::Result;
use crate::ports::RateLimits;
use crate::time::Millis;

/// At most `requests` per `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub requests: u32,
    pub window: Duration,
}

impl RateLimit {
    /// The most let through in one window: a limit of 0 still lets one through.
    pub fn most(self) -> usize {
        self.requests.max(1) as usize
    }

    fn window_ms(self) -> Millis {
        Millis::try_from(self.window.as_millis()).unwrap_or(Millis::MAX)
    }
}

/// The least wait answered: a caller does not spin on a slot about to free up.
const LEAST_WAIT: Duration = Duration::from_millis(10);

/// The times (milliseconds) of what one scope let through lately, oldest first.
///
/// Times are whole milliseconds, each possibly up to one below the instant it
/// stands for; so a time leaves the window only once *more* than the window has
/// passed in whole milliseconds, which errs on the side of the limit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Window {
    stamps: VecDeque<Millis>,
}

impl Window {
    /// A window holding `stamps`, in any order.
    pub fn from_stamps(stamps: impl IntoIterator<Item = Millis>) -> Self {
        let mut stamps: Vec<Millis> = stamps.into_iter().collect();
        stamps.sort_unstable();
        Self { stamps: stamps.into() }
    }

    /// The times held, oldest first.
    pub fn stamps(&self) -> impl ExactSizeIterator<Item = Millis> + '_ {
        self.stamps.iter().copied()
    }

    pub fn is_empty(&self) -> bool {
        self.stamps.is_empty()
    }

    /// Drops the times no longer in the window at `now`.
    pub fn prune(&mut self, now: Millis, limit: RateLimit) {
        let window = limit.window_ms();
        while self.stamps.front().is_some_and(|at| now.saturating_sub(*at) > window) {
            self.stamps.pop_front();
        }
    }

    /// Takes a slot at `now` (pruning first), or says how long until the oldest time
    /// leaves the window. Times from several clocks may arrive out of order: each
    /// goes in its place, so that the oldest stays first.
    pub fn take(&mut self, now: Millis, limit: RateLimit) -> Result<(), Duration> {
        self.prune(now, limit);
        if self.stamps.len() < limit.most() {
            let place = self.stamps.partition_point(|at| *at <= now);
            self.stamps.insert(place, now);
            return Ok(());
        }
        let oldest = self.stamps.front().copied().unwrap_or(now);
        let left = limit.window_ms().saturating_sub(now.saturating_sub(oldest)).saturating_add(1);
        Err(Duration::from_millis(u64::try_from(left).unwrap_or(0)).max(LEAST_WAIT))
    }
}

/// The windows in this process's memory. Its clock is monotonic (an [`Instant`]):
/// right within one process, unknown to any other.
#[derive(Debug)]
pub struct RateLimiter {
    started: Instant,
    windows: Mutex<HashMap<String, Window>>,
}

impl Default for RateLimiter {
    fn default() -> Self {
        Self { started: Instant::now(), windows: Mutex::default() }
    }
}

impl RateLimiter {
    /// Takes a slot for `scope` now, or says how long until one frees up.
    pub fn try_acquire(&self, scope: &str, limit: RateLimit) -> Result<(), Duration> {
        let now = Millis::try_from(self.started.elapsed().as_millis()).unwrap_or(Millis::MAX);
        let mut windows = self.windows.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match windows.get_mut(scope) {
            Some(window) => window.take(now, limit),
            None => {
                let mut window = Window::default();
                let taken = window.take(now, limit);
                windows.insert(scope.to_owned(), window);
                taken
            }
        }
    }
}

#[async_trait]
impl RateLimits for RateLimiter {
    async fn acquire(&self, scope: &str, limit: RateLimit) -> Result<Result<(), Duration>> {
        Ok(self.try_acquire(scope, limit))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: RateLimit = RateLimit { requests: 3, window: Duration::from_millis(1_000) };

    #[test]
    fn holds_the_excess_until_the_window_moves() {
        let limiter = RateLimiter::default();
        let limit = RateLimit { requests: 3, window: Duration::from_millis(50) };
        for _ in 0..3 {
            assert!(limiter.try_acquire("kie", limit).is_ok());
        }
        let wait = limiter.try_acquire("kie", limit).expect_err("over the limit");
        assert!(wait <= Duration::from_millis(51));
        assert!(limiter.try_acquire("openai", limit).is_ok(), "scopes are apart");
        std::thread::sleep(Duration::from_millis(60));
        assert!(limiter.try_acquire("kie", limit).is_ok());
    }

    #[test]
    fn no_span_of_a_window_holds_more_than_the_limit() {
        let mut window = Window::default();
        let mut taken = Vec::new();
        // Tries every 7 ms for 5 s: whatever was let through, any four consecutive
        // times (one more than the limit) span more than the window.
        for now in (0..5_000).step_by(7) {
            if window.take(now, LIMIT).is_ok() {
                taken.push(now);
            }
            assert!(window.stamps().len() <= 3);
        }
        assert!(taken.len() >= 15, "{taken:?}");
        for four in taken.windows(4) {
            assert!(four[3] - four[0] > 1_000, "{four:?}");
        }
    }

    #[test]
    fn the_wait_is_until_the_oldest_leaves() {
        let mut window = Window::default();
        for now in [100, 400, 700] {
            window.take(now, LIMIT).expect("room");
        }
        assert_eq!(window.take(800, LIMIT), Err(Duration::from_millis(301)));
        assert_eq!(window.take(1_100, LIMIT), Err(Duration::from_millis(10)), "at least the least wait");
        // Exactly one window after the oldest is not yet past it; one millisecond more is.
        assert_eq!(window.take(1_100, LIMIT).map_err(|_| ()), Err(()));
        assert_eq!(window.take(1_101, LIMIT), Ok(()));
        assert_eq!(window.stamps().collect::<Vec<_>>(), [400, 700, 1_101]);
    }

    #[test]
    fn times_out_of_order_keep_the_oldest_first() {
        let mut window = Window::from_stamps([500, 100]);
        window.take(300, LIMIT).expect("room");
        assert_eq!(window.stamps().collect::<Vec<_>>(), [100, 300, 500]);
        assert_eq!(window.take(900, LIMIT), Err(Duration::from_millis(201)));
        // A limit of 0 still lets one through.
        let mut one = Window::default();
        let zero = RateLimit { requests: 0, window: Duration::from_secs(1) };
        assert_eq!((one.take(0, zero), one.take(1, zero).is_err()), (Ok(()), true));
    }
}
