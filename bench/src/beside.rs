//! Figure 18 (issue 24): the pipelines beside a flood. Seed 001's manga run on the
//! built-in engines (a 5,000-character story, phases 1 to 7) and a seed 002
//! image-to-3D job on the built-in `local/relief` (`fast`), each timed alone, then
//! again while another user creates instant image tasks at a fixed rate (1,000 a
//! second, open loop: the creates are sent on a clock, not after the last answer).
//!
//! Printed: each time alone and beside the flood, with the aims (the run of 5,000
//! characters under 10 s, the bench's own tightening of the seed's 8 min; the API
//! under 100 ms at p99, the seed's), the API's latency meanwhile (the task list,
//! read by one watcher), and what the flood did: the creates sent,
//! accepted and refused, the rate it held, and its tasks completed and still queued.
//! The scheduler is fair per user (a claim takes each user's oldest task in turn),
//! so the pipelines' tasks should not wait behind the flood's backlog; the depth
//! figure's lone task behind another user's backlog measures the same from the
//! queue's side, and `claims_are_fair_across_users` tests it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use base64::Engine as _;
use serde_json::{Value, json};

use crate::load::{client, get_json, post_json};
use crate::manga;
use crate::plan::Plan;
use crate::report::{Report, describe_errors, quantile, thousands};
use crate::server::{Backend, MAX_QUEUED, Server};
use crate::three_d;

/// The manga story's length, in characters: the seed's first row.
const STORY_CHARS: usize = 5_000;
/// The bench's aim for that run on the built-in engines, in s.
const MANGA_AIM_SECS: f64 = 10.0;
/// The seed's API aim: p99 under this, in ms.
const API_AIM_MS: f64 = 100.0;
/// The picture of the 3D job, a side in pixels (photo-like: gradients and noise), as
/// in the 3D figure.
const PICTURE_SIDE: u32 = three_d::SIDE;
/// The flood's clock: creates are sent every tick.
const TICK: Duration = Duration::from_millis(10);
/// The flood's creates in flight at most; a tick that finds them all busy drops its
/// creates and counts them as not sent (the load generator fell behind).
const FLOOD_IN_FLIGHT: usize = 64;
/// How long a job or a run may take before the figure gives up.
const TIMEOUT: Duration = Duration::from_secs(600);
/// The watcher's pause between its requests.
const WATCH_PAUSE: Duration = Duration::from_millis(40);

pub async fn run(plan: &Plan, report: &mut Report) -> Result<()> {
    let scope = "beside";
    let started = Instant::now();
    let mut settings = manga::env();
    settings.extend([
        ("ATELIER__ENGINES__INSTANT__ENABLED", "true".to_owned()),
        ("ATELIER__QUEUE__MAX_QUEUED", MAX_QUEUED.to_string()),
        // The second run tells the same story: with the scene cache on it would reuse
        // the first run's panels and draw none.
        ("ATELIER__PIPELINES__SCENE_CACHE", "false".to_owned()),
    ]);
    let server = Server::start(&plan.server, &Backend::Sqlite, &settings).await?;
    let flood_key = member_key(&server, "flood@bench.invalid").await?;
    let story = manga::japanese_story(STORY_CHARS)?;
    let picture = base64::engine::general_purpose::STANDARD.encode(three_d::png(&three_d::photo(PICTURE_SIDE))?);

    eprintln!("[{scope}] alone");
    let alone = pipelines(&server, &story, &picture).await?;
    eprintln!("[{scope}] beside a flood of {} instant tasks a second", plan.beside_rate);
    let flood = Flood::start(&server, &flood_key, plan.beside_rate)?;
    let beside = pipelines(&server, &story, &picture).await;
    let flood = flood.stop().await?;
    let beside = beside?;
    let http = client(1, &server.key)?;
    let info = get_json(&http, &format!("{}/api/v1/system/info", server.base)).await?;
    let queued = info.get("queued_tasks").and_then(Value::as_u64).unwrap_or(0);

    let flood_notes = flood.describe(queued);
    for (name, timed, flooded) in [("alone", &alone, false), ("beside the flood", &beside, true)] {
        let manga_secs = timed.manga.as_secs_f64();
        let against_alone = |time: Duration, alone: Duration| match flooded {
            true => format!("; {:.2}× the time alone", time.as_secs_f64() / alone.as_secs_f64().max(1e-9)),
            false => String::new(),
        };
        let met = |ok: bool| if ok { "met" } else { "NOT MET" };
        let api_p99 = timed.api_p99_ms();
        report.add(
            scope,
            format!("manga phases 1-7, built-in, {} characters, {name}", thousands(STORY_CHARS)),
            format!("{manga_secs:.2}"),
            "s",
            format!(
                "aim < {MANGA_AIM_SECS:.0} s: {}{}; {}{}",
                met(manga_secs < MANGA_AIM_SECS),
                against_alone(timed.manga, alone.manga),
                timed.manga_made,
                if flooded { format!("; {flood_notes}") } else { String::new() }
            ),
        );
        report.add(
            scope,
            format!("image-to-3D job, local/relief fast, {PICTURE_SIDE}² picture, {name}"),
            format!("{:.2}", timed.three_d.as_secs_f64()),
            "s",
            format!("created -> completed, its status read every 10 ms{}", against_alone(timed.three_d, alone.three_d)),
        );
        report.add(
            scope,
            format!("API p99 meanwhile, {name}"),
            api_p99.map_or_else(|| "n/a".to_owned(), |ms| format!("{ms:.1}")),
            "ms",
            format!(
                "aim < {API_AIM_MS:.0} ms: {}; {}",
                met(api_p99.is_some_and(|ms| ms < API_AIM_MS)),
                timed.describe_api()
            ),
        );
    }
    server.stop(report, scope);
    report.remark(format!("beside: figure 18 took {:.0} s", started.elapsed().as_secs_f64()));
    Ok(())
}

/// A new member's API key, made by the admin (`POST /users`, `POST /keys`).
async fn member_key(server: &Server, email: &str) -> Result<String> {
    let http = client(1, &server.key)?;
    let body = json!({ "email": email, "role": "member" });
    let user = post_json(&http, &format!("{}/api/v1/users", server.base), &body, 201).await?;
    let user_id = user["id"].as_str().context("a user without an id")?;
    let body = json!({ "name": "flood", "user_id": user_id });
    let key = post_json(&http, &format!("{}/api/v1/keys", server.base), &body, 201).await?;
    Ok(key["key"].as_str().context("a created key without its secret")?.to_owned())
}

/// The pipelines' times, and the API's latencies meanwhile.
struct Timed {
    manga: Duration,
    manga_made: String,
    three_d: Duration,
    /// `GET /api/v1/tasks?limit=20`, in µs, sorted.
    api_us: Vec<u64>,
    api_errors: BTreeMap<String, usize>,
}

impl Timed {
    fn api_p99_ms(&self) -> Option<f64> {
        quantile(&self.api_us, 0.99).map(|us| us as f64 / 1000.0)
    }

    fn describe_api(&self) -> String {
        let p50 = quantile(&self.api_us, 0.5).map_or(0.0, |us| us as f64 / 1000.0);
        format!(
            "the task list (20) read by one watcher every {} ms: {} requests, p50 {p50:.1} ms; {}",
            WATCH_PAUSE.as_millis(),
            thousands(self.api_us.len()),
            describe_errors(&self.api_errors)
        )
    }
}

/// The manga run, then the 3D job, with a watcher reading the task list throughout.
async fn pipelines(server: &Server, story: &str, picture: &str) -> Result<Timed> {
    let done = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (http, url, done) =
            (client(1, &server.key)?, format!("{}/api/v1/tasks?limit=20", server.base), done.clone());
        tokio::spawn(async move {
            let (mut latencies, mut errors) = (Vec::new(), BTreeMap::new());
            while !done.load(Ordering::Relaxed) {
                manga::timed_get(&http, &url, &mut latencies, &mut errors).await;
                tokio::time::sleep(WATCH_PAUSE).await;
            }
            (latencies, errors)
        })
    };
    let outcome = async {
        let finished = manga::run_once(server, manga::run_body(story)).await.context("the manga run")?;
        let three_d = relief_job(server, picture).await.context("the 3D job")?;
        anyhow::Ok((finished, three_d))
    }
    .await;
    done.store(true, Ordering::Relaxed);
    let (mut api_us, api_errors) = watcher.await.context("the watcher panicked")?;
    let (finished, three_d) = outcome?;
    api_us.sort_unstable();
    Ok(Timed { manga: finished.elapsed, manga_made: finished.made(), three_d, api_us, api_errors })
}

/// One image-to-3D job on the fallback engine, created → completed.
async fn relief_job(server: &Server, picture: &str) -> Result<Duration> {
    let http = client(1, &server.key)?;
    let started = Instant::now();
    let body = json!({ "image_base64": picture, "quality": "fast" });
    let job = post_json(&http, &format!("{}/api/v1/generate/image-to-3d", server.base), &body, 202).await?;
    let id = job["job_id"].as_str().with_context(|| format!("a job without an id: {job}"))?;
    if job["engine"].as_str() != Some("local/relief") {
        bail!("the job did not go to local/relief: {job}");
    }
    loop {
        let job = get_json(&http, &format!("{}/api/v1/jobs/{id}/status", server.base)).await?;
        match job["status"].as_str() {
            Some("completed") => return Ok(started.elapsed()),
            Some("failed") => bail!("the 3D job failed: {job}"),
            _ if started.elapsed() > TIMEOUT => {
                bail!("the 3D job still {} after {} s", job["status"], TIMEOUT.as_secs())
            }
            _ => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

/// Instant tasks created on a clock by another user, until stopped.
struct Flood {
    stop: Arc<AtomicBool>,
    clock: tokio::task::JoinHandle<FloodCounts>,
    started: Instant,
    rate: usize,
    http: reqwest::Client,
    base: String,
}

#[derive(Default)]
struct FloodCounts {
    due: usize,
    not_sent: usize,
    accepted: Arc<AtomicUsize>,
    errors: Arc<std::sync::Mutex<BTreeMap<String, usize>>>,
}

/// What the flood did.
struct FloodReport {
    rate: usize,
    elapsed: Duration,
    due: usize,
    not_sent: usize,
    accepted: usize,
    errors: BTreeMap<String, usize>,
    completed: usize,
}

impl Flood {
    fn start(server: &Server, key: &str, rate: usize) -> Result<Flood> {
        let http = client(FLOOD_IN_FLIGHT, key)?;
        let stop = Arc::new(AtomicBool::new(false));
        let url = format!("{}/api/v1/tasks", server.base);
        let clock = {
            let (http, stop) = (http.clone(), stop.clone());
            tokio::spawn(async move {
                let mut counts = FloodCounts::default();
                let slots = Arc::new(tokio::sync::Semaphore::new(FLOOD_IN_FLIGHT));
                let started = Instant::now();
                let mut ticks = tokio::time::interval(TICK);
                ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
                while !stop.load(Ordering::Relaxed) {
                    ticks.tick().await;
                    // Creates due by now, on the clock, less those already due.
                    let due = (started.elapsed().as_secs_f64() * rate as f64) as usize;
                    while counts.due < due {
                        let seed = counts.due;
                        counts.due += 1;
                        let Ok(slot) = slots.clone().try_acquire_owned() else {
                            counts.not_sent += 1;
                            continue;
                        };
                        let (http, url) = (http.clone(), url.clone());
                        let (accepted, errors) = (counts.accepted.clone(), counts.errors.clone());
                        tokio::spawn(async move {
                            let body = json!({ "model": "local/instant", "input": { "seed": seed } });
                            let kind = match http.post(&url).json(&body).send().await {
                                Ok(response) if response.status().as_u16() == 202 => None,
                                Ok(response) => Some(format!("HTTP {}", response.status().as_u16())),
                                Err(error) => Some(crate::load::error_kind(&error)),
                            };
                            match kind {
                                None => {
                                    accepted.fetch_add(1, Ordering::Relaxed);
                                }
                                Some(kind) => {
                                    if let Ok(mut errors) = errors.lock() {
                                        *errors.entry(kind).or_default() += 1;
                                    }
                                }
                            }
                            drop(slot);
                        });
                    }
                }
                // The creates still in flight.
                let _ = slots.acquire_many(FLOOD_IN_FLIGHT as u32).await;
                counts
            })
        };
        Ok(Flood { stop, clock, started: Instant::now(), rate, http, base: server.base.clone() })
    }

    /// Stops the clock, waits for the creates in flight, and counts the flood's
    /// tasks completed so far.
    async fn stop(self) -> Result<FloodReport> {
        self.stop.store(true, Ordering::Relaxed);
        let counts = self.clock.await.context("the flood's clock panicked")?;
        let elapsed = self.started.elapsed();
        let completed = crate::load::count_tasks(&self.http, &self.base, "completed").await?;
        let errors = counts.errors.lock().map(|errors| errors.clone()).unwrap_or_default();
        Ok(FloodReport {
            rate: self.rate,
            elapsed,
            due: counts.due,
            not_sent: counts.not_sent,
            accepted: counts.accepted.load(Ordering::Relaxed),
            errors,
            completed,
        })
    }
}

impl FloodReport {
    fn describe(&self, queued: u64) -> String {
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        format!(
            "the flood (another user, local/instant, {} a second due on a {} ms clock, {} in flight at most): \
             {} due over {secs:.1} s, {} accepted ({:.0}/s), {} not sent (all {} in flight); the creates' {}; \
             its tasks completed by the end {} ({:.0}/s), still queued at the end {}",
            thousands(self.rate),
            TICK.as_millis(),
            FLOOD_IN_FLIGHT,
            thousands(self.due),
            thousands(self.accepted),
            self.accepted as f64 / secs,
            thousands(self.not_sent),
            FLOOD_IN_FLIGHT,
            describe_errors(&self.errors),
            thousands(self.completed),
            self.completed as f64 / secs,
            thousands(queued as usize),
        )
    }
}
