//! Lifecycles of stored data by kind (seed 001 1.7, seed 002 2.5), and the cleanup
//! job that applies them:
//!
//! - **inputs**: uploads (`upl_…`, the files tasks take), `inputs` after they were
//!   made (30 days);
//! - **outputs**: ended tasks with their outputs (`img_…`, books bound outside a
//!   run among them), `outputs` after they ended (90 days);
//! - **provider copies**: what a provider holds for us (Kie's uploads, 3 days), as
//!   long as the provider keeps it: the row goes when its own expiry passes (the
//!   provider deletes the file itself);
//! - **expired links**: sign-in links and sessions past their expiry (shared file
//!   links are signed, not stored: they expire by themselves).
//!
//! A pipeline run's own data (its abandoned checkpoints, its temporary files, its
//! book) has its lifecycle in [`crate::pipeline::retention`], counted from the
//! run's end; this job leaves the tasks of a run that has not ended alone.
//!
//! **Never what is in use:** an upload, an output or a task that the input of a
//! live task names (`upl_…`, `img_…`, `task:…`; pending, processing, retrying or
//! waiting) is kept, as is any task of a pipeline run that has not ended. The live
//! inputs are read once a pass, then the tasks made since are read again before
//! every batch is deleted, so a task created during the pass protects what it names.
//!
//! **One instance at a time:** a pass holds the `retention` lease row, renewed
//! between batches; an instance that finds it held skips its turn. **Bounded:**
//! every read is a page of `batch` rows found by an index, every delete one row
//! (a task with its outputs, in one transaction, as a user's delete).

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::error::Result;
use crate::ids::{TaskId, UploadId};
use crate::ports::{AssetStore, EndedCandidate, InputRef, RetentionStore, Store};
use crate::task::{TaskStatus, delete_unreferenced_blobs};
use crate::time::{Millis, now_millis};

/// The lease row a pass holds.
pub const LEASE: &str = "retention";

/// How far before a pass's start the tasks made "since" are read (a task being
/// created as the live inputs were read is read again).
const SINCE_OVERLAP_MS: Millis = 60_000;

/// The statuses of a live task: one whose inputs may still be opened.
const LIVE: [TaskStatus; 4] =
    [TaskStatus::Pending, TaskStatus::Processing, TaskStatus::Retrying, TaskStatus::WaitingInput];

/// How long each kind is kept; `None` keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionRules {
    /// Uploads, after they were made.
    pub inputs: Option<Duration>,
    /// Ended tasks and their outputs, after they ended.
    pub outputs: Option<Duration>,
    /// Provider copies, once past their own expiry.
    pub provider_copies: bool,
    /// Sign-in links and sessions, once past their expiry.
    pub expired_links: bool,
    /// Rows one statement reads or deletes.
    pub batch: u32,
    /// How long a pass holds the lease between renewals: an instance that died
    /// mid-pass lets another take over after it.
    pub lease: Duration,
}

impl Default for RetentionRules {
    /// The seeds': inputs 30 days, outputs 90 days.
    fn default() -> Self {
        Self {
            inputs: Some(Duration::from_secs(30 * 86_400)),
            outputs: Some(Duration::from_secs(90 * 86_400)),
            provider_copies: true,
            expired_links: true,
            batch: 500,
            lease: Duration::from_secs(600),
        }
    }
}

/// What one pass removed, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Removed {
    /// Uploads.
    pub inputs: u64,
    /// Ended tasks, each with its outputs.
    pub outputs: u64,
    /// Files deleted from the file store (with their thumbnails): those no other
    /// row named.
    pub files: u64,
    /// Their bytes.
    pub bytes: u64,
    pub provider_copies: u64,
    pub links: u64,
    pub sessions: u64,
    /// Past their time but still in use (kept).
    pub kept_in_use: u64,
    /// Whether the pass stopped early: its lease was taken over.
    pub lease_lost: bool,
}

impl Removed {
    pub fn is_empty(&self) -> bool {
        self.inputs + self.outputs + self.provider_copies + self.links + self.sessions == 0
    }
}

/// What live tasks' inputs name.
#[derive(Debug, Default)]
struct InUse {
    uploads: HashSet<String>,
    outputs: HashSet<String>,
    tasks: HashSet<TaskId>,
}

impl InUse {
    /// Reads the references in one task's input (any string, at any depth).
    fn read(&mut self, input: &str) {
        // Most inputs name no file: not worth parsing.
        if !(input.contains(UploadId::PREFIX)
            || input.contains(crate::ids::AssetId::PREFIX)
            || input.contains(crate::ports::TASK_REFERENCE))
        {
            return;
        }
        let Ok(value) = serde_json::from_str::<Value>(input) else { return };
        self.walk(&value);
    }

    fn walk(&mut self, value: &Value) {
        match value {
            Value::String(text) => match InputRef::parse(text) {
                Ok(InputRef::Upload(id)) => {
                    self.uploads.insert(id.as_str().to_owned());
                }
                Ok(InputRef::Output(id)) => {
                    self.outputs.insert(id.as_str().to_owned());
                }
                Ok(InputRef::Task(id)) => {
                    self.tasks.insert(id);
                }
                _ => {}
            },
            Value::Array(items) => items.iter().for_each(|item| self.walk(item)),
            Value::Object(fields) => fields.values().for_each(|field| self.walk(field)),
            _ => {}
        }
    }

    /// Whether an ended task is still in use: a live task names it or one of its
    /// outputs, or a run that has not ended links it.
    fn holds_task(&self, candidate: &EndedCandidate) -> bool {
        candidate.in_live_run
            || self.tasks.contains(&candidate.id)
            || candidate.outputs.iter().any(|output| self.outputs.contains(output.as_str()))
    }
}

/// The cleanup job: [`Cleanup::run_once`] is one pass, [`Cleanup::run`] repeats it.
pub struct Cleanup {
    store: Arc<dyn RetentionStore>,
    tasks: Arc<dyn Store>,
    assets: Arc<dyn AssetStore>,
    rules: RetentionRules,
    /// This instance's name on the lease.
    holder: String,
}

impl Cleanup {
    pub fn new(
        store: Arc<dyn RetentionStore>,
        tasks: Arc<dyn Store>,
        assets: Arc<dyn AssetStore>,
        rules: RetentionRules,
    ) -> Self {
        Self { store, tasks, assets, rules, holder: uuid::Uuid::now_v7().to_string() }
    }

    pub fn rules(&self) -> &RetentionRules {
        &self.rules
    }

    /// One pass at `now`; `None` when another instance holds the lease.
    pub async fn run_once(&self, now: Millis) -> Result<Option<Removed>> {
        if !self.store.take_lease(LEASE, &self.holder, now, now + millis(self.rules.lease)).await? {
            return Ok(None);
        }
        let passed = self.pass(now).await;
        if let Err(error) = self.store.release_lease(LEASE, &self.holder).await {
            tracing::warn!(%error, "could not let the retention lease go (it expires by itself)");
        }
        passed.map(Some)
    }

    /// Runs a pass every `every` (the first after a short wait, not at start-up)
    /// until `stop` resolves, logging what each removed.
    pub async fn run(self: Arc<Self>, every: Duration, stop: impl Future<Output = ()> + Send) {
        let every = every.max(Duration::from_secs(1));
        let first = every.min(Duration::from_secs(60));
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + first, every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(stop);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = &mut stop => return,
            }
            let started = std::time::Instant::now();
            match self.run_once(now_millis()).await {
                Ok(Some(removed)) => log(&removed, started.elapsed()),
                Ok(None) => tracing::debug!("another instance holds the retention lease"),
                Err(error) => tracing::warn!(%error, "the retention cleanup failed; it runs again next time"),
            }
        }
    }

    async fn pass(&self, now: Millis) -> Result<Removed> {
        let mut removed = Removed::default();
        let batch = self.rules.batch.max(1);
        if self.rules.provider_copies {
            loop {
                let deleted = self.store.delete_expired_provider_copies(now, batch).await?;
                removed.provider_copies += deleted;
                if deleted < u64::from(batch) || !self.renew(&mut removed).await? {
                    break;
                }
            }
        }
        if self.rules.expired_links {
            loop {
                let (links, sessions) = self.store.delete_expired_links(now, batch).await?;
                removed.links += links;
                removed.sessions += sessions;
                if links.max(sessions) < u64::from(batch) || !self.renew(&mut removed).await? {
                    break;
                }
            }
        }
        if removed.lease_lost || (self.rules.outputs.is_none() && self.rules.inputs.is_none()) {
            return Ok(removed);
        }
        let mut in_use = InUse::default();
        for status in LIVE {
            let mut after = None;
            loop {
                let page = self.store.task_inputs(status, after, batch).await?;
                page.iter().for_each(|(_, input)| in_use.read(input));
                after = page.last().map(|(id, _)| *id);
                if page.len() < batch as usize {
                    break;
                }
            }
        }
        let mut since = Since { from: now - SINCE_OVERLAP_MS, after: None };
        if let Some(outputs) = self.rules.outputs {
            self.outputs(now - millis(outputs), &mut in_use, &mut since, &mut removed).await?;
        }
        if let Some(inputs) = self.rules.inputs
            && !removed.lease_lost
        {
            self.inputs(now - millis(inputs), &mut in_use, &mut since, &mut removed).await?;
        }
        Ok(removed)
    }

    /// Ended tasks past their time, with their outputs.
    async fn outputs(
        &self,
        before: Millis,
        in_use: &mut InUse,
        since: &mut Since,
        removed: &mut Removed,
    ) -> Result<()> {
        let batch = self.rules.batch.max(1);
        let mut cursor = None;
        loop {
            let page = self.store.ended_tasks_before(before, cursor, batch).await?;
            cursor = page.last().map(|last| (last.ended_at, last.id));
            self.catch_up(in_use, since).await?;
            for candidate in &page {
                if in_use.holds_task(candidate) {
                    removed.kept_in_use += 1;
                    continue;
                }
                let Some(outputs) = self.tasks.delete_task(candidate.id).await? else { continue };
                removed.outputs += 1;
                for output in outputs {
                    let thumbnail = output.thumbnail_key.as_deref();
                    if delete_unreferenced_blobs(&*self.tasks, &*self.assets, &output.blob_key, thumbnail).await {
                        removed.files += 1;
                        removed.bytes += output.bytes;
                    }
                }
            }
            if page.len() < batch as usize || !self.renew(removed).await? {
                return Ok(());
            }
        }
    }

    /// Uploads past their time.
    async fn inputs(&self, before: Millis, in_use: &mut InUse, since: &mut Since, removed: &mut Removed) -> Result<()> {
        let batch = self.rules.batch.max(1);
        let mut cursor = None;
        loop {
            let page = self.store.uploads_before(before, cursor, batch).await?;
            cursor = page.last().map(|last| last.id.clone());
            self.catch_up(in_use, since).await?;
            for upload in &page {
                if in_use.uploads.contains(upload.id.as_str()) {
                    removed.kept_in_use += 1;
                    continue;
                }
                let Some(upload) = self.tasks.delete_upload(&upload.id).await? else { continue };
                removed.inputs += 1;
                let thumbnail = upload.thumbnail_key.as_deref();
                if delete_unreferenced_blobs(&*self.tasks, &*self.assets, &upload.blob_key, thumbnail).await {
                    removed.files += 1;
                    removed.bytes += upload.bytes;
                }
            }
            if page.len() < batch as usize || !self.renew(removed).await? {
                return Ok(());
            }
        }
    }

    /// Reads the inputs of the tasks made since the last look.
    async fn catch_up(&self, in_use: &mut InUse, since: &mut Since) -> Result<()> {
        let batch = self.rules.batch.max(1);
        loop {
            let page = self.store.task_inputs_since(since.from, since.after, batch).await?;
            page.iter().for_each(|(_, input)| in_use.read(input));
            if let Some((last, _)) = page.last() {
                since.after = Some(*last);
            }
            if page.len() < batch as usize {
                return Ok(());
            }
        }
    }

    /// Renews the lease for another `lease`; false (and the pass stops) when
    /// another instance took it meanwhile.
    async fn renew(&self, removed: &mut Removed) -> Result<bool> {
        let now = now_millis();
        let held = self.store.take_lease(LEASE, &self.holder, now, now + millis(self.rules.lease)).await?;
        if !held {
            tracing::warn!("the retention lease was taken over (a pass longer than retention.lease); stopping");
            removed.lease_lost = true;
        }
        Ok(held)
    }
}

/// The cursor over tasks made since a pass began.
struct Since {
    from: Millis,
    after: Option<TaskId>,
}

fn millis(duration: Duration) -> Millis {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

fn log(removed: &Removed, elapsed: Duration) {
    let elapsed_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
    if removed.is_empty() {
        tracing::debug!(kept_in_use = removed.kept_in_use, elapsed_ms, "retention: nothing past its time");
        return;
    }
    tracing::info!(
        removed.inputs = removed.inputs,
        removed.outputs = removed.outputs,
        removed.files = removed.files,
        removed.bytes = removed.bytes,
        removed.provider_copies = removed.provider_copies,
        removed.links = removed.links,
        removed.sessions = removed.sessions,
        kept_in_use = removed.kept_in_use,
        lease_lost = removed.lease_lost,
        elapsed_ms,
        "retention: removed what was past its time"
    );
}

#[cfg(test)]
mod tests;
