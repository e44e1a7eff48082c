//! Reading a GLB back: its triangles in world space (every node's transform
//! applied), their texture coordinates, and each primitive's base colour (factor
//! and texture), which is what a still of it needs. Anything it does not read
//! (external buffers, sparse or compressed accessors, other primitive modes) is
//! left out rather than guessed; a file that is not GLB is an error. Every offset
//! is checked: the bytes may come from anyone (an upload, a remote worker).

use serde_json::Value;

use crate::MeshError;

const MAGIC: &[u8; 4] = b"glTF";
const JSON_CHUNK: u32 = 0x4E4F_534A;
const BIN_CHUNK: u32 = 0x004E_4942;
/// Node trees deeper than this are not walked (a file may make a cycle), nor more
/// nodes than this in all (a node may name one child a thousand times).
const MAX_DEPTH: usize = 32;
const MAX_VISITS: usize = 100_000;
/// The most triangles read; past it the rest are left out.
pub const MAX_TRIANGLES: usize = 4_000_000;
/// The largest texture decoded, in bytes of pixels.
const MAX_TEXTURE_BYTES: u64 = 256 * 1024 * 1024;

/// One primitive's triangles, its vertices in world space.
#[derive(Debug, Default)]
pub struct Primitive {
    pub positions: Vec<[f32; 3]>,
    /// Empty when the primitive has none.
    pub uvs: Vec<[f32; 2]>,
    /// Three per triangle.
    pub indices: Vec<u32>,
    /// The material's `baseColorFactor` (linear RGBA).
    pub color: [f32; 4],
    /// The material's base colour texture, decoded.
    pub texture: Option<image::RgbaImage>,
}

/// The primitives of the file's scene.
#[derive(Debug, Default)]
pub struct Scene {
    pub primitives: Vec<Primitive>,
}

impl Scene {
    pub fn triangles(&self) -> usize {
        self.primitives.iter().map(|primitive| primitive.indices.len() / 3).sum()
    }
}

fn bad(message: impl Into<String>) -> MeshError {
    MeshError::Gltf(message.into())
}

/// The GLB's JSON document and its binary chunk.
fn chunks(bytes: &[u8]) -> Result<(Value, &[u8]), MeshError> {
    if bytes.len() < 20 || &bytes[..4] != MAGIC {
        return Err(bad("not a GLB file"));
    }
    let word = |at: usize| -> Option<u32> { Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?)) };
    let json_length = word(12).ok_or_else(|| bad("truncated GLB header"))? as usize;
    if word(16) != Some(JSON_CHUNK) {
        return Err(bad("the GLB's first chunk is not JSON"));
    }
    let json = bytes.get(20..20usize.saturating_add(json_length)).ok_or_else(|| bad("truncated JSON chunk"))?;
    let document: Value = serde_json::from_slice(json).map_err(|error| bad(format!("the GLB's JSON: {error}")))?;
    let bin_at = (20 + json_length + 3) & !3;
    let bin = match (word(bin_at), word(bin_at + 4)) {
        (Some(length), Some(BIN_CHUNK)) => bytes
            .get(bin_at + 8..(bin_at + 8).saturating_add(length as usize))
            .ok_or_else(|| bad("truncated BIN chunk"))?,
        _ => &[],
    };
    Ok((document, bin))
}

/// Reads a GLB's default scene (or its first).
pub fn read_glb(bytes: &[u8]) -> Result<Scene, MeshError> {
    let (document, bin) = chunks(bytes)?;
    let reader = Reader { document: &document, bin, visits: Default::default(), triangles: Default::default() };
    let scene_index = document["scene"].as_u64().unwrap_or(0) as usize;
    let mut scene = Scene::default();
    let roots: Vec<usize> = match document["scenes"].get(scene_index) {
        Some(found) => indices(&found["nodes"]),
        // No scenes: every node that is no other's child.
        None => {
            let nodes = document["nodes"].as_array().map_or(0, Vec::len);
            let children: Vec<usize> = document["nodes"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|node| indices(&node["children"]))
                .collect();
            (0..nodes).filter(|node| !children.contains(node)).collect()
        }
    };
    for root in roots {
        reader.node(root, IDENTITY, 0, &mut scene)?;
    }
    Ok(scene)
}

fn indices(value: &Value) -> Vec<usize> {
    value.as_array().into_iter().flatten().filter_map(Value::as_u64).map(|index| index as usize).collect()
}

type Matrix = [f32; 16];
const IDENTITY: Matrix = [1., 0., 0., 0., 0., 1., 0., 0., 0., 0., 1., 0., 0., 0., 0., 1.];

/// Column-major product `a · b`.
fn multiply(a: &Matrix, b: &Matrix) -> Matrix {
    let mut out = [0.0; 16];
    for column in 0..4 {
        for row in 0..4 {
            out[column * 4 + row] = (0..4).map(|k| a[k * 4 + row] * b[column * 4 + k]).sum();
        }
    }
    out
}

fn transform(matrix: &Matrix, [x, y, z]: [f32; 3]) -> [f32; 3] {
    [
        matrix[0] * x + matrix[4] * y + matrix[8] * z + matrix[12],
        matrix[1] * x + matrix[5] * y + matrix[9] * z + matrix[13],
        matrix[2] * x + matrix[6] * y + matrix[10] * z + matrix[14],
    ]
}

fn floats<const N: usize>(value: &Value) -> Option<[f32; N]> {
    let array = value.as_array()?;
    if array.len() != N {
        return None;
    }
    let mut out = [0.0; N];
    for (slot, item) in out.iter_mut().zip(array) {
        *slot = item.as_f64()? as f32;
    }
    Some(out)
}

/// A node's local transform: its `matrix`, or its translation, rotation and scale.
fn local(node: &Value) -> Matrix {
    if let Some(matrix) = floats::<16>(&node["matrix"]) {
        return matrix;
    }
    let [tx, ty, tz] = floats::<3>(&node["translation"]).unwrap_or([0.0; 3]);
    let [x, y, z, w] = floats::<4>(&node["rotation"]).unwrap_or([0.0, 0.0, 0.0, 1.0]);
    let [sx, sy, sz] = floats::<3>(&node["scale"]).unwrap_or([1.0; 3]);
    [
        (1.0 - 2.0 * (y * y + z * z)) * sx,
        2.0 * (x * y + z * w) * sx,
        2.0 * (x * z - y * w) * sx,
        0.0,
        2.0 * (x * y - z * w) * sy,
        (1.0 - 2.0 * (x * x + z * z)) * sy,
        2.0 * (y * z + x * w) * sy,
        0.0,
        2.0 * (x * z + y * w) * sz,
        2.0 * (y * z - x * w) * sz,
        (1.0 - 2.0 * (x * x + y * y)) * sz,
        0.0,
        tx,
        ty,
        tz,
        1.0,
    ]
}

struct Reader<'a> {
    document: &'a Value,
    bin: &'a [u8],
    visits: std::cell::Cell<usize>,
    /// Triangles read so far (against `MAX_TRIANGLES`).
    triangles: std::cell::Cell<usize>,
}

impl Reader<'_> {
    fn node(&self, index: usize, parent: Matrix, depth: usize, scene: &mut Scene) -> Result<(), MeshError> {
        self.visits.set(self.visits.get() + 1);
        if depth > MAX_DEPTH || self.visits.get() > MAX_VISITS {
            return Ok(());
        }
        let Some(node) = self.document["nodes"].get(index) else { return Ok(()) };
        let world = multiply(&parent, &local(node));
        if let Some(mesh) = node["mesh"].as_u64().and_then(|mesh| self.document["meshes"].get(mesh as usize)) {
            for primitive in mesh["primitives"].as_array().into_iter().flatten() {
                if self.triangles.get() >= MAX_TRIANGLES {
                    return Ok(());
                }
                if let Some(read) = self.primitive(primitive, &world)? {
                    self.triangles.set(self.triangles.get() + read.indices.len() / 3);
                    scene.primitives.push(read);
                }
            }
        }
        for child in indices(&node["children"]) {
            self.node(child, world, depth + 1, scene)?;
        }
        Ok(())
    }

    /// A triangle primitive; `None` for one it does not read.
    fn primitive(&self, primitive: &Value, world: &Matrix) -> Result<Option<Primitive>, MeshError> {
        if primitive["mode"].as_u64().unwrap_or(4) != 4 || primitive.get("extensions").is_some() {
            return Ok(None);
        }
        let attributes = &primitive["attributes"];
        let Some(positions) = attributes["POSITION"].as_u64().and_then(|at| self.accessor(at as usize, 3)) else {
            return Ok(None);
        };
        let positions: Vec<[f32; 3]> =
            positions.chunks_exact(3).map(|p| transform(world, [p[0], p[1], p[2]])).collect();
        let uvs: Vec<[f32; 2]> = attributes["TEXCOORD_0"]
            .as_u64()
            .and_then(|at| self.accessor(at as usize, 2))
            .map(|uv| uv.chunks_exact(2).map(|uv| [uv[0], uv[1]]).collect())
            .filter(|uvs: &Vec<[f32; 2]>| uvs.len() == positions.len())
            .unwrap_or_default();
        let indices: Vec<u32> = match primitive["indices"].as_u64() {
            Some(at) => match self.index_accessor(at as usize) {
                Some(indices) => indices,
                None => return Ok(None),
            },
            None => (0..positions.len() as u32).collect(),
        };
        let count = positions.len() as u32;
        let indices: Vec<u32> = indices
            .chunks_exact(3)
            .filter(|triangle| triangle.iter().all(|&index| index < count))
            .flatten()
            .copied()
            .collect();
        let material = primitive["material"].as_u64().and_then(|at| self.document["materials"].get(at as usize));
        let pbr = material.map(|material| &material["pbrMetallicRoughness"]);
        let color = pbr.and_then(|pbr| floats::<4>(&pbr["baseColorFactor"])).unwrap_or([1.0; 4]);
        let texture = match pbr.and_then(|pbr| pbr["baseColorTexture"]["index"].as_u64()) {
            Some(texture) if !uvs.is_empty() => self.texture(texture as usize),
            _ => None,
        };
        Ok(Some(Primitive { positions, uvs, indices, color, texture }))
    }

    /// A float accessor of `width` components (`VEC2`, `VEC3`), normalized integers
    /// read as 0 to 1.
    fn accessor(&self, index: usize, width: usize) -> Option<Vec<f32>> {
        let accessor = self.document["accessors"].get(index)?;
        let expected = match width {
            2 => "VEC2",
            3 => "VEC3",
            _ => return None,
        };
        if accessor["type"].as_str()? != expected || accessor.get("sparse").is_some() {
            return None;
        }
        let component = accessor["componentType"].as_u64()?;
        let normalized = accessor["normalized"].as_bool().unwrap_or(false);
        let (size, read): (usize, fn(&[u8]) -> f32) = match (component, normalized) {
            (5126, _) => (4, |b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
            (5121, true) => (1, |b| f32::from(b[0]) / 255.0),
            (5123, true) => (2, |b| f32::from(u16::from_le_bytes([b[0], b[1]])) / 65535.0),
            _ => return None,
        };
        let elements = self.elements(accessor, size * width)?;
        Some(elements.flat_map(|element| (0..width).map(move |k| read(&element[k * size..]))).collect())
    }

    fn index_accessor(&self, index: usize) -> Option<Vec<u32>> {
        let accessor = self.document["accessors"].get(index)?;
        if accessor["type"].as_str()? != "SCALAR" || accessor.get("sparse").is_some() {
            return None;
        }
        let (size, read): (usize, fn(&[u8]) -> u32) = match accessor["componentType"].as_u64()? {
            5121 => (1, |b| u32::from(b[0])),
            5123 => (2, |b| u32::from(u16::from_le_bytes([b[0], b[1]]))),
            5125 => (4, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]])),
            _ => return None,
        };
        Some(self.elements(accessor, size)?.map(read).collect())
    }

    /// The accessor's elements (`element_bytes` each) in the binary chunk, each
    /// checked to lie inside it.
    fn elements<'b>(&'b self, accessor: &Value, element_bytes: usize) -> Option<impl Iterator<Item = &'b [u8]> + 'b> {
        let count = accessor["count"].as_u64()? as usize;
        let view = self.document["bufferViews"].get(accessor["bufferView"].as_u64()? as usize)?;
        if view["buffer"].as_u64().unwrap_or(0) != 0 {
            return None;
        }
        let stride = match view["byteStride"].as_u64() {
            Some(stride) if stride as usize >= element_bytes => stride as usize,
            _ => element_bytes,
        };
        let view_start = view["byteOffset"].as_u64().unwrap_or(0) as usize;
        let view_length = view["byteLength"].as_u64()? as usize;
        let view = self.bin.get(view_start..view_start.checked_add(view_length)?)?;
        let start = accessor["byteOffset"].as_u64().unwrap_or(0) as usize;
        if count == 0 {
            return Some(view[..0].chunks(1).take(0));
        }
        let last = start.checked_add(stride.checked_mul(count - 1)?)?.checked_add(element_bytes)?;
        if last > view.len() {
            return None;
        }
        Some(view[start..last].chunks(stride).take(count))
    }

    fn texture(&self, index: usize) -> Option<image::RgbaImage> {
        let source = self.document["textures"].get(index)?["source"].as_u64()?;
        let picture = self.document["images"].get(source as usize)?;
        let view = self.document["bufferViews"].get(picture["bufferView"].as_u64()? as usize)?;
        if view["buffer"].as_u64().unwrap_or(0) != 0 {
            return None;
        }
        let start = view["byteOffset"].as_u64().unwrap_or(0) as usize;
        let bytes = self.bin.get(start..start.checked_add(view["byteLength"].as_u64()? as usize)?)?;
        let mut reader = image::ImageReader::new(std::io::Cursor::new(bytes)).with_guessed_format().ok()?;
        let mut limits = image::Limits::default();
        limits.max_alloc = Some(MAX_TEXTURE_BYTES);
        reader.limits(limits);
        Some(reader.decode().ok()?.to_rgba8())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Quality, glb, relief};

    #[test]
    fn a_glb_reads_back_as_the_mesh_it_was() {
        let picture = image::DynamicImage::ImageRgb8(image::RgbImage::from_fn(20, 10, |x, _| {
            image::Rgb([if x < 10 { 255 } else { 0 }, 0, 0])
        }));
        let mesh = relief(&picture, Quality::Fast).expect("relief");
        let mut png = Vec::new();
        picture.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png).expect("png");
        let bytes = glb::to_glb(&mesh, Some(&png), "test").expect("glb");
        let scene = read_glb(&bytes).expect("read");
        assert_eq!(scene.triangles(), mesh.triangles());
        let primitive = &scene.primitives[0];
        assert_eq!(primitive.positions, mesh.positions);
        assert_eq!(primitive.uvs, mesh.uvs);
        assert_eq!(primitive.texture.as_ref().map(|texture| texture.dimensions()), Some((20, 10)));
    }

    #[test]
    fn what_is_not_glb_or_lies_about_its_offsets_is_refused_or_left_out() {
        assert!(read_glb(b"PK\x03\x04 not a model").is_err());
        assert!(read_glb(b"glTF").is_err());
        // An accessor pointing past the binary chunk reads as nothing, not a panic.
        let mesh = relief(&image::DynamicImage::new_rgb8(4, 4), Quality::Fast).expect("relief");
        let bytes = glb::to_glb(&mesh, None, "test").expect("glb");
        let (mut document, bin) = chunks(&bytes).expect("chunks");
        document["accessors"][0]["count"] = serde_json::json!(u32::MAX);
        document["nodes"][0]["children"] = serde_json::json!(vec![0; 1000]);
        let json = serde_json::to_vec(&document).expect("json");
        let padded = json.len().div_ceil(4) * 4;
        let mut forged = Vec::new();
        forged.extend_from_slice(b"glTF");
        forged.extend_from_slice(&2u32.to_le_bytes());
        forged.extend_from_slice(&((12 + 8 + padded + 8 + bin.len()) as u32).to_le_bytes());
        forged.extend_from_slice(&(padded as u32).to_le_bytes());
        forged.extend_from_slice(&JSON_CHUNK.to_le_bytes());
        forged.extend_from_slice(&json);
        forged.resize(20 + padded, b' ');
        forged.extend_from_slice(&(bin.len() as u32).to_le_bytes());
        forged.extend_from_slice(&BIN_CHUNK.to_le_bytes());
        forged.extend_from_slice(bin);
        let scene = read_glb(&forged).expect("read");
        assert_eq!(scene.triangles(), 0, "a node that is its own child is walked a bounded number of times");
    }
}
