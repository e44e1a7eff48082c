//! A small client of the server's own API, for the CLI.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::Value;

use super::ClientArgs;

pub struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    pub fn new(args: &ClientArgs) -> anyhow::Result<Self> {
        let http =
            reqwest::Client::builder().timeout(Duration::from_secs(120)).build().context("building the HTTP client")?;
        Ok(Self { http, base: args.server.trim_end_matches('/').to_owned() })
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get_json(&self, path: &str) -> anyhow::Result<Value> {
        let response = self.http.get(self.url(path)).send().await.with_context(|| self.unreachable())?;
        read_json(response).await
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        let response = self.http.post(self.url(path)).json(body).send().await.with_context(|| self.unreachable())?;
        read_json(response).await
    }

    pub async fn download(&self, path: &str) -> anyhow::Result<bytes::Bytes> {
        let response = self.http.get(self.url(path)).send().await.with_context(|| self.unreachable())?;
        if !response.status().is_success() {
            bail!("downloading {path} failed: {}", response.status());
        }
        response.bytes().await.context("reading the download")
    }

    fn unreachable(&self) -> String {
        format!("cannot reach the server at {} (is `atelier serve` running? set --server)", self.base)
    }
}

/// The JSON body of a success, or the server's error message.
async fn read_json(response: reqwest::Response) -> anyhow::Result<Value> {
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if status.is_success() {
        return Ok(body);
    }
    let code = body.get("error").and_then(Value::as_str).unwrap_or("error");
    let message = body.get("message").and_then(Value::as_str).unwrap_or("the server refused the request");
    bail!("{message} ({code}, HTTP {})", status.as_u16())
}

pub async fn healthcheck(args: &ClientArgs) -> anyhow::Result<ExitCode> {
    let client = Client::new(args)?;
    match client.get_json("/api/v1/health").await {
        Ok(body) => {
            println!("{body}");
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => {
            eprintln!("unhealthy: {error:#}");
            Ok(ExitCode::FAILURE)
        }
    }
}
