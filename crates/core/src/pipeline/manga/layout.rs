//! Panel frames and balloon places on a page, from the panels' sizes and the
//! reading direction: the part of the name a text model is not asked to measure.
//! Frames already on the page (set by a person, or given by the model) are kept.

use serde_json::{Value, json};

/// The margin around the page and between panels, as a fraction of the page.
const GUTTER: f64 = 0.02;

fn weight(size: &str) -> f64 {
    match size {
        "large" => 2.0,
        "small" => 0.8,
        _ => 1.0,
    }
}

fn round(value: f64) -> f64 {
    (value * 10_000.0).round() / 10_000.0
}

fn valid_frame(frame: &Value) -> bool {
    let get = |key: &str| frame.get(key).and_then(Value::as_f64);
    match (get("x"), get("y"), get("w"), get("h")) {
        (Some(x), Some(y), Some(w), Some(h)) => {
            x >= 0.0 && y >= 0.0 && w > 0.0 && h > 0.0 && x + w <= 1.0 + 1e-9 && y + h <= 1.0 + 1e-9
        }
        _ => false,
    }
}

/// Rows of panel indices: a large panel takes a row; the others go two to a row,
/// as a page reads in tiers.
fn rows(sizes: &[String]) -> Vec<Vec<usize>> {
    let mut rows: Vec<Vec<usize>> = Vec::new();
    let mut index = 0;
    while index < sizes.len() {
        if sizes[index] != "large" && sizes.get(index + 1).is_some_and(|next| next != "large") {
            rows.push(vec![index, index + 1]);
            index += 2;
        } else {
            rows.push(vec![index]);
            index += 1;
        }
    }
    rows
}

/// Fills in every panel's `order` and missing `frame`, and every balloon's `id`,
/// `order` and missing `position`, on one page.
pub fn lay_out_page(page: &mut Value, right_to_left: bool) {
    let page_number = page.get("number").and_then(Value::as_u64).unwrap_or(1);
    let Some(panels) = page.get_mut("panels").and_then(Value::as_array_mut) else { return };
    let sizes: Vec<String> =
        panels.iter().map(|panel| panel.get("size").and_then(Value::as_str).unwrap_or("medium").to_owned()).collect();
    let rows = rows(&sizes);
    let row_weights: Vec<f64> =
        rows.iter().map(|row| row.iter().map(|&index| weight(&sizes[index])).fold(0.0, f64::max)).collect();
    let total: f64 = row_weights.iter().sum::<f64>().max(1e-9);
    let usable = 1.0 - GUTTER * (rows.len() as f64 + 1.0);
    let mut y = GUTTER;
    let mut frames = vec![json!(null); panels.len()];
    for (row, row_weight) in rows.iter().zip(&row_weights) {
        let height = usable * row_weight / total;
        let width = (1.0 - GUTTER * (row.len() as f64 + 1.0)) / row.len() as f64;
        for (slot, &index) in row.iter().enumerate() {
            // Right to left: the first panel of a row is the rightmost.
            let column = if right_to_left { row.len() - 1 - slot } else { slot };
            let x = GUTTER + column as f64 * (width + GUTTER);
            frames[index] = json!({ "x": round(x), "y": round(y), "w": round(width), "h": round(height) });
        }
        y += height + GUTTER;
    }
    for (index, (panel, frame)) in panels.iter_mut().zip(frames).enumerate() {
        let Some(object) = panel.as_object_mut() else { continue };
        object.insert("order".into(), json!(index + 1));
        if object.get("id").and_then(Value::as_str).is_none_or(str::is_empty) {
            object.insert("id".into(), json!(format!("p{page_number}-{}", index + 1)));
        }
        if !object.get("frame").is_some_and(valid_frame) {
            object.insert("frame".into(), frame);
        }
        let panel_frame = object.get("frame").cloned().unwrap_or(Value::Null);
        let panel_id = object.get("id").and_then(Value::as_str).unwrap_or_default().to_owned();
        let Some(lines) = object.get_mut("dialogue").and_then(Value::as_array_mut) else { continue };
        let count = lines.len().max(1) as f64;
        let get = |key: &str| panel_frame.get(key).and_then(Value::as_f64).unwrap_or(0.0);
        let (fx, fy, fw, fh) = (get("x"), get("y"), get("w"), get("h"));
        for (line_index, line) in lines.iter_mut().enumerate() {
            let Some(line) = line.as_object_mut() else { continue };
            line.insert("order".into(), json!(line_index + 1));
            if line.get("id").and_then(Value::as_str).is_none_or(str::is_empty) {
                line.insert("id".into(), json!(format!("{panel_id}-b{}", line_index + 1)));
            }
            let has_position = line.get("position").is_some_and(|position| {
                let get = |key: &str| position.get(key).and_then(Value::as_f64);
                matches!((get("x"), get("y")), (Some(x), Some(y)) if (0.0..=1.0).contains(&x) && (0.0..=1.0).contains(&y))
            });
            if !has_position {
                // Balloons are read first where reading starts: the right for
                // right to left, stepping down the panel a little each.
                let step = (line_index as f64 + 0.5) / count;
                let across = if right_to_left { 1.0 - step } else { step };
                let position = json!({ "x": round(fx + fw * across), "y": round(fy + fh * (0.15 + 0.1 * line_index as f64).min(0.85)) });
                line.insert("position".into(), position);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(sizes: &[&str]) -> Value {
        let panels: Vec<Value> = sizes
            .iter()
            .map(|size| json!({"size": size, "scene": "s1", "dialogue": [{"text": "a"}, {"text": "b"}]}))
            .collect();
        json!({"number": 2, "panels": panels})
    }

    #[test]
    fn frames_stay_on_the_page_and_read_right_to_left() {
        let mut laid = page(&["large", "small", "small", "medium"]);
        lay_out_page(&mut laid, true);
        let panels = laid["panels"].as_array().expect("panels");
        for panel in panels {
            assert!(valid_frame(&panel["frame"]), "{panel}");
            for line in panel["dialogue"].as_array().expect("lines") {
                let (x, y) = (line["position"]["x"].as_f64().expect("x"), line["position"]["y"].as_f64().expect("y"));
                assert!((0.0..=1.0).contains(&x) && (0.0..=1.0).contains(&y));
            }
        }
        // The two small panels share a row; the first is on the right.
        assert_eq!(panels[1]["frame"]["y"], panels[2]["frame"]["y"]);
        assert!(panels[1]["frame"]["x"].as_f64() > panels[2]["frame"]["x"].as_f64());
        assert!(panels[0]["frame"]["h"].as_f64() > panels[3]["frame"]["h"].as_f64(), "a large panel is taller");
        assert_eq!(panels[3]["id"], "p2-4");
        assert_eq!(panels[0]["dialogue"][1]["id"], "p2-1-b2");
        let mut left = page(&["small", "small"]);
        lay_out_page(&mut left, false);
        assert!(left["panels"][0]["frame"]["x"].as_f64() < left["panels"][1]["frame"]["x"].as_f64());
    }

    #[test]
    fn a_frame_already_set_is_kept() {
        let mut laid = page(&["medium"]);
        laid["panels"][0]["frame"] = json!({"x": 0.1, "y": 0.1, "w": 0.5, "h": 0.5});
        lay_out_page(&mut laid, true);
        assert_eq!(laid["panels"][0]["frame"]["w"], 0.5);
    }
}
