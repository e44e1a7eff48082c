//! `TaskStore` for both backends: each method is one of this crate's statements.

use async_trait::async_trait;
use atelier_core::ports::{Claimed, Created, LeaseToken, ProviderUpload, ReclaimReport, TaskStore};
use atelier_core::task::{
    Asset, AssetFilter, AssetPage, NewAsset, NewTask, Task, TaskError, TaskFilter, TaskPage, Upload,
};
use atelier_core::{AssetId, CoreError, TaskId, UploadId, UserId};

use crate::connect::Database;
use crate::error::storage;
use crate::{assets, queue, tasks, uploads};

type Result<T> = std::result::Result<T, CoreError>;

#[async_trait]
impl TaskStore for Database {
    async fn create_task(&self, task: NewTask) -> Result<Created> {
        tasks::create_task(self, task).await
    }
    async fn get_task(&self, id: TaskId) -> Result<Option<Task>> {
        tasks::get_task(self, id).await
    }
    async fn list_tasks(&self, filter: &TaskFilter) -> Result<TaskPage> {
        tasks::list_tasks(self, filter).await
    }
    async fn count_queued(&self) -> Result<u64> {
        tasks::count_queued(self).await
    }
    async fn claim(&self, worker_id: &str, limit: u32, now: i64, lease_until: i64) -> Result<Vec<Claimed>> {
        queue::claim(self, worker_id, limit, now, lease_until).await
    }
    async fn heartbeat(&self, id: TaskId, lease: &LeaseToken, lease_until: i64) -> Result<bool> {
        queue::heartbeat(self, id, lease, lease_until).await
    }
    async fn set_progress(&self, id: TaskId, lease: &LeaseToken, progress: u8) -> Result<bool> {
        queue::set_progress(self, id, lease, progress).await
    }
    async fn record_external_id(&self, id: TaskId, lease: &LeaseToken, external_id: &str) -> Result<bool> {
        queue::record_external_id(self, id, lease, external_id).await
    }
    async fn mark_submitting(&self, id: TaskId, lease: &LeaseToken) -> Result<bool> {
        queue::mark_submitting(self, id, lease).await
    }
    async fn submit_was_interrupted(&self, id: TaskId) -> Result<bool> {
        queue::submit_was_interrupted(self, id).await
    }
    async fn park(&self, id: TaskId, lease: &LeaseToken, progress: u8, run_after: i64) -> Result<bool> {
        queue::park(self, id, lease, progress, run_after).await
    }
    async fn complete(&self, id: TaskId, lease: &LeaseToken, outputs: Vec<NewAsset>, now: i64) -> Result<bool> {
        queue::complete(self, id, lease, outputs, now).await
    }
    async fn fail(&self, id: TaskId, lease: &LeaseToken, error: &TaskError, now: i64) -> Result<bool> {
        queue::fail(self, id, lease, error, now).await
    }
    async fn schedule_retry(&self, id: TaskId, lease: &LeaseToken, error: &TaskError, run_after: i64) -> Result<bool> {
        queue::schedule_retry(self, id, lease, error, run_after).await
    }
    async fn poll_now(&self, service: &str, external_id: &str, now: i64) -> Result<Option<TaskId>> {
        queue::poll_now(self, service, external_id, now).await
    }
    async fn release(&self, id: TaskId, lease: &LeaseToken, run_after: i64) -> Result<bool> {
        queue::release(self, id, lease, run_after).await
    }
    async fn cancel_task(&self, id: TaskId, now: i64) -> Result<Option<Task>> {
        tasks::cancel_task(self, id, now).await
    }
    async fn delete_task(&self, id: TaskId) -> Result<Option<Vec<Asset>>> {
        tasks::delete_task(self, id).await
    }
    async fn reclaim_expired(&self, now: i64, max_crashes: u32) -> Result<ReclaimReport> {
        queue::reclaim_expired(self, now, max_crashes).await
    }
    async fn expire_pending(&self, now: i64) -> Result<Vec<TaskId>> {
        queue::expire_pending(self, now).await
    }
    async fn get_asset(&self, id: &AssetId) -> Result<Option<Asset>> {
        assets::get_asset(self, id).await
    }
    async fn list_assets(&self, filter: &AssetFilter) -> Result<AssetPage> {
        assets::list_assets(self, filter).await
    }
    async fn delete_asset(&self, id: &AssetId) -> Result<Option<Asset>> {
        assets::delete_asset(self, id).await
    }
    async fn count_blob_refs(&self, blob_key: &str) -> Result<u64> {
        assets::count_blob_refs(self, blob_key).await
    }
    async fn add_tag(&self, id: &AssetId, tag: &str, now: i64) -> Result<bool> {
        assets::add_tag(self, id, tag, now).await
    }
    async fn remove_tag(&self, id: &AssetId, tag: &str) -> Result<bool> {
        assets::remove_tag(self, id, tag).await
    }
    async fn create_upload(&self, upload: &Upload) -> Result<()> {
        uploads::create_upload(self, upload).await
    }
    async fn get_upload(&self, id: &UploadId) -> Result<Option<Upload>> {
        uploads::get_upload(self, id).await
    }
    async fn delete_upload(&self, id: &UploadId) -> Result<Option<Upload>> {
        uploads::delete_upload(self, id).await
    }
    async fn provider_upload(&self, service: &str, key: &str, fresh_at: i64) -> Result<Option<ProviderUpload>> {
        uploads::provider_upload(self, service, key, fresh_at).await
    }
    async fn remember_provider_upload(
        &self,
        service: &str,
        key: &str,
        upload: &ProviderUpload,
        now: i64,
    ) -> Result<()> {
        uploads::remember_provider_upload(self, service, key, upload, now).await
    }
    async fn count_created_since(&self, service: &str, model: Option<&str>, since: i64) -> Result<u64> {
        uploads::count_created_since(self, service, model, since).await
    }
    async fn count_owner_tasks(&self, owner: &UserId, since: Option<i64>, active_only: bool) -> Result<u64> {
        uploads::count_owner_tasks(self, owner, since, active_only).await
    }
    async fn count_in_flight(&self, service: &str) -> Result<u64> {
        uploads::count_in_flight(self, service).await
    }
    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.reader).await.map_err(storage("pinging the database"))?;
        Ok(())
    }
    fn backend(&self) -> &'static str {
        self.backend.name()
    }
}
