//! Atelier's domain: tasks and their life cycle, the model catalog, the ports that
//! storage and engines implement, and the worker loop that drives tasks to an end.
//!
//! **Architecture invariant:** this crate knows no HTTP and no SQL. It depends on
//! tokio for time and channels only; adapters (`atelier-db`, `atelier-assets`,
//! `atelier-providers`) implement its ports and the server wires them together.

pub mod account;
pub mod backoff;
pub mod catalog;
pub mod circuit;
pub mod error;
pub mod events;
pub mod ids;
pub mod location;
pub mod meters;
pub mod pipeline;
pub mod ports;
pub mod prompt;
pub mod pull;
pub mod quota;
pub mod ratelimit;
pub mod retention;
pub mod secret;
pub mod storage;
pub mod task;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod text;
pub mod three_d;
pub mod time;
pub mod webhook;
pub mod worker;

pub use error::{CoreError, Result};
pub use ids::{ApiKeyId, AssetId, LocationId, PromptId, RunId, SessionId, TaskId, UploadId, UserId, VersionId};
pub use ids::{MessageId, WebhookId};
pub use secret::Secret;
