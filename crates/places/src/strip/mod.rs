//! Removing location-bearing metadata from uploaded images, without re-encoding them.
//!
//! What is removed, per format, and why, is told on [`strip_metadata`].

mod jpeg;
mod png;
mod webp;

use exif::{In, Tag};

use crate::StripError;

#[cfg(any(test, feature = "testing"))]
pub(crate) use png::crc32 as png_crc32;

/// The image with its location-bearing metadata removed, or `None` when there was
/// nothing to remove (the input is then fine to store as it is).
///
/// What goes, per format, and why:
///
/// - **JPEG**: every APP1 segment (Exif, XMP and extended XMP are its only users;
///   Exif carries the GPS block, XMP can repeat it as `exif:GPSLatitude`), APP13
///   "Photoshop 3.0" (IPTC city and country names, and Photoshop's own copies of
///   Exif and XMP), and whatever follows the end-of-image marker (motion-photo
///   videos and MPF secondary images, which carry Exif of their own) together with
///   the APP2 "MPF" index that points into it.
/// - **PNG**: the eXIf chunk; iTXt/tEXt/zTXt chunks whose keyword is
///   `XML:com.adobe.xmp` (XMP) or `Raw profile type exif|app1|xmp|iptc|8bim`
///   (ImageMagick's and exiftool's hex copies of the same blocks); anything after
///   IEND. Other text chunks stay: the server writes its generation parameters into
///   a tEXt chunk.
/// - **WebP**: the EXIF and `XMP ` chunks (only an extended, VP8X, file should have
///   them), with the VP8X header's EXIF and XMP flags cleared to match, and the
///   RIFF size fixed; anything after the RIFF chunk.
///
/// Everything else is copied byte for byte: the compressed image data, colour
/// profiles (APP2 ICC, iCCP, ICCP), JFIF/Adobe headers, comments, animation frames.
///
/// One piece of Exif is put back: a non-default Orientation, as a minimal Exif block
/// holding that tag alone, so that a phone photo taken sideways is not shown sideways
/// once stripped.
///
/// Fails for formats other than JPEG, PNG and WebP, and for files of those
/// formats whose structure is broken (a truncated chunk, a length past the end):
/// what such a file hides cannot be known. A JPEG whose last scan is cut short (no
/// end-of-image marker) is accepted, as decoders accept it.
pub fn strip_metadata(bytes: &[u8]) -> Result<Option<Vec<u8>>, StripError> {
    let stripped = if jpeg::is_jpeg(bytes) {
        jpeg::strip(bytes)?
    } else if png::is_png(bytes) {
        png::strip(bytes)?
    } else if webp::is_webp(bytes) {
        webp::strip(bytes)?
    } else {
        return Err(StripError::UnsupportedFormat);
    };
    Ok((stripped != bytes).then_some(stripped))
}

/// What to put back in place of a removed Exif block (a TIFF structure, without
/// JPEG's `Exif\0\0` prefix): a minimal block holding its Orientation, when that is
/// one of the seven values that turn or flip the image.
fn kept_exif(tiff: &[u8]) -> Option<Vec<u8>> {
    let mut reader = exif::Reader::new();
    reader.continue_on_error(true);
    let exif = match reader.read_raw(tiff.to_vec()) {
        Ok(exif) => exif,
        Err(e) => e.distill_partial_result(|_ignored| {}).ok()?,
    };
    let orientation = exif.get_field(Tag::Orientation, In::PRIMARY)?.value.get_uint(0)?;
    let orientation = u16::try_from(orientation).ok().filter(|o| (2..=8).contains(o))?;
    Some(orientation_exif(orientation))
}

/// A big-endian TIFF header and one IFD with one entry: Orientation (0x0112), a
/// SHORT. 26 bytes.
fn orientation_exif(orientation: u16) -> Vec<u8> {
    let mut tiff = Vec::with_capacity(26);
    tiff.extend_from_slice(b"MM\x00\x2a");
    tiff.extend_from_slice(&8u32.to_be_bytes());
    tiff.extend_from_slice(&1u16.to_be_bytes());
    tiff.extend_from_slice(&0x0112u16.to_be_bytes());
    tiff.extend_from_slice(&3u16.to_be_bytes());
    tiff.extend_from_slice(&1u32.to_be_bytes());
    tiff.extend_from_slice(&orientation.to_be_bytes());
    tiff.extend_from_slice(&[0, 0]);
    tiff.extend_from_slice(&0u32.to_be_bytes());
    tiff
}

/// The Orientation an image's Exif gives.
#[cfg(test)]
fn orientation_of(image: &[u8]) -> Option<u32> {
    let exif = exif::Reader::new().read_from_container(&mut std::io::Cursor::new(image)).ok()?;
    exif.get_field(Tag::Orientation, In::PRIMARY)?.value.get_uint(0)
}

#[cfg(test)]
mod tests;
