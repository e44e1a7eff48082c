//! Query plans are part of the contract: over a deep data set (a million finished
//! tasks with an output each and a hundred thousand pending, by default), no hot
//! statement scans `tasks` or `assets` whole or sorts their rows, on either
//! backend: before the planner has statistics (a restored database: every
//! statement on SQLite, the queue's on PostgreSQL), as the server's start leaves
//! them, and with fresh statistics. `ATELIER_DEPTH_FINISHED` / `ATELIER_DEPTH_PENDING` change the depth.

#![allow(clippy::unwrap_used)]

use std::time::Instant;

use atelier_db::depth::{self, DepthSpec};
use atelier_db::plans::check_hot_statements;
use atelier_db::{Database, DatabaseOptions};
use atelier_testkit::TestDatabase;

fn spec() -> DepthSpec {
    let env = |name: &str, default: u64| std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default);
    let now = 1_800_000_000_000;
    DepthSpec {
        finished: env("ATELIER_DEPTH_FINISHED", 1_000_000),
        pending: env("ATELIER_DEPTH_PENDING", 100_000),
        ..DepthSpec::million(now)
    }
}

async fn plans_hold_at_depth(test_db: TestDatabase) {
    let db = Database::connect(&test_db.url, &DatabaseOptions::default()).await.unwrap();
    db.migrate().await.unwrap();
    let started = Instant::now();
    let depth = depth::generate(&db, spec()).await.unwrap();
    println!("{}: generated {:?} in {:.1} s", db.backend().name(), depth.spec, started.elapsed().as_secs_f64());
    let mut failures = Vec::new();
    // As restored: no statistics. SQLite's statements must all hold here (those that
    // would go wrong name their index); on PostgreSQL the queue's must, and the
    // reads are planned once the server's start has analysed the stale tables.
    // Then as the server opens the database (its start-up step), then with fresh
    // statistics.
    let sqlite = db.backend() == atelier_db::Backend::Sqlite;
    for stage in ["without statistics", "as the server starts", "with statistics"] {
        match stage {
            "as the server starts" => db.migrate().await.unwrap(),
            "with statistics" => db.refresh_statistics().await.unwrap(),
            _ => {}
        }
        for check in check_hot_statements(&db, &depth).await.unwrap() {
            println!("[{stage}] {}:\n    {}", check.name, check.plan.join("\n    "));
            let applies = stage != "without statistics" || sqlite || check.queue;
            if applies && !check.problems.is_empty() {
                failures.push(format!("[{stage}] {}: {}", check.name, check.problems.join("; ")));
            }
        }
    }
    assert!(failures.is_empty(), "plans that grow with the history:\n{}", failures.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite() {
    plans_hold_at_depth(TestDatabase::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres() {
    let Some(test_db) = TestDatabase::postgres().await else { return };
    plans_hold_at_depth(test_db).await;
}
