//! `[websocket]`: how the WebSocket routes keep their clients honest: pings, an
//! idle limit, and a bound on what may wait for a slow reader.

use std::time::Duration;

use anyhow::bail;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebSocketConfig {
    /// How often the server pings a client, in milliseconds.
    pub ping_interval_ms: u64,
    /// A client that has not answered a ping (pong) within this is gone: closed.
    pub pong_timeout_ms: u64,
    /// A socket that follows nothing (no task, no subscription) and with no message
    /// either way (pings aside) for this long is closed.
    pub idle_timeout_ms: u64,
    /// Messages that may wait for one client; its memory is bounded by this.
    pub queue: usize,
    /// How long a full queue is waited on before its client is dropped as too slow
    /// (close code 1008), in milliseconds.
    pub slow_timeout_ms: u64,
    /// The largest message a client may send, in bytes.
    pub max_message_bytes: usize,
}

impl Default for WebSocketConfig {
    fn default() -> Self {
        Self {
            ping_interval_ms: 20_000,
            pong_timeout_ms: 10_000,
            idle_timeout_ms: 600_000,
            queue: 64,
            slow_timeout_ms: 5_000,
            max_message_bytes: 64 * 1024,
        }
    }
}

impl WebSocketConfig {
    pub fn validate(&self) -> anyhow::Result<()> {
        for (key, value) in [
            ("ping_interval_ms", self.ping_interval_ms),
            ("pong_timeout_ms", self.pong_timeout_ms),
            ("idle_timeout_ms", self.idle_timeout_ms),
            ("slow_timeout_ms", self.slow_timeout_ms),
        ] {
            if !(10..=86_400_000).contains(&value) {
                bail!("websocket.{key} must be between 10 and 86400000");
            }
        }
        if !(1..=65_536).contains(&self.queue) {
            bail!("websocket.queue must be between 1 and 65536");
        }
        if !(1024..=16 * 1024 * 1024).contains(&self.max_message_bytes) {
            bail!("websocket.max_message_bytes must be between 1024 and 16777216");
        }
        Ok(())
    }

    pub fn ping_interval(&self) -> Duration {
        Duration::from_millis(self.ping_interval_ms)
    }

    pub fn pong_timeout(&self) -> Duration {
        Duration::from_millis(self.pong_timeout_ms)
    }

    pub fn idle_timeout(&self) -> Duration {
        Duration::from_millis(self.idle_timeout_ms)
    }

    pub fn slow_timeout(&self) -> Duration {
        Duration::from_millis(self.slow_timeout_ms)
    }
}
