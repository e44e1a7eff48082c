//! The `local` service: engines that run in this process and finish inside `submit`.
//!
//! [`LocalProvider`] dispatches by model name to one module per engine. Each engine
//! has a typed params struct (`deny_unknown_fields`) and a hand-written JSON Schema
//! that matches it; `validate` returns the input normalised with every default filled
//! in, so the stored input is complete and re-validating it is a no-op.

pub mod instant;
pub mod placeholder;
pub mod qr;
pub mod text;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU8, Ordering};

pub(crate) use crate::kit::params::{check_range, parse_params, to_json};
use async_trait::async_trait;
use atelier_core::CoreError;
use atelier_core::catalog::ModelSpec;
use atelier_core::ports::{ErrorClass, Job, Output, Polled, Provider, ProviderError, Submitted};
use bytes::Bytes;
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
}

impl LocalConfig {
    pub fn new(instant_enabled: bool) -> Self {
        Self { instant_enabled, instant_execution_log: None }
    }
}

/// The `local` service.
#[derive(Debug, Clone)]
pub struct LocalProvider {
    instant_enabled: bool,
    instant_execution_log: Option<PathBuf>,
}

impl LocalProvider {
    pub fn new(config: LocalConfig) -> Self {
        let instant_execution_log = config.instant_execution_log.or_else(|| {
            std::env::var_os(INSTANT_EXECUTION_LOG_ENV).filter(|value| !value.is_empty()).map(PathBuf::from)
        });
        Self { instant_enabled: config.instant_enabled, instant_execution_log }
    }
}

fn unknown_model(model: &str) -> CoreError {
    CoreError::InvalidInput {
        message: format!("unknown model {model:?} for service {SERVICE}"),
        details: serde_json::json!({
            "field": "model",
            "reason": "unknown model",
            "available": [placeholder::MODEL, qr::MODEL, instant::MODEL],
        }),
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
        vec![placeholder::spec(), qr::spec(), instant::spec(self.instant_enabled)]
    }

    fn validate(&self, model: &str, input: &Value) -> Result<Value, CoreError> {
        match model {
            placeholder::MODEL => placeholder::validate(input),
            qr::MODEL => qr::validate(input),
            instant::MODEL => instant::validate(input),
            other => Err(unknown_model(other)),
        }
    }

    fn submit_is_costly(&self) -> bool {
        false
    }

    async fn submit(&self, job: &Job<'_>) -> Result<Submitted, ProviderError> {
        let started = std::time::Instant::now();
        let outputs = match job.model {
            placeholder::MODEL => {
                let params = placeholder::parse(job.input).map_err(rejected)?;
                let progress = job.progress.clone();
                run_blocking("placeholder", move || placeholder::render_all(&params, &progress)).await?
            }
            qr::MODEL => {
                let params = qr::parse(job.input).map_err(rejected)?;
                let progress = job.progress.clone();
                run_blocking("qr", move || {
                    let output = qr::render(&params)?;
                    set_progress(&progress, 1, 1);
                    Ok(vec![output])
                })
                .await?
            }
            instant::MODEL => instant::submit(job, self.instant_execution_log.as_deref()).await?,
            other => return Err(rejected(unknown_model(other))),
        };
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
    Output {
        bytes: Bytes::from(bytes),
        mime: "image/png".to_owned(),
        width: Some(width),
        height: Some(height),
        parameters: Some(parameters),
    }
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

    /// The `field` named by an `InvalidInput` error.
    pub fn error_field(error: &atelier_core::CoreError) -> String {
        match error {
            atelier_core::CoreError::InvalidInput { details, .. } => {
                details.get("field").and_then(Value::as_str).unwrap_or_default().to_owned()
            }
            other => panic!("expected InvalidInput, got {other:?}"),
        }
    }

    /// Checks a hand-written schema against its params struct: the `properties` are
    /// exactly the fields of the normalised input, `required` is as given, every
    /// default equals what validation fills in, and every integer or number bound is
    /// enforced with an error naming the field.
    pub fn check_schema_matches(
        schema: &Value,
        validate: impl Fn(&Value) -> Result<Value, atelier_core::CoreError>,
        minimal: &Value,
        required: &[&str],
    ) {
        assert_eq!(schema["type"], "object");
        assert_eq!(schema["additionalProperties"], false);
        let properties = schema["properties"].as_object().expect("properties");
        let normalised = validate(minimal).expect("minimal input is valid");
        let fields = normalised.as_object().expect("normalised input is an object");
        let mut property_names: Vec<&String> = properties.keys().collect();
        let mut field_names: Vec<&String> = fields.keys().collect();
        property_names.sort();
        field_names.sort();
        assert_eq!(property_names, field_names, "schema properties vs struct fields");

        let mut schema_required: Vec<&str> = schema["required"]
            .as_array()
            .expect("required")
            .iter()
            .map(|v| v.as_str().expect("required entry"))
            .collect();
        schema_required.sort_unstable();
        let mut expected_required = required.to_vec();
        expected_required.sort_unstable();
        assert_eq!(schema_required, expected_required);
        for name in required {
            let mut input = minimal.clone();
            input.as_object_mut().expect("object").remove(*name);
            let error = validate(&input).expect_err("a required field is missing");
            assert_eq!(error_field(&error), *name);
        }

        for (name, property) in properties {
            if let Some(default) = property.get("default") {
                if !default.is_null() {
                    assert_eq!(&fields[name], default, "default of {name}");
                }
                assert!(!required.contains(&name.as_str()), "{name} has a default but is required");
            } else {
                assert!(required.contains(&name.as_str()), "{name} has neither default nor required");
            }
            if let Some(values) = property.get("enum").and_then(Value::as_array) {
                for value in values {
                    let mut input = minimal.clone();
                    input[name] = value.clone();
                    validate(&input).unwrap_or_else(|e| panic!("{name}={value} should pass: {e}"));
                }
                let mut input = minimal.clone();
                input[name] = Value::String("definitely-not-allowed".to_owned());
                let error = validate(&input).expect_err("a value outside the enum");
                assert_eq!(error_field(&error), *name);
            }
            let is_integer = property["type"] == "integer"
                || property["type"].as_array().is_some_and(|types| types.contains(&Value::from("integer")));
            for (bound, step) in [("minimum", -1.0), ("maximum", 1.0)] {
                let Some(limit) = property.get(bound).and_then(Value::as_f64) else {
                    continue;
                };
                let (at, beyond) = if is_integer {
                    let limit = property[bound].as_i64().expect("integer bound");
                    (Value::from(limit), Value::from(limit + step as i64))
                } else {
                    (Value::from(limit), Value::from(limit + step))
                };
                let mut input = minimal.clone();
                input[name] = at.clone();
                validate(&input).unwrap_or_else(|e| panic!("{name}={at} should pass: {e}"));
                input[name] = beyond.clone();
                let error = validate(&input).expect_err("a value out of bounds");
                assert_eq!(error_field(&error), *name, "{name}={beyond}");
            }
            // A wrong type names the field too.
            let mut input = minimal.clone();
            input[name] = Value::Array(vec![]);
            let error = validate(&input).expect_err("a wrong type");
            assert_eq!(error_field(&error), *name);
        }

        let mut input = minimal.clone();
        input["foo"] = Value::from(1);
        let error = validate(&input).expect_err("an unknown field");
        assert_eq!(error_field(&error), "foo");

        let again = validate(&normalised).expect("a normalised input is valid");
        assert_eq!(again, normalised, "validation is idempotent");
    }
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
        assert_eq!(names, ["placeholder", "qr", "instant"]);
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
