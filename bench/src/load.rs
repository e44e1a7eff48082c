//! The load generator's HTTP side: clients sending the admin key, tasks created with
//! many requests in flight, task counts, and waiting until every task has ended.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::server::Server;

/// Requests in flight while creating tasks.
pub const CREATE_CLIENTS: usize = 64;

const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(300);

/// A client sending the server's admin key (authentication is always on).
pub fn client(pool: usize, key: &str) -> Result<reqwest::Client> {
    client_with(pool, Some(key))
}

/// A client sending `key` as a bearer token, or nothing (a peer without keys).
pub fn client_with(pool: usize, key: Option<&str>) -> Result<reqwest::Client> {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(key) = key {
        headers.insert(
            reqwest::header::AUTHORIZATION,
            reqwest::header::HeaderValue::from_str(&format!("Bearer {key}")).context("the key as a header")?,
        );
    }
    reqwest::Client::builder()
        .default_headers(headers)
        .pool_max_idle_per_host(pool)
        .tcp_nodelay(true)
        .timeout(REQUEST_TIMEOUT)
        .no_proxy()
        .build()
        .context("building an HTTP client")
}

pub fn error_kind(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        "timeout".to_owned()
    } else if error.is_connect() {
        "connect error".to_owned()
    } else {
        let text = error.to_string();
        format!("transport error ({})", text.chars().take(80).collect::<String>())
    }
}

pub async fn get_json(client: &reqwest::Client, url: &str) -> Result<Value> {
    let response = client.get(url).send().await.with_context(|| format!("GET {url}"))?;
    let status = response.status();
    let body = response.bytes().await.with_context(|| format!("GET {url}: reading the body"))?;
    if !status.is_success() {
        bail!("GET {url}: HTTP {status}: {}", String::from_utf8_lossy(&body).chars().take(300).collect::<String>());
    }
    serde_json::from_slice(&body).with_context(|| format!("GET {url}: not JSON"))
}

/// POSTs `body` to `url` and reads the JSON answer, which must come with `expected`.
pub async fn post_json(http: &reqwest::Client, url: &str, body: &Value, expected: u16) -> Result<Value> {
    let response = http.post(url).json(body).send().await.with_context(|| format!("POST {url}"))?;
    let status = response.status();
    let text = response.text().await.with_context(|| format!("POST {url}: reading the body"))?;
    if status.as_u16() != expected {
        bail!("POST {url}: HTTP {status}: {}", text.chars().take(300).collect::<String>());
    }
    serde_json::from_str(&text).with_context(|| format!("POST {url}: not JSON"))
}

pub struct Created {
    pub ids: Vec<String>,
    pub elapsed: Duration,
    pub errors: BTreeMap<String, usize>,
    /// First few error bodies, for the report.
    pub samples: Vec<String>,
    pub latencies_us: Vec<u64>,
}

/// Creates `n` tasks with `clients` requests in flight; `body(i)` is the i-th request.
pub async fn create_tasks(
    server: &Server,
    n: usize,
    clients: usize,
    body: impl Fn(usize) -> Value + Send + Sync + 'static,
) -> Result<Created> {
    let http = client(clients, &server.key)?;
    create_tasks_at(http, format!("{}/api/v1/tasks", server.base), n, clients, body).await
}

/// Creates `n` tasks by POSTing `body(i)` to `url` with `clients` requests in flight
/// (`http` holds at least that many connections); each answer must be a success with
/// a `task_id`. Atelier's `POST /api/v1/tasks` and the peers' create routes alike.
pub async fn create_tasks_at(
    http: reqwest::Client,
    url: String,
    n: usize,
    clients: usize,
    body: impl Fn(usize) -> Value + Send + Sync + 'static,
) -> Result<Created> {
    let url = Arc::new(url);
    let next = Arc::new(AtomicUsize::new(0));
    let body = Arc::new(body);
    let started = Instant::now();
    let mut handles = Vec::with_capacity(clients);
    for _ in 0..clients {
        let (http, url, next, body) = (http.clone(), Arc::clone(&url), Arc::clone(&next), Arc::clone(&body));
        handles.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            let mut errors: BTreeMap<String, usize> = BTreeMap::new();
            let mut samples = Vec::new();
            let mut latencies = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    break;
                }
                let sent = Instant::now();
                let outcome = match http.post(url.as_str()).json(&body(i)).send().await {
                    Ok(response) => {
                        let status = response.status();
                        match response.bytes().await {
                            Ok(bytes) if status.is_success() => {
                                match serde_json::from_slice::<Value>(&bytes)
                                    .ok()
                                    .and_then(|v| v.get("task_id").and_then(Value::as_str).map(str::to_owned))
                                {
                                    Some(id) => Ok(id),
                                    None => Err((format!("HTTP {} without task_id", status.as_u16()), bytes.to_vec())),
                                }
                            }
                            Ok(bytes) => Err((format!("HTTP {}", status.as_u16()), bytes.to_vec())),
                            Err(error) => Err((error_kind(&error), Vec::new())),
                        }
                    }
                    Err(error) => Err((error_kind(&error), Vec::new())),
                };
                latencies.push(sent.elapsed().as_micros() as u64);
                match outcome {
                    Ok(id) => ids.push(id),
                    Err((kind, bytes)) => {
                        if samples.len() < 3 {
                            samples.push(format!(
                                "{kind}: {}",
                                String::from_utf8_lossy(&bytes).chars().take(200).collect::<String>()
                            ));
                        }
                        *errors.entry(kind).or_default() += 1;
                    }
                }
            }
            (ids, errors, samples, latencies)
        }));
    }
    let mut created = Created {
        ids: Vec::with_capacity(n),
        elapsed: Duration::ZERO,
        errors: BTreeMap::new(),
        samples: Vec::new(),
        latencies_us: Vec::with_capacity(n),
    };
    for handle in handles {
        let (ids, errors, samples, latencies) = handle.await.context("a create client panicked")?;
        created.ids.extend(ids);
        for (kind, count) in errors {
            *created.errors.entry(kind).or_default() += count;
        }
        created.samples.extend(samples.into_iter().take(3usize.saturating_sub(created.samples.len())));
        created.latencies_us.extend(latencies);
    }
    created.elapsed = started.elapsed();
    created.latencies_us.sort_unstable();
    Ok(created)
}

/// How many tasks the list endpoint returns for these statuses (pages of 500).
pub async fn count_tasks(http: &reqwest::Client, base: &str, statuses: &str) -> Result<usize> {
    let mut count = 0;
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!("{base}/api/v1/tasks?status={statuses}&limit=500");
        if let Some(cursor) = &cursor {
            url.push_str("&cursor=");
            url.push_str(cursor);
        }
        let page = get_json(http, &url).await?;
        count += page.get("tasks").and_then(Value::as_array).map_or(0, Vec::len);
        match page.get("next_cursor").and_then(Value::as_str) {
            Some(next) if !next.is_empty() => cursor = Some(next.to_owned()),
            _ => return Ok(count),
        }
    }
}

pub struct Drained {
    /// From `started` to the first check that found every task ended.
    pub at: Duration,
    pub completed: usize,
    pub unsuccessful: usize,
    pub checks: usize,
}

/// Waits until nothing is pending, retrying or processing and `expected` tasks have
/// ended, checking every 10 ms.
pub async fn wait_drained(server: &Server, expected: usize, started: Instant) -> Result<Drained> {
    let base = server.base.as_str();
    let http = client(2, &server.key)?;
    let mut checks = 0;
    loop {
        if started.elapsed() > DRAIN_TIMEOUT {
            bail!("tasks still unfinished {} s after the start", DRAIN_TIMEOUT.as_secs());
        }
        checks += 1;
        let info = get_json(&http, &format!("{base}/api/v1/system/info")).await?;
        let queued = info.get("queued_tasks").and_then(Value::as_u64).context("system/info without queued_tasks")?;
        if queued == 0 {
            let processing = get_json(&http, &format!("{base}/api/v1/tasks?status=processing&limit=1")).await?;
            if processing.get("tasks").and_then(Value::as_array).is_some_and(Vec::is_empty) {
                let at = started.elapsed();
                let completed = count_tasks(&http, base, "completed").await?;
                let unsuccessful = count_tasks(&http, base, "failed,cancelled,expired").await?;
                if completed + unsuccessful >= expected {
                    return Ok(Drained { at, completed, unsuccessful, checks });
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Whether the list endpoint has at least one task with one of these statuses.
pub async fn any_task(http: &reqwest::Client, base: &str, statuses: &str) -> Result<bool> {
    let page = get_json(http, &format!("{base}/api/v1/tasks?status={statuses}&limit=1")).await?;
    Ok(page.get("tasks").and_then(Value::as_array).is_some_and(|tasks| !tasks.is_empty()))
}
