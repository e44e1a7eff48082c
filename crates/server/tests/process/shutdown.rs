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

/// SIGTERM with the database gone: the server exits within `server.drain_secs`
/// (and a little), with its running tasks in flight (their leases expire), instead
/// of waiting on them and on a pool that times out again and again (it took 59 s).
/// PostgreSQL is reached through a proxy in the test that is then cut: every
/// connection reset and the port closed, as when the database's host dies. (Two
/// runtime threads: the proxy runs while the harness blocks on the server's start.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_exits_within_the_drain_time_when_postgres_is_gone() {
    let Some(database) = atelier_testkit::TestDatabase::postgres().await else { return };
    let proxy = CutProxy::start(&database.url).await;
    let dir = temp_dir();
    let data = dir.path().join("data");
    let env = [
        ("ATELIER__ENGINES__INSTANT__ENABLED", "true"),
        ("ATELIER__WORKER__CONCURRENCY", "4"),
        ("ATELIER__WORKER__LEASE_SECS", "2"),
        ("ATELIER__SERVER__DRAIN_SECS", "2"),
    ];
    let mut server = serve("serve (postgres through a proxy)", &data, Some(&proxy.url), &env);
    let client = http(&server.key);
    // Tasks that run for a minute: the drain cannot wait them out.
    create_many(&client, &server.base, 6, 60_000).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    proxy.cut();
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.process.signal(Signal::SIGTERM);
    let signalled = Instant::now();
    let Some(status) = server.process.wait_exit(Duration::from_secs(12)).await else {
        panic!("serve did not exit within 12 s of SIGTERM (drain_secs = 2)\n{}", server.process.tail());
    };
    println!("exited {status} {:?} after SIGTERM with PostgreSQL gone", signalled.elapsed());
    assert!(status.success(), "serve exited {status}\n{}", server.process.tail());
}

/// A TCP proxy to the database that `cut` kills: its port closes and every
/// connection through it is reset.
struct CutProxy {
    url: String,
    stop: tokio::sync::watch::Sender<bool>,
}

impl CutProxy {
    async fn start(database_url: &str) -> Self {
        let mut target = url::Url::parse(database_url).expect("the database URL");
        let upstream = format!("{}:{}", target.host_str().expect("a host"), target.port().unwrap_or(5432));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a port for the proxy");
        let port = listener.local_addr().expect("its address").port();
        target.set_port(Some(port)).expect("a port");
        target.set_host(Some("127.0.0.1")).expect("a host");
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let mut accepting = stopped.clone();
        tokio::spawn(async move {
            loop {
                let (mut client, _) = tokio::select! {
                    accepted = listener.accept() => match accepted { Ok(pair) => pair, Err(_) => return },
                    _ = accepting.wait_for(|cut| *cut) => return,
                };
                let upstream = upstream.clone();
                let mut cut = stopped.clone();
                tokio::spawn(async move {
                    let Ok(mut server) = tokio::net::TcpStream::connect(&upstream).await else { return };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = cut.wait_for(|cut| *cut) => {
                            // A reset, not a polite close: the host is gone.
                            let _ = client.set_zero_linger();
                            let _ = server.set_zero_linger();
                        }
                    }
                });
            }
        });
        Self { url: target.to_string(), stop }
    }

    fn cut(&self) {
        let _ = self.stop.send(true);
    }
}
