//! The asset index: the rows that describe stored outputs (their blobs live in the
//! [`super::AssetStore`]), and their tags.

use async_trait::async_trait;

use crate::error::Result;
use crate::ids::AssetId;
use crate::task::{Asset, AssetFilter, AssetPage};
use crate::time::Millis;

#[async_trait]
pub trait AssetIndex: Send + Sync + 'static {
    async fn get_asset(&self, id: &AssetId) -> Result<Option<Asset>>;
    /// Completed outputs, newest first (seed 004's history), filtered; a page of
    /// at most `filter.limit` with the cursor of the next one.
    async fn list_assets(&self, filter: &AssetFilter) -> Result<AssetPage>;
    async fn delete_asset(&self, id: &AssetId) -> Result<Option<Asset>>;
    /// How many asset and upload rows share a blob (blobs are named by content hash).
    async fn count_blob_refs(&self, blob_key: &str) -> Result<u64>;
    async fn add_tag(&self, id: &AssetId, tag: &str, now: Millis) -> Result<bool>;
    async fn remove_tag(&self, id: &AssetId, tag: &str) -> Result<bool>;
}
