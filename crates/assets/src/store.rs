//! `ObjectAssetStore`: the [`AssetStore`] port over `object_store` (local files, S3 or
//! S3-compatible servers, memory).
//!
//! Blobs are named by the SHA-256 of their bytes, `blobs/<2 hex>/<sha256>.<ext>`, and
//! thumbnails `thumbs/<2 hex>/<sha256>.webp` by their source's hash, so saving the
//! same output twice writes nothing the second time.

use std::ops::Range;
use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use atelier_core::error::{CoreError, Result};
use atelier_core::ids::AssetId;
use atelier_core::ports::{AssetStore, BlobRead, ByteStream, Output, OutputData};
use atelier_core::storage::StoragePart;
use atelier_core::task::{NewAsset, StoredBlob, Task};
use atelier_core::time::now_millis;
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt, stream};
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::{
    Attribute, Attributes, GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutMode, PutMultipartOptions, PutOptions,
    PutPayload, WriteMultipart,
};
use sha2::{Digest, Sha256};
use url::Url;

use crate::png_text::embed_png_text;
use crate::thumbnail::{Thumbnail, make_thumbnail, mime_essence};
use crate::vet::{MediaLimits, VetError, vet_image, vet_media};

/// The PNG text keyword generation parameters are stored under (the one
/// Stable Diffusion tools read).
pub const PARAMETERS_KEYWORD: &str = "parameters";

/// A configuration error: the asset store URL cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum AssetError {
    #[error("invalid asset store URL: {0}")]
    InvalidUrl(String),
    #[error("unsupported asset store scheme `{0}`: use file:///abs/path, s3://bucket/prefix or memory://")]
    UnsupportedScheme(String),
    #[error("cannot use {path} as the asset directory: {reason}")]
    BadPath { path: PathBuf, reason: String },
    #[error("cannot configure the asset store: {0}")]
    Config(String),
}

/// The S3 settings that are secrets (by `object_store`'s canonical names): refused in
/// a storage URL, which is shown in `config show` and in errors.
const SECRET_S3_KEYS: [&str; 4] =
    ["aws_access_key_id", "aws_secret_access_key", "aws_session_token", "aws_sse_customer_key_base64"];

/// Blobs and thumbnails in an `object_store` backend.
#[derive(Debug, Clone)]
pub struct ObjectAssetStore {
    store: Arc<dyn ObjectStore>,
    description: String,
    /// Whether the backend keeps object attributes (content type); the local file
    /// system refuses puts that carry them.
    attributes: bool,
    /// A local directory: writing a blob again is a cheap atomic rename, cheaper
    /// than asking first whether it exists; its free space is known.
    local_dir: Option<std::path::PathBuf>,
    /// What a file must keep to be stored ([`crate::vet`]): a bomb is refused.
    limits: MediaLimits,
}

impl ObjectAssetStore {
    /// Wraps any backend. `description` is what [`AssetStore::describe`] shows; keep
    /// credentials out of it.
    pub fn new(store: Arc<dyn ObjectStore>, description: impl Into<String>) -> Self {
        Self {
            store,
            description: description.into(),
            attributes: false,
            local_dir: None,
            limits: MediaLimits::default(),
        }
    }

    /// Opens a store from its URL:
    ///
    /// - `file:///abs/path`: a directory, created when missing;
    /// - `s3://bucket/prefix?endpoint=…&region=…&allow_http=true`: S3 or an
    ///   S3-compatible server. Credentials and defaults come from the usual `AWS_*`
    ///   environment variables; other query parameters are passed on as
    ///   `object_store` S3 configuration keys (such as `conditional_put=disabled`);
    /// - `memory://`: in memory, for tests.
    pub fn from_url(url: &str) -> Result<Self, AssetError> {
        let parsed = Url::parse(url.trim()).map_err(|e| AssetError::InvalidUrl(e.to_string()))?;
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(AssetError::InvalidUrl(
                "credentials do not belong in the URL; set them in the environment".into(),
            ));
        }
        match parsed.scheme() {
            "file" => {
                if parsed.query().is_some() {
                    return Err(AssetError::InvalidUrl("a file:// URL takes no query".into()));
                }
                let path = parsed.to_file_path().map_err(|()| {
                    AssetError::InvalidUrl("a file URL needs an absolute path, as in file:///data/files".into())
                })?;
                Self::local(&path)
            }
            "s3" => Self::s3(&parsed),
            "memory" => Ok(Self::memory()),
            other => Err(AssetError::UnsupportedScheme(other.to_owned())),
        }
    }

    /// A store in a local directory, created when missing.
    pub fn local(dir: &FsPath) -> Result<Self, AssetError> {
        let bad = |reason: String| AssetError::BadPath { path: dir.to_path_buf(), reason };
        if !dir.is_absolute() {
            return Err(bad("the path must be absolute".into()));
        }
        std::fs::create_dir_all(dir).map_err(|e| bad(e.to_string()))?;
        let canonical = std::fs::canonicalize(dir).map_err(|e| bad(e.to_string()))?;
        if !canonical.is_dir() {
            return Err(bad("not a directory".into()));
        }
        let fs =
            LocalFileSystem::new_with_prefix(&canonical).map_err(|e| bad(e.to_string()))?.with_automatic_cleanup(true);
        let description = Url::from_directory_path(&canonical)
            .map(|u| u.as_str().trim_end_matches('/').to_owned())
            .unwrap_or_else(|()| format!("file://{}", canonical.display()));
        Ok(Self { local_dir: Some(canonical), ..Self::new(Arc::new(fs), description) })
    }

    /// A store in memory, empty, gone when dropped.
    pub fn memory() -> Self {
        Self::new(Arc::new(InMemory::new()), "memory://")
    }

    fn s3(url: &Url) -> Result<Self, AssetError> {
        let bucket = url
            .host_str()
            .filter(|b| !b.is_empty())
            .ok_or_else(|| AssetError::InvalidUrl("an s3 URL needs a bucket, as in s3://bucket/prefix".into()))?;
        let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
        for (key, value) in url.query_pairs() {
            builder = match key.as_ref() {
                "endpoint" => builder.with_endpoint(value.as_ref()),
                "region" => builder.with_region(value.as_ref()),
                "allow_http" => {
                    let allow = value.parse::<bool>().map_err(|_| {
                        AssetError::InvalidUrl(format!("allow_http must be true or false, not {value:?}"))
                    })?;
                    builder.with_allow_http(allow)
                }
                other => {
                    let config: AmazonS3ConfigKey = other
                        .parse()
                        .map_err(|_| AssetError::InvalidUrl(format!("unknown s3 URL parameter `{other}`")))?;
                    // The URL is shown (in `config show`, in errors): no secret in it.
                    if SECRET_S3_KEYS.contains(&config.as_ref()) {
                        return Err(AssetError::InvalidUrl(format!(
                            "`{other}` is a credential and does not belong in the URL; set it in the environment \
                             (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN)"
                        )));
                    }
                    if config.as_ref() == "aws_bucket" {
                        return Err(AssetError::InvalidUrl("the bucket is the URL's host: s3://bucket/prefix".into()));
                    }
                    builder.with_config(config, value.as_ref())
                }
            };
        }
        let s3 = builder.build().map_err(|e| AssetError::Config(e.to_string()))?;

        let prefix = url.path().trim_matches('/');
        let description = if prefix.is_empty() { format!("s3://{bucket}") } else { format!("s3://{bucket}/{prefix}") };
        let store: Arc<dyn ObjectStore> = if prefix.is_empty() {
            Arc::new(s3)
        } else {
            let prefix = Path::from_url_path(prefix).map_err(|e| AssetError::InvalidUrl(e.to_string()))?;
            Arc::new(PrefixStore::new(s3, prefix))
        };
        Ok(Self { store, description, attributes: true, local_dir: None, limits: MediaLimits::default() })
    }

    /// The same store with other limits for the files it takes (the server's
    /// `[media]` section).
    #[must_use]
    pub fn with_limits(mut self, limits: MediaLimits) -> Self {
        self.limits = limits;
        self
    }

    /// The limits files are vetted against.
    pub fn limits(&self) -> &MediaLimits {
        &self.limits
    }

    /// The backend, for callers that need more than the port offers.
    pub fn object_store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// Vets, hashes, thumbnails (on a blocking thread) and writes a blob and its
    /// thumbnail at the same time. A file [`crate::vet`] refuses is an
    /// [`CoreError::InvalidInput`] whose details carry the refusal's `code`; nothing
    /// is written.
    async fn store_blob(&self, bytes: Bytes, mime: &str, parameters: Option<String>) -> Result<StoredBlob> {
        let mime = mime.to_owned();
        let prepared = {
            let mime = mime.clone();
            let limits = self.limits.clone();
            tokio::task::spawn_blocking(move || prepare(bytes, &mime, parameters.as_deref(), &limits))
                .await
                .map_err(|e| CoreError::Blob(format!("preparing a blob: {e}")))?
                .map_err(|refused| refused_error(&refused))?
        };
        let Prepared { bytes, sha256, thumbnail, media } = prepared;
        let size = bytes.len() as u64;
        let blob_key = blob_key(&sha256, &mime);
        let thumbnail = thumbnail.map(|thumb| (thumbnail_key(&sha256), thumb));
        let write_thumbnail = async {
            match &thumbnail {
                Some((key, thumb)) => {
                    self.put_if_absent(key, Bytes::from(thumb.bytes.clone()), crate::thumbnail::THUMBNAIL_MIME).await
                }
                None => Ok(false),
            }
        };
        tokio::try_join!(self.put_if_absent(&blob_key, bytes, &mime), write_thumbnail)?;
        // A model's thumbnail is a drawing of it: its size is not the model's.
        let (thumbnail_key, source_size) = match thumbnail {
            Some((key, _)) if crate::model_still::is_model(&mime) => (Some(key), None),
            Some((key, thumb)) => (Some(key), Some((thumb.source_width, thumb.source_height))),
            None => (None, None),
        };
        Ok(StoredBlob {
            mime,
            bytes: size,
            width: source_size.map(|(w, _)| w),
            height: source_size.map(|(_, h)| h),
            sha256,
            blob_key,
            thumbnail_key,
            media,
        })
    }

    /// Writes a stream without holding it: to a staging object part by part while
    /// hashing it, then under its content hash (unless the same content is there
    /// already), and the staging object is removed. No thumbnail is made.
    async fn store_stream(&self, mut stream: ByteStream, mime: &str) -> Result<StoredBlob> {
        let staging = Path::from(format!("staging/{}", AssetId::new()));
        // The content type goes on the staging object: the copy under the hash keeps it
        // (an S3 copy takes the source's metadata).
        let options = PutMultipartOptions { attributes: self.content_type(mime), ..Default::default() };
        let upload = self
            .store
            .put_multipart_opts(&staging, options)
            .await
            .map_err(|e| blob_error("staging", staging.as_ref(), e))?;
        let mut writer = WriteMultipart::new(upload);
        let (mut hasher, mut size) = (Sha256::new(), 0u64);
        while let Some(chunk) = stream.next().await {
            let chunk = match chunk {
                Ok(chunk) => chunk,
                Err(error) => {
                    let _ = writer.abort().await;
                    return Err(CoreError::Upstream(format!("reading the output stream: {error}")));
                }
            };
            hasher.update(&chunk);
            size += chunk.len() as u64;
            writer.put(chunk);
            writer.wait_for_capacity(4).await.map_err(|e| blob_error("staging", staging.as_ref(), e))?;
        }
        writer.finish().await.map_err(|e| blob_error("staging", staging.as_ref(), e))?;
        let sha256 = hex::encode(hasher.finalize());
        let blob_key = blob_key(&sha256, mime);
        let target = Path::parse(&blob_key).map_err(|e| CoreError::Blob(format!("invalid key {blob_key}: {e}")))?;
        let placed = match self.store.head(&target).await {
            // The same content is stored already.
            Ok(_) => Ok(()),
            Err(object_store::Error::NotFound { .. }) => self.store.copy(&staging, &target).await,
            Err(error) => Err(error),
        };
        let removed = self.store.delete(&staging).await;
        placed.map_err(|e| blob_error("writing", &blob_key, e))?;
        if let Err(error) = removed {
            tracing::warn!(%error, key = %staging, "could not remove a staging object");
        }
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

    /// An object's size and no bytes (a HEAD); `None` when it is not there.
    async fn empty_read(&self, path: &Path, key: &str) -> Result<Option<BlobRead>> {
        match self.store.head(path).await {
            Ok(meta) => Ok(Some(BlobRead { total_bytes: meta.size, stream: stream::empty().boxed() })),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(blob_error("reading", key, e)),
        }
    }

    /// The attributes an object of this MIME type is written with: its content type
    /// where the backend keeps one (S3: what a browser or a CDN reading the bucket
    /// directly is told), none where it refuses them (a directory).
    fn content_type(&self, mime: &str) -> Attributes {
        let mut attributes = Attributes::new();
        if self.attributes {
            attributes.insert(Attribute::ContentType, mime.to_owned().into());
        }
        attributes
    }

    /// Writes `bytes` at `key` unless something is there already: blobs are named by
    /// their content, so whatever is there is the same. On a local directory it
    /// simply writes (an atomic rename of the same bytes), which is cheaper than
    /// asking first. Returns whether it wrote.
    async fn put_if_absent(&self, key: &str, bytes: Bytes, mime: &str) -> Result<bool> {
        let path = Path::parse(key).map_err(|e| CoreError::Blob(format!("invalid key {key}: {e}")))?;
        if self.local_dir.is_some() {
            // Content-addressed: the same key always holds the same bytes, and the
            // local store writes to a staging file then renames it into place.
            let options = PutOptions { mode: PutMode::Overwrite, ..Default::default() };
            self.store
                .put_opts(&path, PutPayload::from_bytes(bytes), options)
                .await
                .map_err(|e| blob_error("writing", key, e))?;
            return Ok(true);
        }
        match self.store.head(&path).await {
            Ok(_) => {
                tracing::debug!(key, "blob already stored");
                return Ok(false);
            }
            Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(blob_error("checking", key, e)),
        }
        let attributes = self.content_type(mime);
        let options = PutOptions { mode: PutMode::Create, attributes: attributes.clone(), ..Default::default() };
        match self.store.put_opts(&path, PutPayload::from_bytes(bytes.clone()), options).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::AlreadyExists { .. }) => {
                tracing::debug!(key, "blob stored concurrently");
                Ok(false)
            }
            // A backend without conditional writes: overwriting the same content is harmless.
            Err(object_store::Error::NotImplemented { .. }) => {
                let options = PutOptions { attributes, ..Default::default() };
                self.store
                    .put_opts(&path, PutPayload::from_bytes(bytes), options)
                    .await
                    .map_err(|e| blob_error("writing", key, e))?;
                Ok(true)
            }
            Err(e) => Err(blob_error("writing", key, e)),
        }
    }
}

/// A store's error as the core sees it: a full disk (`ENOSPC`, `EDQUOT`, anywhere in
/// the error's chain) says so, anything else is the store failing.
fn blob_error(action: &str, key: &str, error: object_store::Error) -> CoreError {
    let detail = format!("{action} {key}: {error}");
    if is_disk_full(&error) {
        CoreError::StorageFull { part: StoragePart::Files, detail }
    } else {
        CoreError::Blob(detail)
    }
}

fn is_disk_full(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(error) = cause {
        if let Some(io) = error.downcast_ref::<std::io::Error>()
            && (matches!(io.kind(), std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded)
                || matches!(io.raw_os_error(), Some(28 | 122)))
        {
            return true;
        }
        cause = error.source();
    }
    false
}

/// The file extension a blob of this MIME type gets.
pub fn extension_for(mime: &str) -> &'static str {
    match mime_essence(mime).as_str() {
        "image/png" | "image/apng" => "png",
        "image/jpeg" | "image/jpg" | "image/pjpeg" => "jpg",
        "image/webp" => "webp",
        "image/gif" => "gif",
        "image/svg+xml" => "svg",
        "video/mp4" => "mp4",
        "video/webm" => "webm",
        "model/gltf-binary" => "glb",
        "model/gltf+json" => "gltf",
        "model/obj" => "obj",
        "model/mtl" => "mtl",
        "model/stl" => "stl",
        "application/ply" => "ply",
        "application/zip" => "zip",
        "audio/wav" | "audio/x-wav" | "audio/wave" | "audio/vnd.wave" => "wav",
        "audio/mpeg" | "audio/mp3" => "mp3",
        "audio/ogg" | "audio/opus" => "ogg",
        "audio/aac" => "aac",
        "audio/flac" | "audio/x-flac" => "flac",
        "audio/pcm" => "pcm",
        "application/pdf" => "pdf",
        "application/vnd.comicbook+zip" => "cbz",
        _ => "bin",
    }
}

/// The key of a blob with this hash and MIME type: `blobs/ab/ab12….png`.
pub fn blob_key(sha256: &str, mime: &str) -> String {
    format!("blobs/{}/{sha256}.{}", shard(sha256), extension_for(mime))
}

/// The key of the thumbnail of a blob with this hash: `thumbs/ab/ab12….webp`.
pub fn thumbnail_key(sha256: &str) -> String {
    format!("thumbs/{}/{sha256}.webp", shard(sha256))
}

fn shard(sha256: &str) -> &str {
    sha256.get(..2).unwrap_or("00")
}

/// What the CPU-bound half of a save produces.
struct Prepared {
    bytes: Bytes,
    sha256: String,
    thumbnail: Option<Thumbnail>,
    media: Option<atelier_core::task::MediaInfo>,
}

/// A refused file as the port's error: `InvalidInput` with the refusal's stable
/// code in its details (the worker fails the task; a handler answers 422).
pub fn refused_error(refused: &VetError) -> CoreError {
    let mut details = refused.details();
    if let Some(map) = details.as_object_mut() {
        map.insert("code".into(), refused.code().into());
        map.insert("reason".into(), refused.to_string().into());
    }
    CoreError::InvalidInput { message: format!("the file was refused: {refused}"), details }
}

/// Vets the file (an image whatever its label, audio and video by their type),
/// then embeds the parameters, hashes, and makes the thumbnail. Runs on a
/// blocking thread.
fn prepare(bytes: Bytes, mime: &str, parameters: Option<&str>, limits: &MediaLimits) -> Result<Prepared, VetError> {
    let essence = mime_essence(mime);
    let vetted = match crate::thumbnail::sniff_image_mime(&bytes) {
        Some(_) => Some(vet_image(bytes.clone(), limits)?),
        None => None,
    };
    let media = if vetted.is_none() { vet_media(&bytes, mime, limits)? } else { None };
    let bytes = strip_location(bytes, &essence);
    let bytes = match parameters {
        Some(text) if essence == "image/png" => match embed_png_text(&bytes, PARAMETERS_KEYWORD, text) {
            Ok(embedded) => Bytes::from(embedded),
            Err(e) => {
                tracing::warn!(error = %e, "could not embed parameters in the PNG; storing it as is");
                bytes
            }
        },
        _ => bytes,
    };
    let sha256 = hex::encode(Sha256::digest(&bytes));
    let thumbnail = if crate::poster::is_video(mime) {
        match crate::poster::poster_frame_within(&bytes, limits.decode_timeout) {
            Ok(Some(frame)) => crate::thumbnail::thumbnail_for(&frame).unwrap_or_else(|e| {
                tracing::warn!(error = %e, sha256, "could not make a thumbnail of the video's poster frame");
                None
            }),
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(error = %e, mime, sha256, "could not take a poster frame; storing the video without one");
                None
            }
        }
    } else if crate::model_still::is_model(mime) {
        crate::model_still::thumbnail(&bytes, &sha256)
    } else if let Some(vetted) = vetted.filter(|_| crate::thumbnail::raster_format(mime).is_some()) {
        // The pixels decoded while vetting: the stripped metadata and embedded
        // text do not change them.
        crate::thumbnail::thumbnail_of(vetted.image).map(Some).unwrap_or_else(|e| {
            tracing::warn!(error = %e, mime, sha256, "could not make a thumbnail; storing the output without one");
            None
        })
    } else {
        match make_thumbnail(&bytes, mime) {
            Ok(thumbnail) => thumbnail,
            Err(e) => {
                tracing::warn!(error = %e, mime, sha256, "could not make a thumbnail; storing the output without one");
                None
            }
        }
    };
    Ok(Prepared { bytes, sha256, thumbnail, media })
}

/// A JPEG, PNG or WebP without the metadata that can say where it was made (Exif
/// with its GPS block, XMP, IPTC; `atelier_places::strip_metadata` lists them):
/// what is stored is what leaves the server, in downloads, signed links and
/// provider uploads. PNG text chunks (the generation `parameters`) stay. An image
/// whose structure cannot be read is stored as it is, with a warning.
fn strip_location(bytes: Bytes, essence: &str) -> Bytes {
    if !matches!(essence, "image/jpeg" | "image/png" | "image/webp") {
        return bytes;
    }
    match atelier_places::strip_metadata(&bytes) {
        Ok(Some(stripped)) => Bytes::from(stripped),
        Ok(None) => bytes,
        Err(e) => {
            tracing::warn!(error = %e, mime = essence, "could not strip the image's metadata; storing it as is");
            bytes
        }
    }
}

#[async_trait]
impl AssetStore for ObjectAssetStore {
    async fn save_output(&self, task: &Task, index: u32, output: Output) -> Result<NewAsset> {
        let Output { data, role, mime, width, height, parameters } = output;
        let stored = match data {
            OutputData::Bytes(bytes) => self.store_blob(bytes, mime.trim(), parameters).await,
            OutputData::Stream(stream) => self.store_stream(stream, mime.trim()).await,
        };
        let blob = stored.map_err(|error| match error {
            CoreError::Blob(detail) => CoreError::Blob(format!("storing output {index} of task {}: {detail}", task.id)),
            other => other,
        })?;
        Ok(NewAsset {
            id: AssetId::new(),
            task_id: task.id,
            index,
            mime: blob.mime,
            bytes: blob.bytes,
            width: width.or(blob.width),
            height: height.or(blob.height),
            sha256: blob.sha256,
            blob_key: blob.blob_key,
            thumbnail_key: blob.thumbnail_key,
            media: blob.media,
            created_at: now_millis(),
            tags: Vec::new(),
            owner: task.owner.clone(),
            role,
        })
    }

    async fn save_blob(&self, bytes: Bytes, mime: &str) -> Result<StoredBlob> {
        self.store_blob(bytes, mime.trim(), None).await
    }

    async fn open(&self, key: &str, range: Option<Range<u64>>) -> Result<Option<BlobRead>> {
        // A key that is not a valid path names nothing.
        let Ok(path) = Path::parse(key) else {
            tracing::debug!(key, "open of an invalid key");
            return Ok(None);
        };
        if key.is_empty() {
            return Ok(None);
        }
        // One request where one does: a GET tells the object's whole size with its
        // bytes (on S3 a HEAD first doubled the round trips of every read).
        let get_range = match &range {
            None => None,
            Some(r) if r.start < r.end => Some(GetRange::Bounded(r.clone())),
            // An empty range asks only the size (the server's downloads do, first).
            Some(_) => return self.empty_read(&path, key).await,
        };
        let options = GetOptions { range: get_range, ..Default::default() };
        let result = match self.store.get_opts(&path, options).await {
            Ok(result) => result,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            // A range that starts at or past the end is refused by the backend: nothing
            // of the blob lies in it, an empty read (any other failure stays one).
            Err(error) if range.is_some() => {
                return match self.empty_read(&path, key).await? {
                    Some(read) if range.as_ref().is_some_and(|r| r.start >= read.total_bytes) => Ok(Some(read)),
                    Some(_) => Err(blob_error("reading", key, error)),
                    None => Ok(None),
                };
            }
            Err(e) => return Err(blob_error("reading", key, e)),
        };
        let total_bytes = result.meta.size;
        let stream = result.into_stream().map_err(std::io::Error::other).boxed();
        Ok(Some(BlobRead { total_bytes, stream }))
    }

    async fn delete(&self, key: &str) -> Result<()> {
        let Ok(path) = Path::parse(key) else {
            return Ok(());
        };
        if key.is_empty() {
            return Ok(());
        }
        match self.store.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(blob_error("deleting", key, e)),
        }
    }

    async fn health(&self) -> Result<()> {
        let key = format!("health/probe-{}", AssetId::new());
        let path = Path::from(key.as_str());
        let probe = Bytes::from_static(b"atelier health probe");
        self.store
            .put(&path, PutPayload::from_bytes(probe.clone()))
            .await
            .map_err(|e| blob_error("writing", &key, e))?;
        let read = async { self.store.get(&path).await?.bytes().await };
        let read = read.await;
        let deleted = self.store.delete(&path).await;
        let read = read.map_err(|e| blob_error("reading", &key, e))?;
        deleted.map_err(|e| blob_error("deleting", &key, e))?;
        if read != probe {
            return Err(CoreError::Blob(format!("{key} read back different bytes than were written")));
        }
        Ok(())
    }

    fn free_space(&self) -> Option<u64> {
        let stat = rustix::fs::statvfs(self.local_dir.as_ref()?).ok()?;
        Some(stat.f_bavail.saturating_mul(stat.f_frsize))
    }

    fn describe(&self) -> String {
        self.description.clone()
    }
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use atelier_core::ids::TaskId;
    use atelier_core::task::{OutputRole, TaskStatus};
    use futures::TryStreamExt;
    use image::{ImageFormat, Rgba, RgbaImage};

    use super::*;
    use crate::png_text::read_png_text;

    fn task() -> Task {
        let now = now_millis();
        Task {
            id: TaskId::new(),
            service: "local".into(),
            model: "test".into(),
            input: serde_json::Value::Null,
            status: TaskStatus::Processing,
            progress: 0,
            attempts: 1,
            max_attempts: 3,
            crashes: 0,
            external_id: None,
            error: None,
            priority: 0,
            version: 1,
            idempotency_key: None,
            retry_of: None,
            created_at: now,
            updated_at: now,
            started_at: Some(now),
            completed_at: None,
            expires_at: None,
            run_after: now,
            outputs: Vec::new(),
            owner: None,
            prompt_id: None,
            route: None,
            pool: String::new(),
            after: None,
            place: None,
            trace_context: None,
        }
    }

    /// A store over a fresh local directory (kept alive by the returned dir).
    fn local_store() -> (ObjectAssetStore, Option<tempfile::TempDir>) {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = Url::from_directory_path(dir.path()).expect("url");
        (ObjectAssetStore::from_url(url.as_str()).expect("store"), Some(dir))
    }

    fn gradient_png(width: u32, height: u32) -> Bytes {
        let img = RgbaImage::from_fn(width, height, |x, y| {
            Rgba([(x % 256) as u8, (y % 256) as u8, ((x * y) % 256) as u8, 255])
        });
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, ImageFormat::Png).expect("encode png");
        Bytes::from(out.into_inner())
    }

    fn png_output(parameters: Option<&str>) -> Output {
        Output::new(gradient_png(1024, 512), "image/png").with_parameters(parameters.map(str::to_owned))
    }

    async fn read_all(store: &ObjectAssetStore, key: &str, range: Option<Range<u64>>) -> (u64, Vec<u8>) {
        let read = store.open(key, range).await.expect("open").expect("exists");
        let chunks: Vec<Bytes> = read.stream.try_collect().await.expect("stream");
        (read.total_bytes, chunks.concat())
    }

    #[tokio::test]
    async fn saves_blob_and_thumbnail_to_a_directory_and_dedupes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("files");
        let url = Url::from_directory_path(&root).expect("file url");
        let store = ObjectAssetStore::from_url(url.as_str()).expect("store");
        assert!(root.is_dir(), "the directory is created");
        assert!(store.describe().starts_with("file:///"));
        store.health().await.expect("healthy");

        let task = task();
        let params = r#"{"prompt":"a red fox","seed":7}"#;
        let asset = store.save_output(&task, 0, png_output(Some(params))).await.expect("save");

        assert_eq!(asset.task_id, task.id);
        assert_eq!(asset.index, 0);
        assert_eq!(asset.mime, "image/png");
        assert_eq!((asset.width, asset.height), (Some(1024), Some(512)));
        assert_eq!(asset.sha256.len(), 64);
        assert_eq!(asset.blob_key, format!("blobs/{}/{}.png", &asset.sha256[..2], asset.sha256));
        let thumb_key = asset.thumbnail_key.clone().expect("thumbnail");
        assert_eq!(thumb_key, format!("thumbs/{}/{}.webp", &asset.sha256[..2], asset.sha256));
        assert!(asset.tags.is_empty());

        // On disk, under the content hash; the hash and size are those of the stored bytes.
        let on_disk = std::fs::read(root.join(&asset.blob_key)).expect("blob file");
        assert_eq!(on_disk.len() as u64, asset.bytes);
        assert_eq!(hex::encode(Sha256::digest(&on_disk)), asset.sha256);
        assert_eq!(read_png_text(&on_disk), vec![("parameters".to_owned(), params.to_owned())]);
        image::load_from_memory(&on_disk).expect("stored PNG decodes");

        let thumb = std::fs::read(root.join(&thumb_key)).expect("thumb file");
        let decoded = image::load_from_memory_with_format(&thumb, ImageFormat::WebP).expect("thumb decodes");
        assert_eq!((decoded.width(), decoded.height()), (256, 128));

        // The same output again: same keys, nothing rewritten, a new asset id.
        let again = store.save_output(&task, 1, png_output(Some(params))).await.expect("save again");
        assert_eq!(again.blob_key, asset.blob_key);
        assert_eq!(again.thumbnail_key, asset.thumbnail_key);
        assert_ne!(again.id, asset.id);

        // Other parameters make other bytes, so another blob.
        let other = store.save_output(&task, 2, png_output(Some("{}"))).await.expect("save other");
        assert_ne!(other.blob_key, asset.blob_key);

        // Whole and ranged reads.
        let (total, all) = read_all(&store, &asset.blob_key, None).await;
        assert_eq!(total, asset.bytes);
        assert_eq!(all, on_disk);
        let (total, part) = read_all(&store, &asset.blob_key, Some(10..110)).await;
        assert_eq!(total, asset.bytes);
        assert_eq!(part, on_disk[10..110]);
        let (_, tail) = read_all(&store, &asset.blob_key, Some(total - 5..total + 100)).await;
        assert_eq!(tail, on_disk[on_disk.len() - 5..]);
        let (_, empty) = read_all(&store, &asset.blob_key, Some(total + 1..total + 9)).await;
        assert!(empty.is_empty());

        // Missing and invalid keys name nothing.
        assert!(store.open("blobs/00/missing.png", None).await.expect("open").is_none());
        assert!(store.open("../etc/passwd", None).await.expect("open").is_none());

        // Delete, twice.
        store.delete(&asset.blob_key).await.expect("delete");
        store.delete(&asset.blob_key).await.expect("delete again");
        assert!(store.open(&asset.blob_key, None).await.expect("open").is_none());
        assert!(!root.join(&asset.blob_key).exists());
    }

    /// Photos' positions never reach the store: Exif GPS is stripped from JPEG,
    /// PNG and WebP outputs before hashing (the PNG's `parameters` stay), and the
    /// thumbnails, re-encoded, carry no Exif at all.
    #[tokio::test]
    async fn stored_images_and_their_thumbnails_carry_no_gps() {
        use atelier_places::gps_from_exif;
        use atelier_places::testing::{GpsBlock, exif_blob, jpeg_with, png_with, webp_with, xmp_packet};
        let (store, _dir) = local_store();
        let task = task();
        let exif = exif_blob(&GpsBlock::at(35.6895, 139.6917));
        let xmp = xmp_packet();
        let params = r#"{"prompt":"a red fox"}"#;
        let cases = [
            ("image/jpeg", jpeg_with(Some(&exif), Some(&xmp)), None),
            ("image/png", png_with(Some(&exif), Some(&xmp), &[]), Some(params)),
            ("image/webp", webp_with(Some(&exif), Some(&xmp)), None),
        ];
        for (index, (mime, bytes, parameters)) in (0u32..).zip(cases) {
            assert!(gps_from_exif(&bytes).is_some(), "{mime}: the fixture has a position");
            let output = Output::new(Bytes::from(bytes), mime).with_parameters(parameters.map(str::to_owned));
            let asset = store.save_output(&task, index, output).await.expect("save");
            let (_, stored) = read_all(&store, &asset.blob_key, None).await;
            assert_eq!(gps_from_exif(&stored), None, "{mime}: stored without its position");
            assert!(!stored.windows(4).any(|w| w == b"GPSL"), "{mime}: no XMP position either");
            assert_eq!(hex::encode(Sha256::digest(&stored)), asset.sha256, "{mime}: hashed as stored");
            image::load_from_memory(&stored).expect("still decodes");
            if parameters.is_some() {
                assert_eq!(read_png_text(&stored), vec![("parameters".to_owned(), params.to_owned())]);
            }
            let thumb_key = asset.thumbnail_key.expect("a thumbnail");
            let (_, thumbnail) = read_all(&store, &thumb_key, None).await;
            assert_eq!(gps_from_exif(&thumbnail), None, "{mime}: the thumbnail has no position");
            assert!(!thumbnail.windows(4).any(|w| w == b"EXIF" || w == b"Exif"), "{mime}: no Exif in the thumbnail");
        }
    }

    #[tokio::test]
    async fn memory_store_works_and_keeps_given_dimensions() {
        let store = ObjectAssetStore::from_url("memory://").expect("store");
        assert_eq!(store.describe(), "memory://");
        store.health().await.expect("healthy");

        let mut output = png_output(None);
        output.width = Some(1);
        output.height = Some(2);
        let original = output.bytes().cloned().expect("in memory");
        let asset = store.save_output(&task(), 0, output).await.expect("save");
        assert_eq!((asset.width, asset.height), (Some(1), Some(2)));
        let (_, stored) = read_all(&store, &asset.blob_key, None).await;
        assert_eq!(stored, original, "no parameters: stored as given");
        assert!(asset.thumbnail_key.is_some());
    }

    #[tokio::test]
    async fn non_images_and_svg_have_no_thumbnail() {
        let store = ObjectAssetStore::memory();
        let svg = Output::new(Bytes::from_static(b"<svg xmlns=\"http://www.w3.org/2000/svg\"/>"), "image/svg+xml")
            .with_parameters(Some("{}".into()));
        let asset = store.save_output(&task(), 0, svg).await.expect("save svg");
        assert!(asset.blob_key.ends_with(".svg"));
        assert_eq!(asset.thumbnail_key, None);
        assert_eq!((asset.width, asset.height), (None, None));

        let video = Output::new(Bytes::from_static(b"\0\0\0\x18ftypmp42"), "video/mp4").with_size(640, 360);
        let asset = store.save_output(&task(), 1, video).await.expect("save video");
        assert!(asset.blob_key.ends_with(".mp4"));
        assert_eq!(asset.thumbnail_key, None);
        assert_eq!((asset.width, asset.height), (Some(640), Some(360)));
    }

    #[tokio::test]
    async fn a_broken_image_is_stored_without_thumbnail() {
        let store = ObjectAssetStore::memory();
        let broken = Output::new(Bytes::from_static(b"this is not a png at all"), "image/png")
            .with_parameters(Some("{}".into()));
        let asset = store.save_output(&task(), 0, broken).await.expect("save");
        assert_eq!(asset.thumbnail_key, None);
        let (_, stored) = read_all(&store, &asset.blob_key, None).await;
        assert_eq!(stored, b"this is not a png at all");
    }

    #[tokio::test]
    async fn a_stream_is_stored_whole_under_its_hash_once() {
        for (store, _dir) in [(ObjectAssetStore::memory(), None), local_store()] {
            let parts = || (0..4u8).map(|n| Ok(Bytes::from(vec![n; 3 * 1024 * 1024]))).collect::<Vec<_>>();
            let whole: Vec<u8> = (0..4u8).flat_map(|n| vec![n; 3 * 1024 * 1024]).collect();
            let stream =
                |parts: Vec<std::io::Result<Bytes>>| Output::stream(Box::pin(stream::iter(parts)), "model/gltf-binary");
            let first = store.save_output(&task(), 0, stream(parts())).await.expect("save");
            assert_eq!((first.bytes, first.sha256.clone()), (whole.len() as u64, hex::encode(Sha256::digest(&whole))));
            assert!(first.blob_key.ends_with(".glb"), "{}", first.blob_key);
            assert_eq!(first.thumbnail_key, None);
            let (_, stored) = read_all(&store, &first.blob_key, None).await;
            assert!(stored == whole, "stored whole and in order");
            let again =
                store.save_output(&task(), 1, stream(parts()).with_role(OutputRole::Extra)).await.expect("again");
            assert_eq!((again.blob_key, again.role), (first.blob_key, OutputRole::Extra), "the same content, one blob");
            let broken = vec![Ok(Bytes::from_static(b"half")), Err(std::io::Error::other("the provider hung up"))];
            assert!(store.save_output(&task(), 2, stream(broken)).await.is_err(), "a broken stream stores nothing");
            let staging: Vec<_> = store.store.list(Some(&Path::from("staging"))).try_collect().await.expect("list");
            assert!(staging.is_empty(), "no staging objects are left: {staging:?}");
        }
    }

    #[tokio::test]
    async fn put_if_absent_writes_once() {
        let store = ObjectAssetStore::memory();
        let key = "blobs/ab/abc.bin";
        assert!(store.put_if_absent(key, Bytes::from_static(b"one"), "application/octet-stream").await.expect("put"));
        assert!(!store.put_if_absent(key, Bytes::from_static(b"two"), "application/octet-stream").await.expect("put"));
        let (_, stored) = read_all(&store, key, None).await;
        assert_eq!(stored, b"one");
    }

    #[test]
    fn from_url_rejects_bad_configuration() {
        assert!(matches!(ObjectAssetStore::from_url("ftp://host/x"), Err(AssetError::UnsupportedScheme(_))));
        assert!(matches!(ObjectAssetStore::from_url("not a url"), Err(AssetError::InvalidUrl(_))));
        assert!(matches!(ObjectAssetStore::from_url("file://relative/path"), Err(AssetError::InvalidUrl(_))));
        assert!(matches!(ObjectAssetStore::from_url("s3://key:secret@bucket/x"), Err(AssetError::InvalidUrl(_))));
        assert!(matches!(ObjectAssetStore::from_url("s3://bucket?nonsense=1"), Err(AssetError::InvalidUrl(_))));
        assert!(matches!(ObjectAssetStore::from_url("s3://bucket?allow_http=yes"), Err(AssetError::InvalidUrl(_))));
        // Credentials stay out of the URL, under any of their names.
        for query in [
            "secret_access_key=s",
            "aws_secret_access_key=s",
            "access_key_id=k",
            "token=t",
            "aws_session_token=t",
            "sse_customer_key_base64=a2V5",
        ] {
            let url = format!("s3://bucket/x?endpoint=http://127.0.0.1:9000&{query}");
            let error = ObjectAssetStore::from_url(&url).expect_err(query).to_string();
            assert!(error.contains("credential") && !error.contains("=s"), "{query}: {error}");
        }
        assert!(matches!(ObjectAssetStore::from_url("s3://bucket?bucket=other"), Err(AssetError::InvalidUrl(_))));
        assert!(matches!(ObjectAssetStore::local(FsPath::new("relative")), Err(AssetError::BadPath { .. })));
    }

    #[test]
    fn s3_url_configures_without_credentials_in_the_description() {
        let store = ObjectAssetStore::from_url(
            "s3://media/atelier/files?endpoint=http://127.0.0.1:9000&region=us-east-1&allow_http=true",
        )
        .expect("s3 store");
        assert_eq!(store.describe(), "s3://media/atelier/files");
        let store = ObjectAssetStore::from_url("s3://media").expect("s3 store");
        assert_eq!(store.describe(), "s3://media");
    }

    #[test]
    fn keys_and_extensions() {
        let sha = "ab".repeat(32);
        assert_eq!(blob_key(&sha, "image/jpeg"), format!("blobs/ab/{sha}.jpg"));
        assert_eq!(thumbnail_key(&sha), format!("thumbs/ab/{sha}.webp"));
        assert_eq!(extension_for("model/gltf-binary"), "glb");
        assert_eq!(extension_for("audio/mpeg"), "mp3");
        assert_eq!(extension_for("application/octet-stream"), "bin");
        assert_eq!(extension_for("IMAGE/PNG; x=1"), "png");
    }
}
