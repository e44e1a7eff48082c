//! The scene cache (seed 001 2.3.2): an image made for one scene stands in for a
//! later scene whose features (setting, characters, emotion, camera angle, time of
//! day, and the prompt) are alike enough, within a time window, for the same owner
//! and image model. Alike is the cosine of the two scenes' sentence embeddings
//! (all-MiniLM-L6-v2 when installed; a lexical measure, stated as such, when not).

use std::sync::Arc;
use std::time::Duration;

use crate::ids::{TaskId, UserId};
use crate::ports::Embedder;
use crate::time::Millis;

/// The seed's threshold.
pub const DEFAULT_THRESHOLD: f64 = 0.85;
/// The seed's window: 24 hours.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(24 * 3600);
/// The most recent scenes compared per look-up.
pub const CANDIDATES: u32 = 2000;

/// How the cache is set up.
#[derive(Clone)]
pub struct SceneCache {
    pub embedder: Arc<dyn Embedder>,
    /// Reused at this cosine or above.
    pub threshold: f64,
    /// Only images made this recently.
    pub max_age: Duration,
}

/// One remembered scene: the task that drew it, and its features.
#[derive(Debug, Clone, PartialEq)]
pub struct SceneEntry {
    pub task_id: TaskId,
    pub owner: UserId,
    /// `service/model`.
    pub model: String,
    /// Images under one scope are never reused for one another.
    pub scope: String,
    pub features: String,
    pub vector: Vec<f32>,
    /// The embedding's method; vectors of different methods are not compared.
    pub method: String,
    pub created_at: Millis,
}

/// The candidate most alike `vector`, outside `scope`, with its cosine.
pub fn best_match<'a>(
    candidates: &'a [SceneEntry],
    vector: &[f32],
    method: &str,
    scope: &str,
) -> Option<(&'a SceneEntry, f64)> {
    candidates
        .iter()
        .filter(|entry| entry.method == method && entry.scope != scope)
        .map(|entry| (entry, f64::from(crate::ports::embed::cosine(&entry.vector, vector))))
        .max_by(|a, b| a.1.total_cmp(&b.1))
}

/// Vectors as stored: little-endian `f32`s.
pub fn vector_to_bytes(vector: &[f32]) -> Vec<u8> {
    vector.iter().flat_map(|value| value.to_le_bytes()).collect()
}

pub fn vector_from_bytes(bytes: &[u8]) -> Vec<f32> {
    bytes.chunks_exact(4).map(|chunk| f32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]])).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(scope: &str, vector: Vec<f32>, method: &str) -> SceneEntry {
        SceneEntry {
            task_id: TaskId::new(),
            owner: UserId::new(),
            model: "local/placeholder".into(),
            scope: scope.into(),
            features: String::new(),
            vector,
            method: method.into(),
            created_at: 0,
        }
    }

    #[test]
    fn the_best_match_skips_its_own_scope_and_other_methods() {
        let candidates = vec![
            entry("run:1", vec![1.0, 0.0], "m"),
            entry("run:2", vec![0.6, 0.8], "m"),
            entry("run:3", vec![1.0, 0.0], "other"),
        ];
        let (found, score) = best_match(&candidates, &[1.0, 0.0], "m", "run:1").expect("a match");
        assert_eq!(found.scope, "run:2");
        assert!((score - 0.6).abs() < 1e-6);
        assert!(best_match(&candidates[..1], &[1.0, 0.0], "m", "run:1").is_none());
    }

    #[test]
    fn vectors_survive_their_bytes() {
        let vector = vec![0.25, -1.5, 3.0e-7];
        assert_eq!(vector_from_bytes(&vector_to_bytes(&vector)), vector);
    }
}
