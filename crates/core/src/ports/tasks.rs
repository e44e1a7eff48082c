//! The task records: what clients create, read, list, cancel and delete. The
//! worker's side of the same rows is [`super::QueueStore`].

use async_trait::async_trait;

use crate::error::Result;
use crate::ids::TaskId;
use crate::task::{Asset, NewTask, Task, TaskFilter, TaskPage};
use crate::time::Millis;

/// Whether a create made a new task or found the one an idempotency key names.
#[derive(Debug, Clone)]
pub enum Created {
    New(Task),
    Existing(Task),
}

#[async_trait]
pub trait TaskStore: Send + Sync + 'static {
    /// Inserts a task, or returns the task already created with the same idempotency
    /// key (a conflict when `request_hash` differs).
    async fn create_task(&self, task: NewTask) -> Result<Created>;
    async fn get_task(&self, id: TaskId) -> Result<Option<Task>>;
    /// The task an idempotency key (already scoped to its user) names, with the hash
    /// of the request that created it.
    async fn find_task_by_key(&self, key: &str) -> Result<Option<(Task, Option<String>)>>;
    async fn list_tasks(&self, filter: &TaskFilter) -> Result<TaskPage>;
    /// Cancels a task that has not ended; returns it as it is now (unchanged when it
    /// had already ended).
    async fn cancel_task(&self, id: TaskId, now: Millis) -> Result<Option<Task>>;
    /// Deletes a task and its asset rows; returns the deleted assets so their blobs
    /// can be removed when nothing else refers to them.
    async fn delete_task(&self, id: TaskId) -> Result<Option<Vec<Asset>>>;
}
