//! Rate limits counted in the database (issue 18): at most the limit in any window,
//! whichever of several processes (here: separate pools, each with its own memory
//! of the rows) asks; the wait is until the oldest time leaves; scopes and kinds are
//! apart; a row keeps only its window's times.

use std::sync::Arc;
use std::time::Duration;

use atelier_core::ratelimit::RateLimit;
use atelier_db::DatabaseRateLimits;
use atelier_testkit::TestDatabase;
use tokio::sync::Barrier;

/// Runs a story, which opens what it needs from the test database, on every backend.
macro_rules! rate_story {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(&atelier_testkit::TestDatabase::sqlite()).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some(test_db) = atelier_testkit::TestDatabase::postgres().await else { return };
                super::$name(&test_db).await;
            }
        }
    };
}

rate_story!(a_rate_limit_holds_across_instances_with_the_right_wait);
rate_story!(concurrent_instances_take_exactly_the_limit);
rate_story!(a_rate_windows_row_keeps_only_its_window);

const LIMIT: RateLimit = RateLimit { requests: 3, window: Duration::from_millis(1_000) };
const T: i64 = 1_765_000_000_000;

async fn instance(test_db: &TestDatabase, namespace: &str) -> DatabaseRateLimits {
    DatabaseRateLimits::new(Arc::unwrap_or_clone(super::open(test_db).await), namespace)
}

async fn a_rate_limit_holds_across_instances_with_the_right_wait(test_db: &TestDatabase) {
    let (one, two) = (instance(test_db, "submit").await, instance(test_db, "submit").await);
    assert_eq!(one.acquire_at("kie", LIMIT, T).await.unwrap(), Ok(()));
    assert_eq!(two.acquire_at("kie", LIMIT, T + 100).await.unwrap(), Ok(()));
    // `one` remembers the row before `two`'s write: its write loses, it reads again.
    assert_eq!(one.acquire_at("kie", LIMIT, T + 200).await.unwrap(), Ok(()));
    assert_eq!(two.acquire_at("kie", LIMIT, T + 300).await.unwrap(), Err(Duration::from_millis(701)));
    assert_eq!(one.acquire_at("kie", LIMIT, T + 400).await.unwrap(), Err(Duration::from_millis(601)));
    assert_eq!(one.held("kie").await.unwrap(), [T, T + 100, T + 200]);

    // Scopes are apart, and so are kinds of limit.
    assert_eq!(two.acquire_at("openai", LIMIT, T + 300).await.unwrap(), Ok(()));
    let requests = instance(test_db, "requests").await;
    assert_eq!(requests.acquire_at("kie", LIMIT, T + 300).await.unwrap(), Ok(()));
    assert_eq!(requests.held("kie").await.unwrap(), [T + 300]);

    // Exactly one window after the oldest is not past it yet; a millisecond more is,
    // for either instance.
    assert_eq!(two.acquire_at("kie", LIMIT, T + 1_000).await.unwrap(), Err(Duration::from_millis(10)));
    assert_eq!(two.acquire_at("kie", LIMIT, T + 1_001).await.unwrap(), Ok(()));
    assert_eq!(one.acquire_at("kie", LIMIT, T + 1_002).await.unwrap(), Err(Duration::from_millis(99)));
    assert_eq!(one.held("kie").await.unwrap(), [T + 100, T + 200, T + 1_001]);
}

async fn concurrent_instances_take_exactly_the_limit(test_db: &TestDatabase) {
    const INSTANCES: usize = 3;
    const EACH: usize = 6;
    let mut instances = Vec::new();
    for _ in 0..INSTANCES {
        instances.push(Arc::new(instance(test_db, "submit").await));
    }
    // Three rounds, each in a new window: the first inserts the row, the others
    // update it from whatever each instance remembers.
    for round in 0..3_i64 {
        let now = T + round * 10_000;
        let start = Arc::new(Barrier::new(INSTANCES * EACH));
        let mut takers = tokio::task::JoinSet::new();
        for n in 0..INSTANCES * EACH {
            let (limits, start) = (instances[n % INSTANCES].clone(), start.clone());
            takers.spawn(async move {
                start.wait().await;
                limits.acquire_at("kie", LIMIT, now + i64::try_from(n % 2).unwrap()).await
            });
        }
        let (mut taken, mut refused) = (0, 0);
        while let Some(answer) = takers.join_next().await {
            match answer.unwrap().unwrap() {
                Ok(()) => taken += 1,
                Err(wait) => {
                    assert!(wait > Duration::from_millis(990) && wait <= Duration::from_millis(1_002), "{wait:?}");
                    refused += 1;
                }
            }
        }
        assert_eq!((taken, refused), (3, INSTANCES * EACH - 3), "round {round}");
        assert_eq!(instances[0].held("kie").await.unwrap().len(), 3);
    }
}

async fn a_rate_windows_row_keeps_only_its_window(test_db: &TestDatabase) {
    let limits = instance(test_db, "requests").await;
    let limit = RateLimit { requests: 4, window: Duration::from_millis(100) };
    let mut taken = Vec::new();
    // Tries every 15 ms for 3 s: the row never holds more than the limit, and no
    // span of the window holds more than the limit.
    for now in (T..T + 3_000).step_by(15) {
        if limits.acquire_at("user", limit, now).await.unwrap().is_ok() {
            taken.push(now);
        }
        assert!(limits.held("user").await.unwrap().len() <= 4);
    }
    assert!(taken.len() >= 80, "{}", taken.len());
    for five in taken.windows(5) {
        assert!(five[4] - five[0] > 100, "{five:?}");
    }
    // After a quiet while, a take leaves only itself.
    assert_eq!(limits.acquire_at("user", limit, T + 60_000).await.unwrap(), Ok(()));
    assert_eq!(limits.held("user").await.unwrap(), [T + 60_000]);
}
