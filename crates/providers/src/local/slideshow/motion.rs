//! Pan and zoom: where the frame's window lies on an image's canvas at each point
//! of the image's time.
//!
//! A view is a zoom (1: the window is the frame's size on the canvas, in canvas
//! units; 1.15: 15% closer) and a place (`u`, `v` from 0 to 1: the window's left
//! and top edges between the canvas's left/top and as far right/down as the window
//! can go). Moving between views interpolates the place linearly and the zoom
//! geometrically (a steady feel of approach), and because the place is relative to
//! the room the window has at that zoom, every view in between stays on the
//! canvas: no edge is ever shown.

use super::super::SplitMix64;

/// How close the zooms go.
const ZOOM: f64 = 0.15;
/// Ken Burns zooms are chosen between these.
const KEN_BURNS_ZOOM: (f64, f64) = (0.10, 0.18);
/// A pan looks from this close, so there is room to move even when the picture
/// has the frame's shape.
const PAN_ZOOM: f64 = 1.1;

/// The motions `motion` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Motion {
    KenBurns,
    ZoomIn,
    ZoomOut,
    Pan,
    None,
}

impl Motion {
    pub fn parse(name: &str) -> Self {
        match name {
            "zoom_in" => Self::ZoomIn,
            "zoom_out" => Self::ZoomOut,
            "pan" => Self::Pan,
            "none" => Self::None,
            _ => Self::KenBurns,
        }
    }
}

/// Where the window is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct View {
    pub zoom: f64,
    pub u: f64,
    pub v: f64,
}

impl View {
    const WIDE: View = View { zoom: 1.0, u: 0.5, v: 0.5 };

    /// The window `(left, top, width, height)` in canvas units, for a frame of
    /// `frame` units on a canvas of `canvas` units (at least the frame's size).
    pub fn window(&self, canvas: (f64, f64), frame: (f64, f64)) -> (f64, f64, f64, f64) {
        let (width, height) = (frame.0 / self.zoom, frame.1 / self.zoom);
        let room = ((canvas.0 - width).max(0.0), (canvas.1 - height).max(0.0));
        (self.u * room.0, self.v * room.1, width, height)
    }
}

/// An image's motion from one view to another.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Path {
    pub from: View,
    pub to: View,
}

impl Path {
    /// The view `progress` (0 to 1) of the way along.
    pub fn at(&self, progress: f64) -> View {
        let p = progress.clamp(0.0, 1.0);
        View {
            zoom: self.from.zoom * (self.to.zoom / self.from.zoom).powf(p),
            u: self.from.u + (self.to.u - self.from.u) * p,
            v: self.from.v + (self.to.v - self.from.v) * p,
        }
    }

    /// The closest zoom along the path (it is at one end).
    pub fn max_zoom(&self) -> f64 {
        self.from.zoom.max(self.to.zoom)
    }

    /// The part of the canvas the path ever shows `(left, top, width, height)`,
    /// sampled along it (edges move non-linearly when zoom and place both change).
    pub fn bounds(&self, canvas: (f64, f64), frame: (f64, f64)) -> (f64, f64, f64, f64) {
        const SAMPLES: u32 = 32;
        let (mut left, mut top, mut right, mut bottom) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
        for i in 0..=SAMPLES {
            let (x, y, w, h) = self.at(f64::from(i) / f64::from(SAMPLES)).window(canvas, frame);
            (left, top, right, bottom) = (left.min(x), top.min(y), right.max(x + w), bottom.max(y + h));
        }
        (left, top, right - left, bottom - top)
    }
}

/// The path of image `index` (of a slideshow with this `seed`) on its canvas.
pub fn path(motion: Motion, index: usize, seed: u64, canvas: (f64, f64), frame: (f64, f64)) -> Path {
    let close = |u, v| View { zoom: 1.0 + ZOOM, u, v };
    match motion {
        Motion::None => Path { from: View::WIDE, to: View::WIDE },
        Motion::ZoomIn => Path { from: View::WIDE, to: close(0.5, 0.5) },
        Motion::ZoomOut => Path { from: close(0.5, 0.5), to: View::WIDE },
        Motion::Pan => {
            // Along the side with more room; every other image the other way.
            let room = (canvas.0 - frame.0 / PAN_ZOOM, canvas.1 - frame.1 / PAN_ZOOM);
            let (start, end) = if index.is_multiple_of(2) { (0.0, 1.0) } else { (1.0, 0.0) };
            let (from, to) = if room.0 >= room.1 {
                (View { zoom: PAN_ZOOM, u: start, v: 0.5 }, View { zoom: PAN_ZOOM, u: end, v: 0.5 })
            } else {
                (View { zoom: PAN_ZOOM, u: 0.5, v: start }, View { zoom: PAN_ZOOM, u: 0.5, v: end })
            };
            Path { from, to }
        }
        Motion::KenBurns => {
            let mut rng = SplitMix64::new(seed ^ (index as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
            // In and out by turns; the seed says which comes first.
            let zoom_in = seed.is_multiple_of(2) == index.is_multiple_of(2);
            let zoom = 1.0 + f64::from(rng.range(KEN_BURNS_ZOOM.0 as f32, KEN_BURNS_ZOOM.1 as f32));
            // The close view looks towards a point away from the edges.
            let focus = View { zoom, u: f64::from(rng.range(0.2, 0.8)), v: f64::from(rng.range(0.2, 0.8)) };
            if zoom_in { Path { from: View::WIDE, to: focus } } else { Path { from: focus, to: View::WIDE } }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FRAME: (f64, f64) = (160.0, 90.0);

    fn inside(path: &Path, canvas: (f64, f64)) -> bool {
        (0..=100).all(|i| {
            let (x, y, w, h) = path.at(f64::from(i) / 100.0).window(canvas, FRAME);
            x >= -1e-9 && y >= -1e-9 && x + w <= canvas.0 + 1e-9 && y + h <= canvas.1 + 1e-9
        })
    }

    #[test]
    fn every_motion_stays_on_the_canvas() {
        for canvas in [FRAME, (160.0, 213.0), (640.0, 90.0)] {
            for motion in [Motion::KenBurns, Motion::ZoomIn, Motion::ZoomOut, Motion::Pan, Motion::None] {
                for index in 0..6 {
                    for seed in [0, 1, 77, u64::from(u32::MAX)] {
                        let path = path(motion, index, seed, canvas, FRAME);
                        assert!(inside(&path, canvas), "{motion:?} {index} {seed} {canvas:?}: {path:?}");
                        let (x, y, w, h) = path.bounds(canvas, FRAME);
                        assert!(x >= -1e-9 && y >= -1e-9 && x + w <= canvas.0 + 1e-9 && y + h <= canvas.1 + 1e-9);
                    }
                }
            }
        }
    }

    #[test]
    fn ken_burns_alternates_and_follows_the_seed() {
        let zooms_in = |seed, index| {
            let path = path(Motion::KenBurns, index, seed, FRAME, FRAME);
            path.to.zoom > path.from.zoom
        };
        assert_ne!(zooms_in(4, 0), zooms_in(4, 1));
        assert_eq!(zooms_in(4, 0), zooms_in(4, 2));
        assert_ne!(zooms_in(4, 0), zooms_in(5, 0));
        assert_eq!(path(Motion::KenBurns, 3, 9, FRAME, FRAME), path(Motion::KenBurns, 3, 9, FRAME, FRAME));
        assert_ne!(path(Motion::KenBurns, 3, 9, FRAME, FRAME), path(Motion::KenBurns, 3, 10, FRAME, FRAME));
    }

    #[test]
    fn a_portrait_picture_pans_top_to_bottom() {
        let path = path(Motion::Pan, 0, 0, (160.0, 213.0), FRAME);
        assert_eq!((path.from.v, path.to.v, path.from.u), (0.0, 1.0, 0.5));
        let back = super::path(Motion::Pan, 1, 0, (160.0, 213.0), FRAME);
        assert_eq!((back.from.v, back.to.v), (1.0, 0.0));
        let still = super::path(Motion::None, 0, 0, FRAME, FRAME);
        assert_eq!(still.at(0.0), still.at(1.0));
    }

    #[test]
    fn zoom_is_geometric() {
        let path = path(Motion::ZoomIn, 0, 0, FRAME, FRAME);
        let middle = path.at(0.5).zoom;
        assert!((middle - (1.0 + ZOOM).sqrt()).abs() < 1e-12, "{middle}");
        assert_eq!(path.max_zoom(), 1.0 + ZOOM);
    }
}
