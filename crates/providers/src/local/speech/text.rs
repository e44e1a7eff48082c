//! Text before it is spoken: split into sentences (each synthesised on its own, so
//! progress moves per sentence and a long text never makes one huge inference),
//! sentences into clauses (Piper's phonemes keep each clause's punctuation, which
//! shapes its prosody), and a guess at the language from the script when the
//! input names none.

/// Letters that end a sentence (Latin, CJK full-width, Devanagari danda...).
const SENTENCE_ENDS: [char; 9] = ['.', '!', '?', '。', '！', '？', '…', '।', '؟'];
/// Letters that end a clause inside a sentence.
const CLAUSE_ENDS: [char; 8] = [',', ';', ':', '，', '、', '；', '：', '،'];
/// Words whose trailing period does not end a sentence ("Mr. Smith").
const ABBREVIATIONS: [&str; 16] =
    ["mr", "mrs", "ms", "dr", "prof", "st", "vs", "etc", "e.g", "i.e", "jr", "sr", "no", "fig", "mt", "approx"];
/// A sentence longer than this many characters is cut at its clauses, then at
/// spaces: one inference per chunk stays short and progress keeps moving.
pub const MAX_CHUNK_CHARS: usize = 400;

/// A sentence: its text, punctuation included.
pub fn sentences(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut current = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        current.push(if c == '\n' || c == '\r' || c == '\t' { ' ' } else { c });
        let blank_line = c == '\n' && chars.get(i + 1).is_some_and(|next| *next == '\n');
        if SENTENCE_ENDS.contains(&c) || blank_line {
            // Runs of closing punctuation and quotes stay with their sentence ("Why?!").
            while let Some(next) = chars.get(i + 1) {
                if SENTENCE_ENDS.contains(next) || matches!(next, '"' | '\'' | '”' | '’' | ')' | '」' | '』' | '）')
                {
                    current.push(*next);
                    i += 1;
                } else {
                    break;
                }
            }
            let next = chars.get(i + 1);
            // Latin full stops end a sentence only before a space or the end, and not
            // after an abbreviation or between digits ("5.50").
            let ends = match c {
                '.' => next.is_none_or(|n| n.is_whitespace()) && !ends_with_abbreviation(&current),
                _ => true,
            };
            if ends {
                push_trimmed(&mut out, &current);
                current.clear();
            }
        }
        i += 1;
    }
    push_trimmed(&mut out, &current);
    out.into_iter().flat_map(|sentence| split_long(&sentence)).collect()
}

fn push_trimmed(out: &mut Vec<String>, text: &str) {
    let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if collapsed.chars().any(char::is_alphanumeric) {
        out.push(collapsed);
    } else if let Some(last) = out.last_mut() {
        // Stray punctuation ("...") joins the sentence before it.
        last.push_str(&collapsed);
    }
}

fn ends_with_abbreviation(text: &str) -> bool {
    let word = text.trim_end_matches('.').rsplit(|c: char| c.is_whitespace() || c == '(').next().unwrap_or_default();
    let word = word.to_lowercase();
    ABBREVIATIONS.contains(&word.as_str()) || (word.chars().count() == 1 && word.chars().all(char::is_alphabetic))
}

/// A sentence longer than [`MAX_CHUNK_CHARS`] cut at its clauses, then at spaces.
fn split_long(sentence: &str) -> Vec<String> {
    if sentence.chars().count() <= MAX_CHUNK_CHARS {
        return vec![sentence.to_owned()];
    }
    let mut out: Vec<String> = Vec::new();
    let mut current = String::new();
    for (clause, end) in clauses(sentence) {
        let piece = format!("{clause}{}", end.map(String::from).unwrap_or_default());
        if !current.is_empty() && current.chars().count() + piece.chars().count() + 1 > MAX_CHUNK_CHARS {
            out.push(std::mem::take(&mut current));
        }
        if piece.chars().count() > MAX_CHUNK_CHARS {
            for word in piece.split_whitespace() {
                if !current.is_empty() && current.chars().count() + word.chars().count() + 1 > MAX_CHUNK_CHARS {
                    out.push(std::mem::take(&mut current));
                }
                if !current.is_empty() {
                    current.push(' ');
                }
                // A single "word" longer than a chunk (CJK text has no spaces) is cut by characters.
                let mut rest: Vec<char> = word.chars().collect();
                while current.chars().count() + rest.len() > MAX_CHUNK_CHARS {
                    let room = MAX_CHUNK_CHARS - current.chars().count();
                    current.extend(rest.drain(..room));
                    out.push(std::mem::take(&mut current));
                }
                current.extend(rest);
            }
        } else {
            if !current.is_empty() {
                current.push(' ');
            }
            current.push_str(&piece);
        }
    }
    if !current.trim().is_empty() {
        out.push(current);
    }
    out
}

/// A sentence's clauses: each clause's words and the punctuation that ends it
/// (`None` for a last clause with none).
pub fn clauses(sentence: &str) -> Vec<(String, Option<char>)> {
    let mut out = Vec::new();
    let mut current = String::new();
    let chars: Vec<char> = sentence.chars().collect();
    for (i, c) in chars.iter().copied().enumerate() {
        let next_is_space = chars.get(i + 1).is_none_or(|n| n.is_whitespace());
        let is_end = CLAUSE_ENDS.contains(&c)
            || (SENTENCE_ENDS.contains(&c) && (c != '.' || next_is_space))
            || (c == ',' && next_is_space);
        // A comma between digits ("1,000") is part of the number.
        let in_number = (c == ',' || c == '.')
            && i > 0
            && chars[i - 1].is_ascii_digit()
            && chars.get(i + 1).is_some_and(char::is_ascii_digit);
        if is_end && !in_number {
            let words = current.trim().to_owned();
            // "?!" or "...": the clause keeps its first mark; the rest add nothing.
            if !words.is_empty() {
                out.push((words, Some(ascii_punctuation(c))));
            }
            current.clear();
        } else {
            current.push(c);
        }
    }
    let words = current.trim().trim_matches(|c: char| matches!(c, '"' | '\'' | '”' | '’' | '」' | '』')).to_owned();
    if words.chars().any(char::is_alphanumeric) {
        out.push((words, None));
    }
    out
}

/// Full-width and other punctuation as the ASCII mark a Piper voice knows.
fn ascii_punctuation(c: char) -> char {
    match c {
        '。' | '…' | '।' => '.',
        '！' => '!',
        '？' | '؟' => '?',
        '，' | '、' | '،' => ',',
        '；' => ';',
        '：' => ':',
        other => other,
    }
}

/// The language a text is most likely in, from its script alone: kana means
/// Japanese, Han without kana Chinese, Hangul Korean, and so on; Latin script is
/// taken as English (name `language` for French, German...).
pub fn guess_language(text: &str) -> &'static str {
    let (mut kana, mut han, mut hangul, mut cyrillic, mut arabic, mut greek, mut hebrew, mut devanagari, mut thai) =
        (0usize, 0usize, 0usize, 0usize, 0usize, 0usize, 0usize, 0usize, 0usize);
    let mut letters = 0usize;
    for c in text.chars().filter(|c| c.is_alphabetic()) {
        letters += 1;
        match c as u32 {
            0x3040..=0x30FF | 0x31F0..=0x31FF | 0xFF66..=0xFF9F => kana += 1,
            0x4E00..=0x9FFF | 0x3400..=0x4DBF | 0xF900..=0xFAFF => han += 1,
            0xAC00..=0xD7AF | 0x1100..=0x11FF | 0x3130..=0x318F => hangul += 1,
            0x0400..=0x04FF => cyrillic += 1,
            0x0600..=0x06FF => arabic += 1,
            0x0370..=0x03FF => greek += 1,
            0x0590..=0x05FF => hebrew += 1,
            0x0900..=0x097F => devanagari += 1,
            0x0E00..=0x0E7F => thai += 1,
            _ => {}
        }
    }
    if kana > 0 {
        return "ja";
    }
    let scripts = [
        (han, "zh"),
        (hangul, "ko"),
        (cyrillic, "ru"),
        (arabic, "ar"),
        (greek, "el"),
        (hebrew, "he"),
        (devanagari, "hi"),
        (thai, "th"),
    ];
    match scripts.iter().max_by_key(|(count, _)| *count) {
        Some((count, language)) if *count * 2 > letters.max(1) => language,
        _ => "en",
    }
}

/// Whether a text has Han characters (Japanese kanji espeak-ng cannot read).
pub fn has_han(text: &str) -> bool {
    text.chars().any(|c| matches!(c as u32, 0x4E00..=0x9FFF | 0x3400..=0x4DBF | 0xF900..=0xFAFF))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentences_split_at_their_ends_not_at_abbreviations_or_numbers() {
        let text = "Mr. Smith paid $5.50 for apples. Why?! He said: \"fine.\"\n\nNew paragraph without a stop";
        assert_eq!(
            sentences(text),
            ["Mr. Smith paid $5.50 for apples.", "Why?!", "He said: \"fine.\"", "New paragraph without a stop"]
        );
    }

    #[test]
    fn cjk_sentences_split_at_full_width_marks() {
        assert_eq!(sentences("今日は晴れ。明日は雨！本当？"), ["今日は晴れ。", "明日は雨！", "本当？"]);
        assert_eq!(sentences("你好，世界。再见"), ["你好，世界。", "再见"]);
    }

    #[test]
    fn blank_and_punctuation_only_text_gives_no_sentences() {
        assert!(sentences("   \n ").is_empty());
        assert_eq!(sentences("Hello. ..."), ["Hello...."]);
    }

    #[test]
    fn long_sentences_are_cut_under_the_chunk_size() {
        let long = vec!["word"; 300].join(" ");
        let chunks = sentences(&long);
        assert!(chunks.len() > 1);
        assert!(chunks.iter().all(|chunk| chunk.chars().count() <= MAX_CHUNK_CHARS));
        assert_eq!(chunks.join(" ").split_whitespace().count(), 300);
        let cjk: String = "あ".repeat(1000);
        let chunks = sentences(&cjk);
        assert_eq!(chunks.iter().map(|c| c.chars().count()).sum::<usize>(), 1000);
        assert!(chunks.iter().all(|chunk| chunk.chars().count() <= MAX_CHUNK_CHARS));
    }

    #[test]
    fn clauses_keep_their_punctuation() {
        assert_eq!(
            clauses("Hello there, my friend; it costs 1,000 dollars."),
            [
                ("Hello there".to_owned(), Some(',')),
                ("my friend".to_owned(), Some(';')),
                ("it costs 1,000 dollars".to_owned(), Some('.'))
            ]
        );
        assert_eq!(clauses("你好，世界。"), [("你好".to_owned(), Some(',')), ("世界".to_owned(), Some('.'))]);
        assert_eq!(clauses("no stop"), [("no stop".to_owned(), None)]);
    }

    #[test]
    fn languages_are_guessed_from_the_script() {
        assert_eq!(guess_language("Hello, world"), "en");
        assert_eq!(guess_language("今日は良い天気"), "ja");
        assert_eq!(guess_language("今天天气很好"), "zh");
        assert_eq!(guess_language("안녕하세요"), "ko");
        assert_eq!(guess_language("Привет, мир"), "ru");
        assert_eq!(guess_language("OK 今天天气很好"), "zh");
        assert_eq!(guess_language("1234"), "en");
        assert!(has_han("東京") && !has_han("とうきょう"));
    }
}
