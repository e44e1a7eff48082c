//! Image sniffing and dimension reading (`sniff_image_mime`, `image_dimensions` in
//! crates/assets/src/thumbnail.rs): what the upload handler, the data URI and
//! download paths and the asset store read first from any file.
#![no_main]

use atelier_fuzz::thumbnail::{image_dimensions, raster_format, sniff_image_mime};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(mime) = sniff_image_mime(data) {
        // Whatever is sniffed is a type the thumbnails are made for.
        assert!(raster_format(mime).is_some(), "{mime}");
    }
    let _ = image_dimensions(data);
});
