//! Atelier's own parsing code, compiled here from its files in the main workspace
//! (by `#[path]`, the very files, not copies) so that the default fuzz targets need
//! only those files' few dependencies instead of the crates they live in (whose
//! dependency graphs, built again under instrumentation, take many minutes).
//!
//! Only files that stand alone are compiled this way: a file that starts to use
//! something of its crate fails this build (scripts/fuzz-ci, in CI) and then moves
//! to a `full` target or takes its dependency here. The rest of Atelier's parsers
//! are fuzzed through their crates by the `full` targets (see Cargo.toml).

/// `crates/assets/src/png_text.rs`: PNG text chunks read and written.
#[allow(dead_code)]
#[path = "../../crates/assets/src/png_text.rs"]
pub mod png_text;

/// `crates/assets/src/thumbnail.rs`: sniffing an image's type, reading its size.
#[allow(dead_code)]
#[path = "../../crates/assets/src/thumbnail.rs"]
pub mod thumbnail;

/// `crates/providers/src/kie/callback.rs`: Kie's callbacks, their signatures.
#[allow(dead_code)]
#[path = "../../crates/providers/src/kie/callback.rs"]
pub mod kie_callback;

/// `crates/assets/src/vet/raster.rs`: an image's header walk (pixel budget, frames,
/// Exif, trailing data) and its decode under limits.
#[allow(dead_code)]
#[path = "../../crates/assets/src/vet/raster.rs"]
pub mod raster;

pub mod multipart;
