//! WebP: a walk over the RIFF chunks (FourCC, little-endian size, data, a pad byte
//! when the size is odd), copying each unless it is EXIF or XMP, then the VP8X
//! flags and the RIFF size set to match what is left.

use crate::StripError;

const FORMAT: &str = "WebP";

/// The VP8X flags byte's bits for an EXIF and an XMP chunk (WebP container
/// specification, "Extended File Format").
const EXIF_FLAG: u8 = 0x08;
const XMP_FLAG: u8 = 0x04;

pub(super) fn is_webp(bytes: &[u8]) -> bool {
    bytes.len() >= 12 && bytes.starts_with(b"RIFF") && bytes.get(8..12) == Some(b"WEBP".as_slice())
}

fn malformed(reason: &'static str) -> StripError {
    StripError::Malformed { format: FORMAT, reason }
}

fn le32(bytes: &[u8]) -> u32 {
    u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
}

pub(super) fn strip(bytes: &[u8]) -> Result<Vec<u8>, StripError> {
    let riff_size = bytes.get(4..8).map(le32).ok_or(malformed("the file ends inside the RIFF header"))?;
    // Bytes past the RIFF chunk are no part of the image and are not kept.
    let riff_end = 8usize.saturating_add(riff_size as usize);
    let riff = bytes.get(..riff_end).ok_or(malformed("the RIFF chunk runs past the end"))?;
    if riff.len() < 12 {
        return Err(malformed("a RIFF size too small for the WEBP form"));
    }

    let mut out = Vec::with_capacity(riff.len());
    out.extend_from_slice(&riff[..12]);
    let mut vp8x_flags_at = None;
    let mut exif_seen = false;
    let mut has_exif = false;
    let mut pos = 12;
    while pos < riff.len() {
        let header = riff.get(pos..pos + 8).ok_or(malformed("the RIFF chunk ends inside a chunk header"))?;
        let fourcc = [header[0], header[1], header[2], header[3]];
        let size = le32(&header[4..]) as usize;
        let end = pos + 8 + size;
        let chunk = riff.get(pos..end).ok_or(malformed("a chunk runs past the RIFF chunk"))?;
        match &fourcc {
            b"EXIF" => {
                if !exif_seen && let Some(tiff) = super::kept_exif(strip_exif_prefix(&chunk[8..])) {
                    has_exif = true;
                    write_chunk(&mut out, b"EXIF", &tiff);
                }
                exif_seen = true;
            }
            b"XMP " => {}
            _ => {
                if &fourcc == b"VP8X" {
                    if size < 10 {
                        return Err(malformed("a VP8X chunk shorter than 10 bytes"));
                    }
                    vp8x_flags_at = Some(out.len() + 8);
                }
                out.extend_from_slice(chunk);
                // The pad byte after an odd-sized chunk, written even where the
                // file's last chunk left it out.
                if size % 2 == 1 {
                    out.push(0);
                }
            }
        }
        pos = end + size % 2;
    }
    if let Some(flags) = vp8x_flags_at.and_then(|at| out.get_mut(at)) {
        *flags &= !(EXIF_FLAG | XMP_FLAG);
        if has_exif {
            *flags |= EXIF_FLAG;
        }
    }
    let size = u32::try_from(out.len() - 8).map_err(|_| malformed("a RIFF chunk past 4 GiB"))?;
    out[4..8].copy_from_slice(&size.to_le_bytes());
    Ok(out)
}

/// The EXIF chunk holds the TIFF structure; some writers put JPEG's "Exif\0\0"
/// before it anyway.
fn strip_exif_prefix(data: &[u8]) -> &[u8] {
    data.strip_prefix(b"Exif\0\0").unwrap_or(data)
}

fn write_chunk(out: &mut Vec<u8>, fourcc: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(fourcc);
    out.extend_from_slice(&u32::try_from(data.len()).unwrap_or(u32::MAX).to_le_bytes());
    out.extend_from_slice(data);
    if data.len() % 2 == 1 {
        out.push(0);
    }
}
