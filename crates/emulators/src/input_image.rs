//! Input images sent inside JSON bodies as base64 text or data URLs, the way
//! the self-hosted Stable Diffusion servers take them (AUTOMATIC1111's
//! `init_images` and `mask`, sd.cpp's `init_image`, `mask_image` and
//! `init_images`), and files (sd.cpp's multipart edits, the images uploaded
//! to ComfyUI that its `LoadImage` reads): read as far as an emulator needs,
//! their size and a digest of their bytes.
//!
//! Like the servers (PIL's `Image.open`, stb_image), only the header is read:
//! a PNG, JPEG or WebP whose header says its size counts as an image.

use std::io::Cursor;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use sha2::{Digest, Sha256};

/// An input image: its size and the SHA-256 of its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct InputImage {
    pub(crate) width: u32,
    pub(crate) height: u32,
    pub(crate) digest: [u8; 32],
}

/// The base64 text of `text`: the part after the comma of a data URL
/// (`data:image/png;base64,…`), else `text` itself.
pub(crate) fn payload(text: &str) -> &str {
    let text = text.trim();
    match text.strip_prefix("data:") {
        Some(rest) => rest.split_once(',').map_or("", |(_, data)| data),
        None => text,
    }
}

/// Decodes base64 leniently: whitespace ignored, standard or URL-safe
/// alphabet, padded or not.
pub(crate) fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    if compact.is_empty() {
        return None;
    }
    [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD].iter().find_map(|engine| engine.decode(&compact).ok())
}

/// Reads an image's header: its size, or why it is not an image.
pub(crate) fn from_bytes(bytes: &[u8]) -> Result<InputImage, String> {
    let reader = image::ImageReader::new(Cursor::new(bytes)).with_guessed_format().map_err(|e| e.to_string())?;
    if reader.format().is_none() {
        return Err("not a PNG, JPEG or WebP image".into());
    }
    let (width, height) = reader.into_dimensions().map_err(|e| e.to_string())?;
    if width == 0 || height == 0 {
        return Err("the image is empty".into());
    }
    Ok(InputImage { width, height, digest: Sha256::digest(bytes).into() })
}

/// Reads an image sent as base64 text or a data URL.
pub(crate) fn from_text(text: &str) -> Result<InputImage, String> {
    let bytes = decode_base64(payload(text)).ok_or("not base64")?;
    from_bytes(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let img = image::RgbImage::from_pixel(width, height, image::Rgb([1, 2, 3]));
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Png).expect("png");
        out.into_inner()
    }

    #[test]
    fn images_read_from_base64_or_data_urls() {
        let encoded = STANDARD.encode(png(40, 24));
        let plain = from_text(&encoded).expect("an image");
        assert_eq!((plain.width, plain.height), (40, 24));
        let url = from_text(&format!("data:image/png;base64,{encoded}")).expect("an image");
        assert_eq!(url, plain);
        let wrapped: String =
            encoded.as_bytes().chunks(10).map(|c| String::from_utf8_lossy(c).into_owned() + "\n").collect();
        assert_eq!(from_text(&wrapped), Ok(plain));
        assert!(from_text("not base64!").is_err());
        assert!(from_text(&STANDARD.encode(b"plain text, not an image")).is_err());
        assert!(from_text("").is_err());
        assert_eq!(payload("data:image/png;base64"), "");
    }
}
