//! `[metrics]`: Prometheus metrics at `/metrics` (`crate::metrics`).

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, bail};
use atelier_core::Secret;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    /// Record metrics and serve them.
    pub enabled: bool,
    /// Empty: `/metrics` on the server's own address, for an admin's key or `token`.
    /// An address (`127.0.0.1:9090`): `/metrics` there instead, for whoever reaches
    /// it (and sends `token`, when one is set); `atelier worker` serves it there too.
    pub listen: String,
    /// A bearer token a scraper may send (`Authorization: Bearer …`) instead of an
    /// admin's key; at least 16 characters.
    pub token: Secret,
    /// A file holding the token (container secrets), instead of `token`.
    pub token_file: Option<PathBuf>,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self { enabled: true, listen: String::new(), token: Secret::default(), token_file: None }
    }
}

/// The shortest token accepted: a scraper's token is a password.
const MIN_TOKEN_CHARS: usize = 16;

impl MetricsConfig {
    /// The separate address, when one is set.
    pub fn listen_addr(&self) -> anyhow::Result<Option<SocketAddr>> {
        let listen = self.listen.trim();
        if listen.is_empty() {
            return Ok(None);
        }
        let address = listen
            .parse()
            .with_context(|| format!("metrics.listen {listen:?} is not an address such as 127.0.0.1:9090"))?;
        Ok(Some(address))
    }

    /// The scraper's token, read from `token_file` when set.
    pub fn token(&self) -> anyhow::Result<Option<String>> {
        let token = atelier_core::secret::resolve_secret(&self.token, self.token_file.as_deref(), "metrics.token_file")
            .map_err(anyhow::Error::msg)?;
        if let Some(token) = &token
            && token.chars().count() < MIN_TOKEN_CHARS
        {
            bail!("metrics.token must be at least {MIN_TOKEN_CHARS} characters");
        }
        Ok(token)
    }

    pub fn validate(&self, server_listen: SocketAddr) -> anyhow::Result<()> {
        if !self.enabled {
            return Ok(());
        }
        if let Some(address) = self.listen_addr()?
            && address == server_listen
            && address.port() != 0
        {
            bail!("metrics.listen must differ from server.listen ({address})");
        }
        self.token()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_values_name_their_key() {
        let server: SocketAddr = "127.0.0.1:8080".parse().expect("address");
        let config = MetricsConfig { listen: "nowhere".into(), ..MetricsConfig::default() };
        assert!(config.validate(server).expect_err("invalid").to_string().contains("metrics.listen"));
        let config = MetricsConfig { listen: "127.0.0.1:8080".into(), ..MetricsConfig::default() };
        assert!(config.validate(server).expect_err("same address").to_string().contains("metrics.listen"));
        let config = MetricsConfig { token: Secret::new("short"), ..MetricsConfig::default() };
        assert!(config.validate(server).expect_err("short").to_string().contains("metrics.token"));
        let config = MetricsConfig { token_file: Some("/nonexistent/token".into()), ..MetricsConfig::default() };
        assert!(config.validate(server).expect_err("no file").to_string().contains("metrics.token_file"));
        let config = MetricsConfig { listen: "127.0.0.1:9090".into(), ..MetricsConfig::default() };
        assert!(config.validate(server).is_ok());
    }
}
