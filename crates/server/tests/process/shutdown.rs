//! SIGTERM drains: no new claims, running tasks finish, the process exits 0 on its
//! own, and a restart runs what is left.

use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::harness::{
    assert_one_image_each, create_many, histogram, http, read_execution_log, serve, temp_dir, wait_all_completed,
    wait_completed,
};

const TASKS: u64 = 40;
const CONCURRENCY: usize = 4;

#[tokio::test]
async fn sigterm_drains() {
    let dir = temp_dir();
    let data = dir.path().join("data");
    let log = dir.path().join("executions.log");
    let log_value = log.display().to_string();
    let env = [
        ("ATELIER__ENGINES__INSTANT__ENABLED", "true"),
        ("ATELIER__WORKER__CONCURRENCY", "4"),
        ("ATELIER__WORKER__LEASE_SECS", "2"),
        ("ATELIER__WORKER__IDLE_POLL_MS", "200"),
        ("ATELIER_INSTANT_EXECUTION_LOG", log_value.as_str()),
    ];

    let mut first = serve("serve #1 (sqlite)", &data, None, &env);
    let client = http(&first.key);
    let ids = create_many(&client, &first.base, TASKS, 200).await;
    let completed = wait_completed(&mut first, &client, 5, Duration::from_secs(30)).await;
    assert!(completed < ids.len(), "all {TASKS} tasks completed before SIGTERM (make the tasks slower)");
    first.process.signal(Signal::SIGTERM);
    let signalled = Instant::now();
    let Some(status) = first.process.wait_exit(Duration::from_secs(15)).await else {
        panic!("serve did not exit within 15 s of SIGTERM\n{}", first.process.tail());
    };
    let drained_in = signalled.elapsed();
    assert!(status.success(), "serve exited {status} after SIGTERM\n{}", first.process.tail());
    let executed_before_restart: usize = read_execution_log(&log).values().sum();
    drop(first);

    let mut second = serve("serve #2 (sqlite)", &data, None, &env);
    let tasks = wait_all_completed(&mut second, &mut [], &client, &ids, Duration::from_secs(60)).await;
    assert_one_image_each(&tasks);

    let executions = read_execution_log(&log);
    let total: usize = executions.values().sum();
    println!(
        "sigterm_drains: SIGTERM once {completed} had completed; exited 0 in {drained_in:?} with \
         {executed_before_restart} executions logged; executions per task {:?} ({total} in all)",
        histogram(&executions)
    );
    let missing: Vec<&String> = ids.iter().filter(|id| !executions.contains_key(*id)).collect();
    assert!(missing.is_empty(), "completed tasks never logged an execution: {missing:?}");
    let more: Vec<(&String, &usize)> = executions.iter().filter(|(_, times)| **times > 2).collect();
    assert!(more.is_empty(), "tasks executed three times or more: {more:?}");
    assert!(total <= TASKS as usize + CONCURRENCY, "{total} executions for {TASKS} tasks");
}
