//! The task store on SQLite (the default: one file under the data dir) and
//! PostgreSQL (scale-out: several processes share one queue).
//!
//! Both backends run the same SQL through sqlx's `Any` driver, with a few
//! statements per backend where they differ (claiming, notices). Integers are
//! `BIGINT`, times are Unix milliseconds, JSON is text: one row shape on both.
//!
//! **Architecture invariant:** nothing outside this crate writes SQL.

mod accounts;
mod assets;
pub mod backup;
mod batch;
mod connect;
pub mod depth;
mod error;
mod health;
mod inline;
mod listener;
mod locations;
mod migrations;
mod native;
mod params;
mod pipelines;
pub mod plans;
mod prompts;
mod queue;
mod rate_limits;
mod retention;
mod rows;
mod store;
mod tasks;
mod uploads;
mod usage;
mod webhooks;
mod workers;

pub use connect::{Backend, Database, DatabaseOptions, redact_url};
pub use listener::listen_for_changes;
pub use rate_limits::DatabaseRateLimits;
