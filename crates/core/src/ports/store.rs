//! The whole task-side store, for the callers that need every capability (the
//! task service, the server's wiring): one supertrait over the narrow ports, so that
//! the worker and tests can ask for just the part they use.

use async_trait::async_trait;

use super::{AssetIndex, TaskStore, UploadStore, WorkerStore};
use crate::error::Result;

#[async_trait]
pub trait Store: TaskStore + WorkerStore + AssetIndex + UploadStore {
    /// Checks the connection.
    async fn ping(&self) -> Result<()>;
    /// `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;
}
