//! `[retention]`: how long each kind of stored data is kept (seed 001 1.7, seed 002
//! 2.5), and how often the cleanup that applies it runs (`atelier_core::retention`).
//! Every process may run it; one at a time does, by a lease in the database.
//!
//! A pipeline run's own data keeps its lifecycle in `[pipelines]`, counted from the
//! run's end: `checkpoint_hours` (abandoned checkpoints, 24 h), `temp_days` (its
//! temporary files, 7 days) and `book_days` (its book, 90 days).

use std::sync::Arc;
use std::time::Duration;

use anyhow::bail;
use atelier_core::ports::{AssetStore, Store};
use atelier_core::retention::{Cleanup, RetentionRules};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionConfig {
    /// Whether this process takes part in the cleanup.
    pub enabled: bool,
    /// How often a pass runs, in seconds.
    pub interval_secs: u64,
    /// Uploads (task inputs), in days after they were made; 0 keeps them.
    pub inputs_days: u32,
    /// Ended tasks with their outputs (a book bound outside a run among them), in
    /// days after they ended; 0 keeps them.
    pub outputs_days: u32,
    /// Forget providers' copies of input files (Kie's uploads) once the provider's
    /// own expiry has passed (the provider deletes the file itself).
    pub provider_copies: bool,
    /// Delete sign-in links and sessions past their expiry.
    pub expired_links: bool,
    /// Rows one statement reads or deletes.
    pub batch: u32,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        let rules = RetentionRules::default();
        let days = |keep: Option<Duration>| keep.map_or(0, |keep| u32::try_from(keep.as_secs() / 86_400).unwrap_or(0));
        Self {
            enabled: true,
            interval_secs: 3600,
            inputs_days: days(rules.inputs),
            outputs_days: days(rules.outputs),
            provider_copies: rules.provider_copies,
            expired_links: rules.expired_links,
            batch: rules.batch,
        }
    }
}

impl RetentionConfig {
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.interval_secs == 0 {
            bail!("retention.interval_secs must be at least 1");
        }
        if !(1..=10_000).contains(&self.batch) {
            bail!("retention.batch must be between 1 and 10000");
        }
        Ok(())
    }

    pub fn rules(&self) -> RetentionRules {
        let keep = |days: u32| (days > 0).then(|| Duration::from_secs(u64::from(days) * 86_400));
        RetentionRules {
            inputs: keep(self.inputs_days),
            outputs: keep(self.outputs_days),
            provider_copies: self.provider_copies,
            expired_links: self.expired_links,
            batch: self.batch,
            ..RetentionRules::default()
        }
    }

    /// The cleanup over the database and the file store, when enabled.
    pub fn cleanup(
        &self,
        database: &atelier_db::Database,
        tasks: Arc<dyn Store>,
        assets: Arc<dyn AssetStore>,
    ) -> Option<Arc<Cleanup>> {
        self.enabled.then(|| Arc::new(Cleanup::new(Arc::new(database.clone()), tasks, assets, self.rules())))
    }

    /// Runs the cleanup every `interval_secs` until `stop` turns true.
    pub fn spawn(
        &self,
        cleanup: Option<&Arc<Cleanup>>,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) -> Option<tokio::task::JoinHandle<()>> {
        let cleanup = cleanup?.clone();
        let every = Duration::from_secs(self.interval_secs);
        Some(tokio::spawn(cleanup.run(every, async move {
            let _ = stop.wait_for(|stop| *stop).await;
        })))
    }
}

#[cfg(test)]
mod tests {
    use atelier_core::ids::AssetId;
    use atelier_core::ports::Created;
    use atelier_core::task::{Asset, NewTask, OutputRole, Upload};
    use atelier_core::time::now_millis;
    use bytes::Bytes;
    use serde_json::json;

    use super::*;

    fn new_task(input: serde_json::Value, now: i64) -> NewTask {
        NewTask { max_attempts: 3, ..NewTask::new("local", "placeholder", input, now) }
    }

    /// The cleanup as the server wires it, over SQLite and a directory: the rows
    /// and the files past their time go, what a pending task names stays.
    #[tokio::test]
    async fn a_pass_deletes_rows_and_files_past_their_time_and_keeps_what_is_named() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("atelier.db").display());
        let database =
            atelier_db::Database::connect(&url, &atelier_db::DatabaseOptions::default()).await.expect("open");
        database.migrate().await.expect("migrate");
        let files = dir.path().join("files");
        let assets: Arc<dyn AssetStore> = Arc::new(atelier_assets::ObjectAssetStore::local(&files).expect("a store"));
        let store: Arc<dyn Store> = Arc::new(database.clone());
        let now = now_millis();

        // A task that completed with an output, and two uploads, one named by a
        // pending task.
        let Created::New(done) = store.create_task(new_task(json!({ "prompt": "a fox" }), now)).await.expect("a task")
        else {
            panic!("not new")
        };
        let claimed = store.claim("", "w", 1, now, now + 30_000).await.expect("claim").remove(0);
        let blob = assets.save_blob(Bytes::from_static(b"an output"), "text/plain").await.expect("a blob");
        let output = Asset {
            id: AssetId::new(),
            task_id: done.id,
            index: 0,
            mime: blob.mime,
            bytes: blob.bytes,
            width: None,
            height: None,
            sha256: blob.sha256,
            blob_key: blob.blob_key.clone(),
            thumbnail_key: None,
            created_at: now,
            tags: Vec::new(),
            owner: None,
            role: OutputRole::Primary,
            media: None,
        };
        assert!(store.complete(done.id, &claimed.lease, vec![output], now).await.expect("complete"));
        let mut uploads = Vec::new();
        for content in [&b"kept"[..], &b"let go"[..]] {
            let blob = assets.save_blob(Bytes::copy_from_slice(content), "text/plain").await.expect("a blob");
            let upload = Upload::from_blob(blob, "notes.txt", None, now);
            store.create_upload(&upload).await.expect("an upload");
            uploads.push(upload);
        }
        store.create_task(new_task(json!({ "image": uploads[0].id.as_str() }), now)).await.expect("a pending task");

        let config = RetentionConfig::default();
        let cleanup = config.cleanup(&database, store.clone(), assets.clone()).expect("enabled");
        // Today nothing is past its time; in a hundred days the output and the free
        // upload are.
        let today = cleanup.run_once(now).await.expect("a pass").expect("the lease");
        assert_eq!((today.outputs, today.inputs), (0, 0), "{today:?}");
        let later = cleanup.run_once(now + 100 * 86_400_000).await.expect("a pass").expect("the lease");
        assert_eq!((later.outputs, later.inputs, later.files, later.kept_in_use), (1, 1, 2, 1), "{later:?}");
        assert!(store.get_task(done.id).await.expect("read").is_none());
        assert!(assets.open(&blob.blob_key, None).await.expect("read").is_none(), "the output's file is gone");
        assert!(store.get_upload(&uploads[1].id).await.expect("read").is_none());
        assert!(assets.open(&uploads[1].blob_key, None).await.expect("read").is_none());
        assert!(store.get_upload(&uploads[0].id).await.expect("read").is_some(), "a pending task names it");
        assert!(assets.open(&uploads[0].blob_key, None).await.expect("read").is_some());
        database.close().await;
    }

    #[test]
    fn the_defaults_are_the_seeds_and_zero_keeps() {
        let config = RetentionConfig::default();
        assert_eq!((config.inputs_days, config.outputs_days), (30, 90));
        assert_eq!(config.rules().inputs, Some(Duration::from_secs(30 * 86_400)));
        let keep = RetentionConfig { inputs_days: 0, outputs_days: 0, ..config };
        assert_eq!((keep.rules().inputs, keep.rules().outputs), (None, None));
        assert!(RetentionConfig { batch: 0, ..RetentionConfig::default() }.validate().is_err());
        assert!(RetentionConfig { interval_secs: 0, ..RetentionConfig::default() }.validate().is_err());
    }
}
