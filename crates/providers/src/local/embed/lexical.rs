//! The fallback embedder when all-MiniLM-L6-v2 is not installed: a hashed bag of
//! character bigrams and trigrams.
//!
//! It measures **shared wording, not meaning**: "a cat sits on the mat" and "a
//! kitten rests on a rug" score low (few letters in common) while two sentences
//! that differ in one word score high, whatever that word does to the sense.
//! Word order matters only inside the trigrams that straddle a space, so reordered
//! words still score high. Character n-grams need no tokenizer and work for text
//! without spaces: for Chinese and Japanese, bigrams of characters are close to
//! words.
//!
//! The text is lower-cased and its whitespace collapsed to single spaces, with a
//! space at each end (so a word's first and last letters make n-grams of their own).
//! Each n-gram is hashed (FNV-1a, stable across builds and platforms) to one of
//! [`DIMENSION`] buckets with a sign taken from the hash (the "hashing trick"), so
//! that collisions cancel out on average and texts sharing nothing score about 0
//! rather than a positive floor. The counts are then L2-normalised.

use atelier_core::ports::{EmbedError, Embedder};

/// What [`Lexical::method`] reports.
pub const METHOD: &str = "lexical";
/// The vectors' dimension.
pub const DIMENSION: usize = 1024;

/// Character n-gram vectors. Stateless and cheap: about a microsecond per character.
#[derive(Debug, Clone, Copy, Default)]
pub struct Lexical;

impl Lexical {
    pub fn new() -> Self {
        Self
    }

    /// The unit vector of one text. A text that is empty (or only whitespace) gets
    /// the vector of a lone space, the same for every such text.
    pub fn vector(text: &str) -> Vec<f32> {
        let mut chars = vec![' '];
        for word in text.split_whitespace() {
            chars.extend(word.chars().flat_map(char::to_lowercase));
            chars.push(' ');
        }
        if chars.len() == 1 {
            chars.push(' ');
        }
        let mut vector = vec![0f32; DIMENSION];
        let mut buffer = [0u8; 4];
        for n in 2..=3 {
            for gram in chars.windows(n) {
                // The length goes into the hash so "ab" and a trigram never coincide by construction.
                let mut hash = fnv1a(FNV_OFFSET, &[n as u8]);
                for c in gram {
                    hash = fnv1a(hash, c.encode_utf8(&mut buffer).as_bytes());
                }
                let bucket = (hash % DIMENSION as u64) as usize;
                vector[bucket] += if hash >> 63 == 0 { 1.0 } else { -1.0 };
            }
        }
        let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
        if norm == 0.0 {
            // Every bucket cancelled out (possible in principle with an even number
            // of n-grams, never seen): keep the promise of a unit vector.
            vector[0] = 1.0;
        } else {
            vector.iter_mut().for_each(|x| *x /= norm);
        }
        vector
    }
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

fn fnv1a(mut hash: u64, bytes: &[u8]) -> u64 {
    for &byte in bytes {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(FNV_PRIME);
    }
    hash
}

impl Embedder for Lexical {
    fn method(&self) -> &str {
        METHOD
    }

    fn dimension(&self) -> usize {
        DIMENSION
    }

    fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        Ok(texts.iter().map(|text| Self::vector(text)).collect())
    }
}

#[cfg(test)]
mod tests {
    use atelier_core::ports::embed::cosine;

    use super::*;

    fn cos(a: &str, b: &str) -> f32 {
        cosine(&Lexical::vector(a), &Lexical::vector(b))
    }

    #[test]
    fn lexical_vectors_are_unit_length() {
        let lexical = Lexical::new();
        assert_eq!((lexical.method(), lexical.dimension()), ("lexical", 1024));
        let texts: Vec<String> = ["A cat sits on the mat.", "", "   ", "x", "夕暮れの教室で二人が話す"]
            .iter()
            .map(|t| t.to_string())
            .collect();
        let vectors = lexical.embed(&texts).expect("embeds");
        assert_eq!(vectors.len(), texts.len());
        for v in &vectors {
            assert_eq!(v.len(), DIMENSION);
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            assert!((norm - 1.0).abs() < 1e-5, "norm {norm}");
        }
        assert!((cosine(&vectors[1], &vectors[2]) - 1.0).abs() < 1e-5, "empty and blank are alike");
    }

    #[test]
    fn lexical_identical_texts_score_one_and_case_and_spacing_do_not_count() {
        assert!((cos("A cat sits on the mat.", "A cat sits on the mat.") - 1.0).abs() < 1e-5);
        assert!((cos("A cat  sits\non the MAT.", "a cat sits on the mat.") - 1.0).abs() < 1e-5);
        assert!((cos("夕暮れの教室", "夕暮れの教室") - 1.0).abs() < 1e-5);
        // Stable across runs and builds: a fixed hash, not std's random one.
        assert_eq!(Lexical::vector("stable"), Lexical::vector("stable"));
    }

    #[test]
    fn lexical_disjoint_texts_score_about_zero() {
        let c = cos("xyzzy plugh", "mmm bbb");
        assert!(c.abs() < 0.15, "{c}");
        let c = cos("宇宙船が爆発する", "quiet harbour at dawn");
        assert!(c.abs() < 0.15, "{c}");
        // Long texts too: signed hashing leaves no collision floor.
        let a: String = (0..200).map(|i| char::from_u32(0x4E00 + i).expect("CJK")).collect();
        let b: String = (200..400).map(|i| char::from_u32(0x4E00 + i).expect("CJK")).collect();
        let c = cos(&a, &b);
        assert!(c.abs() < 0.15, "{c}");
    }

    #[test]
    fn lexical_reordered_words_score_high() {
        let c = cos("the cat sat on the mat", "on the mat the cat sat");
        assert!(c > 0.9, "{c}");
        // Without spaces every seam between moved chunks makes new n-grams: a short
        // CJK sentence cut in three and reordered keeps about two thirds.
        let c = cos("夕暮れの教室で二人が話す", "二人が夕暮れの教室で話す");
        assert!(c > 0.6, "{c}");
    }

    #[test]
    fn lexical_measures_wording_not_meaning() {
        // Shared wording ranks above shared meaning: the documented limit.
        let wording = cos("A cat sits on the mat.", "A cat sits on the hat.");
        let meaning = cos("A cat sits on the mat.", "A kitten is resting on a rug.");
        assert!(wording > 0.8, "{wording}");
        assert!(meaning < wording, "{meaning} vs {wording}");
        // CJK bigrams: a shared place ranks above an unrelated scene.
        let alike = cos("夕暮れの教室で二人が話す", "放課後の教室、夕日の中で会話する");
        let unlike = cos("夕暮れの教室で二人が話す", "宇宙船が爆発する");
        assert!(alike > unlike, "{alike} vs {unlike}");
    }
}
