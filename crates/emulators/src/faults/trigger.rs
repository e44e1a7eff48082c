//! When a fault rule fires: [`Trigger`], counted over the requests to the
//! rule's endpoint.

use std::str::FromStr;

use rand::Rng;
use rand::rngs::StdRng;

/// When a rule fires, counted over the requests to the rule's endpoint.
#[derive(Debug, Clone, PartialEq)]
pub enum Trigger {
    /// Every request.
    Always,
    /// The Nth, 2Nth, 3Nth… request (N ≥ 1).
    EveryNth(u32),
    /// The first K requests.
    FirstK(u32),
    /// Each request with this probability, drawn from the run's seed.
    Probability(f64),
}

impl Trigger {
    /// Whether the trigger fires on the `seen`-th request (from 1).
    pub(crate) fn fires(&self, seen: u64, rng: &mut StdRng) -> bool {
        match *self {
            Trigger::Always => true,
            Trigger::EveryNth(n) => seen.is_multiple_of(u64::from(n)),
            Trigger::FirstK(k) => seen <= u64::from(k),
            Trigger::Probability(p) => rng.random::<f64>() < p,
        }
    }
}

/// Reads `always`, `every=<n>`, `first=<k>` or `p=<probability>`.
impl FromStr for Trigger {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim().to_ascii_lowercase();
        if s == "always" {
            return Ok(Trigger::Always);
        }
        let (name, value) = s.split_once('=').ok_or_else(|| format!("unknown trigger `{s}`"))?;
        match name.trim() {
            "every" => match value.trim().parse::<u32>() {
                Ok(n) if n >= 1 => Ok(Trigger::EveryNth(n)),
                _ => Err(format!("every=<n> needs a whole number ≥ 1, got `{value}`")),
            },
            "first" => value
                .trim()
                .parse::<u32>()
                .map(Trigger::FirstK)
                .map_err(|_| format!("first=<k> needs a whole number, got `{value}`")),
            "p" | "prob" | "probability" => match value.trim().parse::<f64>() {
                Ok(p) if (0.0..=1.0).contains(&p) => Ok(Trigger::Probability(p)),
                _ => Err(format!("p=<probability> needs a number in [0, 1], got `{value}`")),
            },
            other => Err(format!("unknown trigger `{other}` (known: always, every=<n>, first=<k>, p=<probability>)")),
        }
    }
}
