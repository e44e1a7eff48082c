//! A still of a model, drawn in software: the thumbnail a 3D output shows in the
//! gallery. An orthographic view from the front, a little to the right and above
//! (glTF's +Z is the front, +Y up), the model fitted to the frame, its base colour
//! (texture times factor) lit by one light and some ambient, both sides of every
//! triangle drawn, the background transparent. A z-buffer, barycentric texture
//! lookup; no anti-aliasing of its own (draw at twice the size and scale down).

use image::{Rgba, RgbaImage};

use crate::MeshError;
use crate::mesh::{cross, dot, normalize, sub};
use crate::read::{Primitive, Scene, read_glb};

/// The view's direction, from the model toward the eye: azimuth and elevation, in degrees.
const AZIMUTH: f32 = 30.0;
const ELEVATION: f32 = 22.0;
const AMBIENT: f32 = 0.38;

/// Reads a GLB and draws it `side` pixels square. `Ok(None)` when it has nothing to
/// draw (no triangles this reader reads).
pub fn render_glb(bytes: &[u8], side: u32) -> Result<Option<RgbaImage>, MeshError> {
    let scene = read_glb(bytes)?;
    Ok(render(&scene, side))
}

/// The eye's frame: right, up, and toward the eye.
fn camera() -> ([f32; 3], [f32; 3], [f32; 3]) {
    let (azimuth, elevation) = (AZIMUTH.to_radians(), ELEVATION.to_radians());
    let toward = [azimuth.sin() * elevation.cos(), elevation.sin(), azimuth.cos() * elevation.cos()];
    let right = normalize(cross([0.0, 1.0, 0.0], toward));
    let up = cross(toward, right);
    (right, up, toward)
}

pub fn render(scene: &Scene, side: u32) -> Option<RgbaImage> {
    let side = side.clamp(16, 2048);
    let (right, up, toward) = camera();
    let (mut min, mut max) = ([f32::INFINITY; 3], [f32::NEG_INFINITY; 3]);
    for primitive in &scene.primitives {
        for &index in &primitive.indices {
            let position = primitive.positions[index as usize];
            if position.iter().any(|c| !c.is_finite()) {
                continue;
            }
            for axis in 0..3 {
                min[axis] = min[axis].min(position[axis]);
                max[axis] = max[axis].max(position[axis]);
            }
        }
    }
    if min[0] > max[0] {
        return None;
    }
    let centre = [(min[0] + max[0]) / 2.0, (min[1] + max[1]) / 2.0, (min[2] + max[2]) / 2.0];
    let radius = (dot(sub(max, centre), sub(max, centre))).sqrt().max(1e-6);
    let scale = side as f32 * 0.48 / radius;
    let half = side as f32 / 2.0;
    // Screen x right, y down; depth larger nearer the eye.
    let project = |position: [f32; 3]| {
        let relative = sub(position, centre);
        [half + dot(relative, right) * scale, half - dot(relative, up) * scale, dot(relative, toward)]
    };
    // The light comes from above, to the left, and from the eye's side.
    let light = normalize([-0.4 + toward[0], 0.9, 0.3 + toward[2]]);

    let mut picture = RgbaImage::new(side, side);
    let mut depth = vec![f32::NEG_INFINITY; (side * side) as usize];
    for primitive in &scene.primitives {
        let screen: Vec<[f32; 3]> = primitive.positions.iter().map(|&position| project(position)).collect();
        for triangle in primitive.indices.chunks_exact(3) {
            let [a, b, c] = [triangle[0] as usize, triangle[1] as usize, triangle[2] as usize];
            let world = [primitive.positions[a], primitive.positions[b], primitive.positions[c]];
            let mut normal = normalize(cross(sub(world[1], world[0]), sub(world[2], world[0])));
            if dot(normal, toward) < 0.0 {
                normal = [-normal[0], -normal[1], -normal[2]];
            }
            let shade = AMBIENT + (1.0 - AMBIENT) * dot(normal, light).max(0.0);
            draw(&mut picture, &mut depth, primitive, [a, b, c], [screen[a], screen[b], screen[c]], shade);
        }
    }
    Some(picture)
}

fn draw(
    picture: &mut RgbaImage,
    depth: &mut [f32],
    primitive: &Primitive,
    corners: [usize; 3],
    [p0, p1, p2]: [[f32; 3]; 3],
    shade: f32,
) {
    let side = picture.width() as i64;
    let area = (p1[0] - p0[0]) * (p2[1] - p0[1]) - (p2[0] - p0[0]) * (p1[1] - p0[1]);
    if !area.is_finite() || area.abs() < 1e-9 {
        return;
    }
    let x0 = (p0[0].min(p1[0]).min(p2[0]).floor() as i64).max(0);
    let x1 = (p0[0].max(p1[0]).max(p2[0]).ceil() as i64).min(side - 1);
    let y0 = (p0[1].min(p1[1]).min(p2[1]).floor() as i64).max(0);
    let y1 = (p0[1].max(p1[1]).max(p2[1]).ceil() as i64).min(side - 1);
    let uvs = (!primitive.uvs.is_empty()).then(|| corners.map(|corner| primitive.uvs[corner]));
    for y in y0..=y1 {
        for x in x0..=x1 {
            let (px, py) = (x as f32 + 0.5, y as f32 + 0.5);
            let w0 = ((p1[0] - px) * (p2[1] - py) - (p2[0] - px) * (p1[1] - py)) / area;
            let w1 = ((p2[0] - px) * (p0[1] - py) - (p0[0] - px) * (p2[1] - py)) / area;
            let w2 = 1.0 - w0 - w1;
            if w0 < 0.0 || w1 < 0.0 || w2 < 0.0 {
                continue;
            }
            let z = w0 * p0[2] + w1 * p1[2] + w2 * p2[2];
            let slot = (y * side + x) as usize;
            if z <= depth[slot] {
                continue;
            }
            depth[slot] = z;
            let mut colour = primitive.color;
            if let (Some(uvs), Some(texture)) = (uvs, primitive.texture.as_ref()) {
                let u = w0 * uvs[0][0] + w1 * uvs[1][0] + w2 * uvs[2][0];
                let v = w0 * uvs[0][1] + w1 * uvs[1][1] + w2 * uvs[2][1];
                let texel = sample(texture, u, v);
                for channel in 0..4 {
                    colour[channel] *= texel[channel];
                }
            }
            let pixel = |channel: f32| (channel.clamp(0.0, 1.0) * 255.0).round() as u8;
            picture.put_pixel(
                x as u32,
                y as u32,
                Rgba([pixel(colour[0] * shade), pixel(colour[1] * shade), pixel(colour[2] * shade), 255]),
            );
        }
    }
}

/// The texel at (u, v), repeating, as 0 to 1 (sRGB as stored: a still needs no more).
fn sample(texture: &RgbaImage, u: f32, v: f32) -> [f32; 4] {
    let (width, height) = texture.dimensions();
    if width == 0 || height == 0 || !u.is_finite() || !v.is_finite() {
        return [1.0; 4];
    }
    let x = ((u.rem_euclid(1.0) * width as f32) as u32).min(width - 1);
    let y = ((v.rem_euclid(1.0) * height as f32) as u32).min(height - 1);
    texture.get_pixel(x, y).0.map(|channel| f32::from(channel) / 255.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Quality, glb, relief};

    #[test]
    fn a_relief_is_drawn_with_its_texture_on_a_clear_background() {
        let picture = image::DynamicImage::ImageRgb8(image::RgbImage::from_pixel(40, 40, image::Rgb([30, 200, 60])));
        let mut png = Vec::new();
        picture.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png).expect("png");
        let mesh = relief(&picture, Quality::Fast).expect("relief");
        let still =
            render_glb(&glb::to_glb(&mesh, Some(&png), "test").expect("glb"), 128).expect("read").expect("drawn");
        assert_eq!(still.dimensions(), (128, 128));
        let corner = still.get_pixel(0, 0);
        assert_eq!(corner.0[3], 0, "the background is clear");
        let centre = still.get_pixel(64, 64).0;
        assert_eq!(centre[3], 255);
        assert!(centre[1] > centre[0] * 2 && centre[1] > centre[2] * 2, "the texture's green shows: {centre:?}");
        let drawn = still.pixels().filter(|pixel| pixel.0[3] == 255).count();
        assert!(drawn > 128 * 128 / 4, "the model fills the frame: {drawn} pixels");
    }

    #[test]
    fn an_empty_scene_draws_nothing() {
        assert!(render(&Scene::default(), 64).is_none());
    }
}
