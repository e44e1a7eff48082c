//! Phases: plain types behind one trait, so that a pipeline is a list of them.
//!
//! A phase never calls a provider itself. It says which tasks it needs
//! ([`Step::Need`]), each under a step name; the driver creates them (once: a
//! task's idempotency key is its run, phase, basis version, try and step name) and
//! calls the phase again when they end, with their outcomes. When it has all it
//! needs the phase answers [`Step::Done`] with the new document. A phase is a
//! function of the run, the document it builds on and its tasks' outcomes: after a
//! restart the same call gives the same answer, and no finished task is redone.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::model::Run;
use crate::ids::{AssetId, TaskId};

/// A finished task's output, as a phase reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct StepOutput {
    pub task_id: TaskId,
    /// The primary output parsed as JSON (a text model asked for a schema).
    pub json: Option<Value>,
    /// The primary output as text, when it is text.
    pub text: Option<String>,
    /// Every output file (images), primary first.
    pub assets: Vec<StepAsset>,
    /// When an earlier image stood in for this step (the scene cache): how alike.
    pub reused: Option<Reused>,
}

/// An earlier task's image reused for a step, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reused {
    /// The cosine of the two scenes' features.
    pub score: f64,
    /// What measured it (`all-MiniLM-L6-v2`, or `lexical`).
    pub method: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepAsset {
    pub id: AssetId,
    pub mime: String,
    pub width: Option<u32>,
    pub height: Option<u32>,
}

/// Where one step's task is.
#[derive(Debug, Clone, PartialEq)]
pub enum StepOutcome {
    Waiting { progress: u8 },
    Done(StepOutput),
    Failed { code: String, message: String },
}

/// A task a phase asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct StepRequest {
    /// Unique within the phase's try (`text`, `sheet-c1`).
    pub name: String,
    /// `service/model`.
    pub model: String,
    pub input: Value,
    /// For an image: the shape and references, fitted to the model's own
    /// parameters (`width`/`height`, `aspect_ratio`, `size`, reference images)
    /// when the task is made.
    pub image: Option<ImageFit>,
    /// An image made before for a scene this alike may stand in for this one
    /// (the scene cache).
    pub reuse: Option<Reuse>,
    /// The document element the step makes (a panel's id): progress events name
    /// it with its image as soon as the step is done.
    pub element: Option<String>,
}

/// What the scene cache compares, for one image step.
#[derive(Debug, Clone, PartialEq)]
pub struct Reuse {
    /// The scene's features in words (setting, characters, emotion, camera, time
    /// of day, and the prompt).
    pub features: String,
    /// Images made under the same scope are not reused for one another: the run
    /// (a book of one picture again and again reads as a mistake; the benchmark
    /// saw 38 of 44 panels reused within one run when the scope was a page). The
    /// cache serves the same user's other runs: a story drawn again, a branch.
    pub scope: String,
}

impl StepRequest {
    pub fn new(name: impl Into<String>, model: impl Into<String>, input: Value) -> Self {
        Self { name: name.into(), model: model.into(), input, image: None, reuse: None, element: None }
    }
}

/// The shape of an image a phase wants, whatever the model calls it.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageFit {
    /// Width over height.
    pub aspect: f64,
    /// Reference images (asset ids) for models that take them (a character's sheet).
    pub references: Vec<String>,
    /// A seed, for models that take one (a panel drawn again with a new seed).
    pub seed: Option<i64>,
}

/// What a phase answers.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// These tasks (those not made yet are made); the phase is called again when
    /// they end.
    Need(Vec<StepRequest>),
    /// The phase is done: the whole new document.
    Done(Value),
}

/// A phase refusing what its tasks gave (an answer that does not fit): the phase is
/// tried again, as after a failed task.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct PhaseError {
    pub code: String,
    pub message: String,
}

impl PhaseError {
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self { code: code.into(), message: message.into() }
    }
}

/// What a phase reads.
pub struct PhaseContext<'a> {
    pub run: &'a Run,
    /// The document the phase builds on (the run's head; `{}` before the first).
    pub document: &'a Value,
    /// Its tasks' outcomes so far, by step name.
    pub outcomes: &'a BTreeMap<String, StepOutcome>,
}

impl PhaseContext<'_> {
    /// A finished step's output.
    pub fn done(&self, step: &str) -> Option<&StepOutput> {
        match self.outcomes.get(step) {
            Some(StepOutcome::Done(output)) => Some(output),
            _ => None,
        }
    }
}

/// Tries and delays of a phase (seed 001 5.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub max_tries: u32,
    pub base: Duration,
    pub max: Duration,
}

impl RetryPolicy {
    /// Phases 1 to 5 (and 7): three tries, 1 s to 30 s.
    pub const STANDARD: Self = Self { max_tries: 3, base: Duration::from_secs(1), max: Duration::from_secs(30) };
    /// Phase 6: three tries, 5 s to 60 s.
    pub const SLOW: Self = Self { max_tries: 3, base: Duration::from_secs(5), max: Duration::from_secs(60) };

    /// The delay before try `next_try` (1 for the first retry):
    /// `min(base·2^(n-1), max) + U(0, 0.1·delay)` (seed 001 5.2.1), `jitter` in [0, 1).
    pub fn delay(&self, next_try: u32, jitter: f64) -> Duration {
        let factor = 2u32.saturating_pow(next_try.saturating_sub(1));
        let delay = self.base.saturating_mul(factor).min(self.max);
        delay + delay.mul_f64(0.1 * jitter.clamp(0.0, 0.999))
    }
}

/// One phase of a pipeline.
pub trait Phase: Send + Sync {
    /// 1-based, in the pipeline's order.
    fn number(&self) -> u32;
    /// A stable name (`concept`).
    fn name(&self) -> &'static str;
    /// In words (`Concept and world`).
    fn title(&self) -> &'static str;
    /// The top-level keys of the document this phase writes (feedback on the
    /// phase may change only these, and what depends on them).
    fn parts(&self) -> &'static [&'static str];
    /// A JSON Schema of the document's parts this phase writes.
    fn schema(&self) -> Value;
    fn retry(&self) -> RetryPolicy {
        RetryPolicy::STANDARD
    }
    /// How many of its tasks may run at once (the rest are made as these end).
    fn max_parallel(&self, _run: &Run) -> usize {
        usize::MAX
    }
    /// Whether a try of the phase keeps the steps an earlier try finished (so a
    /// retry after one failed image does not pay for the others again). A phase
    /// whose retry must ask again (a text answer that did not fit) says no.
    fn keeps_finished_steps(&self) -> bool {
        false
    }
    fn step(&self, context: &PhaseContext<'_>) -> Result<Step, PhaseError>;
}

/// A named list of phases.
pub struct Pipeline {
    pub name: &'static str,
    pub phases: Vec<Box<dyn Phase>>,
}

impl Pipeline {
    pub fn phase(&self, number: u32) -> Option<&dyn Phase> {
        self.phases.iter().find(|phase| phase.number() == number).map(AsRef::as_ref)
    }

    pub fn last(&self) -> u32 {
        self.phases.iter().map(|phase| phase.number()).max().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_to_their_cap_with_a_tenth_of_jitter() {
        let standard = RetryPolicy::STANDARD;
        assert_eq!(standard.delay(1, 0.0), Duration::from_secs(1));
        assert_eq!(standard.delay(2, 0.0), Duration::from_secs(2));
        assert_eq!(standard.delay(6, 0.0), Duration::from_secs(30));
        assert_eq!(standard.delay(40, 0.0), Duration::from_secs(30));
        assert!(standard.delay(6, 0.99) <= Duration::from_secs(33));
        assert_eq!(RetryPolicy::SLOW.delay(1, 0.0), Duration::from_secs(5));
        assert_eq!(RetryPolicy::SLOW.delay(9, 0.0), Duration::from_secs(60));
    }
}
