//! Images from outside, vetted: the header walk (size against the pixel budget,
//! frames counted, Exif directories walked, nothing after the image's end), then
//! the decode under `image::Limits` within a time budget.
//!
//! A file that stands alone (it uses nothing else of this crate): the fuzz targets
//! compile it by itself (`fuzz/src/lib.rs`), so that scripts/fuzz-ci fuzzes it
//! without building the crate's dependencies.

use std::io::Cursor;
use std::sync::mpsc;
use std::time::Duration;

use bytes::Bytes;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader};
use serde_json::{Value, json};

/// What a file from outside may be. `Default` is what the server uses unless its
/// `[media]` section says otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaLimits {
    /// The largest image, in pixels (width × height), read from its header before
    /// any decode.
    pub max_pixels: u64,
    /// The most frames an animated GIF, WebP or PNG may have.
    pub max_frames: u32,
    /// The largest video frame, in pixels.
    pub max_video_pixels: u64,
    /// The longest audio or video.
    pub max_duration_secs: u64,
    /// The most frames a video may have.
    pub max_video_frames: u64,
    /// How long decoding one image may take.
    pub decode_timeout: Duration,
    /// How long ffprobe may take over one file.
    pub probe_timeout: Duration,
}

impl Default for MediaLimits {
    fn default() -> Self {
        Self {
            max_pixels: 100_000_000,
            max_frames: 1_000,
            max_video_pixels: 8192 * 8192,
            max_duration_secs: 3 * 3600,
            max_video_frames: 3 * 3600 * 120,
            decode_timeout: Duration::from_secs(10),
            probe_timeout: Duration::from_secs(10),
        }
    }
}

/// What vetting an image found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageFacts {
    /// `image/png`, `image/jpeg`, `image/webp` or `image/gif`, from the bytes.
    pub mime: &'static str,
    /// The size in the header (before any Exif orientation).
    pub width: u32,
    pub height: u32,
    /// 1 for a still image.
    pub frames: u32,
}

/// An image that passed: its facts, and its first frame decoded (Exif orientation
/// applied), for a thumbnail.
#[derive(Debug)]
pub struct VettedImage {
    pub facts: ImageFacts,
    pub image: DynamicImage,
}

/// Why a file was refused. Each has a stable [`VetError::code`]; all are the
/// sender's to change (an HTTP 422), none is worth trying again.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum VetError {
    #[error("the file is not a PNG, JPEG, WebP or GIF image")]
    NotAnImage,
    #[error("the image is {width}×{height} ({pixels} pixels): at most {max} pixels are accepted")]
    TooManyPixels { width: u64, height: u64, pixels: u64, max: u64 },
    #[error("the animation has {frames} frames or more: at most {max} are accepted")]
    TooManyFrames { frames: u64, max: u32 },
    #[error("the image does not decode: {0}")]
    Undecodable(String),
    #[error("the file goes on for {bytes} bytes after the end of its image (a file that is also another format)")]
    TrailingData { bytes: usize },
    #[error("the image's Exif metadata is malformed: {0}")]
    BadMetadata(String),
    #[error("decoding the image took longer than {} ms", .0.as_millis())]
    DecodeTooSlow(Duration),
    #[error("the video is {width}×{height}: at most {max} pixels a frame are accepted")]
    VideoTooLarge { width: u64, height: u64, max: u64 },
    #[error("the file lasts {secs:.0} s: at most {max} s are accepted")]
    TooLong { secs: f64, max: u64 },
    #[error("the video has {frames} frames: at most {max} are accepted")]
    TooManyVideoFrames { frames: u64, max: u64 },
    #[error("reading the file's streams took longer than {} s", .0.as_secs())]
    ProbeTooSlow(Duration),
}

impl VetError {
    /// The stable code clients see (`{"error": code}`).
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotAnImage => "not_an_image",
            Self::TooManyPixels { .. } => "image_too_large",
            Self::TooManyFrames { .. } => "too_many_frames",
            Self::Undecodable(_) => "image_undecodable",
            Self::TrailingData { .. } => "trailing_data",
            Self::BadMetadata(_) => "bad_metadata",
            Self::DecodeTooSlow(_) => "decode_too_slow",
            Self::VideoTooLarge { .. } => "video_too_large",
            Self::TooLong { .. } => "media_too_long",
            Self::TooManyVideoFrames { .. } => "too_many_frames",
            Self::ProbeTooSlow(_) => "probe_too_slow",
        }
    }

    /// The numbers behind the refusal, for an error's `details`.
    pub fn details(&self) -> Value {
        match self {
            Self::TooManyPixels { width, height, pixels, max } => {
                json!({ "width": width, "height": height, "pixels": pixels, "max_pixels": max })
            }
            Self::TooManyFrames { frames, max } => json!({ "frames_at_least": frames, "max_frames": max }),
            Self::TrailingData { bytes } => json!({ "trailing_bytes": bytes }),
            Self::DecodeTooSlow(limit) => json!({ "decode_timeout_ms": limit.as_millis() as u64 }),
            Self::VideoTooLarge { width, height, max } => {
                json!({ "width": width, "height": height, "max_video_pixels": max })
            }
            Self::TooLong { secs, max } => json!({ "duration_secs": secs, "max_duration_secs": max }),
            Self::TooManyVideoFrames { frames, max } => json!({ "frames": frames, "max_video_frames": max }),
            Self::ProbeTooSlow(limit) => json!({ "probe_timeout_secs": limit.as_secs() }),
            Self::NotAnImage | Self::Undecodable(_) | Self::BadMetadata(_) => json!({}),
        }
    }
}

/// Every code [`VetError::code`] answers.
pub const CODES: [&str; 10] = [
    "not_an_image",
    "image_too_large",
    "too_many_frames",
    "image_undecodable",
    "trailing_data",
    "bad_metadata",
    "decode_too_slow",
    "video_too_large",
    "media_too_long",
    "probe_too_slow",
];

/// The code as a `&'static str`, when it is one of [`CODES`] (a refusal that went
/// through a port as text).
pub fn known_code(code: &str) -> Option<&'static str> {
    CODES.into_iter().find(|known| *known == code)
}

/// An image's header, read without decoding any pixel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageHeader {
    pub format: ImageFormat,
    pub mime: &'static str,
    pub width: u32,
    pub height: u32,
    pub frames: u32,
}

/// Reads an image's header only: its format (sniffed), size, frames (counted
/// through the file's structure: blocks, chunks, segments), its Exif directories,
/// and where it ends. Refuses an image over the pixel or frame budget, one cut
/// short, one with bytes after its end, one whose Exif loops or points outside
/// itself. Cheap: linear in the file's size, no allocation of its pixels.
pub fn inspect_image(bytes: &[u8], limits: &MediaLimits) -> Result<ImageHeader, VetError> {
    let format = image::guess_format(bytes).map_err(|_| VetError::NotAnImage)?;
    let walked = match format {
        ImageFormat::Png => walk_png(bytes, limits)?,
        ImageFormat::Gif => walk_gif(bytes, limits)?,
        ImageFormat::WebP => walk_webp(bytes, limits)?,
        ImageFormat::Jpeg => walk_jpeg(bytes)?,
        _ => return Err(VetError::NotAnImage),
    };
    let mime = match format {
        ImageFormat::Png => "image/png",
        ImageFormat::Gif => "image/gif",
        ImageFormat::WebP => "image/webp",
        _ => "image/jpeg",
    };
    let Walked { width, height, frames, end, exif } = walked;
    if width == 0 || height == 0 {
        return Err(VetError::Undecodable(format!("its header says {width}×{height}")));
    }
    check_pixels(u64::from(width), u64::from(height), limits.max_pixels)?;
    if frames > limits.max_frames {
        return Err(VetError::TooManyFrames { frames: u64::from(frames), max: limits.max_frames });
    }
    let trailing = &bytes[end.min(bytes.len())..];
    if !trailing_is_harmless(format, trailing) {
        return Err(VetError::TrailingData { bytes: trailing.len() });
    }
    if let Some(exif) = exif {
        walk_exif(exif)?;
    }
    Ok(ImageHeader { format, mime, width, height, frames })
}

/// Decodes an image whose header passed [`inspect_image`]: the first frame, under
/// `image::Limits` that allow no more than the header's size and the budget's bytes.
pub fn decode_image(bytes: &[u8], header: &ImageHeader, limits: &MediaLimits) -> Result<DynamicImage, VetError> {
    let undecodable = |error: image::ImageError| VetError::Undecodable(error.to_string());
    let mut reader = ImageReader::new(Cursor::new(bytes));
    reader.set_format(header.format);
    let mut image_limits = image::Limits::default();
    image_limits.max_image_width = Some(header.width);
    image_limits.max_image_height = Some(header.height);
    // Eight bytes a pixel (16-bit RGBA) at most for these formats, plus room for a
    // decoder's own buffers.
    image_limits.max_alloc = Some(limits.max_pixels.saturating_mul(8).saturating_add(64 << 20));
    reader.limits(image_limits);
    let mut decoder = reader.into_decoder().map_err(undecodable)?;
    let (width, height) = decoder.dimensions();
    // A decoder that reads another size than the walk did (a GIF frame larger than
    // its screen, say) is held to the same budget.
    check_pixels(u64::from(width), u64::from(height), limits.max_pixels)?;
    let orientation = decoder.orientation().map_err(undecodable)?;
    let mut image = DynamicImage::from_decoder(decoder).map_err(undecodable)?;
    image.apply_orientation(orientation);
    Ok(image)
}

/// Vets an image: [`inspect_image`], then [`decode_image`] within
/// `limits.decode_timeout` (past it the answer is [`VetError::DecodeTooSlow`]; the
/// decode, bounded by the budget, ends on its own thread and is dropped).
///
/// A small image ([`decodes_at_once`]) decodes on the calling thread: starting a
/// thread cost more than its decode (a task's 8×8 output spent most of its vetting
/// in `clone` and `exit`), and its size bounds the work.
pub fn vet_image(bytes: Bytes, limits: &MediaLimits) -> Result<VettedImage, VetError> {
    let header = inspect_image(&bytes, limits)?;
    let facts = ImageFacts { mime: header.mime, width: header.width, height: header.height, frames: header.frames };
    if decodes_at_once(&header, bytes.len()) {
        return Ok(VettedImage { facts, image: decode_image(&bytes, &header, limits)? });
    }
    let (send, receive) = mpsc::sync_channel(1);
    let budget = limits.clone();
    let spawned = std::thread::Builder::new().name("atelier-vet".into()).spawn(move || {
        let _ = send.send(decode_image(&bytes, &header, &budget));
    });
    let decoded = match spawned {
        Ok(_) => match receive.recv_timeout(limits.decode_timeout) {
            Ok(decoded) => decoded,
            Err(mpsc::RecvTimeoutError::Timeout) => Err(VetError::DecodeTooSlow(limits.decode_timeout)),
            Err(mpsc::RecvTimeoutError::Disconnected) => Err(VetError::Undecodable("the decoder failed".into())),
        },
        Err(error) => {
            tracing::warn!(%error, "could not start a thread to decode an image");
            Err(VetError::Undecodable("no thread to decode it on".into()))
        }
    };
    Ok(VettedImage { facts, image: decoded? })
}

/// The most pixels, and bytes, of an image decoded without a timeout: a decode
/// reads its input once and writes its pixels once, so these bound its work to a
/// thumbnail's worth of pixels (256×256) from at most 256 KiB.
const AT_ONCE_PIXELS: u64 = 256 * 256;
const AT_ONCE_BYTES: usize = 256 << 10;

/// Whether an image is small enough to decode without a timeout (by its header's
/// size, which [`decode_image`] holds the decoder to).
fn decodes_at_once(header: &ImageHeader, bytes: usize) -> bool {
    u64::from(header.width).saturating_mul(u64::from(header.height)) <= AT_ONCE_PIXELS && bytes <= AT_ONCE_BYTES
}

fn check_pixels(width: u64, height: u64, max: u64) -> Result<(), VetError> {
    let pixels = width.saturating_mul(height);
    if pixels > max {
        return Err(VetError::TooManyPixels { width, height, pixels, max });
    }
    Ok(())
}

/// What a walk through an image's structure found.
struct Walked<'a> {
    width: u32,
    height: u32,
    frames: u32,
    /// Where the image ends (after PNG's IEND, GIF's trailer, WebP's RIFF, JPEG's EOI).
    end: usize,
    /// The Exif block (a TIFF structure), when the image has one.
    exif: Option<&'a [u8]>,
}

fn cut_short(what: &str) -> VetError {
    VetError::Undecodable(format!("the file is cut short ({what})"))
}

pub(super) fn be32(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(bytes.get(at..at.checked_add(4)?)?.try_into().ok()?))
}

fn le16(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(bytes.get(at..at.checked_add(2)?)?.try_into().ok()?))
}

fn le24(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at.checked_add(3)?)?;
    Some(u32::from(b[0]) | u32::from(b[1]) << 8 | u32::from(b[2]) << 16)
}

fn le32(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(at..at.checked_add(4)?)?.try_into().ok()?))
}

/// PNG: chunks to IEND; the size from IHDR, frames from acTL (APNG) and the fcTL
/// chunks counted, Exif from eXIf.
fn walk_png<'a>(bytes: &'a [u8], limits: &MediaLimits) -> Result<Walked<'a>, VetError> {
    let mut at = 8usize;
    let (mut width, mut height, mut declared, mut controls, mut exif) = (None, None, 0u32, 0u32, None);
    loop {
        let length = be32(bytes, at).ok_or_else(|| cut_short("no IEND chunk"))? as usize;
        let kind = bytes.get(at + 4..at + 8).ok_or_else(|| cut_short("no IEND chunk"))?;
        let data_start = at + 8;
        let data_end = data_start.checked_add(length).ok_or_else(|| cut_short("a chunk too long"))?;
        let data = bytes.get(data_start..data_end).ok_or_else(|| cut_short("a chunk ends past the file"))?;
        let next = data_end + 4;
        if next > bytes.len() {
            return Err(cut_short("a chunk without its checksum"));
        }
        match kind {
            b"IHDR" => {
                width = be32(data, 0);
                height = be32(data, 4);
            }
            b"acTL" => declared = be32(data, 0).unwrap_or(0),
            b"fcTL" => {
                controls += 1;
                if let (Some(w), Some(h)) = (be32(data, 4), be32(data, 8)) {
                    check_pixels(u64::from(w), u64::from(h), limits.max_pixels)?;
                }
            }
            b"eXIf" => exif = Some(data),
            b"IEND" => {
                let (Some(width), Some(height)) = (width, height) else {
                    return Err(VetError::Undecodable("the PNG has no IHDR chunk".into()));
                };
                return Ok(Walked { width, height, frames: declared.max(controls).max(1), end: next, exif });
            }
            _ => {}
        }
        if declared > limits.max_frames || controls > limits.max_frames {
            return Err(VetError::TooManyFrames { frames: u64::from(declared.max(controls)), max: limits.max_frames });
        }
        at = next;
    }
}

/// GIF: the logical screen, then every block to the trailer, each image's size
/// checked and counted, without decompressing any.
fn walk_gif<'a>(bytes: &'a [u8], limits: &MediaLimits) -> Result<Walked<'a>, VetError> {
    let short = || cut_short("no GIF trailer");
    let width = u32::from(le16(bytes, 6).ok_or_else(short)?);
    let height = u32::from(le16(bytes, 8).ok_or_else(short)?);
    let flags = *bytes.get(10).ok_or_else(short)?;
    let mut at = 13usize;
    if flags & 0x80 != 0 {
        at += 3 << ((flags & 7) + 1);
    }
    // Sub-blocks: a size byte, that many bytes, until a size of 0.
    let skip_blocks = |mut at: usize| -> Result<usize, VetError> {
        loop {
            let size = usize::from(*bytes.get(at).ok_or_else(short)?);
            at += 1 + size;
            if size == 0 {
                return Ok(at);
            }
        }
    };
    let mut frames = 0u32;
    loop {
        match *bytes.get(at).ok_or_else(short)? {
            0x21 => at = skip_blocks(at + 2)?,
            0x2C => {
                let w = le16(bytes, at + 5).ok_or_else(short)?;
                let h = le16(bytes, at + 7).ok_or_else(short)?;
                check_pixels(u64::from(w), u64::from(h), limits.max_pixels)?;
                let local = *bytes.get(at + 9).ok_or_else(short)?;
                at += 10;
                if local & 0x80 != 0 {
                    at += 3 << ((local & 7) + 1);
                }
                // The LZW code size, then the data's sub-blocks.
                at = skip_blocks(at + 1)?;
                frames += 1;
                if frames > limits.max_frames {
                    return Err(VetError::TooManyFrames { frames: u64::from(frames), max: limits.max_frames });
                }
            }
            0x3B => return Ok(Walked { width, height, frames: frames.max(1), end: at + 1, exif: None }),
            other => return Err(VetError::Undecodable(format!("an unknown GIF block 0x{other:02x}"))),
        }
    }
}

/// WebP: the RIFF chunks; the size from VP8X's canvas (or the one frame's own
/// header), frames from the ANMF chunks counted, Exif from EXIF.
fn walk_webp<'a>(bytes: &'a [u8], limits: &MediaLimits) -> Result<Walked<'a>, VetError> {
    let riff = le32(bytes, 4).ok_or_else(|| cut_short("no RIFF size"))? as usize;
    let end = riff.checked_add(8).ok_or_else(|| cut_short("a RIFF too long"))?;
    if end > bytes.len() {
        return Err(cut_short("the RIFF says it is longer than the file"));
    }
    let (mut canvas, mut single, mut frames, mut exif) = (None, None, 0u32, None);
    let mut at = 12usize;
    while at + 8 <= end {
        let kind = &bytes[at..at + 4];
        let size = le32(bytes, at + 4).unwrap_or(0) as usize;
        let data = bytes.get(at + 8..(at + 8).saturating_add(size)).filter(|_| at + 8 + size <= end);
        let data = data.ok_or_else(|| cut_short("a chunk ends past the RIFF"))?;
        match kind {
            b"VP8X" => {
                canvas = Some((le24(data, 4).map(|w| w + 1), le24(data, 7).map(|h| h + 1)));
            }
            b"ANMF" => {
                let (w, h) = (le24(data, 6).unwrap_or(0) + 1, le24(data, 9).unwrap_or(0) + 1);
                check_pixels(u64::from(w), u64::from(h), limits.max_pixels)?;
                frames += 1;
                if frames > limits.max_frames {
                    return Err(VetError::TooManyFrames { frames: u64::from(frames), max: limits.max_frames });
                }
            }
            b"VP8L" if single.is_none() => {
                if data.first() != Some(&0x2f) {
                    return Err(VetError::Undecodable("a VP8L chunk without its signature".into()));
                }
                let bits = le32(data, 1).ok_or_else(|| cut_short("a VP8L header"))?;
                single = Some(((bits & 0x3fff) + 1, ((bits >> 14) & 0x3fff) + 1));
            }
            b"VP8 " if single.is_none() => {
                if data.get(3..6) != Some(&[0x9d, 0x01, 0x2a]) {
                    return Err(VetError::Undecodable("a VP8 chunk without its start code".into()));
                }
                let w = u32::from(le16(data, 6).ok_or_else(|| cut_short("a VP8 header"))? & 0x3fff);
                let h = u32::from(le16(data, 8).ok_or_else(|| cut_short("a VP8 header"))? & 0x3fff);
                single = Some((w, h));
            }
            b"EXIF" => exif = Some(data.strip_prefix(b"Exif\0\0").unwrap_or(data)),
            _ => {}
        }
        at += 8 + size + (size & 1);
    }
    let (width, height) = match (canvas, single) {
        (Some((Some(w), Some(h))), _) => (w, h),
        (None, Some(size)) => size,
        _ => return Err(VetError::Undecodable("the WebP has no image".into())),
    };
    Ok(Walked { width, height, frames: frames.max(1), end: end + (riff & 1), exif })
}

/// JPEG: the segments; the size from the frame header (SOFn), Exif from APP1, the
/// entropy-coded data skipped to each next marker, to the end-of-image marker.
fn walk_jpeg(bytes: &[u8]) -> Result<Walked<'_>, VetError> {
    let mut at = 2usize;
    let (mut size, mut exif) = (None, None);
    loop {
        // Fill bytes (0xFF) may precede a marker.
        while bytes.get(at) == Some(&0xFF) && bytes.get(at + 1) == Some(&0xFF) {
            at += 1;
        }
        if bytes.get(at) != Some(&0xFF) {
            return Err(if at >= bytes.len() {
                cut_short("no end-of-image marker")
            } else {
                VetError::Undecodable("a JPEG segment does not start with a marker".into())
            });
        }
        let marker = *bytes.get(at + 1).ok_or_else(|| cut_short("no end-of-image marker"))?;
        at += 2;
        match marker {
            0xD9 => {
                let (width, height) =
                    size.ok_or_else(|| VetError::Undecodable("the JPEG has no frame header".into()))?;
                return Ok(Walked { width, height, frames: 1, end: at, exif });
            }
            0xD0..=0xD7 | 0x01 => continue,
            _ => {}
        }
        let length = usize::from(u16::from_be_bytes([
            *bytes.get(at).ok_or_else(|| cut_short("a segment's length"))?,
            *bytes.get(at + 1).ok_or_else(|| cut_short("a segment's length"))?,
        ]));
        let data = bytes.get(at + 2..at + length.max(2)).ok_or_else(|| cut_short("a segment ends past the file"))?;
        match marker {
            0xC0..=0xCF if !matches!(marker, 0xC4 | 0xC8 | 0xCC) => {
                let h = u16::from_be_bytes([*data.get(1).unwrap_or(&0), *data.get(2).unwrap_or(&0)]);
                let w = u16::from_be_bytes([*data.get(3).unwrap_or(&0), *data.get(4).unwrap_or(&0)]);
                size.get_or_insert((u32::from(w), u32::from(h)));
            }
            0xE1 if exif.is_none() => exif = data.strip_prefix(b"Exif\0\0"),
            _ => {}
        }
        at += length.max(2);
        if marker == 0xDA {
            // Entropy-coded data runs to the next marker that is not a stuffed 0xFF00
            // or a restart marker.
            loop {
                let found = bytes.get(at..).and_then(|rest| rest.iter().position(|b| *b == 0xFF));
                let Some(offset) = found else { return Err(cut_short("no end-of-image marker")) };
                at += offset;
                match bytes.get(at + 1) {
                    None => return Err(cut_short("no end-of-image marker")),
                    Some(0x00 | 0xD0..=0xD7 | 0xFF) => at += 1,
                    Some(_) => break,
                }
            }
        }
    }
}

/// Bytes after an image's end that do not make it another format: none, padding
/// (zero or 0xFF bytes), and for a JPEG the further JPEG images of a multi-picture
/// file (MPF) or the video a motion photo carries (an MP4's `ftyp` box).
fn trailing_is_harmless(format: ImageFormat, trailing: &[u8]) -> bool {
    if trailing.iter().all(|b| *b == 0 || *b == 0xFF) {
        return true;
    }
    format == ImageFormat::Jpeg && (trailing.starts_with(&[0xFF, 0xD8]) || trailing.get(4..8) == Some(b"ftyp"))
}

/// At most this many Exif directories (IFD0, IFD1, Exif, GPS, interoperability
/// and a few sub-IFDs make a dozen in real files).
const MAX_IFDS: usize = 32;

/// Walks an Exif (TIFF) block's directories: each must lie inside the block, and
/// none may be reached twice (a loop).
fn walk_exif(tiff: &[u8]) -> Result<(), VetError> {
    let bad = |why: &str| VetError::BadMetadata(why.to_owned());
    let big_endian = match tiff.get(..4) {
        Some(b"II*\0") => false,
        Some(b"MM\0*") => true,
        _ => return Err(bad("no TIFF header")),
    };
    let u16_at = |at: usize| -> Option<u16> {
        let b: [u8; 2] = tiff.get(at..at.checked_add(2)?)?.try_into().ok()?;
        Some(if big_endian { u16::from_be_bytes(b) } else { u16::from_le_bytes(b) })
    };
    let u32_at = |at: usize| -> Option<u32> {
        let b: [u8; 4] = tiff.get(at..at.checked_add(4)?)?.try_into().ok()?;
        Some(if big_endian { u32::from_be_bytes(b) } else { u32::from_le_bytes(b) })
    };
    let mut pending = vec![u32_at(4).ok_or_else(|| bad("no first directory"))? as usize];
    let mut seen = Vec::new();
    while let Some(offset) = pending.pop() {
        if offset == 0 {
            continue;
        }
        if seen.contains(&offset) {
            return Err(bad("its directories form a loop"));
        }
        seen.push(offset);
        if seen.len() > MAX_IFDS {
            return Err(bad(&format!("more than {MAX_IFDS} directories")));
        }
        let count = usize::from(u16_at(offset).ok_or_else(|| bad("a directory lies outside the block"))?);
        let entries_end = offset + 2 + count * 12;
        if entries_end + 4 > tiff.len() {
            return Err(bad(&format!("a directory of {count} entries runs past the block's end")));
        }
        for entry in 0..count {
            let at = offset + 2 + entry * 12;
            let tag = u16_at(at).unwrap_or(0);
            // The Exif, GPS and interoperability directories, and sub-IFDs.
            if matches!(tag, 0x8769 | 0x8825 | 0xA005 | 0x014A) {
                pending.push(u32_at(at + 8).unwrap_or(0) as usize);
            }
        }
        pending.push(u32_at(entries_end).unwrap_or(0) as usize);
    }
    Ok(())
}
