//! `[providers]` and `[engines]`: the configuration sections this crate owns. Each
//! external service's section lives in its own folder (`kie/config.rs`,
//! `openai/config.rs`) and is embedded here; the server embeds this whole section.
//! The limits and circuit settings every service shares are here too.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::comfyui::ComfyUiConfig;
use crate::google::GoogleConfig;
use crate::kie::KieConfig;
use crate::kit::ConfigError;
use crate::openai::{AzureConfig, OpenAiConfig};
use crate::sdapi::SdServerConfig;
use crate::stability::StabilityConfig;
use crate::volcengine::VolcEngineConfig;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProvidersConfig {
    /// A service's circuit opens after this many failures in a row (timeouts,
    /// refused connections, 5xx)…
    pub circuit_failures: u32,
    /// …and lets a probe through after this long.
    pub circuit_cooldown_secs: u64,
    /// How long a task may wait on its provider, in seconds, by `service/model`,
    /// over the model's own default (`worker.poll_timeout_secs` for images; longer
    /// for video models): `"kie/veo-3" = 1800`.
    pub poll_timeouts: BTreeMap<String, u64>,
    /// Limits by service (`kie`) or model (`kie/veo-3`): `[providers.limits.kie]`
    /// `max_in_flight = 50`, `daily_tasks = 1000`.
    pub limits: BTreeMap<String, LimitsConfig>,
    pub kie: KieConfig,
    pub openai: OpenAiConfig,
    pub azure: AzureConfig,
    pub google: GoogleConfig,
    pub volcengine: VolcEngineConfig,
    /// AUTOMATIC1111 or Forge servers.
    pub a1111: SdServerConfig,
    /// stable-diffusion.cpp `sd-server`s.
    pub sdcpp: SdServerConfig,
    /// ComfyUI servers and workflow templates.
    pub comfyui: ComfyUiConfig,
    pub stability: StabilityConfig,
    /// An OpenAI-compatible chat server of your own (llama-server, Ollama, vLLM).
    pub llm: crate::llm::LlmConfig,
}

/// A service's or a model's limits; 0 means none.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Tasks open at the provider at once (services only); more wait in the queue.
    pub max_in_flight: u32,
    /// Tasks created per UTC day (seed 001's daily counters); past it, creates
    /// answer 429 `quota_exceeded` with the time until midnight.
    pub daily_tasks: u64,
}

impl Default for ProvidersConfig {
    fn default() -> Self {
        Self {
            circuit_failures: 5,
            circuit_cooldown_secs: 30,
            poll_timeouts: BTreeMap::new(),
            // Seed 001's daily budgets (row 1.6): Gemini Pro 7,000 and Imagen 4 3,000
            // calls a day, out of 10,000.
            limits: BTreeMap::from([
                ("google/gemini-2.5-pro".to_owned(), LimitsConfig { max_in_flight: 0, daily_tasks: 7_000 }),
                ("google/imagen-4".to_owned(), LimitsConfig { max_in_flight: 0, daily_tasks: 3_000 }),
            ]),
            kie: KieConfig::default(),
            openai: OpenAiConfig::default(),
            azure: AzureConfig::default(),
            google: GoogleConfig::default(),
            volcengine: VolcEngineConfig::default(),
            a1111: SdServerConfig::default(),
            sdcpp: SdServerConfig::default(),
            comfyui: ComfyUiConfig::default(),
            stability: StabilityConfig::default(),
            llm: crate::llm::LlmConfig::default(),
        }
    }
}

impl ProvidersConfig {
    /// Checks the section: the limits' scopes, and every service's own section (its
    /// URLs, its secret files) by building it.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (scope, limits) in &self.limits {
            if scope.trim().is_empty() {
                return Err(ConfigError::new("providers.limits", "a scope must name a service or service/model"));
            }
            if limits.max_in_flight > 0 && scope.contains('/') {
                return Err(ConfigError::new(
                    format!("providers.limits.\"{scope}\".max_in_flight"),
                    "concurrency is limited per service, not per model",
                ));
            }
        }
        crate::registry::services(self, &EnginesConfig::default()).map(drop)
    }

    pub fn daily_quotas(&self) -> Vec<atelier_core::quota::DailyQuota> {
        self.limits
            .iter()
            .filter(|(_, limits)| limits.daily_tasks > 0)
            .map(|(scope, limits)| atelier_core::quota::DailyQuota {
                scope: scope.trim().to_ascii_lowercase(),
                limit: limits.daily_tasks,
            })
            .collect()
    }

    pub fn max_in_flight(&self) -> HashMap<String, u32> {
        self.limits
            .iter()
            .filter(|(_, limits)| limits.max_in_flight > 0)
            .map(|(scope, limits)| (scope.trim().to_ascii_lowercase(), limits.max_in_flight))
            .collect()
    }

    pub fn circuit_settings(&self) -> atelier_core::circuit::CircuitSettings {
        atelier_core::circuit::CircuitSettings {
            threshold: self.circuit_failures.max(1),
            cooldown: std::time::Duration::from_secs(self.circuit_cooldown_secs),
        }
    }
}

/// `[engines]`: the built-in engines of the `local` service.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EnginesConfig {
    pub instant: InstantConfig,
    pub speech: SpeechConfig,
}

/// `[engines.speech]`: where `local/speech` finds Piper's voices and ONNX Runtime
/// (`scripts/install-models` puts both under `~/.cache/atelier/models`). Without
/// them the engine speaks with espeak-ng alone.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SpeechConfig {
    /// A directory of Piper voices (`NAME.onnx` beside `NAME.onnx.json`), every one
    /// offered. Unset: `$ATELIER_PIPER_VOICES_DIR`, else
    /// `~/.cache/atelier/models/piper`.
    pub voices_dir: Option<std::path::PathBuf>,
    /// ONNX Runtime's shared library (`libonnxruntime.so.1.32.0` from the PyPI
    /// wheel `onnxruntime`). Unset: `$ORT_DYLIB_PATH`, else
    /// `~/.cache/atelier/models/onnxruntime/libonnxruntime.so`.
    pub onnxruntime: Option<std::path::PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InstantConfig {
    /// The benchmark-only engine; off by default.
    pub enabled: bool,
}
