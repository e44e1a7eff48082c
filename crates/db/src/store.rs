//! The whole store: the narrow ports are implemented beside their statements
//! (`tasks.rs`, `queue.rs`, `assets.rs`, `uploads.rs`, `usage.rs`); this adds what
//! only the whole has.

use async_trait::async_trait;
use atelier_core::CoreError;
use atelier_core::ports::Store;

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
}
