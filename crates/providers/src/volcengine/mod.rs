//! VolcEngine's visual API (docs/providers/volcengine.md; protocols.md 4): the
//! Jimeng and General image models by `req_key`, each either synchronous
//! (`CVProcess`: the images come in the answer) or an asynchronous job
//! (`CVSync2AsyncSubmitTask`, whose task id the worker records before it polls
//! `CVSync2AsyncGetResult`). Every request is signed with the access key pair
//! (`signer.rs`); every answer is read through the business envelope (`wire.rs`).

pub mod client;
mod config;
pub mod models;
pub mod signer;
pub mod wire;

use async_trait::async_trait;
use atelier_core::CoreError;
use atelier_core::catalog::ModelSpec;
use atelier_core::ports::{ErrorClass, Job, Output, Polled, Provider, ProviderError, Submitted};
use base64::Engine;
use serde_json::Value;

use self::client::VolcClient;
use self::config::Settings;
pub use self::config::VolcEngineConfig;
use self::models::{Style, VolcModel, VolcParams};
use crate::kit::image::image_output;
use crate::kit::params::parse_stored;
use crate::kit::{ConfigError, ModelTable, Phase};

pub const SERVICE: &str = "volcengine";
/// The config key that makes VolcEngine usable (with `secret_access_key`).
pub const CONFIG_KEY: &str = "providers.volcengine.access_key_id";

const PROCESS: &str = "CVProcess";
const SUBMIT: &str = "CVSync2AsyncSubmitTask";
const RESULT: &str = "CVSync2AsyncGetResult";

pub struct VolcEngineProvider {
    settings: Settings,
    client: Option<VolcClient>,
    models: ModelTable<VolcModel>,
}

impl VolcEngineProvider {
    pub fn new(config: &VolcEngineConfig) -> Result<Self, ConfigError> {
        let settings = config.settings()?;
        let client = match &settings.keys {
            Some((access, secret)) => Some(
                VolcClient::new(access, secret, &settings.base_url, &settings.region, settings.request_timeout)
                    .map_err(|error| ConfigError::new("providers.volcengine.base_url", error.message))?,
            ),
            None => None,
        };
        let models = models::all().into_iter().map(Box::new).collect();
        Ok(Self { settings, client, models: ModelTable::new(SERVICE, models) })
    }

    fn client(&self) -> Result<&VolcClient, ProviderError> {
        self.client.as_ref().ok_or_else(|| {
            ProviderError::new(
                ErrorClass::Unauthorized,
                format!("VolcEngine is not configured: set {CONFIG_KEY} and providers.volcengine.secret_access_key"),
            )
        })
    }

    /// The images of a finished answer: inline (`binary_data_base64`) or by URL
    /// (`image_urls`, downloaded now).
    async fn outputs(&self, client: &VolcClient, data: &Value) -> Result<Vec<Output>, ProviderError> {
        let texts = |key: &str| -> Vec<String> {
            data.get(key)
                .and_then(Value::as_array)
                .map(|items| items.iter().filter_map(Value::as_str).map(str::to_owned).collect())
                .unwrap_or_default()
        };
        let mut images = Vec::new();
        for encoded in texts("binary_data_base64") {
            let payload = encoded.rsplit_once("base64,").map_or(encoded.as_str(), |(_, rest)| rest);
            let bytes = base64::engine::general_purpose::STANDARD.decode(payload.trim()).map_err(|error| {
                ProviderError::new(
                    ErrorClass::MalformedResponse,
                    format!("VolcEngine sent an image that is not base64: {error}"),
                )
            })?;
            images.push(bytes::Bytes::from(bytes));
        }
        if images.is_empty() {
            for url in texts("image_urls") {
                images.push(client.download(&url).await?.0);
            }
        }
        if images.is_empty() {
            return Err(ProviderError::new(ErrorClass::GenerationFailed, "VolcEngine finished without an image"));
        }
        images.into_iter().map(|bytes| image_output(bytes, "VolcEngine")).collect()
    }
}

#[async_trait]
impl Provider for VolcEngineProvider {
    fn service(&self) -> &str {
        SERVICE
    }

    fn models(&self) -> Vec<ModelSpec> {
        let requires = self.client.is_none().then(|| CONFIG_KEY.to_owned());
        self.models.iter().map(|model| model.spec(SERVICE, requires.clone())).collect()
    }

    fn validate(&self, model: &str, input: &Value) -> Result<Value, CoreError> {
        self.models.for_input(model)?.validate(input)
    }

    fn submit_is_costly(&self) -> bool {
        true
    }

    async fn submit(&self, job: &Job<'_>) -> Result<Submitted, ProviderError> {
        let client = self.client()?;
        let model = self.models.for_job(job.model)?;
        let params: VolcParams = parse_stored(job.input)?;
        let mut body = model.body(&params);
        match model.style {
            Style::Sync => {
                // A synchronous call takes the result options in its body.
                if let (Value::Object(body), Value::Object(options)) = (&mut body, &self.settings.options) {
                    body.extend(options.iter().map(|(key, value)| (key.clone(), value.clone())));
                }
                let data = client.call(PROCESS, &body, Phase::Submit).await?;
                Ok(Submitted::Finished(self.outputs(client, &data).await?))
            }
            Style::Async => {
                let data = client.call(SUBMIT, &body, Phase::Submit).await?;
                let external_id = match data.get("task_id") {
                    Some(Value::String(id)) if !id.trim().is_empty() => id.trim().to_owned(),
                    Some(Value::Number(id)) => id.to_string(),
                    _ => {
                        return Err(ProviderError::new(
                            ErrorClass::MalformedResponse,
                            format!("VolcEngine accepted the job without a task_id: {data}"),
                        ));
                    }
                };
                Ok(Submitted::Accepted { external_id, poll_after: self.settings.polls.first })
            }
        }
    }

    async fn poll(&self, job: &Job<'_>, external_id: &str) -> Result<Polled, ProviderError> {
        let client = self.client()?;
        let model = self.models.for_job(job.model)?;
        let body = serde_json::json!({
            "req_key": model.req_key,
            "task_id": external_id,
            "req_json": self.settings.options.to_string(),
        });
        let data = client.call(RESULT, &body, Phase::Query).await?;
        let running = Polled::Running { progress: None, poll_after: self.settings.polls.after(job.running_for) };
        Ok(match data.get("status").and_then(Value::as_str) {
            Some("in_queue" | "generating") => running,
            Some("done") => match self.outputs(client, &data).await {
                Ok(outputs) => Polled::Finished(outputs),
                Err(error) if error.class == ErrorClass::GenerationFailed => Polled::Failed(error),
                Err(error) => return Err(error),
            },
            Some("not_found") => Polled::Failed(ProviderError::new(
                ErrorClass::GenerationFailed,
                format!("VolcEngine no longer has job {external_id} (it keeps jobs 12 hours)"),
            )),
            Some("expired") => Polled::Failed(ProviderError::new(
                ErrorClass::GenerationFailed,
                format!("VolcEngine's job {external_id} expired before it finished"),
            )),
            other => {
                tracing::warn!(status = ?other, job = external_id, "VolcEngine answered an unknown job status; polling on");
                running
            }
        })
    }

    async fn cancel(&self, _external_id: &str) -> Result<(), ProviderError> {
        // `CVCancelTask` exists (Version 2024-06-06) but its body is not documented
        // where this adapter's facts come from: the task is cancelled on our side only.
        Ok(())
    }
}
