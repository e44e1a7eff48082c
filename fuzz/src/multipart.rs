//! The upload handler's walk through a multipart form (`file_part` in
//! `crates/server/src/api/uploads/create.rs`), over multer as axum's `Multipart`
//! extractor sets it up: the boundary from the `Content-Type`, the body as a stream
//! of chunks, then fields read in turn until the first one named `file`, whose file
//! name, type and bytes are taken.

use std::convert::Infallible;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;

/// What the walk found.
#[derive(Debug, PartialEq, Eq)]
pub enum Walk {
    /// The `file` part: its file name, its declared type (lower case), its bytes.
    File { name: String, mime: String, bytes: Bytes },
    /// A well-formed form without a `file` part.
    NoFilePart,
    /// Not a multipart form, or a malformed one (the handler's 400).
    Refused(String),
}

/// Walks `body` sent with `content_type`, delivered `chunk` bytes at a time (0: in
/// one piece), as the handler does.
pub fn file_part(content_type: &str, body: &[u8], chunk: usize) -> Walk {
    let Ok(boundary) = multer::parse_boundary(content_type) else {
        return Walk::Refused("no boundary".into());
    };
    let body = Bytes::copy_from_slice(body);
    let size = if chunk == 0 { body.len().max(1) } else { chunk };
    let pieces: Vec<Result<Bytes, Infallible>> =
        (0..body.len()).step_by(size).map(|at| Ok(body.slice(at..(at + size).min(body.len())))).collect();
    let multipart = multer::Multipart::new(futures_util::stream::iter(pieces), boundary);
    let walk = pin!(walk(multipart));
    // Every chunk is at hand, so the walk never waits.
    match walk.poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(found) => found,
        Poll::Pending => panic!("a multipart walk over a body in memory waited"),
    }
}

async fn walk(mut multipart: multer::Multipart<'_>) -> Walk {
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => return Walk::NoFilePart,
            Err(error) => return Walk::Refused(error.to_string()),
        };
        if field.name() != Some("file") {
            continue;
        }
        let name = field.file_name().unwrap_or_default().to_owned();
        let mime = field.content_type().map(ToString::to_string).unwrap_or_default().to_ascii_lowercase();
        return match field.bytes().await {
            Ok(bytes) => Walk::File { name, mime, bytes },
            Err(error) => Walk::Refused(error.to_string()),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_file_part_after_others() {
        let body = b"--b\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\n1\r\n--b\r\nContent-Disposition: \
            form-data; name=\"file\"; filename=\"a.png\"\r\nContent-Type: Image/PNG\r\n\r\nPNG\r\n--b--\r\n";
        for chunk in [0, 1, 7] {
            assert_eq!(
                file_part("multipart/form-data; boundary=b", body, chunk),
                Walk::File { name: "a.png".into(), mime: "image/png".into(), bytes: Bytes::from_static(b"PNG") }
            );
        }
        assert!(matches!(file_part("text/plain", body, 0), Walk::Refused(_)));
    }
}
