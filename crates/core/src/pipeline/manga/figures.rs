//! Where the characters stand in a panel, from the name's placement (fore, mid,
//! back, in reading order): the boxes balloons keep clear of, that the quality
//! check measures balloons against, and that the panel prompts describe. Fractions
//! of the page, as every frame in the document.

use serde_json::Value;

/// A box in fractions of the page (x, y from the top left).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rect {
    pub x: f64,
    pub y: f64,
    pub w: f64,
    pub h: f64,
}

impl Rect {
    pub fn from_json(value: &Value) -> Option<Self> {
        let get = |key: &str| value.get(key).and_then(Value::as_f64);
        Some(Self { x: get("x")?, y: get("y")?, w: get("w")?, h: get("h")? })
    }

    pub fn to_json(self) -> Value {
        let round = |value: f64| (value * 10_000.0).round() / 10_000.0;
        serde_json::json!({ "x": round(self.x), "y": round(self.y), "w": round(self.w), "h": round(self.h) })
    }

    pub fn right(self) -> f64 {
        self.x + self.w
    }

    pub fn bottom(self) -> f64 {
        self.y + self.h
    }

    pub fn center(self) -> (f64, f64) {
        (self.x + self.w / 2.0, self.y + self.h / 2.0)
    }

    pub fn area(self) -> f64 {
        self.w.max(0.0) * self.h.max(0.0)
    }

    /// The area two boxes share.
    pub fn overlap(self, other: Self) -> f64 {
        let w = self.right().min(other.right()) - self.x.max(other.x);
        let h = self.bottom().min(other.bottom()) - self.y.max(other.y);
        if w <= 0.0 || h <= 0.0 { 0.0 } else { w * h }
    }

    /// Whether `other` lies inside this box (with a small tolerance).
    pub fn contains(self, other: Self) -> bool {
        const EPSILON: f64 = 1e-4;
        other.x >= self.x - EPSILON
            && other.y >= self.y - EPSILON
            && other.right() <= self.right() + EPSILON
            && other.bottom() <= self.bottom() + EPSILON
    }

    /// Shrunk by `by` on every side.
    pub fn inset(self, by: f64) -> Self {
        Self { x: self.x + by, y: self.y + by, w: (self.w - 2.0 * by).max(0.0), h: (self.h - 2.0 * by).max(0.0) }
    }
}

/// One character in a panel.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    pub character: String,
    pub body: Rect,
    pub face: Rect,
    /// Left, centre or right, in words for a prompt.
    pub side: &'static str,
}

/// The characters of a panel where its placement puts them: spread across the
/// panel in reading order (the first on the right for right to left), standing on
/// its bottom, larger the nearer they are.
pub fn figures(panel: &Value, right_to_left: bool) -> Vec<Figure> {
    let Some(frame) = panel.get("frame").and_then(Rect::from_json) else { return Vec::new() };
    let placement: Vec<(String, String)> = panel
        .pointer("/direction/placement")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|item| {
            let character = item.get("character").and_then(Value::as_str)?;
            let depth = item.get("depth").and_then(Value::as_str).unwrap_or("mid");
            Some((character.to_owned(), depth.to_owned()))
        })
        .collect();
    let count = placement.len();
    placement
        .into_iter()
        .enumerate()
        .map(|(index, (character, depth))| {
            let slot = if right_to_left { count - 1 - index } else { index };
            let center = frame.x + frame.w * (slot as f64 + 0.5) / count as f64;
            let (height, head) = match depth.as_str() {
                "fore" => (0.8, 0.24),
                "back" => (0.4, 0.12),
                _ => (0.6, 0.17),
            };
            let body_h = frame.h * height;
            let body_w = (frame.w / count as f64 * 0.8).min(body_h * 0.6);
            let body = Rect { x: center - body_w / 2.0, y: frame.bottom() - body_h, w: body_w, h: body_h };
            let face_h = frame.h * head;
            let face_w = (face_h * 0.8).min(body_w);
            let face = Rect { x: center - face_w / 2.0, y: body.y, w: face_w, h: face_h };
            let across = if count == 1 { 0.5 } else { slot as f64 / (count - 1) as f64 };
            let side = if across < 0.34 {
                "left"
            } else if across > 0.66 {
                "right"
            } else {
                "centre"
            };
            Figure { character, body, face, side }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn figures_stand_in_the_panel_in_reading_order() {
        let panel = json!({
            "frame": { "x": 0.1, "y": 0.1, "w": 0.8, "h": 0.4 },
            "direction": { "placement": [{ "character": "c1", "depth": "fore" }, { "character": "c2", "depth": "back" }] }
        });
        let frame = Rect { x: 0.1, y: 0.1, w: 0.8, h: 0.4 };
        let rtl = figures(&panel, true);
        assert_eq!(rtl.len(), 2);
        assert!(rtl[0].body.x > rtl[1].body.x, "the first read stands on the right");
        assert_eq!((rtl[0].side, rtl[1].side), ("right", "left"));
        assert!(rtl[0].body.h > rtl[1].body.h, "the nearer is larger");
        for figure in &rtl {
            assert!(frame.contains(figure.body) && figure.body.contains(figure.face), "{figure:?}");
        }
        let ltr = figures(&panel, false);
        assert!(ltr[0].body.x < ltr[1].body.x);
    }

    #[test]
    fn boxes_measure_their_overlap() {
        let a = Rect { x: 0.0, y: 0.0, w: 0.5, h: 0.5 };
        let b = Rect { x: 0.25, y: 0.25, w: 0.5, h: 0.5 };
        assert!((a.overlap(b) - 0.0625).abs() < 1e-9);
        assert_eq!(a.overlap(Rect { x: 0.6, ..b }), 0.0);
        assert!(!a.contains(b) && a.contains(a.inset(0.1)));
    }
}
