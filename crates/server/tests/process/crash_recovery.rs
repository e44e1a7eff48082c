//! SIGKILL in the middle of a run, then a restart on the same database.
//!
//! "Exactly once" here means exactly-once *completion*: every task completes once
//! and records its outputs once. Execution is at-least-once: a task running when
//! the process is SIGKILLed cannot have stored its result, so after its lease
//! expires the restarted server runs it again. Those interrupted executions, at
//! most `concurrency` of them, are the only repeats the execution log may show.

use std::time::{Duration, Instant};

use atelier_testkit::TestDatabase;

use crate::harness::{
    assert_one_image_each, create_many, histogram, http, read_execution_log, serve, temp_dir, wait_all_completed,
    wait_completed,
};

const TASKS: u64 = 200;
const CONCURRENCY: usize = 4;
const KILL_AFTER_COMPLETED: usize = 20;

#[tokio::test]
async fn crash_recovery_sqlite() {
    crash_recovery("sqlite", None).await;
}

#[tokio::test]
async fn crash_recovery_postgres() {
    let Some(database) = TestDatabase::postgres().await else { return };
    crash_recovery("postgres", Some(&database.url)).await;
}

async fn crash_recovery(backend: &str, database_url: Option<&str>) {
    let started = Instant::now();
    let dir = temp_dir();
    let data = dir.path().join("data");
    let log = dir.path().join("executions.log");
    let log_value = log.display().to_string();
    let concurrency = CONCURRENCY.to_string();
    let env = [
        ("ATELIER__ENGINES__INSTANT__ENABLED", "true"),
        ("ATELIER__WORKER__CONCURRENCY", concurrency.as_str()),
        ("ATELIER__WORKER__LEASE_SECS", "2"),
        ("ATELIER__WORKER__IDLE_POLL_MS", "200"),
        ("ATELIER_INSTANT_EXECUTION_LOG", log_value.as_str()),
    ];

    let mut first = serve(&format!("serve #1 ({backend})"), &data, database_url, &env);
    let client = http(&first.key);
    let ids = create_many(&client, &first.base, TASKS, 30).await;
    let completed = wait_completed(&mut first, &client, KILL_AFTER_COMPLETED, Duration::from_secs(30)).await;
    assert!(
        completed < ids.len(),
        "all {TASKS} tasks completed before the kill; nothing was in flight (make the tasks slower)"
    );
    first.process.kill_hard();
    let executed_before_kill: usize = read_execution_log(&log).values().sum();
    drop(first);
    let killed_at = started.elapsed();

    let mut second = serve(&format!("serve #2 ({backend})"), &data, database_url, &env);
    let tasks = wait_all_completed(&mut second, &mut [], &client, &ids, Duration::from_secs(60)).await;
    let recovered_in = started.elapsed() - killed_at;

    assert_eq!(tasks.len(), ids.len());
    assert_one_image_each(&tasks);
    let executions = read_execution_log(&log);
    let missing: Vec<&String> = ids.iter().filter(|id| !executions.contains_key(*id)).collect();
    assert!(missing.is_empty(), "completed tasks never logged an execution: {missing:?}");
    let strangers: Vec<&String> = executions.keys().filter(|id| !ids.contains(*id)).collect();
    assert!(strangers.is_empty(), "the log names tasks this test did not create: {strangers:?}");
    let histogram = histogram(&executions);
    let twice = histogram.get(&2).copied().unwrap_or(0);
    let more: Vec<(&String, &usize)> = executions.iter().filter(|(_, times)| **times > 2).collect();
    println!(
        "crash_recovery ({backend}): killed once {completed} of {TASKS} had completed ({executed_before_kill} executions \
         logged) at {killed_at:?}; recovered in {recovered_in:?}; executions per task {histogram:?} \
         ({} in all, {twice} repeated)",
        executions.values().sum::<usize>()
    );
    assert!(more.is_empty(), "tasks executed three times or more: {more:?}");
    assert!(
        twice <= CONCURRENCY,
        "{twice} tasks executed twice, but at most {CONCURRENCY} (the concurrency) can be in flight at the kill"
    );
}
