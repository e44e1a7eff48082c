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
    crate::telemetry::init(&config.log, &config.telemetry, "serve")?;
    let address = config.listen_addr()?;
    let app = App::build(config).await?;
    log_summary(&app, "serve");
    let listener = tokio::net::TcpListener::bind(address).await.with_context(|| format!("binding {address}"))?;
    let local = listener.local_addr()?;
    first_run(&app, local).await?;
    eprintln!("Atelier is listening on http://{local}  (API docs: http://{local}/docs)");
    app.serve(listener, shutdown_signal()).await?;
    Ok(ExitCode::SUCCESS)
}

/// On an empty server: an admin, its one-time sign-in link (printed once) and the
/// local CLI's key (in the data dir, owner-only).
async fn first_run(app: &App, local: std::net::SocketAddr) -> anyhow::Result<()> {
    let Some(first) = app.state.accounts.first_run().await? else { return Ok(()) };
    let data_dir = &app.state.config.data.dir;
    let key_path = crate::config::auth::cli_key_path(data_dir);
    crate::config::auth::write_private(&key_path, &format!("{}\n", first.cli_key))?;
    let host = if local.ip().is_unspecified() { format!("127.0.0.1:{}", local.port()) } else { local.to_string() };
    eprintln!(
        "\nFirst run: created the admin account {}.\n  Sign in once (valid 24 h): http://{host}/api/v1/sessions/link?token={}\n  \
         The local CLI's key is in {} (atelier generate and atelier tasks use it).\n  \
         More keys: atelier admin create-key --data-dir {}\n",
        first.admin.email,
        first.sign_in_token,
        key_path.display(),
        data_dir.display(),
    );
    Ok(())
}

pub async fn worker(args: ServerArgs) -> anyhow::Result<ExitCode> {
    let config = load(&args)?;
    crate::telemetry::init(&config.log, &config.telemetry, "worker")?;
    let app = App::build(config).await?;
    log_summary(&app, "worker");
    app.run_workers(shutdown_signal()).await?;
    Ok(ExitCode::SUCCESS)
}

/// One line at the start with what matters of the effective configuration: where
/// it listens and keeps its data, the database and storage (credentials
/// redacted), the services that have models to offer, the workers. (`atelier
/// config show` prints all of it.)
fn log_summary(app: &App, role: &str) {
    let config = &app.state.config;
    let mut services: Vec<String> = Vec::new();
    for spec in app.state.tasks.catalog().models().iter().filter(|spec| spec.requires_config.is_none()) {
        if !services.contains(&spec.service) {
            services.push(spec.service.clone());
        }
    }
    let workers = if config.worker.enabled || role == "worker" {
        format!("{} at once", config.worker.concurrency)
    } else {
        "off (another process runs them)".to_owned()
    };
    tracing::info!(
        role,
        listen = %config.server.listen,
        data_dir = %config.data.dir.display(),
        database = %atelier_db::redact_url(&config.database_url()),
        storage = %config.storage_url().map(|url| atelier_db::redact_url(&url)).unwrap_or_default(),
        services = %services.join(", "),
        workers = %workers,
        version = env!("CARGO_PKG_VERSION"),
        "starting"
    );
}

pub async fn migrate(args: ServerArgs) -> anyhow::Result<ExitCode> {
    let config = load(&args)?;
    crate::telemetry::init(&config.log, &config.telemetry, "migrate")?;
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
