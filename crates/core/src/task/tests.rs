//! The task service's rules against the in-memory store and a scripted provider:
//! who may do what, backpressure, quotas and limits, idempotency, cancel, retry,
//! delete, callbacks and the providers report.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::json;

use super::QueueScope;
use super::{CreateTask, TaskRules, TaskService, TaskStatus};
use crate::account::{Credential, Principal, Role, RoleLimits, UserLimits};
use crate::catalog::Catalog;
use crate::circuit::{CircuitSettings, Circuits};
use crate::error::{CoreError, Result};
use crate::events::EventBus;
use crate::ids::{ApiKeyId, PromptId, TaskId, UserId};
use crate::ports::{Callback, LeaseToken, PromptStore, QueueStore};
use crate::prompt::{Prompt, PromptDeletion, PromptPage};
use crate::quota::DailyQuota;
use crate::task::Task;
use crate::testing::{MemoryAssets, MemoryStore, Scripted};
use crate::time::now_millis;

/// No prompts: these tests name none.
struct NoPrompts;

#[async_trait]
impl PromptStore for NoPrompts {
    async fn create_prompt(&self, _prompt: &Prompt) -> Result<()> {
        Ok(())
    }
    async fn get_prompt(&self, _id: &PromptId) -> Result<Option<Prompt>> {
        Ok(None)
    }
    async fn list_root_prompts(&self, _: Option<&UserId>, _: Option<&PromptId>, _: u32) -> Result<PromptPage> {
        Ok(PromptPage { prompts: Vec::new(), next_cursor: None })
    }
    async fn list_child_prompts(&self, _id: &PromptId) -> Result<Vec<Prompt>> {
        Ok(Vec::new())
    }
    async fn count_tree_prompts(&self, _root: &PromptId) -> Result<u64> {
        Ok(0)
    }
    async fn tree_prompts(&self, _root: &PromptId, _limit: u32) -> Result<Vec<Prompt>> {
        Ok(Vec::new())
    }
    async fn tree_tasks(&self, _: &PromptId, _: Option<&UserId>, _: u32) -> Result<Vec<Task>> {
        Ok(Vec::new())
    }
    async fn update_prompt(&self, _prompt: &Prompt) -> Result<bool> {
        Ok(false)
    }
    async fn delete_prompt(&self, _id: &PromptId) -> Result<PromptDeletion> {
        Ok(PromptDeletion::NotFound)
    }
}

struct Rig {
    store: Arc<MemoryStore>,
    assets: Arc<MemoryAssets>,
    service: TaskService,
}

fn rig(rules: TaskRules) -> Rig {
    let store = Arc::new(MemoryStore::new());
    let assets = Arc::new(MemoryAssets::new());
    let catalog = Arc::new(Catalog::new(vec![Arc::new(Scripted::new("lab"))]));
    let circuits = Arc::new(Circuits::new(CircuitSettings::default()));
    let service = TaskService::new(
        store.clone(),
        Arc::new(NoPrompts),
        assets.clone(),
        catalog,
        EventBus::new(),
        TaskRules { default_model: "lab/model".into(), ..rules },
        circuits,
    );
    Rig { store, assets, service }
}

fn caller(role: Role) -> Principal {
    Principal {
        user_id: UserId::new(),
        email: format!("{role}@example.com"),
        role,
        credential: Credential::ApiKey(ApiKeyId::new()),
    }
}

fn request(prompt: &str) -> CreateTask {
    CreateTask { model: Some("lab/model".into()), input: json!({ "prompt": prompt }), ..CreateTask::default() }
}

impl Rig {
    /// Runs the task to completion as a worker would, with one output.
    async fn complete(&self, id: TaskId) -> Task {
        let now = now_millis();
        let mut claim = None;
        for claimed in self.store.claim("", "test", 100, now, now + 30_000).await.expect("claim") {
            if claimed.task.id == id {
                claim = Some(claimed);
            } else {
                self.store.release(claimed.task.id, &claimed.lease, now).await.expect("released");
            }
        }
        let claim = claim.expect("claimed");
        let asset = crate::ports::AssetStore::save_output(
            self.assets.as_ref(),
            &claim.task,
            0,
            crate::testing::scripted_output(),
        )
        .await
        .expect("stored");
        assert!(self.store.complete(id, &claim.lease, vec![asset], now).await.expect("complete"));
        self.store.task(id).expect("task")
    }
}

#[tokio::test]
async fn viewers_read_and_members_write() {
    let rig = rig(TaskRules::default());
    let error = rig.service.create(&caller(Role::Viewer), request("a fox")).await.expect_err("viewers only read");
    assert!(matches!(error, CoreError::Forbidden { .. }), "{error:?}");
    let member = caller(Role::Member);
    let (task, new) = rig.service.create(&member, request("a fox")).await.expect("created");
    assert!(new);
    assert_eq!((task.status, task.owner.as_ref()), (TaskStatus::Pending, Some(&member.user_id)));
}

#[tokio::test]
async fn another_users_task_does_not_exist_but_an_admin_sees_it() {
    let rig = rig(TaskRules::default());
    let (ada, bob) = (caller(Role::Member), caller(Role::Member));
    let (task, _) = rig.service.create(&ada, request("ada's")).await.expect("created");
    let hidden = rig.service.get(&bob, task.id).await.expect_err("hidden");
    assert!(matches!(hidden, CoreError::NotFound { what: "task" }));
    assert!(rig.service.cancel(&bob, task.id).await.is_err(), "nor can it be cancelled");
    assert_eq!(rig.service.get(&caller(Role::Admin), task.id).await.expect("admins see all").id, task.id);
    let listed = rig.service.list(&bob, &super::TaskFilter { limit: 10, ..Default::default() }).await.expect("list");
    assert!(listed.tasks.is_empty(), "a list shows only the caller's own");
}

#[tokio::test]
async fn an_idempotency_key_names_one_task_per_user_and_body() {
    let rig = rig(TaskRules::default());
    let member = caller(Role::Member);
    let keyed = |prompt: &str| CreateTask {
        idempotency_key: Some("key-1".into()),
        request_hash: Some(prompt.to_owned()),
        ..request(prompt)
    };
    let (first, new) = rig.service.create(&member, keyed("a fox")).await.expect("first");
    let (again, again_new) = rig.service.create(&member, keyed("a fox")).await.expect("again");
    assert!(new && !again_new);
    assert_eq!(first.id, again.id);
    let reused = rig.service.create(&member, keyed("a cat")).await.expect_err("another body");
    assert!(matches!(reused, CoreError::Conflict { .. }), "{reused:?}");
    let (other, other_new) = rig.service.create(&caller(Role::Member), keyed("a cat")).await.expect("another user");
    assert!(other_new && other.id != first.id, "keys are per user");
}

#[tokio::test]
async fn a_full_queue_answers_overloaded() {
    let rig = rig(TaskRules { max_queued: 2, ..TaskRules::default() });
    let member = caller(Role::Member);
    for prompt in ["one", "two"] {
        rig.service.create(&member, request(prompt)).await.expect("room");
    }
    // The queued count is cached for 250 ms; the service counts its own creates.
    let error = rig.service.create(&member, request("three")).await.expect_err("full");
    assert!(matches!(error, CoreError::QueueFull { .. }), "{error:?}");
}

#[tokio::test]
async fn one_user_may_fill_only_their_part_of_the_queue() {
    let rig = rig(TaskRules { max_queued: 100, max_queued_per_user: 2, ..TaskRules::default() });
    let (ada, bo) = (caller(Role::Member), caller(Role::Member));
    for prompt in ["one", "two"] {
        rig.service.create(&ada, request(prompt)).await.expect("room");
    }
    let error = rig.service.create(&ada, request("three")).await.expect_err("Ada's part is full");
    let CoreError::QueueFull { scope, queued, limit, .. } = error else { panic!("{error:?}") };
    assert_eq!((scope, queued, limit), (QueueScope::User, 2, 2));
    rig.service.create(&bo, request("one")).await.expect("Bo's part has room");
}

/// The wait a full queue asks for is the excess over the rate the queue drains at,
/// measured between reads of the store's started count: draining faster, it asks
/// for less.
#[tokio::test]
async fn a_full_queue_asks_to_wait_for_what_the_drain_rate_clears() {
    let rig = rig(TaskRules { max_queued: 40, max_queued_per_user: 0, ..TaskRules::default() });
    let member = caller(Role::Member);
    let refused = |error: CoreError| match error {
        CoreError::QueueFull { drain_per_second, retry_after, .. } => (drain_per_second, retry_after),
        other => panic!("{other:?}"),
    };
    let fill = |n: usize| {
        let (service, member) = (&rig.service, &member);
        async move {
            for i in 0..n {
                service.create(member, request(&format!("task {i}"))).await.expect("room");
            }
        }
    };
    fill(40).await;
    let (rate, wait) = refused(rig.service.create(&member, request("over")).await.expect_err("full"));
    assert_eq!((rate, wait), (None, Duration::from_secs(5)), "nothing measured yet");

    // 10 tasks leave the queue over about 1.2 s: about 8 per second.
    rig.store.claim("", "w", 10, i64::MAX, i64::MAX).await.expect("claim");
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    fill(10).await;
    let (rate, slow_wait) = refused(rig.service.create(&member, request("over")).await.expect_err("full"));
    let rate = rate.expect("a rate");
    assert!((4.0..=10.0).contains(&rate), "{rate}");
    assert_eq!(slow_wait, Duration::from_secs(1), "one task over, at several a second");

    // 30 more in the next 1.2 s: the rate rises, and so the wait for a larger
    // excess is sized by it.
    rig.store.claim("", "w", 30, i64::MAX, i64::MAX).await.expect("claim");
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    fill(30).await;
    let (faster, _) = refused(rig.service.create(&member, request("over")).await.expect_err("full"));
    assert!(faster.expect("a rate") > rate, "{faster:?} after {rate}");
}

#[tokio::test]
async fn a_spent_daily_quota_answers_quota_exceeded() {
    let quota = DailyQuota { scope: "lab/model".into(), limit: 1 };
    let rig = rig(TaskRules { daily_quotas: vec![quota], ..TaskRules::default() });
    let member = caller(Role::Member);
    rig.service.create(&member, request("one")).await.expect("within the quota");
    let error = rig.service.create(&member, request("two")).await.expect_err("spent");
    let CoreError::QuotaExceeded { scope, limit, retry_after } = error else { panic!("{error:?}") };
    assert_eq!((scope.as_str(), limit), ("lab/model", 1));
    assert!(retry_after <= Duration::from_secs(24 * 3600));
    let usage = rig.service.quota_use().await.expect("usage");
    assert_eq!(usage.iter().map(|u| u.used).collect::<Vec<_>>(), [1]);
}

#[tokio::test]
async fn an_idempotency_key_does_not_pass_a_spent_quota_but_its_repeat_is_answered() {
    let quota = DailyQuota { scope: "lab/model".into(), limit: 1 };
    let rig = rig(TaskRules { daily_quotas: vec![quota], ..TaskRules::default() });
    let member = caller(Role::Member);
    let keyed = |key: &str| CreateTask { idempotency_key: Some(key.into()), ..request("a fox") };
    let (first, _) = rig.service.create(&member, keyed("k1")).await.expect("within the quota");
    let error = rig.service.create(&member, keyed("k2")).await.expect_err("a new key is a new task");
    assert!(matches!(error, CoreError::QuotaExceeded { .. }), "{error:?}");
    let (again, new) = rig.service.create(&member, keyed("k1")).await.expect("the repeat is answered");
    assert_eq!((again.id, new), (first.id, false));
}

#[tokio::test]
async fn a_roles_limits_hold_per_user() {
    let limits = UserLimits { max_concurrent_tasks: 1, ..UserLimits::default() };
    let rig =
        rig(TaskRules { user_limits: RoleLimits { member: limits, ..RoleLimits::default() }, ..TaskRules::default() });
    let member = caller(Role::Member);
    rig.service.create(&member, request("one")).await.expect("first");
    let error = rig.service.create(&member, request("two")).await.expect_err("one at a time");
    assert!(matches!(error, CoreError::Overloaded { .. }), "{error:?}");
    rig.service.create(&caller(Role::Member), request("other")).await.expect("another user has its own");
}

#[tokio::test]
async fn cancel_ends_a_waiting_task_once() {
    let rig = rig(TaskRules::default());
    let member = caller(Role::Member);
    let (task, _) = rig.service.create(&member, request("a fox")).await.expect("created");
    assert_eq!(rig.service.cancel(&member, task.id).await.expect("cancelled").status, TaskStatus::Cancelled);
    let again = rig.service.cancel(&member, task.id).await.expect_err("already ended");
    assert!(matches!(again, CoreError::Conflict { code: "task_finished", .. }), "{again:?}");
}

#[tokio::test]
async fn retry_makes_a_new_linked_task_once_the_first_ended() {
    let rig = rig(TaskRules::default());
    let member = caller(Role::Member);
    let (task, _) = rig.service.create(&member, request("a fox")).await.expect("created");
    let early = rig.service.retry(&member, task.id).await.expect_err("still pending");
    assert!(matches!(early, CoreError::Conflict { code: "task_not_finished", .. }), "{early:?}");
    rig.complete(task.id).await;
    let retry = rig.service.retry(&member, task.id).await.expect("retried");
    assert_ne!(retry.id, task.id);
    assert_eq!((retry.retry_of, retry.input, retry.status), (Some(task.id), task.input, TaskStatus::Pending));
}

#[tokio::test]
async fn delete_removes_blobs_no_one_else_names() {
    let rig = rig(TaskRules::default());
    let member = caller(Role::Member);
    let (first, _) = rig.service.create(&member, request("one")).await.expect("created");
    let (second, _) = rig.service.create(&member, request("two")).await.expect("created");
    rig.complete(first.id).await;
    rig.complete(second.id).await;
    assert_eq!(rig.assets.len(), 1, "both outputs are the same bytes: one blob");
    rig.service.delete(&member, first.id).await.expect("deleted");
    assert_eq!(rig.assets.len(), 1, "still named by the second task's output");
    rig.service.delete(&member, second.id).await.expect("deleted");
    assert!(rig.assets.is_empty(), "no one names it now");
    assert!(matches!(rig.service.get(&member, first.id).await, Err(CoreError::NotFound { .. })));
}

#[tokio::test]
async fn input_files_must_exist_and_be_the_callers() {
    let rig = rig(TaskRules::default());
    let member = caller(Role::Member);
    let upload = rig.service.create_upload(&member, "a.png", "image/png", bytes::Bytes::from_static(b"png")).await;
    let upload = upload.expect("uploaded");
    // The scripted provider names no input files; check through the upload itself.
    assert_eq!(rig.service.get_upload(&member, &upload.id).await.expect("own").id, upload.id);
    let hidden = rig.service.get_upload(&caller(Role::Member), &upload.id).await.expect_err("another user's");
    assert!(matches!(hidden, CoreError::NotFound { what: "upload" }));
}

#[tokio::test]
async fn callbacks_go_to_the_services_provider() {
    let rig = rig(TaskRules::default());
    let callback = Callback { headers: &[], body: b"{}", query: None, received_at: now_millis() };
    let unknown = rig.service.provider_callback("nobody", &callback).await.expect_err("no such service");
    assert!(matches!(unknown, CoreError::NotFound { what: "service" }));
    let unsupported = rig.service.provider_callback("lab", &callback).await.expect_err("lab sends none");
    assert!(matches!(unsupported, CoreError::NotFound { what: "callback route" }));
}

#[tokio::test]
async fn the_service_report_counts_tasks_at_the_provider_in_one_go() {
    let rules = TaskRules { max_in_flight: HashMap::from([("lab".to_owned(), 4)]), ..TaskRules::default() };
    let rig = rig(rules);
    let member = caller(Role::Member);
    for prompt in ["one", "two", "three"] {
        rig.service.create(&member, request(prompt)).await.expect("created");
    }
    let now = now_millis();
    let claims = rig.store.claim("", "test", 2, now, now + 30_000).await.expect("claim");
    for claim in &claims {
        let lease: &LeaseToken = &claim.lease;
        assert!(rig.store.record_external_id(claim.task.id, lease, "ext").await.expect("recorded"));
    }
    let reports = rig.service.service_reports(false).await.expect("report");
    let lab = reports.iter().find(|r| r.service == "lab").expect("lab");
    assert_eq!((lab.in_flight, lab.max_in_flight, lab.configured), (2, Some(4), true));
    assert_eq!(lab.models, ["lab/model"]);
    assert!(lab.account.is_none(), "no provider call unless asked");
    assert_eq!(rig.service.queue_depth().await.expect("depth").queued, 1);
}
