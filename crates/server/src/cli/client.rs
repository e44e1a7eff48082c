//! A small client of the server's own API, for the CLI.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::Value;

use super::ClientArgs;
use super::output::{CliError, Output};

pub struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    pub fn new(args: &ClientArgs) -> anyhow::Result<Self> {
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(key) = api_key(args)? {
            let mut value = reqwest::header::HeaderValue::from_str(&format!("Bearer {key}"))
                .context("the API key has characters a header cannot carry")?;
            value.set_sensitive(true);
            headers.insert(reqwest::header::AUTHORIZATION, value);
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .default_headers(headers)
            .build()
            .context("building the HTTP client")?;
        Ok(Self { http, base: args.server.trim_end_matches('/').to_owned() })
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get_json(&self, path: &str) -> anyhow::Result<Value> {
        let response = self.http.get(self.url(path)).send().await.map_err(|error| self.unreachable(error))?;
        read_json(response).await
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        let response =
            self.http.post(self.url(path)).json(body).send().await.map_err(|error| self.unreachable(error))?;
        read_json(response).await
    }

    pub async fn download(&self, path: &str) -> anyhow::Result<bytes::Bytes> {
        let response = self.http.get(self.url(path)).send().await.map_err(|error| self.unreachable(error))?;
        if !response.status().is_success() {
            bail!("downloading {path} failed: {}", response.status());
        }
        response.bytes().await.context("reading the download")
    }

    /// A Server-Sent Events stream, open for at most `limit` (the client's own
    /// timeout would cut a long task's stream; the caller reconnects).
    pub async fn event_stream(&self, path: &str, limit: Duration) -> anyhow::Result<reqwest::Response> {
        let response = self
            .http
            .get(self.url(path))
            .header(reqwest::header::ACCEPT, "text/event-stream")
            .timeout(limit)
            .send()
            .await
            .map_err(|error| self.unreachable(error))?;
        if !response.status().is_success() {
            return Err(read_json(response).await.err().unwrap_or_else(|| anyhow::anyhow!("no event stream")));
        }
        Ok(response)
    }

    fn unreachable(&self, error: reqwest::Error) -> anyhow::Error {
        anyhow::Error::new(error).context(CliError::Unreachable { base: self.base.clone() })
    }
}

/// The key to send: `--api-key` / `ATELIER_API_KEY`, else the client config file's
/// `[client] api_key`, else the local CLI key in the data dir (written by the
/// server's first start, owner-only).
fn api_key(args: &ClientArgs) -> anyhow::Result<Option<String>> {
    if let Some(key) = args.api_key.as_deref().map(str::trim).filter(|k| !k.is_empty()) {
        return Ok(Some(key.to_owned()));
    }
    if let Some(path) = &args.client_config {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let file: ClientFile = toml::from_str(&text).with_context(|| format!("reading {}", path.display()))?;
        let key = match (&file.client.api_key, &file.client.api_key_file) {
            (_, Some(key_file)) => std::fs::read_to_string(key_file)
                .with_context(|| format!("reading client.api_key_file {}", key_file.display()))?,
            (Some(key), None) => key.clone(),
            (None, None) => String::new(),
        };
        if !key.trim().is_empty() {
            return Ok(Some(key.trim().to_owned()));
        }
    }
    let path = crate::config::auth::cli_key_path(&args.key_dir);
    Ok(std::fs::read_to_string(path).ok().map(|key| key.trim().to_owned()).filter(|k| !k.is_empty()))
}

/// A client config file: `[client] api_key = "atl_…"` (or `api_key_file`).
#[derive(Debug, Default, serde::Deserialize)]
struct ClientFile {
    #[serde(default)]
    client: ClientSection,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientSection {
    api_key: Option<String>,
    api_key_file: Option<std::path::PathBuf>,
}

/// The JSON body of a success, or the server's error (its code, message, details).
async fn read_json(response: reqwest::Response) -> anyhow::Result<Value> {
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if status.is_success() {
        return Ok(body);
    }
    Err(CliError::Api {
        status: status.as_u16(),
        code: body["error"].as_str().unwrap_or("error").to_owned(),
        message: body["message"].as_str().unwrap_or("the server refused the request").to_owned(),
        details: body.get("details").cloned().unwrap_or(Value::Null),
    }
    .into())
}

pub async fn healthcheck(args: &ClientArgs, output: Output) -> anyhow::Result<ExitCode> {
    let client = Client::new(args)?;
    let body = client.get_json("/api/v1/health").await.context("unhealthy")?;
    output.print(&body, Value::to_string);
    Ok(ExitCode::SUCCESS)
}
