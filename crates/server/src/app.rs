//! Building the application from its configuration, and running it: the HTTP
//! server and, unless disabled, the workers in the same process.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use atelier_assets::ObjectAssetStore;
use atelier_core::account::{AccountService, AccountSettings};
use atelier_core::catalog::Catalog;
use atelier_core::circuit::Circuits;
use atelier_core::events::EventBus;
use atelier_core::pipeline::{Engine, PipelineService};
use atelier_core::ports::{AccountStore, AssetStore, PipelineStore, PromptStore, Provider, Store};
use atelier_core::prompt::PromptService;
use atelier_core::task::TaskService;
use atelier_core::worker::Worker;
use atelier_db::{Database, DatabaseOptions};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::Config;

/// What every handler can reach, behind one `Arc`: axum clones the state for every
/// extractor and layer of every request, and a clone of the parts themselves (a
/// dozen `Arc`s, a watch receiver, the event bus's sender) took 5 % of a status
/// read's CPU under load.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The parts of [`AppState`].
pub struct Shared {
    pub tasks: Arc<TaskService>,
    pub config: Arc<Config>,
    pub started_at: Instant,
    /// Turns true when the server begins to shut down: long answers (event streams,
    /// `Prefer: wait`) end early so that the drain is not held up by them.
    pub shutdown: watch::Receiver<bool>,
    /// Each service's circuit breaker, as this process sees it.
    pub circuits: Arc<Circuits>,
    pub accounts: Arc<AccountService>,
    /// Prompt trees (seed 003).
    pub prompts: Arc<PromptService>,
    /// Pipeline runs (seed 001).
    pub pipelines: Arc<PipelineService>,
    /// Signs and checks shareable links to output files.
    pub links: Arc<crate::links::LinkSigner>,
    /// Requests per minute per user (`user_limits.<role>.requests_per_minute`),
    /// counted in the database so that the limit holds across instances.
    pub request_limits: Arc<dyn atelier_core::ports::RateLimits>,
    /// The database and the file store as the workers see them (health).
    pub storage: atelier_core::storage::StorageWatch,
    /// Remote workers (the pull protocol).
    pub pull: Arc<atelier_core::pull::PullService>,
    /// Seed 002's 3D jobs.
    pub three_d: Arc<atelier_core::three_d::ThreeDService>,
    /// Users' locations and the gazetteer (seed 000's location service).
    pub locations: Arc<atelier_core::location::LocationService>,
    /// Users' webhooks (issue 17).
    pub webhooks: Arc<atelier_core::webhook::WebhookService>,
}

/// A built application: state plus what the workers need.
pub struct App {
    pub state: AppState,
    pub database: Database,
    worker: Worker,
    stop: watch::Sender<bool>,
    /// Sends webhook deliveries (started with the server or the workers).
    dispatcher: Arc<atelier_core::webhook::Dispatcher>,
    /// Deletes what is past its time (`[retention]`), when enabled.
    retention: Option<Arc<atelier_core::retention::Cleanup>>,
}

impl App {
    /// Connects storage, applies migrations, and assembles the services.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        Self::build_with_providers(config, Vec::new()).await
    }

    /// As [`App::build`], with more services beside the built-in ones (tests use
    /// this to put providers with scripted behaviour behind the real worker).
    pub async fn build_with_providers(config: Config, extra: Vec<Arc<dyn Provider>>) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&config.data.dir)
            .with_context(|| format!("creating the data dir {}", config.data.dir.display()))?;
        let database_url = config.database_url();
        let options =
            DatabaseOptions { max_connections: config.database.max_connections, ..DatabaseOptions::default() };
        let database = Database::connect(&database_url, &options)
            .await
            .with_context(|| format!("opening the database {}", atelier_db::redact_url(&database_url)))?;
        database.migrate().await.context("applying database migrations")?;
        let storage_url = config.storage_url()?;
        let assets: Arc<dyn AssetStore> = Arc::new(
            ObjectAssetStore::from_url(&storage_url)
                .with_context(|| format!("opening the asset store {}", atelier_db::redact_url(&storage_url)))?
                .with_limits(config.media.limits()),
        );
        let store: Arc<dyn Store> = Arc::new(database.clone());
        let retention = config.retention.cleanup(&database, store.clone(), assets.clone());
        let services = atelier_providers::services(&config.providers, &config.engines)?;
        if config.metrics.enabled {
            crate::metrics::install();
        }
        let catalog = Arc::new(Catalog::new(services.into_iter().chain(extra).collect()));
        let events = EventBus::new();
        atelier_db::listen_for_changes(&database, events.clone());
        let circuits = Arc::new(Circuits::new(config.providers.circuit_settings()));
        let inputs = Arc::new(
            crate::inputs::StoredInputs::new(store.clone(), assets.clone(), config.fetch.policy())
                .with_limits(config.media.limits()),
        );
        let worker = Worker::new(
            store.clone(),
            assets.clone(),
            catalog.clone(),
            events.clone(),
            config.worker_settings(),
            circuits.clone(),
            inputs.clone(),
        )
        .with_submit_limits(Arc::new(atelier_db::DatabaseRateLimits::new(database.clone(), "submit")));
        // The gazetteer (18 MiB, about 0.2 s to build in a release build) is built by
        // the first request that needs a place, not here: a server, or a test, that
        // never resolves one never pays for it.
        let locations = Arc::new(atelier_core::location::LocationService::new(Arc::new(database.clone())));
        let prompt_store: Arc<dyn PromptStore> = Arc::new(database.clone());
        let prompts = Arc::new(PromptService::new(prompt_store.clone()));
        let tasks = Arc::new(
            TaskService::new(
                store.clone(),
                prompt_store,
                assets,
                catalog,
                events,
                config.task_rules(),
                circuits.clone(),
            )
            .with_input_check(inputs),
        );
        let pull = Arc::new(atelier_core::pull::PullService::new(
            Arc::new(database.clone()),
            store,
            tasks.clone(),
            worker.clone(),
            config.pull.settings(),
        ));
        let three_d = Arc::new(atelier_core::three_d::ThreeDService::new(
            tasks.clone(),
            pull.clone(),
            circuits.clone(),
            config.three_d.settings(),
        ));
        let (stop, shutdown) = watch::channel(false);
        let secret_box = config.auth.secret_box(&config.data.dir)?;
        let account_settings = AccountSettings {
            session_ttl: std::time::Duration::from_secs(config.auth.session_ttl_secs.max(60)),
            ..AccountSettings::default()
        };
        let account_store: Arc<dyn AccountStore> = Arc::new(database.clone());
        let accounts = Arc::new(AccountService::new(account_store.clone(), secret_box, account_settings));
        let pipeline_store: Arc<dyn PipelineStore> = Arc::new(database.clone());
        let (webhooks, dispatcher) = build_webhooks(&config, &database, pipeline_store.clone());
        let mut engine =
            Engine::new(pipeline_store, tasks.clone(), account_store, vec![atelier_core::pipeline::manga::pipeline()]);
        if config.pipelines.scene_cache {
            engine = engine.with_scene_cache(atelier_core::pipeline::scene_cache::SceneCache::new(
                Arc::new(crate::embedding::LazyEmbedder::new(config.pipelines.embedding_model_dir.clone())),
                config.pipelines.scene_cache_threshold,
                std::time::Duration::from_secs(u64::from(config.pipelines.scene_cache_hours) * 3600),
            ));
        }
        let engine = Arc::new(engine.with_retention(config.pipelines.retention()));
        let links = Arc::new(crate::links::LinkSigner::from_secret(&config.auth.secret_key_text(&config.data.dir)?));
        let pipelines = Arc::new(PipelineService::new(engine, config.pipelines.rules()));
        let state = AppState(Arc::new(Shared {
            tasks,
            config: Arc::new(config),
            started_at: Instant::now(),
            shutdown,
            circuits,
            accounts,
            prompts,
            pipelines,
            links,
            request_limits: Arc::new(atelier_db::DatabaseRateLimits::new(database.clone(), "requests")),
            storage: worker.storage().clone(),
            pull,
            three_d,
            locations,
            webhooks,
        }));
        Ok(Self { state, database, worker, stop, dispatcher, retention })
    }

    /// Serves HTTP on `listener` (and runs workers when enabled) until `shutdown`
    /// resolves; then stops accepting, drains the workers and returns.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let stop_tx = self.stop.clone();
        let stop_rx = self.state.shutdown.clone();
        let metrics = crate::metrics::serve_separately(&self.state, stop_rx.clone()).await?;
        let worker_handle =
            self.state.config.worker.enabled.then(|| tokio::spawn(self.worker.clone().run(stop_rx.clone())));
        // Without workers here, leases still expire: remote workers' tasks are put
        // back (and chains settled) by a sweep of their own.
        let sweeper = (!self.state.config.worker.enabled).then(|| self.sweep_periodically(stop_rx.clone()));
        let refresher = self.refresh_catalog_periodically(stop_rx.clone());
        let driver = self.state.config.worker.enabled.then(|| self.drive_pipelines(stop_rx.clone())).flatten();
        let maintenance = self.database.maintain(STATISTICS_EVERY);
        let webhooks = self.run_webhooks(&stop_rx);
        let retention = self.state.config.retention.spawn(self.retention.as_ref(), stop_rx.clone());
        let router = crate::router::router(self.state.clone());
        let http_stop = stop_rx.clone();
        tokio::spawn(async move {
            shutdown.await;
            let _ = stop_tx.send(true);
        });
        tracing::info!(address = %listener.local_addr()?, "listening");
        let open_files = crate::http::fd::raise_open_file_limit();
        let settings = crate::http::Settings::new(&self.state.config.server, open_files);
        let mut http = tokio::spawn(async move { crate::http::serve(listener, router, &settings, http_stop).await });
        let mut stopped = stop_rx.clone();
        let http = tokio::select! {
            // The accept loop ends only once stopped: the stop first, then the drain.
            biased;
            _ = stopped.wait_for(|stop| *stop) => Some(http),
            served = &mut http => {
                served.context("the HTTP server's task failed")?;
                // A stop just after the start can end the accept loop (it had no
                // connection to drain) before this select sees the stop itself.
                if !*stop_rx.borrow() {
                    anyhow::bail!("the HTTP server stopped before it was asked to");
                }
                None
            }
        };
        let drained = async {
            if let Some(http) = http
                && let Err(error) = http.await
            {
                tracing::warn!(%error, "the HTTP server's task failed while draining");
            }
            if let Some(handle) = worker_handle {
                let _ = handle.await;
            }
            for handle in webhooks {
                let _ = handle.await;
            }
        };
        let finished = self.drain(drained).await;
        for handle in [refresher, maintenance, driver, sweeper, metrics, retention].into_iter().flatten() {
            handle.abort();
        }
        if finished {
            self.close_database().await;
        }
        Ok(())
    }

    /// Waits for `work` at most `server.drain_secs`; false when the time ran out
    /// (the database gone, a provider call that hangs, a client that keeps a
    /// stream open): the process then exits with that work in flight. Nothing is
    /// lost: its leases expire and another process takes its tasks.
    async fn drain(&self, work: impl Future<Output = ()>) -> bool {
        let limit = std::time::Duration::from_secs(self.state.config.server.drain_secs);
        if tokio::time::timeout(limit, work).await.is_ok() {
            return true;
        }
        tracing::warn!(
            drain_secs = limit.as_secs(),
            "draining took longer than server.drain_secs; exiting with work in flight \
             (its leases expire and other processes take those tasks)"
        );
        false
    }

    /// Closes the pool, waiting a few seconds at most for connections in use.
    async fn close_database(&self) {
        if tokio::time::timeout(std::time::Duration::from_secs(5), self.database.close()).await.is_err() {
            tracing::warn!("the database's connections did not close within 5 s; exiting without them");
        }
    }

    /// Sweeps expired leases and waiting chains every half lease, for a server
    /// that runs no workers of its own.
    fn sweep_periodically(&self, mut stop: watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
        let worker = self.worker.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(worker.sweep_every());
            loop {
                tokio::select! {
                    _ = tick.tick() => worker.sweep().await,
                    changed = stop.changed() => if changed.is_err() || *stop.borrow() { return },
                }
            }
        })
    }

    /// Refreshes the model catalog once at the start (in the background: services
    /// that list their own models, such as a Stable Diffusion server's checkpoints,
    /// learn them without holding the start up), then every `models.refresh_secs`
    /// (when set) until the server stops.
    fn refresh_catalog_periodically(&self, mut stop: watch::Receiver<bool>) -> Option<tokio::task::JoinHandle<()>> {
        let every = std::time::Duration::from_secs(self.state.config.models.refresh_secs);
        let tasks = self.state.tasks.clone();
        if every.is_zero() {
            return Some(tokio::spawn(async move {
                let refreshed = tasks.catalog().refresh().await;
                tracing::debug!(models = refreshed.models, failures = refreshed.failures.len(), "catalog refreshed");
            }));
        }
        Some(tokio::spawn(async move {
            let refreshed = tasks.catalog().refresh().await;
            tracing::debug!(models = refreshed.models, failures = refreshed.failures.len(), "catalog refreshed");
            let mut tick = tokio::time::interval(every);
            tick.tick().await;
            loop {
                let stopped = async {
                    let _ = stop.wait_for(|stop| *stop).await;
                };
                tokio::select! {
                    _ = tick.tick() => {}
                    () = stopped => return,
                }
                let refreshed = tasks.catalog().refresh().await;
                tracing::debug!(models = refreshed.models, failures = refreshed.failures.len(), "catalog refreshed");
            }
        }))
    }

    /// Moves pipeline runs forward (on task events and a periodic sweep) until the
    /// server stops, when `[pipelines] enabled`.
    fn drive_pipelines(&self, mut stop: watch::Receiver<bool>) -> Option<tokio::task::JoinHandle<()>> {
        let config = &self.state.config.pipelines;
        if !config.enabled {
            return None;
        }
        let engine = self.state.pipelines.engine().clone();
        let every = std::time::Duration::from_millis(config.sweep_ms);
        Some(tokio::spawn(engine.drive(every, async move {
            let _ = stop.wait_for(|stop| *stop).await;
        })))
    }

    /// Writes webhook deliveries from task and run events (and the crash sweep)
    /// and sends them, until the server stops, when `[webhooks] enabled`.
    fn run_webhooks(&self, stop: &watch::Receiver<bool>) -> Vec<tokio::task::JoinHandle<()>> {
        let config = &self.state.config.webhooks;
        if !config.enabled {
            return Vec::new();
        }
        let stopped = |mut stop: watch::Receiver<bool>| async move {
            let _ = stop.wait_for(|stop| *stop).await;
        };
        let relay = self.state.webhooks.relay().clone();
        let events = self.state.tasks.events().clone();
        let runs = Some(self.state.pipelines.engine().events().clone());
        let every = std::time::Duration::from_secs(config.sweep_secs.max(1));
        vec![
            tokio::spawn(relay.run(events, runs, every, stopped(stop.clone()))),
            tokio::spawn(self.dispatcher.clone().run(stopped(stop.clone()))),
        ]
    }

    /// Runs workers only (`atelier worker`), until `shutdown` resolves.
    pub async fn run_workers(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let metrics = crate::metrics::serve_separately(&self.state, self.state.shutdown.clone()).await?;
        let stop_tx = self.stop.clone();
        tokio::spawn(async move {
            shutdown.await;
            let _ = stop_tx.send(true);
        });
        let maintenance = self.database.maintain(STATISTICS_EVERY);
        let driver = self.drive_pipelines(self.state.shutdown.clone());
        let webhooks = self.run_webhooks(&self.state.shutdown);
        let retention = self.state.config.retention.spawn(self.retention.as_ref(), self.state.shutdown.clone());
        let mut worker = tokio::spawn(self.worker.clone().run(self.state.shutdown.clone()));
        let mut stopped = self.state.shutdown.clone();
        let worker = tokio::select! {
            ended = &mut worker => {
                // The worker ended without a stop (it only does when it failed):
                // the rest stops too.
                let _ = self.stop.send(true);
                ended.context("the worker's task failed")?;
                None
            }
            _ = stopped.wait_for(|stop| *stop) => Some(worker),
        };
        let drained = async {
            if let Some(worker) = worker {
                let _ = worker.await;
            }
            for handle in webhooks {
                let _ = handle.await;
            }
        };
        let finished = self.drain(drained).await;
        for handle in [maintenance, driver, metrics, retention].into_iter().flatten() {
            handle.abort();
        }
        if finished {
            self.close_database().await;
        }
        Ok(())
    }
}

/// The webhook service and its dispatcher over the database, sending through the
/// fetch policy's SSRF guard; payloads carry the task view the API answers.
fn build_webhooks(
    config: &Config,
    database: &Database,
    runs: Arc<dyn PipelineStore>,
) -> (Arc<atelier_core::webhook::WebhookService>, Arc<atelier_core::webhook::Dispatcher>) {
    use atelier_core::webhook::{Dispatcher, Relay, TaskRenderer, WebhookService};
    let store: Arc<dyn atelier_core::ports::WebhookStore> = Arc::new(database.clone());
    let tasks: Arc<dyn atelier_core::ports::TaskStore> = Arc::new(database.clone());
    let render: TaskRenderer =
        Arc::new(|task| serde_json::to_value(crate::api::views::TaskView::from(task)).unwrap_or_default());
    let relay = Arc::new(Relay::new(store.clone(), tasks, Some(runs), render));
    let timeout = std::time::Duration::from_secs(config.webhooks.timeout_secs.max(1));
    let sender = Arc::new(crate::api::webhooks::sender::HttpSender::new(config.fetch.policy(), timeout));
    let dispatcher =
        Arc::new(Dispatcher::new(store.clone(), sender.clone(), config.webhooks.dispatch_settings(), relay.wake()));
    (Arc::new(WebhookService::new(store, sender, relay)), dispatcher)
}

/// How often the database's planner statistics are refreshed (SQLite's
/// `PRAGMA optimize`, as its documentation advises for long-lived connections).
const STATISTICS_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    tracing::info!("shutdown requested; draining");
}
