//! The manga pipeline's built-in finishing engines: `letterer` draws one lettered
//! page (panel images, balloons set with a real shaper, sound effects, effect
//! lines) and `binder` binds the pages as a PDF (fonts embedded) and a CBZ (with
//! `ComicInfo.xml`). Both take pages as the pipeline writes them: frames in
//! fractions of the page, panel images by output id.

pub mod binder;
pub mod letterer;

use std::sync::{Arc, OnceLock};

use atelier_book::{Balloon, BalloonKind, Effect, FontBook, Page, PanelArt, Rect};
use atelier_core::CoreError;
use atelier_core::ports::{ErrorClass, InputFiles, ProviderError};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Pages as large as this, at most.
const MAX_SIDE: u32 = 4000;
const MAX_PANELS: usize = 24;
const MAX_BALLOONS: usize = 200;
const MAX_TEXT_CHARS: usize = 2000;

/// The system's fonts, read once.
fn fonts() -> Result<Arc<FontBook>, ProviderError> {
    static FONTS: OnceLock<Result<Arc<FontBook>, String>> = OnceLock::new();
    FONTS
        .get_or_init(|| FontBook::system().map(Arc::new).map_err(|error| error.to_string()))
        .clone()
        .map_err(|error| ProviderError::new(ErrorClass::GenerationFailed, format!("no fonts to letter with: {error}")))
}

/// A box in fractions of the page.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Frame {
    pub x: f64,
    pub y: f64,
    pub w: f64,
    pub h: f64,
}

impl Frame {
    fn valid(&self) -> bool {
        [self.x, self.y, self.w, self.h].iter().all(|v| v.is_finite() && (-0.5..=1.5).contains(v))
            && self.w > 0.0
            && self.h > 0.0
    }

    fn to_px(self, width: u32, height: u32) -> Rect {
        let (w, h) = (f64::from(width), f64::from(height));
        Rect { x: (self.x * w) as f32, y: (self.y * h) as f32, w: (self.w * w) as f32, h: (self.h * h) as f32 }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Point {
    pub x: f64,
    pub y: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PanelSpec {
    #[serde(default)]
    pub id: Option<String>,
    pub frame: Frame,
    /// An output id (`img_…`) or upload id.
    #[serde(default)]
    pub image: Option<String>,
    #[serde(default)]
    pub crop: Option<Frame>,
    #[serde(default)]
    pub placeholder_text: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BalloonSpec {
    pub id: String,
    pub kind: String,
    pub text: String,
    pub frame: Frame,
    #[serde(default)]
    pub tail: Option<Point>,
    #[serde(default)]
    pub vertical: bool,
    /// A fraction of the page's width.
    pub font_size: f64,
    #[serde(default)]
    pub bold: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EffectSpec {
    pub kind: String,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub frame: Option<Frame>,
    #[serde(default)]
    pub angle: Option<f64>,
    #[serde(default)]
    pub center: Option<Point>,
}

/// One page as the pipeline describes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageSpec {
    pub width: u32,
    pub height: u32,
    pub language: String,
    #[serde(default)]
    pub right_to_left: bool,
    pub panels: Vec<PanelSpec>,
    #[serde(default)]
    pub balloons: Vec<BalloonSpec>,
    #[serde(default)]
    pub effects: Vec<EffectSpec>,
    /// The smallest text size (a fraction of the width) before text is reported as
    /// overflowing.
    #[serde(default = "default_min_font")]
    pub min_font_size: f64,
    /// PNG text chunks (`atelier:run`, `atelier:version`, `atelier:page`).
    #[serde(default)]
    pub chunks: serde_json::Map<String, Value>,
}

fn default_min_font() -> f64 {
    0.017
}

pub(crate) fn invalid(field: &str, message: impl Into<String>) -> CoreError {
    CoreError::invalid(field, message.into())
}

/// `name` under `prefix` (`pages[0].width`), or alone at the top (`width`).
fn at(prefix: &str, name: &str) -> String {
    if prefix.is_empty() { name.to_owned() } else { format!("{prefix}.{name}") }
}

impl PageSpec {
    /// Checks what the schema cannot say; `field` prefixes the names errors give
    /// (empty at the top of an input).
    pub fn check(&self, field: &str) -> Result<(), CoreError> {
        if !(64..=MAX_SIDE).contains(&self.width) || !(64..=MAX_SIDE).contains(&self.height) {
            let name = if (64..=MAX_SIDE).contains(&self.width) { "height" } else { "width" };
            return Err(invalid(&at(field, name), format!("pages are 64 to {MAX_SIDE} px a side")));
        }
        if self.panels.len() > MAX_PANELS {
            return Err(invalid(&at(field, "panels"), format!("at most {MAX_PANELS} panels a page")));
        }
        if self.balloons.len() > MAX_BALLOONS {
            return Err(invalid(&at(field, "balloons"), format!("at most {MAX_BALLOONS} balloons a page")));
        }
        for (index, panel) in self.panels.iter().enumerate() {
            if !panel.frame.valid() || panel.crop.is_some_and(|crop| !crop.valid()) {
                return Err(invalid(&at(field, &format!("panels[{index}].frame")), "a frame is fractions of the page"));
            }
        }
        for (index, balloon) in self.balloons.iter().enumerate() {
            let at = at(field, &format!("balloons[{index}]"));
            if kind(&balloon.kind).is_none() {
                return Err(invalid(&format!("{at}.kind"), "speech, thought, shout, whisper or narration"));
            }
            if balloon.text.chars().count() > MAX_TEXT_CHARS || balloon.text.trim().is_empty() {
                return Err(invalid(&format!("{at}.text"), format!("1 to {MAX_TEXT_CHARS} characters")));
            }
            if !balloon.frame.valid() || !(0.003..=0.2).contains(&balloon.font_size) {
                return Err(invalid(&at, "a balloon's frame is fractions of the page and its font_size 0.003 to 0.2"));
            }
        }
        for (index, effect) in self.effects.iter().enumerate() {
            if !matches!(effect.kind.as_str(), "sfx" | "speed_lines" | "focus_lines")
                || effect.frame.is_none_or(|f| !f.valid())
            {
                return Err(invalid(
                    &format!("{field}.effects[{index}]"),
                    "an effect is sfx, speed_lines or focus_lines, with a frame",
                ));
            }
        }
        Ok(())
    }

    /// The output ids the page draws.
    pub fn images(&self) -> Vec<String> {
        self.panels.iter().filter_map(|panel| panel.image.clone()).collect()
    }
}

fn kind(text: &str) -> Option<BalloonKind> {
    Some(match text {
        "speech" => BalloonKind::Speech,
        "thought" => BalloonKind::Thought,
        "shout" => BalloonKind::Shout,
        "whisper" => BalloonKind::Whisper,
        "narration" => BalloonKind::Narration,
        _ => return None,
    })
}

/// How one balloon's text fit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BalloonFit {
    pub id: String,
    /// The size it was set at, a fraction of the page's width.
    pub font_size: f64,
    pub overflow: bool,
}

/// The panel images a page draws, opened (in panel order).
pub async fn open_images(spec: &PageSpec, files: &dyn InputFiles) -> Result<Vec<Option<Vec<u8>>>, ProviderError> {
    let mut images = Vec::with_capacity(spec.panels.len());
    for panel in &spec.panels {
        images.push(match &panel.image {
            Some(reference) => {
                Some(crate::kit::inputs::open_input(files, reference, "panel image").await?.bytes.to_vec())
            }
            None => None,
        });
    }
    Ok(images)
}

/// The page to draw, and how each balloon's text fit: set at its size, shrunk step
/// by step to the smallest, and reported as overflowing when even that does not
/// fit. CPU-bound.
pub fn build_page(
    spec: &PageSpec,
    images: Vec<Option<Vec<u8>>>,
    fonts: &FontBook,
) -> Result<(Page, Vec<BalloonFit>), ProviderError> {
    let mut panels = Vec::with_capacity(spec.panels.len());
    for (panel, image) in spec.panels.iter().zip(images) {
        panels.push(PanelArt {
            frame: panel.frame.to_px(spec.width, spec.height),
            image,
            crop: panel.crop.map(|crop| Rect {
                x: crop.x as f32,
                y: crop.y as f32,
                w: crop.w as f32,
                h: crop.h as f32,
            }),
            placeholder_text: panel.placeholder_text.clone(),
        });
    }
    let width = spec.width as f32;
    let mut balloons = Vec::with_capacity(spec.balloons.len());
    let mut fits = Vec::with_capacity(spec.balloons.len());
    for balloon in &spec.balloons {
        let Some(kind) = kind(&balloon.kind) else { continue };
        let rect = balloon.frame.to_px(spec.width, spec.height);
        let min = (spec.min_font_size.min(balloon.font_size) as f32 * width).max(6.0);
        let mut size = balloon.font_size as f32 * width;
        let overflow = loop {
            let inner = atelier_book::inner_box(kind, rect, size);
            let room = (inner.w.max(1.0), inner.h.max(1.0));
            let layout = atelier_book::typeset(fonts, &balloon.text, &spec.language, balloon.vertical, size, room)
                .map_err(book_error)?;
            if !layout.overflow {
                break false;
            }
            if size <= min {
                break true;
            }
            size = (size * 0.92).max(min);
        };
        fits.push(BalloonFit {
            id: balloon.id.clone(),
            font_size: (f64::from(size) / f64::from(width) * 10_000.0).round() / 10_000.0,
            overflow,
        });
        balloons.push(Balloon {
            id: balloon.id.clone(),
            kind,
            text: balloon.text.clone(),
            rect,
            tail: balloon
                .tail
                .map(|tail| ((tail.x * f64::from(spec.width)) as f32, (tail.y * f64::from(spec.height)) as f32)),
            vertical: balloon.vertical,
            font_size: size,
            bold: balloon.bold,
        });
    }
    let mut effects = Vec::new();
    for effect in &spec.effects {
        let Some(frame) = effect.frame else { continue };
        let rect = frame.to_px(spec.width, spec.height);
        let angle = effect.angle.unwrap_or(0.0) as f32;
        effects.push(match effect.kind.as_str() {
            "sfx" => Effect::Sfx {
                text: effect.text.clone().unwrap_or_default(),
                rect,
                angle_degrees: angle,
                vertical: false,
            },
            "speed_lines" => Effect::SpeedLines { panel: rect, angle_degrees: angle },
            _ => {
                let center = effect.center.map_or((rect.x + rect.w / 2.0, rect.y + rect.h / 2.0), |point| {
                    ((point.x * f64::from(spec.width)) as f32, (point.y * f64::from(spec.height)) as f32)
                });
                Effect::FocusLines { panel: rect, center }
            }
        });
    }
    let page =
        Page { width: spec.width, height: spec.height, panels, balloons, effects, language: spec.language.clone() };
    Ok((page, fits))
}

/// The text chunks a page's PNG carries.
pub fn chunks(spec: &PageSpec) -> Vec<(String, String)> {
    spec.chunks
        .iter()
        .map(|(key, value)| (key.clone(), value.as_str().map_or_else(|| value.to_string(), str::to_owned)))
        .collect()
}

fn book_error(error: atelier_book::BookError) -> ProviderError {
    let class = match error {
        atelier_book::BookError::NoFont { .. } => ErrorClass::ClientError,
        _ => ErrorClass::GenerationFailed,
    };
    ProviderError::new(class, error.to_string())
}
