//! An image as a relief: a height field from its luminance (brighter is higher),
//! smoothed by sampling the image down to the mesh's grid, on a flat base with side
//! walls and a back, so that the mesh is closed. A 2.5D relief of the picture, not a
//! reconstruction of what the picture shows.
//!
//! A picture with a transparent background (a cut-out: some of the grid's cells
//! opaque, some transparent, by their mean alpha) becomes a relief of its
//! silhouette: only the opaque cells, walled round every edge they share with a
//! transparent one, with a back of their own. Heights there are the luminance of the
//! opaque pixels only, so the background's colour does not sink the rim.

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
/// X and Y, the back at Z = 0 and the picture facing +Z. A cut-out (see the module's
/// notes) keeps only its silhouette.
pub fn relief(image: &DynamicImage, quality: Quality) -> Result<Mesh, MeshError> {
    let (width, height) = (image.width(), image.height());
    if width == 0 || height == 0 {
        return Err(MeshError::EmptyImage);
    }
    let long = width.max(height);
    let cells = quality.cells();
    let scale = |side: u32| ((u64::from(side) * u64::from(cells)).div_ceil(u64::from(long)) as u32).max(1);
    let grid = Grid::new(image, scale(width), scale(height));
    let mask = grid.silhouette();
    let mut mesh = Mesh::default();
    match mask {
        Some(mask) => grid.cut_out(&mut mesh, &mask),
        None => grid.slab(&mut mesh),
    }
    Ok(mesh)
}

/// The mesh's grid: `cols` × `rows` cells over the picture, the relief's height at
/// each of their corners, and where each corner lies.
struct Grid {
    cols: u32,
    rows: u32,
    /// Heights at the (cols + 1) × (rows + 1) corners, row by row.
    heights: Vec<f32>,
    extent: [f32; 2],
    /// Per cell, row by row, the mean alpha; empty for an opaque picture.
    alpha: Vec<f32>,
}

impl Grid {
    fn new(image: &DynamicImage, cols: u32, rows: u32) -> Self {
        let long = image.width().max(image.height()) as f32;
        let extent = [image.width() as f32 / long, image.height() as f32 / long];
        // Down to a few samples per cell first (cheap), then to the grid with a
        // filter that averages, which smooths away the pixels' noise.
        let small = image.thumbnail((cols + 1) * 4, (rows + 1) * 4);
        if !image.color().has_alpha() {
            let luma = image::imageops::resize(&small.to_luma32f(), cols + 1, rows + 1, FilterType::Triangle);
            let heights = luma.pixels().map(|pixel| BASE + DEPTH * pixel.0[0].clamp(0.0, 1.0)).collect();
            return Self { cols, rows, heights, extent, alpha: Vec::new() };
        }
        // Heights from the opaque samples only: the downsampling averages colour
        // without weighting it by alpha, so a sample at the silhouette's edge mixes
        // in the background's colour. Where no opaque sample is near (a thin
        // stroke), the samples' own luminance.
        let luma_alpha = small.to_luma_alpha32f();
        let opaque =
            image::ImageBuffer::<image::LumaA<f32>, Vec<f32>>::from_fn(small.width(), small.height(), |x, y| {
                let [luma, alpha] = luma_alpha.get_pixel(x, y).0;
                let weight = if alpha >= 0.98 { 1.0 } else { 0.0 };
                image::LumaA([luma * weight, weight])
            });
        let corners = image::imageops::resize(&opaque, cols + 1, rows + 1, FilterType::Triangle);
        let plain = image::imageops::resize(&luma_alpha, cols + 1, rows + 1, FilterType::Triangle);
        let heights = corners
            .pixels()
            .zip(plain.pixels())
            .map(|(pixel, plain)| {
                let [luma, weight] = pixel.0;
                let luma = if weight > 1e-3 { luma / weight } else { plain.0[0] };
                BASE + DEPTH * luma.clamp(0.0, 1.0)
            })
            .collect();
        let per_cell = image::imageops::resize(&luma_alpha, cols, rows, FilterType::Triangle);
        let alpha = per_cell.pixels().map(|pixel| pixel.0[1]).collect();
        Self { cols, rows, heights, extent, alpha }
    }

    fn lift(&self, i: u32, j: u32) -> f32 {
        self.heights[(j * (self.cols + 1) + i) as usize]
    }

    fn x(&self, i: u32) -> f32 {
        (i as f32 / self.cols as f32 - 0.5) * self.extent[0]
    }

    fn y(&self, j: u32) -> f32 {
        (0.5 - j as f32 / self.rows as f32) * self.extent[1]
    }

    fn uv(&self, i: u32, j: u32) -> [f32; 2] {
        [i as f32 / self.cols as f32, j as f32 / self.rows as f32]
    }

    /// The corner's vertex on the face, its normal from the slopes around it.
    fn face_vertex(&self, mesh: &mut Mesh, i: u32, j: u32) -> u32 {
        let (left, right) = (i.saturating_sub(1), (i + 1).min(self.cols));
        let (up, down) = (j.saturating_sub(1), (j + 1).min(self.rows));
        let slope_x = (self.lift(right, j) - self.lift(left, j)) / (self.x(right) - self.x(left));
        let slope_y = (self.lift(i, up) - self.lift(i, down)) / (self.y(up) - self.y(down));
        mesh.vertex([self.x(i), self.y(j), self.lift(i, j)], normalize([-slope_x, -slope_y, 1.0]), self.uv(i, j))
    }

    /// A wall from the face down to the back along one step of a rim, coloured as
    /// the picture is where the step is, or all at `colour` (a texture coordinate).
    fn wall(&self, mesh: &mut Mesh, ((i, j), (k, l), outward): Step, colour: Option<[f32; 2]>) {
        let (p_uv, q_uv) = colour.map_or((self.uv(i, j), self.uv(k, l)), |uv| (uv, uv));
        let p_top = mesh.vertex([self.x(i), self.y(j), self.lift(i, j)], outward, p_uv);
        let q_top = mesh.vertex([self.x(k), self.y(l), self.lift(k, l)], outward, q_uv);
        let p_back = mesh.vertex([self.x(i), self.y(j), 0.0], outward, p_uv);
        let q_back = mesh.vertex([self.x(k), self.y(l), 0.0], outward, q_uv);
        mesh.triangle_facing([p_top, p_back, q_top], outward);
        mesh.triangle_facing([q_top, p_back, q_back], outward);
    }

    /// The whole picture: its face, four walls and a back fanned from its centre.
    fn slab(&self, mesh: &mut Mesh) {
        let (cols, rows) = (self.cols, self.rows);
        let at = |i: u32, j: u32| j * (cols + 1) + i;
        for j in 0..=rows {
            for i in 0..=cols {
                self.face_vertex(mesh, i, j);
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
        for &step in &ring {
            self.wall(mesh, step, None);
        }
        let back = [0.0, 0.0, -1.0];
        let centre = mesh.vertex([0.0, 0.0, 0.0], back, [0.5, 0.5]);
        for &((i, j), (k, l), _) in &ring {
            let p = mesh.vertex([self.x(i), self.y(j), 0.0], back, self.uv(i, j));
            let q = mesh.vertex([self.x(k), self.y(l), 0.0], back, self.uv(k, l));
            mesh.triangle_facing([centre, p, q], back);
        }
    }

    /// Which cells a cut-out keeps (row by row), or `None` when the picture is not
    /// one: opaque, or with no cell on one side of half alpha.
    fn silhouette(&self) -> Option<Vec<bool>> {
        if self.alpha.is_empty() {
            return None;
        }
        let mut mask: Vec<bool> = self.alpha.iter().map(|&alpha| alpha >= 0.5).collect();
        let kept = mask.iter().filter(|&&kept| kept).count();
        if kept == 0 || kept == mask.len() {
            return None;
        }
        // Two kept cells touching only at a corner would make the walls meet four at
        // one vertical edge (not a manifold): keep one of the others in that square
        // too. Cells are only ever added, so this ends.
        let (cols, rows) = (self.cols as usize, self.rows as usize);
        let mut changed = true;
        while changed {
            changed = false;
            for j in 0..rows.saturating_sub(1) {
                for i in 0..cols.saturating_sub(1) {
                    let (a, b, c, d) = (j * cols + i, j * cols + i + 1, (j + 1) * cols + i, (j + 1) * cols + i + 1);
                    if mask[a] && mask[d] && !mask[b] && !mask[c] {
                        mask[b] = true;
                        changed = true;
                    } else if mask[b] && mask[c] && !mask[a] && !mask[d] {
                        mask[a] = true;
                        changed = true;
                    }
                }
            }
        }
        Some(mask)
    }

    /// The kept cells: their face, a wall on every edge not shared with another kept
    /// cell, and a back of their own.
    fn cut_out(&self, mesh: &mut Mesh, mask: &[bool]) {
        let (cols, rows) = (self.cols, self.rows);
        let kept = |i: i64, j: i64| {
            i >= 0
                && j >= 0
                && i < i64::from(cols)
                && j < i64::from(rows)
                && mask[(j as u32 * cols + i as u32) as usize]
        };
        let mut face: Vec<Option<u32>> = vec![None; ((cols + 1) * (rows + 1)) as usize];
        let mut corner = |mesh: &mut Mesh, i: u32, j: u32| {
            let slot = &mut face[(j * (cols + 1) + i) as usize];
            *slot.get_or_insert_with(|| self.face_vertex(mesh, i, j))
        };
        for j in 0..rows {
            for i in 0..cols {
                if !kept(i64::from(i), i64::from(j)) {
                    continue;
                }
                let (a, b) = (corner(mesh, i, j), corner(mesh, i + 1, j));
                let (c, d) = (corner(mesh, i, j + 1), corner(mesh, i + 1, j + 1));
                mesh.indices.extend([a, c, b, b, c, d]);
            }
        }
        let back = [0.0, 0.0, -1.0];
        let mut behind: Vec<Option<u32>> = vec![None; face.len()];
        for j in 0..rows {
            for i in 0..cols {
                let (ci, cj) = (i64::from(i), i64::from(j));
                if !kept(ci, cj) {
                    continue;
                }
                let sides: [(bool, Step); 4] = [
                    (kept(ci, cj - 1), ((i, j), (i + 1, j), [0.0, 1.0, 0.0])),
                    (kept(ci + 1, cj), ((i + 1, j), (i + 1, j + 1), [1.0, 0.0, 0.0])),
                    (kept(ci, cj + 1), ((i + 1, j + 1), (i, j + 1), [0.0, -1.0, 0.0])),
                    (kept(ci - 1, cj), ((i, j + 1), (i, j), [-1.0, 0.0, 0.0])),
                ];
                // A cut-out's edge lies where the picture turns clear (its colour
                // there is the background's): its walls take the kept cell's colour.
                let inside = [(i as f32 + 0.5) / cols as f32, (j as f32 + 0.5) / rows as f32];
                for (neighbour, step) in sides {
                    if !neighbour {
                        self.wall(mesh, step, Some(inside));
                    }
                }
                let corners = [(i, j), (i + 1, j), (i, j + 1), (i + 1, j + 1)].map(|(k, l)| {
                    *behind[(l * (cols + 1) + k) as usize]
                        .get_or_insert_with(|| mesh.vertex([self.x(k), self.y(l), 0.0], back, self.uv(k, l)))
                });
                mesh.triangle_facing([corners[0], corners[1], corners[2]], back);
                mesh.triangle_facing([corners[1], corners[3], corners[2]], back);
            }
        }
    }
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

    /// A white disc on a transparent (black) background, `size` pixels square.
    fn disc(size: u32) -> DynamicImage {
        let r = size as f32 / 2.0;
        DynamicImage::ImageRgba8(image::RgbaImage::from_fn(size, size, |x, y| {
            let (dx, dy) = (x as f32 + 0.5 - r, y as f32 + 0.5 - r);
            if dx * dx + dy * dy <= (r * 0.6) * (r * 0.6) {
                image::Rgba([255, 255, 255, 255])
            } else {
                image::Rgba([0, 0, 0, 0])
            }
        }))
    }

    #[test]
    fn a_cut_out_keeps_its_silhouette_closed_with_its_rim_at_full_height() {
        for quality in [Quality::Fast, Quality::Balanced, Quality::High] {
            let mesh = relief(&disc(256), quality).expect("relief");
            assert!(is_closed(&mesh), "{quality:?}: watertight");
            let (min, max) = mesh.bounds();
            // The disc's diameter is 0.6 of the side: nothing of the background stays.
            assert!(max[0] - min[0] < 0.66 && max[0] - min[0] > 0.55, "{quality:?}: width {}", max[0] - min[0]);
            assert!(max[1] - min[1] < 0.66 && max[1] - min[1] > 0.55);
            let slab = relief(&disc(256).to_rgb8().into(), quality).expect("opaque");
            assert!(mesh.triangles() < slab.triangles() * 2, "{quality:?}");
            // The transparent black around does not sink the rim: every face vertex
            // (facing up) stands at full height.
            let lowest_face = mesh
                .positions
                .iter()
                .zip(&mesh.normals)
                .filter(|(_, normal)| normal[2] > 0.9)
                .map(|(position, _)| position[2])
                .fold(f32::INFINITY, f32::min);
            assert!(lowest_face > BASE + DEPTH * 0.95, "{quality:?}: rim at {lowest_face}");
        }
    }

    #[test]
    fn cells_touching_only_at_a_corner_still_make_a_manifold() {
        // A checkerboard of opaque and clear squares: every kept cell meets the
        // next only at corners until the mask is mended.
        let board = DynamicImage::ImageRgba8(image::RgbaImage::from_fn(96, 96, |x, y| {
            let on = ((x / 12) + (y / 12)) % 2 == 0;
            image::Rgba([200, 100, 50, if on { 255 } else { 0 }])
        }));
        let mesh = relief(&board, Quality::Fast).expect("relief");
        assert!(is_closed(&mesh), "watertight and manifold");
        // A picture with alpha but nothing transparent is the whole slab.
        let opaque = DynamicImage::ImageRgba8(image::RgbaImage::from_pixel(30, 20, image::Rgba([9, 9, 9, 255])));
        let slab = relief(&opaque, Quality::Fast).expect("relief");
        let (cols, rows) = (48, 32);
        assert_eq!(slab.triangles() as u32, 2 * cols * rows + 2 * 2 * (cols + rows) + 2 * (cols + rows));
    }
}
