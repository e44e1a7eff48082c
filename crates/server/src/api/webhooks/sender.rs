//! The dispatcher's HTTP side: every URL is vetted by the fetch policy's SSRF
//! guard on every attempt (http(s); loopback, private, link-local and the like
//! only when `fetch.allow` lists them), the connection goes to the address that
//! was checked, redirects are not followed (a receiver answers where it was
//! subscribed), and the answer is read up to its first KiB.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use atelier_core::ports::WebhookSender;
use atelier_core::webhook::{AttemptOutcome, EXCERPT_BYTES, excerpt};
use futures::StreamExt;

use crate::fetch::{FetchError, FetchPolicy};

/// Clients kept per checked (host, address): a connection pool each.
const MAX_CLIENTS: usize = 256;

pub struct HttpSender {
    policy: FetchPolicy,
    timeout: Duration,
    clients: Mutex<HashMap<(String, SocketAddr), reqwest::Client>>,
}

impl HttpSender {
    pub fn new(policy: FetchPolicy, timeout: Duration) -> Self {
        Self { policy, timeout, clients: Mutex::new(HashMap::new()) }
    }

    fn client(&self, host: &str, address: SocketAddr) -> Result<reqwest::Client, String> {
        let mut clients = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(client) = clients.get(&(host.to_owned(), address)) {
            return Ok(client.clone());
        }
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(self.timeout)
            .connect_timeout(self.timeout.min(Duration::from_secs(10)))
            .resolve(host, address)
            .user_agent(concat!("Atelier-Webhooks/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|error| format!("building the HTTP client: {error}"))?;
        if clients.len() >= MAX_CLIENTS {
            clients.clear();
        }
        clients.insert((host.to_owned(), address), client.clone());
        Ok(client)
    }

    async fn checked(&self, url: &str) -> Result<(url::Url, SocketAddr), String> {
        let parsed = url::Url::parse(url).map_err(|error| format!("not a URL: {error}"))?;
        let address = self.policy.vet(&parsed).await.map_err(|error| match error {
            FetchError::Refused(reason) | FetchError::Failed(reason) => reason,
            FetchError::Status(status) => format!("HTTP {status}"),
        })?;
        Ok((parsed, address))
    }
}

#[async_trait]
impl WebhookSender for HttpSender {
    async fn vet(&self, url: &str) -> Result<(), String> {
        self.checked(url).await.map(|_| ())
    }

    async fn send(&self, url: &str, headers: &[(&'static str, String)], body: &[u8]) -> AttemptOutcome {
        let started = Instant::now();
        let failed = |error: String, started: Instant| AttemptOutcome {
            status: None,
            error: Some(error),
            latency_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            excerpt: None,
        };
        let (parsed, address) = match self.checked(url).await {
            Ok(checked) => checked,
            Err(error) => return failed(error, started),
        };
        let host = parsed.host_str().unwrap_or_default().trim_start_matches('[').trim_end_matches(']').to_owned();
        let client = match self.client(&host, address) {
            Ok(client) => client,
            Err(error) => return failed(error, started),
        };
        let mut request = client.post(parsed).body(body.to_vec());
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(error) if error.is_timeout() => return failed("the receiver did not answer in time".into(), started),
            Err(error) => return failed(format!("sending failed: {error}"), started),
        };
        let status = response.status().as_u16();
        let mut answer = Vec::new();
        let mut stream = response.bytes_stream();
        while let Some(Ok(chunk)) = stream.next().await {
            answer.extend_from_slice(&chunk);
            if answer.len() >= EXCERPT_BYTES {
                break;
            }
        }
        AttemptOutcome {
            status: Some(status),
            error: None,
            latency_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            excerpt: Some(excerpt(&String::from_utf8_lossy(&answer))),
        }
    }
}
