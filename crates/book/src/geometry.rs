//! Plain 2D geometry shared by the PNG and PDF renderers: paths and affine transforms.
//!
//! Shapes are built once, in page pixels, and handed to either backend, so the raster
//! page and the PDF page draw the same outlines.

use crate::model::Rect;

/// The magic number for approximating a quarter circle with one cubic Bézier curve.
const KAPPA: f32 = 0.552_284_8;

/// One segment of a path.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Seg {
    MoveTo(f32, f32),
    LineTo(f32, f32),
    QuadTo(f32, f32, f32, f32),
    CubicTo(f32, f32, f32, f32, f32, f32),
    Close,
}

/// A path made of one or more closed or open contours.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Shape {
    pub(crate) segs: Vec<Seg>,
}

impl Shape {
    pub(crate) fn new() -> Shape {
        Shape::default()
    }

    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        !self.segs.iter().any(|s| !matches!(s, Seg::MoveTo(..) | Seg::Close))
    }

    pub(crate) fn move_to(&mut self, x: f32, y: f32) {
        self.segs.push(Seg::MoveTo(x, y));
    }

    pub(crate) fn line_to(&mut self, x: f32, y: f32) {
        self.segs.push(Seg::LineTo(x, y));
    }

    pub(crate) fn quad_to(&mut self, x1: f32, y1: f32, x: f32, y: f32) {
        self.segs.push(Seg::QuadTo(x1, y1, x, y));
    }

    pub(crate) fn cubic_to(&mut self, x1: f32, y1: f32, x2: f32, y2: f32, x: f32, y: f32) {
        self.segs.push(Seg::CubicTo(x1, y1, x2, y2, x, y));
    }

    pub(crate) fn close(&mut self) {
        self.segs.push(Seg::Close);
    }

    /// Adds a closed polygon through the points.
    pub(crate) fn polygon(&mut self, points: &[(f32, f32)]) {
        let mut iter = points.iter();
        if let Some(&(x, y)) = iter.next() {
            self.move_to(x, y);
            for &(x, y) in iter {
                self.line_to(x, y);
            }
            self.close();
        }
    }

    /// Adds a rectangle.
    pub(crate) fn rect(&mut self, r: Rect) {
        self.polygon(&[(r.x, r.y), (r.right(), r.y), (r.right(), r.bottom()), (r.x, r.bottom())]);
    }

    /// Adds the ellipse inscribed in `r`, as four cubic curves.
    pub(crate) fn ellipse(&mut self, r: Rect) {
        let (cx, cy) = r.center();
        let (rx, ry) = (r.w / 2.0, r.h / 2.0);
        let (kx, ky) = (rx * KAPPA, ry * KAPPA);
        self.move_to(cx + rx, cy);
        self.cubic_to(cx + rx, cy + ky, cx + kx, cy + ry, cx, cy + ry);
        self.cubic_to(cx - kx, cy + ry, cx - rx, cy + ky, cx - rx, cy);
        self.cubic_to(cx - rx, cy - ky, cx - kx, cy - ry, cx, cy - ry);
        self.cubic_to(cx + kx, cy - ry, cx + rx, cy - ky, cx + rx, cy);
        self.close();
    }

    /// Adds a circle.
    pub(crate) fn circle(&mut self, cx: f32, cy: f32, r: f32) {
        self.ellipse(Rect::new(cx - r, cy - r, 2.0 * r, 2.0 * r));
    }

    /// Appends another shape's contours.
    pub(crate) fn extend(&mut self, other: &Shape) {
        self.segs.extend_from_slice(&other.segs);
    }

    /// The shape with every point mapped through `t`.
    pub(crate) fn transformed(&self, t: &Affine) -> Shape {
        let p = |x: f32, y: f32| t.apply((x, y));
        let segs = self
            .segs
            .iter()
            .map(|s| match *s {
                Seg::MoveTo(x, y) => {
                    let (x, y) = p(x, y);
                    Seg::MoveTo(x, y)
                }
                Seg::LineTo(x, y) => {
                    let (x, y) = p(x, y);
                    Seg::LineTo(x, y)
                }
                Seg::QuadTo(x1, y1, x, y) => {
                    let ((x1, y1), (x, y)) = (p(x1, y1), p(x, y));
                    Seg::QuadTo(x1, y1, x, y)
                }
                Seg::CubicTo(x1, y1, x2, y2, x, y) => {
                    let ((x1, y1), (x2, y2), (x, y)) = (p(x1, y1), p(x2, y2), p(x, y));
                    Seg::CubicTo(x1, y1, x2, y2, x, y)
                }
                Seg::Close => Seg::Close,
            })
            .collect();
        Shape { segs }
    }

    /// The bounding box of the path's points (control points included), if it has any.
    #[cfg(test)]
    pub(crate) fn bounds(&self) -> Option<Rect> {
        let mut pts = Vec::new();
        for s in &self.segs {
            match *s {
                Seg::MoveTo(x, y) | Seg::LineTo(x, y) => pts.push((x, y)),
                Seg::QuadTo(x1, y1, x, y) => pts.extend([(x1, y1), (x, y)]),
                Seg::CubicTo(x1, y1, x2, y2, x, y) => pts.extend([(x1, y1), (x2, y2), (x, y)]),
                Seg::Close => {}
            }
        }
        bounds_of(&pts)
    }
}

/// The bounding box of some points.
pub(crate) fn bounds_of(points: &[(f32, f32)]) -> Option<Rect> {
    let first = points.first()?;
    let (mut x0, mut y0, mut x1, mut y1) = (first.0, first.1, first.0, first.1);
    for &(x, y) in points {
        x0 = x0.min(x);
        y0 = y0.min(y);
        x1 = x1.max(x);
        y1 = y1.max(y);
    }
    Some(Rect::new(x0, y0, x1 - x0, y1 - y0))
}

/// An affine transform: `(x, y)` maps to `(sx·x + kx·y + tx, ky·x + sy·y + ty)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Affine {
    pub(crate) sx: f32,
    pub(crate) ky: f32,
    pub(crate) kx: f32,
    pub(crate) sy: f32,
    pub(crate) tx: f32,
    pub(crate) ty: f32,
}

impl Affine {
    pub(crate) const IDENTITY: Affine = Affine { sx: 1.0, ky: 0.0, kx: 0.0, sy: 1.0, tx: 0.0, ty: 0.0 };

    pub(crate) fn translate(tx: f32, ty: f32) -> Affine {
        Affine { tx, ty, ..Affine::IDENTITY }
    }

    pub(crate) fn scale(sx: f32, sy: f32) -> Affine {
        Affine { sx, sy, ..Affine::IDENTITY }
    }

    /// A rotation about the origin, clockwise on screen (y down) by `degrees`.
    pub(crate) fn rotate(degrees: f32) -> Affine {
        let (sin, cos) = degrees.to_radians().sin_cos();
        Affine { sx: cos, ky: sin, kx: -sin, sy: cos, tx: 0.0, ty: 0.0 }
    }

    /// First `self`, then `next`.
    pub(crate) fn then(&self, next: &Affine) -> Affine {
        let a = self;
        let b = next;
        Affine {
            sx: b.sx * a.sx + b.kx * a.ky,
            ky: b.ky * a.sx + b.sy * a.ky,
            kx: b.sx * a.kx + b.kx * a.sy,
            sy: b.ky * a.kx + b.sy * a.sy,
            tx: b.sx * a.tx + b.kx * a.ty + b.tx,
            ty: b.ky * a.tx + b.sy * a.ty + b.ty,
        }
    }

    pub(crate) fn apply(&self, (x, y): (f32, f32)) -> (f32, f32) {
        (self.sx * x + self.kx * y + self.tx, self.ky * x + self.sy * y + self.ty)
    }

    pub(crate) fn to_krilla(self) -> krilla::geom::Transform {
        krilla::geom::Transform::from_row(self.sx, self.ky, self.kx, self.sy, self.tx, self.ty)
    }
}

/// A small deterministic pseudo-random sequence (xorshift), so effects drawn twice look
/// the same in the PNG and the PDF.
pub(crate) struct Jitter(u64);

impl Jitter {
    pub(crate) fn new(seed: u64) -> Jitter {
        Jitter(seed ^ 0x9E37_79B9_7F4A_7C15 | 1)
    }

    /// A seed from some numbers (a rectangle's coordinates, say).
    pub(crate) fn seeded(values: &[f32]) -> Jitter {
        let mut h: u64 = 0xCBF2_9CE4_8422_2325;
        for v in values {
            h ^= u64::from(v.to_bits());
            h = h.wrapping_mul(0x0000_0100_0000_01B3);
        }
        Jitter::new(h)
    }

    /// The next number in `[0, 1)`.
    pub(crate) fn next(&mut self) -> f32 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        (x >> 40) as f32 / (1u64 << 24) as f32
    }

    /// The next number in `[lo, hi)`.
    pub(crate) fn range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.next()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: (f32, f32), b: (f32, f32)) -> bool {
        (a.0 - b.0).abs() < 1e-4 && (a.1 - b.1).abs() < 1e-4
    }

    #[test]
    fn rotation_is_clockwise_on_screen() {
        // The x axis turns onto the y axis (down on screen).
        assert!(close(Affine::rotate(90.0).apply((1.0, 0.0)), (0.0, 1.0)));
        assert!(close(Affine::rotate(90.0).apply((0.0, 1.0)), (-1.0, 0.0)));
    }

    #[test]
    fn then_applies_in_order() {
        let t = Affine::scale(2.0, 3.0).then(&Affine::translate(10.0, 20.0));
        assert!(close(t.apply((1.0, 1.0)), (12.0, 23.0)));
        let u = Affine::translate(10.0, 20.0).then(&Affine::scale(2.0, 3.0));
        assert!(close(u.apply((1.0, 1.0)), (22.0, 63.0)));
    }

    #[test]
    fn ellipse_bounds() {
        let mut s = Shape::new();
        s.ellipse(Rect::new(10.0, 20.0, 100.0, 50.0));
        assert_eq!(s.bounds(), Some(Rect::new(10.0, 20.0, 100.0, 50.0)));
        assert!(!s.is_empty());
    }

    #[test]
    fn jitter_is_deterministic_and_in_range() {
        let mut a = Jitter::seeded(&[1.0, 2.0]);
        let mut b = Jitter::seeded(&[1.0, 2.0]);
        for _ in 0..100 {
            let v = a.next();
            assert!((0.0..1.0).contains(&v));
            assert_eq!(v, b.next());
        }
    }
}
