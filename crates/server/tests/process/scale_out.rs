//! Scale-out: three `atelier serve` processes on one PostgreSQL database and one
//! bucket (moto's S3 when `ATELIER_TEST_S3_ENDPOINT` names it; otherwise one data
//! dir shared by the three, said on stderr), with one server secret, behave as one
//! server:
//!
//! - tasks created through A are run by the workers of B and C too (each instance's
//!   `local/instant` execution log says which ran what), exactly once;
//! - B's event stream and C's WebSocket see those tasks complete, wherever they ran
//!   (PostgreSQL's notices, `atelier_db::listener`, carry the changes across);
//! - a link signed on A opens on B and C (same secret, same files);
//! - a daily quota holds across the three: of the creates past it, each on the
//!   next instance, exactly the quota's rest is accepted, the others answer 429
//!   (and at once: the last test, with a user's request rate limit as well);
//! - with 30 Kie tasks waiting on a slow emulator, B is SIGKILLed: its leases are
//!   reclaimed by the others within the lease and a sweep, and every task completes
//!   once, submitted once, with one output.
//!
//! The cross-instance API rate limit is not asserted here (yet).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use atelier_testkit::TestDatabase;
use atelier_testkit::s3::TestBucket;
use futures::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

use crate::harness::{
    Server, assert_one_image_each, create_many, emulate, http, list_all, read_execution_log, serve, temp_dir,
    wait_all_completed,
};

/// 32 bytes, base64: the server secret the three share (`auth.secret_key`).
const SECRET_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
/// Tasks each instance runs at once.
const CONCURRENCY: usize = 8;
const LEASE_SECS: u64 = 3;
/// Instant tasks created through A, each held `SPREAD_DELAY_MS` by its worker: more
/// than A runs at once, so the others must take some.
const SPREAD_TASKS: u64 = 24;
const SPREAD_DELAY_MS: u64 = 1500;
/// The `local` service's daily quota: the spread tasks, then `QUOTA_LEFT` more.
const QUOTA_LEFT: usize = 6;
const OVER_QUOTA: usize = 6;
/// Kie tasks in flight when B is killed.
const KIE_TASKS: usize = 30;
const REQUEUED: &str = "lease expired; task requeued";

#[tokio::test]
async fn three_instances_share_one_database_and_bucket() {
    let Some(database) = TestDatabase::postgres().await else { return };
    let started = Instant::now();
    let bucket = TestBucket::create().await;
    if bucket.is_none() {
        eprintln!("note: no S3 server; the three instances share one local data dir instead of a bucket");
    }
    let dir = temp_dir();
    // Each Kie job takes a few polls, each answered after a second: a task waiting on
    // Kie spends most of its time polling, under its lease.
    let (mut emulator, kie_url) = emulate(
        "kie emulator",
        &["kie", "--steps", "5", "--no-rate-limits", "--fault", "recordInfo:always:latency=1000"],
    );

    let storage = bucket.as_ref().map(TestBucket::storage_url);
    let quota = (SPREAD_TASKS as usize + QUOTA_LEFT).to_string();
    let (concurrency, lease) = (CONCURRENCY.to_string(), LEASE_SECS.to_string());
    let logs: Vec<String> =
        ["a", "b", "c"].iter().map(|n| dir.path().join(format!("{n}.log")).display().to_string()).collect();
    let env = |log: &str| {
        let mut env = vec![
            ("ATELIER__AUTH__SECRET_KEY", SECRET_KEY.to_owned()),
            ("ATELIER__ENGINES__INSTANT__ENABLED", "true".to_owned()),
            ("ATELIER_INSTANT_EXECUTION_LOG", log.to_owned()),
            ("ATELIER__WORKER__CONCURRENCY", concurrency.clone()),
            ("ATELIER__WORKER__LEASE_SECS", lease.clone()),
            ("ATELIER__WORKER__IDLE_POLL_MS", "200".to_owned()),
            ("ATELIER__PROVIDERS__LIMITS__LOCAL__DAILY_TASKS", quota.clone()),
            ("ATELIER__PROVIDERS__KIE__API_KEY", "test-key".to_owned()),
            ("ATELIER__PROVIDERS__KIE__BASE_URL", kie_url.clone()),
            ("ATELIER__PROVIDERS__KIE__FIRST_POLL_MS", "200".to_owned()),
            ("ATELIER__PROVIDERS__KIE__SUBMITS_PER_10S", "1000".to_owned()),
        ];
        if let Some(url) = &storage {
            env.push(("ATELIER__STORAGE__URL", url.clone()));
        }
        env
    };
    let start = |name: &str, data: &Path, log: &str| {
        let env = env(log);
        let env: Vec<(&str, &str)> = env.iter().map(|(key, value)| (*key, value.as_str())).collect();
        serve(name, data, Some(&database.url), &env)
    };
    // On S3 nothing is shared on disk: each instance has a data dir of its own, and B
    // and C are handed the local CLI key A wrote on the first run (the key itself
    // lives in the database).
    let data: Vec<_> = if storage.is_some() {
        ["a", "b", "c"].iter().map(|n| dir.path().join(n)).collect()
    } else {
        vec![dir.path().join("data"); 3]
    };
    let mut a = start("serve A", &data[0], &logs[0]);
    for other in &data[1..] {
        std::fs::create_dir_all(other).unwrap();
        if *other != data[0] {
            std::fs::copy(data[0].join("cli-key"), other.join("cli-key")).unwrap();
        }
    }
    let mut b = start("serve B", &data[1], &logs[1]);
    let mut c = start("serve C", &data[2], &logs[2]);
    let client = http(&a.key);
    let booted = started.elapsed();

    // 1. Made on A, run everywhere, followed on B (SSE) and C (WebSocket).
    let ids = create_many(&client, &a.base, SPREAD_TASKS, SPREAD_DELAY_MS).await;
    let streams: Vec<_> = ids
        .iter()
        .map(|id| {
            let url = format!("{}/api/v1/tasks/{id}/events", b.base);
            tokio::spawn(sse_statuses(client.clone(), url))
        })
        .collect();
    let socket = tokio::spawn(ws_statuses(c.base.clone(), a.key.clone(), ids.clone()));
    let tasks =
        wait_all_completed(&mut a, &mut [&mut b.process, &mut c.process], &client, &ids, Duration::from_secs(30)).await;
    assert_one_image_each(&tasks);
    let ran: Vec<BTreeMap<String, usize>> = logs.iter().map(|log| read_execution_log(Path::new(log))).collect();
    let runner = |id: &str| ran.iter().position(|log| log.contains_key(id)).expect("every task ran");
    let repeated: Vec<&String> = ran.iter().flatten().filter(|(_, times)| **times > 1).map(|(id, _)| id).collect();
    assert!(repeated.is_empty(), "tasks executed more than once: {repeated:?}");
    let all: BTreeSet<String> = ran.iter().flat_map(|log| log.keys().cloned()).collect();
    let total: usize = ran.iter().map(BTreeMap::len).sum();
    assert_eq!((all.len(), &all), (total, &ids), "the instances ran exactly the created tasks, each on one of them");
    let counts: Vec<usize> = ran.iter().map(BTreeMap::len).collect();
    assert!(counts[1] > 0 && counts[2] > 0, "tasks created on A ran on A, B, C: {counts:?}; B or C took none");

    let mut live_sse = 0;
    for (id, stream) in ids.iter().zip(streams) {
        let events = tokio::time::timeout(Duration::from_secs(20), stream).await.expect("the stream ends").unwrap();
        assert_eq!(events.last().map(|(_, status)| status.as_str()), Some("completed"), "{id} on B: {events:?}");
        if runner(id) != 1 && events.iter().any(|(name, status)| name == "update" && status == "completed") {
            live_sse += 1;
        }
    }
    assert!(live_sse > 0, "B's event streams saw no task run elsewhere complete live");
    let seen = tokio::time::timeout(Duration::from_secs(20), socket).await.expect("the socket saw all").unwrap();
    let live_ws =
        seen.iter().filter(|(id, kinds)| runner(id) != 2 && kinds.iter().any(|kind| kind == "update")).count();
    assert!(live_ws > 0, "C's WebSocket saw no task run elsewhere complete live: {seen:?}");

    // A link signed on A opens on B and C: same secret, same files.
    let image = tasks[0]["images"][0]["image_id"].as_str().expect("an image id").to_owned();
    let shared: Value = client
        .post(format!("{}/api/v1/assets/{image}/share", a.base))
        .json(&json!({}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let link = shared["url"].as_str().unwrap_or_else(|| panic!("no link: {shared}")).to_owned();
    let anonymous = reqwest::Client::new();
    for server in [&b, &c] {
        let response = anonymous.get(format!("{}{link}", server.base)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{} refused A's link {link}", server.process.name);
        assert!(!response.bytes().await.unwrap().is_empty(), "{} served an empty file", server.process.name);
    }

    // 2. The daily quota across instances: the creates past it, one after another,
    // each on the next instance. (At once: the last test.)
    let servers = [&a, &b, &c];
    let mut answers = Vec::new();
    for n in 0..QUOTA_LEFT + OVER_QUOTA {
        answers.push(create_local(&client, &servers[n % 3].base, 1000 + n).await);
    }
    let statuses: Vec<u16> = answers.iter().map(|(status, ..)| *status).collect();
    let expected: Vec<u16> = (0..QUOTA_LEFT + OVER_QUOTA).map(|n| if n < QUOTA_LEFT { 202 } else { 429 }).collect();
    assert_eq!(statuses, expected, "the quota's rest ({QUOTA_LEFT}) accepted across three instances: {answers:?}");
    assert_quota_refusals(&answers);
    let accepted = QUOTA_LEFT;

    // 3. Kie tasks in flight everywhere; B is SIGKILLed.
    let kie: Vec<String> = futures::future::join_all((0..KIE_TASKS).map(|n| {
        let (client, base) = (client.clone(), servers[n % 3].base.clone());
        async move {
            let body = json!({ "model": "kie/imagen4", "input": { "prompt": format!("fox {n}") } });
            let response = client.post(format!("{base}/api/v1/tasks")).json(&body).send().await.unwrap();
            let status = response.status();
            let task: Value = response.json().await.unwrap();
            assert_eq!(status, 202, "{task}");
            task["task_id"].as_str().unwrap().to_owned()
        }
    }))
    .await;
    let kie: BTreeSet<String> = kie.into_iter().collect();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let tasks = of(&list_all(&client, &a.base, None).await, &kie);
        let submitted = tasks.iter().filter(|t| t["external_task_id"].is_string()).count();
        let done: Vec<&Value> = tasks.iter().filter(|t| t["status"].as_str().is_some_and(terminal)).collect();
        assert!(done.is_empty(), "a Kie task ended before the kill (make the emulator slower): {done:?}");
        // Killed once the polls are under way and B holds a lease: a task waits for
        // its next poll parked, without one, so B may hold none at a given moment.
        let stats: Value =
            client.get(format!("{kie_url}/__emulator/stats")).send().await.unwrap().json().await.unwrap();
        let polls = stats["record_info"].as_u64().unwrap_or(0);
        let held = if submitted == KIE_TASKS && polls >= KIE_TASKS as u64 {
            database.count(&held_by(b.process.pid())).await
        } else {
            0
        };
        if held > 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{submitted} of {KIE_TASKS} Kie tasks submitted, {polls} polls, B holds no lease\n{}",
            a.process.tail()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut seen = [requeued(&a), requeued(&c)];
    b.process.kill_hard();
    let killed = Instant::now();
    let killed_at = started.elapsed();

    // Every Kie task completes on A or C; note when each requeue line shows up.
    let mut requeues: Vec<Duration> = Vec::new();
    let deadline = killed + Duration::from_secs(40);
    let finished = loop {
        let [seen_a, seen_c] = &mut seen;
        for (server, seen) in [(&mut a, seen_a), (&mut c, seen_c)] {
            server.process.assert_running();
            let now = requeued(server);
            requeues.extend(std::iter::repeat_n(killed.elapsed(), now - *seen));
            *seen = now;
        }
        emulator.assert_running();
        let tasks = of(&list_all(&client, &a.base, None).await, &kie);
        if let Some(bad) = tasks.iter().find(|t| t["status"].as_str().is_some_and(|s| terminal(s) && s != "completed"))
        {
            panic!("a Kie task ended without completing: {bad:#}\n{}{}", a.process.tail(), c.process.tail());
        }
        if tasks.iter().filter(|t| t["status"] == "completed").count() == KIE_TASKS {
            break tasks;
        }
        assert!(
            Instant::now() < deadline,
            "not every Kie task completed after the kill\n{}{}",
            a.process.tail(),
            c.process.tail()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let recovered_in = killed.elapsed();
    assert_one_image_each(&finished);
    let external: BTreeSet<&str> = finished.iter().filter_map(|t| t["external_task_id"].as_str()).collect();
    assert_eq!(external.len(), KIE_TASKS, "each task has a Kie job of its own");
    let stats: Value = client.get(format!("{kie_url}/__emulator/stats")).send().await.unwrap().json().await.unwrap();
    assert_eq!(stats["create_task"], KIE_TASKS, "every task submitted exactly once: {stats}");
    let jobs = stats["task_states"].as_object().expect("the emulator's jobs");
    assert!(external.iter().all(|id| jobs.contains_key(*id)), "every external id is one of the emulator's jobs");

    if let Some(bucket) = &bucket {
        let keys = bucket.keys(None).await;
        let outputs = SPREAD_TASKS as usize + KIE_TASKS;
        assert!(keys.len() >= outputs, "{} objects in the bucket for {outputs} outputs: {keys:?}", keys.len());
    }

    // B held leases when it died (it ran tasks of its own); the others reclaimed them
    // after the lease ran out, at their next sweep (every half lease).
    let lease = Duration::from_secs(LEASE_SECS);
    let bound = 2 * (lease + lease / 2);
    let last = requeues.iter().max().copied();
    assert!(last.is_some(), "no lease of B's was reclaimed after its kill (did B hold none?)");
    assert!(
        last.is_some_and(|last| last <= bound),
        "a lease was reclaimed {last:?} after the kill, past the bound {bound:?} (twice the lease and a sweep)"
    );
    println!(
        "scale_out ({}): booted in {booted:?}; runs A/B/C {counts:?}; live completions of tasks run elsewhere: \
         B's SSE {live_sse}, C's WebSocket {live_ws}; quota {accepted} accepted of {}; B killed at {killed_at:?}, \
         {} leases reclaimed, the last {last:?} after (bound {bound:?}); all {KIE_TASKS} Kie tasks done {recovered_in:?} \
         after, {} createTask calls; {:?} in all",
        if storage.is_some() { "S3" } else { "shared data dir" },
        QUOTA_LEFT + OVER_QUOTA,
        requeues.len(),
        stats["create_task"],
        started.elapsed()
    );
}

/// A daily quota holds when creates come at once, on two instances: exactly the
/// quota is accepted (the count is made again in the insert's transaction, under a
/// lock named for the quota). And a user's requests per minute hold across the two:
/// of the requests past the limit, sent at once to both, exactly the rest passes.
#[tokio::test]
async fn a_daily_quota_holds_for_creates_at_once_across_instances() {
    const QUOTA: usize = 5;
    const CREATES: usize = 20;
    let Some(database) = TestDatabase::postgres().await else { return };
    let dir = temp_dir();
    let data = dir.path().join("data");
    let quota = QUOTA.to_string();
    let env = [
        ("ATELIER__ENGINES__INSTANT__ENABLED", "true"),
        ("ATELIER__WORKER__ENABLED", "false"),
        ("ATELIER__PROVIDERS__LIMITS__LOCAL__DAILY_TASKS", quota.as_str()),
        ("ATELIER__USER_LIMITS__ADMIN__REQUESTS_PER_MINUTE", "40"),
    ];
    let a = serve("serve A", &data, Some(&database.url), &env);
    let b = serve("serve B", &data, Some(&database.url), &env);
    let client = http(&a.key);
    let servers = [&a, &b];
    let answers: Vec<(u16, Option<String>, Value)> =
        futures::future::join_all((0..CREATES).map(|n| create_local(&client, &servers[n % 2].base, n))).await;
    let accepted = answers.iter().filter(|(status, ..)| *status == 202).count();
    assert_eq!(accepted, QUOTA, "{CREATES} creates at once on two instances, a quota of {QUOTA}");
    assert_quota_refusals(&answers);

    // The creates took 20 of the key's 40 requests a minute (a refused create is a
    // request too); of 30 more at once, on both instances, exactly 20 pass.
    let reads = futures::future::join_all((0..30).map(|n| {
        let url = format!("{}/api/v1/tasks?limit=1", servers[n % 2].base);
        let client = client.clone();
        async move {
            let response = client.get(url).send().await.unwrap();
            let status = response.status().as_u16();
            let retry = response.headers().get("retry-after").map(|value| value.to_str().unwrap().to_owned());
            (status, retry, response.json::<Value>().await.unwrap_or(Value::Null))
        }
    }))
    .await;
    let passed = reads.iter().filter(|(status, ..)| *status == 200).count();
    assert_eq!(passed, 40 - CREATES, "requests per minute across two instances: {reads:?}");
    for (status, retry, body) in reads.iter().filter(|(status, ..)| *status != 200) {
        assert_eq!((*status, body["error"].as_str()), (429, Some("rate_limit_exceeded")), "{body}");
        assert!(retry.as_deref().and_then(|value| value.parse::<u64>().ok()).is_some_and(|s| s > 0), "{retry:?}");
    }
}

/// Creates one instant task; the status, `Retry-After` and body of the answer.
async fn create_local(client: &reqwest::Client, base: &str, seed: usize) -> (u16, Option<String>, Value) {
    let body = json!({ "model": "local/instant", "input": { "seed": seed, "delay_ms": 0 } });
    let response = client.post(format!("{base}/api/v1/tasks")).json(&body).send().await.unwrap();
    let status = response.status().as_u16();
    let retry = response.headers().get("retry-after").map(|value| value.to_str().unwrap().to_owned());
    (status, retry, response.json().await.unwrap_or(Value::Null))
}

/// Every answer but a 202 is a 429 `quota_exceeded` in the API's error shape, with
/// a `Retry-After`.
fn assert_quota_refusals(answers: &[(u16, Option<String>, Value)]) {
    for (status, retry, body) in answers.iter().filter(|(status, ..)| *status != 202) {
        assert_eq!(*status, 429, "{body}");
        assert_eq!(body["error"], "quota_exceeded", "{body}");
        assert!(body["message"].is_string() && body["details"].is_object(), "the error's shape: {body}");
        let seconds = retry.as_deref().and_then(|value| value.parse::<u64>().ok());
        assert!(seconds.is_some_and(|seconds| seconds > 0), "Retry-After: {retry:?}");
    }
}

fn terminal(status: &str) -> bool {
    matches!(status, "completed" | "failed" | "cancelled" | "expired")
}

/// The tasks among `all` whose ids are in `ids`.
fn of(all: &[Value], ids: &BTreeSet<String>) -> Vec<Value> {
    all.iter().filter(|t| t["task_id"].as_str().is_some_and(|id| ids.contains(id))).cloned().collect()
}

/// The query that counts the leases the server of `pid` holds (a worker's id is its
/// process id, a dash, a UUID).
fn held_by(pid: nix::unistd::Pid) -> String {
    format!("SELECT count(*) FROM tasks WHERE lease_token IS NOT NULL AND worker_id LIKE '{pid}-%'")
}

/// How many "lease expired; task requeued" lines the server printed so far.
fn requeued(server: &Server) -> usize {
    server.process.stderr_lines().iter().filter(|line| line.contains(REQUEUED)).count()
}

/// A task's event stream read to its end (it ends after the task does): each
/// event's name and the task's status in it.
async fn sse_statuses(client: reqwest::Client, url: String) -> Vec<(String, String)> {
    let response = client.get(&url).send().await.unwrap_or_else(|error| panic!("GET {url}: {error}"));
    assert_eq!(response.status(), 200, "GET {url}");
    let mut body = response.bytes_stream();
    let mut buffer: Vec<u8> = Vec::new();
    let mut events = Vec::new();
    while let Some(chunk) = body.next().await {
        buffer.extend_from_slice(&chunk.unwrap_or_else(|error| panic!("reading {url}: {error}")));
        while let Some(end) = buffer.windows(2).position(|pair| pair == b"\n\n") {
            let block: Vec<u8> = buffer.drain(..end + 2).collect();
            let block = String::from_utf8(block).expect("UTF-8 events");
            let mut name = String::from("message");
            let mut data = String::new();
            for line in block.lines() {
                if let Some(value) = line.strip_prefix("event:") {
                    value.trim().clone_into(&mut name);
                } else if let Some(value) = line.strip_prefix("data:") {
                    data.push_str(value.trim_start());
                }
            }
            if data.is_empty() {
                continue; // a keep-alive
            }
            let task: Value =
                serde_json::from_str(&data).unwrap_or_else(|_| panic!("{url}: an event not JSON: {data}"));
            events.push((name, task["status"].as_str().unwrap_or("?").to_owned()));
        }
    }
    events
}

/// Follows `ids` on the server's `/api/v1/ws` until each is completed; returns, by
/// task, the kinds of the messages (`snapshot`, `update`) that said it was.
async fn ws_statuses(base: String, key: String, ids: BTreeSet<String>) -> BTreeMap<String, Vec<String>> {
    let mut request = format!("{}/api/v1/ws", base.replace("http://", "ws://")).into_client_request().unwrap();
    request.headers_mut().insert("authorization", format!("Bearer {key}").parse().unwrap());
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.expect("the socket opens");
    let subscribe = json!({ "type": "subscribe", "tasks": ids });
    socket.send(Message::Text(subscribe.to_string().into())).await.unwrap();
    let mut completed: BTreeMap<String, Vec<String>> = BTreeMap::new();
    while ids.iter().any(|id| !completed.contains_key(id)) {
        let message = socket.next().await.expect("the socket stays open").expect("a message");
        let Message::Text(text) = message else { continue };
        let message: Value = serde_json::from_str(text.as_str()).unwrap();
        let kind = message["type"].as_str().unwrap_or("?").to_owned();
        assert_ne!(kind, "error", "{message}");
        let task = &message["task"];
        if task["status"] == "completed"
            && let Some(id) = task["task_id"].as_str()
        {
            completed.entry(id.to_owned()).or_default().push(kind);
        }
    }
    completed
}
