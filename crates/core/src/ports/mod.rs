//! The ports: traits that adapters implement. Object safe, used as `Arc<dyn …>`.

pub mod accounts;
pub mod assets;
pub mod inputs;
pub mod prompts;
pub mod provider;
pub mod store;

pub use accounts::AccountStore;
pub use assets::{AssetStore, BlobRead};
pub use inputs::{InputFile, InputFiles, InputRef, NoInputFiles, ProviderUpload};
pub use prompts::PromptStore;
pub use provider::{ErrorClass, Job, Output, Polled, Provider, ProviderError, Submitted};
pub use store::{Claimed, Created, LeaseToken, ReclaimReport, TaskStore};
