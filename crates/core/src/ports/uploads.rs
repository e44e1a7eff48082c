//! Uploads: files clients send as task inputs, and the copies providers hold for
//! us (their own uploads, which expire).

use async_trait::async_trait;

use crate::error::Result;
use crate::ids::UploadId;
use crate::ports::ProviderUpload;
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
}
