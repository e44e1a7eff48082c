//! `local/instant`: benchmark-only, an 8x8 PNG at once.
//!
//! The image is derived from the input (the same input gives the same bytes). An
//! optional `delay_ms` waits (without blocking a thread) before finishing, so tests
//! can keep tasks in flight. When an execution log is configured (see
//! [`crate::INSTANT_EXECUTION_LOG_ENV`]), every submit first appends `<task_id>\n` to
//! it in a single write, so crash tests can count executions.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use atelier_core::catalog::{Modality, ModelSpec};
use atelier_core::ports::{ErrorClass, Job, Output, ProviderError};
use atelier_core::{CoreError, TaskId};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::LocalEngine;
use super::{
    SERVICE, canonical_json, check_range, encode_png_rgb, output_parameters, parse_params, png_output, rejected,
    set_progress, sha256, to_json,
};
use crate::kit::Named;
use async_trait::async_trait;

pub const MODEL: &str = "instant";

/// The config key that enables the engine.
pub const CONFIG_KEY: &str = "engines.instant.enabled";

const SIDE: u32 = 8;
const MAX_PROMPT_CHARS: usize = 4000;
const MAX_DELAY_MS: i64 = 60_000;

/// The input of `local/instant`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstantParams {
    #[serde(default)]
    pub prompt: String,
    #[serde(default)]
    pub seed: i64,
    #[serde(default)]
    pub delay_ms: i64,
}

pub fn spec(enabled: bool) -> ModelSpec {
    ModelSpec {
        service: SERVICE.to_owned(),
        model: MODEL.to_owned(),
        aliases: Vec::new(),
        modality: Modality::Image,
        title: "Instant (benchmark only)".to_owned(),
        description: "benchmark-only, produces an 8x8 image instantly (after delay_ms, if given); not a real \
                      generator."
            .to_owned(),
        input_schema: input_schema(),
        estimated_seconds: 0,
        poll_timeout_secs: None,
        requires_config: (!enabled).then(|| CONFIG_KEY.to_owned()),
    }
}

fn input_schema() -> Value {
    json!({
        "type": "object",
        "title": "local/instant input",
        "additionalProperties": false,
        "required": [],
        "properties": {
            "prompt": { "type": "string", "maxLength": MAX_PROMPT_CHARS, "default": "", "description": "Only varies the image." },
            "seed": { "type": "integer", "minimum": 0, "maximum": u32::MAX, "default": 0, "description": "Only varies the image." },
            "delay_ms": {
                "type": "integer", "minimum": 0, "maximum": MAX_DELAY_MS, "default": 0,
                "description": "Wait this long before finishing (to keep tasks in flight in tests)."
            }
        }
    })
}

pub fn parse(input: &Value) -> Result<InstantParams, CoreError> {
    let params: InstantParams = parse_params(input)?;
    let prompt_chars = params.prompt.chars().count();
    if prompt_chars > MAX_PROMPT_CHARS {
        return Err(CoreError::invalid(
            "prompt",
            format!("must be at most {MAX_PROMPT_CHARS} characters, got {prompt_chars}"),
        ));
    }
    check_range("seed", params.seed, 0, i64::from(u32::MAX))?;
    check_range("delay_ms", params.delay_ms, 0, MAX_DELAY_MS)?;
    Ok(params)
}

pub fn validate(input: &Value) -> Result<Value, CoreError> {
    to_json(&parse(input)?)
}

/// Records the execution (when a log is set), waits `delay_ms`, returns the image.
pub(crate) async fn submit(job: &Job<'_>, execution_log: Option<&Path>) -> Result<Vec<Output>, ProviderError> {
    if let Some(path) = execution_log {
        record_execution(path.to_owned(), job.task_id).await?;
    }
    let params = parse(job.input).map_err(rejected)?;
    if params.delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(params.delay_ms.unsigned_abs())).await;
    }
    let output = render(&params)?;
    set_progress(&job.progress, 1, 1);
    Ok(vec![output])
}

/// Appends `<task_id>\n` in one write call and flushes before returning.
async fn record_execution(path: PathBuf, task_id: TaskId) -> Result<(), ProviderError> {
    let line = format!("{task_id}\n");
    let result = tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        let mut file = std::fs::OpenOptions::new().create(true).append(true).open(&path)?;
        let written = file.write(line.as_bytes())?;
        if written != line.len() {
            return Err(std::io::Error::new(std::io::ErrorKind::WriteZero, "short write to the execution log"));
        }
        file.flush()
    })
    .await;
    match result {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => Err(ProviderError::new(
            ErrorClass::GenerationFailed,
            format!("cannot record the execution in the instant execution log: {error}"),
        )),
        Err(error) => {
            Err(ProviderError::new(ErrorClass::GenerationFailed, format!("the instant engine failed: {error}")))
        }
    }
}

/// The 8x8 image: two colours and a pattern, all from a hash of the input.
pub(crate) fn render(params: &InstantParams) -> Result<Output, ProviderError> {
    let input = to_json(params).map_err(rejected)?;
    let digest = sha256(canonical_json(&input).as_bytes());
    let dark = [digest[0] / 2, digest[1] / 2, digest[2] / 2];
    let light = [128 + digest[3] / 2, 128 + digest[4] / 2, 128 + digest[5] / 2];
    let mask = u64::from_be_bytes([
        digest[6], digest[7], digest[8], digest[9], digest[10], digest[11], digest[12], digest[13],
    ]);
    let mut pixels = Vec::with_capacity((SIDE * SIDE * 3) as usize);
    for bit in 0..SIDE * SIDE {
        let color = if mask >> bit & 1 == 1 { dark } else { light };
        pixels.extend_from_slice(&color);
    }
    let bytes = encode_png_rgb(SIDE, SIDE, &pixels)?;
    Ok(png_output(SIDE, SIDE, bytes, output_parameters(MODEL, &input, 0)))
}

/// `local/instant`: routable only when enabled; records its executions in
/// `execution_log` when one is set.
pub struct Instant {
    pub enabled: bool,
    pub execution_log: Option<PathBuf>,
}

impl Named for Instant {
    fn name(&self) -> &str {
        MODEL
    }
}

#[async_trait]
impl LocalEngine for Instant {
    fn spec(&self) -> ModelSpec {
        spec(self.enabled)
    }

    fn validate(&self, input: &Value) -> Result<Value, CoreError> {
        validate(input)
    }

    async fn run(&self, job: &Job<'_>) -> Result<Vec<Output>, ProviderError> {
        submit(job, self.execution_log.as_deref()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kit::schema::{check_schema_matches, error_field};
    use crate::local::test_support::job;
    use crate::local::{LocalConfig, LocalProvider};
    use atelier_core::ports::{Provider, Submitted};

    #[test]
    fn schema_matches_the_struct() {
        check_schema_matches(&spec(true).input_schema, validate, &json!({}));
        assert!(spec(true).description.contains("benchmark-only, produces an 8x8 image instantly"));
        assert_eq!(spec(false).requires_config.as_deref(), Some(CONFIG_KEY));
        assert!(spec(true).requires_config.is_none());
    }

    #[test]
    fn bad_inputs_name_the_field() {
        for (input, field) in [
            (json!({ "delay_ms": 60_001 }), "delay_ms"),
            (json!({ "delay_ms": -1 }), "delay_ms"),
            (json!({ "seed": "x" }), "seed"),
            (json!({ "steps": 3 }), "steps"),
        ] {
            assert_eq!(error_field(&validate(&input).expect_err("invalid")), field, "{input}");
        }
    }

    #[tokio::test]
    async fn produces_a_deterministic_8x8_png_and_logs_executions() {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = dir.path().join("executions.log");
        // Validation and submit work even when the catalog would not route here.
        let provider = LocalProvider::new(LocalConfig {
            instant_enabled: false,
            instant_execution_log: Some(log.clone()),
            ..LocalConfig::default()
        });
        let input = provider.validate(MODEL, &json!({ "prompt": "bench", "seed": 3 })).expect("valid");
        assert_eq!(input["delay_ms"], 0);

        let mut outputs = Vec::new();
        let mut ids = Vec::new();
        for _ in 0..2 {
            let job = job(MODEL, &input);
            ids.push(job.task_id.to_string());
            let Submitted::Finished(found) = provider.submit(&job).await.expect("submitted") else {
                panic!("local engines finish in submit");
            };
            assert_eq!(job.progress.load(std::sync::atomic::Ordering::Relaxed), 100);
            outputs.push(found);
        }
        assert_eq!(outputs[0].len(), 1);
        assert_eq!(
            outputs[0][0].bytes().expect("in memory"),
            outputs[1][0].bytes().expect("in memory"),
            "same input, same bytes"
        );
        let image = image::load_from_memory(outputs[0][0].bytes().expect("in memory")).expect("a PNG");
        assert_eq!((image.width(), image.height()), (8, 8));

        let other = provider.validate(MODEL, &json!({ "prompt": "bench", "seed": 4 })).expect("valid");
        let Submitted::Finished(different) = provider.submit(&job(MODEL, &other)).await.expect("submitted") else {
            panic!("local engines finish in submit");
        };
        assert_ne!(different[0].bytes().expect("in memory"), outputs[0][0].bytes().expect("in memory"));

        let logged = std::fs::read_to_string(&log).expect("the log");
        let lines: Vec<&str> = logged.lines().collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[..2], [ids[0].as_str(), ids[1].as_str()]);
        assert!(logged.ends_with('\n'));
    }

    #[tokio::test]
    async fn delay_waits() {
        let provider = LocalProvider::new(LocalConfig::new(true));
        let input = json!({ "delay_ms": 60 });
        let job = job(MODEL, &input);
        let started = std::time::Instant::now();
        provider.submit(&job).await.expect("submitted");
        assert!(started.elapsed() >= Duration::from_millis(60));
    }
}
