//! Sentence embeddings: texts as vectors whose cosine says how alike they are in
//! meaning. The manga pipeline's scene cache compares scenes with them.

/// Turns texts into unit-length vectors of one fixed dimension.
pub trait Embedder: Send + Sync {
    /// What the vectors are, in words a result records (`all-MiniLM-L6-v2`, or
    /// `lexical` for the character n-gram fallback).
    fn method(&self) -> &str;
    /// The vectors' dimension.
    fn dimension(&self) -> usize;
    /// One L2-normalised vector per text, in order. CPU-bound: call it off the
    /// async runtime (`spawn_blocking`).
    fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError>;
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("embedding failed: {0}")]
pub struct EmbedError(pub String);

/// The cosine of two unit vectors (their dot product); 0 when the lengths differ.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    if a.len() != b.len() {
        return 0.0;
    }
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}
