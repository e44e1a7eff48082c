//! Manga lettering and binding.
//!
//! - [`typeset`] lays text out in a box, horizontally or in vertical Japanese columns
//!   (縦書き) with the fonts' vertical forms and kinsoku;
//! - [`fit_balloon`] sizes a balloon to its text;
//! - [`render_png`] composes a [`Page`] (panel art, effects, balloons) into a PNG;
//! - [`render_pdf`] binds pages into a PDF with the text as real text in embedded,
//!   subset fonts;
//! - [`build_cbz`] packs page images into a comic book archive with `ComicInfo.xml`.
//!
//! A pure library: no HTTP, no SQL, no async. Fonts come from the system
//! ([`FontBook::system`]) or from directories ([`FontBook::from_dirs`]); text no
//! installed font covers is a [`BookError::NoFont`], never a panic.
//!
//! ```no_run
//! use atelier_book::{BalloonKind, BookMeta, FontBook, build_cbz, fit_balloon, render_pdf, render_png, typeset};
//! # fn main() -> Result<(), atelier_book::BookError> {
//! let fonts = FontBook::system()?; // once per process
//! let layout = typeset(&fonts, "吾輩は猫である。", "ja", true, 24.0, (200.0, 8.0 * 24.0))?;
//! assert!(!layout.overflow);
//! let fit = fit_balloon(&fonts, "Hello there!", "en", BalloonKind::Speech, false, 24.0, 14.0, (300.0, 200.0))?;
//! println!("a {}×{} balloon at {} px", fit.width, fit.height, fit.font_size);
//! # let page: atelier_book::Page = Default::default();
//! # let meta = BookMeta::default();
//! let png = render_png(&fonts, &page, &[("atelier:run".into(), "run-1".into())])?;
//! let pdf = render_pdf(&fonts, std::slice::from_ref(&page), &meta)?;
//! let cbz = build_cbz(&[png], &[(page.width, page.height)], &meta)?;
//! # let _ = (pdf, cbz);
//! # Ok(())
//! # }
//! ```

mod balloon;
mod cbz;
mod charclass;
mod effects;
mod error;
mod fit;
#[cfg(any(test, feature = "fixtures"))]
mod fixtures;
mod fonts;
mod geometry;
mod model;
mod pdf;
mod raster;
mod scene;
mod shape;
mod typeset;

#[cfg(test)]
mod testing;

pub use cbz::{build_cbz, comic_info_xml};
pub use error::BookError;
pub use fit::{Fit, fit_balloon, fit_balloon_styled, inner_box};
#[cfg(any(test, feature = "fixtures"))]
pub use fixtures::{sample_page, tiny_png};
pub use fonts::{FontBook, FontFace};
pub use model::{Balloon, BalloonKind, BookMeta, Effect, Page, PanelArt, Rect};
pub use pdf::{POINTS_PER_PIXEL, PdfBook, render_pdf};
pub use raster::{render_png, render_rgba};
pub use typeset::{PlacedGlyph, TextLayout, TextStyle, typeset, typeset_styled};
