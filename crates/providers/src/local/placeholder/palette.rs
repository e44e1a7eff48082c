//! The placeholder's colours: a palette drawn from the colour words of the prompt
//! (English, Chinese and Japanese), or from the seed when it names none.

use super::super::SplitMix64;

pub(super) type Rgb = [f32; 3];

pub(super) struct Palette {
    /// Gradient ends.
    pub(super) background: [Rgb; 2],
    pub(super) accents: Vec<Rgb>,
}

const RED: Rgb = [214.0, 40.0, 40.0];
const ORANGE: Rgb = [242.0, 133.0, 30.0];
const YELLOW: Rgb = [245.0, 212.0, 48.0];
const GREEN: Rgb = [46.0, 160.0, 72.0];
const BLUE: Rgb = [36.0, 88.0, 214.0];
const PURPLE: Rgb = [128.0, 58.0, 186.0];
const PINK: Rgb = [238.0, 128.0, 178.0];
const BROWN: Rgb = [128.0, 80.0, 42.0];
const BLACK: Rgb = [18.0, 18.0, 22.0];
const WHITE: Rgb = [246.0, 245.0, 240.0];
const GRAY: Rgb = [128.0, 128.0, 132.0];
const GOLD: Rgb = [212.0, 172.0, 52.0];
const SILVER: Rgb = [192.0, 194.0, 202.0];
const TEAL: Rgb = [0.0, 128.0, 128.0];
const CYAN: Rgb = [0.0, 196.0, 220.0];
const MAGENTA: Rgb = [208.0, 38.0, 160.0];

fn english_colour(word: &str) -> Option<Rgb> {
    Some(match word {
        "red" | "reddish" | "crimson" | "scarlet" | "ruby" => RED,
        "orange" | "orangey" | "amber" | "tangerine" => ORANGE,
        "yellow" | "yellowish" | "lemon" => YELLOW,
        "green" | "greenish" | "emerald" | "lime" | "olive" => GREEN,
        "blue" | "bluish" | "navy" | "azure" | "sapphire" | "cobalt" => BLUE,
        "purple" | "purplish" | "violet" | "lavender" | "indigo" | "lilac" => PURPLE,
        "pink" | "pinkish" | "rosy" => PINK,
        "brown" | "brownish" | "chocolate" | "tan" => BROWN,
        "black" => BLACK,
        "white" => WHITE,
        "gray" | "grey" | "greyish" | "grayish" => GRAY,
        "gold" | "golden" => GOLD,
        "silver" => SILVER,
        "teal" | "turquoise" => TEAL,
        "cyan" | "aqua" => CYAN,
        "magenta" | "fuchsia" => MAGENTA,
        _ => return None,
    })
}

fn cjk_colour(c: char) -> Option<Rgb> {
    Some(match c {
        '红' | '紅' | '赤' => RED,
        '橙' => ORANGE,
        '黄' | '黃' => YELLOW,
        '绿' | '綠' | '緑' => GREEN,
        '蓝' | '藍' | '青' => BLUE,
        '紫' => PURPLE,
        '粉' => PINK,
        '棕' | '褐' => BROWN,
        '黑' | '黒' => BLACK,
        '白' => WHITE,
        '灰' => GRAY,
        '金' => GOLD,
        '银' | '銀' => SILVER,
        _ => return None,
    })
}

/// The colours named in `text`, in order of first appearance, without repeats.
pub(super) fn named_colours(text: &str) -> Vec<Rgb> {
    let mut found: Vec<(usize, Rgb)> = Vec::new();
    let mut word_start: Option<usize> = None;
    let lower = text.to_lowercase();
    let push_word = |start: usize, end: usize, found: &mut Vec<(usize, Rgb)>| {
        if let Some(colour) = english_colour(&lower[start..end]) {
            found.push((start, colour));
        }
    };
    for (i, c) in lower.char_indices() {
        if c.is_ascii_alphabetic() {
            word_start.get_or_insert(i);
            continue;
        }
        if let Some(start) = word_start.take() {
            push_word(start, i, &mut found);
        }
        if let Some(colour) = cjk_colour(c) {
            found.push((i, colour));
        }
    }
    if let Some(start) = word_start {
        push_word(start, lower.len(), &mut found);
    }
    found.sort_by_key(|(position, _)| *position);
    let mut colours: Vec<Rgb> = Vec::new();
    for (_, colour) in found {
        if !colours.contains(&colour) {
            colours.push(colour);
        }
    }
    colours
}

pub(super) fn mix(a: Rgb, b: Rgb, t: f32) -> Rgb {
    [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t]
}

pub(super) fn hsv(h: f32, s: f32, v: f32) -> Rgb {
    let h = (h.rem_euclid(1.0)) * 6.0;
    let sector = h.floor();
    let f = h - sector;
    let (p, q, t) = (v * (1.0 - s), v * (1.0 - s * f), v * (1.0 - s * (1.0 - f)));
    let (r, g, b) = match sector as u8 {
        0 => (v, t, p),
        1 => (q, v, p),
        2 => (p, v, t),
        3 => (p, q, v),
        4 => (t, p, v),
        _ => (v, p, q),
    };
    [r * 255.0, g * 255.0, b * 255.0]
}

pub(super) fn palette(prompt: &str, negative_prompt: &str, rng: &mut SplitMix64) -> Palette {
    let unwanted = named_colours(negative_prompt);
    let named: Vec<Rgb> = named_colours(prompt).into_iter().filter(|c| !unwanted.contains(c)).collect();
    if !named.is_empty() {
        let first = named[0];
        let second = named.get(1).copied().unwrap_or(first);
        let background = [mix(first, BLACK, rng.range(0.2, 0.45)), mix(second, WHITE, rng.range(0.05, 0.25))];
        let accents = (0..6)
            .map(|i| {
                let base = named[i % named.len()];
                if rng.next_f32() < 0.5 {
                    mix(base, WHITE, rng.range(0.1, 0.5))
                } else {
                    mix(base, BLACK, rng.range(0.1, 0.5))
                }
            })
            .collect();
        return Palette { background, accents };
    }
    let hue = rng.next_f32();
    let offsets: &[f32] = match rng.below(3) {
        0 => &[0.0, 0.08, -0.08, 0.5],
        1 => &[0.0, 0.5, 0.45, 0.05],
        _ => &[0.0, 1.0 / 3.0, 2.0 / 3.0, 0.1],
    };
    let saturation = rng.range(0.45, 0.85);
    let background = [
        hsv(hue, saturation, rng.range(0.22, 0.38)),
        hsv(hue + offsets[1] * 0.5, saturation * 0.8, rng.range(0.6, 0.8)),
    ];
    let accents = (0..6)
        .map(|i| {
            let offset = offsets[i % offsets.len()];
            hsv(hue + offset + rng.range(-0.03, 0.03), rng.range(0.45, 0.9), rng.range(0.55, 0.98))
        })
        .collect();
    Palette { background, accents }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_words_are_found_in_order() {
        assert_eq!(named_colours("Blue sky, RED barn and blue again"), vec![BLUE, RED]);
        assert_eq!(named_colours("bored credit"), Vec::<Rgb>::new());
        assert_eq!(named_colours("赤い花と青い空"), vec![RED, BLUE]);
        assert_eq!(named_colours("金色の夕日 grey"), vec![GOLD, GRAY]);
        assert_eq!(named_colours("green"), vec![GREEN]);
    }
}
