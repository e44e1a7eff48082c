//! Each phase's preview as SVG (seed 001 `PreviewService`): the concept as a card,
//! the characters with their sheets, the plot as a list of scenes, and the name as
//! a drawn storyboard (each page with its numbered panel frames, the direction
//! notes, and the balloons with their text), as a person sketches a name. Text
//! stays text, so the browser's fonts draw any script.
//!
//! The quality level (1 to 5, seed 001 `AdaptiveQualityManager`) changes the
//! drawing's size and detail, never the data.

use std::fmt::Write;

use serde_json::Value;

/// Width in pixels of one page (or card) at each quality level.
pub fn width(quality: u8) -> u32 {
    match quality {
        0 | 1 => 320,
        2 => 480,
        3 => 720,
        4 => 1080,
        _ => 1440,
    }
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' => {}
            c => out.push(c),
        }
    }
    out
}

fn text_of<'a>(value: &'a Value, key: &str) -> &'a str {
    value.get(key).and_then(Value::as_str).unwrap_or_default()
}

fn shorten(text: &str, limit: usize) -> String {
    let mut out: String = text.chars().take(limit).collect();
    if text.chars().count() > limit {
        out.push('…');
    }
    out
}

struct Canvas {
    body: String,
    width: f64,
    height: f64,
    font: f64,
}

impl Canvas {
    fn new(width: u32) -> Self {
        let width = f64::from(width);
        Self { body: String::new(), width, height: 0.0, font: (width / 40.0).clamp(9.0, 22.0) }
    }

    fn text(&mut self, x: f64, y: f64, size: f64, weight: &str, text: &str) {
        let _ = write!(
            self.body,
            r#"<text x="{x:.1}" y="{y:.1}" font-size="{size:.1}" font-weight="{weight}">{}</text>"#,
            escape(text)
        );
    }

    /// Writes lines of about `chars` characters; returns the y below them.
    fn paragraph(&mut self, x: f64, mut y: f64, size: f64, chars: usize, text: &str) -> f64 {
        let all: Vec<char> = text.chars().collect();
        for chunk in all.chunks(chars.max(8)).take(12) {
            y += size * 1.3;
            self.text(x, y, size, "normal", &chunk.iter().collect::<String>());
        }
        y
    }

    fn finish(self, title: &str) -> String {
        format!(
            r##"<svg xmlns="http://www.w3.org/2000/svg" width="{w:.0}" height="{h:.0}" viewBox="0 0 {w:.0} {h:.0}" font-family="sans-serif" role="img" aria-label="{label}"><title>{label}</title><rect width="100%" height="100%" fill="#fff"/>{body}</svg>"##,
            w = self.width,
            h = self.height.max(40.0),
            label = escape(title),
            body = self.body
        )
    }
}

/// The preview of a document after `phase`, as an SVG document; for the name,
/// only page `page` (1-based) when given.
pub fn svg(document: &Value, phase: u32, quality: u8, page: Option<usize>) -> String {
    let width = width(quality);
    match phase {
        1 => concept(document, width),
        2 => characters(document, width),
        3 => plot(document, width),
        _ => storyboard(document, width, quality, page),
    }
}

/// How many pages the name has (0 before phase 4).
pub fn page_count(document: &Value) -> usize {
    document.get("pages").and_then(Value::as_array).map_or(0, Vec::len)
}

fn concept(document: &Value, width: u32) -> String {
    let concept = document.get("concept").cloned().unwrap_or(Value::Null);
    let mut canvas = Canvas::new(width);
    let f = canvas.font;
    let chars = (f64::from(width) / f * 1.6) as usize;
    canvas.text(f, f * 2.0, f * 1.6, "bold", text_of(&concept, "title"));
    let mut y = f * 2.5;
    for key in ["genre", "theme", "target_readers", "world", "tone"] {
        y += f * 0.6;
        canvas.text(f, y + f * 1.2, f * 0.9, "bold", key);
        y = canvas.paragraph(f, y + f * 1.2, f, chars, text_of(&concept, key));
    }
    let pages = concept.get("page_count").and_then(Value::as_u64).unwrap_or(0);
    y += f * 1.6;
    canvas.text(f, y, f, "normal", &format!("{pages} pages"));
    canvas.height = y + f;
    canvas.finish("Concept and world")
}

fn characters(document: &Value, width: u32) -> String {
    let list = document.get("characters").and_then(Value::as_array).cloned().unwrap_or_default();
    let mut canvas = Canvas::new(width);
    let f = canvas.font;
    let sheet = f * 7.0;
    let chars = ((f64::from(width) - sheet - f * 3.0) / f * 1.6) as usize;
    let mut y = f;
    for character in &list {
        let top = y;
        if let Some(asset) = character.pointer("/sheets/0/asset_id").and_then(Value::as_str) {
            let _ = write!(
                canvas.body,
                r#"<image x="{x:.1}" y="{top:.1}" width="{sheet:.1}" height="{sheet:.1}" href="/api/v1/assets/{id}/thumbnail" preserveAspectRatio="xMidYMid slice"/>"#,
                x = f,
                id = escape(asset)
            );
        } else {
            let _ = write!(
                canvas.body,
                r##"<rect x="{x:.1}" y="{top:.1}" width="{sheet:.1}" height="{sheet:.1}" fill="#eee" stroke="#999"/>"##,
                x = f
            );
        }
        let x = f * 2.0 + sheet;
        let name = format!("{} ({})", text_of(character, "name"), text_of(character, "role"));
        canvas.text(x, top + f, f * 1.2, "bold", &name);
        let mut line_y = top + f * 1.2;
        for key in ["age", "appearance", "personality", "speech_style"] {
            line_y = canvas.paragraph(
                x,
                line_y,
                f * 0.85,
                chars,
                &format!("{key}: {}", shorten(text_of(character, key), 160)),
            );
        }
        y = line_y.max(top + sheet) + f * 1.5;
    }
    canvas.height = y;
    canvas.finish("Characters")
}

fn plot(document: &Value, width: u32) -> String {
    let scenes = document.pointer("/plot/scenes").and_then(Value::as_array).cloned().unwrap_or_default();
    let mut canvas = Canvas::new(width);
    let f = canvas.font;
    let chars = (f64::from(width) / f * 1.5) as usize;
    let mut y = f * 0.5;
    for scene in &scenes {
        y += f * 1.6;
        let importance = scene.get("importance").and_then(Value::as_f64).unwrap_or(0.0);
        let _ = write!(
            canvas.body,
            r##"<rect x="0" y="{top:.1}" width="{w:.1}" height="{h:.1}" fill="#f4a" opacity="0.6"/>"##,
            top = y - f,
            w = f * 0.4,
            h = f * 1.2 * (0.3 + importance)
        );
        let heading = format!(
            "{} · {} · {} · {}",
            text_of(scene, "id"),
            text_of(scene, "setting"),
            text_of(scene, "time_of_day"),
            text_of(scene, "emotion")
        );
        canvas.text(f, y, f, "bold", &heading);
        y = canvas.paragraph(f, y, f * 0.85, chars, &shorten(text_of(scene, "summary"), 200));
    }
    canvas.height = y + f;
    canvas.finish("Plot and structure")
}

fn storyboard(document: &Value, width: u32, quality: u8, only: Option<usize>) -> String {
    let all = document.get("pages").and_then(Value::as_array).cloned().unwrap_or_default();
    let pages: Vec<Value> = match only {
        Some(page) => all.into_iter().skip(page.saturating_sub(1)).take(1).collect(),
        None => all,
    };
    let names: Vec<(String, String)> = document
        .get("characters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|character| (text_of(character, "id").to_owned(), text_of(character, "name").to_owned()))
        .collect();
    let speaker =
        |id: &str| names.iter().find(|(known, _)| known == id).map_or(id.to_owned(), |(_, name)| name.clone());
    let mut canvas = Canvas::new(width);
    let page_w = f64::from(width);
    let page_h = page_w * 1.414;
    let f = canvas.font * 0.8;
    let notes = quality >= 3;
    let art: Vec<Value> = document.pointer("/art/panels").and_then(Value::as_array).cloned().unwrap_or_default();
    let art_of = |panel: &Value| {
        let id = text_of(panel, "id");
        art.iter()
            .find(|entry| text_of(entry, "id") == id)
            .and_then(|entry| entry.get("asset_id"))
            .and_then(Value::as_str)
    };
    let lettering: Vec<Value> =
        document.pointer("/lettering/pages").and_then(Value::as_array).cloned().unwrap_or_default();
    for (index, page) in pages.iter().enumerate() {
        let number = page.get("number").and_then(Value::as_u64);
        let lettered = lettering.iter().find(|lettered| lettered.get("number").and_then(Value::as_u64) == number);
        let top = index as f64 * (page_h + f * 3.0) + f * 2.0;
        canvas.text(
            f,
            top - f * 0.5,
            f * 1.2,
            "bold",
            &format!("p.{}", page.get("number").and_then(Value::as_u64).unwrap_or(index as u64 + 1)),
        );
        let _ = write!(
            canvas.body,
            r##"<rect x="0" y="{top:.1}" width="{page_w:.1}" height="{page_h:.1}" fill="#fff" stroke="#444"/>"##
        );
        for panel in page.get("panels").and_then(Value::as_array).into_iter().flatten() {
            let frame = |key: &str| panel.pointer(&format!("/frame/{key}")).and_then(Value::as_f64).unwrap_or(0.0);
            let (x, y, w, h) =
                (frame("x") * page_w, top + frame("y") * page_h, frame("w") * page_w, frame("h") * page_h);
            let emphasis = panel.get("emphasis").and_then(Value::as_bool).unwrap_or(false);
            let _ = write!(
                canvas.body,
                r##"<rect data-panel="{id}" x="{x:.1}" y="{y:.1}" width="{w:.1}" height="{h:.1}" fill="none" stroke="#000" stroke-width="{sw}"/>"##,
                id = escape(text_of(panel, "id")),
                sw = if emphasis { 3 } else { 1 }
            );
            let order = panel.get("order").and_then(Value::as_u64).unwrap_or(0);
            canvas.text(x + f * 0.4, y + f * 1.2, f, "bold", &order.to_string());
            if notes {
                let direction = panel.get("direction").cloned().unwrap_or(Value::Null);
                let note = format!(
                    "{} / {} / {}",
                    text_of(&direction, "camera_angle"),
                    text_of(&direction, "shot"),
                    text_of(&direction, "background")
                );
                let chars = (w / (f * 0.6)).max(8.0) as usize;
                canvas.paragraph(x + f * 0.4, y + h - f * 3.2, f * 0.7, chars, &shorten(&note, chars * 2));
            }
            if let Some(image) = art_of(panel) {
                let _ = write!(
                    canvas.body,
                    r##"<clipPath id="clip-{id}"><rect x="{x:.1}" y="{y:.1}" width="{w:.1}" height="{h:.1}"/></clipPath><image data-art="{id}" x="{x:.1}" y="{y:.1}" width="{w:.1}" height="{h:.1}" href="/api/v1/assets/{asset}" preserveAspectRatio="xMidYMid slice" clip-path="url(#clip-{id})"/>"##,
                    id = escape(text_of(panel, "id")),
                    asset = escape(image)
                );
            }
            if lettered.is_some() {
                continue;
            }
            for line in panel.get("dialogue").and_then(Value::as_array).into_iter().flatten() {
                let position =
                    |key: &str| line.pointer(&format!("/position/{key}")).and_then(Value::as_f64).unwrap_or(0.5);
                let (bx, by) = (position("x") * page_w, top + position("y") * page_h);
                let text = text_of(line, "text");
                let who = line.get("speaker").and_then(Value::as_str).map(&speaker).unwrap_or_default();
                let balloon = text_of(line, "balloon");
                let shown = shorten(text, if quality <= 1 { 10 } else { 28 });
                let rx = (f * 0.6 * shown.chars().count().min(14) as f64).max(f * 2.0);
                let dash = if balloon == "thought" { r#" stroke-dasharray="4 3""# } else { "" };
                let stroke = if balloon == "shout" { 2.5 } else { 1.0 };
                let _ = write!(
                    canvas.body,
                    r##"<ellipse data-balloon="{id}" cx="{bx:.1}" cy="{by:.1}" rx="{rx:.1}" ry="{ry:.1}" fill="#fff" stroke="#000" stroke-width="{stroke}"{dash}/>"##,
                    id = escape(text_of(line, "id")),
                    ry = f * 1.4
                );
                let chars = 14;
                let lines: Vec<char> = shown.chars().collect();
                for (row, chunk) in lines.chunks(chars).take(2).enumerate() {
                    let _ = write!(
                        canvas.body,
                        r#"<text x="{bx:.1}" y="{y:.1}" font-size="{size:.1}" text-anchor="middle">{}</text>"#,
                        escape(&chunk.iter().collect::<String>()),
                        y = by + f * 0.3 + row as f64 * f * 0.9 - f * 0.4,
                        size = f * 0.75
                    );
                }
                if notes && !who.is_empty() {
                    canvas.text(bx - rx, by - f * 1.5, f * 0.6, "normal", &who);
                }
            }
        }
        if let Some(balloons) = lettered.and_then(|page| page.get("balloons")).and_then(Value::as_array) {
            for balloon in balloons {
                draw_balloon(&mut canvas, balloon, top, page_w, page_h);
            }
        }
        canvas.height = top + page_h + f;
    }
    canvas.finish("Name (storyboard)")
}

/// A lettered balloon where phase 6 put it: its shape, and its text (vertical
/// columns for vertical text).
fn draw_balloon(canvas: &mut Canvas, balloon: &Value, top: f64, page_w: f64, page_h: f64) {
    let frame = |key: &str| balloon.pointer(&format!("/frame/{key}")).and_then(Value::as_f64).unwrap_or(0.0);
    let (x, y, w, h) = (frame("x") * page_w, top + frame("y") * page_h, frame("w") * page_w, frame("h") * page_h);
    let kind = text_of(balloon, "kind");
    let id = escape(text_of(balloon, "id"));
    let stroke = if kind == "shout" { 2.5 } else { 1.2 };
    let dash = if kind == "whisper" { r#" stroke-dasharray="5 3""# } else { "" };
    if let (Some(tx), Some(ty)) =
        (balloon.pointer("/tail/x").and_then(Value::as_f64), balloon.pointer("/tail/y").and_then(Value::as_f64))
    {
        let (cx, cy) = (x + w / 2.0, y + h / 2.0);
        let _ = write!(
            canvas.body,
            r##"<path d="M{a:.1},{cy:.1} L{px:.1},{py:.1} L{b:.1},{cy:.1} Z" fill="#fff" stroke="#000" stroke-width="{stroke}"/>"##,
            a = cx - w * 0.08,
            b = cx + w * 0.08,
            px = cx + (tx * page_w - cx) * 0.6,
            py = cy + (top + ty * page_h - cy) * 0.6,
        );
    }
    if kind == "narration" {
        let _ = write!(
            canvas.body,
            r##"<rect data-balloon="{id}" x="{x:.1}" y="{y:.1}" width="{w:.1}" height="{h:.1}" fill="#fff" stroke="#000" stroke-width="{stroke}"/>"##
        );
    } else {
        let _ = write!(
            canvas.body,
            r##"<ellipse data-balloon="{id}" cx="{cx:.1}" cy="{cy:.1}" rx="{rx:.1}" ry="{ry:.1}" fill="#fff" stroke="#000" stroke-width="{stroke}"{dash}/>"##,
            cx = x + w / 2.0,
            cy = y + h / 2.0,
            rx = w / 2.0,
            ry = h / 2.0
        );
    }
    let size =
        balloon.get("fitted_font_size").or_else(|| balloon.get("font_size")).and_then(Value::as_f64).unwrap_or(0.024)
            * page_w;
    let text: Vec<char> = text_of(balloon, "text").chars().collect();
    let vertical = balloon.get("vertical").and_then(Value::as_bool).unwrap_or(false);
    if vertical {
        let per_column = ((h * 0.72) / size).floor().max(1.0) as usize;
        let columns = text.len().div_ceil(per_column);
        for (column, chunk) in text.chunks(per_column).enumerate() {
            let cx = x + w / 2.0 + (columns as f64 / 2.0 - column as f64 - 0.5) * size * 1.2;
            let _ = write!(
                canvas.body,
                r#"<text x="{cx:.1}" y="{ty:.1}" font-size="{size:.1}" writing-mode="tb" text-anchor="start">{}</text>"#,
                escape(&chunk.iter().collect::<String>()),
                ty = y + (h - chunk.len() as f64 * size) / 2.0
            );
        }
    } else {
        let per_line = ((w * 0.72) / (size * 0.6)).floor().max(1.0) as usize;
        let lines: Vec<&[char]> = text.chunks(per_line).collect();
        for (row, chunk) in lines.iter().enumerate() {
            let _ = write!(
                canvas.body,
                r#"<text x="{cx:.1}" y="{ty:.1}" font-size="{size:.1}" text-anchor="middle">{}</text>"#,
                escape(&chunk.iter().collect::<String>()),
                cx = x + w / 2.0,
                ty = y + h / 2.0 + (row as f64 - (lines.len() as f64 - 1.0) / 2.0) * size * 1.2 + size * 0.35
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_storyboard_draws_every_panel_and_balloon_and_escapes_text() {
        let document = json!({
            "characters": [{"id": "c1", "name": "Tom <&>"}],
            "pages": [{"number": 1, "panels": [
                {"id": "p1-1", "order": 1, "emphasis": true, "frame": {"x": 0.02, "y": 0.02, "w": 0.96, "h": 0.5},
                 "direction": {"camera_angle": "俯瞰"}, "dialogue": [{"id": "p1-1-b1", "speaker": "c1", "text": "A & B", "balloon": "shout", "position": {"x": 0.5, "y": 0.1}}]},
                {"id": "p1-2", "order": 2, "frame": {"x": 0.02, "y": 0.54, "w": 0.96, "h": 0.44}, "direction": {}, "dialogue": []}
            ]}]
        });
        let svg = svg(&document, 4, 3, None);
        assert_eq!(svg.matches("data-panel=").count(), 2);
        assert_eq!(svg.matches("data-balloon=").count(), 1);
        assert!(svg.contains("A &amp; B") && svg.contains("Tom &lt;&amp;&gt;") && svg.contains("俯瞰"));
        let small = super::svg(&document, 4, 1, Some(1));
        assert!(small.contains(r#"width="320""#) && !small.contains("俯瞰"), "quality 1 is small, without notes");
    }

    #[test]
    fn drawn_pages_show_their_images_and_lettered_balloons() {
        let document = json!({
            "pages": [{ "number": 1, "panels": [{ "id": "p1-1", "order": 1, "frame": { "x": 0.0, "y": 0.0, "w": 1.0, "h": 0.5 },
                "dialogue": [{ "id": "p1-1-b1", "text": "old place", "position": { "x": 0.5, "y": 0.1 } }] }] }],
            "art": { "panels": [{ "id": "p1-1", "asset_id": "img_0123", "source": "generated" }] },
            "lettering": { "pages": [{ "number": 1, "balloons": [
                { "id": "p1-1-b1", "kind": "speech", "text": "吾輩は猫である", "vertical": true, "frame": { "x": 0.7, "y": 0.05, "w": 0.1, "h": 0.2 }, "tail": { "x": 0.6, "y": 0.3 }, "font_size": 0.024 },
                { "id": "p1-1-b2", "kind": "narration", "text": "Later <that> day", "frame": { "x": 0.05, "y": 0.05, "w": 0.3, "h": 0.05 }, "font_size": 0.02 }
            ] }] }
        });
        let svg = svg(&document, 6, 3, None);
        assert!(svg.contains(r#"href="/api/v1/assets/img_0123""#), "{svg}");
        assert!(svg.contains(r#"data-balloon="p1-1-b1""#) && svg.contains(r#"writing-mode="tb""#));
        assert!(svg.contains("<rect data-balloon=\"p1-1-b2\""), "narration is a box");
        assert!(svg.contains("&lt;that&gt;") && !svg.contains("old place"), "lettering replaces the name's balloons");
    }
}
