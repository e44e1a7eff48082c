//! Test fixtures: Exif blocks with a GPS position written byte by byte (so the
//! tests do not depend on an Exif writer), XMP packets, and real JPEG, PNG and
//! WebP files from the `image` crate's encoders with those blocks inserted.

use image::{ImageEncoder, RgbImage};

use crate::strip::png_crc32 as strip_png_crc32;

/// The fields of a hand-written GPS IFD. `at` fills them for a position; tests
/// then break one field at a time.
#[derive(Debug, Clone, Copy)]
pub struct GpsBlock {
    pub lat_ref: &'static [u8],
    pub latitude: [(u32, u32); 3],
    pub lon_ref: &'static [u8],
    pub longitude: [(u32, u32); 3],
    pub status: Option<&'static [u8]>,
    pub omit_longitude: bool,
    pub orientation: Option<u16>,
}

impl GpsBlock {
    pub fn at(latitude: f64, longitude: f64) -> Self {
        Self {
            lat_ref: if latitude < 0.0 { b"S\0" } else { b"N\0" },
            latitude: dms(latitude.abs()),
            lon_ref: if longitude < 0.0 { b"W\0" } else { b"E\0" },
            longitude: dms(longitude.abs()),
            status: None,
            omit_longitude: false,
            orientation: None,
        }
    }
}

/// Degrees, minutes and seconds as Exif rationals, seconds to the millionth.
fn dms(degrees: f64) -> [(u32, u32); 3] {
    let whole = degrees.trunc();
    let minutes = ((degrees - whole) * 60.0).trunc();
    let seconds = ((degrees - whole) * 60.0 - minutes) * 60.0;
    [(whole as u32, 1), (minutes as u32, 1), ((seconds * 1e6).round() as u32, 1_000_000)]
}

/// One IFD entry, big-endian: tag, type, count, value or offset (4 bytes).
fn entry(out: &mut Vec<u8>, tag: u16, kind: u16, count: u32, value: [u8; 4]) {
    out.extend_from_slice(&tag.to_be_bytes());
    out.extend_from_slice(&kind.to_be_bytes());
    out.extend_from_slice(&count.to_be_bytes());
    out.extend_from_slice(&value);
}

fn ascii2(value: &[u8]) -> [u8; 4] {
    [value.first().copied().unwrap_or(0), value.get(1).copied().unwrap_or(0), 0, 0]
}

/// A TIFF structure (what JPEG's APP1 holds after "Exif\0\0"): IFD0 with an
/// optional Orientation and the GPS IFD pointer, then the GPS IFD, then its
/// rationals.
pub fn exif_blob(gps: &GpsBlock) -> Vec<u8> {
    const SHORT: u16 = 3;
    const LONG: u16 = 4;
    const ASCII: u16 = 2;
    const RATIONAL: u16 = 5;
    let ifd0_entries = 1 + u16::from(gps.orientation.is_some());
    let gps_ifd_at = 8 + 2 + 12 * u32::from(ifd0_entries) + 4;
    let mut gps_entries: Vec<(u16, u16, u32, Option<[u8; 4]>)> = vec![(0x0001, ASCII, 2, Some(ascii2(gps.lat_ref)))];
    gps_entries.push((0x0002, RATIONAL, 3, None));
    if !gps.omit_longitude {
        gps_entries.push((0x0003, ASCII, 2, Some(ascii2(gps.lon_ref))));
        gps_entries.push((0x0004, RATIONAL, 3, None));
    }
    if let Some(status) = gps.status {
        gps_entries.push((0x0009, ASCII, 2, Some(ascii2(status))));
    }
    let data_at = gps_ifd_at + 2 + 12 * gps_entries.len() as u32 + 4;

    let mut out = b"MM\x00\x2a\x00\x00\x00\x08".to_vec();
    out.extend_from_slice(&ifd0_entries.to_be_bytes());
    if let Some(orientation) = gps.orientation {
        let [hi, lo] = orientation.to_be_bytes();
        entry(&mut out, 0x0112, SHORT, 1, [hi, lo, 0, 0]);
    }
    entry(&mut out, 0x8825, LONG, 1, gps_ifd_at.to_be_bytes());
    out.extend_from_slice(&0u32.to_be_bytes());

    out.extend_from_slice(&(gps_entries.len() as u16).to_be_bytes());
    let mut rationals = Vec::new();
    for (tag, kind, count, value) in gps_entries {
        let value = value.unwrap_or_else(|| {
            let offset = data_at + 24 * (rationals.len() as u32 / 24);
            let parts = if tag == 0x0002 { gps.latitude } else { gps.longitude };
            for (num, denom) in parts {
                rationals.extend_from_slice(&num.to_be_bytes());
                rationals.extend_from_slice(&denom.to_be_bytes());
            }
            offset.to_be_bytes()
        });
        entry(&mut out, tag, kind, count, value);
    }
    out.extend_from_slice(&0u32.to_be_bytes());
    out.extend_from_slice(&rationals);
    out
}

/// A TIFF "file" holding just the Exif IFDs: kamadak-exif reads it as a TIFF.
pub fn tiff_with(gps: &GpsBlock) -> Vec<u8> {
    exif_blob(gps)
}

/// An XMP packet that gives the position in XMP's own form ("35,41.37N"), as
/// Lightroom and phones write it alongside Exif.
pub fn xmp_packet() -> Vec<u8> {
    concat!(
        "<?xpacket begin=\"\u{feff}\" id=\"W5M0MpCehiHzreSzNTczkc9d\"?>",
        "<x:xmpmeta xmlns:x=\"adobe:ns:meta/\"><rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\">",
        "<rdf:Description rdf:about=\"\" xmlns:exif=\"http://ns.adobe.com/exif/1.0/\"",
        " exif:GPSLatitude=\"35,41.37N\" exif:GPSLongitude=\"139,41.502E\"/>",
        "</rdf:RDF></x:xmpmeta><?xpacket end=\"w\"?>"
    )
    .as_bytes()
    .to_vec()
}

/// A 24 x 16 colour gradient: enough for every encoder to write real image data.
fn picture() -> RgbImage {
    RgbImage::from_fn(24, 16, |x, y| image::Rgb([(x * 10) as u8, (y * 15) as u8, 128]))
}

/// The picture as a baseline JPEG with nothing but what the encoder writes.
pub fn clean_jpeg() -> Vec<u8> {
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90).encode_image(&picture()).expect("encoding a JPEG");
    out
}

/// `clean_jpeg` with an Exif APP1 and an XMP APP1 inserted after SOI.
pub fn jpeg_with(exif: Option<&[u8]>, xmp: Option<&[u8]>) -> Vec<u8> {
    let clean = clean_jpeg();
    let mut out = clean[..2].to_vec();
    if let Some(exif) = exif {
        jpeg_segment(&mut out, 0xe1, &[b"Exif\0\0".as_slice(), exif].concat());
    }
    if let Some(xmp) = xmp {
        jpeg_segment(&mut out, 0xe1, &[b"http://ns.adobe.com/xap/1.0/\0".as_slice(), xmp].concat());
    }
    out.extend_from_slice(&clean[2..]);
    out
}

pub fn jpeg_segment(out: &mut Vec<u8>, marker: u8, payload: &[u8]) {
    out.extend_from_slice(&[0xff, marker]);
    out.extend_from_slice(&u16::try_from(payload.len() + 2).expect("a segment under 64 KiB").to_be_bytes());
    out.extend_from_slice(payload);
}

/// The picture as a PNG, with tEXt chunks (keyword, text) after IHDR.
pub fn clean_png(texts: &[(&str, &str)]) -> Vec<u8> {
    png_with(None, None, texts)
}

/// A PNG with, after IHDR, the given tEXt chunks, an eXIf chunk and an iTXt XMP
/// chunk.
pub fn png_with(exif: Option<&[u8]>, xmp: Option<&[u8]>, texts: &[(&str, &str)]) -> Vec<u8> {
    let mut encoded = Vec::new();
    let picture = picture();
    image::codecs::png::PngEncoder::new(&mut encoded)
        .write_image(picture.as_raw(), picture.width(), picture.height(), image::ExtendedColorType::Rgb8)
        .expect("encoding a PNG");
    // Signature (8) and IHDR (4 + 4 + 13 + 4).
    let after_ihdr = 8 + 25;
    let mut out = encoded[..after_ihdr].to_vec();
    for (keyword, text) in texts {
        png_chunk(&mut out, b"tEXt", &[keyword.as_bytes(), b"\0", text.as_bytes()].concat());
    }
    if let Some(exif) = exif {
        png_chunk(&mut out, b"eXIf", exif);
    }
    if let Some(xmp) = xmp {
        png_chunk(&mut out, b"iTXt", &[b"XML:com.adobe.xmp\0\0\0\0\0".as_slice(), xmp].concat());
    }
    out.extend_from_slice(&encoded[after_ihdr..]);
    out
}

pub fn png_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&u32::try_from(data.len()).expect("a small chunk").to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    out.extend_from_slice(&strip_png_crc32(&[kind, data]).to_be_bytes());
}

/// The picture as an extended (VP8X) lossless WebP with no metadata.
pub fn clean_webp() -> Vec<u8> {
    webp_with(None, None)
}

/// A VP8X WebP: the `image` encoder's VP8L chunk, then EXIF and XMP chunks, with
/// the VP8X flags saying so.
pub fn webp_with(exif: Option<&[u8]>, xmp: Option<&[u8]>) -> Vec<u8> {
    let mut simple = Vec::new();
    let picture = picture();
    image::codecs::webp::WebPEncoder::new_lossless(&mut simple)
        .write_image(picture.as_raw(), picture.width(), picture.height(), image::ExtendedColorType::Rgb8)
        .expect("encoding a WebP");
    assert_eq!(&simple[12..16], b"VP8L", "the encoder writes a simple lossless file");
    let flags = if exif.is_some() { 0x08 } else { 0 } | if xmp.is_some() { 0x04 } else { 0 };
    let mut vp8x = vec![flags, 0, 0, 0];
    vp8x.extend_from_slice(&(picture.width() - 1).to_le_bytes()[..3]);
    vp8x.extend_from_slice(&(picture.height() - 1).to_le_bytes()[..3]);
    let mut out = b"RIFF\0\0\0\0WEBP".to_vec();
    webp_chunk(&mut out, b"VP8X", &vp8x);
    out.extend_from_slice(&simple[12..]);
    if let Some(exif) = exif {
        webp_chunk(&mut out, b"EXIF", exif);
    }
    if let Some(xmp) = xmp {
        webp_chunk(&mut out, b"XMP ", xmp);
    }
    let size = u32::try_from(out.len() - 8).expect("a small file");
    out[4..8].copy_from_slice(&size.to_le_bytes());
    out
}

pub fn webp_chunk(out: &mut Vec<u8>, fourcc: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(fourcc);
    out.extend_from_slice(&u32::try_from(data.len()).expect("a small chunk").to_le_bytes());
    out.extend_from_slice(data);
    if data.len() % 2 == 1 {
        out.push(0);
    }
}

/// The text of an ImageMagick "Raw profile type exif" chunk: the JPEG APP1 payload
/// ("Exif\0\0" and the TIFF structure) in hex, as exiftool also reads it.
pub fn raw_exif_profile(exif: &[u8]) -> String {
    let payload = [b"Exif\0\0".as_slice(), exif].concat();
    let hex: String = payload.iter().map(|b| format!("{b:02x}")).collect();
    let lines: Vec<&str> =
        hex.as_bytes().chunks(72).map(|line| std::str::from_utf8(line).unwrap_or_default()).collect();
    format!("\nexif\n{:8}\n{}\n", payload.len(), lines.join("\n"))
}
