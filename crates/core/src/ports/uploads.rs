//! Uploads: files clients send as task inputs, and the copies providers hold for
//! us (their own uploads, which expire).

use async_trait::async_trait;

use crate::error::Result;
use crate::ids::{TaskId, UploadId};
use crate::ports::{InputCopy, ProviderUpload};
use crate::task::Upload;
use crate::time::Millis;

#[async_trait]
pub trait UploadStore: Send + Sync + 'static {
    async fn create_upload(&self, upload: &Upload) -> Result<()>;
    async fn get_upload(&self, id: &UploadId) -> Result<Option<Upload>>;
    async fn delete_upload(&self, id: &UploadId) -> Result<Option<Upload>>;
    /// What a provider holds for `key` (a URL or a content hash) that is still fresh
    /// at `fresh_at`.
    async fn provider_upload(&self, service: &str, key: &str, fresh_at: Millis) -> Result<Option<ProviderUpload>>;
    /// Records (or replaces) what a provider holds for `key`.
    async fn remember_provider_upload(
        &self,
        service: &str,
        key: &str,
        upload: &ProviderUpload,
        now: Millis,
    ) -> Result<()>;
    /// Every copy providers hold (or held) of the file whose content hash is `key`,
    /// expired ones too, as `(service, copy)`.
    async fn provider_copies(&self, key: &str) -> Result<Vec<(String, ProviderUpload)>>;
    /// Records (or replaces) the copy a task's input file went to the provider as.
    async fn record_input_copy(&self, task: &TaskId, copy: &InputCopy, now: Millis) -> Result<()>;
    /// The recorded input copies of some tasks, by task and position.
    async fn input_copies(&self, tasks: &[TaskId]) -> Result<Vec<(TaskId, InputCopy)>>;
}
