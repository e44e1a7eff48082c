//! PNG: a walk over the chunks (length, type, data, CRC), copying each unless it is
//! metadata to drop. Kept chunks are copied with their CRCs untouched; only the
//! put-back Orientation chunk gets a CRC computed here.

use crate::StripError;

const FORMAT: &str = "PNG";

const SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

/// Text-chunk keywords whose text is a metadata block that can hold a position.
/// "Raw profile type" chunks are ImageMagick's (and exiftool's) hex dumps of a JPEG
/// block; compared without regard to case, as exiftool reads them.
const XMP_KEYWORD: &[u8] = b"XML:com.adobe.xmp";
const RAW_PROFILES: [&str; 5] = ["exif", "app1", "xmp", "iptc", "8bim"];

pub(super) fn is_png(bytes: &[u8]) -> bool {
    bytes.starts_with(SIGNATURE)
}

fn malformed(reason: &'static str) -> StripError {
    StripError::Malformed { format: FORMAT, reason }
}

pub(super) fn strip(bytes: &[u8]) -> Result<Vec<u8>, StripError> {
    let mut out = Vec::with_capacity(bytes.len());
    out.extend_from_slice(SIGNATURE);
    let mut pos = SIGNATURE.len();
    let mut orientation_put_back = false;
    // A file that stops at a chunk boundary without IEND is taken as it is.
    while pos < bytes.len() {
        let header = bytes.get(pos..pos + 8).ok_or(malformed("the file ends inside a chunk header"))?;
        let length = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
        // The standard caps a chunk at 2^31 - 1 bytes.
        if length > i32::MAX as u32 {
            return Err(malformed("a chunk length past 2^31 - 1"));
        }
        let kind = [header[4], header[5], header[6], header[7]];
        let end = pos + 12 + length as usize;
        let chunk = bytes.get(pos..end).ok_or(malformed("a chunk runs past the end"))?;
        let data = &chunk[8..chunk.len() - 4];
        match &kind {
            b"eXIf" => {
                if !orientation_put_back {
                    orientation_put_back = true;
                    if let Some(tiff) = super::kept_exif(data) {
                        write_chunk(&mut out, b"eXIf", &tiff);
                    }
                }
            }
            b"tEXt" | b"zTXt" | b"iTXt" if is_location_text(data) => {}
            b"IEND" => {
                out.extend_from_slice(chunk);
                // Anything after IEND is no part of the image and is not kept.
                return Ok(out);
            }
            _ => out.extend_from_slice(chunk),
        }
        pos = end;
    }
    Ok(out)
}

/// Whether a text chunk's keyword (its bytes up to the first NUL) names a
/// metadata block: XMP, or a raw Exif/XMP/IPTC/Photoshop profile.
fn is_location_text(data: &[u8]) -> bool {
    let keyword = data.split(|&b| b == 0).next().unwrap_or_default();
    if keyword == XMP_KEYWORD {
        return true;
    }
    let Some(profile) = keyword.strip_prefix(b"Raw profile type ") else { return false };
    RAW_PROFILES.iter().any(|name| profile.eq_ignore_ascii_case(name.as_bytes()))
}

fn write_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    let length = u32::try_from(data.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&length.to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let crc = crc32(&[kind, data]);
    out.extend_from_slice(&crc.to_be_bytes());
}

/// CRC-32 (ISO 3309, polynomial 0xEDB88320 reflected) over the chunk type and data,
/// as PNG stores it. Bitwise: it runs over a 26-byte block at most, and the tests'
/// fixtures.
pub(crate) fn crc32(parts: &[&[u8]]) -> u32 {
    let mut crc = !0u32;
    for byte in parts.iter().flat_map(|p| p.iter()) {
        crc ^= u32::from(*byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xedb8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_matches_the_standard_check_value() {
        assert_eq!(crc32(&[b"123456789"]), 0xcbf4_3926);
        assert_eq!(crc32(&[b"IEND", b""]), 0xae42_6082, "every PNG's IEND CRC");
    }

    #[test]
    fn only_metadata_keywords_are_location_text() {
        assert!(is_location_text(b"XML:com.adobe.xmp\0\0\0\0\0<x:xmpmeta/>"));
        assert!(is_location_text(b"Raw profile type exif\0\nexif\n  12\n..."));
        assert!(is_location_text(b"Raw profile type APP1\0..."));
        assert!(!is_location_text(b"parameters\0a cat, 20 steps"));
        assert!(!is_location_text(b"Raw profile type icc\0..."));
        assert!(!is_location_text(b"Comment\0XML:com.adobe.xmp"));
        assert!(!is_location_text(b""));
    }
}
