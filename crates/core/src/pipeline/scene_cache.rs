//! The scene cache (seed 001 2.3.2): an image made for one scene stands in for a
//! later scene whose features (setting, characters, emotion, camera angle, time of
//! day, and the prompt) are alike enough, within a time window, for the same owner
//! and image model. Alike is the cosine of the two scenes' sentence embeddings
//! (all-MiniLM-L6-v2 when installed; a lexical measure, stated as such, when not).

use std::collections::HashSet;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use lru::LruCache;

use crate::ids::{TaskId, UserId};
use crate::ports::Embedder;
use crate::time::Millis;

/// The seed's threshold.
pub const DEFAULT_THRESHOLD: f64 = 0.85;
/// The seed's window: 24 hours.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(24 * 3600);
/// The most recent scenes compared per look-up.
pub const CANDIDATES: u32 = 2000;

/// Scenes' vectors kept in memory, by their features' text.
const MEMO_ENTRIES: usize = 4096;

/// How the cache is set up.
#[derive(Clone)]
pub struct SceneCache {
    pub embedder: Arc<dyn Embedder>,
    /// Reused at this cosine or above.
    pub threshold: f64,
    /// Only images made this recently.
    pub max_age: Duration,
    /// Vectors computed already, by features: the driver embeds a phase's next
    /// scenes while the panels before them draw, so the advance that makes their
    /// tasks does not wait for the model.
    memo: Arc<Mutex<Memo>>,
}

struct Memo {
    vectors: LruCache<String, Vec<f32>>,
    /// Being embedded now (not asked for twice).
    pending: HashSet<String>,
}

impl SceneCache {
    pub fn new(embedder: Arc<dyn Embedder>, threshold: f64, max_age: Duration) -> Self {
        let capacity = NonZeroUsize::new(MEMO_ENTRIES).unwrap_or(NonZeroUsize::MIN);
        let memo = Memo { vectors: LruCache::new(capacity), pending: HashSet::new() };
        Self { embedder, threshold, max_age, memo: Arc::new(Mutex::new(memo)) }
    }

    fn memo(&self) -> std::sync::MutexGuard<'_, Memo> {
        self.memo.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The vector of `features`, if computed already.
    pub fn recall(&self, features: &str) -> Option<Vec<f32>> {
        self.memo().vectors.get(features).cloned()
    }

    /// Keeps computed vectors (and clears their pending marks).
    pub fn remember(&self, computed: impl IntoIterator<Item = (String, Vec<f32>)>) {
        let mut memo = self.memo();
        for (features, vector) in computed {
            memo.pending.remove(&features);
            memo.vectors.put(features, vector);
        }
    }

    /// Of `features`, those neither computed nor being computed, marked pending.
    pub fn claim(&self, features: impl IntoIterator<Item = String>) -> Vec<String> {
        let mut memo = self.memo();
        let mut claimed = Vec::new();
        for text in features {
            if !memo.vectors.contains(&text) && memo.pending.insert(text.clone()) {
                claimed.push(text);
            }
        }
        claimed
    }

    /// Gives up pending marks (the embedding failed).
    pub fn release(&self, features: &[String]) {
        let mut memo = self.memo();
        for text in features {
            memo.pending.remove(text);
        }
    }

    /// Embeds the features neither computed nor being computed (a phase's next
    /// scenes, while the ones before them draw) and keeps their vectors.
    pub async fn embed_ahead(&self, features: Vec<String>) -> Result<(), String> {
        let claimed = self.claim(features);
        let embedded = self.embed_and_keep(claimed.clone()).await;
        if embedded.is_err() {
            self.release(&claimed);
        }
        embedded
    }

    /// Embeds the features not computed yet, now (even those being embedded ahead:
    /// the caller needs them at once), and keeps their vectors.
    pub async fn embed_missing(&self, features: &[&str]) -> Result<(), String> {
        let missing: Vec<String> = {
            let memo = self.memo();
            features.iter().filter(|text| !memo.vectors.contains(**text)).map(|text| (*text).to_owned()).collect()
        };
        self.embed_and_keep(missing).await
    }

    /// Embeds `texts` off the async runtime and keeps the vectors.
    async fn embed_and_keep(&self, texts: Vec<String>) -> Result<(), String> {
        if texts.is_empty() {
            return Ok(());
        }
        let embedder = self.embedder.clone();
        let input = texts.clone();
        let vectors = tokio::task::spawn_blocking(move || embedder.embed(&input))
            .await
            .map_err(|error| error.to_string())?
            .map_err(|error| error.to_string())?;
        self.remember(texts.into_iter().zip(vectors));
        Ok(())
    }
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

    /// Counts the texts it is asked to embed.
    struct Counting(std::sync::atomic::AtomicUsize);

    impl Embedder for Counting {
        fn method(&self) -> &str {
            "counting"
        }

        fn dimension(&self) -> usize {
            2
        }

        fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, crate::ports::EmbedError> {
            self.0.fetch_add(texts.len(), std::sync::atomic::Ordering::SeqCst);
            Ok(texts.iter().map(|text| vec![text.len() as f32, 1.0]).collect())
        }
    }

    #[tokio::test]
    async fn scenes_embedded_ahead_are_recalled_and_not_embedded_twice() {
        let embedder = Arc::new(Counting(std::sync::atomic::AtomicUsize::new(0)));
        let cache = SceneCache::new(embedder.clone(), DEFAULT_THRESHOLD, DEFAULT_MAX_AGE);
        assert_eq!(cache.recall("a castle gate at dusk"), None);
        cache.embed_ahead(vec!["a castle gate at dusk".into(), "rain".into()]).await.expect("embedded");
        assert_eq!(cache.recall("rain"), Some(vec![4.0, 1.0]));
        // Asked again (a later advance): nothing is embedded twice.
        cache.embed_ahead(vec!["rain".into(), "a castle gate at dusk".into()]).await.expect("embedded");
        assert_eq!(embedder.0.load(std::sync::atomic::Ordering::SeqCst), 2);
        // A scene being embedded is claimed once; a released claim can be made again.
        assert_eq!(cache.claim(["wind".to_owned(), "wind".to_owned(), "rain".to_owned()]), vec!["wind".to_owned()]);
        assert!(cache.claim(["wind".to_owned()]).is_empty());
        cache.release(&["wind".to_owned()]);
        assert_eq!(cache.claim(["wind".to_owned()]), vec!["wind".to_owned()]);
    }
}
