//! The provider port: what every engine implements, local or remote.
//!
//! It is shaped for remote asynchronous providers: `submit` may answer with an
//! external task id that the worker records before it ever polls, so a restart
//! resumes polling and never submits (and pays) twice. Local engines answer
//! `Submitted::Finished` at once.

use std::sync::Arc;
use std::sync::atomic::AtomicU8;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use serde_json::Value;

use crate::catalog::ModelSpec;
use crate::error::CoreError;
use crate::ids::TaskId;
use crate::ports::InputFiles;
pub use crate::task::OutputRole;

/// One run of a task, as a provider sees it.
pub struct Job<'a> {
    pub task_id: TaskId,
    pub model: &'a str,
    /// The validated input.
    pub input: &'a Value,
    pub attempt: u32,
    /// How long the task has been running (since its first claim): remote providers
    /// space their polls by it.
    pub running_for: Duration,
    /// Written by the engine (0 to 100); the worker stores it.
    pub progress: Arc<AtomicU8>,
    /// Opens the files the input refers to, and remembers provider uploads.
    pub files: &'a dyn InputFiles,
}

/// One output file: its content, in memory or streamed, and its role among the
/// task's outputs.
pub struct Output {
    pub data: OutputData,
    pub role: OutputRole,
    pub mime: String,
    pub width: Option<u32>,
    pub height: Option<u32>,
    /// Generation parameters to embed where the format allows it (PNG text chunk).
    pub parameters: Option<String>,
}

/// A stream of bytes read from elsewhere (a provider's download).
pub type ByteStream = BoxStream<'static, std::io::Result<Bytes>>;

/// An output's content.
pub enum OutputData {
    /// Whole, in memory (images, speech).
    Bytes(Bytes),
    /// Streamed to the store as it arrives, for files too large to hold (3D models,
    /// long videos). Streamed outputs get no thumbnail.
    Stream(ByteStream),
}

impl Output {
    /// A primary output held in memory.
    pub fn new(bytes: impl Into<Bytes>, mime: impl Into<String>) -> Self {
        Self::with_data(OutputData::Bytes(bytes.into()), mime)
    }

    /// A primary output streamed to the store.
    pub fn stream(stream: ByteStream, mime: impl Into<String>) -> Self {
        Self::with_data(OutputData::Stream(stream), mime)
    }

    fn with_data(data: OutputData, mime: impl Into<String>) -> Self {
        Self { data, role: OutputRole::Primary, mime: mime.into(), width: None, height: None, parameters: None }
    }

    pub fn with_size(mut self, width: u32, height: u32) -> Self {
        (self.width, self.height) = (Some(width), Some(height));
        self
    }

    pub fn with_parameters(mut self, parameters: Option<String>) -> Self {
        self.parameters = parameters;
        self
    }

    pub fn with_role(mut self, role: OutputRole) -> Self {
        self.role = role;
        self
    }

    /// A copy, when the content is held in memory (a stream is read once).
    pub fn try_clone(&self) -> Option<Self> {
        let OutputData::Bytes(bytes) = &self.data else { return None };
        Some(Self {
            data: OutputData::Bytes(bytes.clone()),
            role: self.role,
            mime: self.mime.clone(),
            width: self.width,
            height: self.height,
            parameters: self.parameters.clone(),
        })
    }

    /// The content, when it is held in memory.
    pub fn bytes(&self) -> Option<&Bytes> {
        match &self.data {
            OutputData::Bytes(bytes) => Some(bytes),
            OutputData::Stream(_) => None,
        }
    }
}

impl std::fmt::Debug for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let data = match &self.data {
            OutputData::Bytes(bytes) => format!("{} bytes", bytes.len()),
            OutputData::Stream(_) => "a stream".to_owned(),
        };
        f.debug_struct("Output")
            .field("data", &data)
            .field("role", &self.role)
            .field("mime", &self.mime)
            .field("width", &self.width)
            .field("height", &self.height)
            .finish_non_exhaustive()
    }
}

#[derive(Debug)]
pub enum Submitted {
    /// The work is done (local engines, synchronous providers).
    Finished(Vec<Output>),
    /// The provider accepted the work; poll it by this id.
    Accepted { external_id: String, poll_after: Duration },
}

#[derive(Debug)]
pub enum Polled {
    Running { progress: Option<u8>, poll_after: Duration },
    Finished(Vec<Output>),
    Failed(ProviderError),
}

/// What went wrong, classed so that the retry policy can act on it (seed 000's table,
/// seed 003's codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    Timeout,
    ConnectionRefused,
    /// 5xx from the provider.
    ServerError,
    /// 429; honour `retry_after` when given.
    RateLimited,
    /// Any other 4xx: our request was wrong; never retried.
    ClientError,
    Unauthorized,
    InsufficientCredits,
    /// The provider answered something we could not parse.
    MalformedResponse,
    /// The model itself failed to generate.
    GenerationFailed,
    /// The provider's content checks refused the prompt, an input or the result:
    /// the user's to change, never retried (each try may be billed).
    ContentFiltered,
    /// A submit started but its answer was lost, and the provider has no way to find it.
    SubmitUnknown,
    /// The provider never finished within the polling limit.
    PollTimeout,
}

impl ErrorClass {
    pub const ALL: [ErrorClass; 12] = [
        Self::Timeout,
        Self::ConnectionRefused,
        Self::ServerError,
        Self::RateLimited,
        Self::ClientError,
        Self::Unauthorized,
        Self::InsufficientCredits,
        Self::MalformedResponse,
        Self::GenerationFailed,
        Self::ContentFiltered,
        Self::SubmitUnknown,
        Self::PollTimeout,
    ];

    /// The class whose [`ErrorClass::code`] this is.
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|class| class.code() == code)
    }

    /// The stable code stored on the task and shown to clients.
    pub fn code(self) -> &'static str {
        match self {
            Self::Timeout => "timeout",
            Self::ConnectionRefused => "connection_refused",
            Self::ServerError => "provider_error",
            Self::RateLimited => "provider_rate_limited",
            Self::ClientError => "provider_rejected",
            Self::Unauthorized => "provider_unauthorized",
            Self::InsufficientCredits => "insufficient_credits",
            Self::MalformedResponse => "malformed_response",
            Self::GenerationFailed => "generation_failed",
            Self::ContentFiltered => "content_filtered",
            Self::SubmitUnknown => "submit_unknown",
            Self::PollTimeout => "poll_timeout",
        }
    }

    /// How many attempts in all this class of error allows (seed 000): timeouts 3,
    /// connection refused 5 (at 1 s), 5xx and 429 3, everything else 1.
    pub fn max_attempts(self) -> u32 {
        match self {
            Self::Timeout | Self::ServerError | Self::RateLimited => 3,
            Self::ConnectionRefused => 5,
            Self::ClientError
            | Self::Unauthorized
            | Self::InsufficientCredits
            | Self::MalformedResponse
            | Self::GenerationFailed
            | Self::ContentFiltered
            | Self::SubmitUnknown
            | Self::PollTimeout => 1,
        }
    }

    /// A fixed delay instead of exponential backoff (connection refused: every 1 s).
    pub fn fixed_delay(self) -> Option<Duration> {
        (self == Self::ConnectionRefused).then_some(Duration::from_secs(1))
    }
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct ProviderError {
    pub class: ErrorClass,
    pub message: String,
    /// The provider's own `Retry-After`, when it gave one.
    pub retry_after: Option<Duration>,
    /// Fewer attempts than the class allows, for an error the provider's own docs
    /// disagree about (VolcEngine's 50500: retried once).
    pub attempts_cap: Option<u32>,
    /// A stable code for an input refused as it was opened (a file over the media
    /// limits: `image_too_large`, `image_undecodable`…), which a client sees.
    pub code: Option<&'static str>,
}

impl ProviderError {
    pub fn new(class: ErrorClass, message: impl Into<String>) -> Self {
        Self { class, message: message.into(), retry_after: None, attempts_cap: None, code: None }
    }

    /// Names the refusal with a stable code (see [`ProviderError::code`]).
    pub fn with_code(mut self, code: &'static str) -> Self {
        self.code = Some(code);
        self
    }

    /// Allows at most `attempts` in all for this error (never more than its class).
    pub fn with_max_attempts(mut self, attempts: u32) -> Self {
        self.attempts_cap = Some(attempts.max(1));
        self
    }

    /// How many attempts in all this error allows: its class's, or fewer.
    pub fn max_attempts(&self) -> u32 {
        let class = self.class.max_attempts();
        self.attempts_cap.map_or(class, |cap| cap.min(class))
    }
}

/// What a provider can say of a costly submit whose answer was lost (a crash
/// between its answer and Atelier storing the id; a timeout after the provider took
/// the job).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LostSubmit {
    /// The job, found by what the submit carried: poll it by this id.
    Found(String),
    /// Not findable now, but the provider will name it: its callback carries
    /// Atelier's task id. Wait for it (until the model's poll timeout).
    AwaitCallback,
    /// The provider offers no way to find it; why, for the task's owner.
    NoWay(String),
}

/// A task a callback names: the provider's id, and Atelier's own task id when the
/// callback carries it back (in the callback URL), so that a job whose submit
/// answer was lost is found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackTask {
    pub external_id: String,
    pub task_id: Option<TaskId>,
}

/// A provider's callback as it arrived at `/api/v1/callbacks/{service}`: only a
/// hint that a task changed. The result always comes from polling, so a callback is
/// trusted with nothing but the wish to poll a task now.
#[derive(Debug, Clone, Copy)]
pub struct Callback<'a> {
    /// The request's headers, names in lower case.
    pub headers: &'a [(String, String)],
    /// The raw body (signatures are computed over it).
    pub body: &'a [u8],
    /// The callback URL's query string, as Atelier set it when it submitted.
    pub query: Option<&'a str>,
    /// When it arrived.
    pub received_at: crate::time::Millis,
}

impl Callback<'_> {
    /// A header's value, by lower-case name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
    }
}

/// Why a callback was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallbackError {
    /// This service sends no callbacks.
    #[error("this service takes no callbacks")]
    Unsupported,
    /// The callback lacks something it must carry, or is not in the provider's shape.
    #[error("{message}")]
    Invalid { field: String, message: String },
    /// Its signature is missing, stale or wrong.
    #[error("{0}")]
    BadSignature(String),
}

#[async_trait]
pub trait Provider: Send + Sync + 'static {
    /// The service name, such as `local` or `kie`.
    fn service(&self) -> &str;
    /// Every model this service offers, configured or not.
    fn models(&self) -> Vec<ModelSpec>;
    /// Asks the service what it offers now (a server listing its own checkpoints or
    /// workflows), so that [`Provider::models`] answers from it. Most services offer
    /// a fixed list and have nothing to ask.
    async fn refresh_models(&self) -> Result<(), ProviderError> {
        Ok(())
    }
    /// Validates an input for one of this service's models and returns it normalised
    /// (defaults filled in). Makes no network call.
    fn validate(&self, model: &str, input: &Value) -> Result<Value, CoreError>;
    /// Whether only remote workers run this service's models, through the pull
    /// protocol (TRELLIS on GPU machines): this server's workers never claim them.
    fn served_by_pull(&self) -> bool {
        false
    }
    /// Whether a submit costs money, so that one whose answer was lost must not be
    /// repeated blindly. Local engines are free to run again.
    fn submit_is_costly(&self) -> bool;
    /// The file references (`upl_…`, `img_…`, URLs, data URIs) in a validated input,
    /// so that the server checks the ids exist before it accepts the task.
    fn input_files(&self, _model: &str, _input: &Value) -> Vec<String> {
        Vec::new()
    }
    /// How many submits the provider takes per window, when it limits them.
    fn submit_rate_limit(&self) -> Option<crate::ratelimit::RateLimit> {
        None
    }
    /// The account's standing with the provider (remaining credits, say), when the
    /// provider tells it; shown by `GET /api/v1/providers`.
    async fn account(&self) -> Result<Option<Value>, ProviderError> {
        Ok(None)
    }
    /// Work a submit needs that is safe to repeat (uploading input files to the
    /// provider's storage). Runs before a costly submit is marked, so that a crash or
    /// an error here is retried like any other, never taken for a lost submit.
    async fn prepare(&self, _job: &Job<'_>) -> Result<(), ProviderError> {
        Ok(())
    }
    /// Reads one of the provider's callbacks (checking its signature where the
    /// provider signs them) and returns the external ids of the tasks to poll now.
    fn callback(&self, _callback: &Callback<'_>) -> Result<Vec<CallbackTask>, CallbackError> {
        Err(CallbackError::Unsupported)
    }
    /// Looks for the job of a costly submit whose answer was lost, by what the
    /// submit carried (its parameters, Atelier's task id), among jobs created after
    /// `sent_after` (Unix milliseconds). Never submits.
    async fn find_lost_submit(
        &self,
        _job: &Job<'_>,
        _sent_after: crate::time::Millis,
    ) -> Result<LostSubmit, ProviderError> {
        Ok(LostSubmit::NoWay("the provider offers no way to find a job whose answer was lost".into()))
    }
    async fn submit(&self, job: &Job<'_>) -> Result<Submitted, ProviderError>;
    async fn poll(&self, job: &Job<'_>, external_id: &str) -> Result<Polled, ProviderError>;
    async fn cancel(&self, external_id: &str) -> Result<(), ProviderError>;
}
