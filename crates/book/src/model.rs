//! What a page is made of: panels, balloons, effects, and the book's metadata.
//!
//! All positions are in pixels of the page, with the origin at the top-left corner and
//! y growing downwards.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::BookError;

/// A rectangle in page pixels: its top-left corner, width and height.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Rect {
    /// Left edge.
    pub x: f32,
    /// Top edge.
    pub y: f32,
    /// Width.
    pub w: f32,
    /// Height.
    pub h: f32,
}

impl Rect {
    /// A rectangle from its top-left corner and size.
    pub const fn new(x: f32, y: f32, w: f32, h: f32) -> Rect {
        Rect { x, y, w, h }
    }

    /// The right edge.
    pub fn right(&self) -> f32 {
        self.x + self.w
    }

    /// The bottom edge.
    pub fn bottom(&self) -> f32 {
        self.y + self.h
    }

    /// The centre point.
    pub fn center(&self) -> (f32, f32) {
        (self.x + self.w / 2.0, self.y + self.h / 2.0)
    }

    /// Whether the point lies inside (edges included).
    pub fn contains(&self, p: (f32, f32)) -> bool {
        p.0 >= self.x && p.0 <= self.right() && p.1 >= self.y && p.1 <= self.bottom()
    }

    /// The rectangle shrunk by `d` on every side (never below zero size).
    pub fn inset(&self, d: f32) -> Rect {
        let dx = d.min(self.w / 2.0);
        let dy = d.min(self.h / 2.0);
        Rect::new(self.x + dx, self.y + dy, self.w - 2.0 * dx, self.h - 2.0 * dy)
    }

    /// The rectangle of the same centre scaled by `fx` horizontally and `fy` vertically.
    pub fn scaled_about_center(&self, fx: f32, fy: f32) -> Rect {
        let (cx, cy) = self.center();
        let (w, h) = (self.w * fx, self.h * fy);
        Rect::new(cx - w / 2.0, cy - h / 2.0, w, h)
    }

    /// Whether every coordinate is finite and the size is positive.
    pub fn is_usable(&self) -> bool {
        [self.x, self.y, self.w, self.h].iter().all(|v| v.is_finite()) && self.w > 0.0 && self.h > 0.0
    }
}

/// The kind of a balloon, which decides its shape, its tail and its padding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BalloonKind {
    /// Spoken words: an ellipse with a white fill, a black outline and a pointed tail.
    Speech,
    /// Thoughts: a cloud with a scalloped outline and a tail of small circles.
    Thought,
    /// Shouting: a spiky burst.
    Shout,
    /// Whispering: a dashed ellipse.
    Whisper,
    /// The narrator's caption: a rectangular box without a tail.
    Narration,
}

impl BalloonKind {
    /// Every kind, in a fixed order.
    pub const ALL: [BalloonKind; 5] =
        [BalloonKind::Speech, BalloonKind::Thought, BalloonKind::Shout, BalloonKind::Whisper, BalloonKind::Narration];

    /// The kind's name as used in JSON (`speech`, `thought`, …).
    pub fn as_str(&self) -> &'static str {
        match self {
            BalloonKind::Speech => "speech",
            BalloonKind::Thought => "thought",
            BalloonKind::Shout => "shout",
            BalloonKind::Whisper => "whisper",
            BalloonKind::Narration => "narration",
        }
    }
}

impl fmt::Display for BalloonKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for BalloonKind {
    type Err = BookError;

    /// Parses `speech`, `thought`, `shout`, `whisper` or `narration` (any case, spaces trimmed).
    fn from_str(s: &str) -> Result<BalloonKind, BookError> {
        let wanted = s.trim().to_ascii_lowercase();
        BalloonKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == wanted)
            .ok_or_else(|| BookError::Invalid(format!("unknown balloon kind {s:?}")))
    }
}

/// A balloon with its text, placed on the page.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Balloon {
    /// The caller's name for the balloon.
    pub id: String,
    /// Its kind.
    pub kind: BalloonKind,
    /// The words, with `\n` for a forced line (or column) break.
    pub text: String,
    /// The balloon's outer box on the page.
    pub rect: Rect,
    /// The point the tail aims at (the speaker), in page pixels; none for narration.
    pub tail: Option<(f32, f32)>,
    /// Vertical writing (縦書き): columns top to bottom, ordered right to left.
    pub vertical: bool,
    /// The font size in pixels. The renderer shrinks it (to half at most) when the text
    /// does not fit the balloon.
    pub font_size: f32,
    /// Set in the bold face.
    pub bold: bool,
}

/// A drawn effect over the art.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Effect {
    /// A drawn sound effect (擬音), large and stylised, along a direction across the panel.
    Sfx {
        /// The sound.
        text: String,
        /// The box the sound is fitted into (before rotation).
        rect: Rect,
        /// The rotation about the box's centre, clockwise in degrees.
        angle_degrees: f32,
        /// Set vertically.
        vertical: bool,
    },
    /// Parallel motion lines across a panel.
    SpeedLines {
        /// The panel the lines are clipped to.
        panel: Rect,
        /// The direction of motion, clockwise from the x axis in degrees.
        angle_degrees: f32,
    },
    /// Radial focus lines (集中線) toward a point, leaving a clear middle.
    FocusLines {
        /// The panel the lines are clipped to.
        panel: Rect,
        /// The point the lines converge on.
        center: (f32, f32),
    },
}

/// A panel: its frame on the page and the art in it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PanelArt {
    /// The panel's frame on the page.
    pub frame: Rect,
    /// PNG, JPEG or WebP bytes, drawn to cover the frame (centre crop) and clipped to it.
    #[serde(default)]
    pub image: Option<Vec<u8>>,
    /// An optional crop of the source image, in fractions (0..1) of its width and height.
    #[serde(default)]
    pub crop: Option<Rect>,
    /// Drawn in the frame when there is no image (a fallback panel).
    #[serde(default)]
    pub placeholder_text: Option<String>,
}

/// One page: its size in pixels and everything drawn on it, in drawing order: panels,
/// effects, then balloons over everything.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Page {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// The panels.
    pub panels: Vec<PanelArt>,
    /// The balloons.
    pub balloons: Vec<Balloon>,
    /// The effects.
    pub effects: Vec<Effect>,
    /// The language of the page's text (a BCP 47 tag such as `ja`, `en`, `zh-Hant`),
    /// which picks the fonts.
    pub language: String,
}

/// What a bound book says about itself.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BookMeta {
    /// The title.
    pub title: String,
    /// The writer.
    pub writer: Option<String>,
    /// The language (a BCP 47 tag).
    pub language: String,
    /// Read from right to left (Japanese manga order).
    pub right_to_left: bool,
    /// A short summary.
    pub summary: Option<String>,
    /// The characters' names.
    pub characters: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn balloon_kind_parses_and_serialises_in_snake_case() {
        for kind in BalloonKind::ALL {
            assert_eq!(kind.as_str().parse::<BalloonKind>().ok(), Some(kind));
            let json = serde_json::to_string(&kind).ok();
            assert_eq!(json, Some(format!("\"{}\"", kind.as_str())));
        }
        assert_eq!(" Shout ".parse::<BalloonKind>().ok(), Some(BalloonKind::Shout));
        assert!(matches!("yell".parse::<BalloonKind>(), Err(BookError::Invalid(_))));
    }

    #[test]
    fn effect_is_tagged_by_type() {
        let effect = Effect::SpeedLines { panel: Rect::new(0.0, 0.0, 10.0, 10.0), angle_degrees: 30.0 };
        let json = serde_json::to_value(&effect).ok();
        assert_eq!(json.as_ref().and_then(|v| v.get("type")).and_then(|v| v.as_str()), Some("speed_lines"));
    }

    #[test]
    fn rect_helpers() {
        let r = Rect::new(10.0, 20.0, 100.0, 50.0);
        assert_eq!(r.center(), (60.0, 45.0));
        assert_eq!(r.inset(5.0), Rect::new(15.0, 25.0, 90.0, 40.0));
        assert_eq!(r.scaled_about_center(0.5, 0.5), Rect::new(35.0, 32.5, 50.0, 25.0));
        assert!(r.contains((10.0, 70.0)));
        assert!(!Rect::new(0.0, 0.0, 0.0, 1.0).is_usable());
    }
}
