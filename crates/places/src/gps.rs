//! Where a photo says it was taken: the GPS position in its Exif metadata.
//!
//! kamadak-exif finds the Exif block in a JPEG (APP1), PNG (eXIf), WebP (EXIF chunk)
//! or TIFF file; this module reads GPSLatitude/GPSLatitudeRef and
//! GPSLongitude/GPSLongitudeRef from it. Anything malformed yields `None`, never an
//! error: an upload's metadata is a hint, and a broken one is no position.

use std::io::Cursor;

use exif::{Exif, In, Tag, Value};

use crate::Coordinates;

/// The GPS position recorded in an image's Exif metadata, if there is a usable one.
///
/// `None` when the image has no Exif or no GPS block, when a coordinate or its
/// hemisphere reference (N/S, E/W) is missing or malformed, when a value is out of
/// range (minutes or seconds past 60, latitude past 90), when the receiver marked
/// the fix void (GPSStatus "V"), or when it is exactly 0, 0: cameras without a fix
/// write that, and no one photographs the Gulf of Guinea's null island.
///
/// Other broken Exif fields are skipped rather than failing the whole read.
pub fn gps_from_exif(bytes: &[u8]) -> Option<Coordinates> {
    let mut reader = exif::Reader::new();
    reader.continue_on_error(true);
    let exif = match reader.read_from_container(&mut Cursor::new(bytes)) {
        Ok(exif) => exif,
        Err(e) => e.distill_partial_result(|_ignored| {}).ok()?,
    };
    position(&exif)
}

/// The position held by parsed Exif fields.
fn position(exif: &Exif) -> Option<Coordinates> {
    if reference(exif, Tag::GPSStatus) == Some('V') {
        return None;
    }
    let latitude = match reference(exif, Tag::GPSLatitudeRef)? {
        'N' => degrees(exif, Tag::GPSLatitude)?,
        'S' => -degrees(exif, Tag::GPSLatitude)?,
        _ => return None,
    };
    let longitude = match reference(exif, Tag::GPSLongitudeRef)? {
        'E' => degrees(exif, Tag::GPSLongitude)?,
        'W' => -degrees(exif, Tag::GPSLongitude)?,
        _ => return None,
    };
    if latitude == 0.0 && longitude == 0.0 {
        return None;
    }
    Coordinates::new(latitude, longitude).ok()
}

/// The first character of an ASCII field, upper case ("N", "S", "E", "W", "A", "V").
fn reference(exif: &Exif, tag: Tag) -> Option<char> {
    match &exif.get_field(tag, In::PRIMARY)?.value {
        Value::Ascii(strings) => strings.first()?.first().map(|b| char::from(*b).to_ascii_uppercase()),
        _ => None,
    }
}

/// Degrees from the Exif form: degrees, minutes and seconds as rationals (some
/// writers give fewer parts, or put everything in the degrees; both are read).
/// Signed rationals, which the standard does not allow but some writers use, are
/// read when not negative.
fn degrees(exif: &Exif, tag: Tag) -> Option<f64> {
    // A zero denominator or a negative part makes the whole value unreadable.
    let part = |num: f64, denom: f64| (denom != 0.0).then(|| num / denom).filter(|v| *v >= 0.0);
    let parts: Vec<f64> = match &exif.get_field(tag, In::PRIMARY)?.value {
        Value::Rational(parts) => {
            parts.iter().map(|r| part(f64::from(r.num), f64::from(r.denom))).collect::<Option<_>>()?
        }
        Value::SRational(parts) => {
            parts.iter().map(|r| part(f64::from(r.num), f64::from(r.denom))).collect::<Option<_>>()?
        }
        _ => return None,
    };
    let (degrees, minutes, seconds) = match parts.as_slice() {
        [d] => (*d, 0.0, 0.0),
        [d, m] => (*d, *m, 0.0),
        [d, m, s] => (*d, *m, *s),
        _ => return None,
    };
    // 60 itself is let through: a writer rounding 59.9996 seconds to 60 is not wrong
    // enough to throw the position away.
    if !(0.0..=60.0).contains(&minutes) || !(0.0..=60.0).contains(&seconds) {
        return None;
    }
    Some(degrees + minutes / 60.0 + seconds / 3600.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{GpsBlock, exif_blob, jpeg_with, png_with, tiff_with, webp_with};

    fn tokyo() -> GpsBlock {
        GpsBlock::at(35.6895, 139.6917)
    }

    fn assert_near(found: Option<Coordinates>, lat: f64, lon: f64) {
        let found = found.expect("a GPS position");
        assert!((found.latitude() - lat).abs() < 1e-6 && (found.longitude() - lon).abs() < 1e-6, "{found:?}");
    }

    #[test]
    fn reads_the_position_from_every_container() {
        let exif = exif_blob(&tokyo());
        assert_near(gps_from_exif(&jpeg_with(Some(&exif), None)), 35.6895, 139.6917);
        assert_near(gps_from_exif(&png_with(Some(&exif), None, &[])), 35.6895, 139.6917);
        assert_near(gps_from_exif(&webp_with(Some(&exif), None)), 35.6895, 139.6917);
        assert_near(gps_from_exif(&tiff_with(&tokyo())), 35.6895, 139.6917);
    }

    #[test]
    fn hemispheres_give_the_sign() {
        let buenos_aires = GpsBlock::at(-34.61315, -58.37723);
        assert_near(gps_from_exif(&jpeg_with(Some(&exif_blob(&buenos_aires)), None)), -34.61315, -58.37723);
        let lower_case = GpsBlock { lat_ref: b"s\0", lon_ref: b"w\0", ..buenos_aires };
        assert_near(gps_from_exif(&jpeg_with(Some(&exif_blob(&lower_case)), None)), -34.61315, -58.37723);
    }

    #[test]
    fn malformed_or_out_of_range_values_are_ignored() {
        let cases = [
            GpsBlock { lat_ref: b"X\0", ..tokyo() },
            GpsBlock { lon_ref: b"\0\0", ..tokyo() },
            GpsBlock { latitude: [(35, 1), (41, 0), (222, 10)], ..tokyo() },
            GpsBlock { latitude: [(35, 1), (75, 1), (0, 1)], ..tokyo() },
            GpsBlock { latitude: [(35, 1), (0, 1), (61, 1)], ..tokyo() },
            GpsBlock { latitude: [(91, 1), (0, 1), (0, 1)], ..tokyo() },
            GpsBlock { longitude: [(181, 1), (0, 1), (0, 1)], ..tokyo() },
            GpsBlock { status: Some(b"V\0"), ..tokyo() },
            GpsBlock { latitude: [(0, 1), (0, 1), (0, 1)], longitude: [(0, 1), (0, 1), (0, 1)], ..tokyo() },
            GpsBlock { omit_longitude: true, ..tokyo() },
        ];
        for block in cases {
            assert_eq!(gps_from_exif(&jpeg_with(Some(&exif_blob(&block)), None)), None, "{block:?}");
        }
        let active = GpsBlock { status: Some(b"A\0"), ..tokyo() };
        assert_near(gps_from_exif(&jpeg_with(Some(&exif_blob(&active)), None)), 35.6895, 139.6917);
    }

    #[test]
    fn images_without_a_position_give_none() {
        assert_eq!(gps_from_exif(&jpeg_with(None, None)), None);
        assert_eq!(gps_from_exif(&png_with(None, None, &[])), None);
        assert_eq!(gps_from_exif(&webp_with(None, None)), None);
        assert_eq!(gps_from_exif(b""), None);
        assert_eq!(gps_from_exif(b"GIF89a"), None);
        assert_eq!(gps_from_exif(&[0xff; 64]), None);
    }

    #[test]
    fn truncated_files_never_panic() {
        let exif = exif_blob(&tokyo());
        for file in [jpeg_with(Some(&exif), None), png_with(Some(&exif), None, &[]), webp_with(Some(&exif), None)] {
            for len in 0..file.len() {
                let _ = gps_from_exif(&file[..len]);
            }
        }
    }
}
