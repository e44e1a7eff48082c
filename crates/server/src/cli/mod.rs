//! The command line: `serve`, `worker`, `migrate`, `config example` run the server
//! side; `generate`, `manga`, `tasks` and `healthcheck` talk to a running server; `admin`
//! works on the database offline. `emulate` serves a provider's protocol locally;
//! it exists with the `emulators` feature only (on by default).

mod admin;
mod client;
#[cfg(feature = "emulators")]
mod emulate;
mod generate;
mod manga;
mod places;
mod server;
mod tasks;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "atelier", version, about = "A self-hosted server for generative media")]
pub struct Cli {
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
    /// Generate with a model and, with --wait, download the result.
    Generate(generate::GenerateArgs),
    /// A story becomes a manga (seed 001's seven phases, to a PDF and CBZ); --feedback to
    /// steer it between phases.
    Manga(manga::MangaArgs),
    /// List, show, cancel or retry tasks.
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
    /// Exit 0 when the server answers healthy (for containers and scripts).
    Healthcheck(ClientArgs),
    /// Accounts, offline (straight to the database): `admin create-key`.
    Admin {
        #[command(subcommand)]
        command: admin::AdminCommand,
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

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve(args) => server::serve(args).await,
        Command::Worker(args) => server::worker(args).await,
        Command::Migrate(args) => server::migrate(args).await,
        Command::Config { command: ConfigCommand::Example } => {
            print!("{}", crate::config::EXAMPLE);
            Ok(ExitCode::SUCCESS)
        }
        Command::Config { command: ConfigCommand::Show(args) } => server::show_config(args),
        Command::Generate(args) => generate::run(args).await,
        Command::Manga(args) => manga::run(args).await,
        Command::Tasks { command, client } => tasks::run(command, client).await,
        Command::Places { command, client } => places::run(command, client).await,
        Command::Healthcheck(args) => client::healthcheck(&args).await,
        #[cfg(feature = "emulators")]
        Command::Emulate { command } => emulate::run(command).await,
        Command::Admin { command } => admin::run(command).await,
    }
}
