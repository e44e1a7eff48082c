//! A mesh as binary glTF 2.0 (GLB): one buffer holding the positions, normals,
//! texture coordinates, indices and the texture image; one matte material whose
//! base colour is the texture; one node in one scene.

use std::collections::BTreeMap;

use gltf_json as json;
use json::validation::{Checked::Valid, USize64};
use json::{Index, Root};

use crate::{Mesh, MeshError};

/// `glTF`, little-endian.
const MAGIC: u32 = 0x4654_6C67;
const JSON_CHUNK: u32 = 0x4E4F_534A;
const BIN_CHUNK: u32 = 0x004E_4942;

/// The mesh as GLB; `texture_png` (a PNG) becomes the base colour, `generator` the
/// asset's generator (say what made it).
pub fn to_glb(mesh: &Mesh, texture_png: Option<&[u8]>, generator: &str) -> Result<Vec<u8>, MeshError> {
    let count = mesh.positions.len();
    if count == 0 || mesh.normals.len() != count || mesh.uvs.len() != count || mesh.indices.is_empty() {
        return Err(MeshError::Gltf("a mesh needs vertices with normals, texture coordinates and triangles".into()));
    }
    let mut bin: Vec<u8> = Vec::new();
    let mut root = Root {
        asset: json::Asset { generator: Some(generator.to_owned()), ..json::Asset::default() },
        ..Root::default()
    };
    let buffer = root.push(json::Buffer {
        byte_length: USize64(0),
        name: None,
        uri: None,
        extensions: None,
        extras: Default::default(),
    });

    let floats = |values: &mut dyn Iterator<Item = f32>| -> Vec<u8> { values.flat_map(f32::to_le_bytes).collect() };
    let positions = floats(&mut mesh.positions.iter().flatten().copied());
    let normals = floats(&mut mesh.normals.iter().flatten().copied());
    let uvs = floats(&mut mesh.uvs.iter().flatten().copied());
    let indices: Vec<u8> = mesh.indices.iter().flat_map(|index| index.to_le_bytes()).collect();

    let vertices = Some(Valid(json::buffer::Target::ArrayBuffer));
    let position_view = view(&mut root, &mut bin, buffer, &positions, vertices);
    let normal_view = view(&mut root, &mut bin, buffer, &normals, vertices);
    let uv_view = view(&mut root, &mut bin, buffer, &uvs, vertices);
    let index_view = view(&mut root, &mut bin, buffer, &indices, Some(Valid(json::buffer::Target::ElementArrayBuffer)));

    let (min, max) = mesh.bounds();
    let position =
        accessor(&mut root, position_view, count, json::accessor::Type::Vec3, json::accessor::ComponentType::F32);
    root.accessors[position.value()].min = Some(serde_json::json!(min));
    root.accessors[position.value()].max = Some(serde_json::json!(max));
    let normal =
        accessor(&mut root, normal_view, count, json::accessor::Type::Vec3, json::accessor::ComponentType::F32);
    let uv = accessor(&mut root, uv_view, count, json::accessor::Type::Vec2, json::accessor::ComponentType::F32);
    let index = accessor(
        &mut root,
        index_view,
        mesh.indices.len(),
        json::accessor::Type::Scalar,
        json::accessor::ComponentType::U32,
    );

    let mut material = json::Material {
        name: Some("relief".into()),
        pbr_metallic_roughness: json::material::PbrMetallicRoughness {
            metallic_factor: json::material::StrengthFactor(0.0),
            roughness_factor: json::material::StrengthFactor(1.0),
            ..Default::default()
        },
        ..Default::default()
    };
    if let Some(png) = texture_png {
        let image_view = view(&mut root, &mut bin, buffer, png, None);
        let image = root.push(json::Image {
            buffer_view: Some(image_view),
            mime_type: Some(json::image::MimeType("image/png".into())),
            name: Some("picture".into()),
            uri: None,
            extensions: None,
            extras: Default::default(),
        });
        let sampler = root.push(json::texture::Sampler {
            mag_filter: Some(Valid(json::texture::MagFilter::Linear)),
            min_filter: Some(Valid(json::texture::MinFilter::LinearMipmapLinear)),
            wrap_s: Valid(json::texture::WrappingMode::ClampToEdge),
            wrap_t: Valid(json::texture::WrappingMode::ClampToEdge),
            ..Default::default()
        });
        let texture = root.push(json::Texture {
            name: None,
            sampler: Some(sampler),
            source: image,
            extensions: None,
            extras: Default::default(),
        });
        material.pbr_metallic_roughness.base_color_texture =
            Some(json::texture::Info { index: texture, tex_coord: 0, extensions: None, extras: Default::default() });
    }
    let material = root.push(material);

    let attributes = BTreeMap::from([
        (Valid(json::mesh::Semantic::Positions), position),
        (Valid(json::mesh::Semantic::Normals), normal),
        (Valid(json::mesh::Semantic::TexCoords(0)), uv),
    ]);
    let primitive = json::mesh::Primitive {
        attributes,
        extensions: None,
        extras: Default::default(),
        indices: Some(index),
        material: Some(material),
        mode: Valid(json::mesh::Mode::Triangles),
        targets: None,
    };
    let mesh_index = root.push(json::Mesh {
        extensions: None,
        extras: Default::default(),
        name: Some("relief".into()),
        primitives: vec![primitive],
        weights: None,
    });
    let node = root.push(json::Node { mesh: Some(mesh_index), ..Default::default() });
    let scene = root.push(json::Scene { extensions: None, extras: Default::default(), name: None, nodes: vec![node] });
    root.scene = Some(scene);
    root.buffers[buffer.value()].byte_length = USize64(bin.len() as u64);

    let text = json::serialize::to_vec(&root).map_err(|error| MeshError::Gltf(error.to_string()))?;
    Ok(container(text, bin))
}

/// Appends `bytes` to the binary chunk, 4-byte aligned, as a buffer view.
fn view(
    root: &mut Root,
    bin: &mut Vec<u8>,
    buffer: Index<json::Buffer>,
    bytes: &[u8],
    target: Option<json::validation::Checked<json::buffer::Target>>,
) -> Index<json::buffer::View> {
    pad(bin, 0);
    let offset = bin.len();
    bin.extend_from_slice(bytes);
    root.push(json::buffer::View {
        buffer,
        byte_length: USize64(bytes.len() as u64),
        byte_offset: Some(USize64(offset as u64)),
        byte_stride: None,
        name: None,
        target,
        extensions: None,
        extras: Default::default(),
    })
}

fn accessor(
    root: &mut Root,
    view: Index<json::buffer::View>,
    count: usize,
    kind: json::accessor::Type,
    component: json::accessor::ComponentType,
) -> Index<json::Accessor> {
    root.push(json::Accessor {
        buffer_view: Some(view),
        byte_offset: None,
        count: USize64(count as u64),
        component_type: Valid(json::accessor::GenericComponentType(component)),
        extensions: None,
        extras: Default::default(),
        type_: Valid(kind),
        min: None,
        max: None,
        name: None,
        normalized: false,
        sparse: None,
    })
}

fn pad(bytes: &mut Vec<u8>, with: u8) {
    while !bytes.len().is_multiple_of(4) {
        bytes.push(with);
    }
}

/// The GLB container: a 12-byte header, the JSON chunk (padded with spaces) and the
/// binary chunk (padded with zeros).
fn container(mut text: Vec<u8>, mut bin: Vec<u8>) -> Vec<u8> {
    pad(&mut text, b' ');
    pad(&mut bin, 0);
    let total = 12 + 8 + text.len() + 8 + bin.len();
    let mut glb = Vec::with_capacity(total);
    let word = |glb: &mut Vec<u8>, value: usize| glb.extend_from_slice(&(value as u32).to_le_bytes());
    glb.extend_from_slice(&MAGIC.to_le_bytes());
    word(&mut glb, 2);
    word(&mut glb, total);
    word(&mut glb, text.len());
    glb.extend_from_slice(&JSON_CHUNK.to_le_bytes());
    glb.extend_from_slice(&text);
    word(&mut glb, bin.len());
    glb.extend_from_slice(&BIN_CHUNK.to_le_bytes());
    glb.extend_from_slice(&bin);
    glb
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Quality, relief};

    fn sample() -> (Mesh, Vec<u8>) {
        let image = image::DynamicImage::ImageRgb8(image::RgbImage::from_fn(40, 30, |x, y| {
            image::Rgb([x as u8 * 6, y as u8 * 8, 90])
        }));
        let mut png = Vec::new();
        image.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png).expect("png");
        (relief(&image, Quality::Fast).expect("relief"), png)
    }

    #[test]
    fn the_container_holds_the_json_and_the_buffer_it_describes() {
        let (mesh, png) = sample();
        let glb = to_glb(&mesh, Some(&png), "a test").expect("glb");
        let word = |at: usize| u32::from_le_bytes([glb[at], glb[at + 1], glb[at + 2], glb[at + 3]]) as usize;
        assert_eq!((word(0) as u32, word(4), word(8)), (MAGIC, 2, glb.len()));
        let json_length = word(12);
        assert_eq!(word(16) as u32, JSON_CHUNK);
        let root: Root = serde_json::from_slice(&glb[20..20 + json_length]).expect("the JSON chunk is glTF");
        let bin_at = 20 + json_length;
        assert_eq!(word(bin_at + 4) as u32, BIN_CHUNK);
        assert_eq!(word(bin_at), glb.len() - bin_at - 8);
        assert!(root.buffers[0].byte_length.0 as usize <= word(bin_at));
        assert_eq!(root.accessors[0].count.0 as usize, mesh.positions.len());
        assert_eq!(root.images.len(), 1);
        assert_eq!(root.asset.generator.as_deref(), Some("a test"));
        assert_eq!(glb.len() % 4, 0);
    }

    #[test]
    fn an_empty_mesh_is_refused() {
        assert!(to_glb(&Mesh::default(), None, "x").is_err());
    }
}
