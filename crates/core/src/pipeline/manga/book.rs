//! Phase 7: the final check and the book. The check reads the document's own
//! layout (a vision model cannot read lettering in place; the layout is exact),
//! page by page: text that overflowed its balloon, balloons over each other or
//! over a face, balloons out of reading order or across their panel's border,
//! fallback panels, and text whose colours read poorly. Every problem names the
//! element path feedback fixes it at. Then the built-in binder (`local/binder`)
//! draws the pages and binds them as a PDF and a CBZ.

use serde_json::{Value, json};

use super::figures::{Rect, figures};
use super::lettering::page_spec;
use super::{part, right_to_left, with_part};
use crate::pipeline::phase::{Phase, PhaseContext, PhaseError, Step, StepRequest};

/// The built-in engine that binds the book.
pub const BINDER: &str = "local/binder";
/// Balloons overlapping by more than this share of the smaller are reported.
const OVERLAP_SHARE: f64 = 0.02;
/// A balloon covering more than this share of a face is reported.
const FACE_SHARE: f64 = 0.1;
/// WCAG's contrast for normal text.
const MIN_CONTRAST: f64 = 4.5;

pub struct Book;

fn problem(kind: &str, page: u64, element_id: String, message: String) -> Value {
    json!({ "kind": kind, "page": page, "element_id": element_id, "message": message })
}

/// Relative luminance of `#rrggbb` (WCAG 2).
fn luminance(color: &str) -> Option<f64> {
    let hex = color.strip_prefix('#')?;
    if hex.len() != 6 {
        return None;
    }
    let channel = |at: usize| -> Option<f64> {
        let value = f64::from(u8::from_str_radix(hex.get(at..at + 2)?, 16).ok()?) / 255.0;
        Some(if value <= 0.03928 { value / 12.92 } else { ((value + 0.055) / 1.055).powf(2.4) })
    };
    Some(0.2126 * channel(0)? + 0.7152 * channel(2)? + 0.0722 * channel(4)?)
}

/// The contrast ratio of two colours (1 to 21).
pub fn contrast(a: &str, b: &str) -> Option<f64> {
    let (a, b) = (luminance(a)?, luminance(b)?);
    Some((a.max(b) + 0.05) / (a.min(b) + 0.05))
}

/// The quality report of a lettered document.
pub fn check(document: &Value, options: &Value) -> Value {
    let rtl = right_to_left(document, options);
    let mut problems = Vec::new();
    let art = document.pointer("/art/panels").and_then(Value::as_array).cloned().unwrap_or_default();
    for entry in &art {
        let source = entry.get("source").and_then(Value::as_str).unwrap_or_default();
        if source == "placeholder" || source == "simplified" {
            let id = entry.get("id").and_then(Value::as_str).unwrap_or_default();
            let page = entry.get("page").and_then(Value::as_u64).unwrap_or(0);
            let what = if source == "placeholder" { "a placeholder" } else { "drawn from a simplified prompt" };
            problems.push(problem(
                "fallback_panel",
                page,
                format!("art.panels.{id}"),
                format!("panel {id} is {what} after the model failed; regenerate it"),
            ));
        }
    }
    let text_color = document.pointer("/style/text_color").and_then(Value::as_str).unwrap_or("#000000");
    let fill = document.pointer("/style/balloon_fill").and_then(Value::as_str).unwrap_or("#ffffff");
    let pages = document.get("pages").and_then(Value::as_array).cloned().unwrap_or_default();
    let lettered = document.pointer("/lettering/pages").and_then(Value::as_array).cloned().unwrap_or_default();
    for (page_index, page) in lettered.iter().enumerate() {
        let number = page.get("number").and_then(Value::as_u64).unwrap_or(page_index as u64 + 1);
        let path = |balloon: usize| format!("lettering.pages.{page_index}.balloons.{balloon}");
        let panels: Vec<&Value> = pages
            .iter()
            .find(|p| p.get("number").and_then(Value::as_u64) == Some(number))
            .and_then(|p| p.get("panels"))
            .and_then(Value::as_array)
            .map(|panels| panels.iter().collect())
            .unwrap_or_default();
        let balloons = page.get("balloons").and_then(Value::as_array).cloned().unwrap_or_default();
        let rects: Vec<Option<Rect>> = balloons.iter().map(|b| b.get("frame").and_then(Rect::from_json)).collect();
        for (i, balloon) in balloons.iter().enumerate() {
            let Some(rect) = rects[i] else { continue };
            let id = balloon.get("id").and_then(Value::as_str).unwrap_or_default();
            if balloon.get("overflow").and_then(Value::as_bool) == Some(true) {
                problems.push(problem(
                    "text_overflow",
                    number,
                    path(i),
                    format!("the text of balloon {id} does not fit it; enlarge the balloon or shorten the line"),
                ));
            }
            for (j, other) in rects.iter().enumerate().skip(i + 1) {
                let Some(other) = other else { continue };
                let shared = rect.overlap(*other);
                if shared > OVERLAP_SHARE * rect.area().min(other.area()) {
                    let other_id = balloons[j].get("id").and_then(Value::as_str).unwrap_or_default();
                    problems.push(problem(
                        "balloon_overlap",
                        number,
                        path(j),
                        format!("balloons {id} and {other_id} overlap"),
                    ));
                }
            }
            let panel_id = balloon.get("panel").and_then(Value::as_str).unwrap_or_default();
            if let Some(panel) = panels.iter().find(|p| p.get("id").and_then(Value::as_str) == Some(panel_id)) {
                if let Some(frame) = panel.get("frame").and_then(Rect::from_json)
                    && !frame.contains(rect)
                    && balloon.get("cross_border").and_then(Value::as_bool) != Some(true)
                {
                    problems.push(problem(
                        "crosses_border",
                        number,
                        path(i),
                        format!("balloon {id} crosses the border of panel {panel_id}"),
                    ));
                }
                for figure in figures(panel, rtl) {
                    if rect.overlap(figure.face) > FACE_SHARE * figure.face.area() {
                        problems.push(problem(
                            "balloon_over_face",
                            number,
                            path(i),
                            format!("balloon {id} covers the face of {}", figure.character),
                        ));
                    }
                }
            }
            // Reading order within a panel: each balloon after the one before it
            // (below it, or beside it on the side reading goes to).
            if i > 0
                && let Some(before) = rects[i - 1]
                && balloons[i - 1].get("panel") == balloon.get("panel")
            {
                let above = rect.bottom() <= before.y + 1e-6;
                let side_by_side = rect.y < before.bottom() && before.y < rect.bottom();
                let wrong_side = if rtl {
                    rect.center().0 > before.center().0 + 1e-6
                } else {
                    rect.center().0 < before.center().0 - 1e-6
                };
                if above || (side_by_side && wrong_side) {
                    problems.push(problem(
                        "reading_order",
                        number,
                        path(i),
                        format!("balloon {id} reads before the balloon it follows"),
                    ));
                }
            }
        }
        if let Some(ratio) = contrast(text_color, fill)
            && ratio < MIN_CONTRAST
            && !balloons.is_empty()
        {
            problems.push(problem(
                "low_contrast",
                number,
                "style".into(),
                format!("text {text_color} on {fill} has a contrast of {ratio:.1}:1 (4.5:1 is the least for reading)"),
            ));
        }
    }
    json!({ "checked_pages": lettered.len(), "problems": problems })
}

/// The book's details for its metadata.
fn meta(document: &Value, options: &Value) -> Value {
    let characters: Vec<Value> = document
        .get("characters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|character| character.get("name").cloned())
        .collect();
    json!({
        "title": document.pointer("/concept/title").cloned().unwrap_or(json!("Untitled")),
        "writer": options.get("writer").cloned().unwrap_or(Value::Null),
        "summary": document.pointer("/concept/theme").cloned().unwrap_or(Value::Null),
        "language": super::language(document),
        "right_to_left": right_to_left(document, options),
        "characters": characters,
    })
}

impl Phase for Book {
    fn number(&self) -> u32 {
        7
    }
    fn name(&self) -> &'static str {
        "book"
    }
    fn title(&self) -> &'static str {
        "Final check and book"
    }
    fn parts(&self) -> &'static [&'static str] {
        &["report", "book"]
    }
    fn schema(&self) -> Value {
        json!({
            "type": "object",
            "required": ["report", "book"],
            "properties": { "report": super::schema::report(), "book": super::schema::book() }
        })
    }
    fn step(&self, context: &PhaseContext<'_>) -> Result<Step, PhaseError> {
        let document = context.document;
        let options = &context.run.settings.options;
        let basis = context.run.head.as_ref().map(ToString::to_string).unwrap_or_default();
        let lettered = document.pointer("/lettering/pages").and_then(Value::as_array).cloned().unwrap_or_default();
        if lettered.is_empty() {
            return Err(PhaseError::new("nothing_to_bind", "the document has no lettered pages"));
        }
        let pages: Vec<Value> = lettered
            .iter()
            .map(|page| {
                let number = page.get("number").and_then(Value::as_u64).unwrap_or(1);
                let chunks = json!({ "atelier:run": context.run.id.to_string(), "atelier:version": basis, "atelier:page": number });
                page_spec(document, page, options, chunks)
            })
            .collect();
        let request = StepRequest::new("book", BINDER, json!({ "meta": meta(document, options), "pages": pages }));
        let Some(output) = context.done(&request.name) else { return Ok(Step::Need(vec![request])) };
        let mut report = check(document, options);
        let manifest = output.json.clone().unwrap_or(Value::Null);
        let find = |mime: &str| output.assets.iter().find(|asset| asset.mime == mime).map(|asset| json!(asset.id));
        let page_assets: Vec<Value> =
            output.assets.iter().filter(|asset| asset.mime == "image/png").map(|asset| json!(asset.id)).collect();
        // The letterer's fit on the final pages joins the report.
        if let Some(fits) = manifest.get("pages").and_then(Value::as_array) {
            let mut lettering = part(document, "lettering");
            if let Some(list) = lettering.get_mut("pages").and_then(Value::as_array_mut) {
                for (page, fit) in list.iter_mut().zip(fits) {
                    super::lettering::record_fit(page, Some(fit));
                }
                let refreshed = with_part(document, "lettering", lettering.clone());
                report = check(&refreshed, options);
            }
        }
        let book = json!({
            "pdf": find("application/pdf"),
            "cbz": find("application/vnd.comicbook+zip"),
            "pages": page_assets,
            "page_count": lettered.len(),
            "right_to_left": right_to_left(document, options),
            "task_id": output.task_id.to_string(),
        });
        let next = with_part(&with_part(document, "report", report), "book", book);
        Ok(Step::Done(next))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contrast_follows_wcag() {
        assert!((contrast("#000000", "#ffffff").expect("ratio") - 21.0).abs() < 0.01);
        assert!(contrast("#777777", "#888888").expect("ratio") < 1.5);
        assert!(contrast("red", "#fff").is_none());
    }

    #[test]
    fn the_check_names_each_problem_by_its_path() {
        let document = json!({
            "concept": { "language": "ja" },
            "style": { "text_color": "#999999", "balloon_fill": "#aaaaaa" },
            "pages": [{ "number": 1, "panels": [{
                "id": "p1-1", "frame": { "x": 0.0, "y": 0.0, "w": 0.5, "h": 0.5 },
                "direction": { "placement": [{ "character": "c1", "depth": "fore" }] }
            }] }],
            "art": { "panels": [{ "id": "p1-1", "page": 1, "asset_id": "img_x", "source": "placeholder" }] },
            "lettering": { "pages": [{ "number": 1, "balloons": [
                { "id": "b1", "panel": "p1-1", "kind": "speech", "text": "a", "frame": { "x": 0.0, "y": 0.0, "w": 0.2, "h": 0.1 }, "overflow": true },
                { "id": "b2", "panel": "p1-1", "kind": "speech", "text": "b", "frame": { "x": 0.3, "y": 0.0, "w": 0.3, "h": 0.1 } },
                { "id": "b3", "panel": "p1-1", "kind": "speech", "text": "c", "frame": { "x": 0.15, "y": 0.15, "w": 0.2, "h": 0.3 } }
            ] }] }
        });
        let report = check(&document, &json!({}));
        let kinds: Vec<(&str, &str)> = report["problems"]
            .as_array()
            .expect("problems")
            .iter()
            .map(|p| (p["kind"].as_str().unwrap_or(""), p["element_id"].as_str().unwrap_or("")))
            .collect();
        assert!(kinds.contains(&("fallback_panel", "art.panels.p1-1")), "{kinds:?}");
        assert!(kinds.contains(&("text_overflow", "lettering.pages.0.balloons.0")));
        assert!(kinds.contains(&("crosses_border", "lettering.pages.0.balloons.1")));
        assert!(
            kinds.contains(&("reading_order", "lettering.pages.0.balloons.1")),
            "b2 is left of b1 in a right-to-left book... {kinds:?}"
        );
        assert!(kinds.contains(&("balloon_over_face", "lettering.pages.0.balloons.2")), "{kinds:?}");
        assert!(kinds.contains(&("low_contrast", "style")));
    }
}
