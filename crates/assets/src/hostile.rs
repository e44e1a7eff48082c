//! A hostile corpus, made on demand (nothing binary is checked in): decompression
//! bombs of each image format, files cut short, polyglots, Exif directories that
//! loop or run past their block, animations of 10,000 frames and an MP4 declaring
//! a frame no memory holds. The tests (here and over HTTP) and the bench's
//! `hostile` section feed them to every path by which a file enters.

use std::io::Cursor;

use image::{ImageFormat, Rgb, RgbImage};

/// One hostile file: a short name, the MIME type a sender would claim, the bytes,
/// and the stable code [`crate::vet`] answers with.
#[derive(Debug, Clone)]
pub struct Hostile {
    pub name: &'static str,
    pub mime: &'static str,
    pub bytes: Vec<u8>,
    pub code: &'static str,
}

/// The whole corpus (about 8 MB, made in well under a second in a release build).
pub fn corpus() -> Vec<Hostile> {
    let h = |name, mime, bytes, code| Hostile { name, mime, bytes, code };
    vec![
        h("png-bomb-30000", "image/png", png_bomb(30_000, 30_000), "image_too_large"),
        h("gif-bomb-65535", "image/gif", gif_declaring(65_535, 65_535), "image_too_large"),
        h("webp-bomb-16383", "image/webp", webp_lossless_bomb(16_383, 16_383), "image_too_large"),
        h("webp-truncated-16383", "image/webp", webp_truncated(16_383, 16_383), "image_too_large"),
        h("jpeg-bomb-65000", "image/jpeg", jpeg_declaring(65_000, 65_000), "image_too_large"),
        h("png-truncated", "image/png", truncated(&small(ImageFormat::Png)), "image_undecodable"),
        h("jpeg-truncated", "image/jpeg", truncated(&small(ImageFormat::Jpeg)), "image_undecodable"),
        h("gif-truncated", "image/gif", truncated(&small(ImageFormat::Gif)), "image_undecodable"),
        h("webp-truncated", "image/webp", truncated(&small(ImageFormat::WebP)), "image_undecodable"),
        h("png-zip-polyglot", "image/png", png_then(&zip_file()), "trailing_data"),
        h(
            "png-html-polyglot",
            "image/png",
            png_then(b"<html><script>alert(document.cookie)</script></html>"),
            "trailing_data",
        ),
        h("jpeg-exif-loop", "image/jpeg", jpeg_with_exif(&exif_looping()), "bad_metadata"),
        h("jpeg-exif-huge", "image/jpeg", jpeg_with_exif(&exif_huge()), "bad_metadata"),
        h("gif-10000-frames", "image/gif", gif_frames(10_000), "too_many_frames"),
        h("webp-10000-frames", "image/webp", webp_frames(10_000), "too_many_frames"),
        h("apng-10000-frames", "image/png", apng_declaring(10_000), "too_many_frames"),
        h(
            "mp4-100000",
            "video/mp4",
            mp4_declaring((320, 180), (65_535, 65_535), (100_000, 100_000)),
            "video_too_large",
        ),
    ]
}

/// A small real image of the format (64×48), for cutting short or extending.
pub fn small(format: ImageFormat) -> Vec<u8> {
    let img = RgbImage::from_fn(64, 48, |x, y| Rgb([(x * 4) as u8, (y * 5) as u8, ((x * y) % 256) as u8]));
    let mut out = Cursor::new(Vec::new());
    match format {
        ImageFormat::WebP => image::DynamicImage::ImageRgb8(img)
            .write_with_encoder(image::codecs::webp::WebPEncoder::new_lossless(&mut out)),
        _ => img.write_to(&mut out, format),
    }
    .unwrap_or_else(|error| panic!("encoding a {format:?}: {error}"));
    out.into_inner()
}

/// The first 60% of a file.
pub fn truncated(bytes: &[u8]) -> Vec<u8> {
    bytes[..bytes.len() * 6 / 10].to_vec()
}

/// Bits written least significant first (deflate's and VP8L's order).
#[derive(Default)]
struct Bits {
    out: Vec<u8>,
    acc: u64,
    n: u32,
}

impl Bits {
    fn put(&mut self, value: u32, bits: u32) {
        self.acc |= u64::from(value) << self.n;
        self.n += bits;
        while self.n >= 8 {
            self.out.push(self.acc as u8);
            self.acc >>= 8;
            self.n -= 8;
        }
    }

    /// A Huffman code: its most significant bit first.
    fn code(&mut self, code: u32, len: u32) {
        let reversed = (0..len).fold(0, |acc, i| acc | ((code >> i) & 1) << (len - 1 - i));
        self.put(reversed, len);
    }

    fn zeros(&mut self, mut count: u64) {
        while count > 0 && self.n != 0 {
            self.put(0, 1);
            count -= 1;
        }
        self.out.resize(self.out.len() + (count / 8) as usize, 0);
        for _ in 0..count % 8 {
            self.put(0, 1);
        }
    }

    fn finish(mut self) -> Vec<u8> {
        if self.n > 0 {
            self.out.push(self.acc as u8);
        }
        self.out
    }
}

/// A zlib stream of `total` zero bytes at about 1,000 to 1: one dynamic Huffman
/// block whose codes for "length 258, distance 1" take one bit each.
pub fn zlib_zeros(total: u64) -> Vec<u8> {
    let mut b = Bits::default();
    b.put(1, 1); // the last block
    b.put(2, 2); // dynamic Huffman codes
    b.put(29, 5); // 286 literal/length codes
    b.put(1, 5); // 2 distance codes
    b.put(14, 4); // 18 code-length codes
    for symbol in [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1] {
        b.put(
            match symbol {
                18 => 1,
                1 | 2 => 2,
                _ => 0,
            },
            3,
        );
    }
    // Code-length codes: 18 is "0", 1 is "10", 2 is "11".
    let (one, two, zeros) = ((0b10, 2), (0b11, 2), (0, 1));
    b.code(two.0, two.1); // literal 0: length 2
    b.code(zeros.0, zeros.1);
    b.put(127, 7); // 138 zeros
    b.code(zeros.0, zeros.1);
    b.put(106, 7); // 117 zeros: literals 1 to 255 unused
    b.code(two.0, two.1); // 256 (end of block): length 2
    b.code(zeros.0, zeros.1);
    b.put(17, 7); // 28 zeros: lengths 257 to 284 unused
    b.code(one.0, one.1); // 285 (length 258): length 1
    b.code(one.0, one.1); // distance codes 0 and 1: length 1
    b.code(one.0, one.1);
    // Literal/length codes: 285 is "0", literal 0 "10", end "11"; distance 1 is "0".
    b.code(0b10, 2);
    let rest = total.saturating_sub(1);
    b.zeros(rest / 258 * 2);
    for _ in 0..rest % 258 {
        b.code(0b10, 2);
    }
    b.code(0b11, 2);
    let mut out = vec![0x78, 0x01];
    out.extend(b.finish());
    // Adler-32 of zeros: a = 1, b = total.
    out.extend_from_slice(&((((total % 65_521) as u32) << 16) | 1).to_be_bytes());
    out
}

fn png_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let mut crc = crc32fast::Hasher::new();
    crc.update(kind);
    crc.update(data);
    out.extend_from_slice(&crc.finalize().to_be_bytes());
}

fn png_ihdr(width: u32, height: u32) -> Vec<u8> {
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]); // 8-bit RGB
    ihdr
}

/// A complete, valid PNG of `width`×`height` black RGB pixels whose pixel data is
/// one deflate stream of zeros (30,000²: 2.6 MB declaring 2.7 GB of pixels).
pub fn png_bomb(width: u32, height: u32) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    png_chunk(&mut out, b"IHDR", &png_ihdr(width, height));
    let rows = u64::from(height) * (1 + 3 * u64::from(width));
    png_chunk(&mut out, b"IDAT", &zlib_zeros(rows));
    png_chunk(&mut out, b"IEND", &[]);
    out
}

/// An APNG of 4×4 declaring `frames` frames in its animation control chunk.
pub fn apng_declaring(frames: u32) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    png_chunk(&mut out, b"IHDR", &png_ihdr(4, 4));
    let mut actl = frames.to_be_bytes().to_vec();
    actl.extend_from_slice(&0u32.to_be_bytes());
    png_chunk(&mut out, b"acTL", &actl);
    png_chunk(&mut out, b"IDAT", &zlib_zeros(4 * 13));
    png_chunk(&mut out, b"IEND", &[]);
    out
}

/// A small real PNG with `tail` after its IEND chunk.
pub fn png_then(tail: &[u8]) -> Vec<u8> {
    let mut out = small(ImageFormat::Png);
    out.extend_from_slice(tail);
    out
}

/// A ZIP archive of one stored file, `index.html`.
pub fn zip_file() -> Vec<u8> {
    let (name, body) = (b"index.html", b"<html>hi</html>");
    let crc = crc32fast::hash(body);
    let mut out = Vec::new();
    out.extend_from_slice(b"PK\x03\x04\x14\0\0\0\0\0\0\0\0\0");
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&(name.len() as u16).to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(name);
    out.extend_from_slice(body);
    let central = out.len() as u32;
    out.extend_from_slice(b"PK\x01\x02\x14\0\x14\0\0\0\0\0\0\0\0\0");
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&(name.len() as u16).to_le_bytes());
    out.extend_from_slice(&[0; 12]);
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(name);
    let size = out.len() as u32 - central;
    out.extend_from_slice(b"PK\x05\x06\0\0\0\0\x01\0\x01\0");
    out.extend_from_slice(&size.to_le_bytes());
    out.extend_from_slice(&central.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

/// A GIF whose screen and one image declare `width`×`height`, with a few bytes of
/// pixel data.
pub fn gif_declaring(width: u16, height: u16) -> Vec<u8> {
    let mut out = b"GIF89a".to_vec();
    out.extend_from_slice(&width.to_le_bytes());
    out.extend_from_slice(&height.to_le_bytes());
    out.extend_from_slice(&[0x80, 0, 0, 0, 0, 0, 255, 255, 255]);
    out.push(0x2C);
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(&width.to_le_bytes());
    out.extend_from_slice(&height.to_le_bytes());
    out.push(0);
    // LZW (code size 2): clear, then 0 repeated in growing strings, then end.
    out.extend_from_slice(&[2, 8, 0x84, 0x8f, 0xa9, 0xcb, 0xed, 0x0f, 0xa3, 0x9c, 0]);
    out.push(0x3B);
    out
}

/// A 1×1 GIF of `frames` frames.
pub fn gif_frames(frames: usize) -> Vec<u8> {
    let mut out = b"GIF89a\x01\0\x01\0\x80\0\0\0\0\0\xff\xff\xff".to_vec();
    out.extend_from_slice(b"!\xff\x0bNETSCAPE2.0\x03\x01\0\0\0");
    for _ in 0..frames {
        out.extend_from_slice(b"!\xf9\x04\0\x01\0\0\0");
        // One pixel: clear (4), 0, end (5) in 3-bit codes.
        out.extend_from_slice(b",\0\0\0\0\x01\0\x01\0\0\x02\x02\x44\x01\0");
    }
    out.push(0x3B);
    out
}

/// A VP8L bitstream of `width`×`height` black pixels: every prefix code has one
/// symbol, so each pixel takes no bit (a few bytes declaring up to 268 million
/// pixels: a valid bomb).
fn vp8l_flat(width: u32, height: u32) -> Vec<u8> {
    let mut b = Bits::default();
    b.put(0x2f, 8);
    b.put(width - 1, 14);
    b.put(height - 1, 14);
    b.put(1, 1); // alpha used
    b.put(0, 3); // version 0
    b.put(0, 1); // no transform
    b.put(0, 1); // no color cache
    b.put(0, 1); // no meta prefix codes
    for symbol in [0u32, 0, 0, 255, 0] {
        b.put(1, 1); // a simple code
        b.put(0, 1); // of one symbol
        if symbol > 1 {
            b.put(1, 1);
            b.put(symbol, 8);
        } else {
            b.put(0, 1);
            b.put(symbol, 1);
        }
    }
    b.finish()
}

fn riff_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(kind);
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.extend_from_slice(data);
    if data.len() % 2 == 1 {
        out.push(0);
    }
}

fn webp_of(chunks: &[u8]) -> Vec<u8> {
    let mut out = b"RIFF".to_vec();
    out.extend_from_slice(&(chunks.len() as u32 + 4).to_le_bytes());
    out.extend_from_slice(b"WEBP");
    out.extend_from_slice(chunks);
    out
}

/// A valid lossless WebP of `width`×`height` pixels in a few dozen bytes.
pub fn webp_lossless_bomb(width: u32, height: u32) -> Vec<u8> {
    let mut chunks = Vec::new();
    riff_chunk(&mut chunks, b"VP8L", &vp8l_flat(width, height));
    webp_of(&chunks)
}

/// A lossless WebP header declaring `width`×`height`, its bitstream cut after the
/// header (what the issue found accepted at once).
pub fn webp_truncated(width: u32, height: u32) -> Vec<u8> {
    let mut stream = vp8l_flat(width, height);
    stream.truncate(5);
    let mut chunks = Vec::new();
    riff_chunk(&mut chunks, b"VP8L", &stream);
    webp_of(&chunks)
}

/// An animated WebP of `frames` 1×1 frames.
pub fn webp_frames(frames: usize) -> Vec<u8> {
    let mut chunks = Vec::new();
    riff_chunk(&mut chunks, b"VP8X", &[0x12, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    riff_chunk(&mut chunks, b"ANIM", &[0, 0, 0, 0, 0, 0]);
    let mut frame = Vec::new();
    riff_chunk(&mut frame, b"VP8L", &vp8l_flat(1, 1));
    for _ in 0..frames {
        let mut anmf = vec![0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 100, 0, 0, 0];
        anmf.extend_from_slice(&frame);
        riff_chunk(&mut chunks, b"ANMF", &anmf);
    }
    webp_of(&chunks)
}

/// A real 16×16 JPEG whose frame header is changed to declare `width`×`height`.
pub fn jpeg_declaring(width: u16, height: u16) -> Vec<u8> {
    let mut out = small(ImageFormat::Jpeg);
    let sof = out.windows(2).position(|w| w == [0xFF, 0xC0]).expect("a baseline JPEG has SOF0");
    out[sof + 5..sof + 7].copy_from_slice(&height.to_be_bytes());
    out[sof + 7..sof + 9].copy_from_slice(&width.to_be_bytes());
    out
}

/// A small real JPEG with an APP1 Exif segment holding `tiff`.
pub fn jpeg_with_exif(tiff: &[u8]) -> Vec<u8> {
    let jpeg = small(ImageFormat::Jpeg);
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&((tiff.len() + 8) as u16).to_be_bytes());
    out.extend_from_slice(b"Exif\0\0");
    out.extend_from_slice(tiff);
    out.extend_from_slice(&jpeg[2..]);
    out
}

/// Exif whose first directory names itself as the next, and its Exif directory
/// points back at the first: a loop.
pub fn exif_looping() -> Vec<u8> {
    let mut tiff = b"II*\0\x08\0\0\0".to_vec();
    tiff.extend_from_slice(&2u16.to_le_bytes());
    // Orientation = 1, then the Exif IFD pointer back to this directory.
    tiff.extend_from_slice(&[0x12, 0x01, 3, 0, 1, 0, 0, 0, 1, 0, 0, 0]);
    tiff.extend_from_slice(&[0x69, 0x87, 4, 0, 1, 0, 0, 0, 8, 0, 0, 0]);
    tiff.extend_from_slice(&8u32.to_le_bytes());
    tiff
}

/// Exif whose first directory claims 65,535 entries (786 kB) in a block of 40 bytes.
pub fn exif_huge() -> Vec<u8> {
    let mut tiff = b"II*\0\x08\0\0\0".to_vec();
    tiff.extend_from_slice(&u16::MAX.to_le_bytes());
    tiff.extend_from_slice(&[0x12, 0x01, 3, 0, 1, 0, 0, 0, 1, 0, 0, 0]);
    tiff.extend_from_slice(&[0; 18]);
    tiff
}

fn mp4_box(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
    let mut out = ((body.len() + 8) as u32).to_be_bytes().to_vec();
    out.extend_from_slice(kind);
    out.extend_from_slice(body);
    out
}

/// Bits written most significant first (H.264's order), with Exp-Golomb numbers.
#[derive(Default)]
struct MsbBits {
    out: Vec<u8>,
    bits: u32,
}

impl MsbBits {
    fn put(&mut self, value: u64, count: u32) {
        for i in (0..count).rev() {
            if self.bits.is_multiple_of(8) {
                self.out.push(0);
            }
            if (value >> i) & 1 == 1 {
                let last = self.out.len() - 1;
                self.out[last] |= 0x80 >> (self.bits % 8);
            }
            self.bits += 1;
        }
    }

    fn ue(&mut self, value: u64) {
        let coded = value + 1;
        let len = 64 - coded.leading_zeros();
        self.put(0, len - 1);
        self.put(coded, len);
    }
}

/// An H.264 baseline sequence parameter set for a `width`×`height` picture
/// (multiples of 16).
fn sps(width: u64, height: u64) -> Vec<u8> {
    let mut b = MsbBits::default();
    b.put(0x67, 8); // NAL header: SPS
    b.put(66, 8); // baseline
    b.put(0, 8);
    b.put(40, 8); // level 4.0
    b.ue(0); // seq_parameter_set_id
    b.ue(0); // log2_max_frame_num_minus4
    b.ue(2); // pic_order_cnt_type
    b.ue(1); // max_num_ref_frames
    b.put(0, 1);
    b.ue(width / 16 - 1);
    b.ue(height / 16 - 1);
    b.put(1, 1); // frame_mbs_only
    b.put(1, 1); // direct_8x8_inference
    b.put(0, 1); // no cropping
    b.put(0, 1); // no VUI
    b.put(1, 1); // stop bit
    b.out
}

/// An MP4 (no media data) whose track header says `track`, whose `avc1` sample
/// entry says `coded` (both fields are 16-bit: 65,535 at most), and whose SPS
/// declares `declared` pixels (100,000² in the corpus).
pub fn mp4_declaring(track: (u32, u32), coded: (u16, u16), declared: (u64, u64)) -> Vec<u8> {
    let mut ftyp = b"isom\0\0\x02\0".to_vec();
    ftyp.extend_from_slice(b"isomiso2avc1mp41");
    let mut mvhd = vec![0u8; 100];
    mvhd[12..16].copy_from_slice(&1000u32.to_be_bytes());
    mvhd[16..20].copy_from_slice(&1000u32.to_be_bytes());
    mvhd[20..24].copy_from_slice(&0x0001_0000u32.to_be_bytes());
    let mut tkhd = vec![0u8; 84];
    tkhd[3] = 3; // enabled, in movie
    tkhd[12..16].copy_from_slice(&1u32.to_be_bytes());
    tkhd[20..24].copy_from_slice(&1000u32.to_be_bytes());
    tkhd[76..80].copy_from_slice(&(track.0 << 16).to_be_bytes());
    tkhd[80..84].copy_from_slice(&(track.1 << 16).to_be_bytes());
    let sps = sps(declared.0, declared.1);
    let mut avcc = vec![1, 66, 0, 40, 0xFF, 0xE1];
    avcc.extend_from_slice(&(sps.len() as u16).to_be_bytes());
    avcc.extend_from_slice(&sps);
    avcc.extend_from_slice(&[1, 0, 4, 0x68, 0xCE, 0x38, 0x80]);
    let mut avc1 = vec![0u8; 78];
    avc1[7] = 1; // data reference index
    avc1[24..26].copy_from_slice(&coded.0.to_be_bytes());
    avc1[26..28].copy_from_slice(&coded.1.to_be_bytes());
    avc1[28..32].copy_from_slice(&0x0048_0000u32.to_be_bytes());
    avc1[32..36].copy_from_slice(&0x0048_0000u32.to_be_bytes());
    avc1[40..42].copy_from_slice(&1u16.to_be_bytes());
    avc1[74..76].copy_from_slice(&0x18u16.to_be_bytes());
    avc1[76..78].copy_from_slice(&0xFFFFu16.to_be_bytes());
    avc1.extend(mp4_box(b"avcC", &avcc));
    let mut stsd = vec![0, 0, 0, 0, 0, 0, 0, 1];
    stsd.extend(mp4_box(b"avc1", &avc1));
    let empty_table = [0u8; 8];
    let mut stbl = mp4_box(b"stsd", &stsd);
    for kind in [b"stts", b"stsc", b"stco"] {
        stbl.extend(mp4_box(kind, &empty_table));
    }
    stbl.extend(mp4_box(b"stsz", &[0u8; 12]));
    let mut minf = mp4_box(b"vmhd", &[0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
    minf.extend(mp4_box(b"stbl", &stbl));
    let mut mdhd = vec![0u8; 24];
    mdhd[12..16].copy_from_slice(&1000u32.to_be_bytes());
    let mut hdlr = vec![0u8; 8];
    hdlr.extend_from_slice(b"vide");
    hdlr.extend_from_slice(&[0; 13]);
    let mut mdia = mp4_box(b"mdhd", &mdhd);
    mdia.extend(mp4_box(b"hdlr", &hdlr));
    mdia.extend(mp4_box(b"minf", &minf));
    let mut trak = mp4_box(b"tkhd", &tkhd);
    trak.extend(mp4_box(b"mdia", &mdia));
    let mut moov = mp4_box(b"mvhd", &mvhd);
    moov.extend(mp4_box(b"trak", &trak));
    let mut out = mp4_box(b"ftyp", &ftyp);
    out.extend(mp4_box(b"moov", &moov));
    out
}
