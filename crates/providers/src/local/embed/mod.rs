//! Sentence embedders behind the core's [`Embedder`] port, for the manga pipeline's
//! scene cache.
//!
//! - [`minilm::MiniLm`]: all-MiniLM-L6-v2 (384 dimensions) in pure Rust on candle,
//!   when its files are installed (`scripts/install-models`). Cosines follow meaning,
//!   across paraphrases and (roughly) across languages' own sentences.
//! - [`lexical::Lexical`]: hashed character bigrams and trigrams (1024 dimensions),
//!   the fallback. It measures shared wording, not meaning.
//!
//! [`embedder`] picks one and says why when it falls back.

pub mod lexical;
pub mod minilm;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use atelier_core::ports::Embedder;

pub use lexical::Lexical;
pub use minilm::MiniLm;

/// The environment variable naming the all-MiniLM-L6-v2 directory (holding
/// `model.safetensors`, `tokenizer.json` and `config.json`). The default config
/// (`pipelines.embedding_model_dir` unset) and the tests look there first, then in
/// `$ATELIER_MODELS_DIR/all-MiniLM-L6-v2`, then in
/// `$HOME/.cache/atelier/models/all-MiniLM-L6-v2`, where `scripts/install-models`
/// puts it by default. See [`default_minilm_dir`].
pub const MINILM_DIR_ENV: &str = "ATELIER_MINILM_DIR";

/// The environment variable `scripts/install-models` installs models under
/// (default `$HOME/.cache/atelier/models`).
pub const MODELS_DIR_ENV: &str = "ATELIER_MODELS_DIR";

/// The model's folder name under the models directory.
pub const MINILM_FOLDER: &str = "all-MiniLM-L6-v2";

/// Where all-MiniLM-L6-v2 is looked for when no directory is configured:
/// `$ATELIER_MINILM_DIR`, else `$ATELIER_MODELS_DIR/all-MiniLM-L6-v2`, else
/// `$HOME/.cache/atelier/models/all-MiniLM-L6-v2` (empty variables count as unset).
/// `None` only when none of the three variables is set.
pub fn default_minilm_dir() -> Option<PathBuf> {
    env_path(MINILM_DIR_ENV).or_else(|| models_dir().map(|models| models.join(MINILM_FOLDER)))
}

/// Where `scripts/install-models` puts the offline engines' models:
/// `$ATELIER_MODELS_DIR`, else `$HOME/.cache/atelier/models`; `None` when neither
/// variable is set.
pub fn models_dir() -> Option<PathBuf> {
    env_path(MODELS_DIR_ENV).or_else(|| env_path("HOME").map(|home| home.join(".cache/atelier/models")))
}

/// An environment variable as a path (an empty one counts as unset).
pub fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name).filter(|value| !value.is_empty()).map(PathBuf::from)
}

/// The embedder to use: all-MiniLM-L6-v2 from `model_dir` (or, when `None`, from
/// [`default_minilm_dir`]) when the directory holds its files and they load;
/// otherwise the [`Lexical`] one, with a note saying why, to log at startup.
/// Loading reads 91 MB: call it once and share the result.
pub fn embedder(model_dir: Option<&Path>) -> (Arc<dyn Embedder>, Option<String>) {
    let fallback = |why: String| -> (Arc<dyn Embedder>, Option<String>) {
        let note = format!(
            "{why}; the scene cache compares wording (character n-grams), not meaning, until the model is \
             installed (scripts/install-models)"
        );
        (Arc::new(Lexical::new()), Some(note))
    };
    let dir = match model_dir {
        Some(dir) => dir.to_path_buf(),
        None => match default_minilm_dir() {
            Some(dir) => dir,
            None => {
                return fallback(format!("no {} directory: neither {MINILM_DIR_ENV} nor HOME is set", minilm::METHOD));
            }
        },
    };
    if let Some(file) = minilm::missing_file(&dir) {
        return fallback(format!("{} is not installed: {} is missing", minilm::METHOD, dir.join(file).display()));
    }
    match MiniLm::load(&dir) {
        Ok(model) => (Arc::new(model), None),
        Err(error) => fallback(format!("{} in {} did not load ({})", minilm::METHOD, dir.display(), error.0)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embed_falls_back_to_lexical_with_a_note() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (embedder, note) = embedder(Some(dir.path()));
        assert_eq!((embedder.method(), embedder.dimension()), ("lexical", 1024));
        let note = note.expect("a note");
        assert!(note.contains("model.safetensors is missing"), "{note}");
        assert!(note.contains("scripts/install-models"), "{note}");

        // Files present but not a model: still the fallback, with the load error.
        for file in minilm::FILES {
            std::fs::write(dir.path().join(file), "not a model").expect("write");
        }
        let (embedder, note) = super::embedder(Some(dir.path()));
        assert_eq!(embedder.method(), "lexical");
        assert!(note.expect("a note").contains("did not load"));
    }

    #[test]
    fn embed_picks_minilm_when_installed() {
        if minilm::tests::installed().is_none() {
            return;
        }
        let dir = default_minilm_dir().expect("a model directory");
        let (embedder, note) = embedder(Some(&dir));
        assert_eq!(note, None);
        assert_eq!((embedder.method(), embedder.dimension()), ("all-MiniLM-L6-v2", 384));
        let vectors = embedder.embed(&["a quiet street at dusk".to_string()]).expect("embeds");
        assert_eq!(vectors[0].len(), 384);
    }
}
