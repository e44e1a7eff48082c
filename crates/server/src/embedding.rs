//! The scene cache's embedder, loaded on first use (the model is 90 MB: a server
//! that never draws a manga never reads it).

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use atelier_core::ports::{EmbedError, Embedder};

pub struct LazyEmbedder {
    dir: Option<PathBuf>,
    loaded: OnceLock<Arc<dyn Embedder>>,
}

impl LazyEmbedder {
    pub fn new(dir: Option<PathBuf>) -> Self {
        Self { dir, loaded: OnceLock::new() }
    }

    fn get(&self) -> &Arc<dyn Embedder> {
        self.loaded.get_or_init(|| {
            let (embedder, note) = atelier_providers::local::embed::embedder(self.dir.as_deref());
            match note {
                Some(note) => tracing::warn!(method = embedder.method(), "{note}"),
                None => {
                    tracing::info!(method = embedder.method(), "the scene cache compares scenes by sentence embeddings")
                }
            }
            embedder
        })
    }
}

impl Embedder for LazyEmbedder {
    fn method(&self) -> &str {
        self.get().method()
    }

    fn dimension(&self) -> usize {
        self.get().dimension()
    }

    fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        self.get().embed(texts)
    }
}
