//! Exponential backoff with jitter, as seed 001 writes it:
//! `delay = min(base * 2^n, max) + U(0, 0.1 * delay)`.

use std::time::Duration;

use rand::Rng;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Backoff {
    pub base: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    /// Seed 001's caps for phases 1 to 5: 1 s initial, 30 s at most.
    fn default() -> Self {
        Self { base: Duration::from_secs(1), max: Duration::from_secs(30) }
    }
}

impl Backoff {
    /// The delay before retry number `retry_count` (0 for the first retry), jitter included.
    pub fn delay(&self, retry_count: u32) -> Duration {
        let delay = self.delay_without_jitter(retry_count);
        let jitter_max = delay.as_secs_f64() * 0.1;
        let jitter = if jitter_max > 0.0 { rand::rng().random_range(0.0..jitter_max) } else { 0.0 };
        delay + Duration::from_secs_f64(jitter)
    }

    pub fn delay_without_jitter(&self, retry_count: u32) -> Duration {
        let factor = 2u32.saturating_pow(retry_count.min(31));
        self.base.saturating_mul(factor).min(self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_exponentially_then_caps() {
        let backoff = Backoff::default();
        assert_eq!(backoff.delay_without_jitter(0), Duration::from_secs(1));
        assert_eq!(backoff.delay_without_jitter(1), Duration::from_secs(2));
        assert_eq!(backoff.delay_without_jitter(4), Duration::from_secs(16));
        assert_eq!(backoff.delay_without_jitter(5), Duration::from_secs(30));
        assert_eq!(backoff.delay_without_jitter(40), Duration::from_secs(30));
    }

    #[test]
    fn jitter_stays_within_ten_percent() {
        let backoff = Backoff::default();
        for n in 0..8 {
            let base = backoff.delay_without_jitter(n);
            for _ in 0..50 {
                let delay = backoff.delay(n);
                assert!(delay >= base && delay <= base.mul_f64(1.1), "{delay:?} vs {base:?}");
            }
        }
    }
}
