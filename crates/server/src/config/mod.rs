//! Configuration in layers: compiled defaults, then the TOML file (`--config`), then
//! `ATELIER__SECTION__KEY` environment variables, then command-line flags. Validated
//! at startup; the error names the key.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

pub mod auth;
pub mod log;
pub mod media;
pub mod metrics;
pub mod openai_api;
pub mod retention;
pub mod telemetry;
pub mod three_d;
pub mod webhooks;
pub mod websocket;

pub use atelier_core::Secret;
pub use atelier_providers::kie::KieConfig;
pub use atelier_providers::openai::{AzureConfig, OpenAiConfig};
pub use atelier_providers::{EnginesConfig, InstantConfig, LimitsConfig, ProvidersConfig};
pub use auth::AuthConfig;
pub use log::{LogConfig, Rotation};
pub use media::MediaConfig;
pub use metrics::MetricsConfig;
pub use openai_api::OpenAiApiConfig;
pub use retention::RetentionConfig;
pub use telemetry::TelemetryConfig;
pub use three_d::{PullConfig, ThreeDConfig};
pub use webhooks::WebhooksConfig;
pub use websocket::WebSocketConfig;

/// The example file: every key with its default and its environment variable.
/// `atelier config example` prints it; a test keeps it equal to the defaults.
pub const EXAMPLE: &str = include_str!("../../../../config/example.toml");

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub data: DataConfig,
    pub database: DatabaseConfig,
    pub storage: StorageConfig,
    pub worker: WorkerConfig,
    pub queue: QueueConfig,
    pub models: ModelsConfig,
    pub engines: EnginesConfig,
    pub providers: ProvidersConfig,
    /// Services to try in order for a model named without one:
    /// `[routing] imagen4 = ["google", "kie"]`.
    pub routing: std::collections::BTreeMap<String, Vec<String>>,
    pub auth: AuthConfig,
    pub fetch: FetchConfig,
    /// `[pipelines]`: multi-phase runs (seed 001's manga pipeline).
    pub pipelines: PipelinesConfig,
    /// Per-user limits by role: `[user_limits.member] max_concurrent_tasks = 4`.
    pub user_limits: atelier_core::account::RoleLimits,
    /// `[pull]`: models remote workers serve (the pull protocol).
    pub pull: PullConfig,
    /// `[three_d]`: seed 002's 3D job routes.
    pub three_d: ThreeDConfig,
    /// `[websocket]`: pings, idle and slow-reader limits of the WebSocket routes.
    pub websocket: WebSocketConfig,
    /// `[openai_api]`: the OpenAI-compatible routes under `/v1`.
    pub openai_api: OpenAiApiConfig,
    /// `[webhooks]`: sending users' webhooks.
    pub webhooks: WebhooksConfig,
    /// `[retention]`: how long each kind of stored data is kept, and the cleanup.
    pub retention: RetentionConfig,
    /// `[metrics]`: Prometheus metrics at `/metrics`.
    pub metrics: MetricsConfig,
    /// `[log]`: format, level, and stderr or rotated files.
    pub log: LogConfig,
    /// `[telemetry]`: traces over OTLP (off by default).
    pub telemetry: TelemetryConfig,
    /// `[media]`: what a file from outside may be (pixels, frames, duration, time).
    pub media: MediaConfig,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    pub listen: String,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// The largest file `POST /api/v1/uploads` takes.
    pub max_upload_bytes: usize,
    /// Longest `Prefer: wait=N` honoured, in seconds.
    pub max_wait_secs: u64,
    /// After SIGTERM, how long the server (or worker) may take to finish what it
    /// is doing (requests, running tasks, webhook sends) before it exits anyway,
    /// in seconds. What it left is not lost: its leases expire and another
    /// process takes the tasks.
    pub drain_secs: u64,
    /// A request's headers must arrive within this many seconds (also the longest
    /// an HTTP/1.1 connection waits kept alive for its next request).
    pub header_read_timeout_secs: u64,
    /// A connection with no request in flight for this many seconds is closed.
    pub idle_timeout_secs: u64,
    /// Open connections at most; 0: from the open-file limit (three quarters of
    /// it, at most 65,536). Past it a connection gets `503 too_many_connections`.
    pub max_connections: usize,
    /// Open connections from one client address at most (IPv6: per /64); 0: no cap.
    /// Behind a proxy every client has the proxy's address: raise it or set 0.
    pub max_connections_per_ip: usize,
    /// Serve HTTP/2 over plain TCP (h2c, prior knowledge) besides HTTP/1.1.
    pub http2: bool,
    /// Streams open at once on one HTTP/2 connection.
    pub http2_max_concurrent_streams: u32,
    /// Largest request head (request line and headers), in bytes.
    pub max_header_bytes: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DataConfig {
    pub dir: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// Empty: SQLite at `<data dir>/atelier.db`.
    pub url: String,
    pub max_connections: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    /// Empty: files under `<data dir>/files`.
    pub url: String,
    /// Free space (MiB) kept on the disks Atelier writes to (the file store's
    /// directory, SQLite's): under it the server is not ready and the worker waits.
    pub min_free_mb: u64,
    /// How often storage that failed is probed, in seconds.
    pub probe_secs: u64,
    /// When a task given back for storage is looked at again, in seconds.
    pub recheck_secs: u64,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self { url: String::new(), min_free_mb: 64, probe_secs: 5, recheck_secs: 20 }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorkerConfig {
    /// Run workers inside `atelier serve`.
    pub enabled: bool,
    pub concurrency: usize,
    pub lease_secs: u64,
    pub idle_poll_ms: u64,
    pub max_crashes: u32,
    pub backoff_base_ms: u64,
    pub backoff_max_ms: u64,
    pub poll_timeout_secs: u64,
    pub drain_timeout_secs: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QueueConfig {
    /// Tasks allowed to wait at once; past it, creates answer 429 with a
    /// `Retry-After` from the rate the queue drains.
    pub max_queued: u64,
    /// One user's tasks allowed to wait at once (0: only the overall limit), so that
    /// one user cannot fill the queue for everyone.
    pub max_queued_per_user: u64,
    pub pending_ttl_secs: u64,
    pub max_attempts: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelsConfig {
    pub default: String,
    /// Ask every service what it offers this often, in seconds (servers that list
    /// their own checkpoints or workflows); 0: only when an admin asks
    /// (`POST /api/v1/models/refresh`).
    pub refresh_secs: u64,
}

/// `[fetch]`: URLs the server fetches on a user's behalf (input images).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FetchConfig {
    /// Hosts (`name`, `name:port`) or addresses that may be fetched although they are
    /// loopback or private; everything else private is refused.
    pub allow: Vec<String>,
    pub max_bytes: usize,
    pub timeout_secs: u64,
}

impl Default for FetchConfig {
    fn default() -> Self {
        Self { allow: Vec::new(), max_bytes: 50 * 1024 * 1024, timeout_secs: 30 }
    }
}

impl FetchConfig {
    pub fn policy(&self) -> crate::fetch::FetchPolicy {
        crate::fetch::FetchPolicy {
            allow: self.allow.clone(),
            max_bytes: self.max_bytes.max(1),
            timeout: Duration::from_secs(self.timeout_secs.max(1)),
        }
    }
}

/// `[pipelines]`: multi-phase runs with a person in the loop.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PipelinesConfig {
    /// Whether this process moves runs forward (with its workers).
    pub enabled: bool,
    /// How often runs whose time has come are looked at, in milliseconds.
    pub sweep_ms: u64,
    /// The shortest and longest story accepted, in characters (seed 001: 5,000 to 50,000).
    pub min_chars: usize,
    pub max_chars: usize,
    /// Runs one user may have going at once; 0: no limit.
    pub max_active_per_user: u32,
    /// Runs one user may start per hour; 0: no limit.
    pub max_per_hour: u32,
    /// A run's time limit when the request names none (seed 001: 600 s).
    pub deadline_secs: u32,
    /// The text model of the phases when the request names none.
    pub text_model: String,
    /// The image model of character sheets and panels when the request names none.
    pub image_model: String,
    /// Whether panel images of alike scenes are reused (seed 001 2.3.2).
    pub scene_cache: bool,
    /// The cosine at or above which a scene's image is reused (seed 001: 0.85).
    pub scene_cache_threshold: f64,
    /// How recent a reused image must be, in hours (seed 001: 24).
    pub scene_cache_hours: u32,
    /// Where all-MiniLM-L6-v2 is (`model.safetensors`, `tokenizer.json`,
    /// `config.json`; `scripts/install-models` puts it in
    /// `~/.cache/atelier/models/all-MiniLM-L6-v2`). Unset: that directory, or
    /// `$ATELIER_MINILM_DIR`. Without the model the cache compares wording.
    pub embedding_model_dir: Option<std::path::PathBuf>,
    /// How long signed links to pages and books last, in seconds (seed 001 1.8).
    pub link_ttl_secs: u64,
    /// Lifecycles of an ended run's data (seed 001 1.7), 0 keeping it: its abandoned
    /// checkpoints (versions off the final branch), in hours;
    pub checkpoint_hours: u32,
    /// its temporary files (outputs the final document does not use), in days;
    pub temp_days: u32,
    /// and its book (the PDF, the CBZ and the pages), in days.
    pub book_days: u32,
}

impl Default for PipelinesConfig {
    fn default() -> Self {
        let rules = atelier_core::pipeline::PipelineRules::default();
        Self {
            enabled: true,
            sweep_ms: 1000,
            min_chars: rules.min_chars,
            max_chars: rules.max_chars,
            max_active_per_user: rules.max_active_per_user,
            max_per_hour: rules.max_per_hour,
            deadline_secs: rules.deadline_seconds,
            text_model: rules.default_text_model,
            image_model: rules.default_image_model,
            scene_cache: true,
            scene_cache_threshold: atelier_core::pipeline::scene_cache::DEFAULT_THRESHOLD,
            scene_cache_hours: 24,
            embedding_model_dir: None,
            link_ttl_secs: 7 * 24 * 3600,
            checkpoint_hours: 24,
            temp_days: 7,
            book_days: 90,
        }
    }
}

impl PipelinesConfig {
    pub fn retention(&self) -> atelier_core::pipeline::retention::Retention {
        let keep = |seconds: u64| (seconds > 0).then(|| std::time::Duration::from_secs(seconds));
        atelier_core::pipeline::retention::Retention {
            checkpoints: keep(u64::from(self.checkpoint_hours) * 3600),
            temporary: keep(u64::from(self.temp_days) * 24 * 3600),
            books: keep(u64::from(self.book_days) * 24 * 3600),
        }
    }

    pub fn rules(&self) -> atelier_core::pipeline::PipelineRules {
        atelier_core::pipeline::PipelineRules {
            min_chars: self.min_chars,
            max_chars: self.max_chars,
            max_active_per_user: self.max_active_per_user,
            max_per_hour: self.max_per_hour,
            deadline_seconds: self.deadline_secs,
            default_text_model: self.text_model.clone(),
            default_image_model: self.image_model.clone(),
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            max_body_bytes: 10 * 1024 * 1024,
            max_upload_bytes: 50 * 1024 * 1024,
            max_wait_secs: 60,
            drain_secs: 30,
            header_read_timeout_secs: 10,
            idle_timeout_secs: 60,
            max_connections: 0,
            max_connections_per_ip: 128,
            http2: true,
            http2_max_concurrent_streams: 100,
            max_header_bytes: 64 * 1024,
        }
    }
}

impl Default for DataConfig {
    fn default() -> Self {
        Self { dir: PathBuf::from("./atelier-data") }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self { url: String::new(), max_connections: 8 }
    }
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            concurrency: 4,
            lease_secs: 30,
            idle_poll_ms: 1000,
            max_crashes: 3,
            backoff_base_ms: 1000,
            backoff_max_ms: 30_000,
            poll_timeout_secs: 300,
            drain_timeout_secs: 10,
        }
    }
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self { max_queued: 100_000, max_queued_per_user: 50_000, pending_ttl_secs: 86_400, max_attempts: 5 }
    }
}

impl Default for ModelsConfig {
    fn default() -> Self {
        Self { default: "local/placeholder".into(), refresh_secs: 0 }
    }
}

/// Values given as command-line flags: the last layer.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FlagOverrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage_url: Option<String>,
}

impl Config {
    /// Builds the configuration from its layers and validates it.
    pub fn load(file: Option<&Path>, flags: &FlagOverrides) -> anyhow::Result<Self> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            if !path.exists() {
                bail!("config file {} does not exist", path.display());
            }
            figment = figment.merge(Toml::file(path));
        }
        figment = figment.merge(Env::prefixed("ATELIER__").split("__"));
        let mut flag_values = serde_json::Map::new();
        let mut set = |section: &str, key: &str, value: serde_json::Value| {
            let entry = flag_values.entry(section.to_owned()).or_insert_with(|| serde_json::json!({}));
            if let Some(object) = entry.as_object_mut() {
                object.insert(key.to_owned(), value);
            }
        };
        if let Some(listen) = &flags.listen {
            set("server", "listen", listen.clone().into());
        }
        if let Some(dir) = &flags.data_dir {
            set("data", "dir", dir.display().to_string().into());
        }
        if let Some(url) = &flags.database_url {
            set("database", "url", url.clone().into());
        }
        if let Some(url) = &flags.storage_url {
            set("storage", "url", url.clone().into());
        }
        figment = figment.merge(Serialized::defaults(serde_json::Value::Object(flag_values)));
        let config: Config = figment.extract().context("invalid configuration")?;
        config.validate()?;
        Ok(config)
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        self.listen_addr()?;
        if !self.database.url.is_empty() && atelier_db::Backend::from_url(&self.database.url).is_none() {
            bail!("database.url must start with sqlite:// or postgres:// (ATELIER__DATABASE__URL)");
        }
        if self.worker.concurrency == 0 || self.worker.concurrency > 1024 {
            bail!("worker.concurrency must be between 1 and 1024");
        }
        if !(1..=3600).contains(&self.server.drain_secs) {
            bail!("server.drain_secs must be between 1 and 3600");
        }
        self.server.validate_connections()?;
        if self.worker.lease_secs < 2 {
            bail!("worker.lease_secs must be at least 2");
        }
        if self.database.max_connections == 0 {
            bail!("database.max_connections must be at least 1");
        }
        self.log.validate()?;
        if self.queue.max_attempts == 0 {
            bail!("queue.max_attempts must be at least 1");
        }
        if self.pipelines.sweep_ms < 50 {
            bail!("pipelines.sweep_ms must be at least 50");
        }
        if self.pipelines.min_chars == 0 || self.pipelines.min_chars > self.pipelines.max_chars {
            bail!("pipelines.min_chars must be at least 1 and at most pipelines.max_chars");
        }
        if !(0.0..=1.0).contains(&self.pipelines.scene_cache_threshold) {
            bail!("pipelines.scene_cache_threshold must be between 0 and 1");
        }
        if self.pipelines.scene_cache_hours == 0 || self.pipelines.link_ttl_secs == 0 {
            bail!("pipelines.scene_cache_hours and pipelines.link_ttl_secs must be at least 1");
        }
        if !(10..=86_400).contains(&self.pipelines.deadline_secs) {
            bail!("pipelines.deadline_secs must be between 10 and 86400");
        }
        self.providers.validate()?;
        self.validate_routing()?;
        self.pull.validate()?;
        self.three_d.validate()?;
        self.websocket.validate()?;
        self.openai_api.validate()?;
        self.retention.validate()?;
        self.metrics.validate(self.listen_addr()?)?;
        self.telemetry.validate()?;
        self.media.validate()?;
        Ok(())
    }

    fn validate_routing(&self) -> anyhow::Result<()> {
        if self.routing.is_empty() {
            return Ok(());
        }
        let services =
            atelier_providers::services(&self.providers, &self.engines).map_err(|error| anyhow::anyhow!("{error}"))?;
        let known: Vec<&str> = services.iter().map(|service| service.service()).collect();
        for (model, list) in &self.routing {
            if model.trim().is_empty() || model.contains('/') {
                bail!("routing: {model:?} must be a model name without a service (such as imagen-4)");
            }
            if list.is_empty() {
                bail!("routing.{model} must name at least one service");
            }
            if let Some(unknown) = list.iter().find(|service| !known.contains(&service.as_str())) {
                bail!("routing.{model}: unknown service {unknown:?} (known: {})", known.join(", "));
            }
        }
        Ok(())
    }

    pub fn listen_addr(&self) -> anyhow::Result<SocketAddr> {
        self.server
            .listen
            .parse()
            .with_context(|| format!("server.listen {:?} is not an address such as 127.0.0.1:8080", self.server.listen))
    }

    /// The database URL, SQLite under the data dir unless one is set.
    pub fn database_url(&self) -> String {
        if self.database.url.is_empty() {
            format!("sqlite://{}?mode=rwc", self.data.dir.join("atelier.db").display())
        } else {
            self.database.url.clone()
        }
    }

    /// The storage URL, a directory under the data dir unless one is set.
    pub fn storage_url(&self) -> anyhow::Result<String> {
        if !self.storage.url.is_empty() {
            return Ok(self.storage.url.clone());
        }
        let dir = absolute(&self.data.dir.join("files"))?;
        Ok(format!("file://{}", dir.display()))
    }

    pub fn worker_settings(&self) -> atelier_core::worker::WorkerSettings {
        let worker = &self.worker;
        atelier_core::worker::WorkerSettings {
            concurrency: worker.concurrency,
            lease: Duration::from_secs(worker.lease_secs),
            idle_poll: Duration::from_millis(worker.idle_poll_ms.max(10)),
            backoff: atelier_core::backoff::Backoff {
                base: Duration::from_millis(worker.backoff_base_ms),
                max: Duration::from_millis(worker.backoff_max_ms),
            },
            max_crashes: worker.max_crashes,
            poll_timeout: Duration::from_secs(worker.poll_timeout_secs),
            poll_timeouts: self
                .providers
                .poll_timeouts
                .iter()
                .map(|(model, secs)| (model.trim().to_ascii_lowercase(), Duration::from_secs(*secs)))
                .collect(),
            max_in_flight: self.providers.max_in_flight(),
            drain_timeout: Duration::from_secs(worker.drain_timeout_secs),
            storage: self.storage_settings(),
        }
    }

    pub fn storage_settings(&self) -> atelier_core::storage::StorageSettings {
        atelier_core::storage::StorageSettings {
            probe_every: Duration::from_secs(self.storage.probe_secs.max(1)),
            min_free_bytes: self.storage.min_free_mb.saturating_mul(1 << 20),
            recheck: Duration::from_secs(self.storage.recheck_secs.max(1)),
        }
    }

    pub fn task_rules(&self) -> atelier_core::task::TaskRules {
        atelier_core::task::TaskRules {
            default_model: self.models.default.clone(),
            max_queued: self.queue.max_queued,
            max_queued_per_user: self.queue.max_queued_per_user,
            pending_ttl: Duration::from_secs(self.queue.pending_ttl_secs),
            max_attempts: self.queue.max_attempts,
            daily_quotas: self.providers.daily_quotas(),
            user_limits: self.user_limits,
            max_in_flight: self.providers.max_in_flight(),
            routing: self
                .routing
                .iter()
                .map(|(model, services)| (model.trim().to_ascii_lowercase(), services.clone()))
                .collect(),
            pulled: self.pull.models.iter().map(|model| model.trim().to_ascii_lowercase()).collect(),
        }
    }

    /// The configuration as it may be logged: credentials in URLs redacted.
    pub fn redacted(&self) -> Self {
        let mut copy = self.clone();
        copy.database.url = atelier_db::redact_url(&copy.database.url);
        copy.storage.url = atelier_db::redact_url(&copy.storage.url);
        copy
    }
}

fn absolute(path: &Path) -> anyhow::Result<PathBuf> {
    std::path::absolute(path).with_context(|| format!("resolving {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_file_matches_the_defaults() {
        let parsed: Config = toml::from_str(EXAMPLE).expect("example.toml parses");
        assert_eq!(parsed, Config::default());
    }

    #[test]
    fn flags_override_the_defaults() {
        let flags = FlagOverrides {
            listen: Some("127.0.0.1:9999".into()),
            data_dir: Some("/tmp/x".into()),
            ..FlagOverrides::default()
        };
        let config = Config::load(None, &flags).expect("loads");
        assert_eq!(config.server.listen, "127.0.0.1:9999");
        assert_eq!(config.data.dir, PathBuf::from("/tmp/x"));
    }

    #[test]
    fn bad_values_name_their_key() {
        let mut config = Config::default();
        config.server.listen = "nowhere".into();
        let error = config.validate().expect_err("invalid").to_string();
        assert!(error.contains("server.listen"), "{error}");
        let mut config = Config::default();
        config.database.url = "mysql://x".into();
        assert!(config.validate().expect_err("invalid").to_string().contains("database.url"));
    }

    #[test]
    fn passwords_are_redacted() {
        let mut config = Config::default();
        config.database.url = "postgres://atelier:hunter2@db/atelier".into();
        let shown = format!("{:?}", config.redacted());
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}
