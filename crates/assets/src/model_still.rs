//! Thumbnails of 3D models: a GLB read back and drawn in software
//! (`atelier_mesh::render`), from the front, a little to the side and above, then
//! made a thumbnail like any picture. A model it cannot read or draw is stored
//! without one.

use crate::thumbnail::Thumbnail;

/// Drawn at twice the thumbnail's size, so scaling down smooths its edges.
const STILL_SIDE: u32 = 2 * crate::thumbnail::THUMBNAIL_MAX;

/// Whether the type is a model this draws (binary glTF).
pub fn is_model(mime: &str) -> bool {
    crate::thumbnail::mime_essence(mime) == "model/gltf-binary"
}

/// The model's thumbnail; `None` (logged) when it cannot be read or drawn.
pub fn thumbnail(glb: &[u8], sha256: &str) -> Option<Thumbnail> {
    let still = match atelier_mesh::render::render_glb(glb, STILL_SIDE) {
        Ok(Some(still)) => still,
        Ok(None) => return None,
        Err(error) => {
            tracing::warn!(%error, sha256, "could not read the model for a thumbnail; storing it without one");
            return None;
        }
    };
    crate::thumbnail::thumbnail_of(image::DynamicImage::ImageRgba8(still))
        .map_err(|error| tracing::warn!(%error, sha256, "could not make a thumbnail of the model's still"))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_glb_gets_a_drawn_thumbnail_and_other_bytes_none() {
        let picture = image::DynamicImage::ImageRgb8(image::RgbImage::from_pixel(30, 20, image::Rgb([200, 40, 40])));
        let mesh = atelier_mesh::relief(&picture, atelier_mesh::Quality::Fast).expect("relief");
        let glb = atelier_mesh::glb::to_glb(&mesh, None, "test").expect("glb");
        let thumbnail = thumbnail(&glb, "x").expect("a thumbnail");
        assert_eq!((thumbnail.width, thumbnail.height), (256, 256));
        assert!(is_model("model/gltf-binary; charset=binary") && !is_model("model/obj"));
        assert!(super::thumbnail(b"not a model", "x").is_none());
    }
}
