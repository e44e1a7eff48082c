//! The storage suite: one set of stories, run on SQLite and on PostgreSQL.
//! Each story gets a fresh database.

#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::sync::Arc;

use atelier_core::ports::PromptStore;
use atelier_core::ports::{
    AssetIndex, Created, InputCopy, LeaseToken, OwnerCount, ProviderUpload, QueueStore, TaskStore, UploadStore,
    UsageCounts,
};
use atelier_core::prompt::{Prompt, PromptDeletion, PromptKind};
use atelier_core::quota::{CreateLimit, LimitCount};
use atelier_core::task::{
    Asset, AssetFilter, AssetPage, NewTask, OutputRole, TaskError, TaskFilter, TaskStatus, Upload,
};
use atelier_core::{AssetId, CoreError, PromptId, TaskId, UploadId, UserId};
use atelier_db::{Database, DatabaseOptions};
use atelier_testkit::TestDatabase;
use serde_json::json;

#[path = "store_suite/locations.rs"]
mod locations;
use locations::{
    a_photos_location_goes_with_its_upload, locations_are_owned_listed_filtered_and_deleted,
    tasks_and_their_outputs_filter_by_place,
};
#[path = "store_suite/rate_limits.rs"]
mod rate_limits;
#[path = "store_suite/retention.rs"]
mod retention;
use retention::the_cleanup_finds_what_is_past_its_time_and_what_is_in_use;
#[path = "store_suite/webhooks.rs"]
mod webhooks;
use webhooks::{
    webhook_deliveries_are_claimed_under_leases_and_written_once, webhook_targets_secrets_and_the_sweep_read,
};

/// Runs a story on every backend available.
macro_rules! story {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let test_db = atelier_testkit::TestDatabase::sqlite();
                super::$name(super::open(&test_db).await).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some(test_db) = atelier_testkit::TestDatabase::postgres().await else { return };
                super::$name(super::open(&test_db).await).await;
            }
        }
    };
}

story!(creates_reads_and_lists);
story!(idempotency_keys_return_the_first_task);
story!(a_claim_holds_until_its_lease_ends);
story!(concurrent_claims_never_share_a_task);
story!(expired_leases_are_reclaimed_then_failed);
story!(retries_wait_for_their_time);
story!(cancel_ends_only_unfinished_tasks);
story!(remote_tasks_resume_polling_without_resubmitting);
story!(deleting_a_task_deletes_its_assets);
story!(tags_filter_the_gallery);
story!(the_gallery_filters_by_model_and_time_with_tags_and_pages);
story!(pending_tasks_expire);
story!(uploads_and_provider_uploads);
story!(quota_and_in_flight_counts);
story!(creates_at_once_keep_their_limits);
story!(accounts_keys_sessions_and_owners);
story!(prompt_trees_link_tasks_and_delete_only_leaves);
story!(claims_are_fair_across_users);
story!(a_lone_task_is_not_held_back_by_another_users_ten_thousand);
story!(pipeline_runs_move_only_under_their_revision);
story!(the_scene_cache_offers_completed_recent_scenes_of_one_owner_and_model);
story!(pools_keep_remote_workers_tasks_apart_and_chains_wait_for_their_task);
story!(worker_keys_are_found_by_prefix_seen_and_revoked);
story!(locations_are_owned_listed_filtered_and_deleted);
story!(a_photos_location_goes_with_its_upload);
story!(tasks_and_their_outputs_filter_by_place);
story!(webhook_deliveries_are_claimed_under_leases_and_written_once);
story!(webhook_targets_secrets_and_the_sweep_read);
story!(the_cleanup_finds_what_is_past_its_time_and_what_is_in_use);

async fn open(test_db: &TestDatabase) -> Arc<Database> {
    let database = Database::connect(&test_db.url, &DatabaseOptions::default()).await.expect("connect");
    database.migrate().await.expect("migrate");
    // Migrating twice is a no-op.
    database.migrate().await.expect("migrate again");
    Arc::new(database)
}

/// A UUIDv7 of a given time, as the application makes one when it stores a row
/// (ids sort by creation; list filters on creation time rely on it). A counter
/// orders the ids of one millisecond.
fn v7_at(millis: i64) -> String {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let count = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{:08x}-{:04x}-7000-8000-{count:012x}", millis >> 16, millis & 0xffff)
}

fn task_id_at(millis: i64) -> TaskId {
    v7_at(millis).parse().unwrap()
}

fn asset_id_at(millis: i64) -> AssetId {
    AssetId(format!("img_{}", v7_at(millis).replace('-', "")))
}

fn new_task(created_at: i64) -> NewTask {
    NewTask {
        id: task_id_at(created_at),
        max_attempts: 3,
        expires_at: Some(created_at + 3_600_000),
        ..NewTask::new("local", "placeholder", json!({ "prompt": "a red fox", "seed": created_at }), created_at)
    }
}

async fn insert(store: &Database, task: NewTask) -> TaskId {
    match store.create_task(task).await.expect("create") {
        Created::New(task) => task.id,
        Created::Existing(_) => panic!("expected a new task"),
    }
}

fn asset(task_id: TaskId, index: u32, blob_key: &str) -> Asset {
    Asset {
        id: AssetId::new(),
        task_id,
        index,
        mime: "image/png".into(),
        bytes: 1234,
        width: Some(64),
        height: Some(32),
        sha256: "ab".repeat(32),
        blob_key: blob_key.into(),
        thumbnail_key: Some(format!("thumbs/{blob_key}.webp")),
        created_at: 1000,
        tags: vec![],
        owner: None,
        role: OutputRole::Primary,
        media: None,
    }
}

async fn claim_one(store: &Database, now: i64) -> (TaskId, LeaseToken) {
    let mut claims = store.claim("", "w1", 1, now, now + 30_000).await.expect("claim");
    assert_eq!(claims.len(), 1, "expected one claim");
    let claimed = claims.remove(0);
    (claimed.task.id, claimed.lease)
}

async fn creates_reads_and_lists(store: Arc<Database>) {
    let mut ids = Vec::new();
    for n in 0..7 {
        let mut task = new_task(1000 + n);
        if n % 2 == 0 {
            task.model = "qr".into();
        }
        ids.push(insert(&store, task).await);
    }
    let task = store.get_task(ids[0]).await.unwrap().expect("found");
    assert_eq!(task.status, TaskStatus::Pending);
    assert_eq!(task.input["prompt"], "a red fox");
    assert_eq!(task.version, 1);
    assert_eq!(task.attempts, 0);
    assert!(store.get_task(TaskId::new()).await.unwrap().is_none());
    assert_eq!(store.count_queued().await.unwrap(), 7);

    // Newest first, three to a page, every task exactly once.
    let mut seen = Vec::new();
    let mut filter = TaskFilter { limit: 3, ..TaskFilter::default() };
    loop {
        let page = store.list_tasks(&filter).await.unwrap();
        seen.extend(page.tasks.iter().map(|t| t.id));
        match page.next_cursor {
            Some(cursor) => filter.before_id = Some(cursor),
            None => break,
        }
    }
    let mut expected = ids.clone();
    expected.reverse();
    assert_eq!(seen, expected);

    let qr = TaskFilter { model: Some("qr".into()), limit: 50, ..TaskFilter::default() };
    assert_eq!(store.list_tasks(&qr).await.unwrap().tasks.len(), 4);
    let timed =
        TaskFilter { created_after: Some(1003), created_before: Some(1005), limit: 50, ..TaskFilter::default() };
    assert_eq!(store.list_tasks(&timed).await.unwrap().tasks.len(), 2);
    let done = TaskFilter { statuses: vec![TaskStatus::Completed], limit: 50, ..TaskFilter::default() };
    assert!(store.list_tasks(&done).await.unwrap().tasks.is_empty());
    assert_eq!(task.route, None);
    // A routed task keeps how its service was chosen.
    let route = atelier_core::task::Route {
        model: "imagen4".into(),
        service: "kie".into(),
        skipped: vec![atelier_core::task::RouteSkip { service: "google".into(), reason: "circuit_open".into() }],
    };
    let routed = insert(&store, NewTask { route: Some(route.clone()), ..new_task(1100) }).await;
    assert_eq!(store.get_task(routed).await.unwrap().expect("found").route, Some(route));
    // A task keeps the trace context of the request that created it.
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_owned();
    let traced = insert(&store, NewTask { trace_context: Some(traceparent.clone()), ..new_task(1101) }).await;
    assert_eq!(store.get_task(traced).await.unwrap().expect("found").trace_context, Some(traceparent));
}

async fn idempotency_keys_return_the_first_task(store: Arc<Database>) {
    let mut first = new_task(1000);
    first.idempotency_key = Some("key-1".into());
    first.request_hash = Some("hash-a".into());
    let first_id = insert(&store, first.clone()).await;

    let mut again = new_task(2000);
    again.idempotency_key = Some("key-1".into());
    again.request_hash = Some("hash-a".into());
    match store.create_task(again).await.unwrap() {
        Created::Existing(task) => assert_eq!(task.id, first_id),
        Created::New(_) => panic!("a repeated key made a second task"),
    }

    let mut other_body = new_task(3000);
    other_body.idempotency_key = Some("key-1".into());
    other_body.request_hash = Some("hash-b".into());
    let error = store.create_task(other_body).await.expect_err("conflict");
    assert!(matches!(error, CoreError::Conflict { code: "idempotency_key_reused", .. }), "{error:?}");
    assert_eq!(store.count_queued().await.unwrap(), 1);
}

async fn a_claim_holds_until_its_lease_ends(store: Arc<Database>) {
    let id = insert(&store, new_task(1000)).await;
    let (claimed, lease) = claim_one(&store, 5000).await;
    assert_eq!(claimed, id);
    let task = store.get_task(id).await.unwrap().unwrap();
    assert_eq!(task.status, TaskStatus::Processing);
    assert_eq!(task.attempts, 1);
    assert_eq!(task.started_at, Some(5000));
    assert!(store.claim("", "w2", 10, 5001, 35_000).await.unwrap().is_empty(), "a held task was claimed twice");

    let stale = LeaseToken::new();
    assert!(!store.heartbeat(id, &stale, 60_000).await.unwrap());
    assert!(store.heartbeat(id, &lease, 60_000).await.unwrap());
    assert!(store.set_progress(id, &lease, 40).await.unwrap());
    assert!(!store.complete(id, &stale, vec![asset(id, 0, "blobs/x")], 6000).await.unwrap());
    assert!(store.get_task(id).await.unwrap().unwrap().outputs.is_empty(), "a stale lease wrote outputs");

    // A speech output keeps what its probe found (seed 000's audio_data).
    let media = atelier_core::task::MediaInfo {
        duration_secs: Some(2.5),
        codec: Some("opus".into()),
        sample_rate: Some(48_000),
        channels: Some(1),
        ..Default::default()
    };
    let preview = Asset { role: OutputRole::Preview, media: Some(media.clone()), ..asset(id, 1, "blobs/b") };
    let outputs = vec![asset(id, 0, "blobs/a"), preview.clone()];
    assert!(store.complete(id, &lease, outputs, 7000).await.unwrap());
    let task = store.get_task(id).await.unwrap().unwrap();
    assert_eq!(task.status, TaskStatus::Completed);
    assert_eq!(task.progress, 100);
    assert_eq!(task.completed_at, Some(7000));
    assert_eq!(task.outputs.iter().map(|a| a.index).collect::<Vec<_>>(), vec![0, 1]);
    assert_eq!(task.outputs[0].width, Some(64));
    let roles: Vec<OutputRole> = task.outputs.iter().map(|a| a.role).collect();
    assert_eq!(roles, [OutputRole::Primary, OutputRole::Preview], "each output keeps its role");
    assert_eq!(store.get_asset(&preview.id).await.unwrap().map(|a| a.role), Some(OutputRole::Preview));
    assert_eq!(task.outputs[1].media.as_ref(), Some(&media));
    assert_eq!(task.outputs[0].media, None);
    assert_eq!(store.get_asset(&preview.id).await.unwrap().and_then(|a| a.media), Some(media));
    let listed = store.list_tasks(&TaskFilter { limit: 10, ..TaskFilter::default() }).await.unwrap();
    let listed = listed.tasks.iter().find(|t| t.id == id).expect("listed");
    assert_eq!(listed.outputs.iter().map(|a| a.role).collect::<Vec<_>>(), roles);
    // Finishing twice is refused: the lease is gone.
    assert!(!store.complete(id, &lease, vec![asset(id, 2, "blobs/c")], 8000).await.unwrap());
    assert!(!store.fail(id, &lease, &error("late"), 8000).await.unwrap());
    assert_eq!(store.get_task(id).await.unwrap().unwrap().outputs.len(), 2);
}

fn error(code: &str) -> TaskError {
    TaskError { code: code.into(), message: format!("{code} happened"), retryable: true }
}

async fn concurrent_claims_never_share_a_task(store: Arc<Database>) {
    for n in 0..120 {
        insert(&store, new_task(1000 + n)).await;
    }
    let mut claimers = Vec::new();
    for worker in 0..6 {
        let store = store.clone();
        claimers.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let claims = store.claim("", &format!("w{worker}"), 7, 5000, 60_000).await.expect("claim");
                if claims.is_empty() {
                    return mine;
                }
                mine.extend(claims.into_iter().map(|c| c.task.id));
            }
        }));
    }
    let mut all = Vec::new();
    for claimer in claimers {
        all.extend(claimer.await.unwrap());
    }
    let unique: HashSet<_> = all.iter().collect();
    assert_eq!(all.len(), 120, "every task claimed");
    assert_eq!(unique.len(), 120, "no task claimed twice");
}

async fn expired_leases_are_reclaimed_then_failed(store: Arc<Database>) {
    let id = insert(&store, new_task(1000)).await;
    // First and second crash: requeued.
    for crash in 1..=2 {
        let now = crash * 100_000;
        let (_, _lease) = claim_one(&store, now).await;
        let report = store.reclaim_expired(now + 1000, 3).await.unwrap();
        assert!(report.requeued.is_empty(), "a live lease was reclaimed");
        let report = store.reclaim_expired(now + 31_000, 3).await.unwrap();
        assert_eq!(report.requeued, vec![id]);
        let task = store.get_task(id).await.unwrap().unwrap();
        assert_eq!(task.status, TaskStatus::Pending);
        assert_eq!(task.crashes, crash as u32);
    }
    // Third crash: set aside as failed.
    let (_, _lease) = claim_one(&store, 300_000).await;
    let report = store.reclaim_expired(331_000, 3).await.unwrap();
    assert_eq!(report.failed, vec![id]);
    let task = store.get_task(id).await.unwrap().unwrap();
    assert_eq!(task.status, TaskStatus::Failed);
    assert_eq!(task.error.unwrap().code, "worker_crashed");
    assert!(store.claim("", "w", 5, 400_000, 430_000).await.unwrap().is_empty());
}

async fn retries_wait_for_their_time(store: Arc<Database>) {
    let id = insert(&store, new_task(1000)).await;
    let (_, lease) = claim_one(&store, 2000).await;
    assert!(store.schedule_retry(id, &lease, &error("timeout"), 10_000).await.unwrap());
    let task = store.get_task(id).await.unwrap().unwrap();
    assert_eq!(task.status, TaskStatus::Retrying);
    assert_eq!(task.error.as_ref().unwrap().code, "timeout");
    assert_eq!(store.count_queued().await.unwrap(), 1);
    assert!(store.claim("", "w", 5, 9_999, 40_000).await.unwrap().is_empty(), "claimed before its time");
    let (again, lease) = claim_one(&store, 10_000).await;
    assert_eq!(again, id);
    assert_eq!(store.get_task(id).await.unwrap().unwrap().attempts, 2);
    assert!(store.fail(id, &lease, &error("provider_rejected"), 11_000).await.unwrap());
    let task = store.get_task(id).await.unwrap().unwrap();
    assert_eq!(task.status, TaskStatus::Failed);
    assert_eq!(task.error.unwrap().code, "provider_rejected");
}

async fn cancel_ends_only_unfinished_tasks(store: Arc<Database>) {
    let pending = insert(&store, new_task(1000)).await;
    let running = insert(&store, new_task(1001)).await;
    let cancelled = store.cancel_task(pending, 5000).await.unwrap().unwrap();
    assert_eq!(cancelled.status, TaskStatus::Cancelled);
    let (claimed, lease) = claim_one(&store, 6000).await;
    assert_eq!(claimed, running);
    assert_eq!(store.cancel_task(running, 7000).await.unwrap().unwrap().status, TaskStatus::Cancelled);
    // The worker's lease is void: its result is discarded.
    assert!(!store.complete(running, &lease, vec![asset(running, 0, "blobs/r")], 8000).await.unwrap());
    assert_eq!(store.get_task(running).await.unwrap().unwrap().status, TaskStatus::Cancelled);

    let done = insert(&store, new_task(1002)).await;
    let (_, lease) = claim_one(&store, 9000).await;
    assert!(store.complete(done, &lease, vec![], 9500).await.unwrap());
    assert_eq!(store.cancel_task(done, 10_000).await.unwrap().unwrap().status, TaskStatus::Completed);
    assert!(store.cancel_task(TaskId::new(), 10_000).await.unwrap().is_none());
}

async fn remote_tasks_resume_polling_without_resubmitting(store: Arc<Database>) {
    let id = insert(&store, new_task(1000)).await;
    let (_, lease) = claim_one(&store, 2000).await;
    assert!(!store.submit_was_interrupted(id).await.unwrap());
    assert!(store.mark_submitting(id, &lease).await.unwrap());
    assert!(store.submit_was_interrupted(id).await.unwrap(), "a submit in flight is visible");
    assert!(store.record_external_id(id, &lease, "ext-42").await.unwrap());
    assert!(!store.submit_was_interrupted(id).await.unwrap());
    assert!(store.park(id, &lease, 30, 5000).await.unwrap());
    let task = store.get_task(id).await.unwrap().unwrap();
    assert_eq!(task.status, TaskStatus::Processing);
    assert_eq!(task.progress, 30);
    assert!(store.claim("", "w", 5, 4999, 40_000).await.unwrap().is_empty(), "polled before its time");

    // A new worker (after a restart) claims it for a poll: the external id is there and
    // the attempt count does not grow, since nothing is submitted.
    let mut claims = store.claim("", "w2", 5, 5000, 40_000).await.unwrap();
    let claimed = claims.remove(0);
    assert_eq!(claimed.task.external_id.as_deref(), Some("ext-42"));
    assert_eq!(claimed.task.attempts, 1);

    // A lease lost mid-poll puts it back as processing, still with its external id.
    let report = store.reclaim_expired(50_000, 3).await.unwrap();
    assert_eq!(report.requeued, vec![id]);
    let task = store.get_task(id).await.unwrap().unwrap();
    assert_eq!(task.status, TaskStatus::Processing);
    assert_eq!(task.external_id.as_deref(), Some("ext-42"));
}

async fn deleting_a_task_deletes_its_assets(store: Arc<Database>) {
    let first = insert(&store, new_task(1000)).await;
    let second = insert(&store, new_task(1001)).await;
    let (a, lease_a) = claim_one(&store, 2000).await;
    let (b, lease_b) = claim_one(&store, 2000).await;
    assert_eq!((a, b), (first, second));
    let shared = asset(first, 0, "blobs/same");
    let shared_id = shared.id.clone();
    assert!(store.complete(first, &lease_a, vec![shared], 3000).await.unwrap());
    assert!(store.complete(second, &lease_b, vec![asset(second, 0, "blobs/same")], 3000).await.unwrap());
    assert_eq!(store.count_blob_refs("blobs/same").await.unwrap(), 2);
    assert!(store.add_tag(&shared_id, "fox", 4000).await.unwrap());

    let deleted = store.delete_task(first).await.unwrap().expect("deleted");
    assert_eq!(deleted.len(), 1);
    assert!(store.get_task(first).await.unwrap().is_none());
    assert!(store.get_asset(&shared_id).await.unwrap().is_none());
    assert_eq!(store.count_blob_refs("blobs/same").await.unwrap(), 1);
    assert!(store.delete_task(first).await.unwrap().is_none());

    let remaining = store.get_task(second).await.unwrap().unwrap().outputs.remove(0);
    assert!(store.delete_asset(&remaining.id).await.unwrap().is_some());
    assert_eq!(store.count_blob_refs("blobs/same").await.unwrap(), 0);
}

async fn tags_filter_the_gallery(store: Arc<Database>) {
    let id = insert(&store, new_task(1000)).await;
    let (_, lease) = claim_one(&store, 2000).await;
    let outputs = vec![asset(id, 0, "blobs/1"), asset(id, 1, "blobs/2"), asset(id, 2, "blobs/3")];
    let ids: Vec<AssetId> = outputs.iter().map(|a| a.id.clone()).collect();
    assert!(store.complete(id, &lease, outputs, 3000).await.unwrap());
    assert!(store.add_tag(&ids[0], "fox", 4000).await.unwrap());
    assert!(store.add_tag(&ids[0], "fox", 4001).await.unwrap(), "tagging twice is harmless");
    assert!(store.add_tag(&ids[2], "fox", 4002).await.unwrap());
    assert!(store.add_tag(&ids[2], "dawn", 4003).await.unwrap());
    assert!(!store.add_tag(&AssetId::new(), "fox", 4004).await.unwrap());

    let foxes = store.list_assets(&gallery().tag("fox")).await.unwrap().assets;
    assert_eq!(foxes.iter().map(|a| a.id.clone()).collect::<Vec<_>>(), vec![ids[2].clone(), ids[0].clone()]);
    assert_eq!(foxes[0].tags, vec!["dawn".to_owned(), "fox".to_owned()]);
    let all = store.list_assets(&AssetFilter { limit: 2, ..gallery() }).await.unwrap();
    assert_eq!(all.assets.len(), 2);
    assert_eq!(all.next_cursor.as_ref(), Some(&all.assets[1].id));
    let rest = store.list_assets(&AssetFilter { before_id: all.next_cursor, ..gallery() }).await.unwrap();
    assert_eq!(rest.assets.len(), 1);
    assert_eq!(rest.next_cursor, None);

    assert!(store.remove_tag(&ids[0], "fox").await.unwrap());
    assert!(!store.remove_tag(&ids[0], "fox").await.unwrap());
    assert_eq!(store.list_assets(&gallery().tag("fox")).await.unwrap().assets.len(), 1);
    assert_eq!(store.get_asset(&ids[2]).await.unwrap().unwrap().tags.len(), 2);
}

/// Every output, ten to a page.
fn gallery() -> AssetFilter {
    AssetFilter { limit: 10, ..AssetFilter::default() }
}

trait Tagged {
    fn tag(self, tag: &str) -> Self;
}

impl Tagged for AssetFilter {
    fn tag(self, tag: &str) -> Self {
        AssetFilter { tag: Some(tag.into()), ..self }
    }
}

fn page_ids(page: &AssetPage) -> Vec<AssetId> {
    page.assets.iter().map(|a| a.id.clone()).collect()
}

/// Every page of a listing, one after another, through the cursors.
async fn walk(store: &Database, filter: AssetFilter) -> Vec<AssetId> {
    let mut ids = Vec::new();
    let mut filter = filter;
    for _ in 0..100 {
        let page = store.list_assets(&filter).await.unwrap();
        assert!(page.assets.len() <= filter.limit as usize);
        ids.extend(page_ids(&page));
        match page.next_cursor {
            Some(cursor) => {
                assert_eq!(page.assets.len(), filter.limit as usize, "only a full page has a next one");
                assert_eq!(Some(&cursor), page.assets.last().map(|a| &a.id));
                filter.before_id = Some(cursor);
            }
            None => return ids,
        }
    }
    panic!("the cursors never reached the end: {ids:?}");
}

async fn the_gallery_filters_by_model_and_time_with_tags_and_pages(store: Arc<Database>) {
    // Three tasks: local/placeholder, local/qr and other/placeholder.
    let fox = insert(&store, new_task(1000)).await;
    let qr = insert(&store, NewTask { model: "qr".into(), ..new_task(1001) }).await;
    let other = insert(&store, NewTask { service: "other".into(), ..new_task(1002) }).await;
    let claims = store.claim("", "w", 10, 2_000, 60_000).await.unwrap();
    assert_eq!(claims.len(), 3);
    let lease = |id: TaskId| claims.iter().find(|c| c.task.id == id).unwrap().lease.clone();
    let at = |task_id, index, created_at: i64| Asset {
        id: asset_id_at(created_at),
        created_at,
        ..asset(task_id, index, &format!("blobs/{created_at}"))
    };
    // Made in this order, so that ids (newest first) and creation times agree.
    let made =
        [at(fox, 0, 1000), at(fox, 1, 2000), at(qr, 0, 2500), at(fox, 2, 3000), at(other, 0, 3500), at(other, 1, 4000)];
    let [f0, f1, q0, f2, o0, o1] = made.clone().map(|a| a.id);
    let [f0_, f1_, q0_, f2_, o0_, o1_] = made;
    assert!(store.complete(fox, &lease(fox), vec![f0_, f1_, f2_], 5_000).await.unwrap());
    assert!(store.complete(qr, &lease(qr), vec![q0_], 5_000).await.unwrap());
    assert!(store.complete(other, &lease(other), vec![o0_, o1_], 5_000).await.unwrap());
    for id in [&f0, &f1, &q0, &o0] {
        assert!(store.add_tag(id, "fox", 6_000).await.unwrap());
    }

    let list = |filter: AssetFilter| {
        let store = store.clone();
        async move { page_ids(&store.list_assets(&filter).await.unwrap()) }
    };
    let model = |service: Option<&str>, model: &str| AssetFilter {
        service: service.map(Into::into),
        model: Some(model.into()),
        ..gallery()
    };

    // The model: service and model, or a model of any service.
    assert_eq!(list(model(Some("local"), "placeholder")).await, [f2.clone(), f1.clone(), f0.clone()]);
    assert_eq!(list(model(Some("local"), "qr")).await, vec![q0.clone()]);
    assert!(list(model(Some("other"), "qr")).await.is_empty());
    assert!(list(model(None, "nothing")).await.is_empty());
    let placeholders = [o1.clone(), o0.clone(), f2.clone(), f1.clone(), f0.clone()];
    assert_eq!(list(model(None, "placeholder")).await, placeholders);

    // Creation time: at or after `created_after`, before `created_before`.
    let window = AssetFilter { created_after: Some(2000), created_before: Some(3500), ..gallery() };
    assert_eq!(list(window.clone()).await, [f2.clone(), q0.clone(), f1.clone()]);
    assert_eq!(list(AssetFilter { created_after: Some(3500), ..gallery() }).await, [o1.clone(), o0.clone()]);
    assert_eq!(list(AssetFilter { created_before: Some(2000), ..gallery() }).await, vec![f0.clone()]);
    assert!(list(AssetFilter { created_after: Some(4001), ..gallery() }).await.is_empty());

    // Combined with each other, with a tag and an owner.
    let placeholder_window =
        AssetFilter { created_after: Some(2000), created_before: Some(3500), ..model(None, "placeholder") };
    assert_eq!(list(placeholder_window.clone()).await, [f2.clone(), f1.clone()]);
    assert_eq!(list(placeholder_window.clone().tag("fox")).await, vec![f1.clone()]);
    assert_eq!(list(model(None, "placeholder").tag("fox")).await, [o0.clone(), f1.clone(), f0.clone()]);
    assert_eq!(list(window.clone().tag("fox")).await, [q0.clone(), f1.clone()]);
    let nobody = AssetFilter { owner: Some(atelier_core::UserId::new()), ..model(None, "placeholder") };
    assert!(list(nobody).await.is_empty());

    // Pages: newest first, every one once, whatever the filters.
    assert_eq!(
        walk(&store, AssetFilter { limit: 1, ..gallery() }).await,
        [o1.clone(), o0.clone(), f2.clone(), q0.clone(), f1.clone(), f0.clone()]
    );
    for limit in 1..=6 {
        assert_eq!(walk(&store, AssetFilter { limit, ..model(None, "placeholder") }).await, placeholders, "{limit}");
        assert_eq!(
            walk(&store, AssetFilter { limit, ..model(None, "placeholder").tag("fox") }).await,
            [o0.clone(), f1.clone(), f0.clone()],
            "{limit}"
        );
        assert_eq!(walk(&store, AssetFilter { limit, ..window.clone() }).await, [f2.clone(), q0.clone(), f1.clone()]);
        assert_eq!(walk(&store, AssetFilter { limit, ..window.clone().tag("fox") }).await, [q0.clone(), f1.clone()]);
    }
    // A page that ends the listing exactly has no next one.
    let exact = store.list_assets(&AssetFilter { limit: 3, ..model(Some("local"), "placeholder") }).await.unwrap();
    assert_eq!((exact.assets.len(), exact.next_cursor), (3, None));
    // A cursor continues the filtered listing, not the whole one.
    let after_o0 = AssetFilter { before_id: Some(o0.clone()), ..model(Some("local"), "placeholder").tag("fox") };
    assert_eq!(list(after_o0).await, [f1.clone(), f0.clone()]);

    // Tasks by their outputs' tags: each task once, however many outputs match.
    assert!(store.add_tag(&f2, "dawn", 6_000).await.unwrap());
    let tasks = |filter: TaskFilter| {
        let store = store.clone();
        async move { store.list_tasks(&filter).await.unwrap().tasks.iter().map(|t| t.id).collect::<Vec<_>>() }
    };
    let tagged = |tag: &str| TaskFilter { tag: Some(tag.into()), limit: 50, ..TaskFilter::default() };
    assert_eq!(tasks(tagged("fox")).await, [other, qr, fox]);
    assert_eq!(tasks(tagged("dawn")).await, [fox]);
    assert!(tasks(tagged("owl")).await.is_empty());
    assert_eq!(tasks(TaskFilter { model: Some("qr".into()), ..tagged("fox") }).await, [qr]);
    assert_eq!(tasks(TaskFilter { limit: 1, before_id: Some(other), ..tagged("fox") }).await, [qr]);
    assert!(store.remove_tag(&o0, "fox").await.unwrap());
    assert_eq!(tasks(tagged("fox")).await, [qr, fox]);
}

async fn pending_tasks_expire(store: Arc<Database>) {
    let mut old = new_task(1000);
    old.expires_at = Some(2000);
    let old = insert(&store, old).await;
    let fresh = insert(&store, new_task(1000)).await;
    assert_eq!(store.expire_pending(2500).await.unwrap(), vec![old]);
    assert_eq!(store.get_task(old).await.unwrap().unwrap().status, TaskStatus::Expired);
    assert_eq!(store.get_task(fresh).await.unwrap().unwrap().status, TaskStatus::Pending);
}

async fn uploads_and_provider_uploads(store: Arc<Database>) {
    let upload = Upload {
        id: UploadId::new(),
        name: "fox.png".into(),
        mime: "image/png".into(),
        bytes: 1234,
        width: Some(40),
        height: Some(30),
        sha256: "ab".repeat(32),
        blob_key: "blobs/ab/shared.png".into(),
        thumbnail_key: None,
        created_at: 1_000,
        owner: None,
    };
    store.create_upload(&upload).await.unwrap();
    assert_eq!(store.get_upload(&upload.id).await.unwrap(), Some(upload.clone()));
    assert_eq!(store.get_upload(&UploadId::new()).await.unwrap(), None);

    // An output sharing the blob: both count as references.
    let task = insert(&store, new_task(1_000)).await;
    let (claimed, lease) = claim_one(&store, 2_000).await;
    assert_eq!(claimed, task);
    assert!(store.complete(task, &lease, vec![asset(task, 0, "blobs/ab/shared.png")], 3_000).await.unwrap());
    assert_eq!(store.count_blob_refs("blobs/ab/shared.png").await.unwrap(), 2);
    assert_eq!(store.delete_upload(&upload.id).await.unwrap(), Some(upload.clone()));
    assert_eq!(store.delete_upload(&upload.id).await.unwrap(), None);
    assert_eq!(store.count_blob_refs("blobs/ab/shared.png").await.unwrap(), 1);

    // What a provider holds: fresh until it expires, replaced by a new upload.
    let held = ProviderUpload { url: "https://files.example/a.png".into(), expires_at: 10_000 };
    store.remember_provider_upload("kie", "sha-a", &held, 1_000).await.unwrap();
    assert_eq!(store.provider_upload("kie", "sha-a", 9_999).await.unwrap(), Some(held.clone()));
    assert_eq!(store.provider_upload("kie", "sha-a", 10_000).await.unwrap(), None, "expired");
    assert_eq!(store.provider_upload("openai", "sha-a", 0).await.unwrap(), None, "services are apart");
    let renewed = ProviderUpload { url: "https://files.example/b.png".into(), expires_at: 20_000 };
    store.remember_provider_upload("kie", "sha-a", &renewed, 12_000).await.unwrap();
    assert_eq!(store.provider_upload("kie", "sha-a", 12_000).await.unwrap(), Some(renewed.clone()));

    // A file's copies at every service, expired ones too.
    store.remember_provider_upload("azure", "sha-a", &held, 1_000).await.unwrap();
    store.remember_provider_upload("kie", "sha-b", &held, 1_000).await.unwrap();
    let copies = store.provider_copies("sha-a").await.unwrap();
    assert_eq!(copies, [("azure".to_owned(), held.clone()), ("kie".to_owned(), renewed.clone())]);
    assert_eq!(store.provider_copies("sha-none").await.unwrap(), []);

    // The copies each task's input files went as: by task and position, replaced
    // when a submit is redone, gone with the task.
    let other = insert(&store, new_task(4_000)).await;
    let copy = |position: u32, url: &str| InputCopy {
        position,
        reference: format!("upl_{position}"),
        service: "kie".into(),
        url: url.into(),
        expires_at: 50_000,
    };
    store.record_input_copy(&task, &copy(1, "https://k/b"), 5_000).await.unwrap();
    store.record_input_copy(&task, &copy(0, "https://k/old"), 5_000).await.unwrap();
    store.record_input_copy(&task, &copy(0, "https://k/a"), 6_000).await.unwrap();
    store.record_input_copy(&other, &copy(0, "https://k/c"), 6_000).await.unwrap();
    let both = store.input_copies(&[task, other]).await.unwrap();
    let mut expected =
        vec![(task, copy(0, "https://k/a")), (task, copy(1, "https://k/b")), (other, copy(0, "https://k/c"))];
    expected.sort_by_key(|(id, copy)| (id.to_string(), copy.position));
    assert_eq!(both, expected);
    assert_eq!(store.input_copies(&[]).await.unwrap(), []);
    store.delete_task(task).await.unwrap();
    assert_eq!(store.input_copies(&[task, other]).await.unwrap(), [(other, copy(0, "https://k/c"))], "cascaded");
}

/// Twelve creates at once under a quota of five: the count is made in each insert's
/// own write (under a lock on PostgreSQL), so exactly five are stored and the rest
/// get the quota's refusal; another model's quota is its own.
async fn creates_at_once_keep_their_limits(store: Arc<Database>) {
    let quota = |model: &str| CreateLimit {
        count: LimitCount::Created { service: "local".into(), model: Some(model.into()), since: 1_000 },
        limit: 5,
        scope: format!("local/{model}"),
        retry_after: std::time::Duration::from_secs(60),
    };
    let creates: Vec<_> = (0..12)
        .map(|n| {
            let store = store.clone();
            let task = NewTask { limits: vec![quota("placeholder")], ..new_task(2_000 + n) };
            tokio::spawn(async move { store.create_task(task).await })
        })
        .collect();
    let mut stored = 0;
    for create in creates {
        match create.await.expect("the create ran") {
            Ok(Created::New(_)) => stored += 1,
            Err(CoreError::QuotaExceeded { scope, limit: 5, .. }) => assert_eq!(scope, "local/placeholder"),
            other => panic!("a create under a quota: {other:?}"),
        }
    }
    assert_eq!(stored, 5, "twelve creates at once, a quota of five");
    assert_eq!(store.count_created_since("local", Some("placeholder"), 1_000).await.unwrap(), 5);
    let qr = NewTask { model: "qr".into(), limits: vec![quota("qr")], ..new_task(3_000) };
    assert!(matches!(store.create_task(qr).await, Ok(Created::New(_))), "another model's quota is its own");
}

async fn quota_and_in_flight_counts(store: Arc<Database>) {
    let mut veo = new_task(5_000);
    veo.service = "kie".into();
    veo.model = "veo3".into();
    let veo = insert(&store, veo).await;
    let mut imagen = new_task(6_000);
    imagen.service = "kie".into();
    imagen.model = "imagen4".into();
    insert(&store, imagen).await;
    let mut yesterday = new_task(1_000);
    yesterday.service = "kie".into();
    insert(&store, yesterday).await;
    insert(&store, new_task(7_000)).await;

    assert_eq!(store.count_created_since("kie", None, 2_000).await.unwrap(), 2);
    assert_eq!(store.count_created_since("kie", Some("veo3"), 2_000).await.unwrap(), 1);
    assert_eq!(store.count_created_since("kie", None, 0).await.unwrap(), 3);
    assert_eq!(store.count_created_since("local", None, 2_000).await.unwrap(), 1);

    // Open at the provider: marked submitting, or holding an external id.
    assert_eq!(store.count_in_flight("kie").await.unwrap(), 0);
    let claims = store.claim("", "w", 10, 8_000, 60_000).await.unwrap();
    let lease_of = |id: TaskId| claims.iter().find(|c| c.task.id == id).map(|c| c.lease.clone()).unwrap();
    assert_eq!(store.count_in_flight("kie").await.unwrap(), 0, "claimed is not yet submitted");
    assert!(store.mark_submitting(veo, &lease_of(veo)).await.unwrap());
    assert_eq!(store.count_in_flight("kie").await.unwrap(), 1);
    assert!(store.record_external_id(veo, &lease_of(veo), "veo_task_1").await.unwrap());
    assert_eq!(store.count_in_flight("kie").await.unwrap(), 1, "submitted, waiting on the provider");
    let grouped = store.in_flight_by_service().await.unwrap();
    assert_eq!(
        grouped.into_iter().collect::<Vec<_>>(),
        [("kie".to_owned(), 1)],
        "one grouped count, services with none absent"
    );
    assert!(store.fail(veo, &lease_of(veo), &error("generation_failed"), 9_000).await.unwrap());
    assert_eq!(store.count_in_flight("kie").await.unwrap(), 0, "ended");
    assert!(store.in_flight_by_service().await.unwrap().is_empty());
}

async fn accounts_keys_sessions_and_owners(store: Arc<Database>) {
    use atelier_core::account::{ApiKey, AuditEntry, Role, Session, User};
    use atelier_core::ports::AccountStore;
    use atelier_core::{ApiKeyId, SessionId};

    assert_eq!(store.count_users().await.unwrap(), 0);
    let ada = User {
        id: UserId::new(),
        email: "ada@example.com".into(),
        role: Role::Member,
        password_hash: Some("$argon2id$…".into()),
        disabled: false,
        totp_secret: None,
        totp_enabled: false,
        totp_last_step: None,
        created_at: 1_000,
    };
    store.create_user(&ada).await.unwrap();
    let twin = User { id: UserId::new(), ..ada.clone() };
    assert!(matches!(store.create_user(&twin).await, Err(CoreError::Conflict { code: "email_taken", .. })));
    assert_eq!(store.find_user_by_email("ada@example.com").await.unwrap(), Some(ada.clone()));
    let mut changed = ada.clone();
    changed.role = Role::Admin;
    changed.totp_secret = Some("v1.sealed".into());
    changed.totp_last_step = Some(42);
    assert!(store.update_user(&changed).await.unwrap());
    assert_eq!(store.get_user(&ada.id).await.unwrap(), Some(changed.clone()));
    assert_eq!(store.list_users().await.unwrap().len(), 1);

    let key = ApiKey {
        id: ApiKeyId::new(),
        user_id: ada.id.clone(),
        name: "ci".into(),
        prefix: "atl_0123456789ab".into(),
        secret_hash: "ff".repeat(32),
        role: Role::Viewer,
        created_at: 2_000,
        expires_at: Some(9_000),
        last_used_at: None,
        revoked_at: None,
    };
    store.create_key(&key).await.unwrap();
    assert_eq!(store.find_key("atl_0123456789ab").await.unwrap(), Some(key.clone()));
    store.touch_key(&key.id, 3_000).await.unwrap();
    let revoked = store.revoke_key(&key.id, 4_000).await.unwrap().unwrap();
    assert_eq!((revoked.last_used_at, revoked.revoked_at), (Some(3_000), Some(4_000)));
    assert_eq!(store.revoke_key(&key.id, 5_000).await.unwrap().unwrap().revoked_at, Some(4_000), "revoked once");
    assert_eq!(store.list_keys(Some(&ada.id)).await.unwrap().len(), 1);
    assert_eq!(store.list_keys(Some(&UserId::new())).await.unwrap().len(), 0);

    let session = Session {
        id: SessionId::new(),
        user_id: ada.id.clone(),
        token_hash: "ab".repeat(32),
        csrf_token: "csrf".into(),
        created_at: 1_000,
        expires_at: 99_000,
        last_seen_at: 1_000,
    };
    store.create_session(&session).await.unwrap();
    assert_eq!(store.find_session(&session.token_hash).await.unwrap(), Some(session.clone()));
    store.delete_sessions_of(&ada.id).await.unwrap();
    assert_eq!(store.find_session(&session.token_hash).await.unwrap(), None);

    store.create_sign_in_link(&ada.id, "link-hash", 10_000).await.unwrap();
    assert_eq!(store.consume_sign_in_link("link-hash", 20_000).await.unwrap(), None, "expired");
    store.create_sign_in_link(&ada.id, "link-2", 10_000).await.unwrap();
    assert_eq!(store.consume_sign_in_link("link-2", 5_000).await.unwrap(), Some(ada.id.clone()));
    assert_eq!(store.consume_sign_in_link("link-2", 5_001).await.unwrap(), None, "used once");

    store.set_recovery_codes(&ada.id, &["r1".into(), "r2".into()]).await.unwrap();
    assert!(store.use_recovery_code(&ada.id, "r1", 1).await.unwrap());
    assert!(!store.use_recovery_code(&ada.id, "r1", 2).await.unwrap(), "a recovery code works once");
    store.set_recovery_codes(&ada.id, &[]).await.unwrap();
    assert!(!store.use_recovery_code(&ada.id, "r2", 3).await.unwrap(), "replaced");

    for action in ["sign_in", "key_created", "key_revoked"] {
        let entry = AuditEntry {
            id: 0,
            at: 1,
            actor: Some(ada.id.to_string()),
            action: action.into(),
            target: None,
            detail: json!({ "n": 1 }),
        };
        store.audit(&entry).await.unwrap();
    }
    let log = store.list_audit(None, 2).await.unwrap();
    assert_eq!(log.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(), ["key_revoked", "key_created"]);
    let older = store.list_audit(Some(log[1].id), 10).await.unwrap();
    assert_eq!(older.len(), 1);
    assert_eq!(older[0].detail, json!({ "n": 1 }));

    // Owners: tasks and outputs are listed per owner.
    let mut mine = new_task(1_000);
    mine.owner = Some(ada.id.clone());
    let mine = insert(&store, mine).await;
    insert(&store, new_task(1_001)).await;
    let only_mine = TaskFilter { owner: Some(ada.id.clone()), limit: 50, ..TaskFilter::default() };
    let page = store.list_tasks(&only_mine).await.unwrap();
    assert_eq!(page.tasks.iter().map(|t| t.id).collect::<Vec<_>>(), [mine]);
    assert_eq!(page.tasks[0].owner.as_ref(), Some(&ada.id));
    let claims = store.claim("", "w", 10, 2_000, 60_000).await.unwrap();
    for claimed in claims {
        let mut output = asset(claimed.task.id, 0, &format!("blobs/{}.png", claimed.task.id));
        output.owner = claimed.task.owner.clone();
        assert!(store.complete(claimed.task.id, &claimed.lease, vec![output], 3_000).await.unwrap());
    }
    let outputs = store.list_assets(&AssetFilter { owner: Some(ada.id.clone()), ..gallery() }).await.unwrap().assets;
    assert_eq!(outputs.len(), 1);
    assert_eq!(outputs[0].task_id, mine);
    assert_eq!(store.get_asset(&outputs[0].id).await.unwrap().unwrap().owner, Some(ada.id.clone()));
    assert_eq!(store.get_task(mine).await.unwrap().unwrap().outputs[0].owner, Some(ada.id));
    assert_eq!(store.list_assets(&gallery()).await.unwrap().assets.len(), 2);
}

fn prompt(owner: &UserId, parent: Option<&Prompt>, content: &str, at: i64) -> Prompt {
    let id = PromptId::new();
    Prompt {
        root: parent.map_or_else(|| id.clone(), |p| p.root.clone()),
        depth: parent.map_or(0, |p| p.depth + 1),
        id,
        owner: Some(owner.clone()),
        parent: parent.map(|p| p.id.clone()),
        kind: PromptKind::Image,
        content: content.into(),
        feedback_score: None,
        feedback_comment: None,
        ai_comment: None,
        created_at: at,
        updated_at: at,
    }
}

fn linked_task(created_at: i64, owner: &UserId, prompt: &Prompt) -> NewTask {
    NewTask { owner: Some(owner.clone()), prompt_id: Some(prompt.id.clone()), ..new_task(created_at) }
}

async fn prompt_trees_link_tasks_and_delete_only_leaves(store: Arc<Database>) {
    let (ada, bob) = (UserId::new(), UserId::new());
    // ada's tree: root ─┬─ branch ── leaf
    //                   └─ sibling
    let root = prompt(&ada, None, "a red fox", 1000);
    store.create_prompt(&root).await.unwrap();
    let branch = prompt(&ada, Some(&root), "a red fox, at dusk", 1001);
    store.create_prompt(&branch).await.unwrap();
    let sibling = prompt(&ada, Some(&root), "a red fox, in snow", 1002);
    store.create_prompt(&sibling).await.unwrap();
    let leaf = prompt(&ada, Some(&branch), "a red fox, at dusk, watercolour", 1003);
    store.create_prompt(&leaf).await.unwrap();
    let other = prompt(&bob, None, "a grey heron", 1004);
    store.create_prompt(&other).await.unwrap();

    let stored = store.get_prompt(&leaf.id).await.unwrap().expect("stored");
    assert_eq!(stored, leaf);
    assert_eq!((stored.root.clone(), stored.depth), (root.id.clone(), 2));
    assert!(store.get_prompt(&PromptId::new()).await.unwrap().is_none());
    // A parent deleted between the service's check and the insert: not found, not a
    // storage failure (the foreign key refuses the orphan on both backends).
    let mut orphan = prompt(&ada, Some(&root), "an orphan", 1005);
    orphan.parent = Some(PromptId::new());
    let refused = store.create_prompt(&orphan).await.unwrap_err();
    assert!(matches!(refused, atelier_core::CoreError::NotFound { .. }), "{refused:?}");
    assert!(store.get_prompt(&orphan.id).await.unwrap().is_none());

    // Roots only, per owner or everyone's, newest first, in pages.
    let ids = |prompts: &[Prompt]| prompts.iter().map(|p| p.id.clone()).collect::<Vec<_>>();
    let mine = store.list_root_prompts(Some(&ada), None, 50).await.unwrap();
    assert_eq!(ids(&mine.prompts), vec![root.id.clone()]);
    assert!(mine.next_cursor.is_none());
    let all = store.list_root_prompts(None, None, 1).await.unwrap();
    assert_eq!(ids(&all.prompts), vec![other.id.clone()]);
    let rest = store.list_root_prompts(None, all.next_cursor.as_ref(), 1).await.unwrap();
    assert_eq!(ids(&rest.prompts), vec![root.id.clone()]);
    assert!(store.list_root_prompts(Some(&UserId::new()), None, 50).await.unwrap().prompts.is_empty());

    // Children, the tree, its size.
    assert_eq!(ids(&store.list_child_prompts(&root.id).await.unwrap()), vec![branch.id.clone(), sibling.id.clone()]);
    assert!(store.list_child_prompts(&leaf.id).await.unwrap().is_empty());
    let tree = store.tree_prompts(&root.id, 1000).await.unwrap();
    assert_eq!(ids(&tree), vec![root.id.clone(), branch.id.clone(), sibling.id.clone(), leaf.id.clone()]);
    assert_eq!(store.tree_prompts(&root.id, 2).await.unwrap().len(), 2, "bounded");
    assert_eq!(store.count_tree_prompts(&root.id).await.unwrap(), 4);
    assert_eq!(store.count_tree_prompts(&other.id).await.unwrap(), 1);

    // Tasks made from prompts: a completed one with an output, then more.
    let done = insert(&store, linked_task(2000, &ada, &leaf)).await;
    let (claimed, lease) = claim_one(&store, 2500).await;
    assert_eq!(claimed, done);
    assert!(store.complete(done, &lease, vec![asset(done, 0, "blobs/fox")], 2600).await.unwrap());
    let first = insert(&store, linked_task(3000, &ada, &branch)).await;
    let second = insert(&store, linked_task(3001, &ada, &branch)).await;
    let bobs = insert(&store, linked_task(3002, &bob, &branch)).await;
    let unlinked = insert(&store, NewTask { owner: Some(ada.clone()), ..new_task(3003) }).await;
    let elsewhere = insert(&store, linked_task(3004, &bob, &other)).await;
    assert_eq!(store.get_task(first).await.unwrap().unwrap().prompt_id, Some(branch.id.clone()));
    assert_eq!(store.get_task(unlinked).await.unwrap().unwrap().prompt_id, None);

    let by_prompt = TaskFilter { prompt_id: Some(branch.id.clone()), limit: 50, ..TaskFilter::default() };
    let listed: Vec<TaskId> = store.list_tasks(&by_prompt).await.unwrap().tasks.iter().map(|t| t.id).collect();
    assert_eq!(listed, vec![bobs, second, first]);
    let adas = TaskFilter { owner: Some(ada.clone()), ..by_prompt.clone() };
    let listed: Vec<TaskId> = store.list_tasks(&adas).await.unwrap().tasks.iter().map(|t| t.id).collect();
    assert_eq!(listed, vec![second, first]);

    let tasks = store.tree_tasks(&root.id, None, 20).await.unwrap();
    let mut found: Vec<TaskId> = tasks.iter().map(|t| t.id).collect();
    found.sort();
    let mut expected = vec![done, first, second, bobs];
    expected.sort();
    assert_eq!(found, expected, "the tree's tasks, none of another tree's ({elsewhere}) or unlinked");
    let completed = tasks.iter().find(|t| t.id == done).unwrap();
    assert_eq!(completed.status, TaskStatus::Completed);
    assert_eq!(completed.outputs.len(), 1, "outputs come with the tree's tasks");
    assert_eq!(completed.outputs[0].thumbnail_key.as_deref(), Some("thumbs/blobs/fox.webp"));
    let only_adas: Vec<TaskId> =
        store.tree_tasks(&root.id, Some(&ada), 20).await.unwrap().iter().map(|t| t.id).collect();
    assert!(!only_adas.contains(&bobs) && only_adas.len() == 3, "{only_adas:?}");
    // At most `per_prompt` per prompt, the newest.
    let newest: Vec<TaskId> = store.tree_tasks(&root.id, None, 1).await.unwrap().iter().map(|t| t.id).collect();
    assert_eq!(newest.len(), 2, "{newest:?}");
    assert!(newest.contains(&bobs) && newest.contains(&done));

    // Feedback.
    let mut rated = branch.clone();
    rated.feedback_score = Some(4);
    rated.feedback_comment = Some("warmer light".into());
    rated.ai_comment = Some("try golden hour".into());
    rated.updated_at = 5000;
    assert!(store.update_prompt(&rated).await.unwrap());
    assert_eq!(store.get_prompt(&branch.id).await.unwrap().unwrap(), rated);
    rated.feedback_comment = None;
    assert!(store.update_prompt(&rated).await.unwrap());
    assert_eq!(store.get_prompt(&branch.id).await.unwrap().unwrap().feedback_comment, None);
    assert!(!store.update_prompt(&prompt(&ada, None, "gone", 1)).await.unwrap());

    // Only leaves are deleted; their tasks stay, unlinked.
    assert_eq!(store.delete_prompt(&root.id).await.unwrap(), PromptDeletion::HasChildren);
    assert_eq!(store.delete_prompt(&branch.id).await.unwrap(), PromptDeletion::HasChildren);
    assert!(store.get_prompt(&branch.id).await.unwrap().is_some(), "nothing deleted");
    let before = store.get_task(done).await.unwrap().unwrap();
    assert_eq!(store.delete_prompt(&leaf.id).await.unwrap(), PromptDeletion::Deleted);
    assert_eq!(store.delete_prompt(&leaf.id).await.unwrap(), PromptDeletion::NotFound);
    let after = store.get_task(done).await.unwrap().expect("the task stays");
    assert_eq!(after.prompt_id, None);
    assert_eq!(after.outputs.len(), 1);
    assert!(after.version > before.version);
    assert_eq!(store.delete_prompt(&branch.id).await.unwrap(), PromptDeletion::Deleted);
    for id in [first, second, bobs] {
        assert_eq!(store.get_task(id).await.unwrap().unwrap().prompt_id, None);
    }
    assert!(store.list_tasks(&by_prompt).await.unwrap().tasks.is_empty());
    assert_eq!(store.get_task(elsewhere).await.unwrap().unwrap().prompt_id, Some(other.id.clone()));
    assert_eq!(ids(&store.tree_prompts(&root.id, 1000).await.unwrap()), vec![root.id.clone(), sibling.id.clone()]);
    assert_eq!(store.delete_prompt(&sibling.id).await.unwrap(), PromptDeletion::Deleted);
    assert_eq!(store.delete_prompt(&root.id).await.unwrap(), PromptDeletion::Deleted);
    assert!(store.list_root_prompts(Some(&ada), None, 50).await.unwrap().prompts.is_empty());
}

fn owned_task(created_at: i64, owner: &UserId) -> NewTask {
    NewTask { owner: Some(owner.clone()), ..new_task(created_at) }
}

/// One user's deep backlog does not hold back another user's tasks: each user's
/// tasks take turns in their own lane, and the claim goes by priority, then turn.
async fn claims_are_fair_across_users(store: Arc<Database>) {
    let (ada, bo, cy) = (UserId::new(), UserId::new(), UserId::new());
    let mut backlog = Vec::new();
    for i in 0..200 {
        backlog.push(insert(&store, owned_task(1_000 + i, &ada)).await);
    }
    assert_eq!(store.count_owner_tasks(&ada, OwnerCount::Queued).await.unwrap(), 200);
    let first = store.claim("", "w", 50, 5_000, 60_000).await.unwrap();
    let first: Vec<TaskId> = first.iter().map(|claimed| claimed.task.id).collect();
    assert_eq!(first, backlog[..50], "one user alone: in the order created");
    assert_eq!(store.count_started().await.unwrap(), 50);
    assert_eq!(store.count_owner_tasks(&ada, OwnerCount::Queued).await.unwrap(), 150);
    assert_eq!(store.count_owner_tasks(&ada, OwnerCount::Active).await.unwrap(), 200);

    // Bo's lone task, created after Ada's 150 waiting ones, is next.
    let lone = insert(&store, owned_task(6_000, &bo)).await;
    assert_eq!(claim_one(&store, 6_000).await.0, lone, "a lone task starts within one claim");

    // Cy's three tasks take turns with Ada's backlog.
    let mut cys = Vec::new();
    for i in 0..3 {
        cys.push(insert(&store, owned_task(7_000 + i, &cy)).await);
    }
    let next = store.claim("", "w", 6, 8_000, 60_000).await.unwrap();
    let next: Vec<TaskId> = next.iter().map(|claimed| claimed.task.id).collect();
    for id in &cys {
        assert!(next.contains(id), "Cy's tasks are among the next six claims: {next:?}");
    }
    assert_eq!(next.iter().filter(|id| backlog.contains(id)).count(), 3, "and Ada's, in turn");

    // Priority goes first, within a user and across users.
    let urgent = insert(&store, NewTask { priority: 5, ..owned_task(9_000, &ada) }).await;
    assert_eq!(claim_one(&store, 9_000).await.0, urgent);
    assert_eq!(store.count_started().await.unwrap(), 50 + 1 + 6 + 1);
    assert_eq!(store.count_owner_tasks(&cy, OwnerCount::CreatedSince(7_001)).await.unwrap(), 2);
    assert_eq!(store.count_owner_tasks(&ada, OwnerCount::CreatedSince(0)).await.unwrap(), 201);
}

/// Per-user fair scheduling at depth (issue 24): one user's 10,000 queued tasks,
/// made as the bench makes its backlogs (`atelier_db::depth`), do not hold back
/// another user's one task: it is in the next claim of two, whatever the backlog's
/// size, and the backlog's own order is kept around it.
async fn a_lone_task_is_not_held_back_by_another_users_ten_thousand(store: Arc<Database>) {
    let now = 1_800_000_000_000;
    let spec = atelier_db::depth::DepthSpec { finished: 0, pending: 10_000, users: 1, prompts: 0, now };
    let depth = atelier_db::depth::generate(&store, spec).await.unwrap();
    let backlog_owner = depth.users[0].clone();
    assert_eq!(store.count_owner_tasks(&backlog_owner, OwnerCount::Queued).await.unwrap(), 10_000);
    // The workers are busy with the backlog when the lone task arrives.
    let started = store.claim("", "w", 100, now, now + 60_000).await.unwrap();
    assert_eq!(started.len(), 100);
    assert_eq!(started[0].task.id, depth.first_pending, "the backlog starts in the order it was created");
    assert!(started.iter().all(|claimed| claimed.task.owner.as_ref() == Some(&backlog_owner)));

    let lone_owner = UserId::new();
    let lone = insert(&store, owned_task(now + 1, &lone_owner)).await;
    let next = store.claim("", "w", 2, now + 2, now + 60_000).await.unwrap();
    let next: Vec<TaskId> = next.iter().map(|claimed| claimed.task.id).collect();
    assert!(next.contains(&lone), "the lone task is in the next claim of two, not behind 9,900 others: {next:?}");
    assert_eq!(store.count_owner_tasks(&backlog_owner, OwnerCount::Queued).await.unwrap(), 10_000 - 100 - 1);
}

fn run(owner: &UserId, at: i64) -> atelier_core::pipeline::Run {
    use atelier_core::pipeline::{FeedbackMode, Run, RunSettings, RunStatus};
    Run {
        id: atelier_core::RunId::new(),
        owner: owner.clone(),
        pipeline: "manga".into(),
        request_id: Some("req-1".into()),
        status: RunStatus::Running,
        phase: 1,
        head: None,
        phase_try: 0,
        wake_at: Some(at),
        deadline_at: at + 600_000,
        text: "物語".repeat(10),
        settings: RunSettings {
            feedback: FeedbackMode::default(),
            text_model: "local/planner".into(),
            image_model: "local/placeholder".into(),
            deadline_seconds: 600,
            quality: 3,
            ai_auto_settings: true,
            options: json!({ "page_count": 8 }),
            last_phase: None,
        },
        error: None,
        note: None,
        progress: 0,
        created_at: at,
        updated_at: at,
        completed_at: None,
        paused_at: None,
        revision: 0,
    }
}

async fn pipeline_runs_move_only_under_their_revision(store: Arc<Database>) {
    use atelier_core::pipeline::{AppliedChange, RunStatus, RunTask, Version, VersionKind};
    use atelier_core::ports::PipelineStore;
    let owner = UserId::new();
    let now = 1_700_000_000_000;
    assert!(!store.any_running_run().await.unwrap(), "no run yet");
    let mut first = run(&owner, now);
    store.create_run(&first).await.unwrap();
    assert!(store.any_running_run().await.unwrap());
    assert_eq!(store.get_run(&first.id).await.unwrap().unwrap(), first, "a run reads back as written");
    assert_eq!(store.find_run_by_request(&owner, "req-1").await.unwrap().map(|run| run.id), Some(first.id.clone()));
    assert_eq!(store.find_run_by_request(&UserId::new(), "req-1").await.unwrap(), None, "request ids are per owner");

    // A write names the revision it read: a second writer with the same revision loses.
    let mut other = first.clone();
    first.progress = 40;
    assert!(store.update_run(&first).await.unwrap());
    other.progress = 90;
    assert!(!store.update_run(&other).await.unwrap(), "a stale revision writes nothing");
    let stored = store.get_run(&first.id).await.unwrap().unwrap();
    assert_eq!((stored.progress, stored.revision), (40, 1));

    // A version and the run's move are one write: with a stale revision, neither.
    let version = Version {
        id: atelier_core::VersionId::new(),
        run_id: first.id.clone(),
        parent: None,
        phase: 1,
        kind: VersionKind::Phase,
        document: json!({ "concept": { "title": "羅生門" } }),
        description: "Phase 1".into(),
        changes: vec![AppliedChange {
            change_type: "text_edit".into(),
            request: json!({}),
            patch: json!([]),
            summary: "s".into(),
        }],
        elapsed_ms: Some(12),
        created_at: now + 1,
    };
    let mut moved = stored.clone();
    moved.head = Some(version.id.clone());
    moved.status = RunStatus::WaitingInput;
    moved.wake_at = Some(now + 30_000);
    assert!(!store.add_version(&first, &version).await.unwrap(), "the revision moved since first was read");
    assert_eq!(store.get_version(&version.id).await.unwrap(), None, "no version without the run's move");
    assert!(store.add_version(&moved, &version).await.unwrap());
    assert_eq!(store.get_version(&version.id).await.unwrap().unwrap(), version);
    assert_eq!(store.list_versions(&first.id).await.unwrap(), std::slice::from_ref(&version));
    assert_eq!(store.get_run(&first.id).await.unwrap().unwrap().head, Some(version.id.clone()));

    // Task links: recorded once, read by prefix, and a task names its run.
    let task = TaskId::new();
    for _ in 0..2 {
        store
            .link_task(&RunTask { run_id: first.id.clone(), key: "1:root:0:text".into(), task_id: task, reused: None })
            .await
            .unwrap();
    }
    store
        .link_task(&RunTask {
            run_id: first.id.clone(),
            key: "1:root:1:text".into(),
            task_id: TaskId::new(),
            reused: None,
        })
        .await
        .unwrap();
    store
        .link_task(&RunTask {
            run_id: first.id.clone(),
            key: "proposal:x:1".into(),
            task_id: TaskId::new(),
            reused: None,
        })
        .await
        .unwrap();
    let links = store.run_tasks(&first.id, "1:root:0:").await.unwrap();
    assert_eq!(links.iter().map(|link| link.task_id).collect::<Vec<_>>(), [task]);
    assert_eq!(store.run_tasks(&first.id, "proposal:").await.unwrap().len(), 1);
    assert_eq!(store.run_for_task(task).await.unwrap(), Some(first.id.clone()));
    assert_eq!(store.run_for_task(TaskId::new()).await.unwrap(), None);

    // Due runs: woken ones and ones at work past their deadline, never paused or ended ones.
    let mut due = run(&owner, now - 10);
    store.create_run(&due).await.unwrap();
    let mut late = run(&owner, now);
    late.wake_at = Some(now + 1_000_000);
    late.deadline_at = now - 1;
    store.create_run(&late).await.unwrap();
    let mut paused = run(&owner, now - 20);
    paused.status = RunStatus::Paused;
    store.create_run(&paused).await.unwrap();
    let mut ended = run(&owner, now - 30);
    ended.status = RunStatus::Completed;
    store.create_run(&ended).await.unwrap();
    let found = store.due_runs(now, 10).await.unwrap();
    assert_eq!(found.iter().filter(|id| **id == due.id || **id == late.id).count(), 2, "{found:?}");
    assert!(!found.contains(&paused.id) && !found.contains(&ended.id) && !found.contains(&first.id));
    assert_eq!(store.due_runs(now, 1).await.unwrap().len(), 1, "at most the limit");

    // Counts per owner.
    assert_eq!(store.count_active_runs(&owner).await.unwrap(), 4, "running, waiting, paused and the first");
    assert_eq!(store.count_runs_since(&owner, now - 15).await.unwrap(), 3);
    let (page, next) = store.list_runs(Some(&owner), None, 2).await.unwrap();
    assert_eq!(page.len(), 2);
    let (rest, last) = store.list_runs(Some(&owner), next.as_ref(), 10).await.unwrap();
    assert_eq!((rest.len(), last), (3, None));
    due.status = RunStatus::Cancelled;
    due.revision = 0;
    assert!(store.update_run(&due).await.unwrap());
    assert_eq!(store.count_active_runs(&owner).await.unwrap(), 3);
}

async fn the_scene_cache_offers_completed_recent_scenes_of_one_owner_and_model(store: Arc<Database>) {
    use atelier_core::pipeline::RunTask;
    use atelier_core::pipeline::scene_cache::SceneEntry;
    use atelier_core::ports::PipelineStore;
    let owner = UserId::new();
    let entry = |task_id: TaskId, owner: &UserId, model: &str, created_at: i64| SceneEntry {
        task_id,
        owner: owner.clone(),
        model: model.into(),
        scope: "run_x:page-1".into(),
        features: "setting: a gate in the rain".into(),
        vector: vec![0.6, 0.8, -0.0],
        method: "lexical".into(),
        created_at,
    };
    // Two drawn (the second newer), one still running, one another owner's, one
    // another model's, one too old.
    let mut drawn = Vec::new();
    for at in [2000, 3000] {
        insert(&store, new_task(at)).await;
        let (id, lease) = claim_one(&store, at + 1).await;
        assert!(store.complete(id, &lease, vec![asset(id, 0, "blobs/s")], at + 2).await.unwrap());
        drawn.push(id);
    }
    let running = insert(&store, new_task(4000)).await;
    for (task, who, model, at) in [
        (drawn[0], owner.clone(), "local/placeholder", 10_000),
        (drawn[1], owner.clone(), "local/placeholder", 11_000),
        (running, owner.clone(), "local/placeholder", 12_000),
        (drawn[0], UserId::new(), "local/placeholder", 13_000),
    ] {
        store.remember_scene(&entry(task, &who, model, at)).await.unwrap();
    }
    // Remembered once: the same task again changes nothing.
    store.remember_scene(&entry(drawn[1], &owner, "local/placeholder", 99_000)).await.unwrap();
    let found = store.scene_candidates(&owner, "local/placeholder", 10_500, 10).await.unwrap();
    assert_eq!(found.iter().map(|e| e.task_id).collect::<Vec<_>>(), [drawn[1]], "recent, completed, this owner's");
    assert_eq!(found[0].vector, vec![0.6, 0.8, -0.0], "the vector survives storage");
    assert_eq!((found[0].method.as_str(), found[0].created_at), ("lexical", 11_000));
    let all = store.scene_candidates(&owner, "local/placeholder", 0, 10).await.unwrap();
    assert_eq!(all.iter().map(|e| e.task_id).collect::<Vec<_>>(), [drawn[1], drawn[0]], "newest first");
    assert_eq!(store.scene_candidates(&owner, "local/placeholder", 0, 1).await.unwrap().len(), 1, "the limit");
    assert!(store.scene_candidates(&owner, "openai/gpt-image-1", 0, 10).await.unwrap().is_empty());

    // A step the cache answered keeps its score.
    let run = run(&owner, 1000);
    store.create_run(&run).await.unwrap();
    let reused = atelier_core::pipeline::Reused { score: 0.9123, method: "all-MiniLM-L6-v2".into() };
    // A plain link first, then a reused one (PostgreSQL once refused the second when
    // both went through one statement with a NULL score first).
    store
        .link_task(&RunTask {
            run_id: run.id.clone(),
            key: "5:root:0:panel-p1-0".into(),
            task_id: running,
            reused: None,
        })
        .await
        .unwrap();
    store
        .link_task(&RunTask {
            run_id: run.id.clone(),
            key: "5:root:0:panel-p1-1".into(),
            task_id: drawn[0],
            reused: Some(reused.clone()),
        })
        .await
        .unwrap();
    let links = store.run_tasks(&run.id, "5:root:").await.unwrap();
    assert_eq!((links[0].reused.as_ref(), links[1].reused.as_ref()), (None, Some(&reused)));
}

async fn pools_keep_remote_workers_tasks_apart_and_chains_wait_for_their_task(store: Arc<Database>) {
    let pool = "trellis/trellis-image-large".to_owned();
    let remote = insert(&store, NewTask { pool: pool.clone(), ..new_task(1000) }).await;
    let parent = insert(&store, new_task(1001)).await;
    let child = insert(&store, NewTask { after: Some(parent), ..new_task(1002) }).await;
    let orphan_parent = insert(&store, new_task(1003)).await;
    let orphan = insert(&store, NewTask { after: Some(orphan_parent), ..new_task(1004) }).await;
    let stored = store.get_task(child).await.unwrap().unwrap();
    assert_eq!((stored.after, stored.run_after), (Some(parent), atelier_core::task::WAITING_FOR_PARENT));

    // The server's workers see neither the remote pool's task nor the waiting ones.
    let claims = store.claim("", "w", 10, 2_000, 60_000).await.unwrap();
    let mut ids: Vec<TaskId> = claims.iter().map(|claim| claim.task.id).collect();
    ids.sort();
    assert_eq!(ids, vec![parent, orphan_parent]);
    let remote_claims = store.claim(&pool, "r", 10, 2_000, 60_000).await.unwrap();
    assert_eq!(remote_claims.iter().map(|claim| claim.task.id).collect::<Vec<_>>(), vec![remote]);
    assert_eq!(remote_claims[0].task.pool, pool);

    // The parent completes: its child is due at once, in the same transaction.
    let lease = claims.iter().find(|claim| claim.task.id == parent).unwrap().lease.clone();
    assert!(store.complete(parent, &lease, Vec::new(), 3_000).await.unwrap());
    let released = store.get_task(child).await.unwrap().unwrap();
    assert_eq!(released.run_after, 3_000);
    let next = store.claim("", "w", 10, 3_000, 60_000).await.unwrap();
    assert_eq!(next.iter().map(|claim| claim.task.id).collect::<Vec<_>>(), vec![child]);

    // A parent that fails fails its child at the sweep.
    let lease = claims.iter().find(|claim| claim.task.id == orphan_parent).unwrap().lease.clone();
    let error = TaskError { code: "provider_error".into(), message: "down".into(), retryable: false };
    assert!(store.fail(orphan_parent, &lease, &error, 3_000).await.unwrap());
    let report = store.settle_waiting(4_000).await.unwrap();
    assert_eq!((report.released, report.failed), (vec![], vec![orphan]));
    let failed = store.get_task(orphan).await.unwrap().unwrap();
    assert_eq!(
        (failed.status, failed.error.map(|error| error.code)),
        (TaskStatus::Failed, Some("upstream_failed".into()))
    );
    // Settling again changes nothing.
    assert_eq!(store.settle_waiting(5_000).await.unwrap(), Default::default());
}

async fn worker_keys_are_found_by_prefix_seen_and_revoked(store: Arc<Database>) {
    use atelier_core::ports::WorkerKeyStore;
    let key = atelier_core::pull::WorkerKey {
        id: "wk_1".into(),
        name: "gpu-1".into(),
        prefix: "atw_0123456789ab".into(),
        secret_hash: "hash".into(),
        models: vec!["trellis/trellis-image-large".into()],
        created_at: 1_000,
        revoked_at: None,
        last_seen_at: None,
    };
    store.create_worker_key(&key).await.unwrap();
    assert_eq!(store.find_worker_key("atw_0123456789ab").await.unwrap(), Some(key.clone()));
    assert_eq!(store.find_worker_key("atw_ffffffffffff").await.unwrap(), None);
    store.touch_worker_key("wk_1", 5_000).await.unwrap();
    // A visit within a second of the last is not written again.
    store.touch_worker_key("wk_1", 5_500).await.unwrap();
    let listed = store.list_worker_keys().await.unwrap();
    assert_eq!(listed[0].last_seen_at, Some(5_000));
    assert!(store.revoke_worker_key("wk_1", 6_000).await.unwrap());
    assert!(!store.revoke_worker_key("wk_none", 6_000).await.unwrap());
    assert_eq!(store.find_worker_key("atw_0123456789ab").await.unwrap().unwrap().revoked_at, Some(6_000));
}
