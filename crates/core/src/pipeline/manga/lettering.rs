//! Phase 6: lettering. Balloons for every line of dialogue, sized to their text,
//! placed in reading order clear of the characters' faces and inside their panel;
//! sound effects (擬音) and effect lines where the direction asks; then each page
//! drawn by the built-in letterer (`local/letterer`), which sets the text with a
//! real shaper (vertical for Japanese) and says where text did not fit.
//!
//! The placement measures text by the em (CJK one em a character, Latin about
//! half), which is what a balloon's size needs; the letterer's exact fit is
//! recorded (`fitted_font_size`, `overflow`) for the quality check. Balloons a
//! person moved or edited are kept as they are.

use serde_json::{Value, json};

use super::figures::{Figure, Rect, figures};
use super::{PAGE_HEIGHT, PAGE_WIDTH, language, part, right_to_left, with_part};
use crate::pipeline::phase::{Phase, PhaseContext, PhaseError, RetryPolicy, Step, StepRequest};

/// The built-in engine that draws a lettered page.
pub const LETTERER: &str = "local/letterer";
/// A balloon's text size, as a fraction of the page's width.
pub const FONT_SIZE: f64 = 0.024;
/// The smallest the text may shrink to before it is reported as overflowing.
pub const MIN_FONT_SIZE: f64 = 0.017;
/// How much of an oval balloon's box its text may fill.
const OVAL_FILL: f64 = 0.72;

pub struct Lettering;

/// Whether a language's balloons are set vertically (Japanese), unless the
/// options say otherwise.
pub fn vertical_text(document: &Value, options: &Value) -> bool {
    options.get("vertical_text").and_then(Value::as_bool).unwrap_or_else(|| language(document) == "ja")
}

fn is_wide(c: char) -> bool {
    matches!(c as u32, 0x1100..=0x11FF | 0x2E80..=0x9FFF | 0xA960..=0xA97F | 0xAC00..=0xD7FF | 0xF900..=0xFAFF | 0xFE30..=0xFE4F | 0xFF00..=0xFF60 | 0xFFE0..=0xFFE6 | 0x20000..=0x3FFFF)
}

/// The text's size in pixels at `font` px: (width, height), within `limit` (the
/// column height for vertical text, the line width for horizontal).
pub fn measure(text: &str, vertical: bool, font: f64, limit: f64) -> (f64, f64) {
    let text = text.trim();
    if vertical {
        let per_column = (limit / font).floor().max(1.0) as usize;
        let count = text.chars().filter(|c| !c.is_whitespace()).count().max(1);
        let columns = count.div_ceil(per_column);
        (columns as f64 * font * 1.25, count.min(per_column) as f64 * font)
    } else {
        let mut lines = 1usize;
        let mut line = 0.0f64;
        let mut widest = 0.0f64;
        for word in split_words(text) {
            let width: f64 = word
                .chars()
                .map(|c| {
                    if is_wide(c) {
                        font
                    } else if c == ' ' {
                        0.3 * font
                    } else {
                        0.55 * font
                    }
                })
                .sum();
            if line > 0.0 && line + width > limit {
                widest = widest.max(line);
                lines += 1;
                line = width.min(limit);
            } else {
                line += width;
            }
        }
        widest = widest.max(line).min(limit);
        (widest, lines as f64 * font * 1.3)
    }
}

/// Words for wrapping: Latin words with their following space; wide characters one
/// by one.
fn split_words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    for c in text.chars() {
        if is_wide(c) {
            if !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
            words.push(c.to_string());
        } else {
            current.push(c);
            if c == ' ' {
                words.push(std::mem::take(&mut current));
            }
        }
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

/// A balloon's box (page px) for its text at `font` px, within a panel of `panel`
/// px.
fn balloon_size(text: &str, kind: &str, vertical: bool, font: f64, panel: (f64, f64)) -> (f64, f64) {
    // A letterer wraps a line into a rounded block, not one long column or row:
    // about as many characters down a column as columns across (a little taller
    // than wide), within the panel.
    let chars = text.chars().filter(|c| !c.is_whitespace()).count().max(1) as f64;
    let (text_w, text_h) = if vertical {
        let per_column = (chars * 1.6).sqrt().ceil().max(4.0);
        measure(text, true, font, (panel.1 * 0.55).min(font * per_column.min(12.0)))
    } else {
        let ems: f64 = text.chars().map(|c| if is_wide(c) { 1.0 } else { 0.55 }).sum();
        let per_line = (ems * 2.2).sqrt().ceil().max(6.0);
        measure(text, false, font, (panel.0 * 0.6).min(font * per_line.min(14.0)))
    };
    match kind {
        "narration" => (text_w + font * 0.9, text_h + font * 0.9),
        "shout" => (text_w / 0.62, text_h / 0.62),
        _ => (text_w / OVAL_FILL, text_h / OVAL_FILL),
    }
}

/// Places one panel's balloons; returns them with ids, frames and tails.
fn place_panel(panel: &Value, rtl: bool, vertical: bool, placed_on_page: &mut Vec<Rect>) -> Vec<Value> {
    let Some(frame) = panel.get("frame").and_then(Rect::from_json) else { return Vec::new() };
    let panel_id = panel.get("id").and_then(Value::as_str).unwrap_or_default();
    let cast = figures(panel, rtl);
    let (page_w, page_h) = (f64::from(PAGE_WIDTH), f64::from(PAGE_HEIGHT));
    let inner = frame.inset(0.006);
    let mut balloons = Vec::new();
    for (index, line) in panel.get("dialogue").and_then(Value::as_array).into_iter().flatten().enumerate() {
        let text = line.get("text").and_then(Value::as_str).unwrap_or_default().trim();
        if text.is_empty() {
            continue;
        }
        let kind = line.get("balloon").and_then(Value::as_str).unwrap_or("speech");
        let mut font = FONT_SIZE;
        let (mut w, mut h);
        loop {
            let (pw, ph) = balloon_size(text, kind, vertical, font * page_w, (inner.w * page_w, inner.h * page_h));
            (w, h) = (pw / page_w, ph / page_h);
            if (w <= inner.w && h <= inner.h) || font <= MIN_FONT_SIZE {
                break;
            }
            font = (font * 0.9).max(MIN_FONT_SIZE);
        }
        let (w, h) = (w.min(inner.w), h.min(inner.h));
        let rect = best_spot(inner, w, h, rtl, &cast, placed_on_page);
        placed_on_page.push(rect);
        let speaker = line.get("speaker").and_then(Value::as_str);
        let tail = if kind == "narration" {
            Value::Null
        } else {
            speaker
                .and_then(|speaker| cast.iter().find(|figure| figure.character == speaker))
                .map(|figure| json!({ "x": round(figure.face.center().0), "y": round(figure.face.bottom()) }))
                .or_else(|| line.get("position").filter(|position| position.get("x").is_some()).cloned())
                .unwrap_or(Value::Null)
        };
        let id =
            line.get("id").and_then(Value::as_str).map_or_else(|| format!("{panel_id}-b{}", index + 1), str::to_owned);
        balloons.push(json!({
            "id": id,
            "panel": panel_id,
            "line": id,
            "speaker": speaker,
            "kind": kind,
            "text": text,
            "frame": rect.to_json(),
            "tail": tail,
            "vertical": vertical,
            "font_size": round(font),
            "bold": kind == "shout",
        }));
    }
    balloons
}

fn round(value: f64) -> f64 {
    (value * 10_000.0).round() / 10_000.0
}

/// The first spot in reading order (from the top, starting on the reading side)
/// that covers no face and no balloon; else the one that covers least.
fn best_spot(inner: Rect, w: f64, h: f64, rtl: bool, cast: &[Figure], placed: &[Rect]) -> Rect {
    const STEPS: usize = 6;
    let mut best: Option<(f64, Rect)> = None;
    for row in 0..=STEPS {
        let y = inner.y + (inner.h - h).max(0.0) * row as f64 / STEPS as f64;
        for column in 0..=STEPS {
            let across = (inner.w - w).max(0.0) * column as f64 / STEPS as f64;
            let x = if rtl { inner.right() - w - across } else { inner.x + across };
            let spot = Rect { x, y, w, h };
            let cost = placed.iter().map(|other| 20.0 * spot.overlap(*other)).sum::<f64>()
                + cast
                    .iter()
                    .map(|figure| 10.0 * spot.overlap(figure.face) + 0.5 * spot.overlap(figure.body))
                    .sum::<f64>();
            if cost <= 1e-9 {
                return spot;
            }
            if best.is_none_or(|(least, _)| cost < least) {
                best = Some((cost, spot));
            }
        }
    }
    best.map_or(Rect { x: inner.x, y: inner.y, w, h }, |(_, spot)| spot)
}

/// A sound effect for a panel: the direction's own, else one from the mood for an
/// emphasised panel.
fn sound_effect(panel: &Value, language: &str) -> Option<String> {
    if let Some(sfx) = panel.pointer("/direction/sfx").and_then(Value::as_str).filter(|sfx| !sfx.trim().is_empty()) {
        return Some(sfx.trim().to_owned());
    }
    if !panel.get("emphasis").and_then(Value::as_bool).unwrap_or(false) {
        return None;
    }
    let mood = panel.pointer("/direction/mood").and_then(Value::as_str).unwrap_or_default().to_lowercase();
    let pick = |ja: &'static str, zh: &'static str, en: &'static str| match language {
        "ja" => ja,
        "zh" => zh,
        _ => en,
    };
    let sfx = if mood.contains("angry") || mood.contains("怒") {
        pick("ゴゴゴ", "轰轰", "RUMBLE")
    } else if mood.contains("sad") || mood.contains("悲") || mood.contains("quiet") {
        pick("シーン", "寂", "...")
    } else if mood.contains("surpris") || mood.contains("驚") {
        pick("バッ", "唰", "WHOA")
    } else {
        pick("ドン", "咚", "BOOM")
    };
    Some(sfx.to_owned())
}

fn effects(panel: &Value, language: &str, rtl: bool, balloons: &[Rect]) -> Vec<Value> {
    let Some(frame) = panel.get("frame").and_then(Rect::from_json) else { return Vec::new() };
    let panel_id = panel.get("id").and_then(Value::as_str).unwrap_or_default();
    let lines = panel.pointer("/direction/effect_lines").and_then(Value::as_str).unwrap_or_default().to_lowercase();
    let mut out = Vec::new();
    // One kind of lines a panel: focus lines for an emphasised one when the
    // direction allows them, speed lines otherwise.
    let emphasis = panel.get("emphasis").and_then(Value::as_bool).unwrap_or(false);
    let focus = lines.contains("focus") || lines.contains("集中");
    // Speed lines are for action: a panel without dialogue, or one whose poses move.
    let poses = panel.pointer("/direction/poses").and_then(Value::as_str).unwrap_or_default().to_lowercase();
    let silent = panel.get("dialogue").and_then(Value::as_array).is_none_or(Vec::is_empty);
    let moving = ["motion", "run", "rush", "leap", "fall", "走", "跳", "動"].iter().any(|word| poses.contains(word));
    let speed = (lines.contains("speed") || lines.contains("流線") || lines.contains("スピード")) && (silent || moving);
    if speed && !(focus && emphasis) {
        out.push(json!({ "id": format!("{panel_id}-speed"), "kind": "speed_lines", "panel": panel_id, "frame": frame.to_json(), "angle": 0.0 }));
    } else if focus {
        let (cx, cy) = figures(panel, rtl).first().map_or(frame.center(), |figure| figure.face.center());
        out.push(json!({ "id": format!("{panel_id}-focus"), "kind": "focus_lines", "panel": panel_id, "frame": frame.to_json(), "center": { "x": round(cx), "y": round(cy) } }));
    }
    if let Some(text) = sound_effect(panel, language) {
        // Large, across the lower part of the panel on the side where reading ends,
        // or wherever balloons leave room.
        let (w, h) = (frame.w * 0.45, frame.h * 0.22);
        let candidates = [
            Rect { x: if rtl { frame.x } else { frame.right() - w }, y: frame.bottom() - h - frame.h * 0.05, w, h },
            Rect { x: if rtl { frame.right() - w } else { frame.x }, y: frame.bottom() - h - frame.h * 0.05, w, h },
            Rect { x: frame.x + (frame.w - w) / 2.0, y: frame.y + frame.h * 0.35, w, h },
        ];
        let spot = candidates
            .iter()
            .copied()
            .min_by(|a, b| {
                let cost = |r: Rect| balloons.iter().map(|other| r.overlap(*other)).sum::<f64>();
                cost(*a).total_cmp(&cost(*b))
            })
            .unwrap_or(candidates[0]);
        out.push(json!({ "id": format!("{panel_id}-sfx"), "kind": "sfx", "panel": panel_id, "text": text, "frame": spot.to_json(), "angle": -12.0 }));
    }
    out
}

/// Balloons and effects for every page of the name (a page already lettered keeps
/// its own).
pub fn letter_pages(document: &Value, options: &Value) -> Vec<Value> {
    let rtl = right_to_left(document, options);
    let vertical = vertical_text(document, options);
    let language = language(document);
    let existing = document.pointer("/lettering/pages").and_then(Value::as_array).cloned().unwrap_or_default();
    let mut pages = Vec::new();
    for (index, page) in document.get("pages").and_then(Value::as_array).into_iter().flatten().enumerate() {
        let number = page.get("number").and_then(Value::as_u64).unwrap_or(index as u64 + 1);
        if let Some(kept) = existing.iter().find(|kept| kept.get("number").and_then(Value::as_u64) == Some(number)) {
            pages.push(kept.clone());
            continue;
        }
        let mut placed = Vec::new();
        let mut balloons = Vec::new();
        let mut page_effects = Vec::new();
        for panel in page.get("panels").and_then(Value::as_array).into_iter().flatten() {
            let start = placed.len();
            balloons.extend(place_panel(panel, rtl, vertical, &mut placed));
            page_effects.extend(effects(panel, &language, rtl, &placed[start..]));
        }
        pages.push(
            json!({ "id": format!("page-{number}"), "number": number, "balloons": balloons, "effects": page_effects }),
        );
    }
    pages
}

/// The letterer's input for one page: its panels (images by asset id, crops),
/// balloons and effects, in fractions of a page of `PAGE_WIDTH` × `PAGE_HEIGHT`.
pub fn page_spec(document: &Value, lettered: &Value, options: &Value, chunks: Value) -> Value {
    let number = lettered.get("number").and_then(Value::as_u64).unwrap_or(1);
    let art = document.pointer("/art/panels").and_then(Value::as_array).cloned().unwrap_or_default();
    let page = document
        .get("pages")
        .and_then(Value::as_array)
        .and_then(|pages| pages.iter().find(|page| page.get("number").and_then(Value::as_u64) == Some(number)));
    let panels: Vec<Value> = page
        .and_then(|page| page.get("panels"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|panel| {
            let id = panel.get("id").and_then(Value::as_str).unwrap_or_default();
            let image = art.iter().find(|entry| entry.get("id").and_then(Value::as_str) == Some(id));
            json!({
                "id": id,
                "frame": panel.get("frame").cloned().unwrap_or(Value::Null),
                "image": image.and_then(|image| image.get("asset_id")).cloned().unwrap_or(Value::Null),
                "crop": image.and_then(|image| image.get("crop")).cloned().unwrap_or(Value::Null),
                "placeholder_text": if image.is_none() { json!(panel.get("scene").cloned().unwrap_or(json!(id))) } else { Value::Null },
            })
        })
        .collect();
    json!({
        "width": PAGE_WIDTH,
        "height": PAGE_HEIGHT,
        "language": language(document),
        "right_to_left": right_to_left(document, options),
        "panels": panels,
        "balloons": lettered.get("balloons").cloned().unwrap_or(json!([])),
        "effects": lettered.get("effects").cloned().unwrap_or(json!([])),
        "min_font_size": MIN_FONT_SIZE,
        "chunks": chunks,
    })
}

impl Phase for Lettering {
    fn number(&self) -> u32 {
        6
    }
    fn name(&self) -> &'static str {
        "lettering"
    }
    fn title(&self) -> &'static str {
        "Lettering (balloons, dialogue, sound effects)"
    }
    fn parts(&self) -> &'static [&'static str] {
        &["lettering"]
    }
    fn schema(&self) -> Value {
        super::schema::wrapped("lettering", super::schema::lettering())
    }
    fn retry(&self) -> RetryPolicy {
        RetryPolicy::SLOW
    }
    fn keeps_finished_steps(&self) -> bool {
        true
    }
    fn step(&self, context: &PhaseContext<'_>) -> Result<Step, PhaseError> {
        let options = &context.run.settings.options;
        let mut pages = letter_pages(context.document, options);
        let mut wanted = Vec::new();
        let mut all_done = true;
        for page in &mut pages {
            let number = page.get("number").and_then(Value::as_u64).unwrap_or(1);
            let chunks = json!({ "atelier:run": context.run.id.to_string(), "atelier:page": number });
            let spec = page_spec(context.document, page, options, chunks);
            let request = StepRequest::new(format!("letter-{number}"), LETTERER, spec);
            match context.done(&request.name) {
                None => all_done = false,
                Some(output) => {
                    let image = output.assets.iter().find(|asset| asset.mime.starts_with("image/"));
                    if let Some(image) = image {
                        page["image"] = json!({ "asset_id": image.id, "task_id": output.task_id.to_string() });
                    }
                    record_fit(page, output.json.as_ref());
                }
            }
            wanted.push(request);
        }
        if !all_done {
            return Ok(Step::Need(wanted));
        }
        let mut lettering = part(context.document, "lettering");
        if !lettering.is_object() {
            lettering = json!({});
        }
        lettering["pages"] = Value::Array(pages);
        Ok(Step::Done(with_part(context.document, "lettering", lettering)))
    }
}

/// Writes the letterer's exact fit (`fitted_font_size`, `overflow`) on each balloon.
pub fn record_fit(page: &mut Value, layout: Option<&Value>) {
    let Some(fits) = layout.and_then(|layout| layout.get("balloons")).and_then(Value::as_array) else { return };
    let Some(balloons) = page.get_mut("balloons").and_then(Value::as_array_mut) else { return };
    for balloon in balloons {
        let id = balloon.get("id").and_then(Value::as_str).unwrap_or_default().to_owned();
        if let Some(fit) = fits.iter().find(|fit| fit.get("id").and_then(Value::as_str) == Some(id.as_str())) {
            if let Some(size) = fit.get("font_size").and_then(Value::as_f64) {
                balloon["fitted_font_size"] = json!(round(size));
            }
            balloon["overflow"] = json!(fit.get("overflow").and_then(Value::as_bool).unwrap_or(false));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn document(language: &str) -> Value {
        json!({
            "concept": { "language": language },
            "pages": [{
                "number": 1,
                "panels": [{
                    "id": "p1-1",
                    "emphasis": true,
                    "frame": { "x": 0.02, "y": 0.02, "w": 0.96, "h": 0.45 },
                    "direction": {
                        "placement": [{ "character": "c1", "depth": "fore" }, { "character": "c2", "depth": "mid" }],
                        "effect_lines": "speed lines / focus lines", "mood": "tense"
                    },
                    "dialogue": [
                        { "id": "p1-1-b1", "speaker": "c1", "text": "吾輩は猫である。名前はまだ無い。", "balloon": "speech" },
                        { "id": "p1-1-b2", "speaker": "c2", "text": "どこで生れたかとんと見当がつかぬ。", "balloon": "thought" },
                        { "id": "p1-1-b3", "speaker": null, "text": "その日の夕方", "balloon": "narration" }
                    ]
                }]
            }]
        })
    }

    #[test]
    fn balloons_stay_in_their_panel_clear_of_faces_and_of_each_other_in_reading_order() {
        let doc = document("ja");
        let pages = letter_pages(&doc, &json!({}));
        let balloons = pages[0]["balloons"].as_array().expect("balloons");
        assert_eq!(balloons.len(), 3);
        let frame = Rect::from_json(&doc["pages"][0]["panels"][0]["frame"]).expect("frame");
        let cast = figures(&doc["pages"][0]["panels"][0], true);
        let rects: Vec<Rect> = balloons.iter().map(|b| Rect::from_json(&b["frame"]).expect("frame")).collect();
        for (balloon, rect) in balloons.iter().zip(&rects) {
            assert!(frame.contains(*rect), "{balloon}");
            assert_eq!(balloon["vertical"], true, "Japanese is set vertically");
            for figure in &cast {
                assert_eq!(rect.overlap(figure.face), 0.0, "{balloon} covers {}", figure.character);
            }
        }
        for (i, a) in rects.iter().enumerate() {
            for b in &rects[i + 1..] {
                assert_eq!(a.overlap(*b), 0.0);
            }
        }
        // Right to left: the first balloon is the rightmost of the top row.
        assert!(rects[0].right() >= rects[1].right() - 1e-9 || rects[1].y > rects[0].y);
        // The speaker's tail points at the speaker; narration has none.
        let c1 = cast.iter().find(|f| f.character == "c1").expect("c1");
        assert!((balloons[0]["tail"]["x"].as_f64().expect("x") - c1.face.center().0).abs() < 1e-3);
        assert!(balloons[2]["tail"].is_null());
        let kinds: Vec<&str> =
            pages[0]["effects"].as_array().expect("fx").iter().filter_map(|e| e["kind"].as_str()).collect();
        assert_eq!(kinds, ["focus_lines", "sfx"], "an emphasised panel takes focus lines");
    }

    #[test]
    fn english_is_horizontal_and_long_text_shrinks() {
        let mut doc = document("en");
        doc["pages"][0]["panels"][0]["frame"] = json!({ "x": 0.5, "y": 0.5, "w": 0.2, "h": 0.12 });
        doc["pages"][0]["panels"][0]["dialogue"][0]["text"] = json!("word ".repeat(80));
        let pages = letter_pages(&doc, &json!({}));
        let first = &pages[0]["balloons"][0];
        assert_eq!(first["vertical"], false);
        assert!(first["font_size"].as_f64().expect("size") < FONT_SIZE);
        let (w, _) = measure("hello world again", false, 10.0, 60.0);
        assert!(w <= 60.0);
    }

    #[test]
    fn lettered_pages_are_kept() {
        let mut doc = document("ja");
        doc["lettering"] = json!({ "pages": [{ "number": 1, "balloons": [], "moved": true }] });
        assert_eq!(letter_pages(&doc, &json!({}))[0]["moved"], true);
    }
}
