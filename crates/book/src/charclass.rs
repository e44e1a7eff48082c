//! Character classes that line breaking and vertical writing need: where a line may
//! break in CJK text, the kinsoku (禁則) sets, and which characters stand upright in a
//! vertical column.

/// Characters that must not start a line or column (行頭禁則): closing brackets,
/// sentence and phrase marks, the long-vowel mark, small kana, iteration marks.
const NO_START: &str = concat!(
    "、。，．,.・：；:;？！?!‼⁇⁈⁉",
    "ー‐゠–〜～…‥ヽヾゝゞ々〻゛゜",
    "」』）】〕］｝〉》〙〗〟｣’”»)]}",
    "ぁぃぅぇぉっゃゅょゎゕゖァィゥェォッャュョヮヵヶ",
    "ㇰㇱㇲㇳㇴㇵㇶㇷㇸㇹㇺㇻㇼㇽㇾㇿｧｨｩｪｫｬｭｮｯｰ",
    "｡､･%％‰℃°′″¢",
);

/// Characters that must not end a line or column (行末禁則): opening brackets.
const NO_END: &str = "「『（【〔［｛〈《〘〖｢‘“«([{￥＄$£";

/// Whether `c` may not begin a line or column.
pub(crate) fn is_no_start(c: char) -> bool {
    NO_START.contains(c)
}

/// Whether `c` may not end a line or column.
pub(crate) fn is_no_end(c: char) -> bool {
    NO_END.contains(c)
}

/// Runs of these are never split (a doubled ellipsis or dash is one mark).
pub(crate) fn is_inseparable(c: char) -> bool {
    matches!(c, '…' | '‥' | '—' | '―')
}

/// Whether `c` belongs to the CJK scripts and punctuation, where a line may break
/// between any two characters (subject to kinsoku), unlike Latin text which breaks at
/// spaces.
pub(crate) fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x1100..=0x11FF      // Hangul Jamo
        | 0x2E80..=0x2FDF    // CJK radicals, Kangxi radicals
        | 0x2FF0..=0x303F    // ideographic description, CJK symbols and punctuation
        | 0x3040..=0x30FF    // Hiragana, Katakana
        | 0x3100..=0x31FF    // Bopomofo, Hangul compatibility Jamo, Kanbun, strokes, small kana
        | 0x3200..=0x33FF    // enclosed CJK, CJK compatibility
        | 0x3400..=0x4DBF    // CJK extension A
        | 0x4E00..=0x9FFF    // CJK unified ideographs
        | 0xA960..=0xA97F    // Hangul Jamo extended A
        | 0xAC00..=0xD7FF    // Hangul syllables, Jamo extended B
        | 0xF900..=0xFAFF    // CJK compatibility ideographs
        | 0xFE10..=0xFE1F    // vertical forms
        | 0xFE30..=0xFE4F    // CJK compatibility forms
        | 0xFF00..=0xFFEF    // half- and full-width forms
        | 0x1B000..=0x1B16F  // kana supplement, extended
        | 0x20000..=0x3FFFF  // CJK extensions B and later
    )
}

/// How a character stands in a vertical column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum VerticalOrientation {
    /// Upright, as in horizontal text (ideographs, kana).
    Upright,
    /// Upright, with the font's vertical alternate (`vert`) when it has one: 、。 and
    /// the small kana, which move to the top-right of their cell.
    TransformOrUpright,
    /// The font's vertical alternate (`vert`) when it has one, else turned 90°
    /// clockwise: brackets, the long-vowel mark, dashes, ellipses, the wave dash.
    TransformOrRotate,
    /// Turned 90° clockwise (Latin letters, digits, Western punctuation).
    Rotated,
}

/// The orientation of `c` in vertical text, after Unicode's Vertical_Orientation
/// property (UAX #50), simplified.
pub(crate) fn vertical_orientation(c: char) -> VerticalOrientation {
    use VerticalOrientation::*;
    match c {
        '、' | '。' | '，' | '．' => TransformOrUpright,
        'ー' | '〜' | '～' | '…' | '‥' | '—' | '―' | '‐' | '゠' | '＝' | '－' | '：' | '；' | '＿' | '｜' | '〰'
        | '＜' | '＞' | '＾' | '￣' => TransformOrRotate,
        '\u{3008}'..='\u{3011}' | '\u{3014}'..='\u{301F}' => TransformOrRotate,
        '（' | '）' | '［' | '］' | '｛' | '｝' | '｟' | '｠' => TransformOrRotate,
        'ぁ' | 'ぃ' | 'ぅ' | 'ぇ' | 'ぉ' | 'っ' | 'ゃ' | 'ゅ' | 'ょ' | 'ゎ' | 'ァ' | 'ィ' | 'ゥ' | 'ェ' | 'ォ'
        | 'ッ' | 'ャ' | 'ュ' | 'ョ' | 'ヮ' | 'ヵ' | 'ヶ' => TransformOrUpright,
        // Half-width katakana and signs turn with the Latin text around them.
        '\u{FF61}'..='\u{FFDC}' | '\u{FFE8}'..='\u{FFEE}' => Rotated,
        '§' | '©' | '®' | '±' | '¼' | '½' | '¾' | '×' | '÷' | '‖' | '†' | '‡' | '‰' | '※' | '‼' | '⁇' | '⁈' | '⁉' => {
            Upright
        }
        '\u{2100}'..='\u{214F}' | '\u{2460}'..='\u{24FF}' | '\u{25A0}'..='\u{27BF}' => Upright,
        '\u{1F000}'..='\u{1FAFF}' => Upright,
        c if is_cjk(c) => Upright,
        _ => Rotated,
    }
}

/// Whether `c` may stand in a tate-chu-yoko (縦中横) group: one or two half-width
/// characters set upright, side by side, in one cell of a vertical column.
pub(crate) fn is_tate_chu_yoko(c: char) -> bool {
    c.is_ascii_digit() || c == '!' || c == '?'
}

/// Whether `c` is a space at which a line may break and which may hang at a line's end.
pub(crate) fn is_break_space(c: char) -> bool {
    matches!(c, ' ' | '\u{3000}' | '\u{2002}'..='\u{200A}' | '\u{205F}')
}

/// Characters that never need a glyph of their own: they join or modify their
/// neighbours (joiners, variation selectors, combining marks are handled by shaping).
pub(crate) fn is_invisible(c: char) -> bool {
    matches!(c as u32, 0x200B..=0x200F | 0x2060..=0x2064 | 0xFE00..=0xFE0F | 0xFEFF | 0xE0100..=0xE01EF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinsoku_sets() {
        for c in "、。，．・：；？！ー」』）】〕ゃゅょっぁぃぅぇぉャュョッァィゥェォ々".chars()
        {
            assert!(is_no_start(c), "{c} may not start a line");
        }
        for c in "「『（【〔".chars() {
            assert!(is_no_end(c), "{c} may not end a line");
        }
        assert!(!is_no_start('猫'));
        assert!(!is_no_end('猫'));
    }

    #[test]
    fn orientation() {
        assert_eq!(vertical_orientation('猫'), VerticalOrientation::Upright);
        assert_eq!(vertical_orientation('あ'), VerticalOrientation::Upright);
        assert_eq!(vertical_orientation('。'), VerticalOrientation::TransformOrUpright);
        assert_eq!(vertical_orientation('ょ'), VerticalOrientation::TransformOrUpright);
        assert_eq!(vertical_orientation('「'), VerticalOrientation::TransformOrRotate);
        assert_eq!(vertical_orientation('ー'), VerticalOrientation::TransformOrRotate);
        assert_eq!(vertical_orientation('A'), VerticalOrientation::Rotated);
        assert_eq!(vertical_orientation('7'), VerticalOrientation::Rotated);
        assert!(is_cjk('ア') && is_cjk('한') && !is_cjk('a'));
    }
}
