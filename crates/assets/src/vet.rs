//! Vetting files from outside (uploads, data URIs, downloads, providers' outputs)
//! before anything else reads them: an image is read from its header first (its
//! size against a pixel budget, its frames counted, its Exif directories walked,
//! nothing after its end), and only then decoded, under `image::Limits` sized from
//! the budget and within a time budget; a file that does not decode is refused.
//! Audio and video: the header of an MP4 (its tracks' sizes) is read without
//! ffprobe, then ffprobe runs under a time limit and its answer is checked against
//! the size, duration and frame limits.
//!
//! Everything here is synchronous and CPU bound: async callers use `spawn_blocking`.

mod raster;

use raster::be32;
pub use raster::{
    CODES, ImageFacts, ImageHeader, MediaLimits, VetError, VettedImage, decode_image, inspect_image, known_code,
    vet_image,
};

/// What vetting a video or audio file found: its probe, when ffprobe ran.
pub type MediaFacts = Option<atelier_core::task::MediaInfo>;

/// Vets audio or video: an MP4's (ISO BMFF) track headers are read without
/// ffprobe, then ffprobe, when installed, runs within `limits.probe_timeout` and
/// its streams are checked against the frame size, duration and frame limits. A
/// file ffprobe cannot read is not refused here (what is not media is not played);
/// a probe past its time is. Returns the probe's details for the asset's
/// `media` (`None` without ffprobe, WAV aside, or for a file it could not read).
pub fn vet_media(bytes: &[u8], mime: &str, limits: &MediaLimits) -> Result<MediaFacts, VetError> {
    if !crate::media::is_media(mime) {
        return Ok(None);
    }
    if let Some((width, height)) = mp4_track_size(bytes) {
        check_video_pixels(width, height, limits)?;
    }
    let Some(ffprobe) = crate::media::ffprobe() else { return Ok(crate::media::wav_header(bytes)) };
    let json = match crate::media::run_ffprobe(ffprobe, bytes, limits.probe_timeout) {
        Ok(json) => json,
        Err(crate::poster::PosterError::TooSlow(limit)) => return Err(VetError::ProbeTooSlow(limit)),
        Err(error) => {
            tracing::info!(%error, mime, "ffprobe could not read a media file; accepted without its details");
            return Ok(crate::media::wav_header(bytes));
        }
    };
    for stream in json["streams"].as_array().map(Vec::as_slice).unwrap_or_default() {
        if stream["codec_type"] == "video" {
            let (width, height) = (stream["width"].as_u64().unwrap_or(0), stream["height"].as_u64().unwrap_or(0));
            check_video_pixels(width, height, limits)?;
        }
    }
    let info = crate::media::from_ffprobe(&json);
    if let Some(secs) = info.duration_secs
        && secs > limits.max_duration_secs as f64
    {
        return Err(VetError::TooLong { secs, max: limits.max_duration_secs });
    }
    if let Some(frames) = info.frames
        && frames > limits.max_video_frames
    {
        return Err(VetError::TooManyVideoFrames { frames, max: limits.max_video_frames });
    }
    Ok(Some(info))
}

fn check_video_pixels(width: u64, height: u64, limits: &MediaLimits) -> Result<(), VetError> {
    if width.saturating_mul(height) > limits.max_video_pixels {
        return Err(VetError::VideoTooLarge { width, height, max: limits.max_video_pixels });
    }
    Ok(())
}

/// The largest frame an MP4 (or QuickTime, 3GP: ISO BMFF) declares in its track
/// headers (`moov/trak/tkhd`, 16.16 fixed point) and its video sample entries
/// (`stsd`'s `avc1`, `hvc1`, …), read from the boxes alone.
pub fn mp4_track_size(bytes: &[u8]) -> Option<(u64, u64)> {
    if bytes.get(4..8) != Some(b"ftyp") {
        return None;
    }
    let mut largest: Option<(u64, u64)> = None;
    let mut found = |w: u64, h: u64| {
        if largest.is_none_or(|(lw, lh)| w.saturating_mul(h) > lw.saturating_mul(lh)) {
            largest = Some((w, h));
        }
    };
    for moov in boxes(bytes).filter(|(kind, _)| kind == b"moov") {
        for trak in boxes(moov.1).filter(|(kind, _)| kind == b"trak") {
            for (kind, body) in boxes(trak.1) {
                if &kind == b"tkhd" {
                    // Version 1 has 64-bit times: 12 more bytes before the size.
                    let at = if body.first() == Some(&1) { 88 } else { 76 };
                    if let (Some(w), Some(h)) = (be32(body, at), be32(body, at + 4)) {
                        found(u64::from(w >> 16), u64::from(h >> 16));
                    }
                }
                if &kind != b"mdia" {
                    continue;
                }
                // mdia/minf/stbl/stsd: each visual sample entry's coded size.
                let nested = |bytes: &'_ [u8], name: &[u8; 4]| {
                    boxes(bytes).find(|(kind, _)| kind == name).map(|(_, body)| body.to_vec())
                };
                let Some(stsd) = nested(body, b"minf")
                    .and_then(|minf| nested(&minf, b"stbl"))
                    .and_then(|stbl| nested(&stbl, b"stsd"))
                else {
                    continue;
                };
                for (entry, body) in boxes(stsd.get(8..).unwrap_or_default()) {
                    if VISUAL_ENTRIES.contains(&&entry)
                        && let (Some(w), Some(h)) = (be16(body, 24), be16(body, 26))
                    {
                        found(u64::from(w), u64::from(h));
                    }
                }
            }
        }
    }
    largest
}

/// Sample entries of video tracks (ISO/IEC 14496-12 `VisualSampleEntry`).
const VISUAL_ENTRIES: [&[u8; 4]; 12] =
    [b"avc1", b"avc3", b"hvc1", b"hev1", b"mp4v", b"av01", b"vp08", b"vp09", b"encv", b"s263", b"jpeg", b"mjpa"];

fn be16(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(bytes.get(at..at.checked_add(2)?)?.try_into().ok()?))
}

/// The boxes of one level of an ISO BMFF structure: (type, body).
fn boxes(bytes: &[u8]) -> impl Iterator<Item = ([u8; 4], &[u8])> {
    let mut at = 0usize;
    std::iter::from_fn(move || {
        let size = be32(bytes, at)? as usize;
        let kind: [u8; 4] = bytes.get(at + 4..at + 8)?.try_into().ok()?;
        let (header, size) = match size {
            0 => (8, bytes.len() - at),
            1 => (16, usize::try_from(u64::from(be32(bytes, at + 8)?) << 32 | u64::from(be32(bytes, at + 12)?)).ok()?),
            size => (8, size),
        };
        if size < header {
            return None;
        }
        let end = at.checked_add(size)?.min(bytes.len());
        let body = bytes.get(at + header..end)?;
        at = end;
        Some((kind, body))
    })
}

#[cfg(test)]
mod tests;
