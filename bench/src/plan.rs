//! What to run: the sections and their sizes (`--quick` or full), from the command line.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::POSTGRES_URL_ENV;

#[derive(Debug, Clone)]
pub struct Plan {
    pub quick: bool,
    pub sqlite: bool,
    pub postgres: bool,
    pub render: bool,
    pub kie: bool,
    pub openai: bool,
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
    pub server: PathBuf,
}

pub fn parse_args() -> Result<Plan> {
    let mut quick = false;
    let mut only: Option<String> = None;
    let mut concurrency: Option<usize> = None;
    let mut server: Option<PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => quick = true,
            "--only" => only = Some(args.next().context("--only needs sqlite, postgres, render, kie or openai")?),
            "--concurrency" => {
                let value = args.next().context("--concurrency needs a number")?;
                concurrency = Some(value.parse().with_context(|| format!("--concurrency {value:?}"))?);
            }
            "--server" => server = Some(PathBuf::from(args.next().context("--server needs a path")?)),
            "-h" | "--help" => {
                println!(
                    "usage: atelier-bench [--quick] [--only sqlite|postgres|render|kie|openai] [--concurrency N] [--server PATH]\n\
                     PostgreSQL runs when {POSTGRES_URL_ENV} holds an admin URL."
                );
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?} (try --help)"),
        }
    }
    let (sqlite, postgres, render, kie, openai) = match only.as_deref() {
        None => (true, true, true, true, true),
        Some("sqlite") => (true, false, false, false, false),
        Some("postgres") => (false, true, false, false, false),
        Some("render") => (false, false, true, false, false),
        Some("kie") => (false, false, false, true, false),
        Some("openai") => (false, false, false, false, true),
        Some(other) => bail!("--only {other:?}: expected sqlite, postgres, render, kie or openai"),
    };
    let server = match server {
        Some(path) => path,
        None => std::env::current_exe()
            .context("locating this executable")?
            .parent()
            .context("this executable has no directory")?
            .join("atelier"),
    };
    let concurrencies = match concurrency {
        Some(n) => vec![n],
        None => vec![16, 32, 64],
    };
    Ok(if quick {
        Plan {
            quick,
            sqlite,
            postgres,
            render,
            kie,
            openai,
            concurrencies,
            small_tasks: 200,
            large_tasks: 1_000,
            read_connections: vec![32],
            read_warmup: Duration::from_millis(300),
            read_duration: Duration::from_secs(2),
            render_images: 5,
            memory_tasks: 1_000,
            kie_tasks: 200,
            kie_memory_tasks: 1_000,
            openai_tasks: 200,
            openai_memory_tasks: 1_000,
            openai_probe_images: 20,
            server,
        }
    } else {
        Plan {
            quick,
            sqlite,
            postgres,
            render,
            kie,
            openai,
            concurrencies,
            small_tasks: 1_000,
            large_tasks: 10_000,
            read_connections: vec![32, 64],
            read_warmup: Duration::from_secs(1),
            read_duration: Duration::from_secs(10),
            render_images: 50,
            memory_tasks: 10_000,
            kie_tasks: 1_000,
            kie_memory_tasks: 10_000,
            openai_tasks: 1_000,
            openai_memory_tasks: 10_000,
            openai_probe_images: 50,
            server,
        }
    })
}
