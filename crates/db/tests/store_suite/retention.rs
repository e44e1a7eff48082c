//! The retention cleanup's reads and deletes: a lease one holder at a time; ended
//! tasks past their time, oldest first by a cursor, with their outputs and whether
//! a live run links them (never pending ones, never recent ones); live tasks'
//! inputs and those of tasks made since; old uploads; expired provider copies,
//! sign-in links and sessions, a bounded batch at a time.

use std::collections::HashMap;
use std::sync::Arc;

use atelier_core::account::{Role, Session, User};
use atelier_core::pipeline::{RunStatus, RunTask};
use atelier_core::ports::{
    AccountStore, PipelineStore, ProviderUpload, QueueStore, RetentionStore, TaskStore, UploadStore,
};
use atelier_core::task::{TaskStatus, Upload};
use atelier_core::{SessionId, TaskId, UploadId, UserId};
use atelier_db::Database;
use serde_json::json;

use super::{asset, error, insert, new_task, run, v7_at};

const DAY: i64 = 86_400_000;

pub async fn the_cleanup_finds_what_is_past_its_time_and_what_is_in_use(store: Arc<Database>) {
    // One holder at a time; renewed by its holder; taken over once expired.
    assert!(store.take_lease("retention", "a", 1_000, 61_000).await.unwrap());
    assert!(!store.take_lease("retention", "b", 2_000, 62_000).await.unwrap(), "a holds it");
    assert!(store.take_lease("retention", "a", 30_000, 90_000).await.unwrap(), "a renews");
    assert!(!store.take_lease("retention", "b", 89_999, 150_000).await.unwrap(), "not yet expired");
    assert!(store.take_lease("retention", "b", 90_000, 150_000).await.unwrap(), "expired: b takes over");
    store.release_lease("retention", "a").await.unwrap();
    assert!(!store.take_lease("retention", "a", 100_000, 160_000).await.unwrap(), "only b lets it go");
    store.release_lease("retention", "b").await.unwrap();
    assert!(store.take_lease("retention", "a", 100_000, 160_000).await.unwrap(), "let go");
    assert!(store.take_lease("another job", "b", 100_000, 160_000).await.unwrap(), "a lease per job");

    // Ended tasks: two long ago, one in a live run, one in an ended run, one recent.
    let mut ids: Vec<TaskId> = Vec::new();
    for n in 0..5 {
        ids.push(insert(&store, new_task(1_000 + n)).await);
    }
    let mut leases: HashMap<TaskId, _> = HashMap::new();
    for claimed in store.claim("", "w1", 5, 2_000, 2_000 + DAY * 400).await.unwrap() {
        leases.insert(claimed.task.id, claimed.lease);
    }
    assert_eq!(leases.len(), 5);
    let [old, failed, in_live_run, in_ended_run, recent] = [ids[0], ids[1], ids[2], ids[3], ids[4]];
    let output = asset(old, 0, "blobs/old.png");
    let output_id = output.id.clone();
    assert!(store.complete(old, &leases[&old], vec![output], 5 * DAY).await.unwrap());
    assert!(store.fail(failed, &leases[&failed], &error("provider_rejected"), 6 * DAY).await.unwrap());
    assert!(store.complete(in_live_run, &leases[&in_live_run], Vec::new(), 7 * DAY).await.unwrap());
    assert!(store.complete(in_ended_run, &leases[&in_ended_run], Vec::new(), 8 * DAY).await.unwrap());
    assert!(store.complete(recent, &leases[&recent], Vec::new(), 200 * DAY).await.unwrap());
    let (live, mut ended) = (run(&UserId::new(), DAY), run(&UserId::new(), DAY));
    store.create_run(&live).await.unwrap();
    store.create_run(&ended).await.unwrap();
    ended.status = RunStatus::Completed;
    ended.completed_at = Some(9 * DAY);
    assert!(store.update_run(&ended).await.unwrap());
    for (run, task) in [(&live, in_live_run), (&ended, in_ended_run)] {
        let link = RunTask { run_id: run.id.clone(), key: "5:root:0:panel-1".into(), task_id: task, reused: None };
        store.link_task(&link).await.unwrap();
    }
    // A live task that names an upload, made later.
    let upload = Upload {
        id: UploadId(format!("upl_{}", v7_at(2 * DAY).replace('-', ""))),
        name: "fox.png".into(),
        mime: "image/png".into(),
        bytes: 10,
        width: None,
        height: None,
        sha256: "cd".repeat(32),
        blob_key: "blobs/fox.png".into(),
        thumbnail_key: None,
        created_at: 2 * DAY,
        owner: None,
    };
    store.create_upload(&upload).await.unwrap();
    let newer = Upload {
        id: UploadId(format!("upl_{}", v7_at(150 * DAY).replace('-', ""))),
        created_at: 150 * DAY,
        ..upload.clone()
    };
    store.create_upload(&newer).await.unwrap();
    let mut waiting = new_task(300 * DAY);
    waiting.input = json!({ "image": upload.id.as_str(), "prompt": "a fox" });
    let waiting = insert(&store, waiting).await;

    let cutoff = 100 * DAY;
    let first = store.ended_tasks_before(cutoff, None, 2).await.unwrap();
    assert_eq!(first.iter().map(|c| c.id).collect::<Vec<_>>(), [old, failed], "oldest first, a page of two");
    assert_eq!((first[0].ended_at, first[0].outputs.clone(), first[0].in_live_run), (5 * DAY, vec![output_id], false));
    assert!(first[1].outputs.is_empty());
    let cursor = Some((first[1].ended_at, first[1].id));
    let second = store.ended_tasks_before(cutoff, cursor, 2).await.unwrap();
    assert_eq!(
        second.iter().map(|c| (c.id, c.in_live_run)).collect::<Vec<_>>(),
        [(in_live_run, true), (in_ended_run, false)],
        "a task of a run that has not ended is marked, one of an ended run is not"
    );
    let cursor = Some((second[1].ended_at, second[1].id));
    assert!(store.ended_tasks_before(cutoff, cursor, 2).await.unwrap().is_empty(), "the recent and the pending stay");

    let pending = store.task_inputs(TaskStatus::Pending, None, 10).await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].0, waiting);
    assert!(pending[0].1.contains(upload.id.as_str()), "{}", pending[0].1);
    assert!(store.task_inputs(TaskStatus::Pending, Some(waiting), 10).await.unwrap().is_empty(), "after the cursor");
    assert!(store.task_inputs(TaskStatus::Processing, None, 10).await.unwrap().is_empty());
    let since = store.task_inputs_since(299 * DAY, None, 10).await.unwrap();
    assert_eq!(since.iter().map(|(id, _)| *id).collect::<Vec<_>>(), [waiting], "only what was made since");

    let old_uploads = store.uploads_before(30 * DAY, None, 10).await.unwrap();
    assert_eq!(old_uploads, std::slice::from_ref(&upload), "the newer upload is not past its time");
    assert!(store.uploads_before(30 * DAY, Some(upload.id.clone()), 10).await.unwrap().is_empty());
    assert_eq!(store.uploads_before(200 * DAY, None, 1).await.unwrap(), std::slice::from_ref(&upload), "a page of one");

    // Provider copies go once expired at the provider, a batch at a time.
    for (key, expires_at) in [("k1", 1_000), ("k2", 2_000), ("k3", 10 * DAY)] {
        let copy = ProviderUpload { url: format!("https://files.example/{key}"), expires_at };
        store.remember_provider_upload("kie", key, &copy, 500).await.unwrap();
    }
    assert_eq!(store.delete_expired_provider_copies(5_000, 1).await.unwrap(), 1);
    assert_eq!(store.delete_expired_provider_copies(5_000, 1).await.unwrap(), 1);
    assert_eq!(store.delete_expired_provider_copies(5_000, 1).await.unwrap(), 0);
    assert!(store.provider_upload("kie", "k3", 5_000).await.unwrap().is_some(), "a fresh copy stays");

    // Sign-in links and sessions past their expiry.
    let user = User {
        id: UserId::new(),
        email: "retention@example.com".into(),
        role: Role::Member,
        password_hash: None,
        disabled: false,
        totp_secret: None,
        totp_enabled: false,
        totp_last_step: None,
        created_at: 1_000,
    };
    store.create_user(&user).await.unwrap();
    for (hash, expires_at) in [("old-link", 1_000), ("new-link", 10 * DAY)] {
        store.create_sign_in_link(&user.id, hash, expires_at).await.unwrap();
    }
    for (hash, expires_at) in [("aa", 1_000), ("bb", 10 * DAY)] {
        let session = Session {
            id: SessionId::new(),
            user_id: user.id.clone(),
            token_hash: hash.repeat(32),
            csrf_token: "csrf".into(),
            created_at: 500,
            expires_at,
            last_seen_at: 500,
        };
        store.create_session(&session).await.unwrap();
    }
    assert_eq!(store.delete_expired_links(5_000, 10).await.unwrap(), (1, 1));
    assert_eq!(store.delete_expired_links(5_000, 10).await.unwrap(), (0, 0));
    assert!(store.find_session(&"bb".repeat(32)).await.unwrap().is_some(), "a live session stays");
    assert_eq!(store.consume_sign_in_link("new-link", 6_000).await.unwrap(), Some(user.id.clone()));
    let _ = store.get_task(old).await.unwrap().expect("reads delete nothing");
}
