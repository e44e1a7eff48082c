//! The planner's answers to the manga phases: the same JSON shapes a language model
//! is asked for, filled in from the rule-based reading of the story.

use serde_json::{Value, json};

use super::story::{self, Language, Line, Scene};

/// Word lists by genre (English, Japanese, Chinese words together).
const GENRES: [(&str, &[&str]); 7] = [
    (
        "mystery",
        &[
            "murder",
            "detective",
            "clue",
            "secret",
            "corpse",
            "死体",
            "探偵",
            "犯人",
            "秘密",
            "盗",
            "侦探",
            "尸体",
            "秘密",
        ],
    ),
    ("romance", &["love", "kiss", "heart", "married", "恋", "愛", "好き", "結婚", "爱", "喜欢", "心"]),
    (
        "adventure",
        &["journey", "sea", "ship", "train", "travel", "sword", "旅", "列車", "鉄道", "船", "冒険", "旅行", "火车"],
    ),
    ("horror", &["dead", "ghost", "blood", "fear", "dark", "死人", "死骸", "幽霊", "血", "恐", "鬼", "鬼魂", "恐怖"]),
    ("fantasy", &["magic", "dragon", "witch", "king", "star", "星", "魔法", "王", "竜", "神", "魔", "龙"]),
    ("comedy", &["laugh", "joke", "funny", "笑", "冗談", "可笑", "笑话"]),
    ("drama", &["family", "mother", "father", "work", "life", "母", "父", "家", "生活", "仕事", "家庭"]),
];

const MOODS: [(&str, &[&str]); 5] = [
    ("tense", &["fear", "afraid", "sudden", "scream", "恐", "怖", "震", "叫", "怕", "突然"]),
    ("sad", &["tears", "cry", "wept", "alone", "lonely", "涙", "泣", "寂し", "悲し", "哭", "眼泪", "孤独"]),
    ("joyful", &["laugh", "smile", "happy", "glad", "笑", "嬉し", "楽し", "喜", "高兴", "笑"]),
    ("angry", &["angry", "rage", "shout", "怒", "憎", "叫", "愤怒", "生气"]),
    ("calm", &["quiet", "still", "gentle", "静か", "穏", "そっと", "安静", "平静"]),
];

const TIMES: [(&str, &[&str]); 4] = [
    ("morning", &["morning", "dawn", "sunrise", "朝", "明け方", "早上", "清晨"]),
    ("day", &["noon", "afternoon", "昼", "午後", "中午", "下午"]),
    ("evening", &["evening", "dusk", "sunset", "夕方", "暮方", "夕暮", "傍晚", "黄昏"]),
    ("night", &["night", "midnight", "moon", "dark", "夜", "月", "闇", "晚上", "夜里"]),
];

const PLACES: [&str; 36] = [
    "門", "城", "町", "村", "学校", "駅", "家", "森", "山", "海", "川", "部屋", "寺", "丘", "列車", "京都", "屋上",
    "门", "城市", "村子", "学校", "车站", "房间", "森林", "gate", "house", "room", "forest", "village", "city",
    "school", "station", "river", "sea", "street", "castle",
];

/// What the planner read from the story, shared by its answers.
pub struct Reading {
    pub language: Language,
    pub scenes: Vec<Scene>,
    pub characters: Vec<(String, usize)>,
    pub genre: String,
    pub genres: Vec<String>,
    pub mood: String,
    pub page_count: u32,
}

fn ranked(scores: &std::collections::BTreeMap<&str, usize>) -> Vec<String> {
    let mut ranked: Vec<(&str, usize)> = scores.iter().map(|(label, score)| (*label, *score)).collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    ranked.into_iter().map(|(label, _)| label.to_owned()).collect()
}

pub fn read(text: &str, options: &Value) -> Reading {
    let language = Language::detect(text);
    let chars = text.chars().count();
    // About one page per 400 characters of Japanese or Chinese, 1,000 of English.
    let per_page = if language == Language::English { 1_000 } else { 400 };
    let page_count = options
        .get("page_count")
        .and_then(Value::as_u64)
        .map(|pages| pages.clamp(1, 200) as u32)
        .unwrap_or_else(|| (chars / per_page).clamp(4, 64) as u32);
    let target = (chars / (page_count as usize).max(1) * 2).max(300);
    let scenes = story::scenes(text, target);
    let lines: Vec<Line> = scenes.iter().flat_map(|scene| scene.lines.clone()).collect();
    let characters = story::characters(text, language, &lines);
    let (genre, genre_scores) = story::best(text, &GENRES);
    let (mood, _) = story::best(text, &MOODS);
    Reading {
        language,
        scenes,
        characters,
        genre: genre.to_owned(),
        genres: ranked(&genre_scores),
        mood: mood.to_owned(),
        page_count,
    }
}

fn title(text: &str, reading: &Reading) -> String {
    let first = text.lines().map(str::trim).find(|line| !line.is_empty()).unwrap_or_default();
    if first.chars().count() <= 30 && !first.ends_with(['。', '.', '」', '"']) {
        return first.to_owned();
    }
    match reading.characters.first() {
        Some((name, _)) => match reading.language {
            Language::Japanese => format!("{name}の物語"),
            Language::Chinese => format!("{name}的故事"),
            Language::English => format!("The Story of {name}"),
        },
        None => "Untitled".to_owned(),
    }
}

fn target_readers(genre: &str) -> &'static str {
    match genre {
        "romance" => "teens and young adults who like romance (shōjo / josei)",
        "adventure" | "fantasy" | "comedy" => "teens (shōnen), all ages",
        "horror" | "mystery" => "older teens and adults (seinen)",
        _ => "general readers, teens and up",
    }
}

fn places(text: &str) -> Vec<String> {
    let mut found: Vec<(usize, &str)> =
        PLACES.iter().map(|place| (story::score(text, &[place]), *place)).filter(|(count, _)| *count > 0).collect();
    found.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(b.1)));
    found.into_iter().take(3).map(|(_, place)| place.to_owned()).collect()
}

pub fn concept(text: &str, reading: &Reading) -> Value {
    let places = places(text);
    let (time, _) = story::best(text, &TIMES);
    let world = if places.is_empty() {
        format!("the story's own world ({time})")
    } else {
        format!("{} ({time})", places.join(", "))
    };
    let key_scenes = key_scenes(reading)
        .into_iter()
        .map(|index| story::first_sentence(&reading.scenes[index].text, 80))
        .collect::<Vec<_>>();
    let title = title(text, reading);
    let theme = match reading.characters.first() {
        Some((name, _)) => format!("{name} and the choice the story puts before them ({})", reading.mood),
        None => format!("a {} story", reading.mood),
    };
    json!({
        "title": title,
        "theme": theme,
        "genre": reading.genre,
        "target_readers": target_readers(&reading.genre),
        "world": world,
        "tone": reading.mood,
        "page_count": reading.page_count,
        "reading_direction": if reading.language == Language::Japanese { "rtl" } else { "ltr" },
        "language": reading.language.code(),
        "key_scenes": key_scenes,
        "alternatives": {
            "genre": reading.genres.iter().take(3).collect::<Vec<_>>(),
            "title": [title.clone(), story::first_sentence(text, 24)],
        },
        "planner": "rule-based planner (local/planner): word lists and text statistics, not a language model",
    })
}

fn importance(scene: &Scene) -> f64 {
    let exclaims = scene.text.matches(['!', '！', '?', '？']).count() as f64;
    let lines = scene.lines.len() as f64;
    let length = scene.text.chars().count().max(1) as f64;
    (lines * 40.0 + exclaims * 60.0) / length
}

/// The scenes that matter most: the three with the most dialogue and exclamation for
/// their length, in story order.
fn key_scenes(reading: &Reading) -> Vec<usize> {
    let mut ranked: Vec<(usize, f64)> =
        reading.scenes.iter().enumerate().map(|(index, scene)| (index, importance(scene))).collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let mut top: Vec<usize> = ranked.into_iter().take(3).map(|(index, _)| index).collect();
    top.sort_unstable();
    top
}

fn speech_style(name: &str, reading: &Reading) -> String {
    let said: Vec<&Line> = reading
        .scenes
        .iter()
        .flat_map(|scene| &scene.lines)
        .filter(|line| line.speaker.as_deref() == Some(name))
        .collect();
    if said.is_empty() {
        return "little direct speech in the text".to_owned();
    }
    let all: String = said.iter().map(|line| line.text.as_str()).collect::<Vec<_>>().join(" ");
    let average = all.chars().count() / said.len();
    let register = if story::score(&all, &["です", "ます", "ございます"]) > 0 {
        "polite (desu/masu)"
    } else if story::score(&all, &["だ", "ぜ", "ぞ", "じゃ", "おれ", "俺"]) > 1 {
        "plain and rough"
    } else if all.matches(['!', '！']).count() * 3 >= said.len() {
        "emphatic, often exclaiming"
    } else {
        "plain"
    };
    format!("{register}; {} lines in the text, about {average} characters each", said.len())
}

fn first_mention(name: &str, reading: &Reading) -> String {
    reading
        .scenes
        .iter()
        .find_map(|scene| {
            let at = scene.text.find(name)?;
            Some(story::first_sentence(&scene.text[at..], 100))
        })
        .unwrap_or_default()
}

pub fn characters(reading: &Reading) -> Value {
    let characters: Vec<Value> = reading
        .characters
        .iter()
        .enumerate()
        .map(|(index, (name, mentions))| {
            let role = match index {
                0 => "protagonist",
                1 => "deuteragonist",
                _ => "supporting",
            };
            json!({
                "id": format!("c{}", index + 1),
                "name": name,
                "role": role,
                "age": "not stated in the text",
                "appearance": format!("as first seen in the text: {}", first_mention(name, reading)),
                "personality": format!("{} in a {} story; named {mentions} times", role, reading.mood),
                "speech_style": speech_style(name, reading),
                "mentions": mentions,
            })
        })
        .collect();
    if characters.is_empty() {
        return json!([{
            "id": "c1", "name": "narrator", "role": "protagonist", "age": "not stated in the text",
            "appearance": "no named character was found: the narrator stands in", "personality": "observer",
            "speech_style": "narration", "mentions": 0,
        }]);
    }
    Value::Array(characters)
}

/// A character's names: the one it has now, then the ones the story uses
/// (`aliases`: a renamed character's old name).
fn names(character: &Value) -> Vec<&str> {
    let name = character.get("name").and_then(Value::as_str);
    let aliases = character.get("aliases").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str);
    name.into_iter().chain(aliases).filter(|name| !name.is_empty()).collect()
}

fn character_ids(scene: &Scene, characters: &Value) -> Vec<String> {
    characters
        .as_array()
        .into_iter()
        .flatten()
        .filter(|character| names(character).iter().any(|name| scene.text.contains(name)))
        .filter_map(|character| character.get("id").and_then(Value::as_str).map(str::to_owned))
        .collect()
}

fn speaker_id(speaker: Option<&str>, characters: &Value) -> Value {
    let Some(speaker) = speaker else { return Value::Null };
    characters
        .as_array()
        .into_iter()
        .flatten()
        .find(|character| names(character).contains(&speaker))
        .and_then(|character| character.get("id").cloned())
        .unwrap_or(Value::Null)
}

/// The story's text with every renamed character called by their new name.
fn renamed(text: &str, characters: &Value) -> String {
    let mut text = text.to_owned();
    for character in characters.as_array().into_iter().flatten() {
        let all = names(character);
        let Some((name, aliases)) = all.split_first() else { continue };
        for alias in aliases {
            text = text.replace(alias, name);
        }
    }
    text
}

pub fn plot(reading: &Reading, characters: &Value) -> Value {
    let total_chars: usize = reading.scenes.iter().map(|scene| scene.text.chars().count()).sum::<usize>().max(1);
    let pages = reading.page_count as usize;
    let max_importance = reading.scenes.iter().map(importance).fold(0.0, f64::max).max(1e-9);
    let mut seen = 0usize;
    let scenes: Vec<Value> = reading
        .scenes
        .iter()
        .enumerate()
        .map(|(index, scene)| {
            let length = scene.text.chars().count();
            let first_page = seen * pages / total_chars + 1;
            seen += length;
            let last_page = ((seen * pages).div_ceil(total_chars)).max(first_page).min(pages);
            let (time, _) = story::best(&scene.text, &TIMES);
            let (emotion, _) = story::best(&scene.text, &MOODS);
            let setting = places(&scene.text).first().cloned().unwrap_or_else(|| "as before".to_owned());
            let dialogue: Vec<Value> = scene
                .lines
                .iter()
                .take(12)
                .map(|line| json!({ "speaker": speaker_id(line.speaker.as_deref(), characters), "text": renamed(&line.text, characters) }))
                .collect();
            json!({
                "id": format!("s{}", index + 1),
                "title": scene.marker.clone().unwrap_or_else(|| story::first_sentence(&scene.text, 24)),
                "setting": setting,
                "time_of_day": time,
                "characters": character_ids(scene, characters),
                "emotion": emotion,
                "summary": renamed(&story::first_sentence(&scene.text, 140), characters),
                "importance": ((importance(scene) / max_importance) * 100.0).round() / 100.0,
                "pages": (first_page..=last_page).collect::<Vec<_>>(),
                "dialogue": dialogue,
            })
        })
        .collect();
    // Three acts: the first quarter sets up, the middle half builds, the rest resolves.
    let count = scenes.len();
    let bounds = [0, count.div_ceil(4).max(1).min(count), (count * 3).div_ceil(4).max(1).min(count), count];
    let titles = match reading.language {
        Language::Japanese => ["起: 発端", "承転: 展開と転換", "結: 結末"],
        Language::Chinese => ["起: 开端", "承转: 发展与转折", "合: 结局"],
        Language::English => ["Act 1: setup", "Act 2: confrontation", "Act 3: resolution"],
    };
    let acts: Vec<Value> = (0..3)
        .filter(|act| bounds[act + 1] > bounds[*act])
        .map(|act| {
            let ids: Vec<String> = (bounds[act]..bounds[act + 1]).map(|index| format!("s{}", index + 1)).collect();
            json!({ "number": act + 1, "title": titles[act], "summary": format!("scenes {} to {}", bounds[act] + 1, bounds[act + 1]), "scenes": ids })
        })
        .collect();
    json!({ "acts": acts, "scenes": scenes })
}

fn depth(index: usize) -> &'static str {
    ["fore", "mid", "back"][index.min(2)]
}

/// The name: panels per page from the scenes that fall on it, their importance,
/// and their lines.
pub fn name(plot: &Value, characters: &Value, page_count: usize, right_to_left: bool) -> Value {
    let scenes: Vec<&Value> =
        plot.get("scenes").and_then(Value::as_array).map(|scenes| scenes.iter().collect()).unwrap_or_default();
    let name_of = |id: &str| {
        characters
            .as_array()
            .into_iter()
            .flatten()
            .find(|character| character.get("id").and_then(Value::as_str) == Some(id))
            .and_then(|character| character.get("name").and_then(Value::as_str))
            .unwrap_or(id)
            .to_owned()
    };
    let pages = page_count.max(1);
    let mut out = Vec::new();
    for page in 1..=pages {
        let on_page: Vec<&Value> = scenes
            .iter()
            .copied()
            .filter(|scene| {
                scene
                    .get("pages")
                    .and_then(Value::as_array)
                    .is_some_and(|pages| pages.iter().any(|p| p.as_u64() == Some(page as u64)))
            })
            .collect();
        let on_page = if on_page.is_empty() { scenes.iter().copied().take(1).collect() } else { on_page };
        let importance =
            on_page.iter().filter_map(|scene| scene.get("importance").and_then(Value::as_f64)).fold(0.0, f64::max);
        // Calm pages take more, smaller panels; key pages fewer, larger ones.
        let count = if importance > 0.7 {
            3
        } else if importance > 0.4 {
            4
        } else {
            5
        };
        let mut panels = Vec::new();
        for slot in 0..count {
            let Some(scene) = on_page.get(slot * on_page.len() / count).copied() else { continue };
            let scene_id = scene.get("id").and_then(Value::as_str).unwrap_or("s1");
            let present: Vec<String> = scene
                .get("characters")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect();
            let lines: Vec<&Value> =
                scene.get("dialogue").and_then(Value::as_array).map(|lines| lines.iter().collect()).unwrap_or_default();
            // The page's share of the scene's lines, two per panel.
            let scene_pages = scene.get("pages").and_then(Value::as_array).map_or(1, Vec::len).max(1);
            let page_index = scene
                .get("pages")
                .and_then(Value::as_array)
                .and_then(|pages| pages.iter().position(|p| p.as_u64() == Some(page as u64)))
                .unwrap_or(0);
            let per_page = lines.len().div_ceil(scene_pages);
            let start = page_index * per_page + slot * 2;
            let panel_lines: Vec<Value> = lines
                .iter()
                .skip(start)
                .take(2.min(per_page.saturating_sub(slot * 2)))
                .map(|line| {
                    let text = line.get("text").and_then(Value::as_str).unwrap_or_default();
                    let balloon = if text.ends_with(['!', '！']) { "shout" } else if text.starts_with('（') || text.starts_with('(') { "thought" } else { "speech" };
                    json!({ "speaker": line.get("speaker").cloned().unwrap_or(Value::Null), "text": text, "balloon": balloon })
                })
                .collect();
            let emotion = scene.get("emotion").and_then(Value::as_str).unwrap_or("calm");
            let peak = slot == 0 && importance > 0.7;
            let (angle, shot) = match (slot, peak, panel_lines.is_empty()) {
                (_, true, _) => ("アオリ (low angle)", "close-up"),
                (0, false, _) => ("俯瞰 (high angle)", "long shot, establishing the place"),
                (_, _, false) => ("正面 (eye level)", "bust shot"),
                _ => ("斜め (three-quarter)", "full shot"),
            };
            let placement: Vec<Value> = present
                .iter()
                .take(3)
                .enumerate()
                .map(|(index, id)| json!({ "character": id, "depth": depth(index) }))
                .collect();
            let names: Vec<String> = present.iter().take(3).map(|id| name_of(id)).collect();
            let time = scene.get("time_of_day").and_then(Value::as_str).unwrap_or("day");
            let size = if peak || (slot == 0 && count <= 3) {
                "large"
            } else if count >= 5 && slot >= 3 {
                "small"
            } else {
                "medium"
            };
            panels.push(json!({
                "scene": scene_id,
                "size": size,
                "emphasis": peak,
                "direction": {
                    "camera_angle": angle,
                    "shot": shot,
                    "placement": placement,
                    "expressions": format!("{emotion}: {}", if names.is_empty() { "—".to_owned() } else { names.join(", ") }),
                    "poses": if panel_lines.is_empty() { "in motion, as the text describes" } else { "facing each other, speaking" },
                    "background": scene.get("setting").cloned().unwrap_or(json!("as before")),
                    "effect_lines": if peak || emotion == "tense" || emotion == "angry" { "speed lines / focus lines" } else { "none" },
                    "lighting": time,
                    "mood": emotion,
                },
                "dialogue": panel_lines,
            }));
        }
        out.push(
            json!({ "number": page, "reading_flow": if right_to_left { "rtl" } else { "ltr" }, "panels": panels }),
        );
    }
    Value::Array(out)
}
