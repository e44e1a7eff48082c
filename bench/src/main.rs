//! Atelier benchmarks. Run `scripts/bench` (it builds the release binaries, starts a
//! throwaway PostgreSQL cluster and runs this program), or directly:
//!
//! ```text
//! target/release/atelier-bench [--quick] [--only sqlite|postgres|render|kie|openai|depth|providers|manga|3d|media|webhooks|s3|instances|slowloris|hostile|peers|thumbnails|beside] [--concurrency N] [--server PATH]
//! ```
//!
//! Figures:
//! 1. end-to-end throughput of the benchmark-only `local/instant` engine through the
//!    real server binary (created → completed), SQLite and PostgreSQL;
//! 2. `GET /api/v1/tasks/{id}` requests per second and latency under a fixed number
//!    of keep-alive connections;
//! 3. placeholder render and thumbnail time per 1024×1024 image, in process;
//! 4. server memory with 10,000 pending tasks;
//! 5. Kie.ai through `atelier emulate kie`: tasks/s with a zero-latency emulator, and
//!    server memory with 10,000 submitted tasks waiting on an emulator that never finishes;
//! 6. OpenAI through `atelier emulate openai`: tasks/s of `openai/gpt-image-1` images
//!    (synchronous) and `openai/sora-2` videos (create, poll, download) with a
//!    zero-latency emulator, the emulator's own time per image, and server memory with
//!    10,000 videos that never finish (the emulator's `never_finish` fault); and the
//!    latency the OpenAI-compatible `/v1/images/generations` adds over calling the
//!    emulator directly (p50, p99 at 1 and 32 in flight);
//! 7. depth: drain rates, reads at a million tasks, a lone task behind a backlog;
//! 8. providers: VolcEngine and Google through their emulators (tasks/s of each call
//!    style), and the cost of one VolcEngine signature;
//! 9. manga (seed 001, phases 1 to 7, the seed's performance table): the built-in
//!    engines on a 5,000-, 10,000- and 50,000-character story (seconds per phase,
//!    pages and panels, server memory); the run's time through the emulated Gemini
//!    (10, 12, 8 and 12 s a phase) and Imagen 4 (8 s an image, 5 at once) against
//!    its critical path; 100 runs at once (time until all completed, peak memory,
//!    the API's p50/p99 latency meanwhile);
//! 10. 3d (seed 002): the built-in `local/relief` in process per quality (mesh, GLB,
//!     OBJ zip, STL, the GLB's thumbnail) on a photo-like picture and a cut-out, and
//!     image-to-3D jobs through the server and emulated TRELLIS workers under locust
//!     (`bench/locust/three_d.py`; `scripts/bench` installs locust in a venv);
//! 11. media (seed 000): speech's audio seconds per CPU second with Piper and with
//!     espeak-ng, the slideshow's video seconds per second, and the gazetteer's
//!     reverse lookups and place-name searches a second, in process;
//! 12. s3: the asset store's puts and gets (64 KiB and 4 MiB objects, 1 and 8 in
//!     flight) on a local directory and on S3 (moto's server, started here);
//! 13. instances: 1, 2 and 3 `atelier serve` processes on one PostgreSQL database,
//!     instant tasks (created → completed) and status reads spread over them, and
//!     the release (and dist, when built) binary's size.
//! 14. slowloris: ordinary requests' latency with and without thousands of
//!     connections sending their headers slowly, when those are cut, and how one
//!     address past its cap is refused.
//! 15. hostile: CPU milliseconds per hostile file (decompression bombs, files cut
//!     short, polyglots, looping Exif, 10,000-frame animations, a huge MP4): the
//!     old store path against `vet_image`/`vet_media`, and an upload, in process.
//! 16. peers (issue 24), started here and driven by the same load generator in the
//!     same run: seed 004's own design (`bench/peers/seed004`, FastAPI + SQLAlchemy +
//!     SQLite under uvicorn) against Atelier on SQLite for instant tasks created →
//!     completed, status reads at 32 connections and memory; LiteLLM's proxy against
//!     Atelier for what each adds to `POST /v1/images/generations` over the OpenAI
//!     emulator called directly (1 and 32 in flight); a summary table of the ratios
//!     against the issue's aims (`scripts/bench` makes the peers' venvs).
//! 17. thumbnails (issue 24): the same noisy 1024² PNGs to 256 px WebP by Atelier's
//!     `make_thumbnail`, Pillow and libvips (`bench/peers/thumbnails.py`), one core
//!     each: ms per image and the ratios, mean bytes and SSIM against one reference.
//! 18. beside (issue 24): seed 001's manga run (built-in engines, 5,000 characters)
//!     and a seed 002 image-to-3D job on `local/relief`, timed alone and again while
//!     another user creates 1,000 instant tasks a second; the API's p99 meanwhile and
//!     what the flood did (accepted, completed, left queued).
//!
//! PostgreSQL runs when `ATELIER_BENCH_POSTGRES_URL` holds an admin URL (a database
//! is created per server, as the tests create theirs, with the test kit's
//! `create_postgres_database`). Everything talks to 127.0.0.1 only.
//!
//! Here: the arguments, the sections in order, the report's heading. The sections:
//! `backend` (SQLite or PostgreSQL: `throughput`, `reads`, `memory`), `auth`,
//! `studio` and `render` in process, `kie` and `openai` through their emulators
//! (`emulator`, `emulated`), `three_d` (in process and under locust), `media` (in process), `peers`
//! (seed 004's design and LiteLLM's proxy beside Atelier, with `openai_compat`). Beside them:
//! `plan` (what to run), `report` (the figures), `server` (the server under test),
//! `load` (its HTTP load), `cpu` and `machine` (readings from /proc).

mod auth;
mod backend;
mod beside;
mod cpu;
mod depth;
mod emulated;
mod emulator;
mod fixed_upstream;
mod hostile;
mod instances;
mod kie;
mod load;
mod machine;
mod manga;
mod media;
mod memory;
mod noise;
mod openai;
mod openai_compat;
mod peers;
mod plan;
mod providers;
mod reads;
mod render;
mod report;
mod s3;
mod server;
mod slowloris;
mod studio;
mod three_d;
mod throughput;
mod thumbnails;
mod webhooks;

use std::time::Instant;

use anyhow::{Result, bail};

use crate::emulator::EMULATED_WORKERS;
use crate::load::CREATE_CLIENTS;
use crate::machine::{cpu_model, load_average};
use crate::report::Report;
use crate::server::{Backend, MAX_QUEUED};

/// Holds the admin URL of the PostgreSQL cluster to run against.
const POSTGRES_URL_ENV: &str = "ATELIER_BENCH_POSTGRES_URL";

#[tokio::main]
async fn main() -> Result<()> {
    let plan = plan::parse_args()?;
    let started = Instant::now();
    if (plan.sqlite
        || plan.postgres
        || plan.kie
        || plan.openai
        || plan.depth
        || plan.providers
        || plan.manga
        || plan.three_d
        || plan.instances
        || plan.slowloris
        || plan.peers
        || plan.beside)
        && !plan.server.exists()
    {
        bail!("server binary {} not found (build it: cargo build --release -p atelier)", plan.server.display());
    }
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let postgres_url = std::env::var(POSTGRES_URL_ENV).ok().filter(|u| !u.is_empty());
    let mut report = Report::default();
    let load_before = load_average();

    if plan.render
        && let Err(error) = auth::checks(&plan, &mut report).await
    {
        report.remark(format!("auth benchmark failed: {error:#}"));
    }
    if plan.render
        && let Err(error) = auth::status_reads(&plan, &mut report).await
    {
        report.remark(format!("status-read benchmark failed: {error:#}"));
    }
    if plan.render
        && let Err(error) = studio::run(&plan, &mut report).await
    {
        report.remark(format!("studio benchmark failed: {error:#}"));
    }
    if plan.render
        && let Err(error) = render::run(&plan, &mut report).await
    {
        report.remark(format!("render benchmark failed: {error:#}"));
    }
    if plan.sqlite
        && let Err(error) = backend::run(&plan, &Backend::Sqlite, &mut report).await
    {
        report.remark(format!("sqlite: benchmark failed: {error:#}"));
    }
    if plan.kie
        && let Err(error) = kie::run(&plan, &mut report).await
    {
        report.remark(format!("kie: benchmark failed: {error:#}"));
    }
    if plan.providers
        && let Err(error) = providers::run(&plan, &mut report).await
    {
        report.remark(format!("providers: benchmark failed: {error:#}"));
    }
    if plan.manga
        && let Err(error) = manga::run(&plan, &mut report).await
    {
        report.remark(format!("manga: benchmark failed: {error:#}"));
    }
    if plan.three_d
        && let Err(error) = three_d::run(&plan, &mut report).await
    {
        report.remark(format!("3d: benchmark failed: {error:#}"));
    }
    if plan.media
        && let Err(error) = media::run(&plan, &mut report).await
    {
        report.remark(format!("media: benchmark failed: {error:#}"));
    }
    if plan.webhooks
        && let Err(error) = webhooks::run(&plan, &mut report).await
    {
        report.remark(format!("webhooks: benchmark failed: {error:#}"));
    }
    if plan.s3
        && let Err(error) = s3::run(&plan, &mut report).await
    {
        report.remark(format!("s3: benchmark failed: {error:#}"));
    }
    if plan.openai
        && let Err(error) = openai::run(&plan, &mut report).await
    {
        report.remark(format!("openai: benchmark failed: {error:#}"));
    }
    if plan.hostile
        && let Err(error) = hostile::run(&plan, &mut report).await
    {
        report.remark(format!("hostile: benchmark failed: {error:#}"));
    }
    if plan.slowloris
        && let Err(error) = slowloris::run(&plan, &mut report).await
    {
        report.remark(format!("slowloris: benchmark failed: {error:#}"));
    }
    if plan.thumbnails
        && let Err(error) = thumbnails::run(&plan, &mut report).await
    {
        report.remark(format!("thumbnails: benchmark failed: {error:#}"));
    }
    if plan.beside
        && let Err(error) = beside::run(&plan, &mut report).await
    {
        report.remark(format!("beside: benchmark failed: {error:#}"));
    }
    let mut peer_summary = None;
    if plan.peers {
        match peers::run(&plan, &mut report).await {
            Ok(summary) => peer_summary = Some(summary),
            Err(error) => report.remark(format!("peers: benchmark failed: {error:#}")),
        }
    }
    if plan.postgres {
        match &postgres_url {
            Some(url) => {
                if let Err(error) = backend::run(&plan, &Backend::Postgres(url.clone()), &mut report).await {
                    report.remark(format!("postgres: benchmark failed: {error:#}"));
                }
            }
            None => report.remark(format!("postgres: skipped ({POSTGRES_URL_ENV} is not set; scripts/bench sets it)")),
        }
    }
    if plan.instances {
        match &postgres_url {
            Some(url) => {
                if let Err(error) = instances::run(&plan, url, &mut report).await {
                    report.remark(format!("instances: benchmark failed: {error:#}"));
                }
            }
            None => report.remark(format!("instances: skipped ({POSTGRES_URL_ENV} is not set; scripts/bench sets it)")),
        }
    }
    if plan.depth {
        if let Err(error) = depth::run(&plan, &Backend::Sqlite, &mut report).await {
            report.remark(format!("sqlite depth: benchmark failed: {error:#}"));
        }
        match &postgres_url {
            Some(url) => {
                if let Err(error) = depth::run(&plan, &Backend::Postgres(url.clone()), &mut report).await {
                    report.remark(format!("postgres depth: benchmark failed: {error:#}"));
                }
            }
            None => report.remark(format!("postgres depth: skipped ({POSTGRES_URL_ENV} is not set)")),
        }
    }

    println!();
    println!(
        "Atelier benchmarks ({} run, {:.0} s)",
        if plan.quick { "quick" } else { "full" },
        started.elapsed().as_secs_f64()
    );
    println!("machine: {cores} cores ({}); the load generator runs on the same cores as the server", cpu_model());
    println!("load average before the run: {load_before}; after: {}", load_average());
    println!(
        "CPU notes: from /proc during each measurement: server = the atelier process, bench = this load \
         generator, rest of machine = everything else (PostgreSQL's processes on postgres; any other work)"
    );
    println!("server: {} serve, loopback; release build", plan.server.display());
    println!(
        "server settings: log.level=warn, engines.instant.enabled=true, queue.max_queued={MAX_QUEUED}, \
         worker.concurrency as noted, everything else default (database.max_connections=8)"
    );
    println!(
        "throughput: POST /api/v1/tasks {{\"model\":\"local/instant\",\"input\":{{\"seed\":i}}}} with {CREATE_CLIENTS} \
         requests in flight; clock from first create sent to the first 10 ms check that finds nothing \
         pending/retrying/processing; fresh server and database per run"
    );
    if plan.kie {
        println!(
            "kie: `atelier emulate kie --no-rate-limits` on loopback; POST /api/v1/tasks \
             {{\"model\":\"kie/imagen-4\",\"input\":{{\"prompt\":\"bench i\"}}}} with {CREATE_CLIENTS} in flight; \
             providers.kie.submits_per_10s=1000000, worker.concurrency={EMULATED_WORKERS}, SQLite"
        );
    }
    if plan.openai {
        println!(
            "openai: `atelier emulate openai` on loopback (no rate limits to turn off); POST /api/v1/tasks \
             {{\"model\":\"openai/gpt-image-1\",\"input\":{{\"prompt\":\"bench i\",\"size\":\"1024x1024\",\
             \"quality\":\"low\"}}}} and {{\"model\":\"openai/sora-2\",\"input\":{{\"prompt\":\"bench i\",\
             \"seconds\":\"4\"}}}} with {CREATE_CLIENTS} in flight; the emulator's openai-poll-after-ms header \
             overrides providers.openai.first_poll_ms, so both are set; worker.concurrency={EMULATED_WORKERS}, SQLite"
        );
    }
    if plan.three_d {
        println!(
            "3d in process: local/relief's steps on one thread, {reps} timed runs each (after one untimed), on a \
             {side}x{side} photo-like RGB picture (smooth gradients plus noise) and a {side}x{side} RGBA cut-out (a \
             five-lobed shape on a transparent background); the texture is the picture as PNG (the engine's \
             at most {side} px); the thumbnail is the gallery's (atelier_assets::model_still::thumbnail)",
            reps = plan.three_d_reps,
            side = three_d::SIDE,
        );
        println!(
            "3d under locust: {locust} -f bench/locust/three_d.py --headless -u {users} -r {rate} -t {secs}s --host \
             <server> --csv <tmp>/locust --only-summary; each user: POST /api/v1/generate/image-to-3d \
             {{\"image_url\":\"upl_…\",\"quality\":\"{quality}\",\"output_formats\":[\"glb\",\"obj\"]}}, GET \
             /api/v1/jobs/{{id}}/status every {poll} s until completed, GET /api/v1/jobs/{{id}}/result, again; the \
             upload is the photo-like PNG; {workers} `atelier emulate trellis-worker` processes (one task at a time \
             each, default --steps 4 --step-ms 0: no GPU time, the relief made at once) on one worker key for \
             {model}; server on SQLite, fresh data dir, default settings; locust, the server and the workers share \
             the machine's {cores} cores",
            locust = std::env::var(three_d::LOCUST_ENV).unwrap_or_else(|_| "locust".to_owned()),
            users = plan.three_d_users,
            rate = plan.three_d_spawn_rate,
            secs = plan.three_d_duration.as_secs(),
            quality = three_d::LOCUST_QUALITY,
            poll = three_d::POLL_SECS,
            workers = plan.three_d_workers,
            model = three_d::TRELLIS_MODEL,
        );
    }
    if plan.peers {
        println!(
            "peers: seed 004 = bench/peers/seed004/app.py under uvicorn --workers 1 (one process, {workers} asyncio \
             background workers, SQLite WAL, fresh database), Atelier = {server} serve on SQLite with \
             worker.concurrency={concurrency}; both get the same creates ({CREATE_CLIENTS} in flight, \
             load::create_tasks_at) and the same status reads (32 keep-alive connections, reads::ReadLoad); \
             gateway: a fixed-answer upstream in this process (one 64x64 PNG), then `atelier emulate openai` \
             (a 1024x1024 PNG drawn per call), as the upstream of both Atelier and LiteLLM's proxy \
             (litellm --num_workers 1, LITELLM_LOCAL_MODEL_COST_MAP=True, master_key set, its default \
             logging); every server, peer, emulator and this load generator share the machine's {cores} cores, \
             the CPU split of each figure is in its notes",
            workers = peers::seed004_workers(),
            server = plan.server.display(),
            concurrency = plan.peer_concurrency,
        );
    }
    if postgres_url.is_some() && plan.postgres {
        println!("postgres: throwaway local cluster (fsync=off, synchronous_commit=off, full_page_writes=off)");
    }
    println!();
    report.print();
    if let Some(summary) = peer_summary {
        summary.print(cores);
    }
    Ok(())
}
