//! Feedback in words, offline: the planner understands a small, documented set of
//! requests and says plainly which parts it did not understand.
//!
//! - rename: `rename Tom to Jim`, `太郎を次郎に改名`, `把张三改成李四`
//! - genre: `genre: mystery`, `make it a mystery`, `ジャンルをミステリーに`, `类型改为悬疑`
//! - title: `title: Night Train`, `タイトルを銀河鉄道に`, `标题改为夜行列车`
//! - tone: `tone: darker`, `トーンを明るく`
//! - panels: `page 3: 5 panels`, `split page 3` (one panel more), `3ページを5コマに`
//! - age: `make Tom older` / `younger`, `老婆を若く`
//!
//! Several requests may be joined with `;`, `。` or new lines.

use atelier_core::pipeline::feedback::{self, Change, ChangeType};
use serde_json::{Value, json};

/// The list in words, for the answer's summary when nothing was understood.
pub const UNDERSTOOD: &str =
    "rename A to B; genre: X; title: X; tone: X; page N: K panels; split page N; make A older/younger";

fn character_index(document: &Value, name: &str) -> Option<usize> {
    document
        .get("characters")?
        .as_array()?
        .iter()
        .position(|character| character.get("name").and_then(Value::as_str) == Some(name))
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<(&'a str, &'a str)> {
    let (first, rest) = text.split_once(start)?;
    let (second, _) = rest.split_once(end).unwrap_or((rest, ""));
    Some((first.trim(), second.trim()))
}

fn edit(document: &Value, element: String, value: Value) -> Option<Value> {
    let change = Change {
        change_type: ChangeType::TextEdit,
        element_id: Some(element),
        change_data: json!({ "new_value": value }),
    };
    feedback::apply(document, &change).ok().map(|(next, _)| next)
}

fn set_panels(document: &Value, page: usize, count: usize) -> Option<Value> {
    let mut next = document.clone();
    let panels = next.get_mut("pages")?.get_mut(page.checked_sub(1)?)?.get_mut("panels")?.as_array_mut()?;
    let count = count.clamp(1, 9);
    if panels.is_empty() {
        return None;
    }
    while panels.len() > count {
        let removed = panels.pop()?;
        // Lines of a removed panel move to the one before.
        let lines = removed.get("dialogue").and_then(Value::as_array).cloned().unwrap_or_default();
        if let Some(last) = panels.last_mut().and_then(|panel| panel.get_mut("dialogue")).and_then(Value::as_array_mut)
        {
            last.extend(lines);
        }
    }
    while panels.len() < count {
        let mut copy = panels.last()?.clone();
        if let Some(object) = copy.as_object_mut() {
            object.remove("frame");
            object.remove("id");
            object.insert("dialogue".into(), json!([]));
            object.insert("size".into(), json!("small"));
            object.insert("emphasis".into(), json!(false));
        }
        panels.push(copy);
    }
    for panel in panels.iter_mut() {
        if let Some(object) = panel.as_object_mut() {
            object.remove("frame");
        }
    }
    let page_value = next.get_mut("pages")?.get_mut(page - 1)?;
    let right_to_left = page_value.get("reading_flow").and_then(Value::as_str) != Some("ltr");
    atelier_core::pipeline::manga::lay_out_page(page_value, right_to_left);
    Some(next)
}

fn digits(text: &str) -> Vec<usize> {
    let normal: String = text
        .chars()
        .map(|c| {
            if ('０'..='９').contains(&c) {
                char::from_u32(c as u32 - '０' as u32 + '0' as u32).unwrap_or(c)
            } else {
                c
            }
        })
        .collect();
    normal.split(|c: char| !c.is_ascii_digit()).filter_map(|part| part.parse().ok()).collect()
}

/// One request; the document after it and what was done, or `None`.
fn one(document: &Value, request: &str) -> Option<(Value, String)> {
    let lower = request.to_lowercase();
    // Rename.
    let renamed = if let Some(rest) = lower.strip_prefix("rename ") {
        let at = request.len() - rest.len();
        between(&request[at..], " to ", "\u{0}")
    } else {
        between(request, "を", "に改名").or_else(|| between(request, "を", "に変更")).or_else(|| {
            let rest = request.strip_prefix('把')?;
            between(rest, "改成", "\u{0}").or_else(|| between(rest, "改为", "\u{0}"))
        })
    };
    if let Some((old, new)) = renamed
        && let Some(index) = character_index(document, old)
        && !new.is_empty()
    {
        let next = edit(document, format!("characters.{index}.name"), json!(new))?;
        return Some((next, format!("renamed {old} to {new}")));
    }
    // Fields of the concept.
    for (field, prefixes, infixes) in [
        ("genre", &["genre:", "genre ", "make it a ", "make it an "][..], &["ジャンルを", "类型改为"][..]),
        ("title", &["title:", "title "][..], &["タイトルを", "标题改为"][..]),
        ("tone", &["tone:", "tone "][..], &["トーンを", "基调改为"][..]),
    ] {
        let value = prefixes
            .iter()
            .find_map(|prefix| lower.starts_with(prefix).then(|| request[prefix.len()..].trim()))
            .or_else(|| {
                infixes.iter().find_map(|infix| {
                    request.split_once(infix).map(|(_, rest)| rest.trim_end_matches(['に', 'へ', '。']).trim())
                })
            });
        if let Some(value) = value.filter(|value| !value.is_empty())
            && document.pointer(&format!("/concept/{field}")).is_some()
        {
            let next = edit(document, format!("concept.{field}"), json!(value))?;
            return Some((next, format!("{field} set to {value}")));
        }
    }
    // Panels on a page.
    let numbers = digits(request);
    if (lower.starts_with("split page") || request.contains("ページを分割"))
        && let Some(&page) = numbers.first()
    {
        let current = document.pointer(&format!("/pages/{}/panels", page.checked_sub(1)?))?.as_array()?.len();
        let next = set_panels(document, page, current + 1)?;
        return Some((next, format!("page {page} split into {} panels", (current + 1).min(9))));
    }
    if (lower.contains("panel") || request.contains("コマ") || request.contains("格"))
        && let [page, count, ..] = numbers.as_slice()
    {
        let next = set_panels(document, *page, *count)?;
        return Some((next, format!("page {page} laid out in {} panels", count.clamp(&1, &9))));
    }
    // Age.
    for (older, words) in
        [(true, &["older", "年上に", "老けさせ", "年长"][..]), (false, &["younger", "若く", "年轻"][..])]
    {
        if !words.iter().any(|word| lower.contains(word)) {
            continue;
        }
        let characters = document.get("characters")?.as_array()?;
        let index = characters.iter().position(|character| {
            character.get("name").and_then(Value::as_str).is_some_and(|name| request.contains(name))
        })?;
        let age = if older { "older than in the text (adult)" } else { "younger than in the text (youth)" };
        let next = edit(document, format!("characters.{index}.age"), json!(age))?;
        let name = characters[index].get("name").and_then(Value::as_str).unwrap_or_default();
        return Some((next, format!("{name} made {}", if older { "older" } else { "younger" })));
    }
    None
}

/// The answer to a `manga.revise` request: RFC 6902 operations from the document to
/// the changed one, a summary, and what was not understood.
pub fn revise(document: &Value, request: &str) -> Value {
    let mut current = document.clone();
    let mut done = Vec::new();
    let mut not_understood = Vec::new();
    let parts = request.split([';', '；', '。', '\n']).map(str::trim).filter(|part| !part.is_empty());
    for part in parts {
        match one(&current, part) {
            Some((next, summary)) => {
                current = next;
                done.push(summary);
            }
            None => not_understood.push(part.to_owned()),
        }
    }
    let summary = if done.is_empty() {
        format!("nothing applied: the offline planner understands only: {UNDERSTOOD}")
    } else {
        done.join("; ")
    };
    json!({
        "operations": json_patch::diff(document, &current),
        "summary": summary,
        "not_understood": not_understood,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> Value {
        json!({
            "concept": {"title": "T", "genre": "drama", "tone": "calm"},
            "characters": [{"id": "c1", "name": "Tom", "age": "12"}, {"id": "c2", "name": "老婆", "age": "?"}],
            "plot": {"scenes": [{"id": "s1", "summary": "Tom runs."}]},
            "pages": [{"number": 1, "reading_flow": "rtl", "panels": [
                {"id": "p1-1", "scene": "s1", "size": "medium", "direction": {}, "dialogue": [{"text": "Tom!", "balloon": "shout"}]},
                {"id": "p1-2", "scene": "s1", "size": "medium", "direction": {}, "dialogue": []}
            ]}]
        })
    }

    fn applied(request: &str) -> (Value, Value) {
        let answer = revise(&doc(), request);
        let patch: json_patch::Patch = serde_json::from_value(answer["operations"].clone()).expect("a patch");
        let mut next = doc();
        json_patch::patch(&mut next, &patch).expect("applies");
        (next, answer)
    }

    #[test]
    fn known_requests_become_a_patch() {
        let (next, answer) = applied("rename Tom to Jim; genre: mystery; split page 1; make 老婆 younger");
        assert_eq!(next["characters"][0]["name"], "Jim");
        assert_eq!(next["plot"]["scenes"][0]["summary"], "Jim runs.");
        assert_eq!(next["concept"]["genre"], "mystery");
        assert_eq!(next["pages"][0]["panels"].as_array().map(Vec::len), Some(3));
        assert!(next["characters"][1]["age"].as_str().is_some_and(|age| age.starts_with("younger")));
        assert_eq!(answer["not_understood"], json!([]));
    }

    #[test]
    fn what_is_not_understood_is_said() {
        let (next, answer) = applied("make the sky more purple");
        assert_eq!(next, doc());
        assert_eq!(answer["not_understood"], json!(["make the sky more purple"]));
        assert!(answer["summary"].as_str().is_some_and(|summary| summary.starts_with("nothing applied")));
        let (next, _) = applied("トーンを明るく");
        assert_eq!(next["concept"]["tone"], "明るく");
    }
}
