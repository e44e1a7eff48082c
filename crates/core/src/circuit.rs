//! Circuit breakers, one per service: after `threshold` failures in a row that say
//! the provider itself is unwell (timeouts, refused connections, 5xx), the circuit
//! opens and no call is made for `cooldown`; then one probe call is let through
//! (half-open): its success closes the circuit, its failure opens it again.
//!
//! Each process keeps its own view; tasks held back by an open circuit wait in the
//! queue, no attempt counted.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::ports::ErrorClass;

#[derive(Debug, Clone, Copy)]
pub struct CircuitSettings {
    pub threshold: u32,
    pub cooldown: Duration,
}

impl Default for CircuitSettings {
    fn default() -> Self {
        Self { threshold: 5, cooldown: Duration::from_secs(30) }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen { probing: bool },
}

/// What a service's circuit looks like now, for `GET /api/v1/providers`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CircuitView {
    /// `closed`, `open` or `half_open`.
    pub state: &'static str,
    pub consecutive_failures: u32,
    /// Seconds until an open circuit lets a probe through.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_in_secs: Option<u64>,
}

/// Whether a class of error says the provider is unwell (rather than that our
/// request or the model's output was at fault).
pub fn counts_against_provider(class: ErrorClass) -> bool {
    matches!(class, ErrorClass::Timeout | ErrorClass::ConnectionRefused | ErrorClass::ServerError)
}

#[derive(Debug, Default)]
pub struct Circuits {
    settings: CircuitSettings,
    states: Mutex<HashMap<String, State>>,
}

impl Circuits {
    pub fn new(settings: CircuitSettings) -> Self {
        Self { settings, states: Mutex::new(HashMap::new()) }
    }

    fn with_state<T>(&self, service: &str, f: impl FnOnce(&mut State) -> T) -> T {
        let mut states = self.states.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let state = states.entry(service.to_owned()).or_insert(State::Closed { failures: 0 });
        f(state)
    }

    /// `Ok` when a call may be made now; otherwise how long to hold the task back.
    pub fn allow(&self, service: &str) -> Result<(), Duration> {
        let now = Instant::now();
        self.with_state(service, |state| match *state {
            State::Closed { .. } => Ok(()),
            State::Open { until } if now >= until => {
                *state = State::HalfOpen { probing: true };
                Ok(())
            }
            State::Open { until } => Err(until - now),
            State::HalfOpen { probing: false } => {
                *state = State::HalfOpen { probing: true };
                Ok(())
            }
            // One probe at a time.
            State::HalfOpen { probing: true } => Err(Duration::from_secs(1)),
        })
    }

    pub fn record_success(&self, service: &str) {
        self.with_state(service, |state| *state = State::Closed { failures: 0 });
    }

    pub fn record_failure(&self, service: &str, class: ErrorClass) {
        if !counts_against_provider(class) {
            // The provider answered sensibly: it is up.
            return self.record_success(service);
        }
        let open = State::Open { until: Instant::now() + self.settings.cooldown };
        let threshold = self.settings.threshold.max(1);
        self.with_state(service, |state| {
            *state = match *state {
                State::Closed { failures } if failures + 1 >= threshold => open,
                State::Closed { failures } => State::Closed { failures: failures + 1 },
                State::HalfOpen { .. } | State::Open { .. } => open,
            }
        });
    }

    pub fn view(&self, service: &str) -> CircuitView {
        let now = Instant::now();
        self.with_state(service, |state| match *state {
            State::Closed { failures } => {
                CircuitView { state: "closed", consecutive_failures: failures, retry_in_secs: None }
            }
            State::Open { until } => CircuitView {
                state: "open",
                consecutive_failures: self.settings.threshold,
                retry_in_secs: Some(until.saturating_duration_since(now).as_secs()),
            },
            State::HalfOpen { .. } => {
                CircuitView { state: "half_open", consecutive_failures: self.settings.threshold, retry_in_secs: None }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_the_threshold_then_probes_once() {
        let circuits = Circuits::new(CircuitSettings { threshold: 3, cooldown: Duration::from_millis(30) });
        for _ in 0..2 {
            circuits.record_failure("kie", ErrorClass::ServerError);
            assert!(circuits.allow("kie").is_ok());
        }
        circuits.record_failure("kie", ErrorClass::Timeout);
        assert!(circuits.allow("kie").is_err(), "open after three failures");
        assert_eq!(circuits.view("kie").state, "open");
        assert!(circuits.allow("openai").is_ok(), "services are apart");
        std::thread::sleep(Duration::from_millis(40));
        assert!(circuits.allow("kie").is_ok(), "a probe after the cooldown");
        assert!(circuits.allow("kie").is_err(), "only one probe at a time");
        circuits.record_failure("kie", ErrorClass::ServerError);
        assert_eq!(circuits.view("kie").state, "open", "a failed probe opens it again");
        std::thread::sleep(Duration::from_millis(40));
        assert!(circuits.allow("kie").is_ok());
        circuits.record_success("kie");
        assert_eq!(circuits.view("kie").state, "closed");
    }

    #[test]
    fn request_errors_do_not_count() {
        let circuits = Circuits::new(CircuitSettings { threshold: 1, cooldown: Duration::from_secs(60) });
        circuits.record_failure("kie", ErrorClass::ClientError);
        circuits.record_failure("kie", ErrorClass::InsufficientCredits);
        assert!(circuits.allow("kie").is_ok());
    }
}
