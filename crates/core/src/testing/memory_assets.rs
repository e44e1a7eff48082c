//! An asset store in memory: blobs by content hash.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};

use async_trait::async_trait;
use bytes::Bytes;
use futures::TryStreamExt;
use sha2::{Digest, Sha256};

use crate::error::{CoreError, Result};
use crate::ids::AssetId;
use crate::ports::{AssetStore, BlobRead, Output, OutputData};
use crate::task::{Asset, NewAsset, StoredBlob, Task};
use crate::time::now_millis;

#[derive(Default)]
pub struct MemoryAssets {
    blobs: Mutex<HashMap<String, (Bytes, String)>>,
    /// When set, writes fail as a full disk would.
    failing: AtomicBool,
}

impl MemoryAssets {
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes writes fail (or succeed again).
    pub fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }

    /// How many blobs are stored.
    pub fn len(&self) -> usize {
        self.blobs.lock().unwrap_or_else(PoisonError::into_inner).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn put(&self, bytes: Bytes, mime: &str) -> Result<(String, String)> {
        if self.failing.load(Ordering::SeqCst) {
            let detail = "no space left on the in-memory store".into();
            return Err(CoreError::StorageFull { part: crate::storage::StoragePart::Files, detail });
        }
        let sha256 = hex::encode(Sha256::digest(&bytes));
        let key = format!("blobs/{sha256}");
        self.blobs.lock().unwrap_or_else(PoisonError::into_inner).insert(key.clone(), (bytes, mime.to_owned()));
        Ok((key, sha256))
    }
}

#[async_trait]
impl AssetStore for MemoryAssets {
    async fn save_output(&self, task: &Task, index: u32, output: Output) -> Result<NewAsset> {
        let content = match output.data {
            OutputData::Bytes(bytes) => bytes,
            OutputData::Stream(stream) => {
                let parts: Vec<Bytes> = stream
                    .try_collect()
                    .await
                    .map_err(|error| CoreError::Upstream(format!("reading a stream: {error}")))?;
                Bytes::from(parts.concat())
            }
        };
        let bytes = content.len() as u64;
        let (blob_key, sha256) = self.put(content, &output.mime)?;
        Ok(Asset {
            id: AssetId::new(),
            task_id: task.id,
            index,
            mime: output.mime,
            bytes,
            width: output.width,
            height: output.height,
            sha256,
            blob_key,
            thumbnail_key: None,
            created_at: now_millis(),
            tags: Vec::new(),
            owner: task.owner.clone(),
            role: output.role,
            media: None,
        })
    }

    async fn save_blob(&self, bytes: Bytes, mime: &str) -> Result<StoredBlob> {
        let size = bytes.len() as u64;
        let (blob_key, sha256) = self.put(bytes, mime)?;
        Ok(StoredBlob {
            mime: mime.to_owned(),
            bytes: size,
            width: None,
            height: None,
            sha256,
            blob_key,
            thumbnail_key: None,
            media: None,
        })
    }

    async fn open(&self, key: &str, range: Option<Range<u64>>) -> Result<Option<BlobRead>> {
        let blobs = self.blobs.lock().unwrap_or_else(PoisonError::into_inner);
        let Some((bytes, _)) = blobs.get(key) else { return Ok(None) };
        let total_bytes = bytes.len() as u64;
        let range = range.unwrap_or(0..total_bytes);
        let part = bytes.slice(range.start.min(total_bytes) as usize..range.end.min(total_bytes) as usize);
        Ok(Some(BlobRead { total_bytes, stream: Box::pin(futures::stream::iter([Ok(part)])) }))
    }

    async fn delete(&self, key: &str) -> Result<()> {
        self.blobs.lock().unwrap_or_else(PoisonError::into_inner).remove(key);
        Ok(())
    }

    async fn health(&self) -> Result<()> {
        let (key, _) = self.put(Bytes::from_static(b"atelier health probe"), "text/plain")?;
        self.blobs.lock().unwrap_or_else(PoisonError::into_inner).remove(&key);
        Ok(())
    }

    fn describe(&self) -> String {
        "memory://".into()
    }
}
