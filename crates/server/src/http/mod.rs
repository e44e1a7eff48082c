//! Serving HTTP on a TCP listener, hardened for a server on the open internet with
//! no proxy in front (issue 22): our own accept loop over hyper instead of
//! `axum::serve`, which never cut off a client that sends its headers slowly.
//!
//! - [`accept`]: the accept loop; past a cap on open connections (overall, sized
//!   from the open-file limit, and per client address) a connection gets an
//!   immediate `503 too_many_connections` in the usual error shape, written
//!   without reading the request, and is closed.
//! - [`connection`]: one connection, HTTP/1.1 or HTTP/2 (h2c, prior knowledge)
//!   through hyper-util's auto builder, with upgrades (WebSockets). A request's
//!   headers must arrive within `server.header_read_timeout_secs` (hyper's timer,
//!   which also runs while a kept-alive HTTP/1.1 connection waits for its next
//!   request), a connection with nothing in flight is closed after
//!   `server.idle_timeout_secs` (before its first request, after the header
//!   timeout), HTTP/2 has a stream cap, a header-size cap and pings. A slow
//!   *body* is the router's concern (its body read timeout), as before.
//! - [`limits`]: the counts behind the caps; [`fd`]: the open-file limit, raised
//!   to the hard limit at start.
//!
//! Graceful shutdown is `axum::serve`'s: on stop, no more accepts, every
//! connection is asked to finish (HTTP/1.1 closes once its answer is sent, HTTP/2
//! sends GOAWAY) and [`serve`] returns when all have; upgraded connections
//! (WebSockets) handle the stop themselves.

pub mod accept;
pub mod connection;
pub mod fd;
pub mod limits;

use std::time::Duration;

use anyhow::bail;

pub use accept::serve;

use crate::config::ServerConfig;

/// The connection settings in force, from `[server]` and the open-file limit.
#[derive(Debug, Clone)]
pub struct Settings {
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
    /// 0: no cap per client address.
    pub max_connections_per_ip: usize,
    pub http2: bool,
    pub http2_max_concurrent_streams: u32,
    pub max_header_bytes: usize,
}

impl Settings {
    /// `server`'s settings; `server.max_connections = 0` takes its cap from
    /// `open_files`, the process's soft open-file limit.
    pub fn new(server: &ServerConfig, open_files: Option<u64>) -> Self {
        let max_connections = match server.max_connections {
            0 => fd::default_max_connections(open_files),
            set => set,
        };
        Self {
            header_read_timeout: Duration::from_secs(server.header_read_timeout_secs),
            idle_timeout: Duration::from_secs(server.idle_timeout_secs),
            max_connections,
            max_connections_per_ip: server.max_connections_per_ip,
            http2: server.http2,
            http2_max_concurrent_streams: server.http2_max_concurrent_streams,
            max_header_bytes: server.max_header_bytes,
        }
    }

    /// For a listener of the server's own (metrics): the same timeouts and sizes,
    /// a small cap and no HTTP/2.
    pub fn internal(server: &ServerConfig) -> Self {
        Self { max_connections: 64, max_connections_per_ip: 0, http2: false, ..Self::new(server, None) }
    }
}

impl ServerConfig {
    /// Checks the connection keys (called by `Config::validate`).
    pub fn validate_connections(&self) -> anyhow::Result<()> {
        if !(1..=300).contains(&self.header_read_timeout_secs) {
            bail!("server.header_read_timeout_secs must be between 1 and 300");
        }
        if !(1..=3600).contains(&self.idle_timeout_secs) {
            bail!("server.idle_timeout_secs must be between 1 and 3600");
        }
        if !(1..=10_000).contains(&self.http2_max_concurrent_streams) {
            bail!("server.http2_max_concurrent_streams must be between 1 and 10000");
        }
        if !(8 * 1024..=1024 * 1024).contains(&self.max_header_bytes) {
            bail!("server.max_header_bytes must be between 8192 and 1048576");
        }
        if self.max_connections > 0 && self.max_connections_per_ip > self.max_connections {
            bail!("server.max_connections_per_ip must be at most server.max_connections (0 for none)");
        }
        Ok(())
    }
}
