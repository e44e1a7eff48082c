//! An image as a relief: a height field from its luminance (brighter is higher),
//! smoothed by sampling the image down to the mesh's grid, on a flat base with side
//! walls and a back, so that the mesh is closed. A 2.5D relief of the picture, not a
//! reconstruction of what the picture shows.

use image::DynamicImage;
use image::imageops::FilterType;

use crate::MeshError;
use crate::mesh::{Mesh, normalize};

/// How dense the mesh is: cells along the image's long side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quality {
    Fast,
    Balanced,
    High,
}

impl Quality {
    pub const NAMES: [&'static str; 3] = ["fast", "balanced", "high"];

    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "fast" => Some(Self::Fast),
            "balanced" => Some(Self::Balanced),
            "high" => Some(Self::High),
            _ => None,
        }
    }

    /// Grid cells along the long side.
    pub fn cells(self) -> u32 {
        match self {
            Self::Fast => 48,
            Self::Balanced => 96,
            Self::High => 192,
        }
    }
}

/// A step of the walk round the rim: the grid point it starts at, the one it ends
/// at, and its wall's outward side.
type Step = ((u32, u32), (u32, u32), [f32; 3]);

/// The base's thickness and the relief's greatest height, for a long side of 1.
const BASE: f32 = 0.02;
const DEPTH: f32 = 0.08;

/// The relief of `image` at `quality`: the long side 1 unit, centred on the origin in
/// X and Y, the back at Z = 0 and the picture facing +Z.
pub fn relief(image: &DynamicImage, quality: Quality) -> Result<Mesh, MeshError> {
    let (width, height) = (image.width(), image.height());
    if width == 0 || height == 0 {
        return Err(MeshError::EmptyImage);
    }
    let long = width.max(height);
    let cells = quality.cells();
    let scale = |side: u32| ((u64::from(side) * u64::from(cells)).div_ceil(u64::from(long)) as u32).max(1);
    let (cols, rows) = (scale(width), scale(height));
    // Down to a few samples per cell first (cheap), then to the grid with a filter
    // that averages, which smooths away the pixels' noise.
    let small = image.thumbnail((cols + 1) * 4, (rows + 1) * 4).to_luma32f();
    let grid = image::imageops::resize(&small, cols + 1, rows + 1, FilterType::Triangle);
    let lift = |i: u32, j: u32| BASE + DEPTH * grid.get_pixel(i, j).0[0].clamp(0.0, 1.0);

    let (extent_x, extent_y) = (width as f32 / long as f32, height as f32 / long as f32);
    let x = |i: u32| (i as f32 / cols as f32 - 0.5) * extent_x;
    let y = |j: u32| (0.5 - j as f32 / rows as f32) * extent_y;
    let uv = |i: u32, j: u32| [i as f32 / cols as f32, j as f32 / rows as f32];
    let mut mesh = Mesh::default();

    // The picture's face: one vertex per grid point, its normal from the slopes.
    let at = |i: u32, j: u32| j * (cols + 1) + i;
    for j in 0..=rows {
        for i in 0..=cols {
            let (left, right) = (i.saturating_sub(1), (i + 1).min(cols));
            let (up, down) = (j.saturating_sub(1), (j + 1).min(rows));
            let slope_x = (lift(right, j) - lift(left, j)) / (x(right) - x(left));
            let slope_y = (lift(i, up) - lift(i, down)) / (y(up) - y(down));
            mesh.vertex([x(i), y(j), lift(i, j)], normalize([-slope_x, -slope_y, 1.0]), uv(i, j));
        }
    }
    for j in 0..rows {
        for i in 0..cols {
            let (a, b, c, d) = (at(i, j), at(i + 1, j), at(i, j + 1), at(i + 1, j + 1));
            mesh.indices.extend([a, c, b, b, c, d]);
        }
    }

    // The rim, walked round: each side's wall from the face down to the back.
    let mut ring: Vec<Step> = Vec::new();
    ring.extend((0..cols).map(|i| ((i, 0), (i + 1, 0), [0.0, 1.0, 0.0])));
    ring.extend((0..rows).map(|j| ((cols, j), (cols, j + 1), [1.0, 0.0, 0.0])));
    ring.extend((1..=cols).rev().map(|i| ((i, rows), (i - 1, rows), [0.0, -1.0, 0.0])));
    ring.extend((1..=rows).rev().map(|j| ((0, j), (0, j - 1), [-1.0, 0.0, 0.0])));
    for &((i, j), (k, l), outward) in &ring {
        let p_top = mesh.vertex([x(i), y(j), lift(i, j)], outward, uv(i, j));
        let q_top = mesh.vertex([x(k), y(l), lift(k, l)], outward, uv(k, l));
        let p_back = mesh.vertex([x(i), y(j), 0.0], outward, uv(i, j));
        let q_back = mesh.vertex([x(k), y(l), 0.0], outward, uv(k, l));
        mesh.triangle_facing([p_top, p_back, q_top], outward);
        mesh.triangle_facing([q_top, p_back, q_back], outward);
    }

    // The back: a fan from its centre to the rim.
    let back = [0.0, 0.0, -1.0];
    let centre = mesh.vertex([0.0, 0.0, 0.0], back, [0.5, 0.5]);
    for &((i, j), (k, l), _) in &ring {
        let p = mesh.vertex([x(i), y(j), 0.0], back, uv(i, j));
        let q = mesh.vertex([x(k), y(l), 0.0], back, uv(k, l));
        mesh.triangle_facing([centre, p, q], back);
    }
    Ok(mesh)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn gradient(width: u32, height: u32) -> DynamicImage {
        DynamicImage::ImageRgb8(image::RgbImage::from_fn(width, height, |x, y| {
            let value = ((x + y) * 255 / (width + height)) as u8;
            image::Rgb([value, value / 2, 255 - value])
        }))
    }

    /// Every edge, by its ends' positions, is shared by exactly two triangles that
    /// run it in opposite directions: a closed, consistently oriented surface.
    fn is_closed(mesh: &Mesh) -> bool {
        let key = |i: u32| mesh.positions[i as usize].map(|c| (c * 1e5).round() as i64);
        let mut edges: HashMap<([i64; 3], [i64; 3]), i32> = HashMap::new();
        for triangle in mesh.indices.chunks(3) {
            for (a, b) in [(triangle[0], triangle[1]), (triangle[1], triangle[2]), (triangle[2], triangle[0])] {
                *edges.entry((key(a), key(b))).or_default() += 1;
            }
        }
        edges.iter().all(|(&(a, b), &count)| count == 1 && edges.get(&(b, a)) == Some(&1))
    }

    #[test]
    fn a_relief_is_closed_and_sized_by_its_quality() {
        for (quality, cells) in [(Quality::Fast, 48), (Quality::Balanced, 96), (Quality::High, 192)] {
            let mesh = relief(&gradient(300, 200), quality).expect("relief");
            let (cols, rows) = (cells, cells * 2 / 3);
            assert_eq!(
                mesh.triangles() as u32,
                2 * cols * rows + 2 * 2 * (cols + rows) + 2 * (cols + rows),
                "{quality:?}"
            );
            assert!(is_closed(&mesh), "{quality:?}: watertight");
            let (min, max) = mesh.bounds();
            assert!((max[0] - min[0] - 1.0).abs() < 1e-5 && (max[1] - min[1] - 2.0 / 3.0).abs() < 1e-5);
            assert!(min[2] == 0.0 && max[2] <= BASE + DEPTH + 1e-6 && max[2] > BASE);
            for normal in &mesh.normals {
                let length = (normal[0] * normal[0] + normal[1] * normal[1] + normal[2] * normal[2]).sqrt();
                assert!((length - 1.0).abs() < 1e-4, "unit normals");
            }
        }
    }

    #[test]
    fn brighter_is_higher_and_a_tiny_image_still_makes_a_solid() {
        let split = DynamicImage::ImageLuma8(image::GrayImage::from_fn(64, 64, |x, _| {
            image::Luma([if x < 32 { 0 } else { 255 }])
        }));
        let mesh = relief(&split, Quality::Fast).expect("relief");
        let face = |x: f32| {
            mesh.positions.iter().filter(|p| (p[0] - x).abs() < 0.02 && p[2] > 0.0).map(|p| p[2]).fold(0.0, f32::max)
        };
        assert!(face(0.4) > face(-0.4) + DEPTH * 0.9, "the white half stands out");
        let dot = relief(&gradient(1, 1), Quality::Fast).expect("one pixel");
        assert!(is_closed(&dot));
        assert!(matches!(relief(&DynamicImage::new_rgb8(0, 5), Quality::Fast), Err(MeshError::EmptyImage)));
    }
}
