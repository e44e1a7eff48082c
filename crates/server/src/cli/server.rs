//! The server-side commands.

use std::process::ExitCode;

use anyhow::Context;

use super::ServerArgs;
use crate::app::{App, shutdown_signal};
use crate::config::{Config, FlagOverrides};

fn load(args: &ServerArgs) -> anyhow::Result<Config> {
    let flags = FlagOverrides {
        listen: args.listen.clone(),
        data_dir: args.data_dir.clone(),
        database_url: args.database_url.clone(),
        storage_url: args.storage_url.clone(),
    };
    Config::load(args.config.as_deref(), &flags)
}

pub async fn serve(args: ServerArgs) -> anyhow::Result<ExitCode> {
    let config = load(&args)?;
    crate::telemetry::init(&config.log);
    tracing::info!(config = ?config.redacted(), "starting");
    let address = config.listen_addr()?;
    let app = App::build(config).await?;
    let listener = tokio::net::TcpListener::bind(address).await.with_context(|| format!("binding {address}"))?;
    eprintln!(
        "Atelier is listening on http://{}  (API docs: http://{}/docs)",
        listener.local_addr()?,
        listener.local_addr()?
    );
    app.serve(listener, shutdown_signal()).await?;
    Ok(ExitCode::SUCCESS)
}

pub async fn worker(args: ServerArgs) -> anyhow::Result<ExitCode> {
    let config = load(&args)?;
    crate::telemetry::init(&config.log);
    let app = App::build(config).await?;
    app.run_workers(shutdown_signal()).await?;
    Ok(ExitCode::SUCCESS)
}

pub async fn migrate(args: ServerArgs) -> anyhow::Result<ExitCode> {
    let config = load(&args)?;
    crate::telemetry::init(&config.log);
    let url = config.database_url();
    let database = atelier_db::Database::connect(&url, &atelier_db::DatabaseOptions::default()).await?;
    database.migrate().await?;
    eprintln!("migrations applied to {}", atelier_db::redact_url(&url));
    Ok(ExitCode::SUCCESS)
}

pub fn show_config(args: ServerArgs) -> anyhow::Result<ExitCode> {
    let config = load(&args)?.redacted();
    print!("{}", toml::to_string_pretty(&config).context("printing the configuration")?);
    Ok(ExitCode::SUCCESS)
}
