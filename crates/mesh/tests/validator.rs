//! Every relief, at every quality, from an opaque and from a transparent picture,
//! passes the Khronos glTF validator with no error and no warning, and the validator
//! counts the triangles the mesh has (`atelier_mesh::testing::khronos_report`); its
//! GLB, its OBJ (zipped with material and texture) and its STL load in assimp and in
//! trimesh with every triangle, and trimesh finds each watertight and consistently
//! wound, as the relief claims to be.

use atelier_mesh::testing::{assimp_report, trimesh_report};
use atelier_mesh::{Quality, glb, obj, relief};

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

#[test]
fn every_format_loads_in_assimp_and_trimesh_watertight() {
    for (name, picture) in pictures() {
        for quality in [Quality::Fast, Quality::Balanced, Quality::High] {
            let mesh = relief(&picture, quality).expect("relief");
            let texture = png(&picture);
            let files = [
                ("model.glb", glb::to_glb(&mesh, Some(&texture), "atelier-mesh test").expect("glb")),
                ("model.zip", obj::to_obj_zip(&mesh, Some(&texture), "atelier-mesh test").expect("obj")),
                ("model.stl", obj::to_stl(&mesh, "atelier-mesh test")),
            ];
            let triangles = mesh.triangles() as u64;
            for (file, bytes) in &files {
                let Some(assimp) = assimp_report(bytes, file) else { return };
                assert_eq!(assimp["faces"].as_u64(), Some(triangles), "{name} {quality:?} {file}: {assimp}");
                let Some(trimesh) = trimesh_report(bytes, file) else { return };
                assert_eq!(trimesh["faces"].as_u64(), Some(triangles), "{name} {quality:?} {file}: {trimesh}");
                assert_eq!(
                    (trimesh["watertight"].as_bool(), trimesh["winding_consistent"].as_bool()),
                    (Some(true), Some(true)),
                    "{name} {quality:?} {file}: {trimesh}"
                );
                if *file != "model.stl" {
                    assert_eq!(trimesh["textured"], true, "{name} {quality:?} {file}: {trimesh}");
                }
            }
        }
    }
}
