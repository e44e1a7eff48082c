//! The whole store: the narrow ports are implemented beside their statements
//! (`tasks.rs`, `queue.rs`, `assets.rs`, `uploads.rs`, `usage.rs`); this adds what
//! only the whole has.

use async_trait::async_trait;
use atelier_core::ports::{InputCopy, Store, UploadStore};
use atelier_core::task::Task;
use atelier_core::{CoreError, TaskId};

use crate::connect::Database;
use crate::error::storage;

#[async_trait]
impl Store for Database {
    async fn ping(&self) -> Result<(), CoreError> {
        sqlx::query("SELECT 1").execute(&self.reader).await.map_err(storage("pinging the database"))?;
        Ok(())
    }

    fn backend(&self) -> &'static str {
        self.backend.name()
    }

    /// One statement for a task without input copies (most), a second for one with.
    async fn get_task_with_copies(&self, id: TaskId) -> Result<Option<(Task, Vec<InputCopy>)>, CoreError> {
        let Some((task, has_copies)) = self.read_task(id).await? else { return Ok(None) };
        let copies = if has_copies {
            self.input_copies(&[id]).await?.into_iter().map(|(_, copy)| copy).collect()
        } else {
            Vec::new()
        };
        Ok(Some((task, copies)))
    }
}
