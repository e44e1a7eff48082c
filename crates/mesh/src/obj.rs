//! A mesh as Wavefront OBJ with its material (MTL) and texture, zipped together so
//! that the names the files use for each other hold (`model.obj` names
//! `model.mtl`, which names `texture.png`), and as binary STL for printing.

use std::fmt::Write as _;
use std::io::{Cursor, Write};

use zip::CompressionMethod;
use zip::write::{SimpleFileOptions, ZipWriter};

use crate::{Mesh, MeshError};

/// The files inside the OBJ zip.
pub const OBJ_NAME: &str = "model.obj";
pub const MTL_NAME: &str = "model.mtl";
pub const TEXTURE_NAME: &str = "texture.png";

/// The OBJ text: positions, texture coordinates (OBJ's `v` runs up, so glTF's is
/// flipped), normals, and faces counter-clockwise from the front, 1-based.
pub fn to_obj(mesh: &Mesh, generator: &str, with_material: bool) -> String {
    let mut text = String::with_capacity(mesh.positions.len() * 96 + mesh.indices.len() * 12);
    let _ = writeln!(text, "# {generator}");
    if with_material {
        let _ = writeln!(text, "mtllib {MTL_NAME}");
    }
    for [x, y, z] in &mesh.positions {
        let _ = writeln!(text, "v {x} {y} {z}");
    }
    for [u, v] in &mesh.uvs {
        let _ = writeln!(text, "vt {u} {}", 1.0 - v);
    }
    for [x, y, z] in &mesh.normals {
        let _ = writeln!(text, "vn {x} {y} {z}");
    }
    if with_material {
        text.push_str("usemtl picture\n");
    }
    for triangle in mesh.indices.chunks_exact(3) {
        let [a, b, c] = [triangle[0] + 1, triangle[1] + 1, triangle[2] + 1];
        let _ = writeln!(text, "f {a}/{a}/{a} {b}/{b}/{b} {c}/{c}/{c}");
    }
    text
}

/// The material: the picture as the diffuse map, no shine.
pub fn to_mtl() -> String {
    format!("newmtl picture\nKa 1 1 1\nKd 1 1 1\nKs 0 0 0\nd 1\nillum 1\nmap_Kd {TEXTURE_NAME}\n")
}

/// `model.obj`, `model.mtl` and `texture.png` in one zip (the texture left out,
/// with the material, when there is none).
pub fn to_obj_zip(mesh: &Mesh, texture_png: Option<&[u8]>, generator: &str) -> Result<Vec<u8>, MeshError> {
    let zip_error = |error: std::io::Error| MeshError::Gltf(format!("writing the OBJ zip: {error}"));
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    // The fastest deflate: the OBJ text is most of the work at high quality (level
    // 6, the default, took 450 ms for 76,000 triangles), for a zip a little larger.
    let deflated = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .compression_level(Some(1))
        .last_modified_time(zip::DateTime::default());
    let stored = deflated.compression_method(CompressionMethod::Stored).compression_level(None);
    zip.start_file(OBJ_NAME, deflated).map_err(|error| zip_error(error.into()))?;
    zip.write_all(to_obj(mesh, generator, texture_png.is_some()).as_bytes()).map_err(zip_error)?;
    if let Some(texture) = texture_png {
        zip.start_file(MTL_NAME, deflated).map_err(|error| zip_error(error.into()))?;
        zip.write_all(to_mtl().as_bytes()).map_err(zip_error)?;
        zip.start_file(TEXTURE_NAME, stored).map_err(|error| zip_error(error.into()))?;
        zip.write_all(texture).map_err(zip_error)?;
    }
    let cursor = zip.finish().map_err(|error| zip_error(error.into()))?;
    Ok(cursor.into_inner())
}

/// Binary STL: an 80-byte header, the triangle count, then each triangle's normal
/// and corners. STL has no units; the mesh's are kept (a long side of 1).
pub fn to_stl(mesh: &Mesh, generator: &str) -> Vec<u8> {
    let count = mesh.triangles();
    let mut bytes = Vec::with_capacity(84 + count * 50);
    let mut header = [b' '; 80];
    let note = generator.as_bytes();
    // "solid" must not start a binary STL's header (readers take it for ASCII).
    header[..note.len().min(80)].copy_from_slice(&note[..note.len().min(80)]);
    bytes.extend_from_slice(&header);
    bytes.extend_from_slice(&u32::try_from(count).unwrap_or(u32::MAX).to_le_bytes());
    for triangle in mesh.indices.chunks_exact(3) {
        let [a, b, c] = [0, 1, 2].map(|k| mesh.positions[triangle[k] as usize]);
        let normal = crate::mesh::normalize(crate::mesh::cross(crate::mesh::sub(b, a), crate::mesh::sub(c, a)));
        for value in normal.iter().chain(&a).chain(&b).chain(&c) {
            bytes.extend_from_slice(&value.to_le_bytes());
        }
        bytes.extend_from_slice(&0u16.to_le_bytes());
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn square() -> Mesh {
        Mesh {
            positions: vec![[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [1.0, 1.0, 0.0]],
            normals: vec![[0.0, 0.0, 1.0]; 4],
            uvs: vec![[0.0, 1.0], [1.0, 1.0], [0.0, 0.0], [1.0, 0.0]],
            indices: vec![0, 1, 2, 2, 1, 3],
        }
    }

    #[test]
    fn obj_names_its_material_and_counts_from_one() {
        let text = to_obj(&square(), "test", true);
        assert!(text.contains("mtllib model.mtl\n") && text.contains("usemtl picture\n"));
        assert_eq!(text.lines().filter(|line| line.starts_with("v ")).count(), 4);
        assert!(text.contains("f 1/1/1 2/2/2 3/3/3\n"));
        assert!(text.contains("vt 0 0\n"), "v flipped for OBJ");
        let zip = to_obj_zip(&square(), Some(b"\x89PNG"), "test").expect("zip");
        let archive = zip::ZipArchive::new(Cursor::new(zip)).expect("reads");
        let names: Vec<String> = archive.file_names().map(|name| name.expect("name").into_owned()).collect();
        assert_eq!(names, [OBJ_NAME, MTL_NAME, TEXTURE_NAME]);
    }

    #[test]
    fn stl_is_sized_by_its_triangles() {
        let stl = to_stl(&square(), "Atelier test");
        assert_eq!(stl.len(), 84 + 2 * 50);
        assert_eq!(u32::from_le_bytes([stl[80], stl[81], stl[82], stl[83]]), 2);
        assert!(!stl.starts_with(b"solid"));
    }
}
