//! Manga effects drawn as filled shapes: speed lines (parallel streaks across a panel)
//! and focus lines (集中線, thin wedges converging on a point, leaving the middle clear).
//! Both are deterministic: the same panel always gets the same lines.

use std::f32::consts::TAU;

use crate::geometry::{Jitter, Shape};
use crate::model::Rect;

/// Thin spindle-shaped streaks along `angle` (degrees, clockwise from the x axis),
/// covering the panel (the caller clips to it).
pub(crate) fn speed_lines(panel: Rect, angle: f32) -> Shape {
    let (s, c) = angle.to_radians().sin_cos();
    let along = (c, s);
    let across = (-s, c);
    let corners =
        [(panel.x, panel.y), (panel.right(), panel.y), (panel.right(), panel.bottom()), (panel.x, panel.bottom())];
    let project = |v: (f32, f32), p: (f32, f32)| v.0 * p.0 + v.1 * p.1;
    let (mut a0, mut a1, mut c0, mut c1) = (f32::MAX, f32::MIN, f32::MAX, f32::MIN);
    for p in corners {
        a0 = a0.min(project(along, p));
        a1 = a1.max(project(along, p));
        c0 = c0.min(project(across, p));
        c1 = c1.max(project(across, p));
    }
    let unit = (panel.w.min(panel.h) / 400.0).max(1.0);
    let mut jitter = Jitter::seeded(&[panel.x, panel.y, panel.w, panel.h, angle]);
    let mut shape = Shape::new();
    let length = a1 - a0;
    let mut offset = c0;
    while offset < c1 {
        offset += unit * jitter.range(3.0, 11.0);
        if jitter.next() < 0.2 {
            continue;
        }
        let start = a0 + length * jitter.range(-0.1, 0.35);
        let end = a1 - length * jitter.range(-0.1, 0.25);
        if end <= start {
            continue;
        }
        let width = unit * jitter.range(0.6, 2.4);
        let at =
            |a: f32, side: f32| (along.0 * a + across.0 * (offset + side), along.1 * a + across.1 * (offset + side));
        let middle = (start + end) / 2.0;
        shape.polygon(&[at(start, 0.0), at(middle, width / 2.0), at(end, 0.0), at(middle, -width / 2.0)]);
    }
    shape
}

/// Wedges from beyond the panel's edges toward `center`, ending at varying distances
/// so a clear middle stays.
pub(crate) fn focus_lines(panel: Rect, center: (f32, f32)) -> Shape {
    let corners =
        [(panel.x, panel.y), (panel.right(), panel.y), (panel.right(), panel.bottom()), (panel.x, panel.bottom())];
    let outer = corners.iter().map(|p| (p.0 - center.0).hypot(p.1 - center.1)).fold(0.0f32, f32::max) * 1.05 + 1.0;
    let clear = 0.28 * panel.w.min(panel.h);
    let count = ((panel.w + panel.h) / 6.0).clamp(90.0, 320.0) as usize;
    let step = TAU / count as f32;
    let mut jitter = Jitter::seeded(&[panel.x, panel.y, panel.w, panel.h, center.0, center.1]);
    let mut shape = Shape::new();
    let at = |angle: f32, radius: f32| (center.0 + radius * angle.cos(), center.1 + radius * angle.sin());
    for k in 0..count {
        if jitter.next() < 0.15 {
            continue;
        }
        let angle = k as f32 * step + jitter.range(-0.4, 0.4) * step;
        let inner = clear * jitter.range(1.0, 1.7);
        let half = step * jitter.range(0.08, 0.3);
        shape.polygon(&[at(angle, inner), at(angle - half, outer), at(angle + half, outer)]);
    }
    shape
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speed_lines_cover_the_panel() {
        let panel = Rect::new(10.0, 10.0, 300.0, 200.0);
        let shape = speed_lines(panel, 20.0);
        assert!(!shape.is_empty());
        let b = shape.bounds().expect("bounds");
        assert!(b.x <= panel.x + 30.0 && b.right() >= panel.right() - 30.0, "{b:?}");
    }

    #[test]
    fn focus_lines_leave_the_middle_clear() {
        let panel = Rect::new(0.0, 0.0, 400.0, 300.0);
        let center = (200.0, 150.0);
        let shape = focus_lines(panel, center);
        let clear = 0.28 * 300.0;
        for seg in &shape.segs {
            if let crate::geometry::Seg::MoveTo(x, y) | crate::geometry::Seg::LineTo(x, y) = *seg {
                assert!((x - center.0).hypot(y - center.1) >= clear - 0.01);
            }
        }
    }
}
