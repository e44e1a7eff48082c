//! What to run: the sections and their sizes (`--quick` or full), from the command line.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Parser, ValueEnum};

use crate::POSTGRES_URL_ENV;

#[derive(Debug, Clone)]
pub struct Plan {
    pub quick: bool,
    pub sqlite: bool,
    pub postgres: bool,
    pub render: bool,
    pub kie: bool,
    pub openai: bool,
    pub depth: bool,
    /// Pending tasks of each drain run of the depth section.
    pub depth_pending: Vec<u64>,
    /// Finished tasks the read routes and the cold start are measured over: on
    /// SQLite, the embedded data dir (issue 24: ten million), and on PostgreSQL.
    pub depth_finished_sqlite: u64,
    pub depth_finished_postgres: u64,
    /// Requests per read route.
    pub depth_reads: usize,
    /// Another user's backlog the lone task is created behind.
    pub depth_backlog: u64,
    /// Worker concurrencies to try; the fastest is used for the large run.
    pub concurrencies: Vec<usize>,
    /// Tasks per concurrency trial (the "small" throughput figure).
    pub small_tasks: usize,
    /// Tasks of the large throughput run.
    pub large_tasks: usize,
    pub read_connections: Vec<usize>,
    pub read_warmup: Duration,
    pub read_duration: Duration,
    pub render_images: usize,
    pub memory_tasks: usize,
    /// Tasks of the Kie.ai throughput run through the emulator.
    pub kie_tasks: usize,
    /// Tasks left waiting on a slow Kie.ai emulator for the memory figure.
    pub kie_memory_tasks: usize,
    /// Tasks of each OpenAI throughput run (images, videos) through the emulator.
    pub openai_tasks: usize,
    /// Videos left waiting on a never-finishing OpenAI emulator for the memory figure.
    pub openai_memory_tasks: usize,
    /// Images asked of the OpenAI emulator directly, one at a time, for its render time.
    pub openai_probe_images: usize,
    /// Runs VolcEngine and Google through their emulators.
    pub providers: bool,
    /// Seed 001's pipeline: all seven phases on the built-in engines, through
    /// emulated latencies, and many runs at once.
    pub manga: bool,
    /// Story lengths of the built-in engines' runs, in characters.
    pub manga_chars: Vec<usize>,
    /// Runs started at once.
    pub manga_runs: usize,
    /// Tasks of each VolcEngine and Google throughput run.
    pub provider_tasks: usize,
    /// Seed 002's 3D: `local/relief` in process per quality, and image-to-3D jobs
    /// through the server and emulated TRELLIS workers under locust.
    pub three_d: bool,
    /// Timed repetitions of each in-process 3D step (per picture and quality).
    pub three_d_reps: usize,
    /// Locust's users (each one job at a time), their spawn rate per second, and the
    /// run's length.
    pub three_d_users: usize,
    pub three_d_spawn_rate: usize,
    pub three_d_duration: Duration,
    /// `atelier emulate trellis-worker` processes (each one task at a time).
    pub three_d_workers: usize,
    /// Seed 000's speech, video and places in process.
    pub media: bool,
    /// Timed runs of each speech engine and of the slideshow.
    pub media_reps: usize,
    /// Reverse lookups timed.
    pub media_lookups: usize,
    /// Webhook deliveries a second, in process.
    pub webhooks: bool,
    /// The asset store's puts and gets on a local directory and on S3 (moto).
    pub s3: bool,
    /// 1, 2 and 3 server processes on one PostgreSQL database.
    pub instances: bool,
    /// Slow clients: connections trickling their headers against ordinary requests' latency.
    pub slowloris: bool,
    /// Slow connections held at once (fewer when the open-file limit is lower).
    pub slowloris_connections: usize,
    /// How long the ordinary requests' latency is measured, with and without them.
    pub slowloris_window: Duration,
    /// Hostile files (issue 22): CPU per file before and after the `[media]` limits.
    pub hostile: bool,
    /// Most uploads of one hostile file averaged over.
    pub hostile_uploads: usize,
    /// Thumbnails against Pillow and libvips (issue 24), one core each.
    pub thumbnails: bool,
    /// Noisy 1024² PNGs made and thumbnailed, and the rounds over them.
    pub thumbnail_images: usize,
    pub thumbnail_reps: usize,
    /// Peers beside Atelier in one run (issue 24): seed 004's own design and LiteLLM's proxy.
    pub peers: bool,
    /// Atelier's worker concurrency in the peers section (`--concurrency`, else 32).
    pub peer_concurrency: usize,
    /// The manga run and a 3D job, alone and beside another user's flood of instant
    /// tasks (issue 24), and the flood's rate, tasks a second.
    pub beside: bool,
    pub beside_rate: usize,
    pub server: PathBuf,
}

/// Atelier benchmarks: runs the sections and prints the figures.
#[derive(Debug, Parser)]
#[command(
    name = "atelier-bench",
    override_usage = "atelier-bench [--quick] [--only sqlite|postgres|render|kie|openai|depth|providers|manga|3d|media|webhooks|s3|instances|slowloris|hostile|peers|thumbnails] [--concurrency N] [--server PATH]",
    after_help = format!("PostgreSQL runs when {POSTGRES_URL_ENV} holds an admin URL.")
)]
struct Args {
    /// Small runs (fewer tasks, shorter reads), for a first look.
    #[arg(long)]
    quick: bool,
    /// Runs one section only.
    #[arg(long, value_enum, value_name = "SECTION")]
    only: Option<Section>,
    /// The worker concurrency of the throughput runs [default: 16, 32 and 64 tried, the fastest kept]
    #[arg(long, value_name = "N")]
    concurrency: Option<usize>,
    /// The atelier binary [default: `atelier` beside this program]
    #[arg(long, value_name = "PATH")]
    server: Option<PathBuf>,
}

/// A section `--only` runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Section {
    /// Throughput, status reads and memory on SQLite.
    Sqlite,
    /// The same on PostgreSQL.
    Postgres,
    /// In process: authentication, the studio, placeholder render and thumbnails.
    Render,
    /// Kie.ai through its emulator.
    Kie,
    /// OpenAI through its emulator.
    Openai,
    /// Deep stores on both backends: drain rates, reads at a million tasks, a lone task.
    Depth,
    /// VolcEngine and Google through their emulators, and VolcEngine's signing cost.
    Providers,
    /// Seed 001's pipeline, phases 1 to 7: the built-in engines on 5,000, 10,000 and
    /// 50,000 characters, the emulated Gemini and Imagen 4 at the seed's latencies,
    /// and 100 runs at once.
    Manga,
    /// Seed 002's 3D: the built-in `local/relief` in process (mesh, GLB, OBJ zip, STL,
    /// thumbnail per quality), and image-to-3D jobs through the server and emulated
    /// TRELLIS workers under locust.
    #[value(name = "3d", alias = "three-d")]
    ThreeD,
    /// Seed 000's speech (audio seconds per CPU second, Piper and espeak-ng), the
    /// slideshow (video seconds per second) and places (reverse lookups a second).
    Media,
    /// Webhook deliveries a second to a loopback receiver, in process.
    Webhooks,
    /// The asset store's puts and gets, local directory against S3 (moto's server).
    S3,
    /// 1, 2 and 3 `atelier serve` processes on one PostgreSQL database: tasks/s and
    /// status reads/s with the load spread over them, and the binary's size.
    Instances,
    /// Slow clients: thousands of connections sending their headers slowly, ordinary
    /// requests' latency meanwhile, when they are cut; one address past its cap.
    Slowloris,
    /// Hostile files: CPU milliseconds per decompression bomb, cut-short file,
    /// polyglot, looping Exif, 10,000-frame animation and huge MP4, the old path
    /// against `vet_image`/`vet_media` in process and against an upload.
    Hostile,
    /// Thumbnails: the same noisy 1024² PNGs to 256 px WebP by Atelier, Pillow and
    /// libvips, one core each: ms per image, bytes and SSIM.
    Thumbnails,
    /// The pipelines beside a flood: seed 001's manga run (built-in engines, 5,000
    /// characters) and a seed 002 image-to-3D job, alone and while another user
    /// creates 1,000 instant tasks a second.
    Beside,
    /// Peers in the same run, with the same load generator: seed 004's own design
    /// (FastAPI + SQLAlchemy + SQLite) for tasks/s, status reads and memory, and
    /// LiteLLM's proxy for the latency a gateway adds to an image call.
    Peers,
}

/// `quick` or `full`, as the run is.
fn sized<T>(quick: bool, quick_value: T, full: T) -> T {
    if quick { quick_value } else { full }
}

/// The plan the command line asks for (`--help` and bad arguments exit here).
pub fn parse_args() -> Result<Plan> {
    let args = Args::parse();
    let quick = args.quick;
    let runs = |section| args.only.is_none_or(|only| only == section);
    let server = match args.server {
        Some(path) => path,
        None => std::env::current_exe()
            .context("locating this executable")?
            .parent()
            .context("this executable has no directory")?
            .join("atelier"),
    };
    let concurrencies = match args.concurrency {
        Some(n) => vec![n],
        None => vec![16, 32, 64],
    };
    Ok(Plan {
        quick,
        sqlite: runs(Section::Sqlite),
        postgres: runs(Section::Postgres),
        render: runs(Section::Render),
        kie: runs(Section::Kie),
        openai: runs(Section::Openai),
        depth: runs(Section::Depth),
        providers: runs(Section::Providers),
        manga: runs(Section::Manga),
        three_d: runs(Section::ThreeD),
        three_d_reps: sized(quick, 5, 30),
        three_d_users: sized(quick, 10, 20),
        three_d_spawn_rate: 5,
        three_d_duration: sized(quick, Duration::from_secs(15), Duration::from_secs(60)),
        three_d_workers: 4,
        media: runs(Section::Media),
        hostile: runs(Section::Hostile),
        hostile_uploads: sized(quick, 20, 50),
        thumbnails: runs(Section::Thumbnails),
        thumbnail_images: sized(quick, 10, 40),
        thumbnail_reps: sized(quick, 1, 3),
        peers: runs(Section::Peers),
        peer_concurrency: args.concurrency.unwrap_or(32),
        beside: runs(Section::Beside),
        beside_rate: 1_000,
        webhooks: runs(Section::Webhooks),
        s3: runs(Section::S3),
        instances: runs(Section::Instances),
        slowloris: runs(Section::Slowloris),
        slowloris_connections: sized(quick, 3_000, 10_000),
        slowloris_window: sized(quick, Duration::from_secs(3), Duration::from_secs(10)),
        media_reps: sized(quick, 3, 10),
        media_lookups: sized(quick, 100_000, 1_000_000),
        manga_chars: sized(quick, vec![5_000], vec![5_000, 10_000, 50_000]),
        manga_runs: sized(quick, 20, 100),
        provider_tasks: sized(quick, 200, 1_000),
        depth_pending: sized(quick, vec![1_000, 10_000], vec![1_000, 10_000, 100_000, 1_000_000]),
        depth_finished_sqlite: sized(quick, 100_000, 10_000_000),
        depth_finished_postgres: sized(quick, 100_000, 1_000_000),
        depth_reads: sized(quick, 50, 300),
        depth_backlog: sized(quick, 10_000, 100_000),
        concurrencies,
        small_tasks: sized(quick, 200, 1_000),
        large_tasks: sized(quick, 1_000, 10_000),
        read_connections: sized(quick, vec![32], vec![32, 64]),
        read_warmup: sized(quick, Duration::from_millis(300), Duration::from_secs(1)),
        read_duration: sized(quick, Duration::from_secs(2), Duration::from_secs(10)),
        render_images: sized(quick, 5, 50),
        memory_tasks: sized(quick, 1_000, 10_000),
        kie_tasks: sized(quick, 200, 1_000),
        kie_memory_tasks: sized(quick, 1_000, 10_000),
        openai_tasks: sized(quick, 200, 1_000),
        openai_memory_tasks: sized(quick, 1_000, 10_000),
        openai_probe_images: sized(quick, 20, 50),
        server,
    })
}
