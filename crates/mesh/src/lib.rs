//! 3D meshes for Atelier's built-in 3D engine (seed 002 without a GPU).
//!
//! [`relief`] turns an image into a 2.5D relief: a height field read from the
//! image's luminance, standing on a flat base, closed by side walls and a back, so
//! that it is a solid (watertight) one could print. It is honest about what it is: a
//! relief of the picture, not a reconstruction of the 3D object in it. [`glb`] writes
//! a mesh as binary glTF with the image as its base-colour texture. [`read`] reads
//! a GLB back (from any source, every offset checked) and [`render`] draws a still
//! of it in software: the thumbnail a 3D output shows in the gallery.

pub mod glb;
mod mesh;
pub mod obj;
pub mod read;
pub mod relief;
pub mod render;
#[cfg(feature = "testing")]
pub mod testing;

pub use mesh::Mesh;
pub use relief::{Quality, relief};

/// Why a mesh could not be made or written.
#[derive(Debug, thiserror::Error)]
pub enum MeshError {
    #[error("the image is empty")]
    EmptyImage,
    #[error("the image is too large for a relief: {0}")]
    TooLarge(String),
    #[error("encoding the texture: {0}")]
    Texture(String),
    #[error("writing glTF: {0}")]
    Gltf(String),
}
