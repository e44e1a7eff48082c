//! `[providers.a1111]` and `[providers.sdcpp]`: the servers a service spreads its
//! tasks over (one or several base URLs of the same kind), their optional HTTP
//! Basic credentials, and how long one generation may take.

use std::path::PathBuf;
use std::time::Duration;

use atelier_core::Secret;
use serde::{Deserialize, Serialize};

use crate::kit::{ConfigError, check_url, optional, secret};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SdServerConfig {
    /// The servers' base URLs (`http://127.0.0.1:7860`); several of the same kind
    /// are one service, and tasks go to the one with the fewest in flight. Empty:
    /// not usable.
    pub urls: Vec<String>,
    /// HTTP Basic credentials (AUTOMATIC1111's `--api-auth`), for every server.
    pub username: String,
    pub password: Secret,
    pub password_file: Option<PathBuf>,
    /// One generation, start to end.
    pub request_timeout_secs: u64,
    /// How often a running generation's progress is read (AUTOMATIC1111 only).
    pub progress_poll_ms: u64,
}

impl Default for SdServerConfig {
    fn default() -> Self {
        Self {
            urls: Vec::new(),
            username: String::new(),
            password: Secret::default(),
            password_file: None,
            request_timeout_secs: 900,
            progress_poll_ms: 1000,
        }
    }
}

pub(super) struct Settings {
    pub urls: Vec<String>,
    pub credentials: Option<(String, String)>,
    pub request_timeout: Duration,
    pub progress_every: Duration,
}

impl SdServerConfig {
    pub(super) fn settings(&self, section: &str) -> Result<Settings, ConfigError> {
        let mut urls = Vec::new();
        for url in &self.urls {
            check_url(&format!("providers.{section}.urls"), url)?;
            urls.push(url.trim().trim_end_matches('/').to_owned());
        }
        let password =
            secret(&self.password, self.password_file.as_deref(), &format!("providers.{section}.password_file"))?;
        let credentials = match (optional(&self.username), password) {
            (Some(user), Some(password)) => Some((user, password)),
            (None, None) => None,
            (Some(_), None) => {
                return Err(ConfigError::new(format!("providers.{section}.password"), "is needed with username"));
            }
            (None, Some(_)) => {
                return Err(ConfigError::new(format!("providers.{section}.username"), "is needed with password"));
            }
        };
        Ok(Settings {
            urls,
            credentials,
            request_timeout: Duration::from_secs(self.request_timeout_secs.max(1)),
            progress_every: Duration::from_millis(self.progress_poll_ms.max(50)),
        })
    }
}
