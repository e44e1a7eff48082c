//! PNG text chunks: embedding generation parameters in a PNG, and reading them back.
//!
//! Pure byte surgery on the chunk layout; nothing is decoded or re-encoded, so the
//! pixels are untouched. Text that Latin-1 can carry goes in a `tEXt` chunk (what most
//! tools read); anything else goes in an uncompressed, UTF-8 `iTXt` chunk.

/// The eight bytes every PNG starts with.
pub const PNG_SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n'];

/// The largest chunk length the PNG format allows (2^31 - 1).
const MAX_CHUNK_LEN: usize = 0x7fff_ffff;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PngTextError {
    #[error("not a PNG: the signature is missing")]
    NotPng,
    #[error("malformed PNG: {0}")]
    Malformed(&'static str),
    #[error("invalid PNG text keyword: {0}")]
    InvalidKeyword(&'static str),
    #[error("PNG text must not contain a NUL character")]
    NulInText,
    #[error("PNG text is too long for one chunk")]
    TooLong,
}

/// One chunk of a PNG, as found in the byte layout.
#[derive(Debug, Clone, Copy)]
struct Chunk<'a> {
    kind: [u8; 4],
    data: &'a [u8],
    /// The whole chunk: length, type, data and CRC.
    raw: &'a [u8],
}

/// Walks the chunks after the signature. Checks the structure only (lengths, type
/// bytes, IHDR first, IEND last), not the CRCs of existing chunks.
fn chunks(png: &[u8]) -> Result<Vec<Chunk<'_>>, PngTextError> {
    let rest = png.strip_prefix(&PNG_SIGNATURE[..]).ok_or(PngTextError::NotPng)?;
    let mut found = Vec::new();
    let mut pos = 0usize;
    loop {
        let header = rest.get(pos..pos + 8).ok_or(PngTextError::Malformed("truncated chunk header"))?;
        let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
        if len > MAX_CHUNK_LEN {
            return Err(PngTextError::Malformed("chunk length out of range"));
        }
        let kind = [header[4], header[5], header[6], header[7]];
        if !kind.iter().all(u8::is_ascii_alphabetic) {
            return Err(PngTextError::Malformed("invalid chunk type"));
        }
        let end = pos
            .checked_add(12)
            .and_then(|n| n.checked_add(len))
            .ok_or(PngTextError::Malformed("chunk length out of range"))?;
        let raw = rest.get(pos..end).ok_or(PngTextError::Malformed("truncated chunk"))?;
        let data = &raw[8..8 + len];
        if found.is_empty() && (&kind != b"IHDR" || len != 13) {
            return Err(PngTextError::Malformed("the first chunk is not IHDR"));
        }
        found.push(Chunk { kind, data, raw });
        pos = end;
        if &kind == b"IEND" {
            // Anything after IEND is ignored by decoders; keep the layout strict anyway.
            if pos != rest.len() {
                return Err(PngTextError::Malformed("data after IEND"));
            }
            return Ok(found);
        }
    }
}

/// Checks a keyword: 1 to 79 printable Latin-1 characters, no leading, trailing or
/// doubled spaces. Returns it encoded as Latin-1.
fn keyword_bytes(keyword: &str) -> Result<Vec<u8>, PngTextError> {
    let bytes = latin1(keyword).ok_or(PngTextError::InvalidKeyword("not Latin-1"))?;
    if bytes.is_empty() || bytes.len() > 79 {
        return Err(PngTextError::InvalidKeyword("must be 1 to 79 characters"));
    }
    if !bytes.iter().all(|&b| (0x20..=0x7e).contains(&b) || b >= 0xa1) {
        return Err(PngTextError::InvalidKeyword("must be printable"));
    }
    if bytes.starts_with(b" ") || bytes.ends_with(b" ") || bytes.windows(2).any(|w| w == b"  ") {
        return Err(PngTextError::InvalidKeyword("no leading, trailing or doubled spaces"));
    }
    Ok(bytes)
}

/// Encodes text as Latin-1 when every character fits.
fn latin1(text: &str) -> Option<Vec<u8>> {
    text.chars().map(|c| u8::try_from(u32::from(c)).ok()).collect()
}

/// Latin-1 text safe for `tEXt`: printable characters, tab and line feed (the PNG
/// specification discourages the other control characters).
fn text_latin1(text: &str) -> Option<Vec<u8>> {
    let bytes = latin1(text)?;
    bytes.iter().all(|&b| b == b'\n' || b == b'\t' || (0x20..=0x7e).contains(&b) || b >= 0xa1).then_some(bytes)
}

/// Builds a chunk: length, type, data, CRC over type and data.
fn build_chunk(kind: &[u8; 4], data: &[u8]) -> Result<Vec<u8>, PngTextError> {
    if data.len() > MAX_CHUNK_LEN {
        return Err(PngTextError::TooLong);
    }
    let len = u32::try_from(data.len()).map_err(|_| PngTextError::TooLong)?;
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(kind);
    hasher.update(data);
    let mut out = Vec::with_capacity(data.len() + 12);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    out.extend_from_slice(&hasher.finalize().to_be_bytes());
    Ok(out)
}

/// The keyword of a text chunk (`tEXt`, `zTXt` or `iTXt`), when it is one.
fn text_keyword<'a>(chunk: &Chunk<'a>) -> Option<&'a [u8]> {
    matches!(&chunk.kind, b"tEXt" | b"zTXt" | b"iTXt").then(|| chunk.data.split(|&b| b == 0).next()).flatten()
}

/// Returns a copy of `png` with a text chunk `keyword` = `text` right after IHDR.
///
/// Uses `tEXt` when the text is Latin-1 safe, otherwise an uncompressed UTF-8 `iTXt`.
/// Existing text chunks with the same keyword are dropped, so that embedding twice
/// replaces rather than duplicates. Fails, leaving the caller to keep the original
/// bytes, when the input is not a well-formed PNG or the keyword or text cannot be
/// stored.
pub fn embed_png_text(png: &[u8], keyword: &str, text: &str) -> Result<Vec<u8>, PngTextError> {
    let parsed = chunks(png)?;
    let key = keyword_bytes(keyword)?;
    if text.contains('\0') {
        return Err(PngTextError::NulInText);
    }
    let chunk = match text_latin1(text) {
        Some(latin) => {
            let mut data = Vec::with_capacity(key.len() + 1 + latin.len());
            data.extend_from_slice(&key);
            data.push(0);
            data.extend_from_slice(&latin);
            build_chunk(b"tEXt", &data)?
        }
        None => {
            // keyword NUL, compression flag 0, method 0, empty language tag NUL,
            // empty translated keyword NUL, UTF-8 text.
            let mut data = Vec::with_capacity(key.len() + 5 + text.len());
            data.extend_from_slice(&key);
            data.extend_from_slice(&[0, 0, 0, 0, 0]);
            data.extend_from_slice(text.as_bytes());
            build_chunk(b"iTXt", &data)?
        }
    };

    let mut out = Vec::with_capacity(png.len() + chunk.len());
    out.extend_from_slice(&PNG_SIGNATURE);
    for (i, c) in parsed.iter().enumerate() {
        if text_keyword(c) == Some(key.as_slice()) {
            continue;
        }
        out.extend_from_slice(c.raw);
        if i == 0 {
            out.extend_from_slice(&chunk);
        }
    }
    Ok(out)
}

/// Reads the text chunks of a PNG as (keyword, text) pairs, in file order: `tEXt`
/// (Latin-1) and uncompressed `iTXt` (UTF-8). Compressed chunks (`zTXt`, compressed
/// `iTXt`) are skipped. Returns an empty list for anything that is not a PNG, and the
/// chunks read so far for a truncated one.
pub fn read_png_text(png: &[u8]) -> Vec<(String, String)> {
    let Some(rest) = png.strip_prefix(&PNG_SIGNATURE[..]) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    let mut pos = 0usize;
    while let Some(header) = rest.get(pos..pos + 8) {
        let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let kind = &header[4..8];
        let Some(data) = rest.get(pos + 8..).and_then(|r| r.get(..len)) else {
            break;
        };
        match kind {
            b"tEXt" => {
                if let Some((key, text)) = split_nul(data) {
                    found.push((from_latin1(key), from_latin1(text)));
                }
            }
            b"iTXt" => {
                if let Some(pair) = parse_itxt(data) {
                    found.push(pair);
                }
            }
            b"IEND" => break,
            _ => {}
        }
        pos += 12 + len;
    }
    found
}

fn split_nul(data: &[u8]) -> Option<(&[u8], &[u8])> {
    let at = data.iter().position(|&b| b == 0)?;
    Some((&data[..at], &data[at + 1..]))
}

fn from_latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}

fn parse_itxt(data: &[u8]) -> Option<(String, String)> {
    let (key, rest) = split_nul(data)?;
    let (&compressed, rest) = rest.split_first()?;
    let (_method, rest) = rest.split_first()?;
    if compressed != 0 {
        return None;
    }
    let (_language, rest) = split_nul(rest)?;
    let (_translated, text) = split_nul(rest)?;
    Some((from_latin1(key), String::from_utf8(text.to_vec()).ok()?))
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use image::{ImageFormat, Rgba, RgbaImage};

    use super::*;

    fn sample_png() -> Vec<u8> {
        let img = RgbaImage::from_fn(40, 30, |x, y| Rgba([(x * 6) as u8, (y * 8) as u8, 128, 255]));
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, ImageFormat::Png).expect("encode png");
        out.into_inner()
    }

    /// Decodes with the `png` crate, which checks every CRC, and returns the text
    /// chunks it saw (Latin-1 and UTF-8) along with the pixels.
    fn decode_with_png_crate(bytes: &[u8]) -> (Vec<(String, String)>, Vec<u8>) {
        let mut decoder = png::Decoder::new(Cursor::new(bytes));
        decoder.set_ignore_text_chunk(false);
        let mut reader = decoder.read_info().expect("png header");
        let mut pixels = vec![0; reader.output_buffer_size().expect("buffer size")];
        reader.next_frame(&mut pixels).expect("png frame");
        reader.finish().expect("png end");
        let info = reader.info();
        let mut texts: Vec<(String, String)> =
            info.uncompressed_latin1_text.iter().map(|t| (t.keyword.clone(), t.text.clone())).collect();
        for t in &info.utf8_text {
            texts.push((t.keyword.clone(), t.get_text().expect("itxt text")));
        }
        (texts, pixels)
    }

    #[test]
    fn latin1_text_round_trips_as_text_chunk() {
        let original = sample_png();
        let json = r#"{"prompt":"a cat, café","seed":42}"#;
        let embedded = embed_png_text(&original, "parameters", json).expect("embed");

        assert_eq!(read_png_text(&embedded), vec![("parameters".to_owned(), json.to_owned())]);
        // Right after IHDR: signature (8) + IHDR (25).
        assert_eq!(&embedded[33 + 4..33 + 8], b"tEXt");

        let (texts, pixels) = decode_with_png_crate(&embedded);
        assert_eq!(texts, vec![("parameters".to_owned(), json.to_owned())]);
        let (_, original_pixels) = decode_with_png_crate(&original);
        assert_eq!(pixels, original_pixels);

        let decoded = image::load_from_memory(&embedded).expect("image decodes");
        assert_eq!((decoded.width(), decoded.height()), (40, 30));
    }

    #[test]
    fn non_latin1_text_uses_itxt() {
        let original = sample_png();
        let json = r#"{"prompt":"一只猫 🐱"}"#;
        let embedded = embed_png_text(&original, "parameters", json).expect("embed");
        assert_eq!(&embedded[33 + 4..33 + 8], b"iTXt");
        assert_eq!(read_png_text(&embedded), vec![("parameters".to_owned(), json.to_owned())]);
        let (texts, _) = decode_with_png_crate(&embedded);
        assert_eq!(texts, vec![("parameters".to_owned(), json.to_owned())]);
        image::load_from_memory(&embedded).expect("image decodes");
    }

    #[test]
    fn embedding_twice_replaces() {
        let once = embed_png_text(&sample_png(), "parameters", "first").expect("embed");
        let twice = embed_png_text(&once, "parameters", "second").expect("embed");
        assert_eq!(read_png_text(&twice), vec![("parameters".to_owned(), "second".to_owned())]);
        let other = embed_png_text(&twice, "Software", "atelier").expect("embed");
        assert_eq!(read_png_text(&other).len(), 2);
    }

    #[test]
    fn rejects_what_it_cannot_store() {
        let png = sample_png();
        assert_eq!(embed_png_text(b"GIF89a....", "parameters", "x"), Err(PngTextError::NotPng));
        assert!(matches!(embed_png_text(&png[..png.len() - 5], "parameters", "x"), Err(PngTextError::Malformed(_))));
        assert!(matches!(embed_png_text(&png, "", "x"), Err(PngTextError::InvalidKeyword(_))));
        assert!(matches!(embed_png_text(&png, " lead", "x"), Err(PngTextError::InvalidKeyword(_))));
        assert!(matches!(embed_png_text(&png, &"k".repeat(80), "x"), Err(PngTextError::InvalidKeyword(_))));
        assert_eq!(embed_png_text(&png, "parameters", "a\0b"), Err(PngTextError::NulInText));
        assert!(read_png_text(b"not a png").is_empty());
        assert!(read_png_text(&png).is_empty());
    }
}
