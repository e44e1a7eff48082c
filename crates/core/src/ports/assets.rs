//! The asset store: where outputs and thumbnails live.

use std::ops::Range;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;

use super::provider::Output;
use crate::error::Result;
use crate::task::{NewAsset, StoredBlob, Task};

/// A blob opened for reading: its total size and a stream of the requested part.
pub struct BlobRead {
    pub total_bytes: u64,
    pub stream: BoxStream<'static, std::io::Result<Bytes>>,
}

#[async_trait]
pub trait AssetStore: Send + Sync + 'static {
    /// Writes an output under its content hash, with a thumbnail when it is an
    /// image, and describes it for the task store.
    async fn save_output(&self, task: &Task, index: u32, output: Output) -> Result<NewAsset>;
    /// Writes a client's upload under its content hash, with a thumbnail when it is
    /// an image or a video (poster frame).
    async fn save_blob(&self, bytes: bytes::Bytes, mime: &str) -> Result<StoredBlob>;
    /// Opens a blob, or a byte range of it.
    async fn open(&self, key: &str, range: Option<Range<u64>>) -> Result<Option<BlobRead>>;
    async fn delete(&self, key: &str) -> Result<()>;
    /// A small probe write, read back and deleted.
    async fn health(&self) -> Result<()>;
    /// Free bytes where blobs are written, where known (a local directory).
    fn free_space(&self) -> Option<u64> {
        None
    }
    /// A short description for system info, such as `file:///data/files`.
    fn describe(&self) -> String;
}
