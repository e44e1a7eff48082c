//! The cleanup's rules on in-memory stores: what live inputs name is kept, the
//! rest past its time goes with its files, and a held lease skips the pass. (The
//! SQL that finds the candidates is proved on both databases by the storage suite.)

use std::sync::Mutex;

use async_trait::async_trait;
use bytes::Bytes;
use serde_json::json;

use super::*;
use crate::ids::AssetId;
use crate::ports::UploadStore;
use crate::task::{NewTask, Upload};
use crate::testing::{MemoryAssets, MemoryStore};

/// The candidates and live inputs the test gives, and the lease.
#[derive(Default)]
struct Fake {
    live: Vec<(TaskStatus, TaskId, String)>,
    /// Tasks made while the pass runs, shown from the first catch-up on.
    made_meanwhile: Mutex<Vec<(TaskId, String)>>,
    ended: Vec<EndedCandidate>,
    uploads: Vec<Upload>,
    lease: Mutex<Option<(String, Millis)>>,
    expired_copies: Mutex<u64>,
    links_deleted: Mutex<bool>,
}

#[async_trait]
impl RetentionStore for Fake {
    async fn take_lease(&self, _name: &str, holder: &str, now: Millis, until: Millis) -> Result<bool> {
        let mut lease = self.lease.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match lease.as_ref() {
            Some((other, expires)) if other != holder && *expires > now => Ok(false),
            _ => {
                *lease = Some((holder.to_owned(), until));
                Ok(true)
            }
        }
    }

    async fn release_lease(&self, _name: &str, holder: &str) -> Result<()> {
        let mut lease = self.lease.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if lease.as_ref().is_some_and(|(other, _)| other == holder) {
            *lease = None;
        }
        Ok(())
    }

    async fn task_inputs(
        &self,
        status: TaskStatus,
        after: Option<TaskId>,
        limit: u32,
    ) -> Result<Vec<(TaskId, String)>> {
        let mut page: Vec<(TaskId, String)> = self
            .live
            .iter()
            .filter(|(s, id, _)| *s == status && after.is_none_or(|after| *id > after))
            .map(|(_, id, input)| (*id, input.clone()))
            .collect();
        page.sort_by_key(|(id, _)| *id);
        page.truncate(limit as usize);
        Ok(page)
    }

    async fn task_inputs_since(
        &self,
        _since: Millis,
        after: Option<TaskId>,
        limit: u32,
    ) -> Result<Vec<(TaskId, String)>> {
        let made = self.made_meanwhile.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut page: Vec<(TaskId, String)> =
            made.iter().filter(|(id, _)| after.is_none_or(|after| *id > after)).cloned().collect();
        page.truncate(limit as usize);
        Ok(page)
    }

    async fn ended_tasks_before(
        &self,
        _ended_before: Millis,
        after: Option<(Millis, TaskId)>,
        limit: u32,
    ) -> Result<Vec<EndedCandidate>> {
        let mut page: Vec<EndedCandidate> = self
            .ended
            .iter()
            .filter(|candidate| after.is_none_or(|(at, id)| (candidate.ended_at, candidate.id) > (at, id)))
            .cloned()
            .collect();
        page.truncate(limit as usize);
        Ok(page)
    }

    async fn uploads_before(&self, _made_before: Millis, after: Option<UploadId>, limit: u32) -> Result<Vec<Upload>> {
        let mut page: Vec<Upload> = self
            .uploads
            .iter()
            .filter(|upload| after.as_ref().is_none_or(|after| upload.id.as_str() > after.as_str()))
            .cloned()
            .collect();
        page.truncate(limit as usize);
        Ok(page)
    }

    async fn delete_expired_provider_copies(&self, _now: Millis, limit: u32) -> Result<u64> {
        let mut left = self.expired_copies.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let deleted = (*left).min(u64::from(limit));
        *left -= deleted;
        Ok(deleted)
    }

    async fn delete_expired_links(&self, _now: Millis, _limit: u32) -> Result<(u64, u64)> {
        let mut deleted = self.links_deleted.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        Ok(if std::mem::replace(&mut *deleted, true) { (0, 0) } else { (1, 2) })
    }
}

async fn upload(store: &MemoryStore, assets: &MemoryAssets, content: &'static [u8]) -> Upload {
    let blob = assets.save_blob(Bytes::from_static(content), "image/png").await.expect("a blob");
    let upload = Upload::from_blob(blob, "photo.png", None, 0);
    store.create_upload(&upload).await.expect("recorded");
    upload
}

fn task(store: &MemoryStore) -> TaskId {
    let task = store
        .insert(NewTask { max_attempts: 3, ..NewTask::new("local", "placeholder", json!({ "prompt": "a fox" }), 0) });
    task.id
}

fn candidate(id: TaskId, outputs: Vec<AssetId>, in_live_run: bool) -> EndedCandidate {
    EndedCandidate { id, ended_at: 1, outputs, in_live_run }
}

fn rules(batch: u32) -> RetentionRules {
    RetentionRules { batch, ..RetentionRules::default() }
}

#[test]
fn live_inputs_name_uploads_outputs_and_tasks_at_any_depth() {
    let (upload, output, task) = (UploadId::new(), AssetId::new(), TaskId::new());
    let mut in_use = InUse::default();
    in_use.read(&json!({ "prompt": "upl_ in words is no reference", "seed": 3 }).to_string());
    in_use.read(&json!({ "image": upload.as_str(), "frames": [{ "ref": output.as_str() }] }).to_string());
    in_use.read(&json!({ "image": format!("task:{task}") }).to_string());
    in_use.read("not json, upl_ anyway");
    assert_eq!(in_use.uploads, HashSet::from([upload.as_str().to_owned()]));
    assert_eq!(in_use.outputs, HashSet::from([output.as_str().to_owned()]));
    assert_eq!(in_use.tasks, HashSet::from([task]));
    assert!(in_use.holds_task(&candidate(task, Vec::new(), false)));
    assert!(in_use.holds_task(&candidate(TaskId::new(), vec![output], false)));
    assert!(in_use.holds_task(&candidate(TaskId::new(), Vec::new(), true)), "a live run's task");
    assert!(!in_use.holds_task(&candidate(TaskId::new(), vec![AssetId::new()], false)));
}

#[tokio::test]
async fn what_is_past_its_time_goes_with_its_files_unless_in_use() {
    let (store, assets) = (Arc::new(MemoryStore::new()), Arc::new(MemoryAssets::new()));
    let named = upload(&store, &assets, b"named by a live task").await;
    let named_later = upload(&store, &assets, b"named by a task made during the pass").await;
    let free = upload(&store, &assets, b"nobody's").await;
    let (old, chained, in_run) = (task(&store), task(&store), task(&store));
    let fake = Fake {
        live: vec![
            (TaskStatus::Pending, TaskId::new(), json!({ "image": named.id.as_str() }).to_string()),
            (TaskStatus::WaitingInput, TaskId::new(), json!({ "image": format!("task:{chained}") }).to_string()),
        ],
        made_meanwhile: Mutex::new(vec![(TaskId::new(), json!({ "image": named_later.id.as_str() }).to_string())]),
        ended: vec![
            candidate(old, Vec::new(), false),
            candidate(chained, Vec::new(), false),
            candidate(in_run, Vec::new(), true),
        ],
        uploads: vec![named.clone(), named_later.clone(), free.clone()],
        expired_copies: Mutex::new(5),
        ..Fake::default()
    };
    let cleanup = Cleanup::new(Arc::new(fake), store.clone(), assets.clone(), rules(2));
    let removed = cleanup.run_once(1_000).await.expect("a pass").expect("the lease was free");
    assert_eq!((removed.outputs, removed.inputs, removed.kept_in_use), (1, 1, 4), "{removed:?}");
    assert_eq!((removed.provider_copies, removed.links, removed.sessions), (5, 1, 2), "{removed:?}");
    assert_eq!((removed.files, removed.bytes), (1, free.bytes), "{removed:?}");
    assert!(store.task(old).is_none() && store.task(chained).is_some() && store.task(in_run).is_some());
    assert!(store.get_upload(&free.id).await.expect("read").is_none());
    for kept in [&named, &named_later] {
        assert!(store.get_upload(&kept.id).await.expect("read").is_some(), "{} was in use", kept.id);
    }
    assert_eq!(assets.len(), 2, "the free upload's file went, the others stayed");
}

#[tokio::test]
async fn a_held_lease_skips_the_pass() {
    let store = Arc::new(MemoryStore::new());
    let doomed = task(&store);
    let fake = Fake {
        ended: vec![candidate(doomed, Vec::new(), false)],
        lease: Mutex::new(Some(("another instance".into(), 5_000))),
        ..Fake::default()
    };
    let fake = Arc::new(fake);
    let cleanup = Cleanup::new(fake.clone(), store.clone(), Arc::new(MemoryAssets::new()), rules(10));
    assert_eq!(cleanup.run_once(1_000).await.expect("no error"), None, "another instance holds it");
    assert!(store.task(doomed).is_some(), "nothing was removed");
    // Past its expiry (that instance died), the lease is taken over, and let go after.
    assert!(cleanup.run_once(6_000).await.expect("a pass").is_some());
    assert!(store.task(doomed).is_none());
    assert_eq!(*fake.lease.lock().expect("the lease"), None, "let go after the pass");
}
