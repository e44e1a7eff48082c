//! Request rate limits per service, for submits (seed 003, docs/providers/kie.md 1.1: Kie
//! takes at most 20 new tasks per 10 s per account and rejects the excess). A
//! sliding window per service; a task over the limit waits in the queue, no
//! attempt counted, instead of earning a 429.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// At most `requests` per `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub requests: u32,
    pub window: Duration,
}

#[derive(Debug, Default)]
pub struct RateLimiter {
    windows: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl RateLimiter {
    /// Takes a slot for `service` now, or says how long until one frees up.
    pub fn acquire(&self, service: &str, limit: RateLimit) -> Result<(), Duration> {
        let now = Instant::now();
        let mut windows = self.windows.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let sent = windows.entry(service.to_owned()).or_default();
        while sent.front().is_some_and(|at| now.duration_since(*at) >= limit.window) {
            sent.pop_front();
        }
        if sent.len() < limit.requests.max(1) as usize {
            sent.push_back(now);
            return Ok(());
        }
        let oldest = sent.front().copied().unwrap_or(now);
        Err(limit.window.saturating_sub(now.duration_since(oldest)).max(Duration::from_millis(10)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_the_excess_until_the_window_moves() {
        let limiter = RateLimiter::default();
        let limit = RateLimit { requests: 3, window: Duration::from_millis(50) };
        for _ in 0..3 {
            assert!(limiter.acquire("kie", limit).is_ok());
        }
        let wait = limiter.acquire("kie", limit).expect_err("over the limit");
        assert!(wait <= Duration::from_millis(50));
        assert!(limiter.acquire("openai", limit).is_ok(), "services are apart");
        std::thread::sleep(Duration::from_millis(60));
        assert!(limiter.acquire("kie", limit).is_ok());
    }
}
