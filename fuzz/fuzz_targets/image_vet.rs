//! Vetting an image from outside (`crates/assets/src/vet/raster.rs`, compiled here
//! by itself): the header walk with its pixel, frame, trailing-data and Exif checks
//! (`inspect_image`), then, under small limits (so that a valid bomb is refused
//! rather than decoded), the decode.
#![no_main]

use std::time::Duration;

use atelier_fuzz::raster::{MediaLimits, inspect_image, vet_image};
use atelier_fuzz::thumbnail::sniff_image_mime;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = MediaLimits {
        max_pixels: 1024 * 1024,
        max_frames: 64,
        decode_timeout: Duration::from_secs(5),
        ..MediaLimits::default()
    };
    if let Ok(header) = inspect_image(data, &limits) {
        assert!(u64::from(header.width) * u64::from(header.height) <= limits.max_pixels);
        assert_eq!(sniff_image_mime(data), Some(header.mime));
        // What decodes is held to the budget too (a frame larger than its header said).
        if let Ok(vetted) = vet_image(bytes::Bytes::copy_from_slice(data), &limits) {
            let (width, height) = (u64::from(vetted.image.width()), u64::from(vetted.image.height()));
            assert!(width * height <= limits.max_pixels, "{width}×{height} decoded");
        }
    }
});
