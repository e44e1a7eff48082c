//! The asset store: blobs through object_store, named by content hash, and thumbnails.
//! Knows no HTTP and no SQL.
//!
//! [`ObjectAssetStore`] implements `atelier_core::ports::AssetStore` over a local
//! directory, S3 (or an S3-compatible server) or memory. Outputs are stored under
//! `blobs/<2 hex>/<sha256>.<ext>`, raster images get a WebP thumbnail that fits in
//! 256×256 under `thumbs/<2 hex>/<sha256>.webp` (videos: a poster frame, when ffmpeg is
//! installed; GLB models: a drawing of the model, `model_still`), and PNG outputs carry their
//! generation parameters in a `parameters` text chunk. Every file is vetted first
//! ([`vet`]: a pixel budget read from the header, frame and duration caps, a full
//! decode under limits); `hostile` (feature `testing`) makes the corpus of bombs and
//! broken files the tests and the bench feed it.

#[cfg(any(test, feature = "testing"))]
pub mod hostile;
pub mod media;
pub mod model_still;
pub mod png_text;
pub mod poster;
pub mod store;
pub mod thumbnail;
pub mod vet;

pub use png_text::{PngTextError, embed_png_text, read_png_text};
pub use store::{
    AssetError, ObjectAssetStore, PARAMETERS_KEYWORD, blob_key, extension_for, refused_error, thumbnail_key,
};
pub use thumbnail::{
    THUMBNAIL_MAX, THUMBNAIL_MIME, Thumbnail, ThumbnailError, fit_within, image_dimensions, make_thumbnail,
    raster_format, sniff_image_mime, thumbnail_for,
};
pub use vet::{ImageFacts, MediaLimits, VetError, VettedImage, inspect_image, vet_image, vet_media};
