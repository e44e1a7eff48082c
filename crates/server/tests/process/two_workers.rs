//! Scale-out on PostgreSQL: an API-only server and two `atelier worker` processes
//! share one queue; every task runs exactly once, on one of them.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use atelier_testkit::TestDatabase;

use crate::harness::{
    Process, assert_one_image_each, atelier, create_many, http, read_execution_log, run_cli, serve, temp_dir,
    wait_all_completed,
};

const TASKS: u64 = 300;

fn worker(name: &str, data: &Path, database_url: &str, log: &Path) -> Process {
    let mut command = atelier(["worker", "--database-url", database_url]);
    command
        .arg("--data-dir")
        .arg(data)
        .env("ATELIER__ENGINES__INSTANT__ENABLED", "true")
        .env("ATELIER__WORKER__CONCURRENCY", "4")
        .env("ATELIER__WORKER__LEASE_SECS", "2")
        .env("ATELIER__WORKER__IDLE_POLL_MS", "200")
        .env("ATELIER_INSTANT_EXECUTION_LOG", log)
        // "worker started" (info) tells when the worker is ready to claim.
        .env("ATELIER__LOG__LEVEL", "warn,atelier_core::worker=info");
    let mut process = Process::spawn(name, command);
    process.wait_for_line(|line| line.contains("worker started"), "\"worker started\"", Duration::from_secs(30));
    process
}

#[tokio::test]
async fn two_workers_share_a_postgres_queue() {
    let Some(database) = TestDatabase::postgres().await else { return };
    let started = Instant::now();
    let dir = temp_dir();
    // One data dir (the file store) for all three processes, as on a shared volume.
    let data = dir.path().join("data");
    let logs = [dir.path().join("worker-a.log"), dir.path().join("worker-b.log")];

    let mut migrate = atelier(["migrate", "--database-url", &database.url]);
    migrate.arg("--data-dir").arg(&data);
    let migrated = run_cli(migrate, Duration::from_secs(30)).await;
    assert!(
        migrated.status.success(),
        "migrate exited {}: {}",
        migrated.status,
        String::from_utf8_lossy(&migrated.stderr)
    );

    let mut api = serve(
        "serve (API only)",
        &data,
        Some(&database.url),
        &[("ATELIER__WORKER__ENABLED", "false"), ("ATELIER__ENGINES__INSTANT__ENABLED", "true")],
    );
    let client = http(&api.key);
    let mut worker_a = worker("worker A", &data, &database.url, &logs[0]);
    let mut worker_b = worker("worker B", &data, &database.url, &logs[1]);

    let ids = create_many(&client, &api.base, TASKS, 5).await;
    let tasks =
        wait_all_completed(&mut api, &mut [&mut worker_a, &mut worker_b], &client, &ids, Duration::from_secs(60)).await;
    assert_one_image_each(&tasks);

    let ran_a = read_execution_log(&logs[0]);
    let ran_b = read_execution_log(&logs[1]);
    let total_a: usize = ran_a.values().sum();
    let total_b: usize = ran_b.values().sum();
    println!("two_workers: worker A ran {total_a}, worker B ran {total_b} of {TASKS} in {:?}", started.elapsed());
    let repeated: Vec<&String> =
        ran_a.iter().chain(&ran_b).filter(|(_, times)| **times > 1).map(|(id, _)| id).collect();
    assert!(repeated.is_empty(), "a worker ran these tasks more than once: {repeated:?}");
    let keys_a: BTreeSet<String> = ran_a.keys().cloned().collect();
    let keys_b: BTreeSet<String> = ran_b.keys().cloned().collect();
    let both: Vec<&String> = keys_a.intersection(&keys_b).collect();
    assert!(both.is_empty(), "both workers ran these tasks: {both:?}");
    let union: BTreeSet<String> = keys_a.union(&keys_b).cloned().collect();
    assert_eq!(union, ids, "the workers ran exactly the created tasks");
    assert!(total_a > 0 && total_b > 0, "one worker took no work (A ran {total_a}, B ran {total_b})");
}
