//! Fault injection shared by every emulator: what can go wrong
//! ([`Fault`]), when it goes wrong ([`Trigger`], [`FaultRule`], [`FaultPlan`]),
//! the `X-Emulator-Fault` header that asks for one on a single request, and
//! the middleware that makes it go wrong.
//!
//! Nothing here knows a provider. Each emulator brings its endpoints (a
//! [`RuleEndpoint`]), the status codes its `status=` faults may name, and how
//! its answers look (`FaultHost`): `kie/faults.rs`, `openai/faults.rs`,
//! `volcengine/faults.rs`, `google/faults.rs`, `a1111/faults.rs`,
//! `sdcpp/faults.rs`, `comfyui/faults.rs`, `stability/faults.rs`.
//!
//! `fault.rs` holds the vocabulary and its parsing, `trigger.rs` the triggers,
//! `plan.rs` rules, plans and the seeded runner, `header.rs` the header,
//! `inject.rs` the middleware, what each fault does to a request, and the
//! `Injector` an emulator keeps (its plan in motion and its fault counters).

mod fault;
mod header;
mod inject;
mod plan;
mod trigger;

pub use fault::{Fault, SafetyStage, parse_fault_with_codes};
pub use header::FAULT_HEADER;
pub(crate) use inject::{Adapted, FaultHost, Injector, TaskFault, middleware};
pub(crate) use plan::PlanRunner;
pub use plan::{FaultPlan, FaultRule, RuleEndpoint, parse_rule};
pub use trigger::Trigger;
