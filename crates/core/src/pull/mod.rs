//! The pull protocol: engines on other machines (TRELLIS on a GPU, seed 002's
//! "Cloud Tasks → GPU worker") take tasks from Atelier over HTTP instead of Atelier
//! calling them.
//!
//! A remote worker holds a **worker key** (not a user's key: it reads the inputs of
//! every user's tasks of the models it serves, and nothing else). It claims tasks
//! of those models under a lease, with the same rules as this server's own workers
//! (`crate::worker`): it renews the lease while it works and reports progress, and
//! its completion or failure counts only while the lease holds. A worker that dies
//! lets its lease expire; the sweep puts the task back for another worker (and
//! fails it after `max_crashes`). Claims long-poll: an idle worker waits in one
//! request, and a new task reaches it at once.
//!
//! Which tasks are pulled: those of a service that only remote workers serve
//! ([`crate::ports::Provider::served_by_pull`], such as `trellis`), and of any model
//! listed in `[pull] models`. Each such model is its own pool (`Task::pool`); this
//! server's workers claim the pool `""` only.

mod keys;
mod service;

pub use crate::worker::RemoteReport;
pub use keys::{WORKER_KEY_PREFIX, new_worker_key, worker_key_prefix};
pub use service::{InputFileRef, PullService, PullSettings, WorkerAvailability};

use serde::Serialize;

use crate::time::Millis;

/// A remote worker's credential, as stored (its secret only as a hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WorkerKey {
    /// `wk_<32 hex>`.
    pub id: String,
    pub name: String,
    /// The visible start of the key (`atw_1a2b3c4d5e6f`).
    pub prefix: String,
    #[serde(skip)]
    pub secret_hash: String,
    /// The models it may serve (`service/model`, canonical).
    pub models: Vec<String>,
    pub created_at: Millis,
    pub revoked_at: Option<Millis>,
    /// When its worker last asked for work.
    pub last_seen_at: Option<Millis>,
}

impl WorkerKey {
    pub fn serves(&self, model: &str) -> bool {
        self.revoked_at.is_none() && self.models.iter().any(|served| served == model)
    }
}
