//! A provider's image as an output: its type read from its bytes (never from what
//! the provider said it was), and its size.

use std::io::Cursor;

use atelier_core::ports::{ErrorClass, Output, ProviderError};

/// The image in `bytes` as an output: PNG, JPEG or WebP, with its size. `who`
/// names the sender in errors ("VolcEngine").
pub fn image_output(bytes: bytes::Bytes, who: &str) -> Result<Output, ProviderError> {
    let unreadable = |what: &str| ProviderError::new(ErrorClass::MalformedResponse, format!("{who} sent {what}"));
    let reader = image::ImageReader::new(Cursor::new(&bytes[..]))
        .with_guessed_format()
        .map_err(|_| unreadable("an image that cannot be read"))?;
    let mime = match reader.format() {
        Some(image::ImageFormat::Png) => "image/png",
        Some(image::ImageFormat::Jpeg) => "image/jpeg",
        Some(image::ImageFormat::WebP) => "image/webp",
        _ => return Err(unreadable("something that is not a PNG, JPEG or WebP image")),
    };
    let (width, height) = reader.into_dimensions().map_err(|_| unreadable("an image whose size cannot be read"))?;
    Ok(Output::new(bytes, mime).with_size(width, height))
}
