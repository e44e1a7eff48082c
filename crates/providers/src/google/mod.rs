//! Google's Gemini API (docs/providers/google.md, section 3): Imagen 4
//! (`:predict`, answered at once), Veo (`:predictLongRunning`, an operation the
//! worker records and polls, the video downloaded with the key) and Gemini's image
//! generation and editing (`:generateContent` with image output), and its text
//! models (`:generateContent` with JSON output, seed 001's). One file per
//! model family; what they share (the key, the error shape, downloads) is
//! `client.rs`.

pub mod client;
mod config;
pub mod gemini_image;
pub mod gemini_text;
pub mod imagen;
pub mod veo;

use async_trait::async_trait;
use atelier_core::CoreError;
use atelier_core::catalog::ModelSpec;
use atelier_core::ports::{ErrorClass, Job, Polled, Provider, ProviderError, Submitted};
use base64::Engine;
use serde_json::{Value, json};

use self::client::GoogleClient;
pub use self::config::GoogleConfig;
use self::config::Settings;
use crate::kit::{ConfigError, ModelTable, Named, PollSchedule};

pub const SERVICE: &str = "google";
pub const CONFIG_KEY: &str = "providers.google.api_key";

/// One Google model family: its spec and checks, and how its jobs go out and
/// come back.
#[async_trait]
pub trait GoogleModel: Named + Send + Sync {
    fn spec(&self, requires_config: Option<String>) -> ModelSpec;
    fn validate(&self, input: &Value) -> Result<Value, CoreError>;
    /// The file references in a validated input (checked before the task is taken).
    fn input_files(&self, _input: &Value) -> Vec<String> {
        Vec::new()
    }
    async fn submit(&self, google: &Google<'_>, job: &Job<'_>) -> Result<Submitted, ProviderError>;
    async fn poll(&self, google: &Google<'_>, job: &Job<'_>, external_id: &str) -> Result<Polled, ProviderError> {
        let _ = (google, job);
        Err(ProviderError::new(ErrorClass::ClientError, format!("{external_id}: this model answers at once")))
    }
}

/// What a model's calls have at hand.
pub struct Google<'a> {
    pub client: &'a GoogleClient,
    pub polls: PollSchedule,
}

impl Google<'_> {
    /// An input image as Google's inline form (`bytesBase64Encoded` and `mimeType`):
    /// an upload, an output, a data URI or a URL, read now.
    pub async fn inline_image(
        &self,
        job: &Job<'_>,
        reference: &str,
        field: &str,
    ) -> Result<(String, String), ProviderError> {
        let refused = |reason: &str| ProviderError::new(ErrorClass::ClientError, format!("{field}: {reason}"));
        let file = crate::kit::inputs::open_input(job.files, reference, field).await?;
        let mime = match image::guess_format(&file.bytes) {
            Ok(image::ImageFormat::Png) => "image/png",
            Ok(image::ImageFormat::Jpeg) => "image/jpeg",
            Ok(image::ImageFormat::WebP) => "image/webp",
            _ => return Err(refused("is not a PNG, JPEG or WebP image")),
        };
        Ok((base64::engine::general_purpose::STANDARD.encode(&file.bytes), mime.to_owned()))
    }

    /// [`Google::inline_image`] in Imagen's and Veo's shape.
    pub async fn image_json(&self, job: &Job<'_>, reference: &str, field: &str) -> Result<Value, ProviderError> {
        let (data, mime) = self.inline_image(job, reference, field).await?;
        Ok(json!({ "bytesBase64Encoded": data, "mimeType": mime }))
    }
}

pub struct GoogleProvider {
    settings: Settings,
    client: Option<GoogleClient>,
    models: ModelTable<dyn GoogleModel>,
}

impl GoogleProvider {
    pub fn new(config: &GoogleConfig) -> Result<Self, ConfigError> {
        let settings = config.settings()?;
        let client = match &settings.api_key {
            Some(key) => Some(
                GoogleClient::new(key, &settings.base_url, settings.request_timeout)
                    .map_err(|error| ConfigError::new(CONFIG_KEY, error.message))?,
            ),
            None => None,
        };
        let mut models: Vec<Box<dyn GoogleModel>> = Vec::new();
        if settings.imagen {
            models.push(Box::new(imagen::Imagen4));
        }
        models.push(Box::new(veo::Veo));
        models.push(Box::new(gemini_image::GeminiImage));
        for (model, summary) in gemini_text::MODELS {
            models.push(Box::new(gemini_text::GeminiText { model, summary }));
        }
        Ok(Self { settings, client, models: ModelTable::new(SERVICE, models) })
    }

    fn google(&self) -> Result<Google<'_>, ProviderError> {
        let client = self.client.as_ref().ok_or_else(|| {
            ProviderError::new(ErrorClass::Unauthorized, format!("Google is not configured: set {CONFIG_KEY}"))
        })?;
        Ok(Google { client, polls: self.settings.polls })
    }
}

#[async_trait]
impl Provider for GoogleProvider {
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

    async fn submit(&self, job: &Job<'_>) -> Result<Submitted, ProviderError> {
        let google = self.google()?;
        self.models.for_job(job.model)?.submit(&google, job).await
    }

    async fn poll(&self, job: &Job<'_>, external_id: &str) -> Result<Polled, ProviderError> {
        let google = self.google()?;
        self.models.for_job(job.model)?.poll(&google, job, external_id).await
    }

    async fn cancel(&self, _external_id: &str) -> Result<(), ProviderError> {
        // The Gemini API documents no cancel for Veo's operations here: the task is
        // cancelled on Atelier's side, and Google finishes (and bills) the video.
        Ok(())
    }
}
