//! A run's faults: [`FaultRule`]s written `ENDPOINT:TRIGGER:FAULT`, gathered in
//! a [`FaultPlan`], and played by a [`PlanRunner`] that counts requests per rule
//! and draws probabilities from the run's seed, so a run repeats exactly.
//!
//! Rules are generic over the endpoints of one emulator ([`RuleEndpoint`]):
//! each emulator names its own and says which status codes its faults may use.

use std::str::FromStr;

use rand::SeedableRng;
use rand::rngs::StdRng;

use super::{Fault, Trigger};

/// The endpoints of one emulator, as fault rules name them: what every emulator's
/// plan needs from its own endpoint type.
pub trait RuleEndpoint: Copy + FromStr<Err = String> {
    /// Whether a rule naming `self` watches requests to `endpoint` (`any` watches all).
    fn covers(self, endpoint: Self) -> bool;
    /// Parses a fault with this emulator's status codes.
    fn parse_fault(s: &str) -> Result<Fault, String>;
    /// An example rule, for error messages.
    const EXAMPLE: &'static str;
}

/// One rule of a [`FaultPlan`]: on `endpoint`, when `trigger` fires, inject `fault`.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultRule<E> {
    /// The endpoint the rule watches (`any` for all).
    pub endpoint: E,
    /// When it fires.
    pub trigger: Trigger,
    /// What it injects.
    pub fault: Fault,
}

impl<E: RuleEndpoint> FromStr for FaultRule<E> {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_rule(s)
    }
}

/// Parses a rule `ENDPOINT:TRIGGER:FAULT` for any emulator's endpoints.
pub fn parse_rule<E: RuleEndpoint>(s: &str) -> Result<FaultRule<E>, String> {
    let mut parts = s.splitn(3, ':');
    let (Some(endpoint), Some(trigger), Some(fault)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(format!("a fault rule is ENDPOINT:TRIGGER:FAULT (e.g. {}), got `{s}`", E::EXAMPLE));
    };
    Ok(FaultRule { endpoint: endpoint.parse()?, trigger: trigger.parse()?, fault: E::parse_fault(fault)? })
}

/// The faults of a run: rules tried in order, the first that fires wins.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultPlan<E> {
    /// The rules, in order.
    pub rules: Vec<FaultRule<E>>,
}

impl<E> Default for FaultPlan<E> {
    fn default() -> Self {
        Self { rules: Vec::new() }
    }
}

impl<E: RuleEndpoint> FaultPlan<E> {
    /// A plan with no faults.
    pub fn none() -> Self {
        Self::default()
    }

    /// Adds a rule.
    pub fn with(mut self, rule: FaultRule<E>) -> Self {
        self.rules.push(rule);
        self
    }

    /// Parses a plan from rules separated by `|` or newlines.
    pub fn parse(s: &str) -> Result<Self, String> {
        let rules = s.split(['|', '\n']).map(str::trim).filter(|r| !r.is_empty()).map(parse_rule);
        Ok(FaultPlan { rules: rules.collect::<Result<_, _>>()? })
    }
}

impl<E: RuleEndpoint> FromStr for FaultPlan<E> {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        FaultPlan::parse(s)
    }
}

/// The random stream of a plan's `index`-th rule under `seed`.
fn rule_rng(seed: u64, index: usize) -> StdRng {
    StdRng::seed_from_u64(seed ^ (index as u64).wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

/// A plan in motion: per-rule request counters and seeded random streams.
pub(crate) struct PlanRunner<E> {
    rules: Vec<(FaultRule<E>, u64, StdRng)>,
}

impl<E: RuleEndpoint + PartialEq> PlanRunner<E> {
    pub(crate) fn new(plan: &FaultPlan<E>, seed: u64) -> Self {
        let rules = plan.rules.iter().enumerate().map(|(i, rule)| (rule.clone(), 0, rule_rng(seed, i))).collect();
        PlanRunner { rules }
    }

    /// The fault for the next request to `endpoint`, if a rule fires. Every
    /// matching rule counts the request, so triggers do not depend on order.
    pub(crate) fn next(&mut self, endpoint: E) -> Option<Fault> {
        let mut chosen = None;
        for (rule, seen, rng) in &mut self.rules {
            if !rule.endpoint.covers(endpoint) {
                continue;
            }
            *seen += 1;
            if rule.trigger.fires(*seen, rng) && chosen.is_none() {
                chosen = Some(rule.fault.clone());
            }
        }
        chosen
    }
}
