//! Multipart bodies as the upload handler walks them (src/multipart.rs): the input
//! is `<chunk size byte><Content-Type>\n<body>`; the same body delivered in one piece
//! and in chunks must be read the same way.
#![no_main]

use atelier_fuzz::multipart::{Walk, file_part};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&chunk, rest)) = data.split_first() else { return };
    let (content_type, body) = match rest.iter().position(|&b| b == b'\n') {
        Some(at) => (&rest[..at], &rest[at + 1..]),
        None => (rest, &[][..]),
    };
    let Ok(content_type) = std::str::from_utf8(content_type) else { return };
    let whole = file_part(content_type, body, 0);
    let chunked = file_part(content_type, body, usize::from(chunk));
    // A refusal's message may differ with where the body was cut; what is found may not.
    match (&whole, &chunked) {
        (Walk::Refused(_), Walk::Refused(_)) => {}
        _ => assert_eq!(whole, chunked),
    }
});
