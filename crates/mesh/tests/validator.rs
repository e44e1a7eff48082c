//! Every relief, at every quality, from an opaque and from a transparent picture,
//! passes the Khronos glTF validator with no error and no warning, and the validator
//! counts the triangles the mesh has (`atelier_mesh::testing::khronos_report`).

use atelier_mesh::{Quality, glb, relief};

fn pictures() -> Vec<(&'static str, image::DynamicImage)> {
    let opaque = image::RgbImage::from_fn(120, 80, |x, y| image::Rgb([(x * 2) as u8, (y * 3) as u8, 120]));
    let cutout = image::RgbaImage::from_fn(64, 96, |x, y| {
        let inside = (x as i32 - 32).pow(2) + (y as i32 - 48).pow(2) < 28 * 28;
        image::Rgba([200, (y * 2) as u8, 40, if inside { 255 } else { 0 }])
    });
    vec![("opaque", opaque.into()), ("cut-out", cutout.into())]
}

fn png(image: &image::DynamicImage) -> Vec<u8> {
    let mut bytes = Vec::new();
    image.write_to(&mut std::io::Cursor::new(&mut bytes), image::ImageFormat::Png).expect("png");
    bytes
}

#[test]
fn every_relief_passes_the_khronos_validator() {
    for (name, picture) in pictures() {
        for quality in [Quality::Fast, Quality::Balanced, Quality::High] {
            let mesh = relief(&picture, quality).expect("relief");
            let glb = glb::to_glb(&mesh, Some(&png(&picture)), "atelier-mesh test").expect("glb");
            let Some(report) = atelier_mesh::testing::khronos_report(&glb) else { return };
            assert_eq!(
                (report["errors"].as_u64(), report["warnings"].as_u64()),
                (Some(0), Some(0)),
                "{name} {quality:?}: {report}"
            );
            assert_eq!(report["triangles"].as_u64(), Some(mesh.triangles() as u64), "{name} {quality:?}");
        }
    }
}
