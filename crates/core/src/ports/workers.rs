//! Worker keys: the credentials of remote workers (the pull protocol, `crate::pull`).

use async_trait::async_trait;

use crate::error::Result;
use crate::pull::WorkerKey;
use crate::time::Millis;

#[async_trait]
pub trait WorkerKeyStore: Send + Sync + 'static {
    async fn create_worker_key(&self, key: &WorkerKey) -> Result<()>;
    /// The key with this visible prefix (`atw_<12 hex>`), revoked or not.
    async fn find_worker_key(&self, prefix: &str) -> Result<Option<WorkerKey>>;
    /// Every key, newest first (a deployment has a handful).
    async fn list_worker_keys(&self) -> Result<Vec<WorkerKey>>;
    /// Revokes a key; false when there is no such key.
    async fn revoke_worker_key(&self, id: &str, now: Millis) -> Result<bool>;
    /// Notes that the key's worker asked for work.
    async fn touch_worker_key(&self, id: &str, now: Millis) -> Result<()>;
}
