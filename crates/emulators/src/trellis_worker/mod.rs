//! A TRELLIS GPU worker, emulated: it speaks Atelier's pull protocol as the
//! reference worker (`workers/trellis/`) does (claims tasks of the `trellis`
//! models with a worker key, fetches their input picture under the lease, renews
//! the lease with progress, uploads its files and completes), and answers with
//! real meshes: a relief of the picture (`atelier_mesh`, a stand-in for TRELLIS's
//! reconstruction, and named so in the files' generator field) as GLB and as an
//! OBJ zip. Unlike the other emulators it is a client: the server under test is
//! the one it talks to.
//!
//! Faults, each with a [`Trigger`] counted over the tasks it claims
//! (`KIND[:TRIGGER]`, the trigger `always` when left out):
//! - `crash`: dies mid-job (after its first progress report): the task is left
//!   held, to be reclaimed when its lease expires. [`TrellisWorkerEmulator::run`]
//!   returns [`Exit::Crashed`]; `atelier emulate trellis-worker` exits with 137.
//! - `silent`: goes quiet on the task (no heartbeat, no report) and claims on.
//! - `hang`: never finishes: renews the lease until the server says to stop
//!   (`run_timed_out` past `pull.max_run_secs`, or the lease is lost).
//! - `fail`: reports `generation_failed` (the engine failed).
//! - `oom`: reports `provider_error` ("CUDA out of memory"), which the server retries.
//! - `slow` is not a fault but `step_ms`: each of the job's steps takes that long.

mod files;

use std::str::FromStr;
use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::{Value, json};
use tokio::sync::watch;

pub use crate::faults::Trigger;

/// What the emulated worker is and does.
#[derive(Debug, Clone)]
pub struct TrellisWorkerConfig {
    /// The Atelier server, e.g. `http://127.0.0.1:8080`.
    pub server: String,
    /// Its worker key (`atw_…`).
    pub key: String,
    /// Models to claim; every model the key serves when empty.
    pub models: Vec<String>,
    /// This worker's name among several on one key.
    pub instance: String,
    /// Steps per job (progress is reported after each).
    pub steps: u32,
    /// How long each step takes, in milliseconds (0: at once).
    pub step_ms: u64,
    /// How long a claim waits for work, in seconds.
    pub wait_secs: u64,
    pub faults: Vec<WorkerFault>,
    /// Seeds probabilistic faults.
    pub seed: u64,
}

impl TrellisWorkerConfig {
    pub fn new(server: impl Into<String>, key: impl Into<String>) -> Self {
        Self {
            server: server.into().trim_end_matches('/').to_owned(),
            key: key.into(),
            models: Vec::new(),
            instance: "emulated".into(),
            steps: 4,
            step_ms: 0,
            wait_secs: 10,
            faults: Vec::new(),
            seed: 0,
        }
    }
}

/// A misbehaviour and when it strikes.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkerFault {
    pub kind: FaultKind,
    pub trigger: Trigger,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    Crash,
    Silent,
    Hang,
    Fail,
    Oom,
}

impl FaultKind {
    const NAMES: [(&'static str, FaultKind); 5] = [
        ("crash", FaultKind::Crash),
        ("silent", FaultKind::Silent),
        ("hang", FaultKind::Hang),
        ("fail", FaultKind::Fail),
        ("oom", FaultKind::Oom),
    ];
}

/// Reads `KIND[:TRIGGER]`: `crash:first=1`, `fail:every=3`, `oom:p=0.2`, `hang`.
impl FromStr for WorkerFault {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (kind, trigger) = s.split_once(':').unwrap_or((s, "always"));
        let kind = kind.trim().to_ascii_lowercase();
        let Some((_, kind)) = FaultKind::NAMES.iter().find(|(name, _)| *name == kind) else {
            let known: Vec<&str> = FaultKind::NAMES.iter().map(|(name, _)| *name).collect();
            return Err(format!("unknown worker fault `{kind}` (known: {})", known.join(", ")));
        };
        Ok(Self { kind: *kind, trigger: trigger.parse()? })
    }
}

/// What became of a claimed task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Completed,
    /// Reported as failed, with this class.
    Failed(String),
    /// Left held with no word (the `silent` fault).
    Abandoned,
    /// The worker died on it (the `crash` fault).
    Crashed,
    /// The server said to stop: the lease was lost (cancelled, reclaimed) or the
    /// run timed out; its error code.
    Stopped(String),
    /// The worker was told to stop and gave the task back.
    Released,
}

/// One task the worker claimed and what became of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handled {
    pub task_id: String,
    pub model: String,
    pub outcome: Outcome,
}

/// Why [`TrellisWorkerEmulator::run`] ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exit {
    Stopped,
    Crashed { task_id: String },
}

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// 401 or 403: a forged or revoked key, or models it does not serve.
    #[error("the server refused the worker key ({status}): {body}")]
    Refused { status: u16, body: String },
    #[error("the server answered {status} to {what}: {body}")]
    Status { what: &'static str, status: u16, body: String },
    #[error("talking to the server ({what}): {source}")]
    Http {
        what: &'static str,
        #[source]
        source: reqwest::Error,
    },
    #[error("the server's answer to {what} is not what the protocol says: {detail}")]
    Protocol { what: &'static str, detail: String },
}

/// The emulated worker.
pub struct TrellisWorkerEmulator {
    config: TrellisWorkerConfig,
    http: reqwest::Client,
    rng: StdRng,
    claimed: u64,
}

/// A task as the claim handed it out.
struct Claimed {
    id: String,
    lease: String,
    lease_secs: u64,
    model: String,
    input: Value,
    input_files: Vec<String>,
}

impl TrellisWorkerEmulator {
    pub fn new(config: TrellisWorkerConfig) -> Self {
        let rng = StdRng::seed_from_u64(config.seed);
        Self { config, http: reqwest::Client::new(), rng, claimed: 0 }
    }

    /// Claims (waiting up to `wait_secs`) and works on what it got, until each
    /// task's end. A `crash` ends the batch at once.
    pub async fn run_once(&mut self) -> Result<Vec<Handled>, WorkerError> {
        let (_keep, stop) = watch::channel(false);
        let claimed = self.claim().await?;
        self.work_on(claimed, &stop).await
    }

    /// Claims and works until `stop` turns true (a task in hand is given back
    /// first; a waiting claim is dropped) or a `crash` fault strikes. Connection
    /// errors are retried each second; a refused key ends it with an error.
    pub async fn run(&mut self, mut stop: watch::Receiver<bool>) -> Result<Exit, WorkerError> {
        loop {
            if *stop.borrow() {
                return Ok(Exit::Stopped);
            }
            let claimed = tokio::select! {
                claimed = self.claim() => claimed,
                _ = stop.changed() => return Ok(Exit::Stopped),
            };
            let handled = match claimed {
                Ok(claimed) => self.work_on(claimed, &stop).await,
                Err(error) => Err(error),
            };
            match handled {
                Ok(handled) => {
                    if let Some(crashed) = handled.iter().find(|task| task.outcome == Outcome::Crashed) {
                        return Ok(Exit::Crashed { task_id: crashed.task_id.clone() });
                    }
                }
                Err(error @ WorkerError::Refused { .. }) => return Err(error),
                Err(error) => {
                    tracing::warn!(%error, "the emulated TRELLIS worker retries in 1 s");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    async fn work_on(
        &mut self,
        claimed: Vec<Claimed>,
        stop: &watch::Receiver<bool>,
    ) -> Result<Vec<Handled>, WorkerError> {
        let mut handled = Vec::with_capacity(claimed.len());
        for task in claimed {
            self.claimed += 1;
            let fault = self.fault();
            let outcome = self.work(&task, fault, stop).await?;
            let crashed = outcome == Outcome::Crashed;
            handled.push(Handled { task_id: task.id, model: task.model, outcome });
            if crashed {
                break;
            }
        }
        Ok(handled)
    }

    /// The first fault rule that fires on this task.
    fn fault(&mut self) -> Option<FaultKind> {
        let seen = self.claimed;
        let rng = &mut self.rng;
        self.config.faults.iter().find(|fault| fault.trigger.fires(seen, rng)).map(|fault| fault.kind)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.config.server)
    }

    async fn claim(&self) -> Result<Vec<Claimed>, WorkerError> {
        let body = json!({
            "models": self.config.models,
            "limit": 1,
            "wait_secs": self.config.wait_secs,
            "instance": self.config.instance,
        });
        let response = self
            .http
            .post(self.url("/api/v1/worker/claim"))
            .bearer_auth(&self.config.key)
            .json(&body)
            .send()
            .await
            .map_err(|source| WorkerError::Http { what: "claim", source })?;
        let body = checked(response, "claim").await?;
        let tasks = body["tasks"].as_array().ok_or_else(|| protocol("claim", "no tasks list"))?;
        tasks.iter().map(parse_claimed).collect()
    }

    async fn work(
        &self,
        task: &Claimed,
        fault: Option<FaultKind>,
        stop: &watch::Receiver<bool>,
    ) -> Result<Outcome, WorkerError> {
        if fault == Some(FaultKind::Silent) {
            return Ok(Outcome::Abandoned);
        }
        let picture = match task.input_files.first() {
            Some(url) => Some(self.download(task, url).await?),
            None => None,
        };
        if let Some(stopped) = self.heartbeat(task, 5).await? {
            return Ok(stopped);
        }
        match fault {
            Some(FaultKind::Crash) => return Ok(Outcome::Crashed),
            Some(FaultKind::Hang) => return self.hang(task, stop).await,
            _ => {}
        }
        let steps = self.config.steps.max(1);
        for step in 1..=steps {
            if *stop.borrow() {
                self.release(task).await?;
                return Ok(Outcome::Released);
            }
            if self.config.step_ms > 0 {
                tokio::time::sleep(Duration::from_millis(self.config.step_ms)).await;
            }
            let progress = (5 + 85 * step / steps) as u8;
            if let Some(stopped) = self.heartbeat(task, progress).await? {
                return Ok(stopped);
            }
        }
        match fault {
            Some(FaultKind::Fail) => {
                return self
                    .fail(task, "generation_failed", "TRELLIS failed to sample this input (emulated fault)")
                    .await;
            }
            Some(FaultKind::Oom) => {
                return self.fail(task, "provider_error", "CUDA out of memory (emulated fault)").await;
            }
            _ => {}
        }
        let made = match files::make(&task.model, &task.input, picture.as_deref()) {
            Ok(made) => made,
            Err(files::Refused(reason)) => return self.fail(task, "provider_rejected", &reason).await,
        };
        self.complete(task, made).await
    }

    /// Renews the lease until the server says to stop, or `stop`.
    async fn hang(&self, task: &Claimed, stop: &watch::Receiver<bool>) -> Result<Outcome, WorkerError> {
        let every = Duration::from_millis((task.lease_secs * 1000 / 3).max(100));
        loop {
            if *stop.borrow() {
                self.release(task).await?;
                return Ok(Outcome::Released);
            }
            tokio::time::sleep(every).await;
            if let Some(stopped) = self.heartbeat(task, 50).await? {
                return Ok(stopped);
            }
        }
    }

    fn task_call(&self, task: &Claimed, action: &str) -> reqwest::RequestBuilder {
        self.http
            .post(self.url(&format!("/api/v1/worker/tasks/{}/{action}", task.id)))
            .bearer_auth(&self.config.key)
            .header("x-atelier-lease", &task.lease)
    }

    async fn download(&self, task: &Claimed, url: &str) -> Result<Vec<u8>, WorkerError> {
        let response = self
            .http
            .get(self.url(url))
            .bearer_auth(&self.config.key)
            .header("x-atelier-lease", &task.lease)
            .send()
            .await
            .map_err(|source| WorkerError::Http { what: "input download", source })?;
        if !response.status().is_success() {
            return Err(status_error("input download", response).await);
        }
        let bytes = response.bytes().await.map_err(|source| WorkerError::Http { what: "input download", source })?;
        Ok(bytes.to_vec())
    }

    /// `Some(outcome)` when the server says to stop working on the task.
    async fn heartbeat(&self, task: &Claimed, progress: u8) -> Result<Option<Outcome>, WorkerError> {
        let response = self
            .task_call(task, "heartbeat")
            .json(&json!({ "progress": progress }))
            .send()
            .await
            .map_err(|source| WorkerError::Http { what: "heartbeat", source })?;
        stopped_or(response, "heartbeat").await
    }

    async fn release(&self, task: &Claimed) -> Result<(), WorkerError> {
        let response = self
            .task_call(task, "release")
            .send()
            .await
            .map_err(|source| WorkerError::Http { what: "release", source })?;
        stopped_or(response, "release").await.map(|_| ())
    }

    async fn fail(&self, task: &Claimed, class: &str, message: &str) -> Result<Outcome, WorkerError> {
        let response = self
            .task_call(task, "fail")
            .json(&json!({ "error": class, "message": message }))
            .send()
            .await
            .map_err(|source| WorkerError::Http { what: "fail", source })?;
        Ok(stopped_or(response, "fail").await?.unwrap_or_else(|| Outcome::Failed(class.to_owned())))
    }

    async fn complete(&self, task: &Claimed, made: Vec<files::File>) -> Result<Outcome, WorkerError> {
        let mut form = reqwest::multipart::Form::new();
        for file in made {
            let part = reqwest::multipart::Part::bytes(file.bytes)
                .file_name(file.name)
                .mime_str(file.mime)
                .map_err(|source| WorkerError::Http { what: "complete", source })?;
            form = form.part(file.part, part);
        }
        let response = self
            .task_call(task, "complete")
            .multipart(form)
            .send()
            .await
            .map_err(|source| WorkerError::Http { what: "complete", source })?;
        Ok(stopped_or(response, "complete").await?.unwrap_or(Outcome::Completed))
    }
}

fn parse_claimed(task: &Value) -> Result<Claimed, WorkerError> {
    let text = |field: &str| {
        task[field].as_str().map(str::to_owned).ok_or_else(|| protocol("claim", &format!("a task without {field}")))
    };
    let input_files = task["input_files"]
        .as_array()
        .ok_or_else(|| protocol("claim", "a task without input_files"))?
        .iter()
        .map(|file| {
            file["url"].as_str().map(str::to_owned).ok_or_else(|| protocol("claim", "an input file without url"))
        })
        .collect::<Result<_, _>>()?;
    Ok(Claimed {
        id: text("task_id")?,
        lease: text("lease")?,
        lease_secs: task["lease_secs"].as_u64().unwrap_or(30),
        model: text("model")?,
        input: task["input"].clone(),
        input_files,
    })
}

fn protocol(what: &'static str, detail: &str) -> WorkerError {
    WorkerError::Protocol { what, detail: detail.to_owned() }
}

async fn status_error(what: &'static str, response: reqwest::Response) -> WorkerError {
    let status = response.status().as_u16();
    let body = response.text().await.unwrap_or_default();
    if status == 401 || status == 403 {
        WorkerError::Refused { status, body }
    } else {
        WorkerError::Status { what, status, body }
    }
}

async fn checked(response: reqwest::Response, what: &'static str) -> Result<Value, WorkerError> {
    if !response.status().is_success() {
        return Err(status_error(what, response).await);
    }
    response.json().await.map_err(|source| WorkerError::Http { what, source })
}

/// `None` on success; the server's error code when it says to stop (409: the lease
/// is lost or the run timed out; 404: the task is gone).
async fn stopped_or(response: reqwest::Response, what: &'static str) -> Result<Option<Outcome>, WorkerError> {
    let status = response.status().as_u16();
    if response.status().is_success() {
        return Ok(None);
    }
    if status == 409 || status == 404 {
        let body: Value = response.json().await.unwrap_or(Value::Null);
        let code = body["error"].as_str().unwrap_or("lease_lost").to_owned();
        return Ok(Some(Outcome::Stopped(code)));
    }
    Err(status_error(what, response).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_read_with_their_triggers() {
        assert_eq!(
            "crash:first=1".parse::<WorkerFault>(),
            Ok(WorkerFault { kind: FaultKind::Crash, trigger: Trigger::FirstK(1) })
        );
        assert_eq!("hang".parse::<WorkerFault>(), Ok(WorkerFault { kind: FaultKind::Hang, trigger: Trigger::Always }));
        assert_eq!(
            "OOM:every=2".parse::<WorkerFault>(),
            Ok(WorkerFault { kind: FaultKind::Oom, trigger: Trigger::EveryNth(2) })
        );
        assert!("melt".parse::<WorkerFault>().expect_err("unknown").contains("known: crash"));
        assert!("fail:sometimes".parse::<WorkerFault>().is_err());
    }
}
