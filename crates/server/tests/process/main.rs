//! End-to-end tests of the real `atelier` binary: servers and workers run as child
//! processes, are killed with real signals, and are observed over HTTP and through
//! the `local/instant` engine's execution log.
//!
//! Every child is SIGKILLed when its guard drops, so a failing test leaks nothing;
//! every wait is bounded and names what it waited for.

#![allow(clippy::unwrap_used)]

mod backup;
mod cli;
mod crash_recovery;
mod harness;
mod logs;
mod manga_cli;
mod metrics;
// Runs `atelier emulate kie|openai`, which the `emulators` feature brings.
#[cfg(feature = "emulators")]
mod lost_submit_crash;
// Runs `atelier emulate kie|volcengine|google`, which the `emulators` feature brings.
#[cfg(feature = "emulators")]
mod remote_crash;
// Runs `atelier emulate google`, which the `emulators` feature brings.
#[cfg(feature = "emulators")]
mod pipeline_crash;
// Runs `atelier emulate kie`, which the `emulators` feature brings.
#[cfg(feature = "emulators")]
mod scale_out;
mod shutdown;
mod slow_clients;
mod smoke;
mod traces;
mod two_workers;
mod webhook_crash;
