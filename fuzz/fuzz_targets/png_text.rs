//! The PNG text-chunk reader and writer (crates/assets/src/png_text.rs): any bytes
//! read as a PNG's text chunks; when they are a PNG the writer accepts, the text it
//! embeds is read back exactly once, and embedding it again changes nothing.
#![no_main]

use atelier_fuzz::png_text::{embed_png_text, read_png_text};
use libfuzzer_sys::fuzz_target;

/// The keyword Atelier embeds generation parameters under.
const KEYWORD: &str = "parameters";

fuzz_target!(|data: &[u8]| {
    let _ = read_png_text(data);
    // The text: the file's last bytes (any string: Latin-1, UTF-8, NUL, controls).
    let text = String::from_utf8_lossy(&data[data.len().saturating_sub(48)..]);
    if let Ok(embedded) = embed_png_text(data, KEYWORD, &text) {
        let found: Vec<String> =
            read_png_text(&embedded).into_iter().filter(|(key, _)| key == KEYWORD).map(|(_, text)| text).collect();
        assert_eq!(found, [text.as_ref()]);
        assert_eq!(embed_png_text(&embedded, KEYWORD, &text).as_ref(), Ok(&embedded));
    }
});
