//! Kie.ai (docs/providers/kie.md): one module per API family, one file per model.
//! Every Kie generation is asynchronous: `submit` creates the task and answers
//! `Accepted` with Kie's task id, which the worker records before it polls.

pub mod callback;
pub mod client;
mod config;
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
    Callback, CallbackError, CallbackTask, ErrorClass, InputCopy, Job, LostSubmit, Output, Polled, Provider,
    ProviderError, Submitted, short_reference,
};
use serde_json::Value;

use self::client::KieClient;
pub use self::config::KieConfig;
use self::config::Settings;
use self::wire::FlagRecord;
use crate::kit::{ConfigError, ModelTable, Named, PollSchedule};

pub const SERVICE: &str = "kie";
/// The config key that makes Kie usable.
pub const CONFIG_KEY: &str = "providers.kie.api_key";

/// One Kie model: its spec and checks, and how its jobs go to Kie and come back.
/// Each model's variants are a parameter, so one model may call several of Kie's.
#[async_trait]
pub trait KieModel: Named + Send + Sync {
    fn spec(&self, requires_config: Option<String>) -> ModelSpec;
    /// Validates an input and returns it with its defaults filled in.
    fn validate(&self, input: &Value) -> Result<Value, CoreError>;
    /// The file references in a validated input (uploaded to Kie before the submit):
    /// every Kie model that takes images names them in `images`.
    fn input_files(&self, input: &Value) -> Vec<String> {
        crate::kit::inputs::references(input.get("images"))
    }
    /// Creates the job at Kie; returns Kie's task id.
    async fn submit(&self, kie: &Kie<'_>, job: &Job<'_>) -> Result<String, ProviderError>;
    /// Reads where the job stands.
    async fn poll(&self, kie: &Kie<'_>, job: &Job<'_>, task_id: &str) -> Result<Polled, ProviderError>;
}

/// What a model's calls have at hand: the client, the callback URL, the poll
/// schedule.
pub struct Kie<'a> {
    pub client: &'a KieClient,
    /// The configured callback URL with this task's id added (`atelier_task`), so
    /// that a callback names the task even when the submit's answer was lost.
    pub callback_url: Option<String>,
    pub polls: PollSchedule,
}

/// The query parameter of the callback URL that carries Atelier's task id.
const TASK_PARAMETER: &str = "atelier_task";

impl Kie<'_> {
    /// Still running: look again on the schedule.
    pub fn running(&self, job: &Job<'_>) -> Polled {
        Polled::Running { progress: None, poll_after: self.polls.after(job.running_for) }
    }

    /// The URLs Kie should fetch a job's input images from: each uploaded to Kie's
    /// storage (or found there, uploaded by this task's `prepare`). Each copy is
    /// recorded on the task, with its expiry, for the task's view.
    pub async fn upload(&self, job: &Job<'_>, references: &[String]) -> Result<Vec<String>, ProviderError> {
        let copies = upload::upload_all(self.client, job.files, references, upload::FETCH_MARGIN_MS).await?;
        let mut urls = Vec::with_capacity(copies.len());
        for (position, (reference, copy)) in (0u32..).zip(references.iter().zip(copies)) {
            let recorded = InputCopy {
                position,
                reference: short_reference(reference),
                service: SERVICE.to_owned(),
                url: copy.url.clone(),
                expires_at: copy.expires_at,
            };
            job.files.record_copy(job.task_id, &recorded).await;
            urls.push(copy.url);
        }
        Ok(urls)
    }

    /// A record as every Kie API reports it: running, finished with result URLs
    /// (downloaded now), or failed with Kie's code.
    pub async fn settle(&self, job: &Job<'_>, record: FlagRecord) -> Result<Polled, ProviderError> {
        Ok(match record {
            FlagRecord::Running => self.running(job),
            FlagRecord::Finished { result_urls } => Polled::Finished(self.download_all(&result_urls).await?),
            FlagRecord::Failed { code, message } => Polled::Failed(wire::task_failure(code, &message)),
        })
    }

    async fn download_all(&self, urls: &[String]) -> Result<Vec<Output>, ProviderError> {
        let mut outputs = Vec::with_capacity(urls.len());
        for url in urls {
            let (bytes, mime) = self.client.download(url).await?;
            let mime = mime.filter(|m| m != "application/octet-stream").unwrap_or_else(|| guess_mime(url));
            outputs.push(Output::new(bytes, mime));
        }
        Ok(outputs)
    }
}

pub struct KieProvider {
    settings: Settings,
    client: Option<KieClient>,
    models: ModelTable<dyn KieModel>,
}

impl KieProvider {
    pub fn new(config: &KieConfig) -> Result<Self, ConfigError> {
        let settings = config.settings()?;
        let client = match &settings.api_key {
            Some(key) => Some(
                KieClient::new(key, &settings.base_url, &settings.upload_base_url, settings.request_timeout)
                    .map_err(|error| ConfigError::new(CONFIG_KEY, error.message))?,
            ),
            None => None,
        };
        let models: Vec<Box<dyn KieModel>> = vec![
            Box::new(imagen4::Imagen4),
            Box::new(veo3::Veo3),
            Box::new(midjourney::Midjourney),
            Box::new(sora2::Sora2),
        ];
        Ok(Self { settings, client, models: ModelTable::new(SERVICE, models) })
    }

    fn kie(&self) -> Result<Kie<'_>, ProviderError> {
        let client = self.client.as_ref().ok_or_else(|| {
            ProviderError::new(ErrorClass::Unauthorized, format!("Kie is not configured: set {CONFIG_KEY}"))
        })?;
        Ok(Kie { client, callback_url: None, polls: self.settings.polls })
    }

    /// As [`KieProvider::kie`], with the callback URL for this job's task.
    fn kie_for(&self, job: &Job<'_>) -> Result<Kie<'_>, ProviderError> {
        let callback_url = self.settings.callback_url.as_deref().map(|base| match url::Url::parse(base) {
            Ok(mut url) => {
                url.query_pairs_mut().append_pair(TASK_PARAMETER, &job.task_id.to_string());
                url.to_string()
            }
            // Checked at startup; kept as configured if it somehow is not a URL.
            Err(_) => base.to_owned(),
        });
        Ok(Kie { callback_url, ..self.kie()? })
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
        self.models.iter().map(|model| model.spec(requires.clone())).collect()
    }

    fn validate(&self, model: &str, input: &Value) -> Result<Value, CoreError> {
        self.models.for_input(model)?.validate(input)
    }

    fn input_files(&self, model: &str, input: &Value) -> Vec<String> {
        self.models.find(model).map(|model| model.input_files(input)).unwrap_or_default()
    }

    fn submit_is_costly(&self) -> bool {
        true
    }

    /// Every Kie API's callback names its task in `data.taskId`; signed ones are
    /// checked when a webhook key is configured.
    fn callback(&self, request: &Callback<'_>) -> Result<Vec<CallbackTask>, CallbackError> {
        let body: Value = serde_json::from_slice(request.body).map_err(|error| CallbackError::Invalid {
            field: "body".into(),
            message: format!("the callback body is not JSON: {error}"),
        })?;
        let task_id = callback::task_id(&body)
            .map_err(|error| CallbackError::Invalid { field: "data.taskId".into(), message: error.to_string() })?;
        if let Some(key) = &self.settings.webhook_hmac_key {
            callback::verify(
                key,
                &task_id,
                request.header("x-webhook-timestamp"),
                request.header("x-webhook-signature"),
                request.received_at / 1000,
            )
            .map_err(|error| CallbackError::BadSignature(error.to_string()))?;
        }
        // Atelier's own task id, as the submit put it in the callback URL.
        let atelier_task = request.query.and_then(|query| {
            url::form_urlencoded::parse(query.as_bytes())
                .find(|(name, _)| name == TASK_PARAMETER)
                .and_then(|(_, value)| value.parse().ok())
        });
        Ok(vec![CallbackTask { external_id: task_id, task_id: atelier_task }])
    }

    /// Kie lists no jobs, but its callback carries the callback URL's query back:
    /// with a callback URL configured, the callback names the job.
    async fn find_lost_submit(&self, _job: &Job<'_>, _sent_after: i64) -> Result<LostSubmit, ProviderError> {
        Ok(match self.settings.callback_url {
            Some(_) => LostSubmit::AwaitCallback,
            None => LostSubmit::NoWay(
                "Kie offers no way to list jobs, and no callback URL is configured (providers.kie.callback_url) for \
                 its callback to name the job"
                    .into(),
            ),
        })
    }

    fn submit_rate_limit(&self) -> Option<atelier_core::ratelimit::RateLimit> {
        Some(atelier_core::ratelimit::RateLimit {
            requests: self.settings.submits_per_10s,
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
        upload::upload_all(self.kie()?.client, job.files, &references, upload::REUSE_MARGIN_MS).await.map(|_| ())
    }

    async fn submit(&self, job: &Job<'_>) -> Result<Submitted, ProviderError> {
        let kie = self.kie_for(job)?;
        let external_id = self.models.for_job(job.model)?.submit(&kie, job).await?;
        Ok(Submitted::Accepted { external_id, poll_after: kie.polls.after(Duration::ZERO) })
    }

    async fn poll(&self, job: &Job<'_>, external_id: &str) -> Result<Polled, ProviderError> {
        let kie = self.kie()?;
        self.models.for_job(job.model)?.poll(&kie, job, external_id).await
    }

    async fn cancel(&self, _external_id: &str) -> Result<(), ProviderError> {
        // None of Kie's APIs has a cancel; the task is cancelled on our side only.
        Ok(())
    }
}

/// The stored (validated) input as a model's params; a mismatch is our bug or a
/// hand-edited row, and never worth a retry.
pub(crate) fn parse_job<T: serde::de::DeserializeOwned>(job: &Job<'_>) -> Result<T, ProviderError> {
    crate::kit::params::parse_stored(job.input)
}
