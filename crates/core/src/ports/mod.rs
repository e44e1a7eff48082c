//! The ports: traits that adapters implement. Object safe, used as `Arc<dyn …>`.
//!
//! The task-side store is cut by capability ([`TaskStore`], [`QueueStore`],
//! [`AssetIndex`], [`UploadStore`], [`UsageCounts`]) and joined by [`Store`] for the
//! callers that need all of them. Beside it, [`LocationStore`] keeps users' places.

pub mod accounts;
pub mod asset_index;
pub mod assets;
pub mod embed;
pub mod inputs;
pub mod locations;
pub mod pipelines;
pub mod prompts;
pub mod provider;
pub mod queue;
pub mod rate_limits;
pub mod retention;
pub mod store;
pub mod tasks;
pub mod uploads;
pub mod usage;
pub mod webhooks;
pub mod workers;

pub use accounts::AccountStore;
pub use asset_index::AssetIndex;
pub use assets::{AssetStore, BlobRead};
pub use embed::{EmbedError, Embedder};
pub use inputs::{
    CopyState, InputCopy, InputFile, InputFiles, InputRef, NoInputFiles, ProviderUpload, TASK_REFERENCE,
    short_reference,
};
pub use locations::LocationStore;
pub use pipelines::PipelineStore;
pub use prompts::PromptStore;
pub use provider::{
    ByteStream, Callback, CallbackError, CallbackTask, ErrorClass, Job, LostSubmit, Output, OutputData, OutputRole,
    Polled, Provider, ProviderError, Submitted,
};
pub use queue::{Claimed, LeaseToken, QueueStore, ReclaimReport, WaitingReport, WorkerStore};
pub use rate_limits::RateLimits;
pub use retention::{EndedCandidate, RetentionStore};
pub use store::Store;
pub use tasks::{Created, TaskStore};
pub use uploads::UploadStore;
pub use usage::{OwnerCount, UsageCounts};
pub use webhooks::{EndedTask, WebhookSender, WebhookStore};
pub use workers::WorkerKeyStore;
