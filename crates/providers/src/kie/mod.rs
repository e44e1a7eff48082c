//! Kie.ai (protocols.md section 1): one module per API family, one file per model.
//! Every Kie generation is asynchronous: `submit` creates the task and answers
//! `Accepted` with Kie's task id, which the worker records before it polls.

pub mod callback;
pub mod client;
pub mod imagen4;
pub mod market;
pub mod midjourney;
pub mod sora2;
pub mod upload;
pub mod veo3;
pub mod wire;

use std::time::Duration;

use async_trait::async_trait;
use atelier_core::CoreError;
use atelier_core::catalog::ModelSpec;
use atelier_core::ports::{
    Callback, CallbackError, ErrorClass, Job, Output, Polled, Provider, ProviderError, Submitted,
};
use serde_json::Value;

use self::client::KieClient;
use self::market::MarketState;
use self::midjourney::MjState;
use self::veo3::VeoState;

pub const SERVICE: &str = "kie";
/// The config key that makes Kie usable.
pub const CONFIG_KEY: &str = "providers.kie.api_key";

#[derive(Debug, Clone)]
pub struct KieConfig {
    /// `None`: Kie's models are listed but not usable.
    pub api_key: Option<String>,
    pub base_url: String,
    /// Kie's file-upload host (protocols.md 1.5), apart from the API's.
    pub upload_base_url: String,
    pub request_timeout: Duration,
    /// Seed 003's polling: 2 s, then 5 s after three polls (10 s at most).
    pub first_poll: Duration,
    /// Kie takes at most this many new tasks per 10 s per account (protocols.md 1.1).
    pub submits_per_10s: u32,
    /// Where Kie should POST its callbacks (Atelier's `/api/v1/callbacks/kie`);
    /// `None`: polling alone.
    pub callback_url: Option<String>,
    /// Kie's webhook HMAC key: when set, unsigned or badly signed callbacks are refused.
    pub webhook_hmac_key: Option<String>,
}

impl Default for KieConfig {
    fn default() -> Self {
        Self {
            api_key: None,
            base_url: "https://api.kie.ai".into(),
            upload_base_url: "https://kieai.redpandaai.co".into(),
            request_timeout: Duration::from_secs(60),
            first_poll: Duration::from_secs(2),
            submits_per_10s: 20,
            callback_url: None,
            webhook_hmac_key: None,
        }
    }
}

pub struct KieProvider {
    config: KieConfig,
    client: Option<KieClient>,
}

impl KieProvider {
    pub fn new(config: KieConfig) -> Result<Self, ProviderError> {
        let client = match &config.api_key {
            Some(key) => {
                Some(KieClient::new(key.clone(), &config.base_url, &config.upload_base_url, config.request_timeout)?)
            }
            None => None,
        };
        Ok(Self { config, client })
    }

    fn client(&self) -> Result<&KieClient, ProviderError> {
        self.client.as_ref().ok_or_else(|| {
            ProviderError::new(ErrorClass::Unauthorized, format!("Kie is not configured: set {CONFIG_KEY}"))
        })
    }

    /// Seed 003's schedule: `first_poll` (2 s) for the first three polls, then 5 s,
    /// and 10 s at most once the task has run for two minutes.
    fn poll_interval(&self, running_for: Duration) -> Duration {
        let first = self.config.first_poll;
        if running_for < first * 3 {
            first
        } else if running_for < Duration::from_secs(120) {
            (first * 5 / 2).min(Duration::from_secs(10))
        } else {
            (first * 5).min(Duration::from_secs(10))
        }
    }

    async fn download_all(&self, urls: &[String]) -> Result<Vec<Output>, ProviderError> {
        let client = self.client()?;
        let mut outputs = Vec::with_capacity(urls.len());
        for url in urls {
            let (bytes, mime) = client.download(url).await?;
            let mime = mime.filter(|m| m != "application/octet-stream").unwrap_or_else(|| guess_mime(url));
            outputs.push(Output { bytes, mime, width: None, height: None, parameters: None });
        }
        Ok(outputs)
    }
}

fn guess_mime(url: &str) -> String {
    let path = url.split(['?', '#']).next().unwrap_or(url).to_ascii_lowercase();
    let mime = match path.rsplit('.').next() {
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("webp") => "image/webp",
        Some("mp4") => "video/mp4",
        Some("png") => "image/png",
        _ => "application/octet-stream",
    };
    mime.to_owned()
}

#[async_trait]
impl Provider for KieProvider {
    fn service(&self) -> &str {
        SERVICE
    }

    fn models(&self) -> Vec<ModelSpec> {
        let requires = self.client.is_none().then(|| CONFIG_KEY.to_owned());
        vec![
            imagen4::spec(requires.clone()),
            veo3::spec(requires.clone()),
            midjourney::spec(requires.clone()),
            sora2::spec(requires),
        ]
    }

    fn validate(&self, model: &str, input: &Value) -> Result<Value, CoreError> {
        match model {
            imagen4::MODEL => imagen4::validate(input),
            veo3::MODEL => veo3::validate(input),
            midjourney::MODEL => midjourney::validate(input),
            sora2::MODEL => sora2::validate(input),
            other => Err(CoreError::invalid("model", format!("kie does not offer {other:?}"))),
        }
    }

    /// The image references of Veo, Midjourney and Sora inputs (`images`).
    fn input_files(&self, model: &str, input: &Value) -> Vec<String> {
        match model {
            veo3::MODEL | midjourney::MODEL | sora2::MODEL => input
                .get("images")
                .and_then(Value::as_array)
                .map(|images| images.iter().filter_map(Value::as_str).map(str::to_owned).collect())
                .unwrap_or_default(),
            _ => Vec::new(),
        }
    }

    fn submit_is_costly(&self) -> bool {
        true
    }

    /// Every Kie API's callback names its task in `data.taskId`; signed ones are
    /// checked when a webhook key is configured.
    fn callback(&self, request: &Callback<'_>) -> Result<Vec<String>, CallbackError> {
        let body: Value = serde_json::from_slice(request.body).map_err(|error| CallbackError::Invalid {
            field: "body".into(),
            message: format!("the callback body is not JSON: {error}"),
        })?;
        let task_id = callback::task_id(&body)
            .map_err(|error| CallbackError::Invalid { field: "data.taskId".into(), message: error.to_string() })?;
        if let Some(key) = &self.config.webhook_hmac_key {
            callback::verify(
                key,
                &task_id,
                request.header("x-webhook-timestamp"),
                request.header("x-webhook-signature"),
                request.received_at / 1000,
            )
            .map_err(|error| CallbackError::BadSignature(error.to_string()))?;
        }
        Ok(vec![task_id])
    }

    fn submit_rate_limit(&self) -> Option<atelier_core::ratelimit::RateLimit> {
        Some(atelier_core::ratelimit::RateLimit {
            requests: self.config.submits_per_10s.max(1),
            window: Duration::from_secs(10),
        })
    }

    /// Remaining credits (`GET /api/v1/chat/credit`; `data` is the number).
    async fn account(&self) -> Result<Option<Value>, ProviderError> {
        let Some(client) = &self.client else { return Ok(None) };
        let credits = client.get("/api/v1/chat/credit", &[], client::Phase::Query).await?;
        Ok(Some(serde_json::json!({ "credits": credits })))
    }

    /// Uploads the input images before the submit is marked: an upload lost to a
    /// crash is simply redone, and the submit then finds them in the upload cache.
    async fn prepare(&self, job: &Job<'_>) -> Result<(), ProviderError> {
        let references = self.input_files(job.model, job.input);
        if references.is_empty() {
            return Ok(());
        }
        upload::upload_all(self.client()?, job.files, &references, upload::REUSE_MARGIN_MS).await.map(|_| ())
    }

    async fn submit(&self, job: &Job<'_>) -> Result<Submitted, ProviderError> {
        let client = self.client()?;
        let callback = self.config.callback_url.as_deref();
        let external_id = match job.model {
            imagen4::MODEL => {
                let params: imagen4::Imagen4Params = parse_job(job)?;
                market::create_task(client, params.variant.kie_model(), imagen4::kie_input(&params), callback).await?
            }
            veo3::MODEL => {
                let params: veo3::Veo3Params = parse_job(job)?;
                let urls = upload::upload_all(client, job.files, &params.images, upload::FETCH_MARGIN_MS).await?;
                veo3::generate(client, &veo3::kie_body(&params, &urls, callback)).await?
            }
            midjourney::MODEL => {
                let params: midjourney::MidjourneyParams = parse_job(job)?;
                let urls = upload::upload_all(client, job.files, &params.images, upload::FETCH_MARGIN_MS).await?;
                midjourney::generate(client, &midjourney::kie_body(&params, &urls, callback)).await?
            }
            sora2::MODEL => {
                let params: sora2::Sora2Params = parse_job(job)?;
                let urls = upload::upload_all(client, job.files, &params.images, upload::FETCH_MARGIN_MS).await?;
                market::create_task(client, params.kie_model(), sora2::kie_input(&params, &urls), callback).await?
            }
            other => return Err(ProviderError::new(ErrorClass::ClientError, format!("kie does not offer {other:?}"))),
        };
        Ok(Submitted::Accepted { external_id, poll_after: self.poll_interval(Duration::ZERO) })
    }

    async fn poll(&self, job: &Job<'_>, external_id: &str) -> Result<Polled, ProviderError> {
        let client = self.client()?;
        let running = Polled::Running { progress: None, poll_after: self.poll_interval(job.running_for) };
        match job.model {
            veo3::MODEL => {
                let params: veo3::Veo3Params = parse_job(job)?;
                match veo3::poll(client, &params, external_id).await? {
                    VeoState::Running => Ok(running),
                    // Kie's advice: ask again every 20 to 30 s.
                    VeoState::Preparing1080p => Ok(Polled::Running {
                        progress: None,
                        poll_after: (self.config.first_poll * 10).min(Duration::from_secs(30)),
                    }),
                    VeoState::Finished { result_urls } => Ok(Polled::Finished(self.download_all(&result_urls).await?)),
                    VeoState::Failed { code, message } => Ok(Polled::Failed(wire::task_failure(code, &message))),
                }
            }
            midjourney::MODEL => match midjourney::record_info(client, external_id).await? {
                MjState::Running => Ok(running),
                MjState::Finished { result_urls } => Ok(Polled::Finished(self.download_all(&result_urls).await?)),
                MjState::Failed { code, message } => Ok(Polled::Failed(wire::task_failure(code, &message))),
            },
            _ => match market::record_info(client, external_id).await? {
                MarketState::Running => Ok(running),
                MarketState::Finished { result_urls } => Ok(Polled::Finished(self.download_all(&result_urls).await?)),
                MarketState::Failed { code, message } => {
                    Ok(Polled::Failed(wire::task_failure(code.trim().parse().ok(), &message)))
                }
            },
        }
    }

    async fn cancel(&self, _external_id: &str) -> Result<(), ProviderError> {
        // None of Kie's APIs has a cancel; the task is cancelled on our side only.
        Ok(())
    }
}

/// The stored (validated) input as a model's params; a mismatch is our bug or a
/// hand-edited row, and never worth a retry.
fn parse_job<T: serde::de::DeserializeOwned>(job: &Job<'_>) -> Result<T, ProviderError> {
    crate::params::parse_params(job.input)
        .map_err(|error| ProviderError::new(ErrorClass::ClientError, error.to_string()))
}

#[cfg(test)]
pub(crate) mod tests {
    use atelier_core::CoreError;

    /// The field an input error names.
    pub(crate) fn field_of(error: CoreError) -> String {
        match error {
            CoreError::InvalidInput { details, .. } => details["field"].as_str().unwrap_or_default().to_owned(),
            other => panic!("not an input error: {other:?}"),
        }
    }
}
