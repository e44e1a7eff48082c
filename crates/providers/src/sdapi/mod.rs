//! Stable Diffusion servers people run themselves (docs/providers/sdapi.md,
//! section 5), through the API AUTOMATIC1111 (and Forge) defined and
//! stable-diffusion.cpp's `sd-server` also speaks: `POST /sdapi/v1/txt2img` or
//! `img2img`, answered with the images when done. Two services, `a1111` and
//! `sdcpp`, each over one or several servers of its kind: a task goes to the
//! server with the fewest of Atelier's tasks in flight. The models are the
//! servers' own checkpoints (`GET /sdapi/v1/sd-models`), learnt by
//! `refresh_models`, beside `default` (whatever the server has loaded).
//!
//! A generation on one's own server costs nothing, so a lost answer is simply run
//! again. While AUTOMATIC1111 works, its `/sdapi/v1/progress` is read for the
//! task's progress; a generation given up (the task cancelled, the worker
//! stopping) is interrupted there.

mod config;
pub mod params;

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use atelier_core::CoreError;
use atelier_core::catalog::{Modality, ModelSpec};
use atelier_core::ports::{ErrorClass, Job, Output, Polled, Provider, ProviderError, Submitted};
use base64::Engine;
use reqwest::Method;
use serde_json::Value;

pub use self::config::SdServerConfig;
use self::config::Settings;
use self::params::SdParams;
use crate::kit::image::image_output;
use crate::kit::inputs::{open_input, references};
use crate::kit::params::parse_stored;
use crate::kit::pool::{Busy, Server, Servers};
use crate::kit::{ApiClient, Basic, ConfigError, Phase, Reply};

/// Which kind of server a service talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    A1111,
    SdCpp,
}

impl Flavour {
    fn service(self) -> &'static str {
        match self {
            Self::A1111 => "a1111",
            Self::SdCpp => "sdcpp",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Self::A1111 => "AUTOMATIC1111",
            Self::SdCpp => "stable-diffusion.cpp",
        }
    }
}

/// A checkpoint a server offers: its name in Atelier (lower case) and its title
/// as the server names it (what `sd_model_checkpoint` takes).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Checkpoint {
    model: String,
    title: String,
}

pub struct SdApiProvider {
    flavour: Flavour,
    settings: Settings,
    client: ApiClient,
    servers: Servers,
    checkpoints: RwLock<Vec<Checkpoint>>,
    samplers: RwLock<Vec<String>>,
}

const DEFAULT_MODEL: &str = "default";

impl SdApiProvider {
    pub fn new(flavour: Flavour, config: &SdServerConfig) -> Result<Self, ConfigError> {
        let section = flavour.service();
        let settings = config.settings(section)?;
        let credentials = settings.credentials.as_ref().map(|(user, password)| (user.as_str(), password.as_str()));
        let auth = Basic::new(credentials)
            .map_err(|error| ConfigError::new(format!("providers.{section}.password"), error.message))?;
        let client = ApiClient::new(flavour.title(), Arc::new(auth), settings.request_timeout)
            .map_err(|error| ConfigError::new(format!("providers.{section}.urls"), error.message))?;
        let servers = Servers::new(&settings.urls);
        Ok(Self {
            flavour,
            settings,
            client,
            servers,
            checkpoints: RwLock::new(Vec::new()),
            samplers: RwLock::new(Vec::new()),
        })
    }

    fn config_key(&self) -> String {
        format!("providers.{}.urls", self.flavour.service())
    }

    fn url(server: &Server, path: &str) -> Result<reqwest::Url, ProviderError> {
        reqwest::Url::parse(&format!("{}{path}", server.url))
            .map_err(|error| ProviderError::new(ErrorClass::ClientError, format!("a server URL: {error}")))
    }

    async fn get(&self, server: &Server, path: &str) -> Result<Value, ProviderError> {
        let reply = self.client.send(self.client.request(Method::GET, Self::url(server, path)?), Phase::Query).await?;
        read(self.flavour, reply)
    }

    fn samplers(&self) -> Vec<String> {
        self.samplers.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    fn spec(&self, checkpoint: Option<&Checkpoint>) -> ModelSpec {
        let (model, title, description) = match checkpoint {
            Some(checkpoint) => (
                checkpoint.model.clone(),
                format!("{} ({})", checkpoint.title, self.flavour.title()),
                format!("The checkpoint {} on your {} server.", checkpoint.title, self.flavour.title()),
            ),
            None => (
                DEFAULT_MODEL.to_owned(),
                format!("The loaded model ({})", self.flavour.title()),
                format!("Whatever checkpoint your {} server has loaded.", self.flavour.title()),
            ),
        };
        ModelSpec {
            service: self.flavour.service().into(),
            model,
            aliases: Vec::new(),
            modality: Modality::Image,
            title,
            description,
            input_schema: params::schema(&self.samplers()),
            estimated_seconds: 20,
            poll_timeout_secs: None,
            requires_config: self.servers.is_empty().then(|| self.config_key()),
        }
    }

    /// The checkpoint title a model names (`None`: the one loaded).
    fn checkpoint_title(&self, model: &str) -> Result<Option<String>, ProviderError> {
        if model.eq_ignore_ascii_case(DEFAULT_MODEL) {
            return Ok(None);
        }
        let checkpoints = self.checkpoints.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        checkpoints
            .iter()
            .find(|checkpoint| checkpoint.model.eq_ignore_ascii_case(model))
            .map(|c| Some(c.title.clone()))
            .ok_or_else(|| {
                ProviderError::new(
                    ErrorClass::ClientError,
                    format!("the server no longer offers the checkpoint {model:?}"),
                )
            })
    }

    /// Reads an input file as base64 (A1111 takes raw base64 or a data URL), with
    /// its size when it is an image.
    async fn base64_file(
        job: &Job<'_>,
        reference: &str,
        field: &str,
    ) -> Result<(String, Option<(u32, u32)>), ProviderError> {
        let file = open_input(job.files, reference, field).await?;
        let size = image::ImageReader::new(std::io::Cursor::new(&file.bytes[..]))
            .with_guessed_format()
            .ok()
            .and_then(|reader| reader.into_dimensions().ok());
        Ok((base64::engine::general_purpose::STANDARD.encode(&file.bytes), size))
    }

    /// Reads AUTOMATIC1111's progress into the task's until the generation ends.
    async fn follow_progress(&self, server: &Server, progress: &AtomicU8) {
        if self.flavour != Flavour::A1111 {
            return std::future::pending().await;
        }
        loop {
            tokio::time::sleep(self.settings.progress_every).await;
            if let Ok(answer) = self.get(server, "/sdapi/v1/progress?skip_current_image=true").await
                && let Some(fraction) = answer["progress"].as_f64()
            {
                let percent = (fraction.clamp(0.0, 1.0) * 99.0).round() as u8;
                progress.fetch_max(percent, Ordering::Relaxed);
            }
        }
    }
}

/// A generation in flight on a server: counted while it lasts, and interrupted
/// there (AUTOMATIC1111) if it is given up before its answer.
struct InFlight {
    _busy: Busy,
    interrupt: Option<(ApiClient, reqwest::Url)>,
}

impl InFlight {
    fn start(server: &Arc<Server>, interrupt: Option<(ApiClient, reqwest::Url)>) -> Self {
        Self { _busy: server.begin(), interrupt }
    }

    fn done(mut self) {
        self.interrupt = None;
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Some((client, url)) = self.interrupt.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn(async move {
                let _ = client.send(client.request(Method::POST, url), Phase::Query).await;
            });
        }
    }
}

/// An answer's JSON, or its error classed: AUTOMATIC1111's
/// `{"error", "detail", "errors"}`, FastAPI's `{"detail": [...]}` and
/// stable-diffusion.cpp's `{"error": "..."}`.
fn read(flavour: Flavour, reply: Reply) -> Result<Value, ProviderError> {
    let body: Value = serde_json::from_slice(&reply.body).unwrap_or(Value::Null);
    if reply.status.is_success() {
        if body.is_null() {
            let head: String = String::from_utf8_lossy(&reply.body).chars().take(200).collect();
            return Err(ProviderError::new(
                ErrorClass::MalformedResponse,
                format!("{}'s answer is not JSON: {head}", flavour.title()),
            ));
        }
        return Ok(body);
    }
    let said = [&body["detail"], &body["errors"], &body["error"]]
        .into_iter()
        .find_map(|value| match value {
            Value::String(text) if !text.is_empty() => Some(text.clone()),
            Value::Array(items) if !items.is_empty() => Some(
                items
                    .iter()
                    .map(|item| {
                        let at = item["loc"].as_array().map(|loc| {
                            loc.iter().map(|l| l.to_string().trim_matches('"').to_owned()).collect::<Vec<_>>().join(".")
                        });
                        format!("{}: {}", at.unwrap_or_default(), item["msg"].as_str().unwrap_or_default())
                    })
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            _ => None,
        })
        .unwrap_or_else(|| String::from_utf8_lossy(&reply.body).chars().take(200).collect());
    let kind = body["error"]
        .as_str()
        .filter(|_| body["detail"].is_string())
        .map(|kind| format!("{kind}: "))
        .unwrap_or_default();
    let status = reply.status.as_u16();
    let class = match status {
        401 | 403 => ErrorClass::Unauthorized,
        429 => ErrorClass::RateLimited,
        500.. => ErrorClass::ServerError,
        _ => ErrorClass::ClientError,
    };
    let mut error = ProviderError::new(class, format!("{} answered HTTP {status}: {kind}{said}", flavour.title()));
    error.retry_after = reply.retry_after();
    Err(error)
}

#[async_trait]
impl Provider for SdApiProvider {
    fn service(&self) -> &str {
        self.flavour.service()
    }

    fn models(&self) -> Vec<ModelSpec> {
        let checkpoints = self.checkpoints.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        std::iter::once(self.spec(None))
            .chain(checkpoints.iter().map(|checkpoint| self.spec(Some(checkpoint))))
            .collect()
    }

    /// Asks the first server that answers for its checkpoints and samplers.
    async fn refresh_models(&self) -> Result<(), ProviderError> {
        let mut last_error = None;
        for server in self.servers.iter() {
            let models = match self.get(server, "/sdapi/v1/sd-models").await {
                Ok(models) => models,
                Err(error) => {
                    last_error = Some(error);
                    continue;
                }
            };
            let mut checkpoints: Vec<Checkpoint> = models
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|model| {
                    let title = model["title"].as_str().or_else(|| model["model_name"].as_str())?;
                    let name = model["model_name"].as_str().unwrap_or(title);
                    let name = name.trim().to_ascii_lowercase().replace([' ', '/'], "-");
                    (!name.is_empty() && name != DEFAULT_MODEL)
                        .then(|| Checkpoint { model: name, title: title.to_owned() })
                })
                .collect();
            checkpoints.dedup_by(|a, b| a.model == b.model);
            let samplers: Vec<String> = match self.get(server, "/sdapi/v1/samplers").await {
                Ok(samplers) => samplers
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|sampler| sampler["name"].as_str().map(str::to_owned))
                    .collect(),
                Err(_) => Vec::new(),
            };
            *self.checkpoints.write().unwrap_or_else(std::sync::PoisonError::into_inner) = checkpoints;
            *self.samplers.write().unwrap_or_else(std::sync::PoisonError::into_inner) = samplers;
            return Ok(());
        }
        match last_error {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }

    fn validate(&self, model: &str, input: &Value) -> Result<Value, CoreError> {
        let known = model.eq_ignore_ascii_case(DEFAULT_MODEL) || self.checkpoint_title(model).is_ok();
        if !known {
            return Err(CoreError::invalid(
                "model",
                format!("the {} server offers no checkpoint {model:?}", self.flavour.title()),
            ));
        }
        params::validate(input, &self.samplers())
    }

    fn input_files(&self, _model: &str, input: &Value) -> Vec<String> {
        let mut files = references(input.get("images"));
        files.extend(references(input.get("mask")));
        files
    }

    fn submit_is_costly(&self) -> bool {
        false
    }

    async fn submit(&self, job: &Job<'_>) -> Result<Submitted, ProviderError> {
        let params: SdParams = parse_stored(job.input)?;
        let checkpoint = self.checkpoint_title(job.model)?;
        let mut body = params::body(&params, checkpoint.as_deref());
        let path = match params.images.first() {
            Some(image) => {
                let (data, size) = Self::base64_file(job, image, "images[0]").await?;
                body["init_images"] = Value::from(vec![data]);
                // AUTOMATIC1111 answers width × height (512² by default) whatever the
                // init image: without a size asked, keep the image's (a multiple of 8).
                if let (None, None, Some((width, height))) = (params.width, params.height, size) {
                    body["width"] = Value::from((width / 8 * 8).clamp(64, 2048));
                    body["height"] = Value::from((height / 8 * 8).clamp(64, 2048));
                }
                if let Some(mask) = &params.mask {
                    body["mask"] = Value::from(Self::base64_file(job, mask, "mask").await?.0);
                }
                "/sdapi/v1/img2img"
            }
            None => "/sdapi/v1/txt2img",
        };
        let server = self.servers.pick(&self.config_key())?;
        let interrupt = (self.flavour == Flavour::A1111)
            .then(|| Self::url(&server, "/sdapi/v1/interrupt").ok().map(|url| (self.client.clone(), url)))
            .flatten();
        let in_flight = InFlight::start(&server, interrupt);
        // Run again at no cost if its answer is lost: a self-hosted server charges nothing.
        let request = self.client.request(Method::POST, Self::url(&server, path)?).json(&body);
        let answer = tokio::select! {
            reply = self.client.send(request, Phase::Query) => reply,
            () = self.follow_progress(&server, &job.progress) => unreachable!("progress is read until the answer comes"),
        };
        in_flight.done();
        let answer = read(self.flavour, answer?)?;
        let mut outputs: Vec<Output> = Vec::new();
        for encoded in answer["images"].as_array().into_iter().flatten().filter_map(Value::as_str) {
            let payload = encoded.rsplit_once("base64,").map_or(encoded, |(_, rest)| rest);
            let bytes = base64::engine::general_purpose::STANDARD.decode(payload.trim()).map_err(|error| {
                ProviderError::new(
                    ErrorClass::MalformedResponse,
                    format!("{} sent an image that is not base64: {error}", self.flavour.title()),
                )
            })?;
            outputs.push(image_output(bytes.into(), self.flavour.title())?.with_parameters(info(&answer)));
        }
        // AUTOMATIC1111 may add a grid or the init image after the batch: keep the batch.
        outputs.truncate(usize::from(params.num_images).max(1));
        if outputs.is_empty() {
            return Err(ProviderError::new(
                ErrorClass::GenerationFailed,
                format!("{} answered without an image", self.flavour.title()),
            ));
        }
        Ok(Submitted::Finished(outputs))
    }

    async fn poll(&self, _job: &Job<'_>, external_id: &str) -> Result<Polled, ProviderError> {
        Err(ProviderError::new(ErrorClass::ClientError, format!("{external_id}: these servers answer at once")))
    }

    async fn cancel(&self, _external_id: &str) -> Result<(), ProviderError> {
        // Generations answer at once: a running one is interrupted when it is given up.
        Ok(())
    }
}

/// The generation's parameters as the server reports them (`info`, a JSON string
/// on AUTOMATIC1111), to embed in the PNG.
fn info(answer: &Value) -> Option<String> {
    answer["info"].as_str().filter(|info| !info.trim().is_empty()).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use reqwest::StatusCode;
    use reqwest::header::HeaderMap;

    use super::*;

    fn reply(status: u16, body: &str) -> Reply {
        Reply {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
            headers: HeaderMap::new(),
            body: body.to_owned().into(),
        }
    }

    #[test]
    fn each_servers_error_shape_is_read() {
        let oom = r#"{"error":"OutOfMemoryError","detail":"CUDA out of memory. Tried to allocate 2.00 GiB","body":"","errors":""}"#;
        let error = read(Flavour::A1111, reply(500, oom)).expect_err("oom");
        assert_eq!(error.class, ErrorClass::ServerError);
        assert!(error.message.contains("OutOfMemoryError: CUDA out of memory"), "{}", error.message);
        let fastapi =
            r#"{"detail":[{"loc":["body","steps"],"msg":"value is not a valid integer","type":"type_error.integer"}]}"#;
        let error = read(Flavour::A1111, reply(422, fastapi)).expect_err("invalid");
        assert_eq!(error.class, ErrorClass::ClientError);
        assert!(error.message.contains("body.steps: value is not a valid integer"), "{}", error.message);
        let sdcpp = r#"{"error":"invalid size"}"#;
        let error = read(Flavour::SdCpp, reply(400, sdcpp)).expect_err("refused");
        assert!(error.message.contains("invalid size"), "{}", error.message);
        assert_eq!(read(Flavour::A1111, reply(401, "")).expect_err("auth").class, ErrorClass::Unauthorized);
        assert_eq!(read(Flavour::A1111, reply(200, "<html>")).expect_err("html").class, ErrorClass::MalformedResponse);
    }
}
