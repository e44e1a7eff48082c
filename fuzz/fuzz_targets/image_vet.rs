//! Vetting an image from outside (atelier_assets::vet): the header walk with its
//! pixel, frame, trailing-data and Exif checks (`inspect_image`), then, under small
//! limits (so that a valid bomb is refused rather than decoded), the decode.
#![no_main]

use std::time::Duration;

use atelier_assets::MediaLimits;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = MediaLimits {
        max_pixels: 1024 * 1024,
        max_frames: 64,
        decode_timeout: Duration::from_secs(5),
        ..MediaLimits::default()
    };
    if let Ok(header) = atelier_assets::inspect_image(data, &limits) {
        assert!(u64::from(header.width) * u64::from(header.height) <= limits.max_pixels);
        assert_eq!(atelier_assets::sniff_image_mime(data), Some(header.mime));
        let _ = atelier_assets::vet_image(bytes::Bytes::copy_from_slice(data), &limits);
    }
});
