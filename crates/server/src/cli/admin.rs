//! `atelier admin create-key`: a key for a user, made straight in the database
//! (no server needed), printed alone on stdout so that scripts can capture it (or,
//! with `--output json`, with its id, role and user).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use atelier_core::account::{AccountService, AccountSettings, Role};
use clap::{Args, Subcommand};
use serde_json::json;

use super::output::Output;
use crate::config::{Config, FlagOverrides};

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create an API key (and the user, when missing); prints only the key.
    CreateKey(CreateKeyArgs),
}

#[derive(Debug, Args)]
pub struct CreateKeyArgs {
    /// The server's data dir (its database and server key live there).
    #[arg(long, env = "ATELIER__DATA__DIR", default_value = "./atelier-data")]
    pub data_dir: PathBuf,
    /// A config file, when the server uses one (PostgreSQL, say).
    #[arg(long, env = "ATELIER_CONFIG")]
    pub config: Option<PathBuf>,
    /// The database, when not the data dir's SQLite file.
    #[arg(long)]
    pub database_url: Option<String>,
    /// admin, member or viewer (a key never exceeds its user's role).
    #[arg(long, default_value = "admin")]
    pub role: String,
    /// The user's email (default: the first run's admin).
    #[arg(long, default_value = "admin@localhost")]
    pub user: String,
    /// What the key is for.
    #[arg(long, default_value = "created with atelier admin create-key")]
    pub name: String,
}

pub async fn run(command: AdminCommand, output: Output) -> anyhow::Result<ExitCode> {
    match command {
        AdminCommand::CreateKey(args) => create_key(args, output).await,
    }
}

async fn create_key(args: CreateKeyArgs, output: Output) -> anyhow::Result<ExitCode> {
    let role = Role::parse(&args.role).context("--role must be admin, member or viewer")?;
    let flags = FlagOverrides {
        data_dir: Some(args.data_dir.clone()),
        database_url: args.database_url.clone(),
        ..FlagOverrides::default()
    };
    let config = Config::load(args.config.as_deref(), &flags)?;
    std::fs::create_dir_all(&config.data.dir)
        .with_context(|| format!("creating the data dir {}", config.data.dir.display()))?;
    let url = config.database_url();
    let database = atelier_db::Database::connect(&url, &atelier_db::DatabaseOptions::default())
        .await
        .with_context(|| format!("opening the database {}", atelier_db::redact_url(&url)))?;
    database.migrate().await.context("applying database migrations")?;
    let secret_box = config.auth.secret_box(&config.data.dir)?;
    let accounts = AccountService::new(std::sync::Arc::new(database.clone()), secret_box, AccountSettings::default());
    let user = accounts.user_for_cli(&args.user, role).await?;
    let created = accounts.create_key_offline(&user, &args.name, role).await?;
    database.close().await;
    if created.key.role < role {
        eprintln!("note: {} is a {}, so the key is a {} key", user.email, user.role, created.key.role);
    }
    let answer = json!({
        "key": created.secret,
        "key_id": created.key.id.to_string(),
        "prefix": created.key.prefix,
        "role": created.key.role.to_string(),
        "user": user.email,
    });
    // Text: the key alone, for `KEY=$(atelier admin create-key)`.
    output.print(&answer, |_| created.secret.clone());
    Ok(ExitCode::SUCCESS)
}
