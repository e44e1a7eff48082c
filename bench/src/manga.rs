//! Figure 9: seed 001's pipeline, all seven phases, straight through (no feedback
//! waits): the seed's performance table (requirements 1.9).
//!
//! 1. The built-in engines end to end (`local/planner` for the text phases,
//!    `local/placeholder` for sheets and panels, `local/letterer`, `local/binder`)
//!    on a 5,000-, 10,000- and 50,000-character story: the whole run, each phase,
//!    the pages and panels made, and the server's memory.
//! 2. The emulated Google services at the seed's latencies: Gemini answering the
//!    four text phases after 10, 12, 8 and 12 s, Imagen 4 drawing each image in 8 s,
//!    the panels 5 at once. The run's time against its critical path: the text
//!    latencies, one 8 s round for the character sheets (all made at once), one
//!    8 s round per 5 panels drawn (a panel the scene cache reused costs nothing),
//!    and the local phases 6 and 7 as measured. The emulated Gemini answers the
//!    smallest document its schema allows (one character, one page, one panel), so
//!    the same is run again with the planner's text (a real storyboard) and the
//!    emulated Imagen 4, to time the 5-at-once rounds over a whole book.
//! 3. Many runs at once (the seed's 100): the time until all have completed, the
//!    server's peak memory, and the API's latency meanwhile (a run's status and
//!    the task list, read by a few clients as a page of watchers would).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::emulator::{EMULATED_WORKERS, Emulated, Emulator, UrlSetting, api_key};
use crate::load::{client, error_kind, get_json};
use crate::machine::load_average;
use crate::plan::Plan;
use crate::report::{Report, describe_errors, mib, quantile, thousands};
use crate::server::{Backend, Server};

/// The seed's text-phase times (seed 001 2.1.2), in ms: the emulated Gemini's
/// answer to its 1st, 2nd, 3rd and 4th request.
const SEED_LATENCIES_MS: [u64; 4] = [10_000, 12_000, 8_000, 12_000];
/// The seed's time per Imagen 4 image, in ms.
const IMAGE_LATENCY_MS: u64 = 8_000;
/// The seed's `max_parallel`: panels drawn at once.
const MAX_PARALLEL: u64 = 5;
const GEMINI: &str = "google/gemini-2.5-flash";
const IMAGEN: &str = "google/imagen-4";
/// Long enough that no run here meets its time limit (600 s by default).
const DEADLINE_SECONDS: u32 = 3_600;
const PHASES: [&str; 7] = ["concept", "characters", "plot", "name", "panels", "lettering", "book"];
/// The seed's memory goal, in bytes.
const MEMORY_GOAL_BYTES: u64 = 500_000_000;
/// The seed's API goal: p99 under this, in ms.
const API_GOAL_MS: f64 = 100.0;
/// Clients reading the API while the runs go, and each one's pause between requests.
const WATCHERS: usize = 4;
const WATCH_PAUSE: Duration = Duration::from_millis(40);
/// How long the runs at once may take before the figure gives up.
const MANY_TIMEOUT: Duration = Duration::from_secs(1_800);

fn story(name: &str) -> Result<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/server/tests/data").join(name);
    std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))
}

/// A story of about `chars` characters: Rashomon, repeated (scene breaks between
/// the copies), cut at a paragraph.
pub(crate) fn japanese_story(chars: usize) -> Result<String> {
    let one = story("rashomon.txt")?;
    let mut text = String::new();
    while text.chars().count() < chars {
        text.push_str(&one);
        text.push_str("\n\n＊　＊　＊\n\n");
    }
    Ok(text.chars().take(chars).collect())
}

/// A finished run: its time, each phase's `elapsed_ms`, its final document.
pub(crate) struct Finished {
    pub(crate) elapsed: Duration,
    /// Phase number → the phase result's `elapsed_ms` (none: the phase made no task).
    phases: BTreeMap<u32, Option<i64>>,
    document: Value,
}

impl Finished {
    fn phase_ms(&self, phase: u32) -> i64 {
        self.phases.get(&phase).copied().flatten().unwrap_or(0)
    }

    /// What the run made: pages, panels, sheets.
    pub(crate) fn made(&self) -> String {
        Made::of(&self.document).describe()
    }

    /// `1 concept 12 · 2 characters 340 · …` (ms).
    fn describe_phases(&self) -> String {
        let parts: Vec<String> = (1..=PHASES.len() as u32)
            .map(|phase| match self.phases.get(&phase) {
                Some(Some(ms)) => format!("{phase} {} {}", PHASES[phase as usize - 1], thousands(*ms as usize)),
                Some(None) => format!("{phase} {} -", PHASES[phase as usize - 1]),
                None => format!("{phase} {} missing", PHASES[phase as usize - 1]),
            })
            .collect();
        let sum: i64 = self.phases.values().map(|ms| ms.unwrap_or(0)).sum();
        format!("per phase (ms) {}; phases' sum {} ms", parts.join(" · "), thousands(sum.max(0) as usize))
    }
}

/// What the final document holds.
struct Made {
    pages: usize,
    panels: usize,
    /// Panels whose image the scene cache reused, and how it compared them.
    reused: usize,
    method: Option<String>,
    /// Panels drawn after a failure (a simplified prompt, a placeholder).
    fallbacks: usize,
    /// Characters with a reference sheet (one image task each).
    sheets: usize,
}

impl Made {
    fn of(document: &Value) -> Made {
        let panels = document.pointer("/art/panels").and_then(Value::as_array).map_or(&[][..], Vec::as_slice);
        let source = |panel: &Value| panel.get("source").and_then(Value::as_str).unwrap_or_default().to_owned();
        Made {
            pages: document.pointer("/lettering/pages").and_then(Value::as_array).map_or(0, Vec::len),
            panels: panels.len(),
            reused: panels.iter().filter(|panel| source(panel) == "reused").count(),
            method: panels
                .iter()
                .find_map(|panel| panel.pointer("/reused/method").and_then(Value::as_str))
                .map(str::to_owned),
            fallbacks: panels
                .iter()
                .filter(|panel| matches!(source(panel).as_str(), "simplified" | "placeholder"))
                .count(),
            sheets: document
                .get("characters")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter(|character| character.get("sheets").and_then(Value::as_array).is_some_and(|s| !s.is_empty()))
                .count(),
        }
    }

    /// Panels that cost an image task.
    fn drawn(&self) -> usize {
        self.panels - self.reused
    }

    fn describe(&self) -> String {
        let reused = match &self.method {
            Some(method) => format!("{} reused by the scene cache ({method})", self.reused),
            None => format!("{} reused", self.reused),
        };
        let fallbacks = if self.fallbacks > 0 { format!(", {} FALLBACKS", self.fallbacks) } else { String::new() };
        format!("{} pages, {} panels ({reused}{fallbacks}), {} character sheets", self.pages, self.panels, self.sheets)
    }
}

/// When a task was made, in ms since the epoch (task ids are UUIDv7).
fn made_at_ms(task_id: &str) -> Option<i64> {
    let id: atelier_core::TaskId = task_id.parse().ok()?;
    let (seconds, nanos) = id.0.get_timestamp()?.to_unix();
    Some(seconds as i64 * 1000 + i64::from(nanos / 1_000_000))
}

/// When the panels' image tasks (reused ones left out) were made, in seconds after
/// the first: `0.0 0.1 … 8.3`.
fn panel_timeline(document: &Value) -> String {
    let mut made: Vec<i64> = document
        .pointer("/art/panels")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|panel| panel.get("source").and_then(Value::as_str) != Some("reused"))
        .filter_map(|panel| panel.get("task_id").and_then(Value::as_str).and_then(made_at_ms))
        .collect();
    made.sort_unstable();
    made.dedup();
    let first = made.first().copied().unwrap_or(0);
    made.iter().map(|at| format!("{:.1}", (at - first) as f64 / 1000.0)).collect::<Vec<_>>().join(" ")
}

async fn create_run(http: &reqwest::Client, base: &str, body: &Value) -> Result<String> {
    let response = http.post(format!("{base}/api/v1/pipelines")).json(body).send().await?;
    let status = response.status();
    let created: Value = response.json().await.context("the created run")?;
    match created["id"].as_str() {
        Some(id) if status.is_success() => Ok(id.to_owned()),
        _ => bail!("no run (HTTP {status}): {created}"),
    }
}

/// Starts a run and waits (checking every 10 ms) until it has completed.
pub(crate) async fn run_once(server: &Server, body: Value) -> Result<Finished> {
    let http = client(1, &server.key)?;
    let started = Instant::now();
    let id = create_run(&http, &server.base, &body).await?;
    let run = loop {
        let run = get_json(&http, &format!("{}/api/v1/pipelines/{id}", server.base)).await?;
        match run["status"].as_str() {
            Some("completed") => break run,
            Some("failed" | "cancelled") => bail!("the run ended {}: {}", run["status"], run["error"]),
            _ => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    };
    let elapsed = started.elapsed();
    let version = |vid: &str| format!("{}/api/v1/pipelines/{id}/versions/{vid}", server.base);
    let tree = get_json(&http, &format!("{}/api/v1/pipelines/{id}/versions", server.base)).await?;
    let mut phases = BTreeMap::new();
    for node in tree["versions"].as_array().into_iter().flatten() {
        if node["kind"].as_str() != Some("phase") {
            continue;
        }
        let version = get_json(&http, &version(node["id"].as_str().unwrap_or_default())).await?;
        let phase = version["phase"].as_u64().unwrap_or(0) as u32;
        phases.insert(phase, version["elapsed_ms"].as_i64());
    }
    let head = run["head_version_id"].as_str().context("a completed run without a head version")?;
    let mut head = get_json(&http, &version(head)).await?;
    let document = head["document"].take();
    Ok(Finished { elapsed, phases, document })
}

/// The settings of every server here: run limits off, a fast sweep.
pub(crate) fn env() -> Vec<(&'static str, String)> {
    vec![
        ("ATELIER__PIPELINES__SWEEP_MS", "1000".to_owned()),
        ("ATELIER__PIPELINES__MAX_PER_HOUR", "0".to_owned()),
        ("ATELIER__PIPELINES__MAX_ACTIVE_PER_USER", "0".to_owned()),
    ]
}

pub(crate) fn run_body(text: &str) -> Value {
    json!({
        "text": text,
        "feedback_mode": { "enabled": false },
        "deadline_seconds": DEADLINE_SECONDS,
        "options": { "max_parallel": MAX_PARALLEL },
    })
}

fn within(met: bool) -> &'static str {
    if met { "met" } else { "MISSED" }
}

fn memory_goal(hwm_kib: u64) -> String {
    format!("goal < 500 MB: {}", within(hwm_kib * 1024 < MEMORY_GOAL_BYTES))
}

pub async fn run(plan: &Plan, report: &mut Report) -> Result<()> {
    let started = Instant::now();
    if let Err(error) = builtin(plan, report).await {
        report.remark(format!("manga: the built-in engines' runs failed: {error:#}"));
    }
    if let Err(error) = emulated(plan, report, true).await {
        report.remark(format!("manga: the emulated Gemini run failed: {error:#}"));
    }
    if let Err(error) = emulated(plan, report, false).await {
        report.remark(format!("manga: the planner with the emulated Imagen 4 failed: {error:#}"));
    }
    if let Err(error) = many(plan, report).await {
        report.remark(format!("manga: the runs at once failed: {error:#}"));
    }
    report.remark(format!("manga: figure 9 took {:.0} s", started.elapsed().as_secs_f64()));
    Ok(())
}

/// 1: the built-in engines, end to end.
async fn builtin(plan: &Plan, report: &mut Report) -> Result<()> {
    let scope = "manga";
    for &chars in &plan.manga_chars {
        eprintln!("[{scope}] built-in engines, {chars} characters");
        let server = Server::start(&plan.server, &Backend::Sqlite, &env()).await?;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let before = server.memory()?;
        let finished = run_once(&server, run_body(&japanese_story(chars)?)).await?;
        let after = server.memory()?;
        let seconds = finished.elapsed.as_secs_f64();
        let goal = match chars {
            5_000 => format!("goal < 10 s: {}; ", within(seconds < 10.0)),
            50_000 => format!("goal < 60 s: {}; ", within(seconds < 60.0)),
            _ => String::new(),
        };
        report.add(
            scope,
            format!("phases 1-7, built-in engines, {} characters", thousands(chars)),
            format!("{seconds:.2}"),
            "s",
            format!(
                "{goal}{}; {}; server RSS {} MiB before, peak {} MiB ({})",
                finished.describe_phases(),
                Made::of(&finished.document).describe(),
                mib(before.rss_kib),
                mib(after.hwm_kib),
                memory_goal(after.hwm_kib)
            ),
        );
        server.stop(report, &format!("{scope} built-in {chars}"));
    }
    Ok(())
}

/// The emulated Gemini's latency for its `n`-th request (from 1), as the rules of
/// [`emulated`] give it: 1st 10 s, every 2nd 12 s, every 3rd 8 s, else none.
fn gemini_latency_ms(n: u64) -> u64 {
    if n <= 1 {
        SEED_LATENCIES_MS[0]
    } else if n.is_multiple_of(2) {
        SEED_LATENCIES_MS[1]
    } else if n.is_multiple_of(3) {
        SEED_LATENCIES_MS[2]
    } else {
        0
    }
}

/// 2: through the Google emulator, Imagen 4 at 8 s an image; the text phases by the
/// emulated Gemini at the seed's latencies (`gemini`), or by the planner.
async fn emulated(plan: &Plan, report: &mut Report, gemini: bool) -> Result<()> {
    let scope = "manga";
    // The first rule that fires wins (requests to generateContent 1: 10 s; 2 and 4:
    // 12 s; 3: 8 s), counted per endpoint; every :predict is held 8 s.
    let mut flags: Vec<String> = vec!["--steps".into(), "0".into()];
    for rule in [
        format!("generate_content:first=1:latency={}", SEED_LATENCIES_MS[0]),
        format!("generate_content:every=2:latency={}", SEED_LATENCIES_MS[1]),
        format!("generate_content:every=3:latency={}", SEED_LATENCIES_MS[2]),
        format!("predict:always:latency={IMAGE_LATENCY_MS}"),
    ] {
        flags.push("--fault".into());
        flags.push(rule);
    }
    let google = Emulated {
        subcommand: "google",
        banner: "Google emulator listening on http://",
        credentials: api_key(),
        flags,
        section: "GOOGLE",
        base_path: "/v1beta",
        url_setting: UrlSetting::BaseUrl,
        first_poll_ms: 0,
        extra_env: env(),
        model: GEMINI,
        body: |_| json!({}),
        create_counter: "generate_content",
        create_call: "generateContent",
        other_counters: &["predict"],
        setup: "the seed's latencies".to_owned(),
    };
    let text_model = if gemini { GEMINI } else { "local/planner" };
    eprintln!("[{scope}] emulated Google: {text_model} and {IMAGEN} at the seed's latencies");
    let (emulator, server): (Emulator, Server) = google.start(&plan.server).await?;
    let mut body = run_body(&japanese_story(5_000)?);
    body["text_model"] = json!(text_model);
    body["image_model"] = json!(IMAGEN);
    let finished = run_once(&server, body).await?;
    let after = server.memory()?;
    let stats = emulator.stats(&client(1, &server.key)?).await?;
    let count = |counter: &str| stats.get(counter).and_then(Value::as_u64).unwrap_or(0);
    let (text_calls, image_calls) = (count("generate_content"), count("predict"));
    let made = Made::of(&finished.document);
    // The critical path: the text (the emulated latencies, or the planner's phases
    // 1, 3 and 4 as measured), the sheets' round (all at once, up to the worker's
    // concurrency), the panels' rounds, and the local phases 6 and 7 as measured.
    let text_ms = if gemini {
        (1..=text_calls).map(gemini_latency_ms).sum::<u64>()
    } else {
        [1, 3, 4].iter().map(|&phase| finished.phase_ms(phase).max(0) as u64).sum()
    };
    let sheet_rounds = made.sheets.div_ceil(EMULATED_WORKERS) as u64;
    let panel_rounds = (made.drawn() as u64).div_ceil(MAX_PARALLEL);
    let local_ms = (finished.phase_ms(6) + finished.phase_ms(7)).max(0) as u64;
    let bound_ms = text_ms + (sheet_rounds + panel_rounds) * IMAGE_LATENCY_MS + local_ms;
    let wall_ms = finished.elapsed.as_millis() as i64;
    let over_ms = wall_ms - bound_ms as i64;
    let over_pct = 100.0 * over_ms as f64 / bound_ms.max(1) as f64;
    let expected_images = (made.sheets + made.drawn()) as u64;
    let images_note = if image_calls == expected_images {
        String::new()
    } else {
        format!(" (EXPECTED {expected_images}: sheets + panels drawn)")
    };
    let (name, text_part) = if gemini {
        (
            "phases 1-7, emulated Gemini (10, 12, 8, 12 s) and Imagen 4 (8 s), 5,000 characters",
            format!("text {:.0} s ({text_calls} generateContent calls)", text_ms as f64 / 1000.0),
        )
    } else {
        (
            "phases 1-7, planner text and emulated Imagen 4 (8 s), 5,000 characters",
            format!("text phases 1, 3, 4 as measured {:.2} s", text_ms as f64 / 1000.0),
        )
    };
    report.add(
        scope,
        name,
        format!("{:.2}", finished.elapsed.as_secs_f64()),
        "s",
        format!(
            "critical path {:.2} s = {text_part} + sheets {sheet_rounds} x 8 s ({} sheets at once) + panels \
             {panel_rounds} x 8 s ({} drawn, {MAX_PARALLEL} at once) + phases 6-7 as measured {:.2} s; \
             over it by {over_ms} ms ({over_pct:+.1} %, goal within 5 %: {}); {image_calls} :predict calls{images_note}; \
             {}; the panels' image tasks made at +[{}] s; {}; server peak RSS {} MiB",
            bound_ms as f64 / 1000.0,
            made.sheets,
            made.drawn(),
            local_ms as f64 / 1000.0,
            within(over_pct.abs() <= 5.0),
            made.describe(),
            panel_timeline(&finished.document),
            finished.describe_phases(),
            mib(after.hwm_kib),
        ),
    );
    server.stop(report, &format!("{scope} emulated ({text_model})"));
    drop(emulator);
    Ok(())
}

/// Runs by status, from the list (pages of 100).
async fn statuses(http: &reqwest::Client, base: &str) -> Result<BTreeMap<String, usize>> {
    let mut counts = BTreeMap::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!("{base}/api/v1/pipelines?limit=100");
        if let Some(cursor) = &cursor {
            url.push_str("&cursor=");
            url.push_str(cursor);
        }
        let page = get_json(http, &url).await?;
        for run in page["runs"].as_array().into_iter().flatten() {
            *counts.entry(run["status"].as_str().unwrap_or("?").to_owned()).or_default() += 1;
        }
        match page["next_cursor"].as_str() {
            Some(next) if !next.is_empty() => cursor = Some(next.to_owned()),
            _ => return Ok(counts),
        }
    }
}

/// What the watchers measured, per route.
#[derive(Default)]
struct Watched {
    run_us: Vec<u64>,
    tasks_us: Vec<u64>,
    errors: BTreeMap<String, usize>,
}

/// One GET, timed; its latency kept when it answered 200.
pub(crate) async fn timed_get(
    http: &reqwest::Client,
    url: &str,
    latencies: &mut Vec<u64>,
    errors: &mut BTreeMap<String, usize>,
) {
    let sent = Instant::now();
    let outcome = match http.get(url).send().await {
        Ok(response) => {
            let status = response.status();
            match response.bytes().await {
                Ok(_) if status.is_success() => Ok(()),
                Ok(_) => Err(format!("HTTP {}", status.as_u16())),
                Err(error) => Err(error_kind(&error)),
            }
        }
        Err(error) => Err(error_kind(&error)),
    };
    match outcome {
        Ok(()) => latencies.push(sent.elapsed().as_micros() as u64),
        Err(kind) => *errors.entry(kind).or_default() += 1,
    }
}

/// 3: many runs at once (built-in engines), and the API's latency meanwhile.
async fn many(plan: &Plan, report: &mut Report) -> Result<()> {
    let scope = "manga";
    let n = plan.manga_runs;
    eprintln!("[{scope}] {n} runs at once");
    // One user's runs of one story: without the scene cache off they would share
    // their panels, and no run would draw its own.
    let mut settings = env();
    settings.push(("ATELIER__PIPELINES__SCENE_CACHE", "false".to_owned()));
    let server = Server::start(&plan.server, &Backend::Sqlite, &settings).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = server.memory()?;
    let load_before = load_average();
    let body = Arc::new(run_body(&japanese_story(5_000)?));
    let base = server.base.clone();

    // Create them all, 16 requests in flight.
    let http = client(16, &server.key)?;
    let started = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let mut creators = Vec::new();
    for _ in 0..16 {
        let (http, base, body, next) = (http.clone(), base.clone(), Arc::clone(&body), Arc::clone(&next));
        creators.push(tokio::spawn(async move {
            let mut made = Vec::new();
            while next.fetch_add(1, Ordering::Relaxed) < n {
                let sent = Instant::now();
                let id = create_run(&http, &base, &body).await;
                made.push((id.map_err(|e| format!("{e:#}")), sent.elapsed().as_micros() as u64));
            }
            made
        }));
    }
    let mut ids = Vec::with_capacity(n);
    let mut create_us = Vec::with_capacity(n);
    let mut create_errors: Vec<String> = Vec::new();
    for creator in creators {
        for (id, us) in creator.await.context("a create client panicked")? {
            create_us.push(us);
            match id {
                Ok(id) => ids.push(id),
                Err(error) => create_errors.push(error),
            }
        }
    }
    let created_in = started.elapsed();
    if ids.is_empty() {
        bail!("no run was created: {}", create_errors.first().map_or("", String::as_str));
    }
    create_us.sort_unstable();

    // The watchers: each reads a run (round robin over them) then the task list, a
    // pause after each request, until every run has ended.
    let ids = Arc::new(ids);
    let done = Arc::new(AtomicBool::new(false));
    let turn = Arc::new(AtomicUsize::new(0));
    let mut watchers = Vec::new();
    for _ in 0..WATCHERS {
        let http = client(1, &server.key)?;
        let (ids, done, turn, base) = (Arc::clone(&ids), Arc::clone(&done), Arc::clone(&turn), base.clone());
        watchers.push(tokio::spawn(async move {
            let mut watched = Watched::default();
            while !done.load(Ordering::Relaxed) {
                let id = &ids[turn.fetch_add(1, Ordering::Relaxed) % ids.len()];
                timed_get(&http, &format!("{base}/api/v1/pipelines/{id}"), &mut watched.run_us, &mut watched.errors)
                    .await;
                tokio::time::sleep(WATCH_PAUSE).await;
                timed_get(&http, &format!("{base}/api/v1/tasks?limit=20"), &mut watched.tasks_us, &mut watched.errors)
                    .await;
                tokio::time::sleep(WATCH_PAUSE).await;
            }
            watched
        }));
    }

    // Every 500 ms: how many runs have ended.
    let lister = client(1, &server.key)?;
    let mut first_done: Option<Duration> = None;
    let mut last = Err(anyhow::anyhow!("not listed yet"));
    let (all_done, counts) = loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        if started.elapsed() > MANY_TIMEOUT {
            done.store(true, Ordering::Relaxed);
            bail!("runs still going {} s after the start: {last:?}", MANY_TIMEOUT.as_secs());
        }
        last = statuses(&lister, &base).await;
        let Ok(counts) = &last else { continue };
        let ended: usize = ["completed", "failed", "cancelled"].iter().filter_map(|s| counts.get(*s)).sum();
        if ended > 0 && first_done.is_none() {
            first_done = Some(started.elapsed());
        }
        if ended >= ids.len() {
            break (started.elapsed(), counts.clone());
        }
    };
    done.store(true, Ordering::Relaxed);
    let after = server.memory()?;
    let mut watched = Watched::default();
    for watcher in watchers {
        let mut one = watcher.await.context("a watcher panicked")?;
        watched.run_us.append(&mut one.run_us);
        watched.tasks_us.append(&mut one.tasks_us);
        for (kind, count) in one.errors {
            *watched.errors.entry(kind).or_default() += count;
        }
    }
    watched.run_us.sort_unstable();
    watched.tasks_us.sort_unstable();
    let q = |sorted: &[u64], x: f64| quantile(sorted, x).map_or(0.0, |us| us as f64 / 1000.0);
    let completed = counts.get("completed").copied().unwrap_or(0);
    let unfinished: Vec<String> =
        counts.iter().filter(|(status, _)| status.as_str() != "completed").map(|(s, c)| format!("{c} {s}")).collect();
    let ended_badly =
        if unfinished.is_empty() { String::new() } else { format!(" (NOT COMPLETED: {})", unfinished.join(", ")) };
    let create_errors = if create_errors.is_empty() {
        String::new()
    } else {
        format!("; {} CREATES FAILED, first: {}", create_errors.len(), create_errors[0])
    };
    report.add(
        scope,
        format!("{n} runs at once, built-in engines, 5,000 characters each"),
        format!("{:.1}", all_done.as_secs_f64()),
        "s",
        format!(
            "until all ended: {completed} of {} completed{ended_badly}, the first after {:.1} s; created in {:.2} s \
             (POST p50 {:.1} ms, p99 {:.1} ms{create_errors}); scene cache off; server RSS {} MiB before, peak {} MiB \
             ({}); load average {load_before} before, {} after",
            ids.len(),
            first_done.unwrap_or_default().as_secs_f64(),
            created_in.as_secs_f64(),
            q(&create_us, 0.5),
            q(&create_us, 0.99),
            mib(before.rss_kib),
            mib(after.hwm_kib),
            memory_goal(after.hwm_kib),
            load_average()
        ),
    );
    for (route, sorted) in
        [("GET /api/v1/pipelines/{id}", &watched.run_us), ("GET /api/v1/tasks?limit=20", &watched.tasks_us)]
    {
        let p99 = q(sorted, 0.99);
        report.add(
            scope,
            format!("  {route} while they run, p99"),
            format!("{p99:.1}"),
            "ms",
            format!(
                "goal < {API_GOAL_MS:.0} ms: {}; p50 {:.1} ms, max {:.1} ms over {} requests from {WATCHERS} clients \
                 ({} ms pause after each request); {}",
                within(p99 < API_GOAL_MS),
                q(sorted, 0.5),
                q(sorted, 1.0),
                thousands(sorted.len()),
                WATCH_PAUSE.as_millis(),
                describe_errors(&watched.errors)
            ),
        );
    }
    server.stop(report, &format!("{scope} {n} at once"));
    Ok(())
}
