//! Stripping real JPEG, PNG and WebP files (from the `image` crate's encoders) with a
//! hand-written GPS Exif block and an XMP packet inserted: the result must be the
//! encoder's file again, byte for byte, must still decode, and must have no GPS.

use super::*;
use crate::gps_from_exif;
use crate::testing::{
    GpsBlock, clean_jpeg, clean_png, clean_webp, exif_blob, jpeg_segment, jpeg_with, png_chunk, png_with,
    raw_exif_profile, tiff_with, webp_chunk, webp_with, xmp_packet,
};

fn tokyo() -> Vec<u8> {
    exif_blob(&GpsBlock::at(35.6895, 139.6917))
}

fn tokyo_turned(orientation: u16) -> Vec<u8> {
    exif_blob(&GpsBlock { orientation: Some(orientation), ..GpsBlock::at(35.6895, 139.6917) })
}

fn pixels(image: &[u8]) -> Vec<u8> {
    image::load_from_memory(image).expect("the image decodes").to_rgb8().into_raw()
}

fn stripped(image: &[u8]) -> Vec<u8> {
    strip_metadata(image).expect("a well-formed image").expect("there is metadata to strip")
}

fn assert_has_tokyo(image: &[u8]) {
    let found = gps_from_exif(image).expect("the fixture has a GPS position");
    assert!((found.latitude() - 35.6895).abs() < 1e-6 && (found.longitude() - 139.6917).abs() < 1e-6);
}

#[test]
fn jpeg_loses_exif_and_xmp_and_nothing_else() {
    let dirty = jpeg_with(Some(&tokyo()), Some(&xmp_packet()));
    assert_has_tokyo(&dirty);
    let clean = stripped(&dirty);
    assert_eq!(clean, clean_jpeg(), "the encoder's own bytes are left");
    assert_eq!(gps_from_exif(&clean), None);
    assert_eq!(pixels(&clean), pixels(&dirty));
}

#[test]
fn png_loses_exif_and_xmp_but_keeps_its_parameters() {
    let parameters = [("parameters", "a lighthouse at dusk, 30 steps, seed 7")];
    let dirty = png_with(Some(&tokyo()), Some(&xmp_packet()), &parameters);
    assert_has_tokyo(&dirty);
    let clean = stripped(&dirty);
    assert_eq!(clean, clean_png(&parameters));
    assert_eq!(gps_from_exif(&clean), None);
    assert_eq!(pixels(&clean), pixels(&dirty));
}

#[test]
fn webp_loses_exif_and_xmp_and_their_flags() {
    let dirty = webp_with(Some(&tokyo()), Some(&xmp_packet()));
    assert_has_tokyo(&dirty);
    let clean = stripped(&dirty);
    assert_eq!(clean, clean_webp(), "VP8X flags cleared, RIFF size fixed, image chunk untouched");
    assert_eq!(gps_from_exif(&clean), None);
    assert_eq!(pixels(&clean), pixels(&dirty));
    let xmp_only = stripped(&webp_with(None, Some(&xmp_packet())));
    assert_eq!(xmp_only, clean_webp());
}

#[test]
fn clean_files_are_left_alone_and_stripping_is_idempotent() {
    for clean in [clean_jpeg(), clean_png(&[("parameters", "x")]), clean_webp()] {
        assert_eq!(strip_metadata(&clean), Ok(None));
    }
    for dirty in
        [jpeg_with(Some(&tokyo_turned(6)), None), png_with(Some(&tokyo()), None, &[]), webp_with(None, Some(b"x"))]
    {
        let once = stripped(&dirty);
        assert_eq!(strip_metadata(&once), Ok(None), "a stripped file has nothing left to strip");
    }
}

#[test]
fn a_turning_orientation_is_put_back_alone() {
    let cases = [
        jpeg_with(Some(&tokyo_turned(6)), None),
        png_with(Some(&tokyo_turned(6)), None, &[]),
        webp_with(Some(&tokyo_turned(6)), Some(&xmp_packet())),
    ];
    for dirty in cases {
        assert_eq!(orientation_of(&dirty), Some(6));
        let clean = stripped(&dirty);
        assert_eq!(gps_from_exif(&clean), None);
        assert_eq!(orientation_of(&clean), Some(6), "the photo still stands upright");
        assert_eq!(pixels(&clean), pixels(&dirty));
    }
    // Orientation 1 is the default: nothing to put back.
    assert_eq!(stripped(&jpeg_with(Some(&tokyo_turned(1)), None)), clean_jpeg());
    // A WebP whose Exif is put back keeps its EXIF flag (and loses the XMP one).
    let webp = stripped(&webp_with(Some(&tokyo_turned(8)), Some(&xmp_packet())));
    assert_eq!(webp[20] & 0x0c, 0x08);
}

#[test]
fn jpeg_photoshop_blocks_and_trailers_go_colour_profiles_and_comments_stay() {
    let encoded = clean_jpeg();
    let (soi, rest) = encoded.split_at(2);
    let mut kept = soi.to_vec();
    jpeg_segment(&mut kept, 0xe2, b"ICC_PROFILE\0\x01\x01not really a profile");
    jpeg_segment(&mut kept, 0xfe, b"a comment");

    let mut dirty = soi.to_vec();
    jpeg_segment(&mut dirty, 0xe1, &[b"Exif\0\0".as_slice(), &tokyo()].concat());
    jpeg_segment(&mut dirty, 0xe2, b"ICC_PROFILE\0\x01\x01not really a profile");
    jpeg_segment(&mut dirty, 0xe2, b"MPF\0MM\0*\0\0\0\x08");
    jpeg_segment(&mut dirty, 0xed, b"Photoshop 3.0\08BIM\x04\x04\0\0\0\0\0\x0a\x1c\x02\x5a\0\x05Tokyo");
    jpeg_segment(&mut dirty, 0xe1, b"http://ns.adobe.com/xmp/extension/\0more XMP");
    jpeg_segment(&mut dirty, 0xfe, b"a comment");
    dirty.extend_from_slice(rest);
    // A motion photo's video, or an MPF secondary image with Exif of its own.
    dirty.extend_from_slice(&jpeg_with(Some(&tokyo()), None));

    kept.extend_from_slice(rest);
    assert_eq!(stripped(&dirty), kept);
}

#[test]
fn jpeg_keeps_mpf_without_a_trailer_and_accepts_a_scan_cut_short() {
    let encoded = clean_jpeg();
    let mut with_mpf = encoded[..2].to_vec();
    jpeg_segment(&mut with_mpf, 0xe2, b"MPF\0MM\0*\0\0\0\x08");
    with_mpf.extend_from_slice(&encoded[2..]);
    assert_eq!(strip_metadata(&with_mpf), Ok(None));

    let dirty = jpeg_with(Some(&tokyo()), None);
    let cut = &dirty[..dirty.len() - 40];
    let clean = stripped(cut);
    assert_eq!(clean, clean_jpeg()[..clean_jpeg().len() - 40]);
    assert_eq!(gps_from_exif(&clean), None);
}

#[test]
fn png_raw_profiles_and_bytes_after_iend_go() {
    let clean = clean_png(&[("Comment", "kept")]);
    let iend_at = clean.len() - 12;
    let mut dirty = clean[..iend_at].to_vec();
    png_chunk(&mut dirty, b"zTXt", b"Raw profile type exif\0\0compressed hex");
    png_chunk(&mut dirty, b"tEXt", b"Raw profile type APP1\0\nxmp\n 10\n...");
    png_chunk(&mut dirty, b"tEXt", b"Raw profile type icc\0\nicc\n 10\n...");
    dirty.extend_from_slice(&clean[iend_at..]);
    png_chunk(&mut dirty, b"eXIf", &tokyo());

    let mut expected = clean[..iend_at].to_vec();
    png_chunk(&mut expected, b"tEXt", b"Raw profile type icc\0\nicc\n 10\n...");
    expected.extend_from_slice(&clean[iend_at..]);
    assert_eq!(stripped(&dirty), expected);
}

#[test]
fn webp_bytes_after_the_riff_chunk_go() {
    let mut dirty = clean_webp();
    webp_chunk(&mut dirty, b"EXIF", &tokyo());
    assert_eq!(stripped(&dirty), clean_webp());
}

#[test]
fn other_formats_are_refused() {
    for other in
        [tiff_with(&GpsBlock::at(35.6895, 139.6917)), b"GIF89a\x01\0\x01\0".to_vec(), Vec::new(), b"RIFF".to_vec()]
    {
        assert_eq!(strip_metadata(&other), Err(StripError::UnsupportedFormat));
    }
}

/// Whatever a file's state, stripping must not panic, and what it accepts must come
/// out (or stay) without a position that kamadak-exif can read.
fn check_never_leaks(file: &[u8]) {
    match strip_metadata(file) {
        Ok(Some(out)) => assert_eq!(gps_from_exif(&out), None, "a stripped file kept its position"),
        Ok(None) => assert_eq!(gps_from_exif(file), None, "a file left alone had a position"),
        Err(_) => {}
    }
}

fn dirty_files() -> [Vec<u8>; 3] {
    [
        jpeg_with(Some(&tokyo_turned(3)), Some(&xmp_packet())),
        png_with(Some(&tokyo()), Some(&xmp_packet()), &[("parameters", "p")]),
        webp_with(Some(&tokyo_turned(3)), Some(&xmp_packet())),
    ]
}

#[test]
fn truncations_never_panic_nor_leak() {
    for file in dirty_files() {
        for len in 0..=file.len() {
            check_never_leaks(&file[..len]);
        }
    }
}

#[test]
fn corrupted_bytes_never_panic_nor_leak() {
    let mut seed = 0x853c_49e6_748f_ea9b_u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for file in dirty_files() {
        for _ in 0..3000 {
            let mut broken = file.clone();
            for _ in 0..1 + next() % 3 {
                let at = (next() % broken.len() as u64) as usize;
                broken[at] = [0x00, 0xff, 0x01, 0x7f, 0xe1, 0xd9, 0xda, (next() >> 8) as u8][(next() % 8) as usize];
            }
            check_never_leaks(&broken);
        }
    }
}

/// What exiftool (Debian's libimage-exiftool-perl) finds in a file, read with
/// `exiftool -j -n`: an independent reader of Exif, XMP and the raw-profile text
/// chunks. `None`, after a note, when exiftool is not installed; under
/// `ATELIER_TEST_REQUIRE_TOOLS=1` (as `scripts/test` runs) a missing exiftool fails
/// the test instead.
fn exiftool(image: &[u8], name: &str) -> Option<serde_json::Map<String, serde_json::Value>> {
    let dir = tempfile::tempdir().expect("a scratch directory");
    let path = dir.path().join(name);
    std::fs::write(&path, image).expect("writing the image to check");
    match std::process::Command::new("exiftool").args(["-j", "-n"]).arg(&path).output() {
        Ok(output) => {
            assert!(output.status.success(), "exiftool failed: {}", String::from_utf8_lossy(&output.stderr));
            let mut report: Vec<serde_json::Map<String, serde_json::Value>> =
                serde_json::from_slice(&output.stdout).expect("exiftool -j prints a JSON list");
            Some(report.pop().expect("one file's report"))
        }
        Err(e) => {
            let note = format!("exiftool is missing (apt-get install libimage-exiftool-perl): {e}");
            assert!(std::env::var("ATELIER_TEST_REQUIRE_TOOLS").as_deref() != Ok("1"), "{note}");
            eprintln!("skipped: {note}");
            None
        }
    }
}

#[test]
fn exiftool_sees_the_position_before_and_nothing_after() {
    let files = [
        ("photo.jpg", jpeg_with(Some(&tokyo()), Some(&xmp_packet()))),
        ("photo.png", png_with(Some(&tokyo()), Some(&xmp_packet()), &[("parameters", "a lighthouse")])),
        ("photo.webp", webp_with(Some(&tokyo()), Some(&xmp_packet()))),
        ("xmp-only.jpg", jpeg_with(None, Some(&xmp_packet()))),
        ("xmp-only.png", png_with(None, Some(&xmp_packet()), &[])),
        ("xmp-only.webp", webp_with(None, Some(&xmp_packet()))),
        ("raw-profile.png", png_with(None, None, &[("Raw profile type exif", &raw_exif_profile(&tokyo()))])),
    ];
    for (name, dirty) in files {
        let Some(before) = exiftool(&dirty, name) else { return };
        let latitude = before.get("GPSLatitude").and_then(serde_json::Value::as_f64);
        assert!(latitude.is_some_and(|lat| (lat - 35.6895).abs() < 1e-4), "{name} before: {before:?}");

        let clean = stripped(&dirty);
        let Some(after) = exiftool(&clean, name) else { return };
        let gps: Vec<&String> = after.keys().filter(|key| key.starts_with("GPS")).collect();
        assert!(gps.is_empty(), "{name} after stripping still has {gps:?}");
        assert!(!after.contains_key("Error") && !after.contains_key("Warning"), "{name} after: {after:?}");
        if name == "photo.png" {
            assert_eq!(after.get("Parameters").and_then(serde_json::Value::as_str), Some("a lighthouse"));
        }
    }
}
