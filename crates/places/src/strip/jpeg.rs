//! JPEG: a walk over the marker segments (ITU T.81 B.1), keeping each one's bytes
//! unless it is metadata to drop. The entropy-coded data after each SOS is copied
//! as it is, up to the next marker.

use crate::StripError;

const FORMAT: &str = "JPEG";

const SOI: u8 = 0xd8;
const EOI: u8 = 0xd9;
const SOS: u8 = 0xda;
const APP1: u8 = 0xe1;
const APP2: u8 = 0xe2;
const APP13: u8 = 0xed;

const EXIF_ID: &[u8] = b"Exif\0";
const MPF_ID: &[u8] = b"MPF\0";
const PHOTOSHOP_ID: &[u8] = b"Photoshop 3.0\0";

pub(super) fn is_jpeg(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0xff, SOI])
}

/// A piece of the file: a byte range and what to do with it.
struct Piece {
    start: usize,
    end: usize,
    kind: Kind,
}

#[derive(PartialEq)]
enum Kind {
    Keep,
    /// An Exif APP1, whose TIFF structure starts at this offset in the file:
    /// dropped, its Orientation perhaps put back.
    Exif {
        tiff_start: usize,
    },
    /// Any other metadata segment to drop.
    Drop,
    /// The MPF index, dropped with the trailer it points into.
    Mpf,
    /// Bytes after EOI.
    Trailer,
}

pub(super) fn strip(bytes: &[u8]) -> Result<Vec<u8>, StripError> {
    let pieces = pieces(bytes)?;
    let has_trailer = pieces.iter().any(|p| p.kind == Kind::Trailer);
    let mut out = Vec::with_capacity(bytes.len());
    let mut orientation_put_back = false;
    for piece in &pieces {
        let segment = bytes.get(piece.start..piece.end).ok_or(malformed("a segment runs past the end"))?;
        match piece.kind {
            Kind::Keep => out.extend_from_slice(segment),
            Kind::Mpf if !has_trailer => out.extend_from_slice(segment),
            Kind::Exif { tiff_start } if !orientation_put_back => {
                orientation_put_back = true;
                if let Some(tiff) = bytes.get(tiff_start..piece.end).and_then(super::kept_exif) {
                    let len = u16::try_from(2 + 6 + tiff.len()).unwrap_or(u16::MAX);
                    out.extend_from_slice(&[0xff, APP1]);
                    out.extend_from_slice(&len.to_be_bytes());
                    out.extend_from_slice(b"Exif\0\0");
                    out.extend_from_slice(&tiff);
                }
            }
            Kind::Mpf | Kind::Exif { .. } | Kind::Drop | Kind::Trailer => {}
        }
    }
    Ok(out)
}

fn malformed(reason: &'static str) -> StripError {
    StripError::Malformed { format: FORMAT, reason }
}

/// The file cut into pieces: SOI, each marker segment, each run of entropy-coded
/// data (kept), EOI, and the trailer after it.
fn pieces(bytes: &[u8]) -> Result<Vec<Piece>, StripError> {
    let mut pieces = vec![Piece { start: 0, end: 2, kind: Kind::Keep }];
    let mut pos = 2;
    while pos < bytes.len() {
        // Bytes that are not a marker's 0xFF are skipped over (and kept), as
        // decoders and kamadak-exif do; fill bytes (repeated 0xFF) belong to the marker.
        let Some(offset) = bytes.get(pos..).and_then(|rest| rest.iter().position(|&b| b == 0xff)) else {
            pieces.push(Piece { start: pos, end: bytes.len(), kind: Kind::Keep });
            break;
        };
        let marker_start = pos + offset;
        let Some(code_offset) = bytes.get(marker_start..).and_then(|rest| rest.iter().position(|&b| b != 0xff)) else {
            return Err(malformed("the file ends inside a marker"));
        };
        let code_at = marker_start + code_offset;
        // `position` found a byte there.
        let code = bytes[code_at];
        match code {
            EOI => {
                pieces.push(Piece { start: pos, end: code_at + 1, kind: Kind::Keep });
                if code_at + 1 < bytes.len() {
                    pieces.push(Piece { start: code_at + 1, end: bytes.len(), kind: Kind::Trailer });
                }
                return Ok(pieces);
            }
            SOI => return Err(malformed("a second start-of-image marker")),
            // Stand-alone markers (TEM, RSTn) and a stuffed zero outside a scan: kept.
            0x00 | 0x01 | 0xd0..=0xd7 => {
                pieces.push(Piece { start: pos, end: code_at + 1, kind: Kind::Keep });
                pos = code_at + 1;
                continue;
            }
            _ => {}
        }
        let length = bytes
            .get(code_at + 1..code_at + 3)
            .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
            .ok_or(malformed("the file ends inside a segment's length"))?;
        if length < 2 {
            return Err(malformed("a segment length below 2"));
        }
        let end = code_at + 1 + length;
        let payload = bytes.get(code_at + 3..end).ok_or(malformed("a segment runs past the end"))?;
        let kind = match code {
            // "Exif\0" and a pad byte, then the TIFF structure.
            APP1 if payload.starts_with(EXIF_ID) => Kind::Exif { tiff_start: code_at + 3 + EXIF_ID.len() + 1 },
            APP1 => Kind::Drop,
            APP13 if payload.starts_with(PHOTOSHOP_ID) => Kind::Drop,
            APP2 if payload.starts_with(MPF_ID) => Kind::Mpf,
            _ => Kind::Keep,
        };
        // Skipped bytes before the marker are kept apart, so that a dropped segment
        // does not take them along.
        if marker_start > pos {
            pieces.push(Piece { start: pos, end: marker_start, kind: Kind::Keep });
        }
        pieces.push(Piece { start: marker_start, end, kind });
        pos = end;
        if code == SOS {
            let scan_end = scan_end(bytes, pos);
            pieces.push(Piece { start: pos, end: scan_end, kind: Kind::Keep });
            pos = scan_end;
        }
    }
    // No EOI: a scan cut short, which decoders show as far as it goes.
    Ok(pieces)
}

/// Where the entropy-coded data starting at `from` ends: at the next 0xFF that
/// starts a marker (not a stuffed 0xFF 0x00, not a restart marker, not fill), or at
/// the end of the file.
fn scan_end(bytes: &[u8], from: usize) -> usize {
    let mut pos = from;
    while let Some(offset) = bytes.get(pos..).and_then(|rest| rest.iter().position(|&b| b == 0xff)) {
        let at = pos + offset;
        match bytes.get(at + 1) {
            Some(0x00 | 0xd0..=0xd7 | 0xff) => pos = at + 1,
            Some(_) => return at,
            None => return bytes.len(),
        }
    }
    bytes.len()
}
