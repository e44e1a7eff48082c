//! The whole task-side store, for the callers that need every capability (the
//! task service, the server's wiring): one supertrait over the narrow ports, so that
//! the worker and tests can ask for just the part they use.

use async_trait::async_trait;

use super::{AssetIndex, InputCopy, TaskStore, UploadStore, WorkerStore};
use crate::TaskId;
use crate::error::Result;
use crate::task::Task;

#[async_trait]
pub trait Store: TaskStore + WorkerStore + AssetIndex + UploadStore {
    /// Checks the connection.
    async fn ping(&self) -> Result<()>;
    /// `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;

    /// A task and its input copies (a status read): the two lookups, unless the
    /// backend does it in one (the database reads the copies only for a task that
    /// has some, and most have none).
    async fn get_task_with_copies(&self, id: TaskId) -> Result<Option<(Task, Vec<InputCopy>)>> {
        let Some(task) = self.get_task(id).await? else { return Ok(None) };
        let copies = self.input_copies(&[id]).await?.into_iter().map(|(_, copy)| copy).collect();
        Ok(Some((task, copies)))
    }
}
