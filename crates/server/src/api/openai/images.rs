//! `POST /v1/images/generations`: OpenAI's image call for any Atelier image model,
//! answered when its task completes, as `b64_json` or a signed `url`.

use std::time::Duration;

use atelier_core::catalog::{Modality, ModelSpec};
use atelier_core::task::Task;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use base64::Engine;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::error::OpenAiError;
use super::fit::Fit;
use super::run;
use crate::api::auth::Caller;
use crate::app::AppState;

/// OpenAI's images request; fields beyond these go to the model when it takes them.
#[derive(Debug, Deserialize)]
pub struct ImagesRequest {
    pub prompt: Option<String>,
    pub model: Option<String>,
    pub n: Option<u64>,
    pub size: Option<String>,
    pub response_format: Option<String>,
    pub stream: Option<bool>,
    /// OpenAI's options, passed to models that take them.
    pub quality: Option<Value>,
    pub style: Option<Value>,
    pub background: Option<Value>,
    pub output_format: Option<Value>,
    pub output_compression: Option<Value>,
    pub moderation: Option<Value>,
    pub user: Option<Value>,
    pub input_fidelity: Option<Value>,
    pub partial_images: Option<Value>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ImagesRequest {
    /// The request as the model's input, with `files` (upload ids of an edit's
    /// images and mask) where the model takes them.
    pub fn fit(self, spec: &ModelSpec, images: Vec<String>, mask: Option<String>) -> Result<Value, OpenAiError> {
        if self.stream == Some(true) {
            return Err(OpenAiError::invalid("stream", "streamed partial images are not offered: leave stream out"));
        }
        let prompt = self.prompt.as_deref().map(str::trim).filter(|prompt| !prompt.is_empty());
        if prompt.is_none() {
            return Err(OpenAiError::invalid("prompt", "prompt is required"));
        }
        let mut fit = Fit::new(&spec.input_schema);
        fit.prompt(prompt, "prompt")?;
        fit.count(self.n)?;
        fit.size(self.size.as_deref())?;
        fit.files(images, "image")?;
        if let Some(mask) = mask
            && !fit.set_first(&["mask"], json!(mask))
        {
            return Err(OpenAiError::invalid("mask", "this model takes no mask"));
        }
        for (field, value) in [
            ("quality", self.quality),
            ("style", self.style),
            ("background", self.background),
            ("output_format", self.output_format),
            ("output_compression", self.output_compression),
            ("moderation", self.moderation),
            ("user", self.user),
            ("input_fidelity", self.input_fidelity),
            ("partial_images", self.partial_images),
        ] {
            fit.set_if_taken(field, value);
        }
        fit.extras(self.extra)?;
        Ok(fit.finish())
    }
}

/// How the images come back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseFormat {
    Url,
    B64Json,
}

impl ResponseFormat {
    /// As asked; else as OpenAI answers that model (GPT Image models always in
    /// base64, DALL·E by URL), and by URL for every other model.
    pub fn choose(asked: Option<&str>, spec: &ModelSpec) -> Result<Self, OpenAiError> {
        match asked {
            Some("url") => Ok(Self::Url),
            Some("b64_json") => Ok(Self::B64Json),
            Some(other) => Err(OpenAiError::invalid(
                "response_format",
                format!("response_format {other:?} is not url or b64_json"),
            )),
            None if spec.model.starts_with("gpt-image") => Ok(Self::B64Json),
            None => Ok(Self::Url),
        }
    }
}

pub async fn generate(
    State(state): State<AppState>,
    Caller(caller): Caller,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<Value>, OpenAiError> {
    let request: ImagesRequest = super::json_body(&headers, &body)?;
    let spec = run::resolve(&state, request.model.as_deref(), Modality::Image)?;
    let format = ResponseFormat::choose(request.response_format.as_deref(), &spec)?;
    let input = request.fit(&spec, Vec::new(), None)?;
    let task = run::create(&state, &caller, &headers, &spec, input).await?;
    let task = run::finish(&state, &caller, task).await?;
    answer(&state, &headers, &task, format).await.map(Json)
}

/// The images response: `created`, and each image in `data`.
pub async fn answer(
    state: &AppState,
    headers: &HeaderMap,
    task: &Task,
    format: ResponseFormat,
) -> Result<Value, OpenAiError> {
    let mut data = Vec::new();
    for asset in run::primary(task).filter(|asset| asset.mime.starts_with("image/")) {
        let item = match format {
            ResponseFormat::B64Json => {
                let bytes = run::read(state, asset).await?;
                json!({ "b64_json": base64::engine::general_purpose::STANDARD.encode(&bytes) })
            }
            ResponseFormat::Url => {
                let ttl = Duration::from_secs(state.config.openai_api.url_ttl_secs);
                let link = crate::api::assets::shared_link(state, &asset.id, Some(ttl));
                json!({ "url": format!("{}{}", origin(headers), link.url) })
            }
        };
        data.push(item);
    }
    let mut body = json!({
        "created": run::unix_seconds(task.completed_at.unwrap_or(task.created_at)),
        "data": data,
    });
    // GPT Image answers also say what they made.
    for field in ["size", "quality", "background", "output_format"] {
        if let Some(value) = task.input.get(field).filter(|value| value.is_string()) {
            body[field] = value.clone();
        }
    }
    Ok(body)
}

/// The server's address as the client reached it (behind a proxy, the forwarded
/// scheme and host), for absolute links.
pub fn origin(headers: &HeaderMap) -> String {
    let header_text = |name: &str| headers.get(name).and_then(|value| value.to_str().ok()).map(str::trim);
    let scheme = header_text("x-forwarded-proto")
        .and_then(|value| value.split(',').next())
        .map(str::trim)
        .filter(|scheme| matches!(*scheme, "http" | "https"))
        .unwrap_or("http");
    let plausible =
        |host: &&str| !host.is_empty() && host.chars().all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c));
    let host = header_text("x-forwarded-host")
        .and_then(|value| value.split(',').next())
        .map(str::trim)
        .filter(plausible)
        .or_else(|| header_text(header::HOST.as_str()).filter(plausible))
        .unwrap_or("localhost");
    format!("{scheme}://{host}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn links_use_the_address_the_client_reached() {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8080"));
        assert_eq!(origin(&headers), "http://127.0.0.1:8080");
        headers.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        headers.insert("x-forwarded-host", HeaderValue::from_static("atelier.example.com"));
        assert_eq!(origin(&headers), "https://atelier.example.com");
        headers.insert("x-forwarded-host", HeaderValue::from_static("evil.com/x?"));
        assert_eq!(origin(&headers), "https://127.0.0.1:8080");
    }
}
