//! Input files for providers (`atelier_core::ports::InputFiles`): uploads and
//! earlier outputs read from the asset store, data URIs decoded, URLs downloaded
//! under the SSRF policy of `fetch.rs`, and the cache of what each provider holds
//! for us.

use std::sync::Arc;

use async_trait::async_trait;
use atelier_core::TaskId;
use atelier_core::ports::{
    AssetStore, ErrorClass, InputCopy, InputFile, InputFiles, InputRef, ProviderError, ProviderUpload, Store,
};
use atelier_core::time::now_millis;
use base64::Engine;
use bytes::{Bytes, BytesMut};
use futures::TryStreamExt;

use atelier_assets::MediaLimits;
use atelier_core::ports::short_reference;

use crate::fetch::{FetchError, FetchPolicy};
use sha2::{Digest, Sha256};

/// The largest input file opened (a provider's own limits are smaller).
const MAX_INPUT_BYTES: usize = 50 * 1024 * 1024;

pub struct StoredInputs {
    store: Arc<dyn Store>,
    assets: Arc<dyn AssetStore>,
    fetch: FetchPolicy,
    /// What a data URI's or a download's file must keep to (stored files were
    /// vetted when stored).
    limits: MediaLimits,
}

impl StoredInputs {
    pub fn new(store: Arc<dyn Store>, assets: Arc<dyn AssetStore>, fetch: FetchPolicy) -> Self {
        Self { store, assets, fetch, limits: MediaLimits::default() }
    }

    /// The same, vetting files from outside against `limits` (the `[media]` section).
    #[must_use]
    pub fn with_limits(mut self, limits: MediaLimits) -> Self {
        self.limits = limits;
        self
    }

    async fn read_blob(&self, key: &str, mime: &str, name: String) -> Result<InputFile, ProviderError> {
        let storage = |error: String| ProviderError::new(ErrorClass::ServerError, format!("reading {name}: {error}"));
        let read = self.assets.open(key, None).await.map_err(|e| storage(e.to_string()))?;
        let Some(read) = read else { return Err(missing(&name)) };
        let mut bytes = BytesMut::with_capacity(usize::try_from(read.total_bytes).unwrap_or(0));
        let mut stream = read.stream;
        while let Some(chunk) = stream.try_next().await.map_err(|e| storage(e.to_string()))? {
            bytes.extend_from_slice(&chunk);
        }
        Ok(file(bytes.freeze(), mime.to_owned(), name))
    }

    async fn download(&self, url: &str) -> Result<InputFile, ProviderError> {
        let fetched = self.fetch.get(url).await.map_err(|error| {
            let class = match &error {
                FetchError::Refused(_) => ErrorClass::ClientError,
                FetchError::Failed(_) => ErrorClass::Timeout,
                FetchError::Status(status) if *status >= 500 => ErrorClass::ServerError,
                FetchError::Status(_) => ErrorClass::ClientError,
            };
            ProviderError::new(class, format!("the input {url}: {error}"))
        })?;
        let name = url.split(['?', '#']).next().unwrap_or(url).rsplit('/').next().unwrap_or("input").to_owned();
        let mime =
            atelier_assets::sniff_image_mime(&fetched.bytes).map(str::to_owned).or(fetched.mime).unwrap_or_default();
        let bytes = vet(fetched.bytes, &mime, &self.limits, url).await?;
        Ok(file(bytes, mime, if name.is_empty() { "input".into() } else { name }))
    }
}

/// Vets a file from outside (a data URI's, a download's) on a blocking thread:
/// an image whatever its label (`atelier_assets::vet_image`: the pixel budget from
/// its header, then a decode), audio and video by their type. A refusal is the
/// input's fault: `ClientError`, never retried, its message naming the code.
async fn vet(bytes: Bytes, mime: &str, limits: &MediaLimits, what: &str) -> Result<Bytes, ProviderError> {
    let (mime, limits, checked) = (mime.to_owned(), limits.clone(), bytes.clone());
    let vetted = tokio::task::spawn_blocking(move || {
        if atelier_assets::sniff_image_mime(&checked).is_some() {
            atelier_assets::vet_image(checked, &limits).map(|_| ())
        } else {
            atelier_assets::vet_media(&checked, &mime, &limits).map(|_| ())
        }
    })
    .await
    .map_err(|error| ProviderError::new(ErrorClass::ServerError, format!("vetting the input {what}: {error}")))?;
    match vetted {
        Ok(()) => Ok(bytes),
        Err(refused) => Err(ProviderError::new(
            ErrorClass::ClientError,
            format!("the input {} was refused ({}): {refused}", short_reference(what), refused.code()),
        )
        .with_code(refused.code())),
    }
}

fn missing(name: &str) -> ProviderError {
    ProviderError::new(ErrorClass::ClientError, format!("the input file {name} no longer exists"))
}

fn file(bytes: Bytes, mime: String, name: String) -> InputFile {
    let bytes = without_location(bytes, &mime);
    let sha256 = hex::encode(Sha256::digest(&bytes));
    InputFile { bytes, mime, sha256, name }
}

/// A JPEG, PNG or WebP input without its location metadata (Exif GPS, XMP,
/// IPTC): a user's photo never reaches a remote provider saying where it was
/// taken. Stored files are stripped already (the asset store does it); this holds
/// for files stored before that, data URIs and downloads too. Anything else, or an
/// image whose structure cannot be read, goes as it is.
fn without_location(bytes: Bytes, mime: &str) -> Bytes {
    let essence = mime.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    if !matches!(essence.as_str(), "image/jpeg" | "image/png" | "image/webp") {
        return bytes;
    }
    match atelier_places::strip_metadata(&bytes) {
        Ok(Some(stripped)) => Bytes::from(stripped),
        Ok(None) => bytes,
        Err(error) => {
            tracing::warn!(%error, mime = essence, "could not strip an input image's metadata; sending it as it is");
            bytes
        }
    }
}

/// Decodes `data:<mime>;base64,<data>`.
pub fn decode_data_uri(uri: &str) -> Result<(String, Bytes), ProviderError> {
    let invalid = |why: &str| ProviderError::new(ErrorClass::ClientError, format!("invalid data URI: {why}"));
    let rest = uri.strip_prefix("data:").ok_or_else(|| invalid("no data: prefix"))?;
    let (header, data) = rest.split_once(',').ok_or_else(|| invalid("no comma"))?;
    let mime = header.strip_suffix(";base64").ok_or_else(|| invalid("not base64"))?;
    let bytes =
        base64::engine::general_purpose::STANDARD.decode(data.trim()).map_err(|error| invalid(&error.to_string()))?;
    if bytes.len() > MAX_INPUT_BYTES {
        return Err(invalid(&format!("larger than {MAX_INPUT_BYTES} bytes")));
    }
    let bytes = Bytes::from(bytes);
    let mime = atelier_assets::sniff_image_mime(&bytes).map_or_else(|| mime.to_ascii_lowercase(), str::to_owned);
    Ok((mime, bytes))
}

#[async_trait]
impl InputFiles for StoredInputs {
    async fn open(&self, reference: &InputRef) -> Result<InputFile, ProviderError> {
        let storage = |error: atelier_core::CoreError| ProviderError::new(ErrorClass::ServerError, error.to_string());
        match reference {
            InputRef::Upload(id) => {
                let upload = self.store.get_upload(id).await.map_err(storage)?.ok_or_else(|| missing(id.as_str()))?;
                let name = format!("{}.{}", upload.id, atelier_assets::extension_for(&upload.mime));
                self.read_blob(&upload.blob_key, &upload.mime, name).await
            }
            InputRef::Output(id) => {
                let asset = self.store.get_asset(id).await.map_err(storage)?.ok_or_else(|| missing(id.as_str()))?;
                let name = format!("{}.{}", asset.id, atelier_assets::extension_for(&asset.mime));
                self.read_blob(&asset.blob_key, &asset.mime, name).await
            }
            InputRef::Task(id) => {
                let task = self.store.get_task(*id).await.map_err(storage)?.ok_or_else(|| missing(&id.to_string()))?;
                let Some(asset) =
                    task.outputs.iter().find(|asset| asset.role == atelier_core::task::OutputRole::Primary)
                else {
                    return Err(ProviderError::new(
                        ErrorClass::ClientError,
                        format!("the task {id} this input names is {} and has no output", task.status),
                    ));
                };
                let name = format!("{}.{}", asset.id, atelier_assets::extension_for(&asset.mime));
                self.read_blob(&asset.blob_key, &asset.mime, name).await
            }
            InputRef::DataUri(uri) => {
                let (mime, bytes) = decode_data_uri(uri)?;
                let bytes = vet(bytes, &mime, &self.limits, uri).await?;
                let name = format!("input.{}", atelier_assets::extension_for(&mime));
                Ok(file(bytes, mime, name))
            }
            InputRef::Url(url) => self.download(url).await,
        }
    }

    async fn cached_upload(&self, service: &str, key: &str, margin_ms: i64) -> Option<ProviderUpload> {
        match self.store.provider_upload(service, key, now_millis() + margin_ms).await {
            Ok(found) => found,
            Err(error) => {
                tracing::warn!(service, %error, "could not read the provider upload cache; uploading again");
                None
            }
        }
    }

    async fn remember_upload(&self, service: &str, key: &str, upload: &ProviderUpload) {
        if let Err(error) = self.store.remember_provider_upload(service, key, upload, now_millis()).await {
            tracing::warn!(service, %error, "could not record a provider upload; the next task uploads again");
        }
    }

    async fn record_copy(&self, task: TaskId, copy: &InputCopy) {
        if let Err(error) = self.store.record_input_copy(&task, copy, now_millis()).await {
            tracing::warn!(task.id = %task, %error, "could not record a task's input copy; its view will not show it");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_uris_decode_and_sniff() {
        let (mime, bytes) = decode_data_uri("data:application/octet-stream;base64,aGVsbG8=").expect("decodes");
        assert_eq!(mime, "application/octet-stream");
        assert_eq!(&bytes[..], b"hello");
        assert!(decode_data_uri("data:image/png;base64,***").is_err());
        assert!(decode_data_uri("data:image/png,abc").is_err());
    }

    /// Whatever an input image is read from, a provider gets it without its GPS.
    #[test]
    fn input_images_go_without_their_position() {
        use atelier_places::testing::{GpsBlock, exif_blob, jpeg_with, png_with};
        let exif = exif_blob(&GpsBlock::at(-1.2864, 36.8172));
        for (mime, bytes) in
            [("image/jpeg", jpeg_with(Some(&exif), None)), ("image/png", png_with(Some(&exif), None, &[]))]
        {
            assert!(atelier_places::gps_from_exif(&bytes).is_some());
            let input = file(Bytes::from(bytes), mime.to_owned(), "photo".to_owned());
            assert_eq!(atelier_places::gps_from_exif(&input.bytes), None, "{mime}");
            assert_eq!(input.sha256, hex::encode(Sha256::digest(&input.bytes)));
        }
        let text = file(Bytes::from_static(b"Exif"), "text/plain".to_owned(), "note".to_owned());
        assert_eq!(&text.bytes[..], b"Exif");
    }
}

#[cfg(test)]
mod vetting {
    use super::*;

    /// A bomb given as a data URI or a download is the input's fault, refused
    /// before a provider sees it; an ordinary picture goes on unchanged.
    #[tokio::test]
    async fn hostile_inputs_are_refused_as_client_errors() {
        let limits = MediaLimits::default();
        for hostile in atelier_assets::hostile::corpus() {
            let error = vet(Bytes::from(hostile.bytes), hostile.mime, &limits, "data:x;base64,AAAA")
                .await
                .expect_err(hostile.name);
            assert_eq!(error.class, ErrorClass::ClientError, "{}", hostile.name);
            assert!(error.message.contains(hostile.code), "{}: {}", hostile.name, error.message);
        }
        let png = Bytes::from(atelier_assets::hostile::small(image::ImageFormat::Png));
        assert_eq!(vet(png.clone(), "image/png", &limits, "https://x/y.png").await.expect("ordinary"), png);
    }
}
