//! Providers reached through `atelier emulate <provider>`: how each emulator runs
//! and the server is pointed at it (`Emulated`, made in kie.rs, openai.rs and
//! providers.rs), and
//! the emulator process (`Emulator`).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::cpu::{ProcessCpu, process_cpu};
use crate::load::get_json;
use crate::server::{Backend, MAX_QUEUED, Server};

/// Worker concurrency of the emulator runs.
pub const EMULATED_WORKERS: usize = 32;
/// The key every emulator accepts.
pub const EMULATOR_API_KEY: &str = "test-key";
/// `first_poll_ms` (and the OpenAI emulator's `--poll-after-ms`) of the throughput runs…
pub const FAST_POLL_MS: u64 = 10;
/// …and of the memory runs.
pub const SLOW_POLL_MS: u64 = 5000;

/// A provider reached through `atelier emulate <subcommand>`, how the emulator runs,
/// and the tasks sent to it.
pub struct Emulated {
    /// `atelier emulate <subcommand>`.
    pub subcommand: &'static str,
    /// What the emulator prints on stderr just before its address.
    pub banner: &'static str,
    /// Flags after `--listen` (the credentials' flags, then these).
    pub flags: Vec<String>,
    /// The credentials: the emulator's flags and the server's settings (names after
    /// `ATELIER__PROVIDERS__<SECTION>__`). Most take one API key ([`api_key`]).
    pub credentials: Credentials,
    /// The server's `[providers.<section>]`, upper case as in `ATELIER__PROVIDERS__KIE__…`.
    pub section: &'static str,
    /// Appended to the emulator's address for `base_url` (OpenAI's API root is `/v1`).
    pub base_path: &'static str,
    /// How the server is told where the emulator is: `BASE_URL`, or (self-hosted
    /// servers) `URLS`, a list.
    pub url_setting: UrlSetting,
    /// `first_poll_ms` of the server (0: a service without polls, that has no such setting).
    pub first_poll_ms: u64,
    /// More server settings.
    pub extra_env: Vec<(&'static str, String)>,
    pub model: &'static str,
    /// The i-th `POST /api/v1/tasks` body.
    pub body: fn(usize) -> Value,
    /// The `/__emulator/stats` counter of creates (one per task), and its API name.
    pub create_counter: &'static str,
    pub create_call: &'static str,
    /// Other counters the notes mention (polls, downloads).
    pub other_counters: &'static [&'static str],
    /// How the emulator and the server are set up, for figures and notes.
    pub setup: String,
}

/// An emulator's credentials: its flags, and the server's settings that match.
pub struct Credentials {
    pub flags: Vec<String>,
    pub settings: Vec<(&'static str, String)>,
}

/// Where the server's settings say an emulator is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlSetting {
    BaseUrl,
    Urls,
}

/// No credentials (a self-hosted server).
pub fn no_credentials() -> Credentials {
    Credentials { flags: Vec::new(), settings: Vec::new() }
}

/// One API key, `--api-key` and `API_KEY`.
pub fn api_key() -> Credentials {
    Credentials {
        flags: vec!["--api-key".to_owned(), EMULATOR_API_KEY.to_owned()],
        settings: vec![("API_KEY", EMULATOR_API_KEY.to_owned())],
    }
}

impl Emulated {
    /// The server's settings for this provider at `emulator`'s address (`base`).
    fn server_env(&self, base: &str) -> Vec<(String, String)> {
        let key = |name: &str| format!("ATELIER__PROVIDERS__{}__{name}", self.section);
        let mut env: Vec<(String, String)> =
            self.credentials.settings.iter().map(|(name, value)| (key(name), value.clone())).collect();
        env.extend([
            match self.url_setting {
                UrlSetting::BaseUrl => (key("BASE_URL"), format!("{base}{}", self.base_path)),
                UrlSetting::Urls => (key("URLS"), format!("[\"{base}{}\"]", self.base_path)),
            },
            ("ATELIER__WORKER__CONCURRENCY".to_owned(), EMULATED_WORKERS.to_string()),
            ("ATELIER__LOG__LEVEL".to_owned(), "warn".to_owned()),
            ("ATELIER__QUEUE__MAX_QUEUED".to_owned(), MAX_QUEUED.to_string()),
        ]);
        if self.first_poll_ms > 0 {
            env.push((key("FIRST_POLL_MS"), self.first_poll_ms.to_string()));
        }
        env.extend(self.extra_env.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
        env
    }

    /// Starts its emulator and a SQLite server pointed at it.
    pub async fn start(&self, binary: &Path) -> Result<(Emulator, Server)> {
        let emulator = Emulator::start(binary, self)?;
        let server = self.start_server_at(binary, &emulator.base).await?;
        Ok((emulator, server))
    }

    /// A SQLite server pointed at this provider's API at `base` (where the emulator,
    /// or something that answers as it does, listens).
    pub async fn start_server_at(&self, binary: &Path, base: &str) -> Result<Server> {
        let env = self.server_env(base);
        let env: Vec<(&str, String)> = env.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
        Server::start(binary, &Backend::Sqlite, &env).await
    }
}

/// `atelier emulate …` on a free loopback port.
pub struct Emulator {
    pub child: Child,
    pub base: String,
}

impl Emulator {
    pub fn start(binary: &Path, provider: &Emulated) -> Result<Emulator> {
        let mut command = Command::new(binary);
        command
            .args(["emulate", provider.subcommand, "--listen", "127.0.0.1:0"])
            .args(&provider.credentials.flags)
            .args(&provider.flags)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = command
            .spawn()
            .with_context(|| format!("starting {} emulate {}", binary.display(), provider.subcommand))?;
        let stderr = child.stderr.take().context("the emulator's stderr")?;
        let (address_tx, address_rx) = mpsc::channel::<String>();
        let banner = provider.banner;
        std::thread::spawn(move || {
            let mut address_tx = Some(address_tx);
            // Reads to the end so that the emulator never blocks on a full pipe.
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.split_once(banner).map(|(_, rest)| rest)
                    && let Some(tx) = address_tx.take()
                {
                    let _ = tx.send(rest.split_whitespace().next().unwrap_or_default().to_owned());
                }
            }
        });
        let mut emulator = Emulator { child, base: String::new() };
        match address_rx.recv_timeout(Duration::from_secs(30)) {
            Ok(address) if !address.is_empty() => emulator.base = format!("http://{address}"),
            _ => {
                let status = emulator.child.try_wait().ok().flatten();
                bail!("the {} emulator did not report its address (exit: {status:?})", provider.subcommand);
            }
        }
        Ok(emulator)
    }

    pub async fn stats(&self, http: &reqwest::Client) -> Result<Value> {
        get_json(http, &format!("{}/__emulator/stats", self.base)).await
    }

    /// One of the call counters of `/__emulator/stats`.
    pub async fn calls(&self, http: &reqwest::Client, counter: &str) -> Result<u64> {
        counter_in(&self.stats(http).await?, counter)
    }

    /// CPU time the emulator has used so far.
    pub fn cpu(&self) -> Option<ProcessCpu> {
        process_cpu(&format!("/proc/{}/stat", self.child.id()))
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn counter_in(stats: &Value, counter: &str) -> Result<u64> {
    stats.get(counter).and_then(Value::as_u64).with_context(|| format!("emulator stats without {counter}"))
}
