//! The one error type of the crate.

use thiserror::Error;

/// What can go wrong while lettering, rendering or binding a book.
#[derive(Debug, Error)]
pub enum BookError {
    /// No installed font has a glyph for these characters.
    #[error("no installed font covers {text:?} (language {language:?})")]
    NoFont {
        /// The characters no font covers, in the order they appear.
        text: String,
        /// The language the text was set in.
        language: String,
    },
    /// A font file could not be read or parsed.
    #[error("font error: {0}")]
    Font(String),
    /// A panel image could not be decoded, or a page image is not what it should be.
    #[error("image error: {0}")]
    Image(String),
    /// The PDF writer failed.
    #[error("PDF error: {0}")]
    Pdf(String),
    /// The PNG encoder failed.
    #[error("PNG error: {0}")]
    Png(String),
    /// The zip writer failed.
    #[error("zip error: {0}")]
    Zip(String),
    /// The input does not make sense (a zero-sized page, a negative font size, a bad
    /// text chunk keyword, an unknown balloon kind).
    #[error("invalid input: {0}")]
    Invalid(String),
}
