//! Changes a person makes to a phase's result (seed 001 `InteractiveChangeProcessor`):
//! `text_edit`, `selection`, `drag_drop` and `style_adjust`, applied to a copy of
//! the document. A change that names no element, or leaves the document outside
//! its phases' schemas, is refused and nothing is stored. Feedback in words
//! (`natural_language`) becomes a proposed patch first (see the service).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::model::AppliedChange;

/// One change, in the seed's shape: `{change_type, element_id, change_data}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Change {
    pub change_type: ChangeType,
    /// A dotted element path (`characters.0.name`, `pages.2.panels.1`).
    #[serde(default)]
    pub element_id: Option<String>,
    #[serde(default)]
    pub change_data: Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeType {
    TextEdit,
    Selection,
    DragDrop,
    StyleAdjust,
    NaturalLanguage,
    /// Draw panels again (phase 5 and after): `element_id` `art.panels.<id>`, or
    /// `change_data.panels` a list of panel ids; optional `seed` and `words`.
    Regenerate,
}

impl ChangeType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TextEdit => "text_edit",
            Self::Selection => "selection",
            Self::DragDrop => "drag_drop",
            Self::StyleAdjust => "style_adjust",
            Self::NaturalLanguage => "natural_language",
            Self::Regenerate => "regenerate",
        }
    }
}

/// Why a change was refused; the document is unchanged.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct ChangeRefused {
    /// `unknown_element`, `invalid_change`, `outside_page`, `not_an_alternative`.
    pub code: &'static str,
    pub message: String,
    pub details: Value,
}

fn refused(code: &'static str, message: impl Into<String>, details: Value) -> ChangeRefused {
    ChangeRefused { code, message: message.into(), details }
}

/// A dotted path split into its keys; `Err` for an empty segment.
pub fn parse_path(path: &str) -> Result<Vec<String>, ChangeRefused> {
    let segments: Vec<String> = path.split('.').map(str::to_owned).collect();
    if path.is_empty() || segments.iter().any(String::is_empty) {
        return Err(refused(
            "unknown_element",
            format!("element_id {path:?} is not a dotted path"),
            json!({ "element_id": path }),
        ));
    }
    Ok(segments)
}

/// Where in a list a path segment points: a position, or the element whose `id`
/// it is (`pages.0.panels.p1-2`: ids stay put when elements move).
fn position(items: &[Value], key: &str) -> Option<usize> {
    match key.parse::<usize>() {
        Ok(index) => (index < items.len()).then_some(index),
        Err(_) => items.iter().position(|item| item.get("id").and_then(Value::as_str) == Some(key)),
    }
}

/// The value at a path, if there is one.
pub fn lookup<'a>(document: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(document, |value, key| match value {
        Value::Object(map) => map.get(key),
        Value::Array(items) => position(items, key).and_then(|index| items.get(index)),
        _ => None,
    })
}

fn lookup_mut<'a>(document: &'a mut Value, path: &[String]) -> Option<&'a mut Value> {
    path.iter().try_fold(document, |value, key| match value {
        Value::Object(map) => map.get_mut(key),
        Value::Array(items) => position(items, key).and_then(|index| items.get_mut(index)),
        _ => None,
    })
}

fn element<'a>(
    document: &'a mut Value,
    element_id: Option<&str>,
) -> Result<(Vec<String>, &'a mut Value), ChangeRefused> {
    let Some(element_id) = element_id else {
        return Err(refused(
            "invalid_change",
            "element_id is required for this change",
            json!({ "field": "element_id" }),
        ));
    };
    let path = parse_path(element_id)?;
    match lookup_mut(document, &path) {
        Some(value) => Ok((path, value)),
        None => Err(refused(
            "unknown_element",
            format!("no element {element_id:?} in this version"),
            json!({ "element_id": element_id }),
        )),
    }
}

/// Applies one change (not `natural_language`) to a copy of `document`; returns the
/// new document and what was done.
pub fn apply(document: &Value, change: &Change) -> Result<(Value, String), ChangeRefused> {
    let mut next = document.clone();
    let summary = match change.change_type {
        ChangeType::TextEdit => text_edit(&mut next, change)?,
        ChangeType::Selection => selection(&mut next, change)?,
        ChangeType::DragDrop => drag_drop(&mut next, change)?,
        ChangeType::StyleAdjust => style_adjust(&mut next, change)?,
        ChangeType::Regenerate => regenerate(&mut next, change)?,
        ChangeType::NaturalLanguage => {
            return Err(refused(
                "invalid_change",
                "feedback in words is proposed first (POST …/proposals), then applied",
                json!({ "change_type": "natural_language" }),
            ));
        }
    };
    // A lettered page's drawing no longer shows a page whose lettering changed: it
    // is dropped (phase 7 draws the page again).
    if let Some(path) = change.element_id.as_deref().and_then(|id| parse_path(id).ok())
        && path.len() > 2
        && path[0] == "lettering"
        && path[1] == "pages"
        && let Some(page) = lookup_mut(&mut next, &path[..3]).and_then(Value::as_object_mut)
    {
        page.remove("image");
    }
    Ok((next, summary))
}

/// The record of an applied change: what was asked, the patch, in words.
pub fn record(before: &Value, after: &Value, change: &Change, summary: String) -> AppliedChange {
    AppliedChange {
        change_type: change.change_type.as_str().to_owned(),
        request: serde_json::to_value(change).unwrap_or(Value::Null),
        patch: serde_json::to_value(json_patch::diff(before, after)).unwrap_or(Value::Null),
        summary,
    }
}

fn text_edit(document: &mut Value, change: &Change) -> Result<String, ChangeRefused> {
    let Some(new_value) = change.change_data.get("new_value").cloned() else {
        return Err(refused(
            "invalid_change",
            "change_data.new_value is required",
            json!({ "field": "change_data.new_value" }),
        ));
    };
    let (path, target) = element(document, change.element_id.as_deref())?;
    if target.is_object() || target.is_array() {
        return Err(refused(
            "invalid_change",
            format!("{} is not a single value: edit one of its fields", path.join(".")),
            json!({ "element_id": path.join(".") }),
        ));
    }
    let old = std::mem::replace(target, new_value.clone());
    let mut summary = format!("{} set to {new_value}", path.join("."));
    // A character renamed: the text that names them follows (dialogue, summaries),
    // the rest of the story stays as it is; the old name stays as an alias, since
    // the story still says it and later phases find the character by it.
    if path.len() == 3
        && path[0] == "characters"
        && path[2] == "name"
        && let (Some(old_name), Some(new_name)) = (old.as_str(), new_value.as_str())
        && !old_name.is_empty()
        && old_name != new_name
    {
        if let Some(character) = lookup_mut(document, &path[..2]).and_then(Value::as_object_mut)
            && let Some(aliases) = character.entry("aliases").or_insert_with(|| json!([])).as_array_mut()
            && !aliases.iter().any(|alias| alias.as_str() == Some(old_name))
        {
            aliases.push(json!(old_name));
        }
        let mut replaced = 0;
        for part in ["plot", "pages"] {
            if let Some(value) = document.get_mut(part) {
                replaced += replace_in_strings(value, old_name, new_name);
            }
        }
        summary.push_str(&format!("; {replaced} mentions of {old_name} renamed"));
    }
    Ok(summary)
}

fn replace_in_strings(value: &mut Value, old: &str, new: &str) -> usize {
    match value {
        Value::String(text) if text.contains(old) => {
            let count = text.matches(old).count();
            *text = text.replace(old, new);
            count
        }
        Value::Array(items) => items.iter_mut().map(|item| replace_in_strings(item, old, new)).sum(),
        Value::Object(map) => map.values_mut().map(|item| replace_in_strings(item, old, new)).sum(),
        _ => 0,
    }
}

/// Chooses among the alternatives a phase offered for an element: for `a.b.key`,
/// the list at `a.b.alternatives.key`.
fn selection(document: &mut Value, change: &Change) -> Result<String, ChangeRefused> {
    let Some(element_id) = change.element_id.as_deref() else {
        return Err(refused(
            "invalid_change",
            "element_id is required for a selection",
            json!({ "field": "element_id" }),
        ));
    };
    let path = parse_path(element_id)?;
    if let Some(variant) = change.change_data.get("variant") {
        return pick_variant(document, &path, variant);
    }
    let (key, parent) = path.split_last().map(|(key, parent)| (key.clone(), parent.to_vec())).unwrap_or_default();
    let mut alternatives_path = parent.clone();
    alternatives_path.extend(["alternatives".to_owned(), key.clone()]);
    let Some(Value::Array(alternatives)) = lookup(document, &alternatives_path).cloned() else {
        return Err(refused(
            "unknown_element",
            format!("{element_id} offers no alternatives"),
            json!({ "element_id": element_id }),
        ));
    };
    let chosen = match (change.change_data.get("index").and_then(Value::as_u64), change.change_data.get("value")) {
        (Some(index), _) => alternatives.get(index as usize).cloned(),
        (None, Some(value)) => alternatives.iter().find(|alternative| *alternative == value).cloned(),
        (None, None) => {
            return Err(refused(
                "invalid_change",
                "change_data.index or change_data.value is required",
                json!({ "field": "change_data" }),
            ));
        }
    };
    let Some(chosen) = chosen else {
        return Err(refused(
            "not_an_alternative",
            format!("that is not one of the {} alternatives offered for {element_id}", alternatives.len()),
            json!({ "element_id": element_id, "alternatives": alternatives }),
        ));
    };
    let Some(parent_value) = lookup_mut(document, &parent).and_then(Value::as_object_mut) else {
        return Err(refused(
            "unknown_element",
            format!("no element {element_id:?}"),
            json!({ "element_id": element_id }),
        ));
    };
    parent_value.insert(key, chosen.clone());
    Ok(format!("{element_id} chosen: {chosen}"))
}

/// Moves or resizes a panel or balloon (`frame` / `position`, fractions of the
/// page), or moves an element of a list to another place (`to_index`).
fn drag_drop(document: &mut Value, change: &Change) -> Result<String, ChangeRefused> {
    let data = &change.change_data;
    if let Some(crop) = data.get("crop") {
        return reframe(document, change, crop);
    }
    if let Some(to_index) = data.get("to_index") {
        let Some(element_id) = change.element_id.as_deref() else {
            return Err(refused("invalid_change", "element_id is required", json!({ "field": "element_id" })));
        };
        let path = parse_path(element_id)?;
        let (last, parent) =
            path.split_last().map(|(last, parent)| (last.clone(), parent.to_vec())).unwrap_or_default();
        let Some(Value::Array(items)) = lookup_mut(document, &parent) else {
            return Err(refused(
                "unknown_element",
                format!("{element_id} is not an element of a list"),
                json!({ "element_id": element_id }),
            ));
        };
        let Some(from) = position(items, &last) else {
            return Err(refused(
                "unknown_element",
                format!("no element {element_id:?}"),
                json!({ "element_id": element_id }),
            ));
        };
        let Some(to) = to_index.as_u64().map(|to| to as usize).filter(|to| *to < items.len()) else {
            return Err(refused(
                "invalid_change",
                format!("change_data.to_index must be a place in the list (0 to {})", items.len().saturating_sub(1)),
                json!({ "field": "change_data.to_index" }),
            ));
        };
        if from >= items.len() {
            return Err(refused(
                "unknown_element",
                format!("no element {element_id:?}"),
                json!({ "element_id": element_id }),
            ));
        }
        let moved = items.remove(from);
        items.insert(to, moved);
        renumber(items);
        return Ok(format!("{element_id} moved to place {to}"));
    }
    let (field, rect) = match (data.get("frame"), data.get("position")) {
        (Some(frame), None) => ("frame", frame),
        (None, Some(position)) => ("position", position),
        _ => {
            return Err(refused(
                "invalid_change",
                "change_data needs one of frame {x, y, w, h}, position {x, y} or to_index",
                json!({ "field": "change_data" }),
            ));
        }
    };
    let number = |key: &str| rect.get(key).and_then(Value::as_f64);
    let (x, y) = match (number("x"), number("y")) {
        (Some(x), Some(y)) => (x, y),
        _ => {
            return Err(refused(
                "invalid_change",
                format!("change_data.{field} needs numbers x and y"),
                json!({ "field": format!("change_data.{field}") }),
            ));
        }
    };
    let (w, h) = if field == "frame" {
        match (number("w"), number("h")) {
            (Some(w), Some(h)) if w > 0.0 && h > 0.0 => (w, h),
            _ => {
                return Err(refused(
                    "invalid_change",
                    "change_data.frame needs positive w and h",
                    json!({ "field": "change_data.frame" }),
                ));
            }
        }
    } else {
        (0.0, 0.0)
    };
    const EPSILON: f64 = 1e-9;
    if x < 0.0 || y < 0.0 || x + w > 1.0 + EPSILON || y + h > 1.0 + EPSILON {
        return Err(refused(
            "outside_page",
            format!("the {field} must lie on the page: x, y, x + w and y + h between 0 and 1 (fractions of the page)"),
            json!({ "field": format!("change_data.{field}"), "x": x, "y": y, "w": w, "h": h }),
        ));
    }
    let (path, target) = element(document, change.element_id.as_deref())?;
    let Some(object) = target.as_object_mut().filter(|object| object.contains_key(field)) else {
        return Err(refused(
            "invalid_change",
            format!("{} has no {field} to move", path.join(".")),
            json!({ "element_id": path.join(".") }),
        ));
    };
    let value = if field == "frame" { json!({ "x": x, "y": y, "w": w, "h": h }) } else { json!({ "x": x, "y": y }) };
    object.insert(field.to_owned(), value);
    Ok(format!("{} {field} moved to x {x:.3}, y {y:.3}", path.join(".")))
}

/// Keeps `number` / `order` fields in list order after a move.
fn renumber(items: &mut [Value]) {
    for (index, item) in items.iter_mut().enumerate() {
        let Some(object) = item.as_object_mut() else { continue };
        for key in ["order", "number"] {
            if object.contains_key(key) {
                object.insert(key.to_owned(), json!(index + 1));
            }
        }
    }
}

/// The style parameters a person may set, with their kinds.
pub const STYLE_PARAMETERS: [(&str, &str); 7] = [
    ("tone", "text"),
    ("line_weight", "0..1"),
    ("screentone_density", "0..1"),
    ("color_mode", "monochrome|color"),
    ("art_style", "text"),
    ("text_color", "#rrggbb"),
    ("balloon_fill", "#rrggbb"),
];

/// What a balloon's own style may set.
pub const BALLOON_STYLE: [(&str, &str); 2] = [("font_size", "0.005..0.2"), ("bold", "true|false")];

fn is_hex_color(value: &Value) -> bool {
    value.as_str().is_some_and(|text| {
        text.len() == 7 && text.starts_with('#') && text[1..].bytes().all(|b| b.is_ascii_hexdigit())
    })
}

/// A balloon's font size or weight (`style_adjust` with an `element_id`).
fn balloon_style(document: &mut Value, change: &Change, data: &Map<String, Value>) -> Result<String, ChangeRefused> {
    let (path, target) = element(document, change.element_id.as_deref())?;
    let Some(object) = target.as_object_mut().filter(|object| object.contains_key("font_size")) else {
        return Err(refused(
            "invalid_change",
            format!(
                "{} is not a balloon: a style change names a balloon, or no element for the whole book",
                path.join(".")
            ),
            json!({ "element_id": path.join(".") }),
        ));
    };
    let mut done = Vec::new();
    for (name, value) in data {
        let fits = match name.as_str() {
            "font_size" => value.as_f64().is_some_and(|size| (0.005..=0.2).contains(&size)),
            "bold" => value.is_boolean(),
            _ => {
                return Err(refused(
                    "invalid_change",
                    format!("{name} is not a balloon style (known: font_size, bold)"),
                    json!({ "field": format!("change_data.{name}") }),
                ));
            }
        };
        if !fits {
            let expected = BALLOON_STYLE.iter().find(|(known, _)| known == name).map_or("", |(_, kind)| *kind);
            return Err(refused(
                "invalid_change",
                format!("{name} must be {expected}"),
                json!({ "field": format!("change_data.{name}"), "expected": expected }),
            ));
        }
        object.insert(name.clone(), value.clone());
        // The letterer's old fit no longer holds.
        object.remove("fitted_font_size");
        object.remove("overflow");
        done.push(format!("{name} = {value}"));
    }
    Ok(format!("{}: {}", path.join("."), done.join(", ")))
}

/// A panel's earlier image chosen again: it and the current one trade places.
fn pick_variant(document: &mut Value, path: &[String], variant: &Value) -> Result<String, ChangeRefused> {
    let element_id = path.join(".");
    let Some(panel) = lookup_mut(document, path).and_then(Value::as_object_mut) else {
        return Err(refused(
            "unknown_element",
            format!("no element {element_id:?}"),
            json!({ "element_id": element_id }),
        ));
    };
    let count = panel.get("variants").and_then(Value::as_array).map_or(0, Vec::len);
    let Some(index) = variant.as_u64().map(|index| index as usize).filter(|index| *index < count) else {
        return Err(refused(
            "not_an_alternative",
            format!("{element_id} has {count} earlier images: change_data.variant is 0 to {}", count.saturating_sub(1)),
            json!({ "element_id": element_id, "variants": count }),
        ));
    };
    const IMAGE: [&str; 7] = ["asset_id", "task_id", "model", "prompt", "source", "width", "height"];
    let mut chosen = panel.get("variants").and_then(|variants| variants.get(index)).cloned().unwrap_or(Value::Null);
    let mut current = Map::new();
    for key in IMAGE {
        if let Some(value) = panel.remove(key) {
            current.insert(key.to_owned(), value);
        }
        if let Some(value) = chosen.get_mut(key).map(Value::take) {
            panel.insert(key.to_owned(), value);
        }
    }
    for key in ["reused", "fallback"] {
        panel.remove(key);
    }
    if let Some(variants) = panel.get_mut("variants").and_then(Value::as_array_mut) {
        variants[index] = Value::Object(current);
    }
    Ok(format!("{element_id}: earlier image {index} chosen"))
}

/// A panel's image cropped or reframed (`drag_drop` with `crop`, fractions of the
/// image).
fn reframe(document: &mut Value, change: &Change, crop: &Value) -> Result<String, ChangeRefused> {
    let number = |key: &str| crop.get(key).and_then(Value::as_f64);
    let (Some(x), Some(y), Some(w), Some(h)) = (number("x"), number("y"), number("w"), number("h")) else {
        return Err(refused(
            "invalid_change",
            "change_data.crop needs numbers x, y, w and h (fractions of the image)",
            json!({ "field": "change_data.crop" }),
        ));
    };
    const EPSILON: f64 = 1e-9;
    if x < 0.0 || y < 0.0 || w <= 0.01 || h <= 0.01 || x + w > 1.0 + EPSILON || y + h > 1.0 + EPSILON {
        return Err(refused(
            "outside_page",
            "the crop must lie within the image: x, y, x + w and y + h between 0 and 1",
            json!({ "field": "change_data.crop", "x": x, "y": y, "w": w, "h": h }),
        ));
    }
    let (path, target) = element(document, change.element_id.as_deref())?;
    let Some(object) = target.as_object_mut().filter(|object| object.contains_key("asset_id")) else {
        return Err(refused(
            "invalid_change",
            format!("{} is not a panel's image (art.panels.<id>)", path.join(".")),
            json!({ "element_id": path.join(".") }),
        ));
    };
    object.insert("crop".into(), json!({ "x": x, "y": y, "w": w, "h": h }));
    Ok(format!("{} cropped to x {x:.3}, y {y:.3}, w {w:.3}, h {h:.3}", path.join(".")))
}

/// Marks panels to be drawn again (with a new seed or words): the run goes back
/// to phase 5 for them, and their current image becomes a variant.
fn regenerate(document: &mut Value, change: &Change) -> Result<String, ChangeRefused> {
    let data = &change.change_data;
    let mut ids: Vec<String> = data
        .get("panels")
        .and_then(Value::as_array)
        .map(|ids| ids.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default();
    if let Some(element_id) = change.element_id.as_deref() {
        let path = parse_path(element_id)?;
        match path.as_slice() {
            [art, panels, id] if art == "art" && panels == "panels" => ids.push(id.clone()),
            _ => {
                return Err(refused(
                    "invalid_change",
                    "regenerate names panels: element_id art.panels.<id>, or change_data.panels",
                    json!({ "element_id": element_id }),
                ));
            }
        }
    }
    if ids.is_empty() {
        return Err(refused(
            "invalid_change",
            "regenerate names panels: element_id art.panels.<id>, or change_data.panels",
            json!({ "field": "change_data.panels" }),
        ));
    }
    let mut marker = Map::new();
    if let Some(seed) = data.get("seed") {
        let Some(seed) = seed.as_i64().filter(|seed| *seed >= 0) else {
            return Err(refused(
                "invalid_change",
                "change_data.seed must be a whole number ≥ 0",
                json!({ "field": "change_data.seed" }),
            ));
        };
        marker.insert("seed".into(), json!(seed));
    }
    if let Some(words) = data.get("words") {
        let Some(words) = words.as_str().filter(|words| words.chars().count() <= 500) else {
            return Err(refused(
                "invalid_change",
                "change_data.words must be text of at most 500 characters",
                json!({ "field": "change_data.words" }),
            ));
        };
        marker.insert("words".into(), json!(words));
    }
    let Some(panels) = document.pointer_mut("/art/panels").and_then(Value::as_array_mut) else {
        return Err(refused(
            "unknown_element",
            "this version has no panel images yet (phase 5)",
            json!({ "element_id": "art.panels" }),
        ));
    };
    for id in &ids {
        let Some(panel) = panels.iter_mut().find(|panel| panel.get("id").and_then(Value::as_str) == Some(id.as_str()))
        else {
            return Err(refused(
                "unknown_element",
                format!("no panel {id:?}"),
                json!({ "element_id": format!("art.panels.{id}") }),
            ));
        };
        panel["regenerate"] = Value::Object(marker.clone());
    }
    Ok(format!("panels {} to be drawn again", ids.join(", ")))
}

fn style_adjust(document: &mut Value, change: &Change) -> Result<String, ChangeRefused> {
    let Some(data) = change.change_data.as_object().filter(|data| !data.is_empty()) else {
        return Err(refused(
            "invalid_change",
            "change_data must name style parameters",
            json!({ "field": "change_data" }),
        ));
    };
    if change.element_id.is_some() {
        return balloon_style(document, change, data);
    }
    let mut style = document.get("style").and_then(Value::as_object).cloned().unwrap_or_else(Map::new);
    let mut done = Vec::new();
    for (name, value) in data {
        let Some((_, kind)) = STYLE_PARAMETERS.iter().find(|(known, _)| known == name) else {
            return Err(refused(
                "invalid_change",
                format!(
                    "{name} is not a style parameter (known: {})",
                    STYLE_PARAMETERS.map(|(name, _)| name).join(", ")
                ),
                json!({ "field": format!("change_data.{name}") }),
            ));
        };
        let fits = match *kind {
            "0..1" => value.as_f64().is_some_and(|number| (0.0..=1.0).contains(&number)),
            "monochrome|color" => matches!(value.as_str(), Some("monochrome" | "color")),
            "#rrggbb" => is_hex_color(value),
            _ => value.as_str().is_some_and(|text| !text.trim().is_empty() && text.chars().count() <= 200),
        };
        if !fits {
            return Err(refused(
                "invalid_change",
                format!("{name} must be {kind}"),
                json!({ "field": format!("change_data.{name}"), "expected": kind }),
            ));
        }
        style.insert(name.clone(), value.clone());
        done.push(format!("{name} = {value}"));
    }
    if let Some(object) = document.as_object_mut() {
        object.insert("style".to_owned(), Value::Object(style));
    }
    Ok(format!("style: {}", done.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> Value {
        json!({
            "concept": {"genre": "drama", "alternatives": {"genre": ["drama", "mystery"]}},
            "characters": [{"id": "c1", "name": "Taro"}],
            "plot": {"scenes": [{"id": "s1", "summary": "Taro meets Hana."}]},
            "pages": [{"number": 1, "panels": [
                {"id": "p1", "order": 1, "frame": {"x": 0.0, "y": 0.0, "w": 1.0, "h": 0.5},
                 "dialogue": [{"text": "Taro!", "position": {"x": 0.5, "y": 0.1}}]},
                {"id": "p2", "order": 2, "frame": {"x": 0.0, "y": 0.5, "w": 1.0, "h": 0.5}, "dialogue": []}
            ]}]
        })
    }

    fn change(value: Value) -> Change {
        serde_json::from_value(value).expect("a change")
    }

    #[test]
    fn a_rename_follows_into_the_text_that_names_the_character() {
        let change = change(
            json!({"change_type": "text_edit", "element_id": "characters.0.name", "change_data": {"new_value": "Jiro"}}),
        );
        let (next, summary) = apply(&doc(), &change).expect("applied");
        assert_eq!(next["plot"]["scenes"][0]["summary"], "Jiro meets Hana.");
        assert_eq!(next["pages"][0]["panels"][0]["dialogue"][0]["text"], "Jiro!");
        assert!(summary.contains("2 mentions"), "{summary}");
        let patch = record(&doc(), &next, &change, summary).patch;
        assert_eq!(patch.as_array().map(Vec::len), Some(4), "the name, its alias and two mentions: {patch}");
    }

    #[test]
    fn elements_are_found_by_id_as_well_as_by_place_and_a_rename_keeps_the_old_name() {
        let by_id = change(
            json!({"change_type": "drag_drop", "element_id": "pages.0.panels.p2", "change_data": {"to_index": 0}}),
        );
        let (next, _) = apply(&doc(), &by_id).expect("moved by id");
        assert_eq!(next["pages"][0]["panels"][0]["id"], "p2");
        let rename = change(
            json!({"change_type": "text_edit", "element_id": "characters.c1.name", "change_data": {"new_value": "Jiro"}}),
        );
        let (next, _) = apply(&doc(), &rename).expect("renamed by id");
        assert_eq!(
            (next["characters"][0]["name"].clone(), next["characters"][0]["aliases"].clone()),
            (json!("Jiro"), json!(["Taro"]))
        );
    }

    #[test]
    fn edits_name_an_existing_single_value() {
        for (element, code) in
            [("characters.5.name", "unknown_element"), ("characters", "invalid_change"), ("a..b", "unknown_element")]
        {
            let change =
                change(json!({"change_type": "text_edit", "element_id": element, "change_data": {"new_value": "x"}}));
            assert_eq!(apply(&doc(), &change).expect_err(element).code, code, "{element}");
        }
    }

    #[test]
    fn a_selection_takes_only_an_offered_alternative() {
        let pick =
            change(json!({"change_type": "selection", "element_id": "concept.genre", "change_data": {"index": 1}}));
        assert_eq!(apply(&doc(), &pick).expect("picked").0["concept"]["genre"], "mystery");
        let other = change(
            json!({"change_type": "selection", "element_id": "concept.genre", "change_data": {"value": "horror"}}),
        );
        assert_eq!(apply(&doc(), &other).expect_err("not offered").code, "not_an_alternative");
    }

    #[test]
    fn panels_move_on_the_page_and_in_order_but_not_off_the_page() {
        let resize = change(
            json!({"change_type": "drag_drop", "element_id": "pages.0.panels.1", "change_data": {"frame": {"x": 0.1, "y": 0.5, "w": 0.9, "h": 0.5}}}),
        );
        assert_eq!(apply(&doc(), &resize).expect("moved").0["pages"][0]["panels"][1]["frame"]["x"], 0.1);
        let outside = change(
            json!({"change_type": "drag_drop", "element_id": "pages.0.panels.1", "change_data": {"frame": {"x": 0.5, "y": 0.5, "w": 0.9, "h": 0.5}}}),
        );
        assert_eq!(apply(&doc(), &outside).expect_err("off the page").code, "outside_page");
        let reorder = change(
            json!({"change_type": "drag_drop", "element_id": "pages.0.panels.1", "change_data": {"to_index": 0}}),
        );
        let (next, _) = apply(&doc(), &reorder).expect("reordered");
        assert_eq!(
            (next["pages"][0]["panels"][0]["id"].clone(), next["pages"][0]["panels"][0]["order"].clone()),
            (json!("p2"), json!(1))
        );
        let balloon = change(
            json!({"change_type": "drag_drop", "element_id": "pages.0.panels.0.dialogue.0", "change_data": {"position": {"x": 0.2, "y": 0.3}}}),
        );
        assert_eq!(
            apply(&doc(), &balloon).expect("moved").0["pages"][0]["panels"][0]["dialogue"][0]["position"]["y"],
            0.3
        );
    }

    #[test]
    fn style_takes_known_parameters_in_range() {
        let ok = change(
            json!({"change_type": "style_adjust", "change_data": {"tone": "darker", "screentone_density": 0.7, "color_mode": "monochrome"}}),
        );
        assert_eq!(apply(&doc(), &ok).expect("styled").0["style"]["screentone_density"], 0.7);
        let bad = change(json!({"change_type": "style_adjust", "change_data": {"screentone_density": 3}}));
        assert_eq!(apply(&doc(), &bad).expect_err("range").code, "invalid_change");
        let unknown = change(json!({"change_type": "style_adjust", "change_data": {"sparkle": 1}}));
        assert_eq!(apply(&doc(), &unknown).expect_err("unknown").code, "invalid_change");
    }

    fn drawn() -> Value {
        let mut document = doc();
        document["art"] = json!({ "panels": [
            { "id": "p1", "asset_id": "img_new", "source": "generated", "variants": [{ "asset_id": "img_old", "source": "placeholder" }] },
            { "id": "p2", "asset_id": "img_two", "source": "generated" }
        ] });
        document["lettering"] = json!({ "pages": [{ "number": 1, "balloons": [
            { "id": "b1", "kind": "speech", "text": "Taro!", "frame": { "x": 0.1, "y": 0.1, "w": 0.2, "h": 0.1 }, "font_size": 0.024, "overflow": true }
        ] }] });
        document
    }

    #[test]
    fn panels_are_drawn_again_picked_among_their_variants_and_cropped() {
        let again = change(
            json!({"change_type": "regenerate", "element_id": "art.panels.p2", "change_data": {"seed": 7, "words": "at night"}}),
        );
        let (next, _) = apply(&drawn(), &again).expect("regenerate");
        assert_eq!(next["art"]["panels"][1]["regenerate"], json!({"seed": 7, "words": "at night"}));
        let listed = change(json!({"change_type": "regenerate", "change_data": {"panels": ["p1", "p9"]}}));
        assert_eq!(apply(&drawn(), &listed).expect_err("unknown").code, "unknown_element");
        assert_eq!(apply(&doc(), &again).expect_err("no art").code, "unknown_element");

        let pick =
            change(json!({"change_type": "selection", "element_id": "art.panels.p1", "change_data": {"variant": 0}}));
        let (next, _) = apply(&drawn(), &pick).expect("pick");
        assert_eq!(next["art"]["panels"][0]["asset_id"], "img_old");
        assert_eq!(
            next["art"]["panels"][0]["variants"][0]["asset_id"], "img_new",
            "the current image becomes a variant"
        );
        let far =
            change(json!({"change_type": "selection", "element_id": "art.panels.p1", "change_data": {"variant": 3}}));
        assert_eq!(apply(&drawn(), &far).expect_err("no such variant").code, "not_an_alternative");

        let crop = change(
            json!({"change_type": "drag_drop", "element_id": "art.panels.p2", "change_data": {"crop": {"x": 0.1, "y": 0.0, "w": 0.8, "h": 0.9}}}),
        );
        let (next, _) = apply(&drawn(), &crop).expect("crop");
        assert_eq!(next["art"]["panels"][1]["crop"]["w"], 0.8);
        let outside = change(
            json!({"change_type": "drag_drop", "element_id": "art.panels.p2", "change_data": {"crop": {"x": 0.5, "y": 0.0, "w": 0.8, "h": 0.9}}}),
        );
        assert_eq!(apply(&drawn(), &outside).expect_err("outside").code, "outside_page");
    }

    #[test]
    fn balloons_move_change_their_words_kind_and_size() {
        let moved = change(
            json!({"change_type": "drag_drop", "element_id": "lettering.pages.0.balloons.b1", "change_data": {"frame": {"x": 0.5, "y": 0.2, "w": 0.3, "h": 0.1}}}),
        );
        assert_eq!(
            apply(&drawn(), &moved).expect("moved").0["lettering"]["pages"][0]["balloons"][0]["frame"]["x"],
            0.5
        );
        let words = change(
            json!({"change_type": "text_edit", "element_id": "lettering.pages.0.balloons.b1.text", "change_data": {"new_value": "Hana!"}}),
        );
        assert_eq!(apply(&drawn(), &words).expect("edited").0["lettering"]["pages"][0]["balloons"][0]["text"], "Hana!");
        let size = change(
            json!({"change_type": "style_adjust", "element_id": "lettering.pages.0.balloons.b1", "change_data": {"font_size": 0.03, "bold": true}}),
        );
        let (next, _) = apply(&drawn(), &size).expect("styled");
        let balloon = &next["lettering"]["pages"][0]["balloons"][0];
        assert_eq!((balloon["font_size"].as_f64(), balloon["bold"].as_bool()), (Some(0.03), Some(true)));
        assert!(balloon.get("overflow").is_none(), "the old fit is dropped");
        let huge = change(
            json!({"change_type": "style_adjust", "element_id": "lettering.pages.0.balloons.b1", "change_data": {"font_size": 2}}),
        );
        assert_eq!(apply(&drawn(), &huge).expect_err("too large").code, "invalid_change");
        let colors = change(
            json!({"change_type": "style_adjust", "change_data": {"text_color": "#333333", "balloon_fill": "#ffffff"}}),
        );
        assert_eq!(apply(&drawn(), &colors).expect("colors").0["style"]["text_color"], "#333333");
        let bad = change(json!({"change_type": "style_adjust", "change_data": {"text_color": "red"}}));
        assert!(apply(&drawn(), &bad).is_err());
    }
}
