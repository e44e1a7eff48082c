//! The `local` service: engines that run in this process and finish inside `submit`.
//!
//! [`LocalProvider`] dispatches by model name to one module per engine. Each engine
//! has a typed params struct (`deny_unknown_fields`) and a hand-written JSON Schema
//! that matches it; `validate` returns the input normalised with every default filled
//! in, so the stored input is complete and re-validating it is a no-op.

pub mod book;
pub mod embed;
pub mod instant;
pub mod placeholder;
pub mod planner;
pub mod qr;
pub mod relief;
pub mod slideshow;
pub mod speech;
pub mod text;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU8, Ordering};

pub(crate) use crate::kit::params::{check_range, parse_params, to_json};
use crate::kit::{ModelTable, Named};
use async_trait::async_trait;
use atelier_core::CoreError;
use atelier_core::catalog::ModelSpec;
use atelier_core::ports::{ErrorClass, Job, Output, Polled, Provider, ProviderError, Submitted};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The service name of every engine here.
pub const SERVICE: &str = "local";

/// When set to a file path, every submit of the `instant` engine appends the task id
/// and a newline to that file (for crash tests counting executions).
pub const INSTANT_EXECUTION_LOG_ENV: &str = "ATELIER_INSTANT_EXECUTION_LOG";

/// How the local engines are set up.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LocalConfig {
    /// Whether the benchmark-only `instant` engine is routable (`engines.instant.enabled`).
    pub instant_enabled: bool,
    /// Where the `instant` engine records its executions. When `None`,
    /// [`LocalProvider::new`] falls back to the `ATELIER_INSTANT_EXECUTION_LOG`
    /// environment variable.
    pub instant_execution_log: Option<PathBuf>,
    /// Where `local/speech` finds Piper's voices and ONNX Runtime.
    pub speech: crate::config::SpeechConfig,
}

impl LocalConfig {
    pub fn new(instant_enabled: bool) -> Self {
        Self { instant_enabled, ..Self::default() }
    }

    pub fn with_speech(mut self, speech: crate::config::SpeechConfig) -> Self {
        self.speech = speech;
        self
    }
}

/// One built-in engine: its spec, its checks, and the work (which finishes in the
/// call: local engines are never polled).
#[async_trait]
pub trait LocalEngine: Named + Send + Sync {
    fn spec(&self) -> ModelSpec;
    /// Validates an input and returns it normalised, every default filled in.
    fn validate(&self, input: &Value) -> Result<Value, CoreError>;
    /// The file references in a validated input (checked to exist before the
    /// task is accepted).
    fn input_files(&self, _input: &Value) -> Vec<String> {
        Vec::new()
    }
    async fn run(&self, job: &Job<'_>) -> Result<Vec<Output>, ProviderError>;
}

/// The `local` service.
pub struct LocalProvider {
    engines: ModelTable<dyn LocalEngine>,
}

impl LocalProvider {
    pub fn new(config: LocalConfig) -> Self {
        let execution_log = config.instant_execution_log.or_else(|| {
            std::env::var_os(INSTANT_EXECUTION_LOG_ENV).filter(|value| !value.is_empty()).map(PathBuf::from)
        });
        let instant = instant::Instant { enabled: config.instant_enabled, execution_log };
        let engines: Vec<Box<dyn LocalEngine>> = vec![
            Box::new(placeholder::Placeholder),
            Box::new(qr::Qr),
            Box::new(planner::Planner),
            Box::new(book::letterer::Letterer),
            Box::new(book::binder::Binder),
            Box::new(relief::Relief),
            Box::new(speech::Speech::new(config.speech.clone())),
            Box::new(slideshow::Slideshow),
            Box::new(instant),
        ];
        Self { engines: ModelTable::new(SERVICE, engines) }
    }
}

/// A validation failure met at submit time: the input was validated when the task was
/// created, so this means the stored input is not one we accept.
fn rejected(error: CoreError) -> ProviderError {
    ProviderError::new(ErrorClass::ClientError, error.to_string())
}

fn not_polled() -> ProviderError {
    ProviderError::new(ErrorClass::ClientError, "local engines finish in submit: there is nothing to poll or cancel")
}

#[async_trait]
impl Provider for LocalProvider {
    fn service(&self) -> &str {
        SERVICE
    }

    fn models(&self) -> Vec<ModelSpec> {
        self.engines.iter().map(LocalEngine::spec).collect()
    }

    fn validate(&self, model: &str, input: &Value) -> Result<Value, CoreError> {
        self.engines.for_input(model)?.validate(input)
    }

    fn submit_is_costly(&self) -> bool {
        false
    }

    fn input_files(&self, model: &str, input: &Value) -> Vec<String> {
        self.engines.for_input(model).map(|engine| engine.input_files(input)).unwrap_or_default()
    }

    async fn submit(&self, job: &Job<'_>) -> Result<Submitted, ProviderError> {
        let started = std::time::Instant::now();
        let outputs = self.engines.for_job(job.model)?.run(job).await?;
        tracing::debug!(
            task_id = %job.task_id,
            model = job.model,
            outputs = outputs.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "local engine finished"
        );
        Ok(Submitted::Finished(outputs))
    }

    async fn poll(&self, _job: &Job<'_>, _external_id: &str) -> Result<Polled, ProviderError> {
        Err(not_polled())
    }

    async fn cancel(&self, _external_id: &str) -> Result<(), ProviderError> {
        Err(not_polled())
    }
}

/// Runs CPU-bound rendering on the blocking pool.
async fn run_blocking<F>(engine: &'static str, work: F) -> Result<Vec<Output>, ProviderError>
where
    F: FnOnce() -> Result<Vec<Output>, ProviderError> + Send + 'static,
{
    tokio::task::spawn_blocking(work).await.map_err(|error| {
        ProviderError::new(ErrorClass::GenerationFailed, format!("the {engine} engine failed: {error}"))
    })?
}

fn set_progress(progress: &AtomicU8, done: usize, total: usize) {
    let percent = (done.min(total) * 100).checked_div(total).map_or(100, |p| p.min(100) as u8);
    progress.store(percent, Ordering::Relaxed);
}

// ---------------------------------------------------------------------------------
// Shared helpers for the engines.
// ---------------------------------------------------------------------------------

/// JSON with object keys sorted at every level and no whitespace: the same value
/// always gives the same bytes, whatever map order serde_json is built with.
pub(crate) fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(item, out);
            }
            out.push('}');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// The parameters embedded in an output (the asset store writes them into the PNG).
pub(crate) fn output_parameters(model: &str, input: &Value, image_index: usize) -> String {
    canonical_json(&serde_json::json!({
        "service": SERVICE,
        "model": model,
        "input": input,
        "image_index": image_index,
    }))
}

pub(crate) fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Encodes 8-bit RGB pixels as a PNG with fast (deterministic) compression.
pub(crate) fn encode_png_rgb(width: u32, height: u32, pixels: &[u8]) -> Result<Vec<u8>, ProviderError> {
    let failed = |error: png::EncodingError| {
        ProviderError::new(ErrorClass::GenerationFailed, format!("PNG encoding failed: {error}"))
    };
    let mut bytes = Vec::with_capacity(pixels.len() / 3 + 1024);
    {
        let mut encoder = png::Encoder::new(&mut bytes, width, height);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        encoder.set_compression(png::Compression::Fast);
        let mut writer = encoder.write_header().map_err(failed)?;
        writer.write_image_data(pixels).map_err(failed)?;
        writer.finish().map_err(failed)?;
    }
    Ok(bytes)
}

pub(crate) fn png_output(width: u32, height: u32, bytes: Vec<u8>, parameters: String) -> Output {
    Output::new(bytes, "image/png").with_size(width, height).with_parameters(Some(parameters))
}

/// SplitMix64: tiny, fast, and stable forever (unlike `StdRng`, whose algorithm may
/// change between `rand` versions), so the same seed gives the same image.
#[derive(Debug, Clone)]
pub(crate) struct SplitMix64(u64);

impl SplitMix64 {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub(crate) fn next_f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// Uniform in `[lo, hi)`.
    pub(crate) fn range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.next_f32()
    }

    /// Uniform in `0..n` (`n > 0`).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        (self.next_u64() % n as u64) as usize
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    use std::sync::Arc;
    use std::sync::atomic::AtomicU8;

    use atelier_core::TaskId;
    use atelier_core::ports::Job;
    use serde_json::Value;

    pub fn job<'a>(model: &'a str, input: &'a Value) -> Job<'a> {
        Job {
            task_id: TaskId::new(),
            model,
            input,
            attempt: 1,
            running_for: std::time::Duration::ZERO,
            progress: Arc::new(AtomicU8::new(0)),
            files: &atelier_core::ports::NoInputFiles,
        }
    }

    pub use crate::kit::schema::error_field;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_json_sorts_keys() {
        let value = serde_json::json!({"b": 1, "a": {"d": [1, {"z": null, "y": "x"}], "c": true}});
        assert_eq!(canonical_json(&value), r#"{"a":{"c":true,"d":[1,{"y":"x","z":null}]},"b":1}"#);
    }

    #[test]
    fn split_mix_is_stable() {
        let mut rng = SplitMix64::new(0);
        assert_eq!(rng.next_u64(), 0xE220_A839_7B1D_CDAF);
        let x = rng.next_f32();
        assert!((0.0..1.0).contains(&x));
    }

    #[test]
    fn unknown_models_are_rejected() {
        let provider = LocalProvider::new(LocalConfig::new(false));
        let error = provider.validate("nope", &serde_json::json!({})).expect_err("unknown model");
        assert_eq!(test_support::error_field(&error), "model");
    }

    #[test]
    fn non_objects_are_rejected() {
        let provider = LocalProvider::new(LocalConfig::new(false));
        let error = provider.validate("qr", &serde_json::json!([1])).expect_err("not an object");
        assert_eq!(test_support::error_field(&error), "input");
    }

    #[test]
    fn models_are_listed_and_instant_needs_config() {
        let disabled = LocalProvider::new(LocalConfig::new(false)).models();
        let names: Vec<&str> = disabled.iter().map(|m| m.model.as_str()).collect();
        assert_eq!(
            names,
            ["placeholder", "qr", "planner", "letterer", "binder", "relief", "speech", "slideshow", "instant"]
        );
        assert!(disabled.iter().all(|m| m.service == SERVICE));
        let instant = disabled.iter().find(|m| m.model == "instant").expect("instant");
        assert_eq!(instant.requires_config.as_deref(), Some("engines.instant.enabled"));
        let enabled = LocalProvider::new(LocalConfig::new(true)).models();
        assert!(enabled.iter().all(ModelSpec::is_usable));
    }

    #[tokio::test]
    async fn poll_and_cancel_are_client_errors() {
        let provider = LocalProvider::new(LocalConfig::new(true));
        let input = serde_json::json!({});
        let job = test_support::job("instant", &input);
        let error = provider.poll(&job, "x").await.expect_err("nothing to poll");
        assert_eq!(error.class, ErrorClass::ClientError);
        let error = provider.cancel("x").await.expect_err("nothing to cancel");
        assert_eq!(error.class, ErrorClass::ClientError);
        assert!(!provider.submit_is_costly());
    }
}
