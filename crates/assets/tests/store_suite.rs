//! One asset-store suite, run on a local directory and on S3 (a fresh bucket on
//! moto's server per test, when `ATELIER_TEST_S3_ENDPOINT` names one: see
//! `atelier_testkit::s3`). Each test checks what the store wrote through a view of
//! the backend of its own (a `LocalFileSystem` over the directory, an S3 client with
//! its own credentials), not through the store under test.
//!
//! Outputs and their thumbnails, uploads, range reads, deletes (and deletes of what
//! is not there), listings, streams through multipart uploads, concurrent writes of
//! the same content, and the health probe. Lifecycles (retention, expiry) delete
//! through the same `delete` and find objects through the same listing.

#![allow(clippy::unwrap_used)]

use std::io::Cursor;
use std::sync::Arc;

use atelier_assets::ObjectAssetStore;
use atelier_core::ports::{AssetStore, Output};
use atelier_core::task::{NewTask, Task};
use atelier_core::time::now_millis;
use atelier_testkit::s3::TestBucket;
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt, stream};
use image::{ImageFormat, Rgba, RgbaImage};
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{Attribute, ObjectStore, ObjectStoreExt};
use sha2::{Digest, Sha256};

/// A store under test and an independent view of where it writes.
struct Backend {
    name: &'static str,
    store: ObjectAssetStore,
    raw: Arc<dyn ObjectStore>,
    /// The bucket, on S3.
    bucket: Option<TestBucket>,
    _dir: Option<tempfile::TempDir>,
}

impl Backend {
    /// A local directory always, S3 when a test server is configured.
    async fn all() -> Vec<Self> {
        let mut backends = vec![Self::local()];
        backends.extend(Self::s3().await);
        backends
    }

    fn local() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = url::Url::from_directory_path(dir.path()).unwrap();
        let store = ObjectAssetStore::from_url(url.as_str()).unwrap();
        let raw = Arc::new(LocalFileSystem::new_with_prefix(dir.path()).unwrap());
        Self { name: "local", store, raw, bucket: None, _dir: Some(dir) }
    }

    async fn s3() -> Option<Self> {
        let bucket = TestBucket::create().await?;
        let store = ObjectAssetStore::from_url(&bucket.storage_url()).expect("an S3 store on the test bucket");
        assert_eq!(store.describe(), format!("s3://{}", bucket.name));
        Some(Self { name: "s3", store, raw: bucket.client(), bucket: Some(bucket), _dir: None })
    }

    /// Every key under `prefix`, sorted, as the backend lists them.
    async fn keys(&self, prefix: &str) -> Vec<String> {
        let prefix = Path::from(prefix);
        let objects: Vec<_> = self.raw.list(Some(&prefix)).try_collect().await.unwrap();
        let mut keys: Vec<String> = objects.into_iter().map(|meta| meta.location.to_string()).collect();
        keys.sort();
        keys
    }

    /// An object's bytes as the backend holds them.
    async fn raw_bytes(&self, key: &str) -> Option<Bytes> {
        match self.raw.get(&Path::from(key)).await {
            Ok(result) => Some(result.bytes().await.unwrap()),
            Err(object_store::Error::NotFound { .. }) => None,
            Err(error) => panic!("{}: reading {key}: {error}", self.name),
        }
    }

    /// The content type the backend keeps for an object (S3 keeps one; a directory
    /// does not).
    async fn content_type(&self, key: &str) -> Option<String> {
        let result = self.raw.get(&Path::from(key)).await.unwrap();
        result.attributes.get(&Attribute::ContentType).map(|value| value.to_string())
    }

    /// Asserts the object's content type on S3 (where it is kept).
    async fn assert_content_type(&self, key: &str, mime: &str) {
        if self.bucket.is_some() {
            assert_eq!(self.content_type(key).await.as_deref(), Some(mime), "{}: the content type of {key}", self.name);
        }
    }
}

fn task() -> Task {
    NewTask::new("local", "test", serde_json::Value::Null, now_millis()).into_pending_task()
}

fn picture(width: u32, height: u32, format: ImageFormat) -> Bytes {
    let img =
        RgbaImage::from_fn(width, height, |x, y| Rgba([(x % 256) as u8, (y % 256) as u8, ((x ^ y) % 256) as u8, 255]));
    let mut out = Cursor::new(Vec::new());
    match format {
        ImageFormat::Jpeg => image::DynamicImage::ImageRgba8(img).to_rgb8().write_to(&mut out, format).unwrap(),
        _ => img.write_to(&mut out, format).unwrap(),
    }
    Bytes::from(out.into_inner())
}

/// Bytes that do not repeat (so that no range reads the same as another).
fn noise(len: usize, seed: u64) -> Bytes {
    let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    let bytes: Vec<u8> = (0..len)
        .map(|_| {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (state >> 56) as u8
        })
        .collect();
    Bytes::from(bytes)
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// What the store reads back for `key` (a range of it), with the total size.
async fn read(store: &ObjectAssetStore, key: &str, range: Option<std::ops::Range<u64>>) -> Option<(u64, Vec<u8>)> {
    let read = store.open(key, range).await.unwrap()?;
    let chunks: Vec<Bytes> = read.stream.try_collect().await.unwrap();
    Some((read.total_bytes, chunks.concat()))
}

#[tokio::test]
async fn outputs_and_their_thumbnails_are_stored_under_their_hash() {
    for backend in Backend::all().await {
        let name = backend.name;
        let store = &backend.store;
        let task = task();
        let params = r#"{"prompt":"a red fox","seed":7}"#;
        let png = picture(1024, 512, ImageFormat::Png);
        let asset = store
            .save_output(&task, 0, Output::new(png.clone(), "image/png").with_parameters(Some(params.into())))
            .await
            .unwrap();
        assert_eq!(asset.blob_key, format!("blobs/{}/{}.png", &asset.sha256[..2], asset.sha256), "{name}");
        let thumb_key = asset.thumbnail_key.clone().expect("a thumbnail");
        assert_eq!(thumb_key, format!("thumbs/{}/{}.webp", &asset.sha256[..2], asset.sha256), "{name}");
        assert_eq!((asset.width, asset.height), (Some(1024), Some(512)), "{name}");

        // What the backend holds: the PNG with its parameters, hashed as stored.
        let stored = backend.raw_bytes(&asset.blob_key).await.expect("the blob is in the backend");
        assert_eq!((stored.len() as u64, sha256_hex(&stored)), (asset.bytes, asset.sha256.clone()), "{name}");
        let text = atelier_assets::read_png_text(&stored);
        assert_eq!(text, vec![("parameters".to_owned(), params.to_owned())], "{name}");
        let thumbnail = backend.raw_bytes(&thumb_key).await.expect("the thumbnail is in the backend");
        let decoded = image::load_from_memory_with_format(&thumbnail, ImageFormat::WebP).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (256, 128), "{name}");
        backend.assert_content_type(&asset.blob_key, "image/png").await;
        backend.assert_content_type(&thumb_key, "image/webp").await;

        // Read back through the store, whole: the same bytes.
        let (total, whole) = read(store, &asset.blob_key, None).await.expect("opens");
        assert_eq!((total, &whole[..]), (asset.bytes, &stored[..]), "{name}");
        let (_, thumb) = read(store, &thumb_key, None).await.expect("opens");
        assert_eq!(thumb, thumbnail.to_vec(), "{name}");

        // The same output again: the same keys, a new asset, nothing else written.
        let again = store
            .save_output(&task, 1, Output::new(png.clone(), "image/png").with_parameters(Some(params.into())))
            .await
            .unwrap();
        assert_eq!((&again.blob_key, &again.thumbnail_key), (&asset.blob_key, &asset.thumbnail_key), "{name}");
        assert_ne!(again.id, asset.id, "{name}");
        assert_eq!(backend.keys("").await, vec![asset.blob_key.clone(), thumb_key.clone()], "{name}");

        // A GIF and a video without ffmpeg's help: the right extensions.
        let gif =
            store.save_output(&task, 2, Output::new(picture(40, 20, ImageFormat::Gif), "image/gif")).await.unwrap();
        assert!(gif.blob_key.ends_with(".gif") && gif.thumbnail_key.is_some(), "{name}: {gif:?}");
        backend.assert_content_type(&gif.blob_key, "image/gif").await;
    }
}

#[tokio::test]
async fn uploads_are_stored_with_a_thumbnail_when_they_are_pictures() {
    for backend in Backend::all().await {
        let name = backend.name;
        let store = &backend.store;
        let jpeg = picture(600, 300, ImageFormat::Jpeg);
        let upload = store.save_blob(jpeg.clone(), "image/jpeg").await.unwrap();
        assert!(upload.blob_key.ends_with(".jpg"), "{name}: {}", upload.blob_key);
        assert_eq!((upload.width, upload.height, upload.bytes), (Some(600), Some(300), jpeg.len() as u64), "{name}");
        assert_eq!(backend.raw_bytes(&upload.blob_key).await.as_ref(), Some(&jpeg), "{name}: stored as sent");
        let thumb_key = upload.thumbnail_key.expect("a JPEG upload has a thumbnail");
        let thumbnail = backend.raw_bytes(&thumb_key).await.expect("the thumbnail is in the backend");
        let decoded = image::load_from_memory_with_format(&thumbnail, ImageFormat::WebP).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (256, 128), "{name}");
        backend.assert_content_type(&upload.blob_key, "image/jpeg").await;

        // A file that is no picture: stored, no thumbnail.
        let pdf = Bytes::from_static(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n");
        let document = store.save_blob(pdf.clone(), "application/pdf").await.unwrap();
        assert!(document.blob_key.ends_with(".pdf") && document.thumbnail_key.is_none(), "{name}: {document:?}");
        assert_eq!(backend.raw_bytes(&document.blob_key).await.as_ref(), Some(&pdf), "{name}");
        backend.assert_content_type(&document.blob_key, "application/pdf").await;

        // An empty file is a file too: stored, read back empty, whole or in part.
        let empty = store.save_blob(Bytes::new(), "application/octet-stream").await.unwrap();
        assert_eq!(empty.sha256, sha256_hex(b""), "{name}");
        assert_eq!(read(store, &empty.blob_key, None).await, Some((0, Vec::new())), "{name}");
        assert_eq!(read(store, &empty.blob_key, Some(0..0)).await, Some((0, Vec::new())), "{name}");
        assert_eq!(read(store, &empty.blob_key, Some(0..10)).await, Some((0, Vec::new())), "{name}");
    }
}

#[tokio::test]
async fn range_reads_return_exactly_the_bytes_asked_for() {
    for backend in Backend::all().await {
        let name = backend.name;
        let store = &backend.store;
        let bytes = noise(300 * 1024 + 7, 1);
        let total = bytes.len() as u64;
        let blob = store.save_blob(bytes.clone(), "application/octet-stream").await.unwrap();
        let cases: [(std::ops::Range<u64>, std::ops::Range<usize>); 7] = [
            (0..1, 0..1),
            (10..110, 10..110),
            (100_000..200_001, 100_000..200_001),
            (total - 5..total, bytes.len() - 5..bytes.len()),
            // Past the end: what there is.
            (total - 5..total + 100, bytes.len() - 5..bytes.len()),
            // Nothing of the blob in the range: empty, the size still told.
            (total + 1..total + 9, 0..0),
            (0..0, 0..0),
        ];
        for (range, expected) in cases {
            let (size, part) = read(store, &blob.blob_key, Some(range.clone())).await.expect("opens");
            assert_eq!(size, total, "{name}: {range:?}");
            assert!(part[..] == bytes[expected.clone()], "{name}: {range:?} read {} bytes", part.len());
        }
        let (size, whole) = read(store, &blob.blob_key, None).await.expect("opens");
        assert!(size == total && whole[..] == bytes[..], "{name}: the whole blob");
        // The backend's own ranged read agrees.
        let direct = backend.raw.get_range(&Path::from(blob.blob_key.as_str()), 1000..1100).await.unwrap();
        assert_eq!(direct, bytes.slice(1000..1100), "{name}");
    }
}

#[tokio::test]
async fn deletes_remove_the_objects_and_deleting_what_is_not_there_is_no_error() {
    for backend in Backend::all().await {
        let name = backend.name;
        let store = &backend.store;
        let kept =
            store.save_output(&task(), 0, Output::new(picture(64, 64, ImageFormat::Png), "image/png")).await.unwrap();
        let gone =
            store.save_output(&task(), 0, Output::new(picture(80, 40, ImageFormat::Png), "image/png")).await.unwrap();
        let gone_thumb = gone.thumbnail_key.clone().unwrap();
        assert_eq!(backend.keys("").await.len(), 4, "{name}");

        store.delete(&gone.blob_key).await.unwrap();
        store.delete(&gone_thumb).await.unwrap();
        assert!(backend.raw_bytes(&gone.blob_key).await.is_none(), "{name}: the blob is gone from the backend");
        assert!(read(store, &gone.blob_key, None).await.is_none(), "{name}: opening a deleted blob finds nothing");
        assert!(read(store, &gone_thumb, Some(0..10)).await.is_none(), "{name}");
        let mut left = vec![kept.blob_key.clone(), kept.thumbnail_key.clone().unwrap()];
        left.sort();
        assert_eq!(backend.keys("").await, left, "{name}: the other output is untouched");

        // Again, a key that never was, and keys that are no keys: no error, nothing opened.
        store.delete(&gone.blob_key).await.unwrap();
        store.delete(&format!("blobs/00/{}.png", "0".repeat(64))).await.unwrap();
        for key in ["", "../etc/passwd", "blobs//x", "blobs/./x"] {
            store.delete(key).await.unwrap_or_else(|e| panic!("{name}: deleting {key:?}: {e}"));
            assert!(read(store, key, None).await.is_none(), "{name}: opening {key:?}");
        }
        assert_eq!(backend.keys("").await, left, "{name}");
    }
}

/// What an expiry sweep (retention) works with: a listing of what is stored with
/// each object's size and time, and deletes of what it names.
#[tokio::test]
async fn listings_show_each_object_with_its_size_and_time() {
    for backend in Backend::all().await {
        let name = backend.name;
        let store = &backend.store;
        let before = now_millis() - 5_000;
        let mut stored = Vec::new();
        for n in 0..5u64 {
            let blob = store.save_blob(noise(1000 + n as usize, n), "application/octet-stream").await.unwrap();
            stored.push(blob);
        }
        let after = now_millis() + 5_000;
        let listed: Vec<_> = backend.raw.list(Some(&Path::from("blobs"))).try_collect().await.unwrap();
        assert_eq!(listed.len(), 5, "{name}: {listed:?}");
        for blob in &stored {
            let meta = listed.iter().find(|meta| meta.location.as_ref() == blob.blob_key).expect("listed");
            assert_eq!(meta.size, blob.bytes, "{name}");
            let modified = meta.last_modified.timestamp_millis();
            assert!((before..after).contains(&modified), "{name}: modified at {modified}");
        }
        // A sweep deleting the listed objects, some at once: nothing is left.
        let deletes = stored.iter().map(|blob| store.delete(&blob.blob_key));
        futures::future::try_join_all(deletes).await.unwrap();
        assert!(backend.keys("blobs").await.is_empty(), "{name}");
        assert!(backend.keys("").await.is_empty(), "{name}: nothing else was written (no staging, no probe)");
    }
}

/// A streamed output (a video, a model) is written part by part to a staging
/// object (a multipart upload on S3), then put under its hash; nothing staged is
/// left, and a stream that breaks stores nothing.
#[tokio::test]
async fn a_large_stream_is_stored_whole_through_a_multipart_upload() {
    for backend in Backend::all().await {
        let name = backend.name;
        let store = &backend.store;
        // 13 MiB in parts of uneven sizes: three 5 MiB parts on S3, the last short.
        let sizes = [3 << 20, 1, (4 << 20) - 1, 5 << 20, 1 << 20];
        let parts: Vec<Bytes> = sizes.iter().enumerate().map(|(n, &len)| noise(len, n as u64)).collect();
        let whole: Vec<u8> = parts.concat();
        let output = |parts: Vec<Bytes>| {
            let stream = stream::iter(parts.into_iter().map(Ok::<_, std::io::Error>)).boxed();
            Output::stream(stream, "model/gltf-binary")
        };
        let first = store.save_output(&task(), 0, output(parts.clone())).await.unwrap();
        assert_eq!((first.bytes, &first.sha256), (whole.len() as u64, &sha256_hex(&whole)), "{name}");
        assert_eq!(first.blob_key, format!("blobs/{}/{}.glb", &first.sha256[..2], first.sha256), "{name}");
        let stored = backend.raw_bytes(&first.blob_key).await.expect("the blob is in the backend");
        assert!(stored[..] == whole[..], "{name}: stored whole and in order ({} bytes)", stored.len());
        backend.assert_content_type(&first.blob_key, "model/gltf-binary").await;
        let (_, tail) = read(store, &first.blob_key, Some(first.bytes - 10..first.bytes)).await.unwrap();
        assert!(tail[..] == whole[whole.len() - 10..], "{name}");

        // The same stream again: one blob.
        let again = store.save_output(&task(), 1, output(parts.clone())).await.unwrap();
        assert_eq!(again.blob_key, first.blob_key, "{name}");

        // A stream that breaks after 6 MiB (a part is uploaded already on S3).
        let broken =
            stream::iter(vec![Ok(noise(6 << 20, 9)), Err(std::io::Error::other("the provider hung up"))]).boxed();
        let error = store.save_output(&task(), 2, Output::stream(broken, "video/mp4")).await.unwrap_err();
        assert!(error.to_string().contains("hung up"), "{name}: {error}");
        assert_eq!(backend.keys("").await, vec![first.blob_key.clone()], "{name}: no staging object is left");
        if let Some(bucket) = &backend.bucket {
            assert_eq!(bucket.pending_uploads().await, Vec::<String>::new(), "the broken upload was aborted");
        }
    }
}

/// Workers saving the same content at once (a retried task, the same upload twice):
/// every save succeeds and names the one blob.
#[tokio::test]
async fn concurrent_saves_of_the_same_content_agree() {
    for backend in Backend::all().await {
        let name = backend.name;
        let store = &backend.store;
        let png = picture(300, 200, ImageFormat::Png);
        let saves = (0..8).map(|_| store.save_blob(png.clone(), "image/png"));
        let blobs = futures::future::try_join_all(saves).await.unwrap();
        assert!(blobs.iter().all(|blob| blob.blob_key == blobs[0].blob_key), "{name}");
        assert_eq!(backend.raw_bytes(&blobs[0].blob_key).await, Some(png), "{name}");
        assert_eq!(backend.keys("").await.len(), 2, "{name}: one blob and its thumbnail");
    }
}

#[tokio::test]
async fn the_health_probe_writes_reads_and_removes_its_object() {
    for backend in Backend::all().await {
        backend.store.health().await.unwrap();
        assert!(backend.keys("").await.is_empty(), "{}: the probe is removed", backend.name);
        assert_eq!(backend.store.free_space().is_some(), backend.bucket.is_none(), "{}", backend.name);
    }
}

/// `s3://bucket/prefix`: everything under the prefix, nothing beside it.
#[tokio::test]
async fn an_s3_prefix_keeps_the_store_inside_it() {
    let Some(bucket) = TestBucket::create().await else { return };
    let store = ObjectAssetStore::from_url(&bucket.storage_url_under("atelier/files")).unwrap();
    assert_eq!(store.describe(), format!("s3://{}/atelier/files", bucket.name));
    let output = Output::new(picture(64, 32, ImageFormat::Png), "image/png");
    let asset = store.save_output(&task(), 0, output).await.unwrap();
    let thumb_key = asset.thumbnail_key.clone().unwrap();
    let expected = vec![format!("atelier/files/{}", asset.blob_key), format!("atelier/files/{thumb_key}")];
    assert_eq!(bucket.keys(None).await, expected);
    assert_eq!(read(&store, &asset.blob_key, Some(0..8)).await.unwrap().1, b"\x89PNG\r\n\x1a\n");
    store.delete(&asset.blob_key).await.unwrap();
    assert_eq!(bucket.keys(None).await, vec![format!("atelier/files/{thumb_key}")]);
}

/// A bucket that is not there: the health probe says so (and the server's readiness
/// with it), rather than writes failing later.
#[tokio::test]
async fn a_missing_bucket_fails_the_health_probe() {
    let Some(bucket) = TestBucket::create().await else { return };
    let missing = TestBucket { name: format!("{}-missing", bucket.name), ..bucket };
    let store = ObjectAssetStore::from_url(&missing.storage_url()).unwrap();
    let error = store.health().await.unwrap_err();
    assert!(error.to_string().contains("health/probe-"), "{error}");
}
