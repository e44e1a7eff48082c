//! Rule-based reading of a story: its language, scenes, dialogue and characters.
//! No language model: paragraph breaks, scene-break marks, time and place markers,
//! quotation marks, name frequencies and word lists, in Japanese, Chinese and
//! English. It is deterministic: the same text always reads the same way.

use std::collections::{BTreeMap, HashMap};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    Japanese,
    Chinese,
    English,
}

impl Language {
    pub fn code(self) -> &'static str {
        match self {
            Self::Japanese => "ja",
            Self::Chinese => "zh",
            Self::English => "en",
        }
    }

    pub fn detect(text: &str) -> Self {
        let (mut kana, mut han, mut latin) = (0usize, 0usize, 0usize);
        for c in text.chars().take(20_000) {
            match c {
                '\u{3040}'..='\u{30ff}' => kana += 1,
                '\u{4e00}'..='\u{9fff}' => han += 1,
                'a'..='z' | 'A'..='Z' => latin += 1,
                _ => {}
            }
        }
        if kana * 20 > han.max(1) && kana > 0 {
            Self::Japanese
        } else if han > latin / 3 {
            Self::Chinese
        } else {
            Self::English
        }
    }
}

/// A line of dialogue and who says it, where the text says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub speaker: Option<String>,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Scene {
    pub text: String,
    pub lines: Vec<Line>,
    /// A time or place marker that opened the scene.
    pub marker: Option<String>,
}

/// Marks that break scenes on a line of their own.
fn is_break_line(line: &str) -> bool {
    let trimmed = line.trim();
    !trimmed.is_empty()
        && trimmed.chars().count() <= 12
        && trimmed.chars().all(|c| {
            matches!(c, '*' | '＊' | '◇' | '◆' | '☆' | '★' | '-' | '—' | '=' | '#' | '・' | '○' | '●' | ' ' | '　')
        })
        || trimmed.starts_with("Chapter ")
        || (trimmed.starts_with('第')
            && (trimmed.contains('章') || trimmed.contains('話'))
            && trimmed.chars().count() <= 20)
}

/// Time and place markers that start a new scene when a paragraph opens with them.
const MARKERS: [&str; 36] = [
    "翌朝",
    "翌日",
    "その夜",
    "その晩",
    "次の日",
    "数日後",
    "やがて",
    "一方",
    "明くる日",
    "夜が明け",
    "朝になる",
    "夕方",
    "第二天",
    "那天晚上",
    "第二天早上",
    "几天后",
    "后来",
    "与此同时",
    "当天夜里",
    "傍晚",
    "清晨",
    "那一夜",
    "The next morning",
    "The next day",
    "That night",
    "That evening",
    "Later",
    "Meanwhile",
    "Days later",
    "The following",
    "Morning came",
    "At dawn",
    "When night",
    "Years later",
    "Hours later",
    "By evening",
];

fn paragraphs(text: &str) -> Vec<String> {
    let mut paragraphs = Vec::new();
    let mut current = String::new();
    let japanese_indent = text.contains("\n　");
    for line in text.lines() {
        let starts_new = line.trim().is_empty() || is_break_line(line) || (japanese_indent && line.starts_with('　'));
        if starts_new && !current.trim().is_empty() {
            paragraphs.push(std::mem::take(&mut current));
        }
        if is_break_line(line) {
            paragraphs.push("\u{1}".to_owned());
            continue;
        }
        if !line.trim().is_empty() {
            if !current.is_empty() {
                current.push('\n');
            }
            current.push_str(line.trim());
        }
    }
    if !current.trim().is_empty() {
        paragraphs.push(current);
    }
    paragraphs
}

/// Splits the text into scenes: at scene-break lines, at paragraphs that open with
/// a time or place marker, and so that no scene runs much past `target` characters.
pub fn scenes(text: &str, target: usize) -> Vec<Scene> {
    let mut scenes: Vec<(String, Option<String>)> = Vec::new();
    let mut current = String::new();
    let mut marker = None;
    for paragraph in paragraphs(text) {
        let opens = MARKERS.iter().find(|m| paragraph.starts_with(**m)).map(|m| (*m).to_owned());
        let breaks = paragraph == "\u{1}";
        let full = current.chars().count() >= target;
        if (breaks || opens.is_some() || full) && !current.trim().is_empty() {
            scenes.push((std::mem::take(&mut current), marker.take()));
        }
        if breaks {
            continue;
        }
        if opens.is_some() {
            marker = opens;
        }
        if !current.is_empty() {
            current.push('\n');
        }
        current.push_str(&paragraph);
    }
    if !current.trim().is_empty() {
        scenes.push((current, marker));
    }
    // Very short scenes join the one before.
    let mut merged: Vec<(String, Option<String>)> = Vec::new();
    for (text, marker) in scenes {
        match merged.last_mut() {
            Some(last) if text.chars().count() < target / 6 => {
                last.0.push('\n');
                last.0.push_str(&text);
            }
            _ => merged.push((text, marker)),
        }
    }
    merged.into_iter().map(|(text, marker)| Scene { lines: dialogue(&text), text, marker }).collect()
}

/// Quoted speech: 「」『』, “”, "…", and `Name: line` lines, with the speaker when
/// the words around it name one.
pub fn dialogue(text: &str) -> Vec<Line> {
    let mut lines = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut index = 0;
    while index < chars.len() {
        let close = match chars[index] {
            '「' => Some('」'),
            '『' => Some('』'),
            '“' => Some('”'),
            '"' => Some('"'),
            _ => None,
        };
        if let Some(close) = close
            && let Some(length) = chars[index + 1..].iter().take(400).position(|c| *c == close)
        {
            let spoken: String = chars[index + 1..index + 1 + length].iter().collect();
            let before: String = chars[index.saturating_sub(24)..index].iter().collect();
            let after_end = (index + 2 + length + 30).min(chars.len());
            let after: String = chars[(index + 2 + length).min(chars.len())..after_end].iter().collect();
            if !spoken.trim().is_empty() {
                lines.push(Line { speaker: attribution(&before, &after), text: spoken.trim().to_owned() });
            }
            index += length + 2;
            continue;
        }
        index += 1;
    }
    for line in text.lines() {
        let Some((name, spoken)) = line.split_once(':').or_else(|| line.split_once('：')) else { continue };
        let name = name.trim();
        // A speaker's name: one or two capitalised words, or a short run of CJK
        // characters; never digits (a time such as 7:00).
        let words: Vec<&str> = name.split(' ').collect();
        let latin = (1..=2).contains(&words.len())
            && words.iter().all(|word| {
                word.chars().next().is_some_and(char::is_uppercase) && word.chars().all(char::is_alphabetic)
            });
        let cjk = (1..=8).contains(&name.chars().count()) && name.chars().all(is_name_char);
        if latin || cjk {
            let spoken = spoken.trim();
            if !spoken.is_empty() && !spoken.starts_with("//") {
                lines.push(Line { speaker: Some(name.to_owned()), text: spoken.to_owned() });
            }
        }
    }
    lines
}

const SPEECH_VERBS_EN: [&str; 8] = ["said", "asked", "cried", "shouted", "replied", "whispered", "answered", "called"];

/// A speaker named around a quotation: "…," said Tom / Tom said, "…" / 太郎は「…」と
/// 言った / 他说：“…”.
fn attribution(before: &str, after: &str) -> Option<String> {
    let after_words: Vec<&str> =
        after.split_whitespace().map(|w| w.trim_matches(|c: char| !c.is_alphanumeric())).collect();
    if let [verb, name, ..] = after_words.as_slice()
        && SPEECH_VERBS_EN.contains(verb)
        && name.chars().next().is_some_and(char::is_uppercase)
    {
        return Some((*name).to_owned());
    }
    if let [name, verb, ..] = after_words.as_slice()
        && SPEECH_VERBS_EN.contains(verb)
        && name.chars().next().is_some_and(char::is_uppercase)
    {
        return Some((*name).to_owned());
    }
    let before_words: Vec<&str> =
        before.split_whitespace().map(|w| w.trim_matches(|c: char| !c.is_alphanumeric())).collect();
    if let [.., name, verb] = before_words.as_slice()
        && SPEECH_VERBS_EN.contains(verb)
        && name.chars().next().is_some_and(char::is_uppercase)
    {
        return Some((*name).to_owned());
    }
    // Chinese: 张三说：“…” / 张三问道：“…”
    let trimmed = before.trim_end_matches(['：', ':', '，', ' ']);
    for verb in ["说道", "问道", "喊道", "笑道", "说", "问", "道", "喊"] {
        if let Some(head) = trimmed.strip_suffix(verb) {
            let name: String = head
                .chars()
                .rev()
                .take_while(|c| ('\u{4e00}'..='\u{9fff}').contains(c))
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            let name: String = name.chars().rev().take(3).collect::<Vec<_>>().into_iter().rev().collect();
            if (2..=3).contains(&name.chars().count()) {
                return Some(name);
            }
        }
    }
    // Japanese: 太郎は「…」 / 「…」と太郎は言った
    for particle in ["は", "が"] {
        if let Some(head) = before.trim_end().strip_suffix(particle) {
            let name: String =
                head.chars().rev().take_while(|c| is_name_char(*c)).collect::<Vec<_>>().into_iter().rev().collect();
            if (1..=8).contains(&name.chars().count()) {
                return Some(name);
            }
        }
    }
    // A quotation on a line of its own, and the next sentence's subject: 「…」\n下人は、…
    if after.starts_with('\n') {
        let rest = after.trim_start_matches(['\n', '　', ' ']);
        let name: String = rest.chars().take_while(|c| is_name_char(*c)).collect();
        if (1..=8).contains(&name.chars().count())
            && (rest[name.len()..].starts_with('は') || rest[name.len()..].starts_with('が'))
        {
            return Some(name);
        }
    }
    if let Some(rest) = after.strip_prefix('と') {
        let name: String = rest.chars().take_while(|c| is_name_char(*c)).collect();
        if (1..=8).contains(&name.chars().count())
            && (rest[name.len()..].starts_with('は') || rest[name.len()..].starts_with('が'))
        {
            return Some(name);
        }
    }
    None
}

fn is_name_char(c: char) -> bool {
    ('\u{30a0}'..='\u{30ff}').contains(&c) || ('\u{4e00}'..='\u{9fff}').contains(&c) || c == 'ー'
}

/// Role nouns that stand for characters in Japanese and Chinese stories (羅生門's
/// 下人 and 老婆).
const ROLE_NOUNS: [&str; 40] = [
    "下人",
    "老婆",
    "少年",
    "少女",
    "老人",
    "先生",
    "母親",
    "父親",
    "お母さん",
    "お父さん",
    "王様",
    "王子",
    "姫",
    "娘",
    "侍",
    "和尚",
    "男",
    "女",
    "主人",
    "旦那",
    "婆さん",
    "爺さん",
    "兄",
    "姉",
    "弟",
    "妹",
    "老師",
    "老人家",
    "姑娘",
    "小伙子",
    "母亲",
    "父亲",
    "老板",
    "師匠",
    "医者",
    "猫",
    "犬",
    "狐",
    "鬼",
    "神様",
];

/// Words that look like names but are not (English).
const NOT_NAMES: [&str; 60] = [
    "The", "A", "An", "And", "But", "Or", "If", "When", "Then", "He", "She", "It", "They", "We", "I", "You", "His",
    "Her", "Their", "Our", "My", "Your", "This", "That", "These", "Those", "There", "Here", "What", "Who", "Why",
    "How", "Where", "In", "On", "At", "For", "With", "As", "By", "From", "Of", "To", "So", "Not", "No", "Yes", "Oh",
    "Mr", "Mrs", "Miss", "Sir", "Chapter", "One", "All", "Now", "After", "Before", "Once", "Some",
];

/// Characters by how often they are named: (name, mentions), most first.
pub fn characters(text: &str, language: Language, lines: &[Line]) -> Vec<(String, usize)> {
    let mut counts: HashMap<String, usize> = HashMap::new();
    for line in lines {
        if let Some(speaker) = &line.speaker {
            *counts.entry(speaker.clone()).or_default() += 2;
        }
    }
    match language {
        Language::English => {
            // Words capitalised inside a sentence are names; they count at the start
            // of a sentence too.
            let words: Vec<(&str, bool)> = {
                let mut sentence_start = true;
                text.split_whitespace()
                    .map(|raw| {
                        let word = raw.trim_matches(|c: char| !c.is_alphanumeric());
                        let at_start = sentence_start;
                        sentence_start = raw.ends_with(['.', '!', '?', '"', '”']) || raw.ends_with(".\"");
                        (word, at_start)
                    })
                    .collect()
            };
            let capitalised = |word: &str| {
                word.len() > 1
                    && word.chars().next().is_some_and(char::is_uppercase)
                    && word.chars().skip(1).all(char::is_lowercase)
                    && !NOT_NAMES.contains(&word)
            };
            let names: std::collections::HashSet<&str> =
                words.iter().filter(|(word, at_start)| !at_start && capitalised(word)).map(|(word, _)| *word).collect();
            for (word, _) in &words {
                if names.contains(word) {
                    *counts.entry((*word).to_owned()).or_default() += 1;
                }
            }
        }
        Language::Japanese | Language::Chinese => {
            // Katakana names (ジョバンニ) and role nouns.
            let mut run = String::new();
            for c in text.chars().chain(std::iter::once(' ')) {
                if ('\u{30a1}'..='\u{30fa}').contains(&c) || c == 'ー' {
                    run.push(c);
                } else {
                    if run.chars().count() >= 3 {
                        *counts.entry(std::mem::take(&mut run)).or_default() += 1;
                    }
                    run.clear();
                }
            }
            for noun in ROLE_NOUNS {
                let found = text.matches(noun).count();
                if found > 0 {
                    *counts.entry(noun.to_owned()).or_default() += found;
                }
            }
            // Names before honorifics: 〇〇さん, 〇〇君.
            for honorific in ["さん", "君", "くん", "ちゃん", "様", "先生"] {
                for (at, _) in text.match_indices(honorific) {
                    let name: String = text[..at]
                        .chars()
                        .rev()
                        .take_while(|c| is_name_char(*c))
                        .take(4)
                        .collect::<Vec<_>>()
                        .into_iter()
                        .rev()
                        .collect();
                    if (2..=4).contains(&name.chars().count()) {
                        *counts.entry(name).or_default() += 1;
                    }
                }
            }
        }
    }
    // A name inside a longer counted name (男 in 男の子) keeps its own count; drop
    // single characters that only appear inside others, and rare names.
    let min = 3;
    let mut found: Vec<(String, usize)> = counts.into_iter().filter(|(_, count)| *count >= min).collect();
    found.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    // Overlapping names (女 inside 少女): keep the longer unless the shorter is far more frequent.
    let mut kept: Vec<(String, usize)> = Vec::new();
    for (name, count) in found {
        let overlapping = kept.iter().any(|(other, other_count)| other.contains(&name) && *other_count * 2 >= count);
        if !overlapping {
            kept.push((name, count));
        }
    }
    kept.truncate(8);
    kept
}

/// Counts how many of `words` appear in `text` (each occurrence).
pub fn score(text: &str, words: &[&str]) -> usize {
    let lower = text.to_lowercase();
    words.iter().map(|word| lower.matches(&word.to_lowercase()).count()).sum()
}

/// The label whose word list scores best (the first on ties), with every score.
pub fn best<'a>(text: &str, lists: &[(&'a str, &[&str])]) -> (&'a str, BTreeMap<&'a str, usize>) {
    let scores: BTreeMap<&str, usize> = lists.iter().map(|(label, words)| (*label, score(text, words))).collect();
    let mut best = lists.first().map_or("", |(label, _)| *label);
    let mut best_score = 0;
    for (label, _) in lists {
        let found = scores.get(label).copied().unwrap_or(0);
        if found > best_score {
            (best, best_score) = (label, found);
        }
    }
    (best, scores)
}

/// The first sentence (or the first `limit` characters) of a text.
pub fn first_sentence(text: &str, limit: usize) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let end = flat
        .char_indices()
        .find(|(_, c)| matches!(c, '。' | '！' | '？' | '.' | '!' | '?'))
        .map(|(i, c)| i + c.len_utf8());
    let sentence = match end {
        Some(end) if end > 4 => &flat[..end],
        _ => flat.as_str(),
    };
    let mut out: String = sentence.chars().take(limit).collect();
    if sentence.chars().count() > limit {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn languages_are_told_apart() {
        assert_eq!(
            Language::detect("ある日の暮方の事である。一人の下人が、羅生門の下で雨やみを待っていた。"),
            Language::Japanese
        );
        assert_eq!(Language::detect("他说：“我们明天再见。”她点了点头，转身离开了。"), Language::Chinese);
        assert_eq!(Language::detect("It was a dark and stormy night."), Language::English);
    }

    #[test]
    fn dialogue_keeps_its_speaker_where_the_text_names_one() {
        let lines = dialogue(
            "\"Come here,\" said Tom. Alice replied, \"No.\"\n太郎は「行こう」と言った。\n张三说：“走吧。”\nHana: I'm home.",
        );
        let pairs: Vec<(Option<&str>, &str)> =
            lines.iter().map(|line| (line.speaker.as_deref(), line.text.as_str())).collect();
        assert!(pairs.contains(&(Some("Tom"), "Come here,")), "{pairs:?}");
        assert!(pairs.contains(&(Some("Alice"), "No.")), "{pairs:?}");
        assert!(pairs.contains(&(Some("太郎"), "行こう")), "{pairs:?}");
        assert!(pairs.contains(&(Some("张三"), "走吧。")), "{pairs:?}");
        assert!(pairs.contains(&(Some("Hana"), "I'm home.")), "{pairs:?}");
    }

    #[test]
    fn scenes_break_at_marks_and_markers() {
        let text = "Tom woke up.\n\nHe ate.\n\n* * *\n\nThe next morning, Tom left.\n\nHe walked.";
        let split = scenes(text, 60);
        assert_eq!(split.len(), 2, "{split:?}");
        assert_eq!(split[1].marker.as_deref(), Some("The next morning"));
    }

    #[test]
    fn characters_are_found_by_frequency() {
        let text = "Tom ran. Then Tom saw Alice. \"Hi,\" said Alice. Later Tom and Alice walked. Tom smiled. Tom laughed. Bob watched Tom.";
        let found = characters(text, Language::English, &dialogue(text));
        assert_eq!(found.first().map(|(name, _)| name.as_str()), Some("Tom"));
        assert!(found.iter().any(|(name, _)| name == "Alice"));
        let japanese = "下人は老婆を見た。老婆は下人に言った。下人は黙っていた。老婆は笑った。";
        let found = characters(japanese, Language::Japanese, &[]);
        assert_eq!(found.iter().map(|(name, _)| name.as_str()).collect::<Vec<_>>(), ["下人", "老婆"]);
    }
}
