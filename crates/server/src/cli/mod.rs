//! The command line: `serve`, `worker`, `migrate`, `config example` run the server
//! side; `generate`, `manga`, `tasks`, `places` and `healthcheck` talk to a running
//! server; `admin` works on the database offline; `backup` and `restore` copy a
//! SQLite data dir (`backup.rs`); `completions` prints a shell's
//! completion script. `emulate` serves a provider's protocol locally; it exists with
//! the `emulators` feature only (on by default). The global `--output text|json`
//! (`output.rs`) says how the client commands answer and fail.

mod admin;
mod backup;
mod client;
mod completions;
#[cfg(feature = "emulators")]
mod emulate;
mod generate;
mod manga;
mod output;
mod places;
mod server;
mod tasks;
mod watch;
mod webhooks;

pub use output::Output;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

/// `atelier --version`: the crate's version and the git revision it was built from
/// (`build.rs`: `ATELIER_GIT_REVISION` when given, else `git rev-parse`, else `unknown`).
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (", env!("ATELIER_GIT_REVISION"), ")");

#[derive(Debug, Parser)]
#[command(name = "atelier", version = VERSION, about = "A self-hosted server for generative media")]
pub struct Cli {
    /// How client commands answer: `text` for people, `json` for scripts (one JSON
    /// document on stdout; a failure as `{"error","message","details"}` on stderr).
    #[arg(long, global = true, value_enum, default_value_t = Output::Text, env = "ATELIER_OUTPUT")]
    pub output: Output,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP API, the workers and the docs page.
    Serve(ServerArgs),
    /// Run workers only, against the same database as a server.
    Worker(ServerArgs),
    /// Apply database migrations and exit.
    Migrate(ServerArgs),
    /// Configuration helpers.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Generate with a model (`atelier generate MODEL PROMPT`) and, with --wait or
    /// --watch, save the outputs (a text model's answer is printed).
    Generate(generate::GenerateArgs),
    /// A story becomes a manga (seed 001's seven phases, to a PDF and CBZ); --feedback to
    /// steer it between phases.
    Manga(manga::MangaArgs),
    /// List, show, watch, cancel or retry tasks.
    Tasks {
        #[command(subcommand)]
        command: tasks::TasksCommand,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Seed 000's places: the nearest town to a point, places by name, nearby, and
    /// your saved locations.
    Places {
        #[command(subcommand)]
        command: places::PlacesCommand,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Webhooks: subscribe a URL to task and pipeline events, see deliveries, resend.
    Webhooks {
        #[command(subcommand)]
        command: webhooks::WebhooksCommand,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Exit 0 when the server answers healthy (for containers and scripts).
    Healthcheck(ClientArgs),
    /// A consistent copy of a SQLite data dir (database and files), taken while the
    /// server runs: `atelier backup OUT`.
    Backup(backup::BackupArgs),
    /// A backup brought back into an empty data dir, checked and migrated:
    /// `atelier restore BACKUP --data-dir DIR`.
    Restore(backup::RestoreArgs),
    /// Accounts, offline (straight to the database): `admin create-key`.
    Admin {
        #[command(subcommand)]
        command: admin::AdminCommand,
    },
    /// Print a shell's completion script (`atelier completions bash > …`).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Serve a provider's protocol locally (for trying and testing without an account).
    #[cfg(feature = "emulators")]
    Emulate {
        #[command(subcommand)]
        command: emulate::EmulateCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print every key with its default and its environment variable.
    Example,
    /// Print the effective configuration (secrets redacted).
    Show(ServerArgs),
}

/// Flags of the server-side commands; each also reads from the config file and
/// `ATELIER__SECTION__KEY` environment variables.
#[derive(Debug, Clone, Args)]
pub struct ServerArgs {
    /// A TOML config file.
    #[arg(long, env = "ATELIER_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on (default 127.0.0.1:8080).
    #[arg(long)]
    pub listen: Option<String>,
    /// Where the SQLite database and files live (default ./atelier-data).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// sqlite://PATH or postgres://… (default: SQLite in the data dir).
    #[arg(long)]
    pub database_url: Option<String>,
    /// file:///PATH or s3://bucket/prefix (default: files in the data dir).
    #[arg(long)]
    pub storage_url: Option<String>,
}

/// Flags of the client commands.
#[derive(Debug, Clone, Args)]
pub struct ClientArgs {
    /// The server's base URL.
    #[arg(long, global = true, env = "ATELIER_SERVER", default_value = "http://127.0.0.1:8080")]
    pub server: String,
    /// An API key (`atl_…`). Default: `ATELIER_API_KEY`, else the local CLI key the
    /// server keeps in its data dir.
    #[arg(long, global = true, env = "ATELIER_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// A config file whose `[client] api_key` (or `api_key_file`) to use.
    #[arg(long = "client-config", global = true, env = "ATELIER_CLIENT_CONFIG")]
    pub client_config: Option<PathBuf>,
    /// The data dir whose local CLI key to use when no key is given.
    #[arg(long = "key-dir", global = true, env = "ATELIER__DATA__DIR", default_value = "./atelier-data")]
    pub key_dir: PathBuf,
}

/// Runs a command; a client command's failure is reported here, in its `--output`
/// format, with its exit code (so `Ok` is returned for it).
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let out = cli.output;
    let is_client =
        !matches!(cli.command, Command::Serve(_) | Command::Worker(_) | Command::Migrate(_) | Command::Config { .. });
    match dispatch(cli.command, out).await {
        Err(error) if is_client => Ok(out.fail(&error)),
        answer => answer,
    }
}

async fn dispatch(command: Command, out: Output) -> anyhow::Result<ExitCode> {
    match command {
        Command::Serve(args) => server::serve(args).await,
        Command::Worker(args) => server::worker(args).await,
        Command::Migrate(args) => server::migrate(args).await,
        Command::Config { command: ConfigCommand::Example } => {
            print!("{}", crate::config::EXAMPLE);
            Ok(ExitCode::SUCCESS)
        }
        Command::Config { command: ConfigCommand::Show(args) } => server::show_config(args),
        Command::Generate(args) => generate::run(args, out).await,
        Command::Manga(args) => manga::run(args, out).await,
        Command::Tasks { command, client } => tasks::run(command, client, out).await,
        Command::Places { command, client } => places::run(command, client, out).await,
        Command::Webhooks { command, client } => webhooks::run(command, client, out).await,
        Command::Healthcheck(args) => client::healthcheck(&args, out).await,
        Command::Completions { shell } => completions::run(shell),
        #[cfg(feature = "emulators")]
        Command::Emulate { command } => emulate::run(command).await,
        Command::Admin { command } => admin::run(command, out).await,
        Command::Backup(args) => backup::backup(args, out).await,
        Command::Restore(args) => backup::restore(args, out).await,
    }
}
