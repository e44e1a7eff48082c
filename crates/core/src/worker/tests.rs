//! The worker's steps against the in-memory store and a scripted provider: what
//! each provider answer leaves in the store, how many calls it took, and that a
//! costly submit is never repeated.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::{Worker, WorkerSettings};
use crate::backoff::Backoff;
use crate::catalog::Catalog;
use crate::circuit::{CircuitSettings, Circuits};
use crate::events::EventBus;
use crate::ids::TaskId;
use crate::ports::{ErrorClass, NoInputFiles, ProviderError, QueueStore, RateLimits, TaskStore};
use crate::ratelimit::{RateLimit, RateLimiter};
use crate::storage::StorageSettings;
use crate::task::{NewTask, Task, TaskStatus};
use crate::testing::{Answer, MemoryAssets, MemoryStore, Scripted};
use crate::time::now_millis;

/// Failures in a row that open a service's circuit (more than any test's retries).
const CIRCUIT_THRESHOLD: u32 = 3;

struct Rig {
    store: Arc<MemoryStore>,
    assets: Arc<MemoryAssets>,
    provider: Arc<Scripted>,
    circuits: Arc<Circuits>,
    worker: Worker,
}

fn settings() -> WorkerSettings {
    WorkerSettings {
        lease: Duration::from_millis(300),
        backoff: Backoff { base: Duration::from_millis(1), max: Duration::from_millis(5) },
        storage: StorageSettings {
            probe_every: Duration::from_millis(20),
            min_free_bytes: 0,
            recheck: Duration::from_millis(10),
        },
        ..WorkerSettings::default()
    }
}

fn rig(provider: Scripted, settings: WorkerSettings) -> Rig {
    let store = Arc::new(MemoryStore::new());
    let assets = Arc::new(MemoryAssets::new());
    let provider = Arc::new(provider);
    let catalog = Arc::new(Catalog::new(vec![provider.clone()]));
    let circuits =
        Arc::new(Circuits::new(CircuitSettings { threshold: CIRCUIT_THRESHOLD, cooldown: Duration::from_secs(60) }));
    let worker = Worker::new(
        store.clone(),
        assets.clone(),
        catalog,
        EventBus::new(),
        settings,
        circuits.clone(),
        Arc::new(NoInputFiles),
    );
    Rig { store, assets, provider, circuits, worker }
}

/// A task of `service/model`, as a create stores it.
fn new_task(service: &str) -> NewTask {
    NewTask {
        max_attempts: 5,
        ..NewTask::new(service, "model", serde_json::json!({ "prompt": "a fox" }), now_millis())
    }
}

impl Rig {
    fn add_task(&self) -> TaskId {
        self.store.insert(new_task("lab")).id
    }

    fn task(&self, id: TaskId) -> Task {
        self.store.task(id).expect("the task exists")
    }

    /// Claims what is runnable now and runs each claim to the end of its run.
    async fn run_once(&self) -> usize {
        let now = now_millis();
        let claims = self.store.claim("", "test", 10, now, now + 300).await.expect("claim");
        let count = claims.len();
        let (_stop, hard_stop) = watch::channel(false);
        for claimed in claims {
            self.worker.run_claimed(claimed, hard_stop.clone()).await;
        }
        count
    }

    /// Runs until the task ends (retries and polls come due after a few ms).
    async fn run_to_end(&self, id: TaskId) -> Task {
        for _ in 0..200 {
            self.run_once().await;
            let task = self.task(id);
            if task.status.is_terminal() {
                return task;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("task did not end: {:?}", self.task(id));
    }
}

fn error(class: ErrorClass) -> ProviderError {
    ProviderError::new(class, format!("scripted {}", class.code()))
}

#[tokio::test]
async fn a_finished_submit_completes_with_its_outputs_stored() {
    let rig = rig(Scripted::new("lab"), settings());
    let id = rig.add_task();
    let task = rig.run_to_end(id).await;
    assert_eq!(task.status, TaskStatus::Completed);
    assert_eq!((task.outputs.len(), task.progress, task.attempts), (1, 100, 1));
    assert_eq!(rig.assets.len(), 1, "the output's blob is stored");
    assert_eq!(rig.provider.submits(), 1);
}

#[tokio::test]
async fn a_remote_task_is_submitted_once_then_polled_to_the_end() {
    let provider = Scripted::new("lab")
        .costly()
        .on_submit([Answer::Accept("ext-1".into())])
        .on_poll([Answer::Running, Answer::Running]);
    let rig = rig(provider, settings());
    let id = rig.add_task();
    assert_eq!(rig.run_once().await, 1);
    let parked = rig.task(id);
    assert_eq!((parked.status, parked.external_id.as_deref()), (TaskStatus::Processing, Some("ext-1")));
    assert!(!rig.store.is_submitting(id), "the recorded id replaces the submit mark");
    let task = rig.run_to_end(id).await;
    assert_eq!(task.status, TaskStatus::Completed);
    assert_eq!((rig.provider.submits(), rig.provider.polls()), (1, 3));
    assert_eq!(task.attempts, 1, "polls are not attempts");
}

#[tokio::test]
async fn a_server_error_is_retried_with_a_new_attempt() {
    let provider = Scripted::new("lab").on_submit([Answer::Fail(error(ErrorClass::ServerError))]);
    let rig = rig(provider, settings());
    let id = rig.add_task();
    rig.run_once().await;
    let retrying = rig.task(id);
    assert_eq!(retrying.status, TaskStatus::Retrying);
    assert_eq!(retrying.error.as_ref().map(|e| (e.code.as_str(), e.retryable)), Some(("provider_error", true)));
    let task = rig.run_to_end(id).await;
    assert_eq!((task.status, task.attempts, rig.provider.submits()), (TaskStatus::Completed, 2, 2));
    assert!(task.error.is_none(), "completion clears the last attempt's error");
}

#[tokio::test]
async fn a_client_error_fails_at_once() {
    let provider = Scripted::new("lab").on_submit([Answer::Fail(error(ErrorClass::ClientError))]);
    let rig = rig(provider, settings());
    let id = rig.add_task();
    let task = rig.run_to_end(id).await;
    assert_eq!(task.status, TaskStatus::Failed);
    assert_eq!(task.error.as_ref().map(|e| (e.code.as_str(), e.retryable)), Some(("provider_rejected", false)));
    assert_eq!(rig.provider.submits(), 1);
}

#[tokio::test]
async fn retries_stop_at_the_classes_limit() {
    let timeouts = (0..5).map(|_| Answer::Fail(error(ErrorClass::Timeout)));
    let rig = rig(Scripted::new("lab").on_submit(timeouts), settings());
    let id = rig.add_task();
    let task = rig.run_to_end(id).await;
    assert_eq!((task.status, task.attempts), (TaskStatus::Failed, 3), "timeouts: 3 attempts in all");
    assert_eq!(task.error.map(|e| e.code), Some("timeout".to_owned()));
    assert_eq!(rig.provider.submits(), 3);
}

#[tokio::test]
async fn a_costly_submit_whose_answer_was_lost_is_never_sent_again() {
    let rig = rig(Scripted::new("lab").costly(), settings());
    let id = rig.add_task();
    // A worker claimed it, marked its submit, and died before the answer came.
    let now = now_millis();
    let claim = rig.store.claim("", "dead", 1, now, now + 1).await.expect("claim").remove(0);
    assert!(rig.store.mark_submitting(id, &claim.lease).await.expect("mark"));
    rig.store.reclaim_expired(now + 10, 3).await.expect("reclaim");
    let task = rig.run_to_end(id).await;
    assert_eq!(task.status, TaskStatus::Failed);
    assert_eq!(task.error.map(|e| e.code), Some("submit_unknown".to_owned()));
    assert_eq!(rig.provider.submits(), 0, "not submitted again");
}

#[tokio::test]
async fn an_open_circuit_holds_tasks_back_without_an_attempt() {
    let rig = rig(Scripted::new("lab"), settings());
    for _ in 0..CIRCUIT_THRESHOLD {
        rig.circuits.record_failure("lab", ErrorClass::ServerError);
    }
    let id = rig.add_task();
    assert_eq!(rig.run_once().await, 1);
    let held = rig.task(id);
    assert_eq!((held.status, held.attempts), (TaskStatus::Pending, 0), "back in the queue, no attempt counted");
    assert!(held.run_after > now_millis(), "until the circuit lets a probe through");
    assert_eq!((rig.provider.prepares(), rig.provider.submits()), (0, 0));
}

#[tokio::test]
async fn the_concurrency_limit_holds_the_next_task_back() {
    let provider = Scripted::new("lab").costly().on_submit([Answer::Accept("ext-1".into())]).on_poll([Answer::Hang]);
    let settings = WorkerSettings { max_in_flight: HashMap::from([("lab".to_owned(), 1)]), ..settings() };
    let rig = rig(provider, settings);
    let first = rig.add_task();
    rig.run_once().await;
    assert_eq!(rig.task(first).external_id.as_deref(), Some("ext-1"));
    let second = rig.add_task();
    // Only the second is runnable now (the first waits for its poll).
    let now = now_millis();
    let claims = rig.store.claim("", "test", 10, now, now + 300).await.expect("claim");
    assert_eq!(claims.iter().map(|c| c.task.id).collect::<Vec<_>>(), [second]);
    let (_stop, hard_stop) = watch::channel(false);
    for claimed in claims {
        rig.worker.run_claimed(claimed, hard_stop.clone()).await;
    }
    let held = rig.task(second);
    assert_eq!((held.status, held.attempts), (TaskStatus::Pending, 0));
    assert_eq!(rig.provider.submits(), 1, "one task open at the provider at a time");
}

#[tokio::test]
async fn the_submit_rate_limit_holds_the_excess_back() {
    let limit = RateLimit { requests: 1, window: Duration::from_secs(60) };
    let rig = rig(Scripted::new("lab").with_rate_limit(limit), settings());
    let (first, second) = (rig.add_task(), rig.add_task());
    rig.run_once().await;
    let statuses = [rig.task(first).status, rig.task(second).status];
    assert!(statuses.contains(&TaskStatus::Completed) && statuses.contains(&TaskStatus::Pending), "{statuses:?}");
    assert_eq!(rig.provider.submits(), 1);
}

/// Two workers counting in one place (the database, across processes) send no
/// more between them than the provider takes.
#[tokio::test]
async fn a_shared_submit_rate_limit_holds_across_workers() {
    let limit = RateLimit { requests: 2, window: Duration::from_secs(60) };
    let rig = rig(Scripted::new("lab").with_rate_limit(limit), settings());
    let shared: Arc<dyn RateLimits> = Arc::new(RateLimiter::default());
    let workers = [rig.worker.clone(), another_worker(&rig)].map(|worker| worker.with_submit_limits(shared.clone()));
    let ids: Vec<TaskId> = (0..4).map(|_| rig.add_task()).collect();
    let now = now_millis();
    let claims = rig.store.claim("", "test", 10, now, now + 300).await.expect("claim");
    assert_eq!(claims.len(), 4);
    let (_stop, hard_stop) = watch::channel(false);
    for (n, claimed) in claims.into_iter().enumerate() {
        workers[n % 2].run_claimed(claimed, hard_stop.clone()).await;
    }
    assert_eq!(rig.provider.submits(), 2);
    let held: Vec<Task> = ids.iter().map(|id| rig.task(*id)).filter(|t| t.status == TaskStatus::Pending).collect();
    assert_eq!(held.len(), 2, "{held:?}");
    assert!(held.iter().all(|task| task.attempts == 0), "waiting for a slot is not an attempt");
}

/// A limit that cannot be counted (the database down) holds the submit back: the
/// task waits rather than overshoots.
#[tokio::test]
async fn a_submit_rate_limit_that_cannot_be_counted_holds_the_task_back() {
    struct Unreachable;
    #[async_trait::async_trait]
    impl RateLimits for Unreachable {
        async fn acquire(&self, _: &str, _: RateLimit) -> crate::Result<Result<(), Duration>> {
            Err(crate::CoreError::Storage("the database is down".into()))
        }
    }
    let limit = RateLimit { requests: 5, window: Duration::from_secs(60) };
    let mut rig = rig(Scripted::new("lab").with_rate_limit(limit), settings());
    rig.worker = rig.worker.clone().with_submit_limits(Arc::new(Unreachable));
    let id = rig.add_task();
    rig.run_once().await;
    let task = rig.task(id);
    assert_eq!((task.status, task.attempts, rig.provider.submits()), (TaskStatus::Pending, 0, 0));
}

/// A second worker (another process, say) on the rig's store and provider.
fn another_worker(rig: &Rig) -> Worker {
    Worker::new(
        rig.store.clone(),
        rig.assets.clone(),
        Arc::new(Catalog::new(vec![rig.provider.clone()])),
        EventBus::new(),
        settings(),
        rig.circuits.clone(),
        Arc::new(NoInputFiles),
    )
}

#[tokio::test]
async fn a_provider_that_never_finishes_fails_at_its_poll_timeout() {
    let provider = Scripted::new("lab")
        .costly()
        .on_submit([Answer::Accept("ext-1".into())])
        .on_poll((0..1000).map(|_| Answer::Running));
    let settings = WorkerSettings {
        poll_timeouts: HashMap::from([("lab/model".to_owned(), Duration::from_millis(30))]),
        ..settings()
    };
    let rig = rig(provider, settings);
    let id = rig.add_task();
    let task = rig.run_to_end(id).await;
    assert_eq!(task.status, TaskStatus::Failed);
    assert_eq!(task.error.map(|e| e.code), Some("poll_timeout".to_owned()));
    assert_eq!(rig.provider.submits(), 1);
}

#[tokio::test]
async fn a_failed_poll_keeps_the_external_id_and_polls_again() {
    let provider = Scripted::new("lab")
        .costly()
        .on_submit([Answer::Accept("ext-1".into())])
        .on_poll([Answer::PollError(error(ErrorClass::ServerError))]);
    let rig = rig(provider, settings());
    let id = rig.add_task();
    let task = rig.run_to_end(id).await;
    assert_eq!(task.status, TaskStatus::Completed);
    assert_eq!((rig.provider.submits(), rig.provider.polls()), (1, 2));
}

#[tokio::test]
async fn a_job_that_failed_at_the_provider_is_submitted_anew_on_retry() {
    // The job failed there (or a self-hosted server restarted and lost it): the
    // retry submits again instead of polling the ended job.
    let provider = Scripted::new("lab")
        .on_submit([Answer::Accept("ext-1".into()), Answer::Accept("ext-2".into())])
        .on_poll([Answer::Fail(error(ErrorClass::ServerError))]);
    let rig = rig(provider, settings());
    let id = rig.add_task();
    let task = rig.run_to_end(id).await;
    assert_eq!(task.status, TaskStatus::Completed);
    assert_eq!(rig.provider.submits(), 2);
    assert_eq!(rig.provider.polled_ids(), ["ext-1", "ext-2"]);
    assert_eq!(task.external_id.as_deref(), Some("ext-2"));
}

#[tokio::test]
async fn a_failed_prepare_is_retried_and_never_taken_for_a_lost_submit() {
    let provider = Scripted::new("lab").costly().on_prepare([error(ErrorClass::Timeout)]);
    let rig = rig(provider, settings());
    let id = rig.add_task();
    let task = rig.run_to_end(id).await;
    assert_eq!(task.status, TaskStatus::Completed);
    assert_eq!((rig.provider.prepares(), rig.provider.submits()), (2, 1));
}

impl Rig {
    /// Waits until the worker's probe sees storage writable again.
    async fn storage_back(&self) {
        tokio::time::timeout(Duration::from_secs(5), self.worker.storage().wait_up())
            .await
            .expect("the probe saw storage return");
    }
}

#[tokio::test]
async fn a_full_store_gives_a_free_task_back_without_counting_an_attempt_or_blaming_the_provider() {
    let rig = rig(Scripted::new("lab"), settings());
    rig.assets.set_failing(true);
    let id = rig.add_task();
    rig.run_once().await;
    let task = rig.task(id);
    assert_eq!((task.status, task.attempts), (TaskStatus::Retrying, 0), "given back, no attempt counted");
    let error = task.error.expect("the reason is on the task");
    assert_eq!(error.code, "storage_unavailable");
    assert!(error.message.contains("file store's disk is full"), "{}", error.message);
    assert!(rig.worker.storage().is_down());
    assert_eq!(rig.circuits.view("lab").consecutive_failures, 0, "not the provider's fault");
    // While storage is down the worker holds every task back untried.
    tokio::time::sleep(Duration::from_millis(30)).await;
    rig.run_once().await;
    assert_eq!(rig.provider.submits(), 1, "nothing runs while storage is down");
    rig.assets.set_failing(false);
    rig.storage_back().await;
    let task = rig.run_to_end(id).await;
    assert_eq!((task.status, task.outputs.len(), task.error), (TaskStatus::Completed, 1, None));
    assert_eq!(rig.provider.submits(), 2, "a free engine runs again");
}

#[tokio::test]
async fn a_remote_result_that_cannot_be_stored_is_fetched_again_never_submitted_again() {
    let provider = Scripted::new("lab").costly().on_submit([Answer::Accept("ext-1".into())]);
    let rig = rig(provider, settings());
    let id = rig.add_task();
    rig.run_once().await;
    rig.assets.set_failing(true);
    tokio::time::sleep(Duration::from_millis(10)).await;
    rig.run_once().await;
    let task = rig.task(id);
    assert_eq!((task.status, task.external_id.as_deref()), (TaskStatus::Processing, Some("ext-1")));
    assert_eq!(task.error.map(|e| e.code).as_deref(), Some("storage_unavailable"));
    rig.assets.set_failing(false);
    rig.storage_back().await;
    let task = rig.run_to_end(id).await;
    assert_eq!(task.status, TaskStatus::Completed);
    assert_eq!((rig.provider.submits(), rig.provider.polls()), (1, 2), "polled again for the result");
}

#[tokio::test]
async fn a_paid_answer_with_no_id_is_held_until_storage_takes_it() {
    let rig = Arc::new(rig(Scripted::new("lab").costly(), settings()));
    rig.assets.set_failing(true);
    let id = rig.add_task();
    let running = tokio::spawn({
        let rig = rig.clone();
        async move { rig.run_once().await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(rig.task(id).status, TaskStatus::Processing, "the run holds the result and its lease");
    rig.assets.set_failing(false);
    tokio::time::timeout(Duration::from_secs(5), running).await.expect("the run ends").expect("join");
    let task = rig.task(id);
    assert_eq!((task.status, task.outputs.len()), (TaskStatus::Completed, 1));
    assert_eq!(rig.provider.submits(), 1, "paid once");
}

#[tokio::test]
async fn an_output_whose_source_breaks_off_is_the_providers_error() {
    let broken: Vec<std::io::Result<bytes::Bytes>> =
        vec![Ok(bytes::Bytes::from_static(b"half")), Err(std::io::Error::other("connection reset"))];
    let output = crate::ports::Output::stream(Box::pin(futures::stream::iter(broken)), "image/png");
    let rig = rig(Scripted::new("lab").on_submit([Answer::Finish(vec![output])]), settings());
    let id = rig.add_task();
    rig.run_once().await;
    let task = rig.task(id);
    assert_eq!(task.status, TaskStatus::Retrying);
    assert_eq!(task.error.map(|e| e.code).as_deref(), Some("provider_error"));
    assert!(!rig.worker.storage().is_down());
}

#[tokio::test]
async fn a_cancelled_task_loses_its_lease_and_the_run_is_abandoned() {
    let rig = Arc::new(rig(Scripted::new("lab").on_submit([Answer::Hang]), settings()));
    let id = rig.add_task();
    let running = tokio::spawn({
        let rig = rig.clone();
        async move { rig.run_once().await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    rig.store.cancel_task(id, now_millis()).await.expect("cancel");
    // The keeper's next heartbeat finds the lease gone and interrupts the hung submit.
    tokio::time::timeout(Duration::from_secs(5), running).await.expect("the run ends").expect("join");
    let task = rig.task(id);
    assert_eq!((task.status, task.outputs.len()), (TaskStatus::Cancelled, 0));
}

#[tokio::test]
async fn a_hard_stop_gives_the_lease_back_untouched() {
    let rig = rig(Scripted::new("lab").on_submit([Answer::Hang]), settings());
    let id = rig.add_task();
    let now = now_millis();
    let claimed = rig.store.claim("", "test", 1, now, now + 30_000).await.expect("claim").remove(0);
    let (stop, hard_stop) = watch::channel(false);
    let run = rig.worker.run_claimed(claimed, hard_stop);
    let stopper = async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let _ = stop.send(true);
    };
    tokio::join!(run, stopper);
    let task = rig.task(id);
    assert_eq!((task.status, task.attempts), (TaskStatus::Pending, 0), "released, the attempt not counted");
}

#[tokio::test]
async fn an_unknown_service_fails_the_task() {
    let rig = rig(Scripted::new("lab"), settings());
    let task = rig.store.insert(new_task("gone"));
    let task = rig.run_to_end(task.id).await;
    assert_eq!(task.error.map(|e| e.code), Some("provider_rejected".to_owned()));
}
