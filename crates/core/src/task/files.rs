//! Outputs, their tags, and uploaded input files: the task service's operations on
//! files, each checking that the caller may see (and, for changes, write) them.

use std::ops::Range;

use super::{Asset, AssetFilter, AssetPage, TaskService, Upload, require_write};
use crate::account::Principal;
use crate::error::{CoreError, Result};
use crate::ids::{AssetId, UploadId};
use crate::ports::BlobRead;
use crate::time::now_millis;

impl TaskService {
    /// Deletes one output (seed 004's `DELETE /history/{id}`).
    pub async fn delete_asset(&self, caller: &Principal, id: &AssetId) -> Result<()> {
        self.get_asset(caller, id).await?;
        require_write(caller)?;
        let asset = self.store.delete_asset(id).await?.ok_or(CoreError::NotFound { what: "image" })?;
        self.delete_blobs_if_unreferenced(&asset.blob_key, asset.thumbnail_key.as_deref()).await;
        Ok(())
    }

    /// An output the caller may see.
    pub async fn get_asset(&self, caller: &Principal, id: &AssetId) -> Result<Asset> {
        self.store
            .get_asset(id)
            .await?
            .filter(|asset| caller.may_see(asset.owner.as_ref()))
            .ok_or(CoreError::NotFound { what: "image" })
    }

    /// An output by id, for a signed link (the signature is the permission).
    pub async fn shared_asset(&self, id: &AssetId) -> Result<Asset> {
        self.store.get_asset(id).await?.ok_or(CoreError::NotFound { what: "image" })
    }

    /// The caller's outputs, newest first (everyone's for an admin, unless it
    /// names an owner).
    pub async fn list_assets(&self, caller: &Principal, filter: &AssetFilter) -> Result<AssetPage> {
        let mut filter = filter.clone();
        if !caller.is_admin() {
            filter.owner = Some(caller.user_id.clone());
        }
        self.store.list_assets(&filter).await
    }

    /// Tags an output (true when the tag is new).
    pub async fn add_tag(&self, caller: &Principal, id: &AssetId, tag: &str) -> Result<bool> {
        self.get_asset(caller, id).await?;
        require_write(caller)?;
        self.store.add_tag(id, tag, now_millis()).await
    }

    /// Removes a tag (true when it was there).
    pub async fn remove_tag(&self, caller: &Principal, id: &AssetId, tag: &str) -> Result<bool> {
        self.get_asset(caller, id).await?;
        require_write(caller)?;
        self.store.remove_tag(id, tag).await
    }

    /// Stores a client's file for use as a task input.
    pub async fn create_upload(
        &self,
        caller: &Principal,
        name: &str,
        mime: &str,
        bytes: bytes::Bytes,
    ) -> Result<Upload> {
        require_write(caller)?;
        let blob = self.assets.save_blob(bytes, mime).await?;
        let upload = Upload::from_blob(blob, name, Some(caller.user_id.clone()), now_millis());
        self.store.create_upload(&upload).await?;
        Ok(upload)
    }

    pub async fn get_upload(&self, caller: &Principal, id: &UploadId) -> Result<Upload> {
        self.store
            .get_upload(id)
            .await?
            .filter(|upload| caller.may_see(upload.owner.as_ref()))
            .ok_or(CoreError::NotFound { what: "upload" })
    }

    /// The copies providers hold (or held) of an upload's file, as `(service, copy)`:
    /// made when a task sent it, reused by later tasks while fresh. For an upload
    /// the caller has read (through [`TaskService::get_upload`]).
    pub async fn upload_copies(&self, upload: &Upload) -> Result<Vec<(String, crate::ports::ProviderUpload)>> {
        self.store.provider_copies(&upload.sha256).await
    }

    pub async fn delete_upload(&self, caller: &Principal, id: &UploadId) -> Result<()> {
        self.get_upload(caller, id).await?;
        require_write(caller)?;
        let upload = self.store.delete_upload(id).await?.ok_or(CoreError::NotFound { what: "upload" })?;
        self.delete_blobs_if_unreferenced(&upload.blob_key, upload.thumbnail_key.as_deref()).await;
        Ok(())
    }

    /// Deletes a blob and its thumbnail once no asset or upload row names it.
    pub(super) async fn delete_blobs_if_unreferenced(&self, blob_key: &str, thumbnail_key: Option<&str>) {
        delete_unreferenced_blobs(&*self.store, &*self.assets, blob_key, thumbnail_key).await;
    }

    /// Opens a stored blob (or a byte range of it) named by an asset or upload the
    /// caller was allowed to read.
    pub async fn open_blob(&self, key: &str, range: Option<Range<u64>>) -> Result<Option<BlobRead>> {
        self.assets.open(key, range).await
    }
}

/// Deletes a blob and its thumbnail once no asset or upload row names it (a user's
/// delete, the retention cleanup); true when it was deleted.
pub(crate) async fn delete_unreferenced_blobs(
    index: &dyn crate::ports::AssetIndex,
    assets: &dyn crate::ports::AssetStore,
    blob_key: &str,
    thumbnail_key: Option<&str>,
) -> bool {
    match index.count_blob_refs(blob_key).await {
        Ok(0) => {
            for key in std::iter::once(blob_key).chain(thumbnail_key) {
                if let Err(error) = assets.delete(key).await {
                    // The row is gone; an orphaned blob wastes space but loses nothing.
                    tracing::warn!(blob.key = %key, %error, "could not delete blob");
                }
            }
            true
        }
        Ok(_) => false,
        Err(error) => {
            tracing::warn!(blob.key = %blob_key, %error, "could not count blob references");
            false
        }
    }
}
