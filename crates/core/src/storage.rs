//! Atelier's own storage (the database and the file store) as the worker sees it:
//! up, or down since a write failed. A storage failure is not a provider's: it
//! never counts against a provider's circuit or a task's attempts. While storage is
//! down the worker claims nothing (a paid provider call whose result cannot be
//! stored helps nobody); a probe writes to the failed part every few seconds and,
//! when the write holds, says so and wakes the workers.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::error::CoreError;
use crate::events::EventBus;
use crate::ports::{AssetStore, WorkerStore};
use crate::time::{Millis, now_millis};

/// Which part of Atelier's storage failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoragePart {
    /// The database (SQLite's file, PostgreSQL).
    Database,
    /// The file store (the data directory, S3).
    Files,
}

impl StoragePart {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Database => "database",
            Self::Files => "files",
        }
    }

    /// The disk it writes to, as messages name it.
    pub fn disk(self) -> &'static str {
        match self {
            Self::Database => "the database's disk",
            Self::Files => "the file store's disk",
        }
    }
}

/// Storage as last seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageState {
    Up,
    Down { part: StoragePart, reason: String, full: bool, since: Millis },
}

impl StorageState {
    pub fn is_down(&self) -> bool {
        matches!(self, Self::Down { .. })
    }
}

impl CoreError {
    /// The part of storage this error says failed, if it is a storage failure
    /// (a full disk, a store not answering) rather than a fault of the input or of
    /// a provider.
    pub fn storage_part(&self) -> Option<StoragePart> {
        match self {
            Self::Storage(_) => Some(StoragePart::Database),
            Self::Blob(_) => Some(StoragePart::Files),
            Self::StorageFull { part, .. } => Some(*part),
            _ => None,
        }
    }
}

/// Storage as the health answer shows it.
#[derive(Debug, Clone)]
pub struct StorageHealth {
    pub database: PartCheck,
    pub files: PartCheck,
    /// Down when the worker saw a write fail and waits for a probe write to hold.
    pub waiting: StorageState,
}

impl StorageHealth {
    /// Whether the server can take work: both parts take writes with room to spare.
    pub fn is_ready(&self) -> bool {
        self.database.is_ok() && self.files.is_ok()
    }
}

/// Watches storage after a failure until a probe write holds again.
#[derive(Clone)]
pub struct StorageWatch {
    state: watch::Sender<StorageState>,
    store: Arc<dyn WorkerStore>,
    assets: Arc<dyn AssetStore>,
    events: EventBus,
    settings: StorageSettings,
}

/// How storage is watched.
#[derive(Debug, Clone, Copy)]
pub struct StorageSettings {
    /// How often a failed part is probed.
    pub probe_every: Duration,
    /// Below this many free bytes a part counts as full (where its free space is
    /// known: a local directory, SQLite's file).
    pub min_free_bytes: u64,
    /// When a task given back for storage is runnable again. The worker claims
    /// nothing while the probe sees storage down, so this bounds how long a task
    /// waits after storage returns, not how often it is tried.
    pub recheck: Duration,
}

impl Default for StorageSettings {
    fn default() -> Self {
        Self { probe_every: Duration::from_secs(5), min_free_bytes: 64 << 20, recheck: Duration::from_secs(20) }
    }
}

/// One part's state as a probe found it.
#[derive(Debug, Clone)]
pub struct PartCheck {
    /// Whether a small write held.
    pub writable: Result<(), String>,
    /// Free bytes where known.
    pub free_bytes: Option<u64>,
    /// Whether the free space is under the configured threshold.
    pub low_space: bool,
}

impl PartCheck {
    pub fn is_ok(&self) -> bool {
        self.writable.is_ok() && !self.low_space
    }
}

impl StorageWatch {
    pub fn new(
        store: Arc<dyn WorkerStore>,
        assets: Arc<dyn AssetStore>,
        events: EventBus,
        settings: StorageSettings,
    ) -> Self {
        Self { state: watch::Sender::new(StorageState::Up), store, assets, events, settings }
    }

    pub fn settings(&self) -> StorageSettings {
        self.settings
    }

    pub fn state(&self) -> StorageState {
        self.state.borrow().clone()
    }

    pub fn is_down(&self) -> bool {
        self.state.borrow().is_down()
    }

    /// Records that a write failed with `error` (a storage failure; anything else
    /// is ignored), and starts probing the part that failed unless a probe runs
    /// already.
    pub fn report(&self, error: &CoreError) {
        let Some(part) = error.storage_part() else { return };
        let full = matches!(error, CoreError::StorageFull { .. });
        let mut started = false;
        self.state.send_if_modified(|state| {
            if state.is_down() {
                return false;
            }
            *state = StorageState::Down { part, reason: error.to_string(), full, since: now_millis() };
            started = true;
            true
        });
        if started {
            tracing::error!(part = part.as_str(), %error, "storage failed; pausing claims until a probe write holds");
            let watch = self.clone();
            tokio::spawn(async move { watch.probe_until_up(part).await });
        }
    }

    /// Resolves once storage is up (at once when it is).
    pub async fn wait_up(&self) {
        let mut receiver = self.state.subscribe();
        let _ = receiver.wait_for(|state| !state.is_down()).await;
    }

    /// Writes to `part` every `probe_every` until a write holds and the part has
    /// its configured free space again.
    async fn probe_until_up(&self, part: StoragePart) {
        loop {
            tokio::time::sleep(self.settings.probe_every).await;
            let check = self.check(part).await;
            let probed = match (check.writable, check.low_space) {
                (Err(reason), _) => Err((reason, false)),
                (Ok(()), true) => Err((low_space(check.free_bytes, self.settings.min_free_bytes), true)),
                (Ok(()), false) => Ok(()),
            };
            match probed {
                Ok(()) => {
                    tracing::info!(part = part.as_str(), "storage is writable again; resuming");
                    self.state.send_replace(StorageState::Up);
                    self.events.wake_workers();
                    return;
                }
                Err((error, full)) => {
                    tracing::debug!(part = part.as_str(), %error, "storage still failing");
                    self.state.send_modify(|state| {
                        if let StorageState::Down { reason, full: was_full, .. } = state {
                            *reason = error;
                            *was_full = full;
                        }
                    });
                }
            }
        }
    }

    /// Both parts, probed now, and whether the worker is waiting on storage.
    pub async fn health(&self) -> StorageHealth {
        let (database, files) = tokio::join!(self.check(StoragePart::Database), self.check(StoragePart::Files));
        StorageHealth { database, files, waiting: self.state() }
    }

    /// One probe write to `part`, and its free space.
    pub async fn check(&self, part: StoragePart) -> PartCheck {
        let (writable, free_bytes) = match part {
            StoragePart::Database => tokio::join!(self.store.probe_write(), self.store.free_space()),
            StoragePart::Files => (self.assets.health().await, self.assets.free_space()),
        };
        let full = matches!(writable, Err(CoreError::StorageFull { .. }));
        PartCheck {
            writable: writable.map_err(|error| error.to_string()),
            free_bytes,
            low_space: full || free_bytes.is_some_and(|free| free < self.settings.min_free_bytes),
        }
    }
}

fn low_space(free: Option<u64>, min: u64) -> String {
    match free {
        Some(free) => format!("{free} bytes free, under the {min} bytes kept free"),
        None => "the disk is full".to_owned(),
    }
}
