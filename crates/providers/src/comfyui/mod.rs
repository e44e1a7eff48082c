//! ComfyUI (docs/providers/sdapi.md 5.3): workflow templates in ComfyUI's API
//! format, each a model, with named inputs that Atelier fills (`template.rs`);
//! shipped ones for text to image, image to image and an upscale, and the user's
//! own from a folder. A task's images are uploaded (`/upload/image`), its workflow
//! queued (`POST /prompt`, the prompt id recorded), then followed: progress over
//! ComfyUI's WebSocket while a poll lasts, the result from `/history` (the WebSocket
//! is never needed), the images read from `/view`. A node's refusal of the
//! workflow is the user's error, with ComfyUI's words.
//!
//! A prompt on one's own server costs nothing: one lost by a server that restarted
//! is queued again.

mod config;
pub mod template;

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use atelier_core::CoreError;
use atelier_core::catalog::{Modality, ModelSpec};
use atelier_core::ports::{ErrorClass, Job, Output, Polled, Provider, ProviderError, Submitted};
use futures::StreamExt;
use reqwest::Method;
use serde_json::{Value, json};

pub use self::config::ComfyUiConfig;
use self::config::Settings;
use self::template::{Choices, Template};
use crate::kit::image::image_output;
use crate::kit::pool::{Server, Servers};
use crate::kit::{ApiClient, Basic, ConfigError, Named, Phase, Reply};

pub const SERVICE: &str = "comfyui";
const CONFIG_KEY: &str = "providers.comfyui.urls";
/// The longest a poll listens on the WebSocket for progress.
const LISTEN: Duration = Duration::from_secs(2);

const SHIPPED: [(&str, &str); 3] = [
    ("txt2img", include_str!("templates/txt2img.json")),
    ("img2img", include_str!("templates/img2img.json")),
    ("upscale", include_str!("templates/upscale.json")),
];

struct Workflow {
    name: String,
    template: Template,
}

impl Named for Workflow {
    fn name(&self) -> &str {
        &self.name
    }
}

pub struct ComfyUiProvider {
    settings: Settings,
    client: ApiClient,
    servers: Servers,
    workflows: RwLock<Arc<Vec<Workflow>>>,
    choices: RwLock<Choices>,
}

impl ComfyUiProvider {
    pub fn new(config: &ComfyUiConfig) -> Result<Self, ConfigError> {
        let settings = config.settings()?;
        let client = ApiClient::new(
            "ComfyUI",
            Arc::new(Basic::new(None).map_err(|e| ConfigError::new(CONFIG_KEY, e.message))?),
            settings.request_timeout,
        )
        .map_err(|error| ConfigError::new(CONFIG_KEY, error.message))?;
        let workflows = load_workflows(settings.templates_dir.as_deref());
        Ok(Self {
            servers: Servers::new(&settings.urls),
            settings,
            client,
            workflows: RwLock::new(Arc::new(workflows)),
            choices: RwLock::new(Choices::default()),
        })
    }

    fn workflows(&self) -> Arc<Vec<Workflow>> {
        self.workflows.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    fn choices(&self) -> Choices {
        self.choices.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    fn template(&self, model: &str) -> Option<Template> {
        self.workflows().iter().find(|workflow| workflow.name.eq_ignore_ascii_case(model)).map(|w| w.template.clone())
    }

    fn url(server: &str, path: &str) -> Result<reqwest::Url, ProviderError> {
        reqwest::Url::parse(&format!("{server}{path}"))
            .map_err(|error| ProviderError::new(ErrorClass::ClientError, format!("a ComfyUI URL: {error}")))
    }

    async fn call(&self, request: reqwest::RequestBuilder) -> Result<Value, ProviderError> {
        read(self.client.send(request, Phase::Query).await?)
    }

    /// Uploads an input file to ComfyUI's input folder; returns the name it took.
    async fn upload(
        &self,
        server: &Server,
        job: &Job<'_>,
        field: &str,
        reference: &str,
    ) -> Result<String, ProviderError> {
        let file = crate::kit::inputs::open_input(job.files, reference, field).await?;
        let extension = file.mime.rsplit('/').next().unwrap_or("png").replace("jpeg", "jpg");
        let name = format!("atelier_{}_{field}.{extension}", job.task_id);
        let part = reqwest::multipart::Part::bytes(file.bytes.to_vec())
            .file_name(name)
            .mime_str(&file.mime)
            .map_err(|error| ProviderError::new(ErrorClass::ClientError, format!("{field}: {error}")))?;
        let form = reqwest::multipart::Form::new().part("image", part).text("overwrite", "true").text("type", "input");
        let answer = self
            .call(self.client.request(Method::POST, Self::url(&server.url, "/upload/image")?).multipart(form))
            .await?;
        let stored = answer["name"].as_str().ok_or_else(|| {
            ProviderError::new(
                ErrorClass::MalformedResponse,
                format!("ComfyUI stored the upload without a name: {answer}"),
            )
        })?;
        Ok(match answer["subfolder"].as_str().filter(|folder| !folder.is_empty()) {
            Some(folder) => format!("{folder}/{stored}"),
            None => stored.to_owned(),
        })
    }

    /// Listens on the WebSocket for up to [`LISTEN`]: the progress of this prompt,
    /// and whether it ended.
    async fn listen(&self, server: &str, client_id: &str, prompt_id: &str, job: &Job<'_>) -> bool {
        let ws = server.replacen("http", "ws", 1);
        let Ok(Ok((mut socket, _))) =
            tokio::time::timeout(LISTEN, tokio_tungstenite::connect_async(format!("{ws}/ws?clientId={client_id}")))
                .await
        else {
            return false;
        };
        let deadline = tokio::time::Instant::now() + LISTEN;
        while let Ok(Some(Ok(message))) = tokio::time::timeout_at(deadline, socket.next()).await {
            let Ok(text) = message.into_text() else { continue };
            let Ok(event) = serde_json::from_str::<Value>(text.as_str()) else { continue };
            let data = &event["data"];
            if data["prompt_id"].as_str() != Some(prompt_id) {
                continue;
            }
            match event["type"].as_str() {
                Some("progress") => {
                    if let (Some(value), Some(max)) = (data["value"].as_f64(), data["max"].as_f64())
                        && max > 0.0
                    {
                        job.progress.fetch_max(((value / max).clamp(0.0, 1.0) * 99.0) as u8, Ordering::Relaxed);
                    }
                }
                Some("execution_success" | "execution_error" | "execution_interrupted") => return true,
                Some("executing") if data["node"].is_null() => return true,
                _ => {}
            }
        }
        false
    }

    /// A prompt's `/history` entry (`null` until it ends).
    async fn history(&self, server: &str, prompt_id: &str) -> Result<Value, ProviderError> {
        let url = Self::url(server, &format!("/history/{prompt_id}"))?;
        self.call(self.client.request(Method::GET, url)).await
    }

    /// The images of a finished prompt's output nodes, read from `/view`.
    async fn outputs(&self, server: &str, entry: &Value) -> Result<Vec<Output>, ProviderError> {
        let mut files: Vec<(String, String, String)> = Vec::new();
        let mut previews = Vec::new();
        for node in entry["outputs"].as_object().into_iter().flat_map(|nodes| nodes.values()) {
            for image in node["images"].as_array().into_iter().flatten() {
                let name = image["filename"].as_str().unwrap_or_default().to_owned();
                let folder = image["subfolder"].as_str().unwrap_or_default().to_owned();
                let kind = image["type"].as_str().unwrap_or("output").to_owned();
                if kind == "output" { files.push((name, folder, kind)) } else { previews.push((name, folder, kind)) }
            }
        }
        if files.is_empty() {
            files = previews;
        }
        let mut outputs = Vec::new();
        for (name, folder, kind) in files {
            let mut url = Self::url(server, "/view")?;
            url.query_pairs_mut()
                .append_pair("filename", &name)
                .append_pair("subfolder", &folder)
                .append_pair("type", &kind);
            let reply = self.client.send(self.client.request(Method::GET, url), Phase::Query).await?;
            if !reply.status.is_success() {
                return Err(error_of(&reply));
            }
            outputs.push(image_output(reply.body, "ComfyUI")?);
        }
        if outputs.is_empty() {
            return Err(ProviderError::new(
                ErrorClass::GenerationFailed,
                "ComfyUI finished the workflow without an image",
            ));
        }
        Ok(outputs)
    }
}

/// The shipped templates, then the folder's (`*.json`, each named after its file;
/// one that does not load is left out, and said so).
fn load_workflows(dir: Option<&std::path::Path>) -> Vec<Workflow> {
    let mut workflows = Vec::new();
    for (name, text) in SHIPPED {
        match Template::parse(text) {
            Ok(template) => workflows.push(Workflow { name: name.to_owned(), template }),
            Err(error) => tracing::error!(template = name, %error, "a shipped ComfyUI template does not load"),
        }
    }
    let Some(dir) = dir else { return workflows };
    let mut paths: Vec<_> = std::fs::read_dir(dir).into_iter().flatten().flatten().map(|entry| entry.path()).collect();
    paths.sort();
    for path in paths.into_iter().filter(|path| path.extension().is_some_and(|ext| ext == "json")) {
        let name = path.file_stem().and_then(|stem| stem.to_str()).unwrap_or_default().to_ascii_lowercase();
        let loaded =
            std::fs::read_to_string(&path).map_err(|error| error.to_string()).and_then(|text| Template::parse(&text));
        match loaded {
            Ok(template) if !name.is_empty() => {
                workflows.retain(|workflow| workflow.name != name);
                workflows.push(Workflow { name, template });
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(path = %path.display(), %error, "a ComfyUI template was left out"),
        }
    }
    workflows
}

/// The external id of a queued prompt: its id and its server.
fn external_id(prompt_id: &str, server: &str) -> String {
    format!("{prompt_id}@{server}")
}

fn read(reply: Reply) -> Result<Value, ProviderError> {
    if !reply.status.is_success() {
        return Err(error_of(&reply));
    }
    serde_json::from_slice(&reply.body).map_err(|error| {
        ProviderError::new(ErrorClass::MalformedResponse, format!("ComfyUI's answer is not JSON: {error}"))
    })
}

/// ComfyUI's refusal of a workflow (`error` and `node_errors`), in its own words:
/// the user's to fix. Other statuses by their class.
fn error_of(reply: &Reply) -> ProviderError {
    let body: Value = serde_json::from_slice(&reply.body).unwrap_or(Value::Null);
    let mut words = Vec::new();
    if let Some(message) = body["error"]["message"].as_str() {
        let details =
            body["error"]["details"].as_str().filter(|d| !d.is_empty()).map(|d| format!(" ({d})")).unwrap_or_default();
        words.push(format!("{message}{details}"));
    }
    for (node, errors) in body["node_errors"].as_object().into_iter().flatten() {
        let class = errors["class_type"].as_str().unwrap_or("a node");
        for error in errors["errors"].as_array().into_iter().flatten() {
            let message = error["message"].as_str().unwrap_or_default();
            let details = error["details"].as_str().unwrap_or_default();
            words.push(format!("node {node} ({class}): {message}: {details}"));
        }
    }
    if words.is_empty() {
        words.push(String::from_utf8_lossy(&reply.body).chars().take(200).collect());
    }
    let status = reply.status.as_u16();
    let class = match status {
        400..500 => ErrorClass::ClientError,
        _ => ErrorClass::ServerError,
    };
    ProviderError::new(class, format!("ComfyUI answered HTTP {status}: {}", words.join("; ")))
}

/// A finished history entry's failure, if it failed: an out-of-memory is the
/// server's (tried again), any other node exception the generation's.
fn failure(entry: &Value) -> Option<ProviderError> {
    let status = &entry["status"];
    if status["status_str"].as_str() != Some("error") {
        return None;
    }
    let messages = status["messages"].as_array().cloned().unwrap_or_default();
    let found = |kind: &str| messages.iter().find(|message| message[0] == kind).map(|message| message[1].clone());
    if let Some(error) = found("execution_error") {
        let kind = error["exception_type"].as_str().unwrap_or_default();
        let text = error["exception_message"].as_str().unwrap_or_default().trim();
        let node = error["node_type"].as_str().unwrap_or("a node");
        let class = if kind.contains("OutOfMemory") { ErrorClass::ServerError } else { ErrorClass::GenerationFailed };
        return Some(ProviderError::new(class, format!("ComfyUI's {node} failed: {kind}: {text}")));
    }
    if found("execution_interrupted").is_some() {
        return Some(ProviderError::new(
            ErrorClass::GenerationFailed,
            "the prompt was interrupted on the ComfyUI server",
        ));
    }
    Some(ProviderError::new(ErrorClass::GenerationFailed, "ComfyUI ended the workflow with an error"))
}

#[async_trait]
impl Provider for ComfyUiProvider {
    fn service(&self) -> &str {
        SERVICE
    }

    fn models(&self) -> Vec<ModelSpec> {
        let choices = self.choices();
        self.workflows()
            .iter()
            .map(|workflow| ModelSpec {
                service: SERVICE.into(),
                model: workflow.name.clone(),
                aliases: Vec::new(),
                modality: Modality::Image,
                title: workflow.template.title.clone(),
                description: workflow.template.description.clone(),
                input_schema: workflow.template.schema(&choices),
                estimated_seconds: 30,
                poll_timeout_secs: Some(1800),
                requires_config: self.servers.is_empty().then(|| CONFIG_KEY.to_owned()),
            })
            .collect()
    }

    /// Reads the templates folder again, and the first server that answers for its
    /// checkpoints, samplers, schedulers and upscale models (`/object_info`).
    async fn refresh_models(&self) -> Result<(), ProviderError> {
        *self.workflows.write().unwrap_or_else(std::sync::PoisonError::into_inner) =
            Arc::new(load_workflows(self.settings.templates_dir.as_deref()));
        let mut last_error = None;
        for server in self.servers.iter() {
            let info = match self.call(self.client.request(Method::GET, Self::url(&server.url, "/object_info")?)).await
            {
                Ok(info) => info,
                Err(error) => {
                    last_error = Some(error);
                    continue;
                }
            };
            let list = |pointer: &str| -> Vec<String> {
                info.pointer(pointer)
                    .and_then(Value::as_array)
                    .map(|items| items.iter().filter_map(Value::as_str).map(str::to_owned).collect())
                    .unwrap_or_default()
            };
            *self.choices.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Choices {
                checkpoints: list("/CheckpointLoaderSimple/input/required/ckpt_name/0"),
                samplers: list("/KSampler/input/required/sampler_name/0"),
                schedulers: list("/KSampler/input/required/scheduler/0"),
                upscale_models: list("/UpscaleModelLoader/input/required/model_name/0"),
            };
            return Ok(());
        }
        last_error.map_or(Ok(()), Err)
    }

    fn validate(&self, model: &str, input: &Value) -> Result<Value, CoreError> {
        let template = self
            .template(model)
            .ok_or_else(|| CoreError::invalid("model", format!("no ComfyUI workflow {model:?}")))?;
        template.validate(input, &self.choices())
    }

    fn input_files(&self, model: &str, input: &Value) -> Vec<String> {
        self.template(model)
            .map(|template| template.files(input).into_iter().map(|(_, file)| file).collect())
            .unwrap_or_default()
    }

    fn submit_is_costly(&self) -> bool {
        false
    }

    async fn submit(&self, job: &Job<'_>) -> Result<Submitted, ProviderError> {
        let template = self.template(job.model).ok_or_else(|| {
            ProviderError::new(ErrorClass::ClientError, format!("no ComfyUI workflow {:?} any more", job.model))
        })?;
        let server = self.servers.pick(CONFIG_KEY)?;
        let _busy = server.begin();
        let mut uploaded = BTreeMap::new();
        for (field, reference) in template.files(job.input) {
            let name = self.upload(&server, job, &field, &reference).await?;
            uploaded.insert(field, name);
        }
        // A seed left out is random per task, and the same again for a retry of it.
        let seed = job
            .task_id
            .to_string()
            .bytes()
            .fold(0x811c_9dc5_u32, |hash, byte| (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193));
        let workflow = template.fill(job.input, &uploaded, seed);
        let body = json!({ "prompt": workflow, "client_id": format!("atelier-{}", job.task_id) });
        let answer =
            self.call(self.client.request(Method::POST, Self::url(&server.url, "/prompt")?).json(&body)).await?;
        let prompt_id = answer["prompt_id"].as_str().filter(|id| !id.is_empty()).ok_or_else(|| {
            ProviderError::new(ErrorClass::MalformedResponse, format!("ComfyUI queued no prompt: {answer}"))
        })?;
        Ok(Submitted::Accepted {
            external_id: external_id(prompt_id, &server.url),
            poll_after: self.settings.first_poll,
        })
    }

    async fn poll(&self, job: &Job<'_>, external: &str) -> Result<Polled, ProviderError> {
        let (prompt_id, server) = external.split_once('@').ok_or_else(|| {
            ProviderError::new(ErrorClass::ClientError, format!("{external} is not a ComfyUI prompt of Atelier's"))
        })?;
        if self.servers.find(server).is_none() {
            return Err(ProviderError::new(
                ErrorClass::ClientError,
                format!("the ComfyUI server {server} is no longer configured"),
            ));
        }
        let mut entry = self.history(server, prompt_id).await?[prompt_id].clone();
        if entry.is_null()
            && self.settings.websocket
            && self.listen(server, &format!("atelier-{}", job.task_id), prompt_id, job).await
        {
            entry = self.history(server, prompt_id).await?[prompt_id].clone();
        }
        // ComfyUI writes a prompt's history when it ends, failed or not.
        if entry.is_object() {
            return Ok(match failure(&entry) {
                Some(error) => Polled::Failed(error),
                None => Polled::Finished(self.outputs(server, &entry).await?),
            });
        }
        // Not in the history: queued, running, or lost by a server that restarted.
        let queue = self.call(self.client.request(Method::GET, Self::url(server, "/queue")?)).await?;
        let listed = ["queue_running", "queue_pending"].iter().any(|list| {
            queue[*list]
                .as_array()
                .into_iter()
                .flatten()
                .any(|item| item.get(1).and_then(Value::as_str) == Some(prompt_id))
        });
        if !listed && self.history(server, prompt_id).await?[prompt_id].is_null() {
            return Ok(Polled::Failed(ProviderError::new(
                ErrorClass::ServerError,
                format!("the ComfyUI server no longer knows prompt {prompt_id} (restarted?): it is queued again"),
            )));
        }
        Ok(Polled::Running { progress: None, poll_after: self.settings.first_poll })
    }

    async fn cancel(&self, external: &str) -> Result<(), ProviderError> {
        let Some((prompt_id, server)) = external.split_once('@') else { return Ok(()) };
        if self.servers.find(server).is_none() {
            return Ok(());
        }
        // Out of the queue if it waits there; interrupted if it runs (ComfyUI
        // interrupts whatever runs, so only when it is this prompt).
        let queue = self.call(self.client.request(Method::GET, Self::url(server, "/queue")?)).await?;
        let running = queue["queue_running"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|item| item.get(1).and_then(Value::as_str) == Some(prompt_id));
        let delete = json!({ "delete": [prompt_id] });
        self.client
            .send(self.client.request(Method::POST, Self::url(server, "/queue")?).json(&delete), Phase::Query)
            .await?;
        if running {
            self.client.send(self.client.request(Method::POST, Self::url(server, "/interrupt")?), Phase::Query).await?;
        }
        Ok(())
    }
}
