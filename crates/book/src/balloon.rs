//! Balloon shapes as a letterer draws them.
//!
//! - speech: an ellipse, white inside, a black outline, with a triangular tail from the
//!   edge toward the speaker (stopping short of it), drawn as one outline;
//! - thought: a cloud (overlapping bumps round an ellipse) with a tail of three
//!   shrinking circles;
//! - shout: a spiky burst, its tail a spike toward the speaker;
//! - whisper: the speech outline, dashed;
//! - narration: a rectangular box, never a tail.

use std::f32::consts::{PI, TAU};

use crate::geometry::{Jitter, Shape};
use crate::model::{Balloon, BalloonKind, Rect};
use crate::scene::{Color, Join, Op};

/// Points on the outline of an ellipse polygon.
const ELLIPSE_STEPS: usize = 160;
/// How much of the distance from the balloon's edge to the speaker the tail covers.
const TAIL_REACH: f32 = 0.8;

/// The drawing operations for a balloon's shape (its text is drawn separately).
pub(crate) fn balloon_ops<'a>(balloon: &Balloon, line: f32) -> Vec<Op<'a>> {
    let r = balloon.rect;
    let tail = match balloon.kind {
        BalloonKind::Narration => None,
        _ => balloon.tail.and_then(|t| Tail::toward(r, t)),
    };
    let fill_and_stroke = |shape: Shape, dash: Option<Vec<f32>>, join: Join| {
        vec![
            Op::Fill { shape: shape.clone(), color: Color::WHITE },
            Op::Stroke { shape, color: Color::BLACK, width: line, dash, join },
        ]
    };
    match balloon.kind {
        BalloonKind::Speech => fill_and_stroke(ellipse_outline(r, tail.as_ref()), None, Join::Round),
        BalloonKind::Whisper => {
            fill_and_stroke(ellipse_outline(r, tail.as_ref()), Some(vec![line * 4.0, line * 3.0]), Join::Round)
        }
        BalloonKind::Shout => fill_and_stroke(burst_outline(r, tail.as_ref()), None, Join::Miter),
        BalloonKind::Narration => {
            let mut shape = Shape::new();
            shape.rect(r);
            fill_and_stroke(shape, None, Join::Miter)
        }
        BalloonKind::Thought => thought_ops(r, tail.as_ref(), line),
    }
}

/// Where a tail goes: its direction from the balloon's centre, the half-angle of its
/// base, and its tip.
#[derive(Clone, Copy, Debug)]
struct Tail {
    angle: f32,
    half_base: f32,
    /// Distance from the centre to the edge, along `angle`.
    edge: f32,
    tip: (f32, f32),
}

impl Tail {
    /// A tail from the balloon in `r` toward `target`; none when the target is inside
    /// the balloon.
    fn toward(r: Rect, target: (f32, f32)) -> Option<Tail> {
        if !(target.0.is_finite() && target.1.is_finite()) {
            return None;
        }
        let (cx, cy) = r.center();
        let (dx, dy) = (target.0 - cx, target.1 - cy);
        let distance = dx.hypot(dy);
        let angle = dy.atan2(dx);
        let edge = ellipse_radius(r.w / 2.0, r.h / 2.0, angle);
        if distance <= edge * 1.05 {
            return None;
        }
        let longest = 1.2 * r.w.max(r.h);
        let length = ((distance - edge) * TAIL_REACH).min(longest);
        let reach = edge + length;
        let tip = (cx + reach * angle.cos(), cy + reach * angle.sin());
        let half_width = (0.13 * r.w.min(r.h)).clamp(4.0, 60.0);
        let half_base = (half_width / edge).min(0.5);
        Some(Tail { angle, half_base, edge, tip })
    }
}

/// The distance from an ellipse's centre to its edge in direction `angle`.
fn ellipse_radius(rx: f32, ry: f32, angle: f32) -> f32 {
    let (s, c) = angle.sin_cos();
    let d = ((c / rx).powi(2) + (s / ry).powi(2)).sqrt();
    if d > 0.0 { 1.0 / d } else { rx.max(ry) }
}

fn point_at(r: Rect, angle: f32, scale: f32) -> (f32, f32) {
    let (cx, cy) = r.center();
    let radius = ellipse_radius(r.w / 2.0, r.h / 2.0, angle) * scale;
    (cx + radius * angle.cos(), cy + radius * angle.sin())
}

/// An ellipse, with the tail's triangle merged into its outline.
fn ellipse_outline(r: Rect, tail: Option<&Tail>) -> Shape {
    let mut shape = Shape::new();
    let Some(tail) = tail else {
        shape.ellipse(r);
        return shape;
    };
    let start = tail.angle + tail.half_base;
    let sweep = TAU - 2.0 * tail.half_base;
    let steps = ELLIPSE_STEPS;
    let mut points: Vec<(f32, f32)> =
        (0..=steps).map(|k| point_at(r, start + sweep * k as f32 / steps as f32, 1.0)).collect();
    points.push(tail.tip);
    shape.polygon(&points);
    shape
}

/// A spiky burst round the ellipse in `r`, with a spike toward the speaker.
fn burst_outline(r: Rect, tail: Option<&Tail>) -> Shape {
    let spikes = ((r.w + r.h) / 24.0).clamp(12.0, 30.0) as usize;
    let mut jitter = Jitter::seeded(&[r.x, r.y, r.w, r.h]);
    let step = PI / spikes as f32;
    let mut points = Vec::new();
    for k in 0..2 * spikes {
        let angle = k as f32 * step + jitter.range(-0.2, 0.2) * step;
        let scale = if k % 2 == 0 { jitter.range(0.95, 1.0) } else { jitter.range(0.76, 0.84) };
        points.push((angle, point_at(r, angle, scale)));
    }
    let mut shape = Shape::new();
    match tail {
        None => shape.polygon(&points.into_iter().map(|(_, p)| p).collect::<Vec<_>>()),
        Some(tail) => {
            // Keep the points outside the tail's base, starting just after it.
            let start = tail.angle + tail.half_base;
            let mut kept: Vec<(f32, (f32, f32))> = points
                .into_iter()
                .map(|(a, p)| ((a - start).rem_euclid(TAU), p))
                .filter(|(a, _)| *a < TAU - 2.0 * tail.half_base)
                .collect();
            kept.sort_by(|a, b| a.0.total_cmp(&b.0));
            let mut outline = vec![point_at(r, start, 0.8)];
            outline.extend(kept.into_iter().map(|(_, p)| p));
            outline.push(point_at(r, tail.angle - tail.half_base, 0.8));
            outline.push(tail.tip);
            shape.polygon(&outline);
        }
    }
    shape
}

/// A cloud: bumps round an inner ellipse (stroked twice as wide, then filled, so only
/// the outer edge of the outline shows), and a tail of shrinking circles.
fn thought_ops<'a>(r: Rect, tail: Option<&Tail>, line: f32) -> Vec<Op<'a>> {
    let bump = (0.16 * r.w.min(r.h)).clamp(5.0, 48.0);
    let inner = r.inset(bump);
    let (rx, ry) = (inner.w / 2.0, inner.h / 2.0);
    // Ramanujan's approximation of the inner ellipse's perimeter.
    let perimeter = PI * (3.0 * (rx + ry) - ((3.0 * rx + ry) * (rx + 3.0 * ry)).sqrt());
    let count = ((perimeter / (bump * 1.3)).ceil() as usize).max(6);
    let mut jitter = Jitter::seeded(&[r.x, r.y, r.w, r.h, 7.0]);
    let mut bumps = Shape::new();
    let (cx, cy) = r.center();
    for k in 0..count {
        let t = TAU * (k as f32 + jitter.range(-0.1, 0.1)) / count as f32;
        let (bx, by) = (cx + rx * t.cos(), cy + ry * t.sin());
        bumps.circle(bx, by, bump * jitter.range(0.9, 1.1));
    }
    let mut body = bumps.clone();
    body.ellipse(inner);
    let mut ops = vec![
        Op::Stroke { shape: bumps, color: Color::BLACK, width: 2.0 * line, dash: None, join: Join::Round },
        Op::Fill { shape: body, color: Color::WHITE },
    ];
    if let Some(tail) = tail {
        let (ex, ey) = (cx + tail.edge * tail.angle.cos(), cy + tail.edge * tail.angle.sin());
        let (dx, dy) = (tail.tip.0 - ex, tail.tip.1 - ey);
        for (along, radius) in [(0.3, 0.5), (0.62, 0.34), (0.9, 0.22)] {
            let mut circle = Shape::new();
            circle.circle(ex + dx * along, ey + dy * along, (bump * radius).max(2.5));
            ops.push(Op::Fill { shape: circle.clone(), color: Color::WHITE });
            ops.push(Op::Stroke { shape: circle, color: Color::BLACK, width: line, dash: None, join: Join::Round });
        }
    }
    ops
}

#[cfg(test)]
mod tests {
    use super::*;

    fn balloon(kind: BalloonKind, tail: Option<(f32, f32)>) -> Balloon {
        Balloon {
            id: "b".into(),
            kind,
            text: "x".into(),
            rect: Rect::new(100.0, 100.0, 200.0, 120.0),
            tail,
            vertical: false,
            font_size: 20.0,
            bold: false,
        }
    }

    fn bounds(ops: &[Op<'_>]) -> Rect {
        let mut points = Vec::new();
        for op in ops {
            if let Op::Fill { shape, .. } | Op::Stroke { shape, .. } = op
                && let Some(b) = shape.bounds()
            {
                points.extend([(b.x, b.y), (b.right(), b.bottom())]);
            }
        }
        crate::geometry::bounds_of(&points).unwrap_or_default()
    }

    #[test]
    fn tail_points_toward_the_speaker_and_stops_short() {
        let tail = Tail::toward(Rect::new(100.0, 100.0, 200.0, 120.0), (200.0, 400.0)).expect("tail");
        assert!((tail.tip.0 - 200.0).abs() < 0.01);
        assert!(tail.tip.1 > 220.0 && tail.tip.1 < 400.0, "{tail:?}");
        assert!(Tail::toward(Rect::new(100.0, 100.0, 200.0, 120.0), (200.0, 160.0)).is_none());
    }

    #[test]
    fn every_kind_draws_inside_its_box_plus_tail() {
        for kind in BalloonKind::ALL {
            let ops = balloon_ops(&balloon(kind, None), 2.0);
            let b = bounds(&ops);
            assert!(b.x >= 99.0 && b.y >= 99.0 && b.right() <= 301.0 && b.bottom() <= 221.0, "{kind}: {b:?}");
            let with_tail = bounds(&balloon_ops(&balloon(kind, Some((200.0, 400.0))), 2.0));
            if kind == BalloonKind::Narration {
                assert_eq!(with_tail, b, "narration has no tail");
            } else {
                assert!(with_tail.bottom() > 250.0, "{kind} has a tail: {with_tail:?}");
            }
        }
    }

    #[test]
    fn whisper_is_dashed() {
        let ops = balloon_ops(&balloon(BalloonKind::Whisper, None), 2.0);
        assert!(ops.iter().any(|op| matches!(op, Op::Stroke { dash: Some(_), .. })));
        let ops = balloon_ops(&balloon(BalloonKind::Speech, None), 2.0);
        assert!(ops.iter().all(|op| !matches!(op, Op::Stroke { dash: Some(_), .. })));
    }
}
